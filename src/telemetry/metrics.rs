//! The service's metrics: OpenTelemetry instruments, read by the OTLP push reader and by the
//! Prometheus pull reader alike (one source of truth for the numbers).
//!
//! The instruments live in a process-wide [`OnceLock`] so that every adapter (the gRPC layer,
//! handlers, the Redis connection) reaches them without threading a handle through the stores.
//! Until [`install`] runs (or when telemetry is off) [`metrics`] returns a disabled set whose
//! methods return at once: no attribute is built, nothing is recorded.
//!
//! Attribute values are codes and names with a small, fixed set of values (method, status code,
//! outcome, grade, knock-out and finding codes, store kind, Redis operation): never an id, a
//! name or an amount.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _, UpDownCounter};

use crate::domain::decision::{Evaluation, Outcome};
use crate::policy::Severity;

/// Meter and tracer name.
pub const INSTRUMENTATION_SCOPE: &str = "riskdecision";

/// Latency buckets, seconds: 100 us .. 10 s.
const LATENCY_BOUNDS_S: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every instrument of the service.
pub struct Metrics {
    enabled: bool,
    requests: Counter<u64>,
    duration: Histogram<f64>,
    in_flight: UpDownCounter<i64>,
    shed: Counter<u64>,
    decisions: Counter<u64>,
    knock_outs: Counter<u64>,
    findings: Counter<u64>,
    profile_lookups: Counter<u64>,
    redis_duration: Histogram<f64>,
    redis_errors: Counter<u64>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The service's instruments (disabled until [`install`]).
pub fn metrics() -> &'static Metrics {
    METRICS.get_or_init(|| {
        Metrics::new(
            &opentelemetry::metrics::NoopMeterProvider::new().meter(INSTRUMENTATION_SCOPE),
            false,
        )
    })
}

/// Creates the instruments from `provider`; false when instruments were already in use (the
/// first set stays: install before serving).
pub fn install(provider: &impl opentelemetry::metrics::MeterProvider) -> bool {
    METRICS
        .set(Metrics::new(&provider.meter(INSTRUMENTATION_SCOPE), true))
        .is_ok()
}

/// The API name of an outcome, for metrics and spans.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Approve => "APPROVE",
        Outcome::CounterOffer => "COUNTER_OFFER",
        Outcome::Refer => "REFER",
        Outcome::Decline => "DECLINE",
    }
}

/// Result of a profile lookup, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
    Error,
}

impl Lookup {
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Error => "error",
        }
    }
}

impl Metrics {
    fn new(meter: &Meter, enabled: bool) -> Self {
        Metrics {
            enabled,
            requests: meter
                .u64_counter("riskd.rpc.requests")
                .with_description("gRPC calls finished, by service, method and status code")
                .build(),
            duration: meter
                .f64_histogram("rpc.server.call.duration")
                .with_description("Duration of gRPC calls as the server saw them, by method and status code")
                .with_unit("s")
                .with_boundaries(LATENCY_BOUNDS_S.to_vec())
                .build(),
            in_flight: meter
                .i64_up_down_counter("riskd.rpc.in_flight")
                .with_description("gRPC calls in progress (all methods)")
                .build(),
            shed: meter
                .u64_counter("riskd.rpc.shed")
                .with_description("gRPC calls refused with RESOURCE_EXHAUSTED because too many were in flight")
                .build(),
            decisions: meter
                .u64_counter("riskd.decisions")
                .with_description("Decisions recorded, by outcome, grade and policy version")
                .build(),
            knock_outs: meter
                .u64_counter("riskd.knock_outs")
                .with_description("Knock-outs in recorded decisions, by code")
                .build(),
            findings: meter
                .u64_counter("riskd.verification.findings")
                .with_description("Cross-check findings in recorded decisions, by code and severity")
                .build(),
            profile_lookups: meter
                .u64_counter("riskd.profile.lookups")
                .with_description("Profile store lookups, by store and result (hit, miss, error)")
                .build(),
            redis_duration: meter
                .f64_histogram("riskd.redis.duration")
                .with_description("Duration of Redis calls (budget included), by operation")
                .with_unit("s")
                .with_boundaries(LATENCY_BOUNDS_S.to_vec())
                .build(),
            redis_errors: meter
                .u64_counter("riskd.redis.errors")
                .with_description("Failed Redis calls, by operation and kind (timeout, unavailable, reply)")
                .build(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A call started.
    pub fn call_started(&self) {
        if self.enabled {
            self.in_flight.add(1, &[]);
        }
    }

    /// A call finished (or was abandoned) with `code`.
    pub fn call_finished(&self, service: &'static str, method: &'static str, code: i32, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        self.in_flight.add(-1, &[]);
        let attrs = [
            KeyValue::new("rpc.service", service),
            KeyValue::new("rpc.method", method),
            KeyValue::new("rpc.grpc.status_code", i64::from(code)),
        ];
        self.requests.add(1, &attrs);
        self.duration.record(elapsed.as_secs_f64(), &attrs);
    }

    /// A call was shed by the concurrency limit.
    pub fn call_shed(&self, service: &'static str, method: &'static str) {
        if self.enabled {
            self.shed.add(1, &rpc_attrs(service, method));
        }
    }

    /// A decision was recorded (retries that got the recorded decision back are not counted).
    pub fn decision_recorded(&self, evaluation: &Evaluation) {
        if !self.enabled {
            return;
        }
        self.decisions.add(
            1,
            &[
                KeyValue::new("outcome", outcome_name(evaluation.outcome)),
                KeyValue::new("grade", evaluation.scorecard.grade.clone()),
                KeyValue::new("policy.version", evaluation.policy_version.clone()),
            ],
        );
        for k in &evaluation.knock_outs {
            self.knock_outs.add(1, &[KeyValue::new("code", k.code.clone())]);
        }
        for f in &evaluation.verification {
            self.findings.add(
                1,
                &[
                    KeyValue::new("code", f.code.clone()),
                    KeyValue::new("severity", severity_name(f.severity)),
                ],
            );
        }
    }

    /// A profile lookup in `store` ("embedded", "memory" or "redis").
    pub fn profile_lookup(&self, store: &'static str, result: Lookup, count: u64) {
        if self.enabled && count > 0 {
            self.profile_lookups.add(
                count,
                &[KeyValue::new("store", store), KeyValue::new("result", result.as_str())],
            );
        }
    }

    /// One Redis call: its latency, and its error kind when it failed.
    pub fn redis_call(&self, operation: &'static str, elapsed: Duration, error: Option<&'static str>) {
        if !self.enabled {
            return;
        }
        let op = KeyValue::new("operation", operation);
        self.redis_duration
            .record(elapsed.as_secs_f64(), std::slice::from_ref(&op));
        if let Some(kind) = error {
            self.redis_errors.add(1, &[op, KeyValue::new("kind", kind)]);
        }
    }
}

fn rpc_attrs(service: &'static str, method: &'static str) -> [KeyValue; 2] {
    [
        KeyValue::new("rpc.service", service),
        KeyValue::new("rpc.method", method),
    ]
}

pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}
