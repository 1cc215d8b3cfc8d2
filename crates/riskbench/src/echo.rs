//! The framework baseline: a bare tonic service (no layers, no work) that carries messages as
//! long as the real ones, served on the same runtime settings as ours.

use std::pin::Pin;

use prost::Message;
use prost::bytes::Bytes;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub mod pb {
    tonic::include_proto!("bench.v1");
}

use pb::echo_server::Echo;
use pb::{EchoRequest, EchoResponse};

pub const UNARY_PATH: &str = "/bench.v1.Echo/Unary";
pub const STREAM_PATH: &str = "/bench.v1.Echo/Stream";

/// Largest response payload the echo service sends (a static buffer: no allocation per call).
pub const MAX_PAYLOAD: usize = 1 << 16;
static ZEROS: [u8; MAX_PAYLOAD] = [0; MAX_PAYLOAD];

#[derive(Debug, Clone, Copy, Default)]
pub struct EchoService;

fn reply(response_bytes: u32) -> EchoResponse {
    let n = usize::try_from(response_bytes).unwrap_or(MAX_PAYLOAD).min(MAX_PAYLOAD);
    EchoResponse {
        payload: Bytes::from_static(&ZEROS[..n]),
    }
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(reply(request.get_ref().response_bytes)))
    }

    type StreamStream = Pin<Box<dyn Stream<Item = Result<EchoResponse, Status>> + Send + 'static>>;

    async fn stream(&self, request: Request<Streaming<EchoRequest>>) -> Result<Response<Self::StreamStream>, Status> {
        let answers = request
            .into_inner()
            .map(|item| item.map(|req| reply(req.response_bytes)));
        Ok(Response::new(Box::pin(answers)))
    }
}

/// The longest payload whose message encodes to at most `target` bytes, given how the rest of the
/// message encodes (`msg(len)`).
fn payload_len(target: usize, msg: impl Fn(usize) -> usize) -> usize {
    let mut best = 0;
    // The encoded length grows with the payload; the tag and length prefix take at most 16.
    for len in target.saturating_sub(16)..=target {
        if msg(len) <= target {
            best = len;
        }
    }
    best
}

/// A response payload length such that the echoed `EchoResponse` is as long as `response_len`
/// (or one or two bytes shorter where the length prefix jumps).
pub fn response_payload_len(response_len: usize) -> u32 {
    let len = payload_len(response_len.min(MAX_PAYLOAD), |n| {
        EchoResponse {
            payload: Bytes::from_static(&ZEROS[..n.min(MAX_PAYLOAD)]),
        }
        .encoded_len()
    });
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// An encoded `EchoRequest` as long as `request_len` (or a byte or two shorter) that asks for a
/// response as long as `response_len`.
pub fn request_bytes(request_len: usize, response_len: usize) -> Bytes {
    let response_bytes = response_payload_len(response_len);
    let msg = |n: usize| EchoRequest {
        payload: Bytes::from(vec![0xA5; n]),
        response_bytes,
    };
    let len = payload_len(request_len, |n| msg(n).encoded_len());
    Bytes::from(msg(len).encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_real_messages() {
        for (req, resp) in [(4_321, 3_210), (200, 100), (4_000, 5_000), (16_385, 129)] {
            let bytes = request_bytes(req, resp);
            assert!(
                bytes.len() <= req && bytes.len() + 2 >= req,
                "request {req}: got {}",
                bytes.len()
            );
            let decoded = EchoRequest::decode(bytes).expect("decodes");
            let answer = reply(decoded.response_bytes).encoded_len();
            assert!(answer <= resp && answer + 2 >= resp, "response {resp}: got {answer}");
        }
    }

    #[test]
    fn exact_where_the_length_prefix_allows() {
        assert_eq!(request_bytes(4_321, 3_210).len(), 4_321);
        assert_eq!(reply(response_payload_len(3_210)).encoded_len(), 3_210);
    }

    #[test]
    fn responses_are_capped() {
        assert_eq!(reply(u32::MAX).payload.len(), MAX_PAYLOAD);
    }
}
