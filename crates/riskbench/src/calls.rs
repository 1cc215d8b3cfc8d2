//! What each call sends and how one call is made: raw bodies, request ids, targets, one unary
//! call with its status name.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prost::Message;
use prost::bytes::{BufMut, Bytes, BytesMut};
use riskdecision::pb;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::BoxError;
use crate::args::CLIENT_GRACE;
use crate::raw::RawCodec;

pub(crate) fn example(name: &str) -> Result<String, BoxError> {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}").into())
}

pub(crate) fn parse<M: Message + Default>(full_name: &str, name: &str) -> Result<M, BoxError> {
    Ok(riskdecision::json::from_json(full_name, &example(name)?).map_err(|e| format!("{name}: {e}"))?)
}

/// What each call sends.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Fixed(Bytes),
    /// A DecideRequest whose `request_id` (field 1) is put in front of the rest of the encoded
    /// message (protobuf merges fields in any order): a new decision per call, or one of a pool.
    Decide {
        rest: Bytes,
        run: u32,
        tag: u8,
        pool: u64,
    },
}

/// Width-stable request ids (run, case, sequence), so every request encodes to the same length.
pub(crate) fn request_id(run: u32, tag: u8, n: u64) -> String {
    format!("rb{run:08x}-{tag:02x}-{n:016x}")
}

impl Body {
    pub(crate) fn make(&self, seq: u64) -> Bytes {
        match self {
            Body::Fixed(b) => b.clone(),
            Body::Decide { rest, run, tag, pool } => {
                let n = if *pool > 0 { seq % pool } else { seq };
                let id = request_id(*run, *tag, n);
                let mut buf = BytesMut::with_capacity(rest.len() + id.len() + 2);
                buf.put_u8(0x0a); // field 1, length-delimited
                prost::encoding::encode_varint(id.len() as u64, &mut buf);
                buf.put_slice(id.as_bytes());
                buf.put_slice(rest);
                buf.freeze()
            }
        }
    }
}

/// Where calls go and what they carry.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) channels: Vec<Channel>,
    pub(crate) path: PathAndQuery,
    pub(crate) body: Body,
    pub(crate) streaming: bool,
    /// Calls made so far (request ids stay unique across the slices of a run).
    pub(crate) seq: Arc<AtomicU64>,
}

pub(crate) fn code_name(c: tonic::Code) -> &'static str {
    use tonic::Code;
    match c {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// One unary call with a raw body; the answer's bytes or its status name.
pub(crate) async fn unary(
    channel: Channel,
    path: PathAndQuery,
    body: Bytes,
    timeout: Duration,
) -> Result<Bytes, &'static str> {
    let mut grpc = Grpc::new(channel);
    let mut request = tonic::Request::new(body);
    request.set_timeout(timeout);
    let call = async {
        grpc.ready().await.map_err(|_| "UNAVAILABLE")?;
        grpc.unary(request, path, RawCodec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| code_name(s.code()))
    };
    tokio::time::timeout(timeout + CLIENT_GRACE, call)
        .await
        .unwrap_or(Err("CLIENT_TIMEOUT"))
}

/// One checked call (answer decoded), giving the encoded request and answer sizes.
pub(crate) async fn check_unary<M: Message + Default>(
    target: &Target,
    timeout: Duration,
    check: impl Fn(&M) -> Result<(), String>,
) -> Result<(usize, usize), BoxError> {
    let body = target.body.make(u64::MAX / 2);
    let request_len = body.len();
    let answer = unary(target.channels[0].clone(), target.path.clone(), body, timeout)
        .await
        .map_err(|code| format!("{}: check call failed with {code}", target.path))?;
    let decoded = M::decode(answer.clone())?;
    check(&decoded).map_err(|e| format!("{}: {e}", target.path))?;
    Ok((request_len, answer.len()))
}

pub(crate) fn decide_body(req: &pb::DecideRequest, run: u32, tag: u8, pool: u64) -> Body {
    let mut rest = req.clone();
    rest.request_id.clear();
    Body::Decide {
        rest: Bytes::from(rest.encode_to_vec()),
        run,
        tag,
        pool,
    }
}
