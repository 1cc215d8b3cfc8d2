//! The Prometheus text endpoint: a pull reader on the same OpenTelemetry meter provider as the
//! OTLP push reader, rendered in the text exposition format (0.0.4) and served over HTTP/1.1 by
//! hyper (already in the tree under tonic) on its own port (`--metrics-listen`): one GET, one
//! answer, close.
//!
//! Connections are served concurrently, each in a bounded [`Slot`](crate::security::slots):
//! at most [`MAX_CONNECTIONS`] at once, the request head within [`HEADER_TIMEOUT`], the whole
//! connection within [`CONNECTION_TIMEOUT`]; when all slots are taken, the oldest connection
//! that has not sent its request yet is closed for the newcomer, so idle sockets cannot starve
//! the scraper (docs/SECURITY.md).
//!
//! Names follow the OpenTelemetry-to-Prometheus mapping: dots become underscores, the unit is
//! appended (`_seconds`), monotonic sums end in `_total`, histograms give `_bucket` (cumulative,
//! with `le`), `_sum` and `_count`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};
use tokio::net::{TcpListener, TcpStream};

use crate::security::slots::{Slot, SlotLimits, Slots};

/// Connections served at once (a scraper is one client, rarely two; the rest is headroom for
/// idle or slow sockets, which are evicted first when it runs out).
pub const MAX_CONNECTIONS: usize = 64;
/// Time a client has to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a whole connection may take (request head, render, answer).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head read.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// A pull reader shared between the meter provider (which owns one clone) and the endpoint.
#[derive(Debug, Clone)]
pub struct PrometheusReader {
    reader: Arc<ManualReader>,
}

impl Default for PrometheusReader {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusReader {
    pub fn new() -> Self {
        PrometheusReader {
            reader: Arc::new(
                ManualReader::builder()
                    .with_temporality(Temporality::Cumulative)
                    .build(),
            ),
        }
    }

    /// Collects every instrument now and renders the text exposition format.
    pub fn render(&self) -> Result<String, String> {
        let mut rm = ResourceMetrics::default();
        self.reader.collect(&mut rm).map_err(|e| format!("collect: {e}"))?;
        let mut out = String::with_capacity(4096);
        for scope in rm.scope_metrics() {
            for metric in scope.metrics() {
                render_metric(&mut out, metric);
            }
        }
        Ok(out)
    }
}

impl MetricReader for PrometheusReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.reader.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.reader.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.reader.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.reader.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.reader.temporality(kind)
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, reader: PrometheusReader, shutdown: impl Future<Output = ()>) {
    // One source (the scraper) may use every slot: idle sockets are evicted, not counted per source.
    let slots = Slots::new(SlotLimits {
        max: MAX_CONNECTIONS,
        max_per_source: MAX_CONNECTIONS,
        timeout: CONNECTION_TIMEOUT,
        busy_timeout: HEADER_TIMEOUT,
    });
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(error = %e, "metrics endpoint: accept failed");
                // Out of file descriptors and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.admit(peer.ip()) else {
            tracing::debug!(%peer, "metrics endpoint: every connection is busy: closed");
            continue;
        };
        tokio::spawn(connection(stream, slot, reader.clone()));
    }
}

/// Serves one connection in its slot: one request, then close. Until hyper has read the
/// request head the connection is silent, the first evicted for a newcomer.
async fn connection(stream: TcpStream, mut slot: Slot, reader: PrometheusReader) {
    let spoke = slot.spoke_handle();
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        spoke.spoke();
        let response = answer(&request, &reader);
        async move { Ok::<_, Infallible>(response) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_REQUEST_BYTES)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    let timeout = slot.timeout();
    let result = tokio::time::timeout(timeout, async {
        tokio::select! {
            () = slot.evicted() => Ok(()),
            served = conn => served,
        }
    })
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "metrics endpoint: connection failed"),
        Err(_) => tracing::debug!("metrics endpoint: connection timed out"),
    }
}

fn answer(request: &Request<hyper::body::Incoming>, reader: &PrometheusReader) -> Response<String> {
    let text = |status: StatusCode, body: &str| plain(status, "text/plain; charset=utf-8", body.to_owned());
    if *request.method() != Method::GET && *request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    if request.uri().path() != "/metrics" {
        return text(StatusCode::NOT_FOUND, "metrics are at /metrics\n");
    }
    match reader.render() {
        Ok(body) => plain(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", body),
        Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, &format!("metrics unavailable: {e}\n")),
    }
}

fn plain(status: StatusCode, content_type: &'static str, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn render_metric(out: &mut String, metric: &Metric) {
    let base = metric_name(metric.name(), metric.unit());
    match metric.data() {
        AggregatedMetrics::F64(data) => render_data(out, &base, metric.description(), data, |v| fmt_f64(*v)),
        AggregatedMetrics::U64(data) => render_data(out, &base, metric.description(), data, u64::to_string),
        AggregatedMetrics::I64(data) => render_data(out, &base, metric.description(), data, i64::to_string),
    }
}

fn render_data<T: Copy>(out: &mut String, base: &str, help: &str, data: &MetricData<T>, value: impl Fn(&T) -> String) {
    match data {
        MetricData::Sum(sum) => {
            let (name, kind) = if sum.is_monotonic() {
                (format!("{base}_total"), "counter")
            } else {
                (base.to_owned(), "gauge")
            };
            header(out, &name, help, kind);
            for p in sum.data_points() {
                sample(out, &name, p.attributes(), None, &value(&p.value()));
            }
        }
        MetricData::Gauge(gauge) => {
            header(out, base, help, "gauge");
            for p in gauge.data_points() {
                sample(out, base, p.attributes(), None, &value(&p.value()));
            }
        }
        MetricData::Histogram(hist) => {
            header(out, base, help, "histogram");
            let bucket = format!("{base}_bucket");
            for p in hist.data_points() {
                let mut cumulative = 0u64;
                for (bound, count) in p.bounds().zip(p.bucket_counts()) {
                    cumulative += count;
                    sample(
                        out,
                        &bucket,
                        p.attributes(),
                        Some(&fmt_f64(bound)),
                        &cumulative.to_string(),
                    );
                }
                sample(out, &bucket, p.attributes(), Some("+Inf"), &p.count().to_string());
                sample(out, &format!("{base}_sum"), p.attributes(), None, &value(&p.sum()));
                sample(
                    out,
                    &format!("{base}_count"),
                    p.attributes(),
                    None,
                    &p.count().to_string(),
                );
            }
        }
        // Not used by this service.
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample<'a>(
    out: &mut String,
    name: &str,
    attributes: impl Iterator<Item = &'a KeyValue>,
    le: Option<&str>,
    value: &str,
) {
    out.push_str(name);
    let mut first = true;
    let mut label = |out: &mut String, key: &str, val: &str| {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(&sanitize(key));
        out.push_str("=\"");
        for c in val.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    };
    for kv in attributes {
        let v = match &kv.value {
            Value::String(s) => s.as_str().to_owned(),
            other => other.to_string(),
        };
        label(out, kv.key.as_str(), &v);
    }
    if let Some(le) = le {
        label(out, "le", le);
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// `riskd.redis.duration` + `s` -> `riskd_redis_duration_seconds`.
fn metric_name(name: &str, unit: &str) -> String {
    let mut n = sanitize(name);
    let suffix = match unit {
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        "1" => "ratio",
        _ => "",
    };
    if !suffix.is_empty() && !n.ends_with(suffix) {
        n.push('_');
        n.push_str(suffix);
    }
    n
}

fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() }
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let reader = PrometheusReader::new();
        let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
        let meter = provider.meter("test");
        let c = meter
            .u64_counter("riskd.rpc.requests")
            .with_description("calls")
            .build();
        c.add(2, &[KeyValue::new("rpc.method", "Decide"), KeyValue::new("q", "a\"b")]);
        let g = meter.i64_up_down_counter("riskd.rpc.in_flight").build();
        g.add(3, &[]);
        g.add(-1, &[]);
        let h = meter
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_boundaries(vec![0.001, 0.01])
            .build();
        h.record(0.0005, &[]);
        h.record(0.005, &[]);
        h.record(5.0, &[]);
        let text = reader.render().expect("renders");
        assert!(text.contains("# TYPE riskd_rpc_requests_total counter"), "{text}");
        assert!(
            text.contains(r#"riskd_rpc_requests_total{q="a\"b",rpc_method="Decide"} 2"#)
                || text.contains(r#"riskd_rpc_requests_total{rpc_method="Decide",q="a\"b"} 2"#),
            "{text}"
        );
        assert!(text.contains("# TYPE riskd_rpc_in_flight gauge"), "{text}");
        assert!(text.contains("riskd_rpc_in_flight 2\n"), "{text}");
        assert!(
            text.contains("# TYPE rpc_server_call_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains(r#"rpc_server_call_duration_seconds_bucket{le="0.001"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"rpc_server_call_duration_seconds_bucket{le="0.01"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"rpc_server_call_duration_seconds_bucket{le="+Inf"} 3"#),
            "{text}"
        );
        assert!(text.contains("rpc_server_call_duration_seconds_count 3"), "{text}");
    }

    #[test]
    fn names_are_mapped() {
        assert_eq!(metric_name("riskd.redis.duration", "s"), "riskd_redis_duration_seconds");
        assert_eq!(metric_name("a-b.c", ""), "a_b_c");
        assert_eq!(sanitize("9x"), "_9x");
        assert_eq!(fmt_f64(f64::INFINITY), "+Inf");
        assert_eq!(fmt_f64(0.25), "0.25");
    }
}
