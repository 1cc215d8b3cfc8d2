//! Telemetry end to end: a real OTLP receiver (the official `TraceService` and `MetricsService`
//! from `opentelemetry-proto`) on an ephemeral port, the telemetry pipelines pointed at it
//! in-process (endpoint passed explicitly: no environment mutation), real gRPC calls carrying a
//! W3C `traceparent`, the Prometheus endpoint scraped before and after, and the `riskd` binary's
//! `healthcheck` and bounded shutdown.
//!
//! One global `tracing` subscriber per test binary: it is installed once, in [`setup`], on a
//! runtime shared by every test here (the OTLP exporter lives on it).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use riskdecision::pb;
use riskdecision::server::ServerLimits;
use riskdecision::telemetry::{self, PrometheusReader, Telemetry, TelemetryConfig};
use support::process::{self, Riskd};
use support::{TestServer, redis_helpers};
use tokio::runtime::Runtime;
use tonic::{Request, Response, Status};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

// ---------------------------------------------------------------------------------------------
// The OTLP receiver

/// Spans received, each with its resource's attributes.
type Received = Arc<Mutex<Vec<(Vec<KeyValue>, Span)>>>;

#[derive(Clone, Default)]
struct Receiver {
    spans: Received,
    metric_names: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().expect("lock");
        for rs in request.into_inner().resource_spans {
            let resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    spans.push((resource.clone(), span));
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut names = self.metric_names.lock().expect("lock");
        for rm in request.into_inner().resource_metrics {
            for sm in rm.scope_metrics {
                names.extend(sm.metrics.into_iter().map(|m| m.name));
            }
        }
        Ok(Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

impl Receiver {
    fn trace(&self, trace_id: &[u8]) -> Vec<Span> {
        let spans = self.spans.lock().expect("lock");
        spans
            .iter()
            .filter(|(_, s)| s.trace_id == trace_id)
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn resource_of(&self, trace_id: &[u8]) -> Vec<KeyValue> {
        let spans = self.spans.lock().expect("lock");
        spans
            .iter()
            .find(|(_, s)| s.trace_id == trace_id)
            .map(|(r, _)| r.clone())
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared setup: runtime, receiver, telemetry (once per test binary)

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.0.clone())
    }
}

impl LogBuffer {
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().expect("lock").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a JSON log line ({e}): {l}")))
            .collect()
    }
}

struct Setup {
    runtime: Runtime,
    receiver: Receiver,
    telemetry: Telemetry,
    prometheus: PrometheusReader,
    logs: LogBuffer,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let receiver = Receiver::default();
        let logs = LogBuffer::default();
        let telemetry = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let r = receiver.clone();
            tokio::spawn(async move {
                tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(r.clone()))
                    .add_service(MetricsServiceServer::new(r))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                    .await
            });
            let cfg = TelemetryConfig {
                otlp_endpoint: Some(format!("http://{addr}")),
                service_name: "riskd-test".to_owned(),
                resource_attributes: vec![("deployment.environment".to_owned(), "test".to_owned())],
                prometheus: true,
                // Pushed by the explicit flushes below, not by the clock.
                metrics_interval: Duration::from_secs(3600),
                export_timeout: Duration::from_secs(5),
                log_json: true,
                log_filter: "info".to_owned(),
                log_writer: BoxMakeWriter::new(logs.clone()),
                ..TelemetryConfig::default()
            };
            telemetry::init(cfg).expect("telemetry starts")
        });
        let prometheus = telemetry.prometheus().expect("a Prometheus reader");
        Setup {
            runtime,
            receiver,
            telemetry,
            prometheus,
            logs,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn attrs(span: &Span) -> BTreeMap<String, String> {
    kv_map(&span.attributes)
}

fn kv_map(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), any_text(kv.value.as_ref())))
        .collect()
}

fn any_text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The spans of a trace once its server span has arrived (bounded wait).
async fn wait_for_trace(setup: &Setup, trace_id: &[u8]) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans = setup.receiver.trace(trace_id);
        if spans.iter().any(|s| s.kind == SpanKind::Server as i32) {
            // The server span closes last; give stragglers of the same batch a moment.
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "no server span for trace {} reached the receiver",
            hex(trace_id)
        );
        let _ = setup.telemetry.flush(Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A span tree as text: name, duration, key attributes.
fn render_tree(spans: &[Span]) -> String {
    let by_parent: HashMap<Vec<u8>, Vec<&Span>> = spans.iter().fold(HashMap::new(), |mut m, s| {
        m.entry(s.parent_span_id.clone()).or_default().push(s);
        m
    });
    let ids: Vec<&Vec<u8>> = spans.iter().map(|s| &s.span_id).collect();
    let mut roots: Vec<&Span> = spans.iter().filter(|s| !ids.contains(&&s.parent_span_id)).collect();
    roots.sort_by_key(|s| s.start_time_unix_nano);
    let mut out = String::new();
    fn walk(out: &mut String, s: &Span, depth: usize, by_parent: &HashMap<Vec<u8>, Vec<&Span>>) {
        let us = s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) as f64 / 1000.0;
        out.push_str(&format!("{}{} ({us:.1} us)\n", "  ".repeat(depth), s.name));
        let mut children = by_parent.get(&s.span_id).cloned().unwrap_or_default();
        children.sort_by_key(|c| c.start_time_unix_nano);
        for c in children {
            walk(out, c, depth + 1, by_parent);
        }
    }
    for r in roots {
        walk(&mut out, r, 0, &by_parent);
    }
    out
}

fn with_traceparent<T>(msg: T, trace_id: &str, parent_span_id: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent_span_id}-01").parse().expect("ascii"),
    );
    req.metadata_mut()
        .insert("tracestate", "vendor=opaque".parse().expect("ascii"));
    req
}

/// `msg` from a caller that does not sample its trace (the sampled flag of `traceparent` off).
fn unsampled_request<T>(msg: T, trace_id: &str, parent_span_id: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent_span_id}-00").parse().expect("ascii"),
    );
    req
}

/// Nothing exported for `trace_id`, once everything pending is flushed.
async fn assert_not_exported(setup: &Setup, trace_id: &str) {
    setup.telemetry.flush(Duration::from_secs(5)).await.expect("flush");
    assert!(
        setup.receiver.trace(&unhex(trace_id)).is_empty(),
        "an unsampled call exports nothing"
    );
}

/// Every string that must never appear in telemetry for this profile: its name, its id, the
/// controller's and the guarantors' details, and every money figure.
fn personal_and_financial(profile: &pb::EnterpriseProfile) -> Vec<String> {
    let mut out = vec![profile.name.clone(), profile.enterprise_id.clone()];
    let json = riskdecision::json::to_json("riskdecision.v1.EnterpriseProfile", profile, false).expect("json");
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    fn collect(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    collect(v, k, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| collect(v, key, out)),
            serde_json::Value::String(s) if key == "units_minor" && s.len() >= 5 => out.push(s.clone()),
            serde_json::Value::String(s)
                if ["name", "id_number", "phone", "settlement_account_numbers"].contains(&key) && s.len() >= 3 =>
            {
                out.push(s.clone())
            }
            _ => {}
        }
    }
    collect(&value, "", &mut out);
    out.retain(|s| !s.is_empty());
    out
}

fn assert_no_leak(spans: &[Span], forbidden: &[String]) {
    for span in spans {
        let mut values: Vec<(String, String)> = attrs(span).into_iter().collect();
        for event in &span.events {
            values.push(("event.name".to_owned(), event.name.clone()));
            values.extend(kv_map(&event.attributes));
        }
        values.push(("span.name".to_owned(), span.name.clone()));
        for (key, value) in values {
            for f in forbidden {
                assert!(
                    !value.contains(f.as_str()),
                    "span {:?} attribute {key} = {value:?} carries personal or financial data {f:?}",
                    span.name
                );
            }
        }
    }
}

fn descends_from(span: &Span, ancestor: &[u8], spans: &[Span]) -> bool {
    let mut parent = span.parent_span_id.clone();
    for _ in 0..spans.len() {
        if parent == ancestor {
            return true;
        }
        match spans.iter().find(|s| s.span_id == parent) {
            Some(p) => parent = p.parent_span_id.clone(),
            None => return false,
        }
    }
    false
}

/// The server span of a trace (there is one).
fn server_span_of(spans: &[Span]) -> &Span {
    spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a server span")
}

/// The one span called `name`, with the tree in the message when it is missing.
fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("a {name} span in\n{}", render_tree(spans)))
}

/// An in-process server with the example profile (put-profile.json) cached, and that profile.
async fn start_with_example_profile() -> (TestServer, pb::EnterpriseProfile) {
    let server = support::start().await;
    server.put_example_profile().await;
    let profile = support::worked_profile();
    (server, profile)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn a_decide_continues_the_callers_trace_with_a_span_per_stage() {
    let setup = setup();
    setup.runtime.block_on(async {
        let server = support::start().await;
        let mut decisions = server.decisions().await;
        let mut profiles = server.profiles().await;

        // 1. Inline profile that fails its cross-checks: knock-outs, findings.
        let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let caller_span = "00f067aa0ba902b7";
        let decline = support::decide_example("decide-tax-loan-decline-false-revenue.json");
        let Some(pb::loan_application::Subject::Profile(inline_profile)) =
            decline.application.as_ref().and_then(|a| a.subject.clone())
        else {
            panic!("the example has an inline profile");
        };
        let response = decisions
            .decide(with_traceparent(decline, caller_trace, caller_span))
            .await
            .expect("decide");
        assert_eq!(
            response.metadata().get("x-trace-id").and_then(|v| v.to_str().ok()),
            Some(caller_trace),
            "the caller's trace id is echoed"
        );
        let decision = response.into_inner();
        assert_eq!(decision.outcome, pb::Outcome::Decline as i32);

        // 2. By enterprise id, through the profile store.
        let put = support::put_profile_request();
        let stored_profile = put.profile.clone().expect("profile");
        profiles.put_profile(put).await.expect("put profile");
        let by_id_trace = "0af7651916cd43dd8448eb211c80319c";
        let by_id_parent = "b7ad6b7169203331";
        let by_id = support::decide_example("decide-by-id-working-capital.json");
        let by_id_decision = decisions
            .decide(with_traceparent(by_id, by_id_trace, by_id_parent))
            .await
            .expect("decide by id")
            .into_inner();

        // The caller's trace, with our spans in it.
        let spans = wait_for_trace(setup, &unhex(caller_trace)).await;
        eprintln!("trace of one Decide (inline profile):\n{}", render_tree(&spans));
        let server_span = server_span_of(&spans);
        assert_eq!(server_span.name, "riskdecision.v1.DecisionService/Decide");
        assert_eq!(hex(&server_span.trace_id), caller_trace);
        assert_eq!(
            hex(&server_span.parent_span_id),
            caller_span,
            "parented on the caller's span"
        );
        let a = attrs(server_span);
        assert_eq!(a["rpc.system"], "grpc");
        assert_eq!(a["rpc.service"], "riskdecision.v1.DecisionService");
        assert_eq!(a["rpc.method"], "Decide");
        assert_eq!(a["rpc.grpc.status_code"], "0");
        assert_eq!(a["decision.id"], decision.decision_id);
        assert_eq!(a["decision.outcome"], "DECLINE");
        assert_eq!(a["decision.grade"], decision.grade);
        assert_eq!(a["policy.version"], decision.policy_version);
        assert_eq!(a["decision.knock_outs"], decision.knock_outs.len().to_string());
        assert_eq!(a["decision.refer_flags"], decision.refer_flags.len().to_string());
        assert!(!decision.knock_outs.is_empty(), "the example is knocked out");

        let resource = kv_map(&setup.receiver.resource_of(&unhex(caller_trace)));
        assert_eq!(resource["service.name"], "riskd-test");
        assert_eq!(resource["deployment.environment"], "test");

        for stage in [
            "features",
            "verification",
            "scorecard",
            "limit",
            "knock_outs",
            "pricing",
            "authority",
            "decision.record",
        ] {
            let s = named(&spans, stage);
            assert!(
                descends_from(s, &server_span.span_id, &spans),
                "{stage} is a descendant of the server span"
            );
            assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
        }
        let ko = attrs(named(&spans, "knock_outs"));
        assert_eq!(ko["decision.knock_outs"], decision.knock_outs.len().to_string());
        let codes: Vec<String> = decision.knock_outs.iter().map(|r| r.code.clone()).collect();
        assert_eq!(ko["knock_out.codes"], codes.join(","));
        let v = attrs(named(&spans, "verification"));
        assert_eq!(v["verification.findings"], decision.verification.len().to_string());
        assert_eq!(attrs(named(&spans, "scorecard"))["score.grade"], decision.grade);
        assert!(attrs(named(&spans, "limit")).contains_key("limit.caps"));
        assert_eq!(
            attrs(named(&spans, "authority"))["authority.level"],
            decision.required_authority
        );
        assert_eq!(attrs(named(&spans, "pricing"))["pricing.priced"], "true");
        let rec = attrs(named(&spans, "decision.record"));
        assert_eq!(
            (rec["decision.recorded"].as_str(), rec["decision.store"].as_str()),
            ("new", "memory")
        );

        // Only our spans, and few of them.
        assert!(
            spans.len() <= 12,
            "{} spans for one Decide:\n{}",
            spans.len(),
            render_tree(&spans)
        );
        let ours = [
            "riskdecision.v1.DecisionService/Decide",
            "profile.lookup",
            "features",
            "verification",
            "scorecard",
            "limit",
            "knock_outs",
            "pricing",
            "authority",
            "decision.record",
        ];
        for s in &spans {
            assert!(ours.contains(&s.name.as_str()), "unexpected span {:?}", s.name);
        }
        assert_no_leak(&spans, &personal_and_financial(&inline_profile));

        // The by-id Decide: the profile lookup is a child with store, hit and data age.
        let by_id_spans = wait_for_trace(setup, &unhex(by_id_trace)).await;
        eprintln!("trace of one Decide (by enterprise id):\n{}", render_tree(&by_id_spans));
        let by_id_server = server_span_of(&by_id_spans);
        assert_eq!(hex(&by_id_server.parent_span_id), by_id_parent);
        let lookup = named(&by_id_spans, "profile.lookup");
        assert!(descends_from(lookup, &by_id_server.span_id, &by_id_spans));
        let l = attrs(lookup);
        assert_eq!(l["profile.store"], "memory");
        assert_eq!(l["profile.found"], "true");
        assert!(l["profile.data_age_days"].parse::<i64>().expect("days") > 0);
        assert!(l.contains_key("profile.cache_age_s"));
        assert_eq!(attrs(by_id_server)["decision.id"], by_id_decision.decision_id);
        assert!(by_id_spans.len() <= 12);
        assert_no_leak(&by_id_spans, &personal_and_financial(&stored_profile));

        // Every log line inside the call carries the caller's trace id and a span id.
        let lines = setup.logs.lines();
        let recorded = lines
            .iter()
            .find(|l| l["message"] == "decision recorded" && l["decision_id"] == decision.decision_id.as_str())
            .expect("the decision's log line");
        assert_eq!(recorded["trace_id"], caller_trace);
        assert_eq!(
            recorded["span_id"],
            hex(&server_span.span_id).as_str(),
            "the call's server span"
        );
        assert_eq!(recorded["level"], "INFO");

        // Metrics went over OTLP too.
        setup.telemetry.flush(Duration::from_secs(5)).await.expect("flush");
        let names = setup.receiver.metric_names.lock().expect("lock").clone();
        for expected in ["riskd.rpc.requests", "rpc.server.call.duration", "riskd.decisions"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} exported over OTLP: {names:?}"
            );
        }
        server.shutdown().await.expect("server stops");
    });
}

#[test]
fn a_decide_over_redis_has_a_span_per_command_and_no_key_or_value() {
    let setup = setup();
    setup.runtime.block_on(async {
        let url = redis_helpers::local_redis_url();
        let prefix = redis_helpers::unique_prefix("telemetry");
        let _ = redis_helpers::raw(&url).await; // fails clearly when Redis is not there
        let stores = riskdecision::store::RedisStores::open(&redis_helpers::options(&url, &prefix)).expect("stores");
        let server = TestServer::builder().redis(stores).start().await;
        server.put_example_profile().await;
        let profile = support::worked_profile();
        let trace = "5c1c63257de34c67b2b3e4b7a1e9d0f1";
        let decision = server
            .decisions()
            .await
            .decide(with_traceparent(
                support::decide_by_id("telemetry-redis-1"),
                trace,
                "1a2b3c4d5e6f7a8b",
            ))
            .await
            .expect("decide")
            .into_inner();

        let spans = wait_for_trace(setup, &unhex(trace)).await;
        eprintln!("trace of one Decide over Redis:\n{}", render_tree(&spans));
        let parent_of = |child: &Span| {
            spans
                .iter()
                .find(|s| s.span_id == child.parent_span_id)
                .map(|s| s.name.clone())
        };
        let redis: Vec<&Span> = spans
            .iter()
            .filter(|s| attrs(s).get("db.system").map(String::as_str) == Some("redis"))
            .collect();
        assert_eq!(
            redis.len(),
            2,
            "a Decide by id is two Redis round trips:\n{}",
            render_tree(&spans)
        );
        let get = redis.iter().find(|s| s.name == "GET").expect("a GET span");
        assert_eq!(parent_of(get).as_deref(), Some("profile.lookup"));
        assert_eq!(attrs(get)["riskd.operation"], "get profile");
        assert_eq!(get.kind, SpanKind::Client as i32);
        let eval = redis.iter().find(|s| s.name == "EVALSHA").expect("an EVALSHA span");
        assert_eq!(parent_of(eval).as_deref(), Some("decision.record"));
        assert_eq!(attrs(eval)["db.operation.name"], "EVALSHA");
        let lookup = named(&spans, "profile.lookup");
        assert_eq!(attrs(lookup)["profile.store"], "redis");
        assert_eq!(attrs(lookup)["profile.found"], "true");
        let server_span = server_span_of(&spans);
        assert_eq!(attrs(server_span)["decision.id"], decision.decision_id);
        assert!(spans.len() <= 12, "{} spans", spans.len());
        // Never a key (prefix, id) or a value.
        let mut forbidden = personal_and_financial(&profile);
        forbidden.push(prefix.clone());
        assert_no_leak(&spans, &forbidden);

        // Latency by operation, and errors by kind when Redis is not there.
        let down = riskdecision::store::RedisStores::open(&redis_helpers::options("redis://127.0.0.1:1", &prefix))
            .expect("lazy stores");
        assert!(down.ping().await.is_err());
        let text = setup.prometheus.render().expect("render");
        assert!(
            sample(
                &text,
                "riskd_redis_duration_seconds_count",
                &[r#"operation="get profile""#]
            ) >= 1.0,
            "{text}"
        );
        assert!(
            sample(
                &text,
                "riskd_redis_duration_seconds_count",
                &[r#"operation="record decision""#]
            ) >= 1.0
        );
        assert!(
            sample(&text, "riskd_redis_errors_total", &[r#"operation="ping""#]) >= 1.0,
            "{text}"
        );

        server.shutdown().await.expect("serve returns Ok");
        redis_helpers::cleanup(&url, &prefix).await;
    });
}

#[test]
fn a_call_without_traceparent_starts_a_trace_and_says_which() {
    let setup = setup();
    setup.runtime.block_on(async {
        let server = support::start().await;
        let mut policies = server.policies().await;
        let response = policies
            .get_policy(pb::GetPolicyRequest { include_content: false })
            .await
            .expect("get policy");
        let trace_id = response
            .metadata()
            .get("x-trace-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-trace-id")
            .to_owned();
        assert_eq!(trace_id.len(), 32);
        let spans = wait_for_trace(setup, &unhex(&trace_id)).await;
        let root = server_span_of(&spans);
        assert!(root.parent_span_id.is_empty(), "a new trace has a root server span");
        assert_eq!(attrs(root)["rpc.method"], "GetPolicy");

        // An error status is on the span, and a caller's mistake is not a server error.
        let mut decisions = server.decisions().await;
        let status = decisions
            .get_decision(with_traceparent(
                pb::GetDecisionRequest {
                    decision_id: "00000000-0000-7000-8000-000000000000".into(),
                },
                "11111111111111111111111111111111",
                "2222222222222222",
            ))
            .await
            .expect_err("unknown decision");
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(
            status.metadata().get("x-trace-id").and_then(|v| v.to_str().ok()),
            Some("11111111111111111111111111111111")
        );
        let spans = wait_for_trace(setup, &unhex("11111111111111111111111111111111")).await;
        let root = server_span_of(&spans);
        assert_eq!(
            attrs(root)["rpc.grpc.status_code"],
            (tonic::Code::NotFound as i32).to_string()
        );
        assert_ne!(
            root.status.as_ref().map(|s| s.code),
            Some(opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error as i32)
        );
        // A caller that does not sample its trace: we follow (ParentBased), echo its trace id,
        // and build no span at all.
        let unsampled = "33333333333333333333333333333333";
        let req = unsampled_request(
            support::decide_example("decide-working-capital-approve.json"),
            unsampled,
            "4444444444444444",
        );
        let response = decisions.decide(req).await.expect("decide");
        assert_eq!(
            response.metadata().get("x-trace-id").and_then(|v| v.to_str().ok()),
            Some(unsampled)
        );
        assert_not_exported(setup, unsampled).await;
        server.shutdown().await.expect("server stops");
    });
}

#[test]
fn a_score_has_a_span_per_stage_with_what_explains_it() {
    let setup = setup();
    setup.runtime.block_on(async {
        let (server, profile) = start_with_example_profile().await;
        let mut decisions = server.decisions().await;

        let trace = "7d3a2b1c0e9f48d7a6b5c4d3e2f1a0b9";
        let parent = "a1b2c3d4e5f60718";
        let request = support::score_example("score-by-id.json");
        let response = decisions
            .score(with_traceparent(request, trace, parent))
            .await
            .expect("score");
        assert_eq!(
            response.metadata().get("x-trace-id").and_then(|v| v.to_str().ok()),
            Some(trace)
        );
        let scored = response.into_inner();

        let spans = wait_for_trace(setup, &unhex(trace)).await;
        eprintln!("trace of one Score (by enterprise id):\n{}", render_tree(&spans));
        let root = server_span_of(&spans);
        assert_eq!(root.name, "riskdecision.v1.DecisionService/Score");
        assert_eq!(hex(&root.parent_span_id), parent, "parented on the caller's span");
        let a = attrs(root);
        assert_eq!(a["rpc.method"], "Score");
        assert_eq!(a["rpc.grpc.status_code"], "0");
        assert_eq!(a["score.grade"], scored.grade);
        assert_eq!(a["verification.findings"], scored.verification.len().to_string());
        assert_eq!(a["policy.version"], scored.policy_version);

        for stage in ["profile.lookup", "features", "verification", "scorecard"] {
            assert!(
                descends_from(named(&spans, stage), &root.span_id, &spans),
                "{stage} is a descendant of the server span"
            );
        }
        let card = attrs(named(&spans, "scorecard"));
        assert_eq!(card["score.grade"], scored.grade);
        assert_eq!(card["score.reasons"], scored.reasons.len().to_string());
        let v = attrs(named(&spans, "verification"));
        assert_eq!(v["verification.findings"], scored.verification.len().to_string());
        let codes: Vec<&str> = scored.verification.iter().map(|f| f.code.as_str()).collect();
        if !codes.is_empty() {
            assert_eq!(v["verification.codes"], codes.join(","));
        }
        assert_eq!(attrs(named(&spans, "profile.lookup"))["profile.found"], "true");

        // Only these, and no score, PD or figure anywhere (the score is a number the response
        // carries: it is not an attribute either).
        let ours = [
            "riskdecision.v1.DecisionService/Score",
            "profile.lookup",
            "features",
            "verification",
            "scorecard",
        ];
        for s in &spans {
            assert!(ours.contains(&s.name.as_str()), "unexpected span {:?}", s.name);
        }
        assert_eq!(spans.len(), ours.len(), "{}", render_tree(&spans));
        let mut forbidden = personal_and_financial(&profile);
        forbidden.push(scored.pd.to_string());
        assert_no_leak(&spans, &forbidden);
        for s in &spans {
            assert!(
                !attrs(s).values().any(|v| v == &scored.score.to_string()),
                "the score on span {:?}: {:?}",
                s.name,
                attrs(s)
            );
        }

        // A caller that does not sample its trace: no span at all.
        let unsampled = "44444444444444444444444444444444";
        let request = pb::ScoreRequest {
            subject: Some(pb::score_request::Subject::Profile(profile.clone())),
            item_id: String::new(),
        };
        decisions
            .score(unsampled_request(request, unsampled, "5555555555555555"))
            .await
            .expect("score");
        assert_not_exported(setup, unsampled).await;
        server.shutdown().await.expect("server stops");
    });
}

#[test]
fn a_monitor_has_a_span_per_step_with_what_explains_it() {
    let setup = setup();
    setup.runtime.block_on(async {
        let (server, profile) = start_with_example_profile().await;
        let mut decisions = server.decisions().await;
        let enterprise_id = profile.enterprise_id.clone();

        // With the current profile: rescoring first.
        let mut request = support::monitor_example("monitor-substandard.json");
        let loan = request.loan.as_mut().expect("loan");
        loan.subject = Some(pb::loan_snapshot::Subject::EnterpriseId(enterprise_id));
        let mut forbidden = personal_and_financial(&profile);
        forbidden.push(loan.loan_id.clone());
        forbidden.extend(loan.outstanding_principal.iter().map(|m| m.units_minor.to_string()));
        let trace = "8e4b3c2d1f0a49e8b7c6d5e4f3a2b1c0";
        let parent = "b2c3d4e5f6071829";
        let result = decisions
            .monitor(with_traceparent(request, trace, parent))
            .await
            .expect("monitor")
            .into_inner();
        assert_eq!(result.classification, pb::LoanClass::Substandard as i32);

        let spans = wait_for_trace(setup, &unhex(trace)).await;
        eprintln!(
            "trace of one Monitor (with the current profile):\n{}",
            render_tree(&spans)
        );
        let root = server_span_of(&spans);
        assert_eq!(root.name, "riskdecision.v1.DecisionService/Monitor");
        assert_eq!(hex(&root.parent_span_id), parent);
        let a = attrs(root);
        assert_eq!(a["monitor.classification"], "SUBSTANDARD");
        assert_eq!(a["monitor.ifrs9_stage"], result.ifrs9_stage.to_string());
        let level = pb::WarningLevel::try_from(result.warning_level)
            .expect("a level")
            .as_str_name();
        assert_eq!(a["monitor.warning_level"], level);
        assert_eq!(a["policy.version"], result.policy_version);

        for step in [
            "profile.lookup",
            "rescoring",
            "signals",
            "classification",
            "ifrs9_stage",
        ] {
            assert!(
                descends_from(named(&spans, step), &root.span_id, &spans),
                "{step} is a descendant of the server span"
            );
        }
        let r = attrs(named(&spans, "rescoring"));
        assert_eq!(r["score.grade"], result.grade);
        if let Some(n) = result.grade_notches_down {
            assert_eq!(r["monitor.grade_notches_down"], n.to_string());
        }
        let sig = attrs(named(&spans, "signals"));
        assert_eq!(sig["monitor.warning_level"], level);
        assert_eq!(sig["monitor.signals"], result.signals.len().to_string());
        for fired in &result.signals {
            assert!(sig["monitor.signal_codes"].contains(&fired.code), "{sig:?}");
        }
        let c = attrs(named(&spans, "classification"));
        assert_eq!(c["monitor.classification"], "SUBSTANDARD");
        let rule = result.classification_rule.as_ref().expect("a deciding rule");
        assert_eq!(c["monitor.classification_rule"], rule.code);
        assert_eq!(
            c["monitor.classification_rules"],
            result.classification_rules.len().to_string()
        );
        let st = attrs(named(&spans, "ifrs9_stage"));
        assert_eq!(st["monitor.ifrs9_stage"], result.ifrs9_stage.to_string());
        assert_eq!(
            st["monitor.stage_reason"],
            result.stage_reason.as_ref().expect("a reason").code
        );
        assert_eq!(spans.len(), 6, "{}", render_tree(&spans));
        assert_no_leak(&spans, &forbidden);

        // Without a profile: no lookup, no rescoring.
        let mut request = support::monitor_example("monitor-normal.json");
        request.loan.as_mut().expect("loan").subject = None;
        let trace = "9f5c4d3e2a1b40f9c8d7e6f5a4b3c2d1";
        decisions
            .monitor(with_traceparent(request, trace, parent))
            .await
            .expect("monitor");
        let spans = wait_for_trace(setup, &unhex(trace)).await;
        let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "classification",
                "ifrs9_stage",
                "riskdecision.v1.DecisionService/Monitor",
                "signals"
            ],
            "{}",
            render_tree(&spans)
        );
        server.shutdown().await.expect("server stops");
    });
}

#[test]
fn a_portfolio_stream_has_a_span_per_batch_lookup_and_a_summary_not_a_span_per_item() {
    let setup = setup();
    setup.runtime.block_on(async {
        let (server, profile) = start_with_example_profile().await;
        let stored_id = profile.enterprise_id.clone();
        let items = 300;
        let requests: Vec<pb::ScoreRequest> = (0..items)
            .map(|i| pb::ScoreRequest {
                subject: Some(match i % 3 {
                    0 => pb::score_request::Subject::EnterpriseId(stored_id.clone()),
                    1 => pb::score_request::Subject::EnterpriseId("92330100MA2H7K3L0N".into()), // not cached
                    _ => pb::score_request::Subject::Profile(profile.clone()),
                }),
                item_id: format!("item-{i}"),
            })
            .collect();
        let trace = "a06d5e4f3b2c41a0d9e8f7a6b5c4d3e2";
        let parent = "c3d4e5f607182930";
        let mut stream = server
            .decisions()
            .await
            .score_portfolio(with_traceparent(tokio_stream::iter(requests), trace, parent))
            .await
            .expect("stream")
            .into_inner();
        let (mut answered, mut failed) = (0u64, 0u64);
        while let Some(r) = stream.message().await.expect("no stream error") {
            answered += 1;
            failed += u64::from(r.error.is_some());
        }
        assert_eq!((answered, failed), (items, items / 3));

        let spans = wait_for_trace(setup, &unhex(trace)).await;
        eprintln!("trace of one ScorePortfolio of {items} items:\n{}", render_tree(&spans));
        let root = server_span_of(&spans);
        assert_eq!(root.name, "riskdecision.v1.DecisionService/ScorePortfolio");
        assert_eq!(hex(&root.parent_span_id), parent);
        let a = attrs(root);
        assert_eq!(a["portfolio.items"], items.to_string());
        assert_eq!(a["portfolio.items_failed"], (items / 3).to_string());
        assert_eq!(a["portfolio.end"], "complete");
        let batches: usize = a["portfolio.batches"].parse().expect("a count");
        assert!((items as usize).div_ceil(64) <= batches, "{a:?}");
        // The server span covers the stream: it ends after the last lookup.
        let lookups: Vec<&Span> = spans.iter().filter(|s| s.name == "profile.lookup_many").collect();
        assert!(
            !lookups.is_empty() && lookups.len() <= batches,
            "{}",
            render_tree(&spans)
        );
        let requested: usize = lookups
            .iter()
            .map(|s| attrs(s)["profile.requested"].parse::<usize>().expect("a count"))
            .sum();
        assert_eq!(requested, 2 * items as usize / 3, "every item by id is looked up once");
        for l in &lookups {
            assert_eq!(l.parent_span_id, root.span_id, "a lookup is a child of the server span");
            assert!(l.end_time_unix_nano <= root.end_time_unix_nano);
            assert_eq!(attrs(l)["profile.store"], "memory");
        }
        // No span per item: the server span and the batch lookups, nothing else.
        for s in &spans {
            assert!(
                s.span_id == root.span_id || s.name == "profile.lookup_many",
                "unexpected span {:?} in a portfolio trace",
                s.name
            );
        }
        assert_no_leak(&spans, &personal_and_financial(&profile));

        // A slow sender: a batch per item. Only the first PORTFOLIO_TRACED_LOOKUPS batch
        // lookups get a span; the summary still counts every batch.
        let cap = riskdecision::telemetry::spans::PORTFOLIO_TRACED_LOOKUPS as usize;
        let items = cap + 100;
        let requests: Vec<pb::ScoreRequest> = (0..items)
            .map(|i| pb::ScoreRequest {
                subject: Some(pb::score_request::Subject::EnterpriseId(stored_id.clone())),
                item_id: format!("slow-{i}"),
            })
            .collect();
        let trace = "b17e6f5a4c3d42b1e0f9a8b7c6d5e4f3";
        let slow = tokio_stream::StreamExt::throttle(tokio_stream::iter(requests), Duration::from_millis(4));
        let mut stream = server
            .decisions()
            .await
            .score_portfolio(with_traceparent(slow, trace, parent))
            .await
            .expect("stream")
            .into_inner();
        let mut answered = 0;
        while let Some(r) = stream.message().await.expect("no stream error") {
            assert!(r.error.is_none(), "{r:?}");
            answered += 1;
        }
        assert_eq!(answered, items);
        let spans = wait_for_trace(setup, &unhex(trace)).await;
        let a = attrs(server_span_of(&spans));
        assert_eq!(a["portfolio.items"], items.to_string());
        let batches: usize = a["portfolio.batches"].parse().expect("a count");
        let lookups = spans.iter().filter(|s| s.name == "profile.lookup_many").count();
        assert_eq!(lookups, batches.min(cap), "{batches} batches");
        assert!(
            batches > cap,
            "items 4 ms apart make a batch each (2 ms batch wait): {batches} batches of {items} items"
        );
        assert_eq!(spans.len(), cap + 1);
        server.shutdown().await.expect("server stops");
    });
}

// ---------------------------------------------------------------------------------------------
// Prometheus

/// GET over a plain TCP connection; returns (status line, body).
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// The value of the sample whose name and labels contain every part of `selector`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

#[test]
fn prometheus_counters_move() {
    let setup = setup();
    setup.runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let metrics_addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let endpoint = tokio::spawn(telemetry::prometheus::serve(
            listener,
            setup.prometheus.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        let scrape = move || async move {
            tokio::task::spawn_blocking(move || http_get(metrics_addr, "/metrics"))
                .await
                .expect("scrape")
        };
        let (status, before) = scrape().await;
        assert_eq!(status, "HTTP/1.1 200 OK");

        let server = support::start().await;
        let mut decisions = server.decisions().await;
        let mut profiles = server.profiles().await;
        let decline = support::decide_example("decide-tax-loan-decline-false-revenue.json");
        decisions.decide(decline).await.expect("decide");
        // By id before the profile is there: a miss (NOT_FOUND); after PutProfile: a hit.
        let missing = support::decide_by_id("prometheus-test-missing");
        let status = decisions.decide(missing).await.expect_err("no such profile yet");
        assert_eq!(status.code(), tonic::Code::NotFound);
        let put = support::put_profile_request();
        profiles.put_profile(put).await.expect("put");
        let by_id = support::decide_by_id("prometheus-test-by-id");
        decisions.decide(by_id).await.expect("decide by id");
        let invalid = support::decide_example("decide-invalid.json");
        let status = decisions.decide(invalid).await.expect_err("invalid");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);

        // A server that sheds everything (no in-flight slot at all).
        let shedding = TestServer::builder()
            .profile_ttl(Duration::from_secs(60))
            .limits(ServerLimits {
                max_in_flight: 0,
                ..ServerLimits::default()
            })
            .start()
            .await;
        let status = shedding
            .decisions()
            .await
            .decide(support::decide_example("decide-working-capital-approve.json"))
            .await
            .expect_err("shed");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        drop(shedding);

        let (status, after) = scrape().await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        let moved = |name: &str, labels: &[&str]| sample(&after, name, labels) - sample(&before, name, labels);
        let decide = r#"rpc_method="Decide""#;
        assert!(
            moved("riskd_rpc_requests_total", &[decide, r#"rpc_grpc_status_code="0""#]) >= 2.0,
            "{after}"
        );
        assert!(moved("riskd_rpc_requests_total", &[decide, r#"rpc_grpc_status_code="3""#]) >= 1.0);
        assert!(moved("riskd_rpc_requests_total", &[decide, r#"rpc_grpc_status_code="5""#]) >= 1.0);
        assert!(moved("riskd_rpc_requests_total", &[decide, r#"rpc_grpc_status_code="8""#]) >= 1.0);
        assert!(moved("riskd_rpc_shed_total", &[decide]) >= 1.0);
        assert!(moved("rpc_server_call_duration_seconds_count", &[decide]) >= 5.0);
        assert!(moved("rpc_server_call_duration_seconds_bucket", &[decide, r#"le="+Inf""#]) >= 5.0);
        assert!(moved("riskd_decisions_total", &[r#"outcome="DECLINE""#]) >= 1.0);
        assert!(moved("riskd_decisions_total", &[]) >= 2.0);
        assert!(moved("riskd_knock_outs_total", &[r#"code="K10""#]) >= 1.0, "{after}");
        assert!(moved("riskd_verification_findings_total", &[]) >= 1.0);
        assert!(moved("riskd_profile_lookups_total", &[r#"store="memory""#, r#"result="hit""#]) >= 1.0);
        assert!(moved("riskd_profile_lookups_total", &[r#"result="miss""#]) >= 1.0);
        assert!(after.contains("# TYPE riskd_rpc_in_flight gauge"));
        assert!(after.contains("# TYPE rpc_server_call_duration_seconds histogram"));
        // Labels are codes and names, never ids or figures.
        assert!(!after.contains("prometheus-test-by-id"));

        let (status, _) = tokio::task::spawn_blocking(move || http_get(metrics_addr, "/other"))
            .await
            .expect("get");
        assert_eq!(status, "HTTP/1.1 404 Not Found");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), endpoint)
            .await
            .expect("the endpoint stops")
            .expect("joins");
        server.shutdown().await.expect("stops");
    });
}

// ---------------------------------------------------------------------------------------------
// The binary: healthcheck subcommand, metrics endpoint, bounded telemetry shutdown

#[test]
fn riskd_healthcheck_metrics_endpoint_and_bounded_shutdown() {
    // A collector that never answers: export attempts hang until their timeout; shutdown must
    // not wait for them beyond its bound.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let collector = black_hole.local_addr().expect("addr");
    let mut riskd = Riskd::spawn(
        process::command(&["--metrics-listen", "127.0.0.1:0", "--log-format", "json"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
            .env("OTEL_SERVICE_NAME", "riskd-binary-test"),
    );
    // Start-up warnings may come first; the "riskd serving" line says where everything is.
    let log = riskd
        .json(|l| l["message"] == "riskd serving")
        .expect("a JSON \"riskd serving\" log line");
    assert_eq!(log["otlp_export"], true, "{log}");
    let addr = log["listen"].as_str().expect("listen").to_owned();
    let metrics: SocketAddr = log["metrics_listen"]
        .as_str()
        .expect("metrics_listen")
        .parse()
        .expect("an address");

    let health = |addr: &str| {
        Command::new(env!("CARGO_BIN_EXE_riskd"))
            .args(["healthcheck", "--addr", addr, "--timeout-ms", "3000"])
            .env_remove("RISKD_LISTEN")
            .output()
            .expect("run riskd healthcheck")
    };
    let ok = health(&format!("http://{addr}"));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "SERVING");
    let down = health("http://127.0.0.1:1");
    assert_eq!(down.status.code(), Some(1));

    let (status, body) = http_get(metrics, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        body.contains(r#"riskd_rpc_requests_total{"#) && body.contains(r#"rpc_service="grpc.health.v1.Health""#),
        "{body}"
    );

    let started = Instant::now();
    let status = riskd
        .terminate(Duration::from_secs(12))
        .expect("riskd did not stop within 12 s of SIGTERM with an unreachable collector");
    assert!(status.success(), "{status:?}");
    eprintln!(
        "riskd stopped {} ms after SIGTERM with an unreachable collector",
        started.elapsed().as_millis()
    );
    drop(black_hole);
}

#[test]
fn riskd_log_lines_carry_trace_and_span_ids_with_tracing_off() {
    let riskd = Riskd::spawn(
        process::dated("json")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env("RUST_LOG", "info"),
    );
    let serving = riskd.json(|l| l["message"] == "riskd serving").expect("a log line");
    assert_eq!(serving["otlp_export"], false);
    let addr = serving["listen"].as_str().expect("listen").to_owned();

    let trace = "6e0c63257de34c67b2b3e4b7a1e9d0f2";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (decision, echoed) = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let response = pb::decision_service_client::DecisionServiceClient::new(channel)
            .decide(with_traceparent(
                support::decide_example("decide-working-capital-approve.json"),
                trace,
                "0102030405060708",
            ))
            .await
            .expect("decide");
        let echoed = response
            .metadata()
            .get("x-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (response.into_inner(), echoed)
    });
    assert_eq!(echoed.as_deref(), Some(trace));
    let line = riskd.json(|l| l["message"] == "decision recorded").expect("a log line");
    assert_eq!(line["decision_id"], decision.decision_id.as_str());
    assert_eq!(line["trace_id"], trace, "{line}");
    let span_id = line["span_id"].as_str().expect("span_id");
    assert_eq!(span_id.len(), 16);
    assert_ne!(span_id, "0102030405060708", "the call's own id, not the caller's");
}

#[test]
fn riskd_text_log_lines_carry_trace_and_span_ids() {
    let riskd = Riskd::spawn(
        process::dated("text")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("NO_COLOR")
            .env("RUST_LOG", "info"),
    );
    let serving = riskd.line(|l| l.contains("riskd serving")).expect("a log line");
    assert!(
        !serving.contains('\x1b'),
        "no colours when stdout is not a terminal: {serving:?}"
    );
    assert!(!serving.contains("trace_id="), "not inside a call: {serving}");
    let addr = serving
        .split(' ')
        .find_map(|w| w.strip_prefix("listen="))
        .expect("listen=")
        .to_owned();

    let trace = "5b1d63257de34c67b2b3e4b7a1e9d0f3";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let decision = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        pb::decision_service_client::DecisionServiceClient::new(channel)
            .decide(with_traceparent(
                support::decide_example("decide-working-capital-approve.json"),
                trace,
                "0102030405060708",
            ))
            .await
            .expect("decide")
            .into_inner()
    });
    let line = riskd.line(|l| l.contains("decision recorded")).expect("a log line");
    assert!(
        line.contains(&format!("decision_id={}", decision.decision_id)),
        "{line}"
    );
    assert!(line.contains(&format!(" trace_id={trace} ")), "{line}");
    let span_id = line
        .rsplit_once(" span_id=")
        .map(|(_, id)| id)
        .expect("span_id= at the end of the line");
    assert_eq!(span_id.len(), 16, "{line}");
    assert!(span_id.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    assert_ne!(span_id, "0102030405060708", "the call's own id, not the caller's");
}

// ---------------------------------------------------------------------------------------------
// The metrics endpoint under idle connections (issue 13, attack review finding 3)

/// 100 sockets that connect to the metrics port and send nothing: a scrape is still answered,
/// with the metrics, within a couple of seconds.
#[test]
fn idle_connections_do_not_starve_a_scrape() {
    use opentelemetry::metrics::MeterProvider as _;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let reader = PrometheusReader::new();
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(reader.clone())
            .build();
        provider
            .meter("test")
            .u64_counter("riskd.test.scrapes")
            .build()
            .add(1, &[]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let endpoint = tokio::spawn(telemetry::prometheus::serve(listener, reader, async move {
            let _ = stopped.await;
        }));
        let mut idle = Vec::new();
        for _ in 0..100 {
            idle.push(
                tokio::net::TcpStream::connect(addr)
                    .await
                    .expect("an idle socket connects"),
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;

        let started = Instant::now();
        let scrape = tokio::task::spawn_blocking(move || http_get(addr, "/metrics"));
        let (status, body) = tokio::time::timeout(Duration::from_secs(3), scrape)
            .await
            .expect("the scrape is answered despite 100 idle sockets")
            .expect("scrape");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(body.contains("riskd_test_scrapes_total 1"), "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        drop(idle);
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), endpoint)
            .await
            .expect("the endpoint stops")
            .expect("joins");
    });
}

/// Attack review finding 4: requests the server cannot read because of the caller are counted
/// and traced as INVALID_ARGUMENT (bad framing, not protobuf) or CANCELLED (a stream reset
/// mid-body), never as INTERNAL, and their spans are not errors.
#[test]
fn unreadable_requests_and_resets_are_counted_and_traced_as_the_callers_not_internal() {
    use prost::Message as _;
    use support::raw_grpc::{DECIDE_PATH, Ending, frame, message_frame, raw_call};
    let setup = setup();
    setup.runtime.block_on(async {
        let before = setup.prometheus.render().expect("render");
        let server = support::start().await;
        let valid = support::decide_example("decide-working-capital-approve.json").encode_to_vec();
        let len = u32::try_from(valid.len()).expect("small");
        let flagged = raw_call(server.addr, DECIDE_PATH, frame(2, len, &valid), Ending::End)
            .await
            .expect("an answer");
        assert_eq!(flagged.status.as_deref(), Some("3"), "{flagged:?}");
        let garbage = raw_call(server.addr, DECIDE_PATH, message_frame(&[0x0f, 0x01]), Ending::End)
            .await
            .expect("an answer");
        assert_eq!(garbage.status.as_deref(), Some("3"), "{garbage:?}");
        // The header promises the whole message; half of it comes, then RST_STREAM.
        let half = frame(0, len, &valid[..valid.len() / 2]);
        assert!(raw_call(server.addr, DECIDE_PATH, half, Ending::Reset).await.is_none());

        let decide = r#"rpc_method="Decide""#;
        let code = |c: &str| format!(r#"rpc_grpc_status_code="{c}""#);
        let started = Instant::now();
        let after = loop {
            let after = setup.prometheus.render().expect("render");
            let moved = |c: &str| {
                sample(&after, "riskd_rpc_requests_total", &[decide, &code(c)])
                    - sample(&before, "riskd_rpc_requests_total", &[decide, &code(c)])
            };
            if moved("1") >= 1.0 || started.elapsed() > Duration::from_secs(5) {
                break after;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let moved = |c: &str| {
            sample(&after, "riskd_rpc_requests_total", &[decide, &code(c)])
                - sample(&before, "riskd_rpc_requests_total", &[decide, &code(c)])
        };
        assert!(moved("3") >= 2.0, "INVALID_ARGUMENT counted: {after}");
        assert!(moved("1") >= 1.0, "the reset counted CANCELLED: {after}");
        assert_eq!(moved("13"), 0.0, "nothing counted INTERNAL: {after}");

        let trace_id = flagged.trace_id.expect("x-trace-id");
        let spans = wait_for_trace(setup, &unhex(&trace_id)).await;
        let root = server_span_of(&spans);
        assert_eq!(attrs(root)["rpc.grpc.status_code"], "3");
        assert_ne!(
            root.status.as_ref().map(|s| s.code),
            Some(opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error as i32)
        );
        server.stop().await;
    });
}
