//! The canonical protobuf JSON mapping (what grpcurl and gRPC gateways use) for our messages,
//! through the compiled descriptor set. Used by `riskctl` and by tests that load `examples/`.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("descriptor: {0}")]
    Descriptor(String),
    #[error("unknown message type {0}")]
    UnknownMessage(String),
    #[error("{0}")]
    Parse(String),
}

/// The descriptor pool, decoded once per process (decoding it per message would dominate the cost
/// of converting a large portfolio file).
fn pool() -> Result<DescriptorPool, JsonError> {
    static POOL: std::sync::OnceLock<Result<DescriptorPool, String>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()))
        .clone()
        .map_err(JsonError::Descriptor)
}

/// Parses canonical JSON into a generated message type, e.g. `riskdecision.v1.DecideRequest`.
pub fn from_json<M: Message + Default>(full_name: &str, json: &str) -> Result<M, JsonError> {
    let pool = pool()?;
    let desc = pool
        .get_message_by_name(full_name)
        .ok_or_else(|| JsonError::UnknownMessage(full_name.to_owned()))?;
    let mut de = serde_json::Deserializer::from_str(json);
    let dynamic = DynamicMessage::deserialize(desc, &mut de).map_err(|e| JsonError::Parse(e.to_string()))?;
    de.end().map_err(|e| JsonError::Parse(e.to_string()))?;
    dynamic.transcode_to::<M>().map_err(|e| JsonError::Parse(e.to_string()))
}

/// Renders a message as canonical JSON with the proto field names (snake_case).
pub fn to_json<M: Message>(full_name: &str, message: &M, pretty: bool) -> Result<String, JsonError> {
    let pool = pool()?;
    let desc = pool
        .get_message_by_name(full_name)
        .ok_or_else(|| JsonError::UnknownMessage(full_name.to_owned()))?;
    let dynamic = DynamicMessage::decode(desc, message.encode_to_vec().as_slice())
        .map_err(|e| JsonError::Parse(e.to_string()))?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false);
    let mut out = Vec::new();
    if pretty {
        let mut ser = serde_json::Serializer::pretty(&mut out);
        dynamic
            .serialize_with_options(&mut ser, &options)
            .map_err(|e| JsonError::Parse(e.to_string()))?;
    } else {
        let mut ser = serde_json::Serializer::new(&mut out);
        dynamic
            .serialize_with_options(&mut ser, &options)
            .map_err(|e| JsonError::Parse(e.to_string()))?;
    }
    String::from_utf8(out).map_err(|e| JsonError::Parse(e.to_string()))
}
