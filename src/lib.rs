pub mod pb {
    tonic::include_proto!("riskdecision.v1");
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("riskdecision_descriptor");
}

pub mod config;
pub mod domain;
pub mod grpc;
pub mod json;
pub mod policy;
pub mod security;
pub mod server;
pub mod store;
pub mod telemetry;
