//! The caller's deadline from `grpc-timeout`, so that handlers give up with DEADLINE_EXCEEDED
//! (rather than tonic's CANCELLED) and never hold a store call past it.

use std::future::Future;
use std::time::Duration;

use tonic::codegen::http;
use tonic::metadata::MetadataMap;

use tonic::Status;

use super::status;
use crate::app::AppError;

/// Parses `grpc-timeout` (an integer of at most 8 digits and a unit H, M, S, m, u or n).
pub fn from_metadata(metadata: &MetadataMap) -> Option<Duration> {
    parse_grpc_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)
}

/// Parses the value of a `grpc-timeout` header.
pub fn parse_grpc_timeout(raw: &str) -> Option<Duration> {
    if raw.len() < 2 || raw.len() > 9 {
        return None;
    }
    let (digits, unit) = raw.split_at(raw.len() - 1);
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value.saturating_mul(3600)),
        "M" => Duration::from_secs(value.saturating_mul(60)),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// Runs `fut` within the deadline, if there is one; its error as a status.
pub async fn within<T>(
    deadline: Option<Duration>,
    fut: impl Future<Output = Result<T, AppError>>,
) -> Result<T, Status> {
    let result = match deadline {
        Some(d) => match tokio::time::timeout(d, fut).await {
            Ok(result) => result,
            Err(_) => return Err(status::deadline_exceeded()),
        },
        None => fut.await,
    };
    result.map_err(status::from_app)
}

/// How much earlier than the caller's deadline [`DeadlineLayer`] answers. tonic runs its own
/// timer for the same `grpc-timeout` outside every layer and reports CANCELLED when it fires
/// (docs/ARCHITECTURE.md, adapters); answering at least one timer tick (1 ms) earlier makes
/// DEADLINE_EXCEEDED win every time. A caller with less than this left cannot get an answer back
/// in time anyway.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1);

/// How long a call may run: the caller's `grpc-timeout` capped by the server's limit, less
/// [`DEADLINE_MARGIN`]. `None` when nothing is left: the call is answered DEADLINE_EXCEEDED
/// without being started.
pub fn budget(grpc_timeout: Option<&str>, cap: Duration) -> Option<Duration> {
    let deadline = grpc_timeout.and_then(parse_grpc_timeout).map_or(cap, |d| d.min(cap));
    deadline.checked_sub(DEADLINE_MARGIN).filter(|d| !d.is_zero())
}

/// A tower layer that gives every call a deadline (the caller's `grpc-timeout`, at most `cap`)
/// and answers DEADLINE_EXCEEDED when it passes, dropping the work. Replaces
/// `Server::timeout`, whose expiry reaches the caller as CANCELLED. The time a call waited for a
/// worker after its bytes arrived counts against its deadline (see [`super::overload`]). The
/// handlers' own [`within`] stays as a second line for work that outlives the layer's future.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    cap: Duration,
}

impl DeadlineLayer {
    /// `cap` is the server-side limit, applied also to calls that carry no deadline.
    pub fn new(cap: Duration) -> Self {
        DeadlineLayer { cap }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            cap: self.cap,
            accepted: super::overload::Accepted::default(),
        }
    }
}

/// The service of [`DeadlineLayer`].
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    cap: Duration,
    accepted: super::overload::Accepted,
}

fn deadline_exceeded<B: Default>(message: &'static str) -> http::Response<B> {
    tonic::Status::deadline_exceeded(message).into_http()
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Deadline<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let waited = self.accepted.waited();
        let header = req.headers().get("grpc-timeout").and_then(|v| v.to_str().ok());
        let left = budget(header, self.cap)
            .and_then(|b| b.checked_sub(waited))
            .filter(|b| !b.is_zero());
        let Some(budget) = left else {
            return Box::pin(std::future::ready(Ok(deadline_exceeded(
                "deadline exceeded before the call started",
            ))));
        };
        // tokio's Timeout polls the call before its timer: an answer ready at the deadline wins.
        let call = tokio::time::timeout(budget, self.inner.call(req));
        Box::pin(async move {
            call.await
                .unwrap_or_else(|_| Ok(deadline_exceeded("deadline exceeded")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_the_shorter_of_header_and_cap_less_the_margin() {
        let cap = Duration::from_secs(5);
        assert_eq!(budget(None, cap), Some(Duration::from_millis(4999)));
        assert_eq!(budget(Some("250m"), cap), Some(Duration::from_millis(249)));
        assert_eq!(budget(Some("1H"), cap), Some(Duration::from_millis(4999)));
        // Malformed headers fall back to the cap, like tonic.
        assert_eq!(budget(Some("soon"), cap), Some(Duration::from_millis(4999)));
        // Nothing left: answered at once.
        assert_eq!(budget(Some("1m"), cap), None);
        assert_eq!(budget(Some("900u"), cap), None);
        assert_eq!(budget(Some("0n"), cap), None);
    }

    fn md(v: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("grpc-timeout", v.parse().expect("ascii"));
        m
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(from_metadata(&md("2H")), Some(Duration::from_secs(7200)));
        assert_eq!(from_metadata(&md("3M")), Some(Duration::from_secs(180)));
        assert_eq!(from_metadata(&md("5S")), Some(Duration::from_secs(5)));
        assert_eq!(from_metadata(&md("250m")), Some(Duration::from_millis(250)));
        assert_eq!(from_metadata(&md("7u")), Some(Duration::from_micros(7)));
        assert_eq!(from_metadata(&md("9n")), Some(Duration::from_nanos(9)));
    }

    #[test]
    fn rejects_malformed_values() {
        assert_eq!(from_metadata(&md("S")), None);
        assert_eq!(from_metadata(&md("10x")), None);
        assert_eq!(from_metadata(&md("123456789S")), None);
        assert_eq!(from_metadata(&MetadataMap::new()), None);
    }
}
