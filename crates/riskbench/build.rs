//! Compiles the framework baseline (a bare echo service), kept out of the public contract and out
//! of the descriptor set riskd serves through reflection.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let mut config = tonic_prost_build::Config::new();
    if std::env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }
    tonic_prost_build::configure().bytes(".bench.v1").compile_with_config(
        config,
        &["proto/bench/v1/echo.proto"],
        &["proto"],
    )?;
    Ok(())
}
