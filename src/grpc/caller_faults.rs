//! Caller mistakes that tonic answers INTERNAL, answered (and so counted and traced) as what
//! they are: INVALID_ARGUMENT for a request that cannot be read, CANCELLED for a client that
//! went away while sending it.
//!
//! tonic reports every failure to read a request message as INTERNAL: a message that is not
//! valid protobuf (tonic-prost follows the gRPC status-code table there), nested groups past
//! prost's recursion limit, a compression flag other than 0 and 1 (or 1 without a
//! `grpc-encoding`), a frame cut short by the end of the body, a unary call without a message,
//! and a client resetting its stream mid-body. INTERNAL pages on-call for a client's bug, and our
//! README promises that nothing a caller sends produces it.
//!
//! The layer watches the request body on its way to tonic: it follows the gRPC framing (5-byte
//! headers: flag and length) and notes how the body ended. When the answer is INTERNAL and the
//! watch saw the cause on the caller's side, or the message is prost's decode error, the code is
//! rewritten; tonic's message is kept. Any other INTERNAL (a fault of ours) stays INTERNAL.
//!
//! Install it inside the telemetry layer, so that metrics and spans see the rewritten code.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http_body::Frame;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Bytes, http};
use tower::{Layer, Service};

/// `grpc-status` values this layer reads and writes.
const INTERNAL: &[u8] = b"13";
const INVALID_ARGUMENT: &str = "3";
const CANCELLED: &str = "1";

/// How prost's `DecodeError` displays itself, which tonic-prost puts in the status message.
/// Pinned by a unit test, so that a dependency that changes it fails the build's tests.
const PROTOBUF_DECODE_ERROR: &str = "failed to decode Protobuf message";

#[derive(Debug, Clone, Copy, Default)]
pub struct CallerFaultLayer;

impl<S> Layer<S> for CallerFaultLayer {
    type Service = CallerFaults<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallerFaults { inner }
    }
}

#[derive(Debug, Clone)]
pub struct CallerFaults<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ResBody> Service<http::Request<Body>> for CallerFaults<S>
where
    S: Service<http::Request<Body>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let compressed = req
            .headers()
            .get("grpc-encoding")
            .is_some_and(|e| e.as_bytes() != b"identity");
        let watch = Arc::new(Mutex::new(Observed::Reading));
        let req = req.map(|body| Body::new(WatchedBody::new(body, compressed, watch.clone())));
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut response = fut.await?;
            let observed = *watch.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            reclassify(response.headers_mut(), observed);
            Ok(response)
        })
    }
}

/// What the watch saw of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observed {
    /// Still being read (or not read to its end).
    Reading,
    /// Ended cleanly after `messages` whole messages; `partial` when a frame was cut short.
    Ended { messages: u64, partial: bool },
    /// A frame header with this compression flag (not 0, or 1 without `grpc-encoding`).
    BadFlag(u8),
    /// The body failed: the client reset its stream or the connection broke.
    Broken,
}

/// The code a caller's mistake deserves instead of INTERNAL, if the answer is INTERNAL and the
/// cause is the caller's.
fn caller_code(status: &[u8], message: &str, observed: Observed) -> Option<&'static str> {
    if status != INTERNAL {
        return None;
    }
    match observed {
        Observed::Broken => Some(CANCELLED),
        Observed::BadFlag(_) | Observed::Ended { partial: true, .. } | Observed::Ended { messages: 0, .. } => {
            Some(INVALID_ARGUMENT)
        }
        _ if message.starts_with(PROTOBUF_DECODE_ERROR) => Some(INVALID_ARGUMENT),
        _ => None,
    }
}

/// Rewrites `grpc-status` of a trailers-only answer (where tonic puts a failure to read the
/// request of a unary call) when the caller caused the INTERNAL.
fn reclassify(headers: &mut http::HeaderMap, observed: Observed) {
    let Some(status) = headers.get("grpc-status") else {
        return;
    };
    let message = headers
        .get("grpc-message")
        .map(|m| percent_decoded(m.as_bytes()))
        .unwrap_or_default();
    if let Some(code) = caller_code(status.as_bytes(), &message, observed) {
        tracing::debug!(grpc.message = %message, code, "a caller's mistake answered as such, not INTERNAL");
        headers.insert("grpc-status", http::HeaderValue::from_static(code));
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2); enough decoding to compare a prefix.
fn percent_decoded(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (raw[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Follows the gRPC length-prefixed framing across data frames of any size.
#[derive(Debug, Default)]
struct Framing {
    header: [u8; 5],
    header_len: usize,
    /// Bytes of the current message still to come (0: reading a header).
    remaining: u64,
    messages: u64,
}

impl Framing {
    /// Takes the next bytes of the body; the offending flag when a header is malformed.
    fn feed(&mut self, mut data: &[u8], compressed: bool) -> Result<(), u8> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = usize::try_from(self.remaining).map_or(data.len(), |r| r.min(data.len()));
                data = &data[take..];
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.messages += 1;
                }
                continue;
            }
            let take = (5 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == 5 {
                self.header_len = 0;
                match self.header[0] {
                    0 => {}
                    1 if compressed => {}
                    flag => return Err(flag),
                }
                let [_, a, b, c, d] = self.header;
                self.remaining = u64::from(u32::from_be_bytes([a, b, c, d]));
                if self.remaining == 0 {
                    self.messages += 1;
                }
            }
        }
        Ok(())
    }

    /// A header or a message started and not finished.
    fn partial(&self) -> bool {
        self.header_len > 0 || self.remaining > 0
    }
}

/// The request body, passed through unchanged, with what it showed noted in `watch`.
struct WatchedBody {
    inner: Body,
    framing: Framing,
    compressed: bool,
    watch: Arc<Mutex<Observed>>,
}

impl WatchedBody {
    fn new(inner: Body, compressed: bool, watch: Arc<Mutex<Observed>>) -> Self {
        let body = WatchedBody {
            inner,
            framing: Framing::default(),
            compressed,
            watch,
        };
        // A request without a body at all is never polled (tonic sees an empty body at once).
        if http_body::Body::is_end_stream(&body.inner) {
            body.note(Observed::Ended {
                messages: 0,
                partial: false,
            });
        }
        body
    }

    fn note(&self, observed: Observed) {
        let mut slot = self.watch.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The first fault is the cause; later events (the end after a bad flag) do not replace it.
        if matches!(*slot, Observed::Reading | Observed::Ended { .. }) {
            *slot = observed;
        }
    }

    fn ended(&self) {
        self.note(Observed::Ended {
            messages: self.framing.messages,
            partial: self.framing.partial(),
        });
    }
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(flag) = this.framing.feed(data, this.compressed)
                {
                    this.note(Observed::BadFlag(flag));
                }
                if frame.is_trailers() {
                    this.ended();
                }
            }
            Poll::Ready(Some(Err(_))) => this.note(Observed::Broken),
            Poll::Ready(None) => this.ended(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn framing_follows_messages_across_chunks_and_spots_bad_flags() {
        let mut f = Framing::default();
        assert_eq!(f.feed(&[0, 0, 0], false), Ok(()));
        assert!(f.partial());
        assert_eq!(f.feed(&[0, 3, 1, 2], false), Ok(()));
        assert_eq!(f.feed(&[3, 0, 0, 0, 0, 0], false), Ok(()));
        assert_eq!((f.messages, f.partial()), (2, false));
        assert_eq!(f.feed(&[0, 0, 0, 0, 9, 1], false), Ok(()));
        assert!(f.partial(), "a frame of 9 bytes with 1 sent is cut short");
        assert_eq!(Framing::default().feed(&[2, 0, 0, 0, 0], false), Err(2));
        assert_eq!(Framing::default().feed(&[1, 0, 0, 0, 0], false), Err(1));
        assert_eq!(Framing::default().feed(&[1, 0, 0, 0, 0], true), Ok(()));
    }

    #[test]
    fn only_internal_with_a_cause_on_the_callers_side_is_rewritten() {
        let ended = |messages, partial| Observed::Ended { messages, partial };
        assert_eq!(caller_code(b"13", "x", Observed::Broken), Some(CANCELLED));
        assert_eq!(caller_code(b"13", "x", Observed::BadFlag(2)), Some(INVALID_ARGUMENT));
        assert_eq!(caller_code(b"13", "x", ended(0, true)), Some(INVALID_ARGUMENT));
        assert_eq!(caller_code(b"13", "x", ended(0, false)), Some(INVALID_ARGUMENT));
        let decode = "failed to decode Protobuf message: invalid wire type";
        assert_eq!(caller_code(b"13", decode, Observed::Reading), Some(INVALID_ARGUMENT));
        // Our own faults stay INTERNAL; other codes are untouched.
        assert_eq!(caller_code(b"13", "internal error", ended(1, false)), None);
        assert_eq!(caller_code(b"13", "internal error", Observed::Reading), None);
        assert_eq!(caller_code(b"3", "x", Observed::Broken), None);
        assert_eq!(caller_code(b"0", "", ended(0, false)), None);
    }

    #[test]
    fn prost_decode_errors_read_as_the_layer_expects() {
        // A field tag with wire type 7 (invalid).
        let err = crate::pb::DecideRequest::decode(&[0x0f_u8][..]).expect_err("not protobuf");
        assert!(err.to_string().starts_with(PROTOBUF_DECODE_ERROR), "{err}");
        assert_eq!(
            percent_decoded(b"failed%20to%20decode%20Protobuf%20message%3A x"),
            "failed to decode Protobuf message: x"
        );
    }
}
