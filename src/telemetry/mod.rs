//! Traces, metrics and logs: the `telemetry` adapter (docs/ARCHITECTURE.md).
//!
//! - **Traces**: `tracing` spans, exported through `tracing-opentelemetry` and the OTLP/gRPC
//!   exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; nothing is built, and nothing costs,
//!   when it is not. Only this crate's spans are exported (a per-layer filter: no h2, hyper or
//!   tower internals). One server span per call ([`grpc`]), children per stage ([`spans`]).
//! - **Metrics**: OpenTelemetry instruments ([`metrics`]) read by an OTLP push reader (with the
//!   endpoint) and by the Prometheus pull reader behind `--metrics-listen` ([`prometheus`]).
//! - **Logs**: JSON lines on stdout, or the human-readable format of a terminal, both with
//!   `trace_id` and `span_id` on every line inside a call ([`logfmt`]); the level from
//!   `RUST_LOG`.
//!
//! [`init`] must run inside the Tokio runtime (the tonic exporter needs its reactor);
//! [`Telemetry::shutdown`] flushes on a blocking thread within a bounded time, so a slow or
//! unreachable collector never holds a runtime worker or the exit.

pub mod grpc;
pub mod logfmt;
pub mod metrics;
pub mod prometheus;
pub mod spans;
pub mod stores;

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

pub use prometheus::PrometheusReader;

/// The crate whose spans are exported (the per-layer filter of the OpenTelemetry layer).
const EXPORTED_TARGET: &str = "riskdecision";

/// Everything telemetry needs to start; [`TelemetryConfig::from_lookup`] reads the standard
/// OpenTelemetry environment variables.
pub struct TelemetryConfig {
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`; `None`: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the resource.
    pub service_name: String,
    /// Further resource attributes (`OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: Vec<(String, String)>,
    /// Export traces when there is an endpoint (`OTEL_TRACES_EXPORTER` is not `none`).
    pub traces: bool,
    /// Export metrics over OTLP when there is an endpoint (`OTEL_METRICS_EXPORTER` is not `none`).
    pub otlp_metrics: bool,
    /// Keep a Prometheus pull reader (for `--metrics-listen`).
    pub prometheus: bool,
    /// How often metrics are pushed over OTLP (`OTEL_METRIC_EXPORT_INTERVAL`, ms).
    pub metrics_interval: Duration,
    /// Budget of one OTLP export (`OTEL_EXPORTER_OTLP_TIMEOUT`, ms).
    pub export_timeout: Duration,
    /// JSON lines (true) or human-readable text.
    pub log_json: bool,
    /// Colours in the human-readable text: by default when stdout is a terminal and `NO_COLOR`
    /// is not set.
    pub log_ansi: bool,
    /// Log filter directives (`RUST_LOG`), e.g. `info` or `info,riskdecision::store=debug`.
    pub log_filter: String,
    /// Where log lines go (stdout unless a test captures them).
    pub log_writer: BoxMakeWriter,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: "riskd".to_owned(),
            resource_attributes: Vec::new(),
            traces: true,
            otlp_metrics: true,
            prometheus: false,
            metrics_interval: Duration::from_secs(60),
            export_timeout: Duration::from_secs(10),
            log_json: true,
            log_ansi: std::io::IsTerminal::is_terminal(&std::io::stdout()),
            log_filter: "info".to_owned(),
            log_writer: BoxMakeWriter::new(std::io::stdout),
        }
    }
}

impl TelemetryConfig {
    /// Reads `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
    /// `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`,
    /// `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `RUST_LOG` and `NO_COLOR` through
    /// `lookup` (the process environment in `riskd`, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |k: &str| lookup(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut cfg = TelemetryConfig::default();
        let disabled = get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        cfg.otlp_endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|_| !disabled);
        if let Some(ep) = &cfg.otlp_endpoint
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL (OTLP over gRPC), not {ep:?}"
            ));
        }
        if let Some(attrs) = get("OTEL_RESOURCE_ATTRIBUTES") {
            cfg.resource_attributes = parse_resource_attributes(&attrs)?;
        }
        if let Some((_, name)) = cfg.resource_attributes.iter().find(|(k, _)| k == "service.name") {
            cfg.service_name = name.clone();
        }
        if let Some(name) = get("OTEL_SERVICE_NAME") {
            cfg.service_name = name;
        }
        let none = |k: &str| get(k).is_some_and(|v| v.eq_ignore_ascii_case("none"));
        cfg.traces = !none("OTEL_TRACES_EXPORTER");
        cfg.otlp_metrics = !none("OTEL_METRICS_EXPORTER");
        let millis = |k: &str| -> Result<Option<Duration>, String> {
            get(k)
                .map(|v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|ms| *ms > 0)
                        .map(Duration::from_millis)
                        .ok_or_else(|| format!("{k} must be a positive number of milliseconds, not {v:?}"))
                })
                .transpose()
        };
        if let Some(d) = millis("OTEL_METRIC_EXPORT_INTERVAL")? {
            cfg.metrics_interval = d;
        }
        if let Some(d) = millis("OTEL_EXPORTER_OTLP_TIMEOUT")? {
            cfg.export_timeout = d;
        }
        if let Some(filter) = get("RUST_LOG") {
            cfg.log_filter = filter;
        }
        if get("NO_COLOR").is_some() {
            cfg.log_ansi = false;
        }
        Ok(cfg)
    }
}

/// `k1=v1,k2=v2` with percent-encoded values (W3C Baggage octets), as in the OpenTelemetry spec.
fn parse_resource_attributes(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("OTEL_RESOURCE_ATTRIBUTES: {pair:?} is not key=value"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("OTEL_RESOURCE_ATTRIBUTES: {pair:?} has an empty key"));
        }
        out.push((k.to_owned(), percent_decode(v.trim())));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The running telemetry pipelines; call [`Telemetry::shutdown`] before exiting.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    prometheus: Option<PrometheusReader>,
}

/// Builds the pipelines the configuration asks for and installs the global `tracing`
/// subscriber. Must run inside a multi-thread Tokio runtime. Fails when a subscriber is
/// already installed or an exporter cannot be built.
pub fn init(cfg: TelemetryConfig) -> Result<Telemetry, String> {
    // Redis calls: a span each (in sampled calls) and the call metrics.
    crate::store::redis::observe_calls(Box::new(spans::RedisCalls));
    let mut attributes: Vec<KeyValue> = cfg
        .resource_attributes
        .iter()
        .filter(|(k, _)| k != "service.name")
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    if !cfg.resource_attributes.iter().any(|(k, _)| k == "service.version") {
        attributes.push(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    let resource = Resource::builder_empty()
        .with_service_name(cfg.service_name.clone())
        .with_attributes(attributes)
        .build();

    let tracer = tracer_provider(&cfg, &resource)?;
    let prometheus = cfg.prometheus.then(PrometheusReader::new);
    let meter = meter_provider(&cfg, resource, prometheus.as_ref())?;

    let filter = EnvFilter::try_new(&cfg.log_filter).map_err(|e| format!("RUST_LOG {:?}: {e}", cfg.log_filter))?;
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::with_capacity(2);
    layers.push(if cfg.log_json {
        tracing_subscriber::fmt::layer()
            .event_format(logfmt::JsonLines)
            .with_writer(cfg.log_writer)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .event_format(logfmt::TextLines)
            .with_ansi(cfg.log_ansi)
            .with_writer(cfg.log_writer)
            .with_filter(filter)
            .boxed()
    });
    if let Some(provider) = &tracer {
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(metrics::INSTRUMENTATION_SCOPE))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                // No busy/idle attributes (a lock on every poll of every span), and no OpenTelemetry
                // context switch on every poll either: parents come from the `tracing` span tree,
                // and log lines take the call's ids from the task-local `grpc::CallIds`.
                .with_tracked_inactivity(false)
                .with_context_activation(false)
                // Only our spans (and events inside them): h2, hyper and tower have their own
                // spans, hundreds per call, that say nothing about a decision.
                .with_filter(Targets::new().with_target(EXPORTED_TARGET, Level::DEBUG))
                .boxed(),
        );
    }
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|e| format!("logging: {e}"))?;
    grpc::set_otel_tracing(tracer.is_some());

    Ok(Telemetry {
        tracer,
        meter,
        prometheus,
    })
}

/// The OTLP span pipeline, when the configuration exports traces.
fn tracer_provider(cfg: &TelemetryConfig, resource: &Resource) -> Result<Option<SdkTracerProvider>, String> {
    let tracer = match (&cfg.otlp_endpoint, cfg.traces) {
        (Some(endpoint), true) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(cfg.export_timeout)
                .build()
                .map_err(|e| format!("OTLP span exporter for {endpoint}: {e}"))?;
            Some(
                SdkTracerProvider::builder()
                    .with_resource(resource.clone())
                    .with_batch_exporter(exporter)
                    .build(),
            )
        }
        _ => None,
    };
    Ok(tracer)
}

/// The metric pipeline: the Prometheus reader and an OTLP push reader, as configured.
fn meter_provider(
    cfg: &TelemetryConfig,
    resource: Resource,
    prometheus: Option<&PrometheusReader>,
) -> Result<Option<SdkMeterProvider>, String> {
    let otlp_metrics = cfg.otlp_metrics.then_some(cfg.otlp_endpoint.as_ref()).flatten();
    let meter = if prometheus.is_some() || otlp_metrics.is_some() {
        let mut builder = SdkMeterProvider::builder().with_resource(resource);
        if let Some(reader) = prometheus {
            builder = builder.with_reader(reader.clone());
        }
        if let Some(endpoint) = otlp_metrics {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(cfg.export_timeout)
                .build()
                .map_err(|e| format!("OTLP metric exporter for {endpoint}: {e}"))?;
            builder = builder.with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(cfg.metrics_interval)
                    .build(),
            );
        }
        let provider = builder.build();
        if !metrics::install(&provider) {
            return Err("metrics were already in use before telemetry started".to_owned());
        }
        Some(provider)
    } else {
        None
    };
    Ok(meter)
}

impl Telemetry {
    /// The Prometheus reader, when the configuration asked for one.
    pub fn prometheus(&self) -> Option<PrometheusReader> {
        self.prometheus.clone()
    }

    /// True when spans go to a collector.
    pub fn traces_exported(&self) -> bool {
        self.tracer.is_some()
    }

    /// True when metrics go to a collector or to the Prometheus endpoint.
    pub fn metrics_enabled(&self) -> bool {
        self.meter.is_some()
    }

    /// Exports what is buffered now (spans and metrics), waiting at most `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), String> {
        let tracer = self.tracer.clone();
        let meter = self.meter.clone();
        blocking_within(timeout, move || {
            let mut problems = Vec::new();
            if let Some(t) = tracer
                && let Err(e) = t.force_flush()
            {
                problems.push(format!("spans: {e}"));
            }
            if let Some(m) = meter
                && let Err(e) = m.force_flush()
            {
                problems.push(format!("metrics: {e}"));
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        })
        .await
    }

    /// Flushes and stops the exporters within `timeout`, on a blocking thread: never on a
    /// runtime worker (the SDK's shutdown blocks, and the tonic exporter needs the workers).
    pub async fn shutdown(mut self, timeout: Duration) {
        let tracer = self.tracer.take();
        let meter = self.meter.take();
        if tracer.is_none() && meter.is_none() {
            return;
        }
        let result = blocking_within(timeout, move || {
            let mut problems = Vec::new();
            if let Some(t) = tracer
                && let Err(e) = t.shutdown_with_timeout(timeout)
            {
                problems.push(format!("spans: {e}"));
            }
            if let Some(m) = meter
                && let Err(e) = m.shutdown_with_timeout(timeout)
            {
                problems.push(format!("metrics: {e}"));
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        })
        .await;
        match result {
            Ok(()) => tracing::debug!("telemetry flushed"),
            Err(e) => tracing::warn!(error = %e, "telemetry not fully flushed"),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Dropping a provider shuts it down, which blocks: never here, on a runtime worker.
        let (tracer, meter) = (self.tracer.take(), self.meter.take());
        if tracer.is_some() || meter.is_some() {
            let _ = std::thread::Builder::new()
                .name("telemetry-drop".to_owned())
                .spawn(move || drop((tracer, meter)));
        }
    }
}

/// Runs `f` on the blocking pool and waits for it at most `timeout` (plus a little for the
/// thread hand-off); past that, `f` goes on alone and the caller moves on.
async fn blocking_within(
    timeout: Duration,
    f: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(), String> {
    let task = tokio::task::spawn_blocking(f);
    match tokio::time::timeout(timeout + Duration::from_millis(250), task).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("telemetry task failed: {e}")),
        Err(_) => Err(format!("gave up after {} ms", timeout.as_millis())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(map: &[(&str, &str)]) -> Result<TelemetryConfig, String> {
        let map: HashMap<String, String> = map.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        TelemetryConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn off_without_an_endpoint() {
        let cfg = from(&[]).expect("valid");
        assert!(cfg.otlp_endpoint.is_none());
        assert_eq!(cfg.service_name, "riskd");
        assert_eq!(cfg.log_filter, "info");
    }

    #[test]
    fn reads_the_standard_variables() {
        let cfg = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, service.name=x,team=credit%20risk",
            ),
            ("OTEL_SERVICE_NAME", "riskd-eu"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("RUST_LOG", "debug"),
            ("NO_COLOR", "1"),
        ])
        .expect("valid");
        assert_eq!(cfg.otlp_endpoint.as_deref(), Some("http://collector:4317"));
        assert_eq!(cfg.service_name, "riskd-eu");
        assert!(
            cfg.resource_attributes
                .contains(&("team".to_owned(), "credit risk".to_owned()))
        );
        assert_eq!(cfg.metrics_interval, Duration::from_secs(15));
        assert!(!cfg.traces);
        assert!(cfg.otlp_metrics);
        assert_eq!(cfg.log_filter, "debug");
        assert!(!cfg.log_ansi);
    }

    #[test]
    fn service_name_from_resource_attributes_and_disabled_sdk() {
        let cfg = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
            ("OTEL_SDK_DISABLED", "true"),
        ])
        .expect("valid");
        assert_eq!(cfg.service_name, "from-attrs");
        assert!(cfg.otlp_endpoint.is_none());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]).is_err());
        assert!(from(&[("OTEL_RESOURCE_ATTRIBUTES", "novalue")]).is_err());
        assert!(from(&[("OTEL_METRIC_EXPORT_INTERVAL", "soon")]).is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Cb%3D"), "a,b=");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
