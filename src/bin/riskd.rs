//! `riskd`: the risk-decision gRPC server. Parses the command line; the library wires and
//! serves ([`riskdecision::run`]).

// mimalloc instead of glibc malloc: a decision allocates a few hundred small strings, and under
// load glibc's arena locks made allocation a tenth of the server's CPU (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    riskdecision::run(riskdecision::config::Cli::parse())
}
