//! Compiles the public protobuf contract. Uses the vendored `protoc` unless `PROTOC` is set, so a
//! fresh machine needs no system protobuf compiler.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-prost-build 0.14 emits no rerun directives of its own (grpc-rust#2511).
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-env-changed=PROTOC");

    let mut config = tonic_prost_build::Config::new();
    if std::env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "proto/riskdecision/v1/common.proto",
        "proto/riskdecision/v1/profile.proto",
        "proto/riskdecision/v1/decision.proto",
        "proto/riskdecision/v1/monitoring.proto",
        "proto/riskdecision/v1/policy.proto",
    ];
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("riskdecision_descriptor.bin"))
        .compile_with_config(config, &protos, &["proto"])?;

    Ok(())
}
