//! Bare HTTP/2 gRPC calls with the `h2` crate, for what tonic's client never sends: bytes that
//! are not protobuf, malformed gRPC framing, a stream reset in the middle of its body.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tonic::codegen::http;

/// The longest a raw call waits for any answer.
const PATIENCE: Duration = Duration::from_secs(10);

/// The path of `DecisionService/Decide`.
pub const DECIDE_PATH: &str = "/riskdecision.v1.DecisionService/Decide";

/// A gRPC frame: compression flag, the length it declares, and the bytes actually sent (which
/// may be fewer, for a short frame).
pub fn frame(flag: u8, declared_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(flag);
    out.extend_from_slice(&declared_len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A well-formed frame around `payload`.
pub fn message_frame(payload: &[u8]) -> Vec<u8> {
    frame(0, u32::try_from(payload.len()).expect("small payload"), payload)
}

/// How the client ends its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The body, then END_STREAM.
    End,
    /// The body, then RST_STREAM (CANCEL) without ending it.
    Reset,
}

/// What came back: `grpc-status`, `grpc-message` and `x-trace-id` (headers of a trailers-only
/// answer, else the trailers).
#[derive(Debug, Clone, Default)]
pub struct RawAnswer {
    pub status: Option<String>,
    pub message: Option<String>,
    pub trace_id: Option<String>,
}

/// Sends `body` to `path` over a fresh HTTP/2 connection. `None` for [`Ending::Reset`] (the
/// client gave up on the answer).
pub async fn raw_call(addr: SocketAddr, path: &str, body: Vec<u8>, ending: Ending) -> Option<RawAnswer> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let driver = tokio::spawn(connection);
    let mut client = client.ready().await.expect("h2 ready");
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request");
    let no_body = body.is_empty() && ending == Ending::End;
    let (response, mut stream) = client.send_request(request, no_body).expect("send");
    if !no_body {
        stream.send_data(body.into(), ending == Ending::End).expect("send body");
    }
    if ending == Ending::Reset {
        // Let the data go out first, then give up on the call.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.send_reset(h2::Reason::CANCEL);
        tokio::time::sleep(Duration::from_millis(100)).await;
        driver.abort();
        return None;
    }
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .expect("answered, not hung")
        .expect("response");
    let read =
        |headers: &http::HeaderMap, name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut answer = RawAnswer {
        status: read(response.headers(), "grpc-status"),
        message: read(response.headers(), "grpc-message"),
        trace_id: read(response.headers(), "x-trace-id"),
    };
    if answer.status.is_none() {
        let mut body = response.into_body();
        while let Some(chunk) = tokio::time::timeout(PATIENCE, body.data()).await.expect("body") {
            let _ = chunk.expect("data");
        }
        let trailers = tokio::time::timeout(PATIENCE, body.trailers())
            .await
            .expect("trailers")
            .expect("trailers read")
            .unwrap_or_default();
        answer.status = read(&trailers, "grpc-status");
        answer.message = read(&trailers, "grpc-message");
    }
    driver.abort();
    Some(answer)
}

/// Protobuf that no decoder takes: unknown field 1000 opened as a group `depth` times and
/// closed again (prost refuses nesting past its recursion limit of 100).
pub fn nested_groups(depth: usize) -> Vec<u8> {
    // Tag (1000 << 3 | 3) = 8003, start group; (1000 << 3 | 4) = 8004, end group (varints).
    let mut out = Vec::with_capacity(depth * 4);
    for _ in 0..depth {
        out.extend_from_slice(&[0xC3, 0x3E]);
    }
    for _ in 0..depth {
        out.extend_from_slice(&[0xC4, 0x3E]);
    }
    out
}
