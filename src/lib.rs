pub mod pb {
    tonic::include_proto!("riskdecision.v1");
    /// Error domain of every `google.rpc.ErrorInfo` the service sends (part of the contract).
    pub const ERROR_DOMAIN: &str = "riskdecision.v1";
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("riskdecision_descriptor");
}

// The pure core (crates/core), re-exported under the paths the adapters and tests use.
pub use riskdecision_core::{domain, policy};

pub mod app;
pub mod config;
pub mod grpc;
pub mod json;
mod net;
pub mod pii;
pub mod riskd;
pub mod security;
pub mod server;
pub mod store;
pub mod telemetry;

pub use riskd::run;
