//! JSON lines for `riskd`'s stdout: one object per event with `timestamp`, `level`, `message`,
//! the event's fields at the top level, and `trace_id` / `span_id` whenever the event happens
//! inside a call, so a log line can be found from a trace and the other way round.
//!
//! The ids are the call's ([`super::grpc::CallIds`], a task-local set by the gRPC layer): with
//! OpenTelemetry on, the trace id and the server span's id as exported (the caller's trace, or
//! ours); with it off, the caller's trace id (or one made up for the call and echoed in
//! `x-trace-id`) and an id for the call. An active OpenTelemetry context, if something else
//! activated one, wins.
//!
//! The object is written straight into the output buffer (no intermediate map).

use std::fmt;

use opentelemetry::trace::TraceContextExt as _;
use serde::Serializer as _;
use serde::ser::SerializeMap as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::grpc::current_call_ids;

/// The event formatter.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut timestamp = String::with_capacity(32);
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let ids = opentelemetry::Context::map_current(|cx| {
            let sc = cx.span().span_context().clone();
            sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
        })
        .or_else(|| current_call_ids().map(|c| (c.trace_id, c.span_id)));

        let mut out = Vec::with_capacity(256);
        {
            let mut ser = serde_json::Serializer::new(&mut out);
            let mut map = ser.serialize_map(None).map_err(|_| fmt::Error)?;
            map.serialize_entry("timestamp", &timestamp).map_err(|_| fmt::Error)?;
            map.serialize_entry("level", event.metadata().level().as_str())
                .map_err(|_| fmt::Error)?;
            let mut visitor = JsonVisitor {
                map: &mut map,
                ok: true,
            };
            event.record(&mut visitor);
            if !visitor.ok {
                return Err(fmt::Error);
            }
            if let Some((trace_id, span_id)) = ids {
                map.serialize_entry("trace_id", &trace_id.to_string())
                    .map_err(|_| fmt::Error)?;
                map.serialize_entry("span_id", &span_id.to_string())
                    .map_err(|_| fmt::Error)?;
            }
            if let Some(span) = ctx.lookup_current() {
                map.serialize_entry("span", span.name()).map_err(|_| fmt::Error)?;
            }
            map.end().map_err(|_| fmt::Error)?;
        }
        out.push(b'\n');
        writer.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

type JsonMap<'a> = serde_json::ser::Compound<'a, &'a mut Vec<u8>, serde_json::ser::CompactFormatter>;

/// Event fields (`message` included) written as entries of the line's object.
struct JsonVisitor<'m, 'a> {
    map: &'m mut JsonMap<'a>,
    ok: bool,
}

impl JsonVisitor<'_, '_> {
    fn entry<V: serde::Serialize + ?Sized>(&mut self, field: &Field, value: &V) {
        if self.ok && self.map.serialize_entry(field.name(), value).is_err() {
            self.ok = false;
        }
    }
}

impl Visit for JsonVisitor<'_, '_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.entry(field, &value);
        } else {
            self.entry(field, &value.to_string());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.entry(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, &format!("{value:?}"));
    }
}
