//! The server side of every call: a tower layer, outermost in our stack, that
//!
//! - continues the caller's trace: W3C `traceparent` / `tracestate` from the request metadata
//!   become the parent of one server span per call (`rpc.system`, `rpc.service`, `rpc.method`,
//!   `rpc.grpc.status_code`), under which the handler's spans nest;
//! - echoes the trace id in the response metadata (`x-trace-id`) so a caller can quote it, with
//!   tracing on or off (off, it is the caller's trace id or one made up for the call), and
//!   keeps the call's ids in a task-local for log lines;
//! - counts calls by method and status, their latency, calls in flight and calls shed.
//!
//! Health and reflection calls are counted but get no span: probes every few seconds would
//! bury the traces that matter.

use std::future::Future;
use std::hash::{BuildHasher as _, Hasher as _};
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::codegen::http;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::metrics::metrics;

/// Response metadata key carrying the trace id.
pub const TRACE_ID_HEADER: &str = "x-trace-id";

/// Marks a response (in its extensions) as a shed call, for a layer that sheds by answering
/// RESOURCE_EXHAUSTED itself rather than failing with tower's `Overloaded`: this layer then
/// counts it in `riskd.rpc.shed`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shed;

static OTEL_TRACING: AtomicBool = AtomicBool::new(false);

/// Set by telemetry init when spans go to OpenTelemetry.
pub(crate) fn set_otel_tracing(on: bool) {
    OTEL_TRACING.store(on, Ordering::Relaxed);
}

/// True when spans go to OpenTelemetry.
pub fn otel_tracing() -> bool {
    OTEL_TRACING.load(Ordering::Relaxed)
}

/// The known services and methods, so that metrics get a small fixed set of label values
/// (anything else is "other") and spans get static names.
const METHODS: &[(&str, &str, &str)] = &[
    (
        "riskdecision.v1.DecisionService",
        "Score",
        "riskdecision.v1.DecisionService/Score",
    ),
    (
        "riskdecision.v1.DecisionService",
        "Decide",
        "riskdecision.v1.DecisionService/Decide",
    ),
    (
        "riskdecision.v1.DecisionService",
        "GetDecision",
        "riskdecision.v1.DecisionService/GetDecision",
    ),
    (
        "riskdecision.v1.DecisionService",
        "Monitor",
        "riskdecision.v1.DecisionService/Monitor",
    ),
    (
        "riskdecision.v1.DecisionService",
        "MonitorPortfolio",
        "riskdecision.v1.DecisionService/MonitorPortfolio",
    ),
    (
        "riskdecision.v1.DecisionService",
        "ScorePortfolio",
        "riskdecision.v1.DecisionService/ScorePortfolio",
    ),
    (
        "riskdecision.v1.ProfileService",
        "PutProfile",
        "riskdecision.v1.ProfileService/PutProfile",
    ),
    (
        "riskdecision.v1.ProfileService",
        "GetProfile",
        "riskdecision.v1.ProfileService/GetProfile",
    ),
    (
        "riskdecision.v1.ProfileService",
        "DeleteProfile",
        "riskdecision.v1.ProfileService/DeleteProfile",
    ),
    (
        "riskdecision.v1.PolicyService",
        "GetPolicy",
        "riskdecision.v1.PolicyService/GetPolicy",
    ),
    (
        "riskdecision.v1.PolicyService",
        "ValidatePolicy",
        "riskdecision.v1.PolicyService/ValidatePolicy",
    ),
    ("grpc.health.v1.Health", "Check", "grpc.health.v1.Health/Check"),
    ("grpc.health.v1.Health", "Watch", "grpc.health.v1.Health/Watch"),
];

/// Service and method of a request path, as label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc {
    pub service: &'static str,
    pub method: &'static str,
    /// `service/method`, the span name.
    pub name: &'static str,
    /// Health and reflection: counted, not traced.
    pub quiet: bool,
}

impl Rpc {
    pub fn from_path(path: &str) -> Rpc {
        let path = path.strip_prefix('/').unwrap_or(path);
        if let Some(&(service, method, name)) = METHODS.iter().find(|(_, _, name)| *name == path) {
            return Rpc {
                service,
                method,
                name,
                quiet: service.starts_with("grpc."),
            };
        }
        let reflection = path.starts_with("grpc.reflection.");
        Rpc {
            service: if reflection { "grpc.reflection" } else { "other" },
            method: "other",
            name: "other",
            quiet: reflection,
        }
    }
}

/// gRPC codes that make a server span an error (OpenTelemetry RPC semantic conventions: the
/// caller's mistakes are not the server's errors).
fn is_server_error(code: i32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The ids of the call being served, for log lines ([`super::logfmt`]) when no OpenTelemetry
/// span is active: the trace id (the caller's, or made up) and an id for the call itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallIds {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The call's trace is exported (OpenTelemetry on and the sampler said yes): only then are
    /// the child spans worth building.
    pub sampled: bool,
}

tokio::task_local! {
    static CALL_IDS: CallIds;
}

/// The ids of the call this task is serving, if any.
pub fn current_call_ids() -> Option<CallIds> {
    CALL_IDS.try_with(|ids| *ids).ok()
}

/// Runs `fut` as part of the call `ids` (for work a call hands to a task of its own, such as a
/// ScorePortfolio stream): its log lines carry the ids, its spans follow `ids.sampled`.
pub(crate) fn scope_call_ids<F: Future>(ids: CallIds, fut: F) -> impl Future<Output = F::Output> {
    CALL_IDS.scope(ids, fut)
}

/// Runs `f` as part of the call `ids` (synchronous; for tests of what reads the ids).
#[cfg(test)]
pub(crate) fn sync_scope_call_ids<R>(ids: CallIds, f: impl FnOnce() -> R) -> R {
    CALL_IDS.sync_scope(ids, f)
}

/// A fresh 128-bit trace id and 64-bit span id without a system call: a per-process random
/// key (from the standard library's hasher seed) mixed with a counter.
fn fresh_ids() -> (TraceId, SpanId) {
    static KEY: OnceLock<(u64, u64)> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let (a, b) = *KEY.get_or_init(|| {
        let seed = |salt: u64| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(salt);
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            h.finish()
        };
        (seed(1), seed(2))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hi = splitmix64(a ^ n);
    let lo = splitmix64(b.wrapping_add(n));
    let span = splitmix64(hi ^ lo).max(1);
    (
        TraceId::from((u128::from(hi) << 64 | u128::from(lo)).max(1)),
        SpanId::from(span),
    )
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The server span of a call, parented on the caller's `traceparent`, and the call's ids.
///
/// The span is a DEBUG span: the OpenTelemetry layer takes it, the log layer (INFO by default)
/// does not, so with tracing off a call costs no span at all; log lines then get their ids from
/// the task-local [`CallIds`].
pub fn server_span(rpc: &Rpc, headers: &http::HeaderMap) -> (tracing::Span, CallIds) {
    let parent = headers
        .contains_key("traceparent")
        .then(|| TraceContextPropagator::new().extract(&HeaderExtractor(headers)));
    let remote = parent
        .as_ref()
        .map(|cx| cx.span().span_context().clone())
        .filter(|sc| sc.is_valid());
    let span = if rpc.quiet {
        tracing::Span::none()
    } else {
        tracing::debug_span!(
            "grpc.server",
            otel.name = rpc.name,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = rpc.service,
            rpc.method = rpc.method,
            rpc.grpc.status_code = tracing::field::Empty,
            policy.version = tracing::field::Empty,
            decision.id = tracing::field::Empty,
            decision.outcome = tracing::field::Empty,
            decision.grade = tracing::field::Empty,
            decision.knock_outs = tracing::field::Empty,
            decision.refer_flags = tracing::field::Empty,
            // Score (and Monitor's rescoring): what explains the score, never the figures.
            score.grade = tracing::field::Empty,
            verification.findings = tracing::field::Empty,
            // Monitor.
            monitor.classification = tracing::field::Empty,
            monitor.ifrs9_stage = tracing::field::Empty,
            monitor.warning_level = tracing::field::Empty,
            // ScorePortfolio, when the stream ends (spans::PortfolioTrace).
            portfolio.items = tracing::field::Empty,
            portfolio.items_failed = tracing::field::Empty,
            portfolio.batches = tracing::field::Empty,
            portfolio.end = tracing::field::Empty,
        )
    };
    if otel_tracing() && !span.is_disabled() {
        if let (Some(cx), Some(_)) = (parent, &remote) {
            let _ = span.set_parent(cx);
        }
        let sc = span.context().span().span_context().clone();
        if sc.is_valid() {
            return (
                span,
                CallIds {
                    trace_id: sc.trace_id(),
                    span_id: sc.span_id(),
                    sampled: sc.is_sampled(),
                },
            );
        }
    }
    let (fresh_trace, span_id) = fresh_ids();
    let trace_id = remote.map_or(fresh_trace, |r| r.trace_id());
    (
        span,
        CallIds {
            trace_id,
            span_id,
            sampled: false,
        },
    )
}

/// True when the current call's trace is exported; child spans are skipped otherwise (with a
/// sampler such as `parentbased_traceidratio`, unsampled calls then cost almost nothing).
pub fn call_sampled() -> bool {
    CALL_IDS.try_with(|ids| ids.sampled).unwrap_or(false)
}

/// The layer; add it first (outermost) so it sees shed calls and times everything inside.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTelemetryLayer;

impl<S> Layer<S> for GrpcTelemetryLayer {
    type Service = GrpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTelemetry { inner }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcTelemetry<S> {
    inner: S,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Counts a call that is dropped before it finishes (deadline, cancellation) as CANCELLED.
struct InFlight {
    rpc: Rpc,
    started: Instant,
    done: bool,
}

impl InFlight {
    fn start(rpc: Rpc) -> Self {
        metrics().call_started();
        InFlight {
            rpc,
            started: Instant::now(),
            done: false,
        }
    }

    fn finish(&mut self, code: i32) {
        if !self.done {
            self.done = true;
            metrics().call_finished(self.rpc.service, self.rpc.method, code, self.started.elapsed());
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.finish(1);
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcTelemetry<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let rpc = Rpc::from_path(req.uri().path());
        let (span, ids) = server_span(&rpc, req.headers());
        let mut in_flight = InFlight::start(rpc);
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        Box::pin(CALL_IDS.scope(ids, async move {
            let result = fut.instrument(span.clone()).await.map_err(Into::into);
            let code = match &result {
                // A trailers-only response (an error) carries grpc-status in its headers; a
                // successful unary call sends it in the trailers (OK).
                Ok(resp) => {
                    if resp.extensions().get::<Shed>().is_some() {
                        metrics().call_shed(rpc.service, rpc.method);
                    }
                    resp.headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .unwrap_or(0)
                }
                Err(e) if e.is::<tower::load_shed::error::Overloaded>() => {
                    metrics().call_shed(rpc.service, rpc.method);
                    8
                }
                Err(e) => e.downcast_ref::<tonic::Status>().map_or(2, |s| s.code() as i32),
            };
            span.record("rpc.grpc.status_code", code);
            if is_server_error(code) {
                span.record("otel.status_code", "ERROR");
            }
            in_flight.finish(code);
            drop(span);
            result.map(|mut resp| {
                if let Ok(v) = http::HeaderValue::from_str(&ids.trace_id.to_string()) {
                    resp.headers_mut().insert(TRACE_ID_HEADER, v);
                }
                resp
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_fixed_labels() {
        let r = Rpc::from_path("/riskdecision.v1.DecisionService/Decide");
        assert_eq!(
            (r.service, r.method, r.quiet),
            ("riskdecision.v1.DecisionService", "Decide", false)
        );
        assert!(Rpc::from_path("/grpc.health.v1.Health/Check").quiet);
        let r = Rpc::from_path("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
        assert!(r.quiet);
        let r = Rpc::from_path("/evil/../../x");
        assert_eq!((r.service, r.method), ("other", "other"));
    }

    #[test]
    fn trace_id_comes_from_traceparent_when_tracing_is_off() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let rpc = Rpc::from_path("/riskdecision.v1.DecisionService/Decide");
        let (_, ids) = server_span(&rpc, &headers);
        assert_eq!(ids.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(ids.span_id, SpanId::INVALID);
        let (_, made_up) = server_span(&rpc, &http::HeaderMap::new());
        let (_, another) = server_span(&rpc, &http::HeaderMap::new());
        assert_eq!(made_up.trace_id.to_string().len(), 32);
        assert_ne!(made_up.trace_id, ids.trace_id);
        assert_ne!(made_up.trace_id, another.trace_id);
        assert_ne!(made_up.span_id, another.span_id);
    }
}
