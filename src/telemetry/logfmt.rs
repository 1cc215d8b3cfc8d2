//! Log lines for `riskd`'s stdout, with `trace_id` and `span_id` whenever the event happens
//! inside a call, so that a log line can be found from a trace and the other way round:
//!
//! - [`JsonLines`]: one object per event with `timestamp`, `level`, `message`, the event's
//!   fields at the top level, the ids and the innermost span's name;
//! - [`TextLines`]: the human-readable line of a terminal (timestamp, level, spans, message,
//!   fields), the ids appended as `trace_id=... span_id=...`.
//!
//! The ids are the call's ([`super::grpc::CallIds`], a task-local set by the gRPC layer): with
//! OpenTelemetry on, the trace id and the server span's id as exported (the caller's trace, or
//! ours); with it off, the caller's trace id (or one made up for the call and echoed in
//! `x-trace-id`) and an id for the call. An active OpenTelemetry context, if something else
//! activated one, wins.
//!
//! The JSON object is written straight into the output buffer (no intermediate map); the text
//! line straight into the writer, ids included (no intermediate string).

use std::fmt;

use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId};
use serde::Serializer as _;
use serde::ser::SerializeMap as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::grpc::current_call_ids;

/// The trace and span ids of a log line: an active OpenTelemetry context's, else the call's
/// ([`super::grpc::CallIds`]); none outside a call.
fn line_ids() -> Option<(TraceId, SpanId)> {
    opentelemetry::Context::map_current(|cx| {
        let sc = cx.span().span_context().clone();
        sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
    })
    .or_else(|| current_call_ids().map(|c| (c.trace_id, c.span_id)))
}

/// The JSON event formatter.
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
        let ids = line_ids();

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

/// The human-readable event formatter (a terminal): `timestamp LEVEL span{fields}: message
/// fields trace_id=... span_id=...`, as tracing's default format without the target, plus the
/// ids. Colours when the layer's writer has them (`with_ansi`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TextLines;

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let ansi = writer.has_ansi_escapes();
        let paint = |w: &mut Writer<'_>, style: &str, f: &dyn Fn(&mut Writer<'_>) -> fmt::Result| {
            if ansi {
                w.write_str(style)?;
                f(w)?;
                w.write_str(RESET)
            } else {
                f(w)
            }
        };
        paint(&mut writer, DIM, &|w| SystemTime.format_time(w))?;
        let level = *event.metadata().level();
        let (style, name) = match level {
            Level::TRACE => ("\x1b[35m", "TRACE"),
            Level::DEBUG => ("\x1b[34m", "DEBUG"),
            Level::INFO => ("\x1b[32m", " INFO"),
            Level::WARN => ("\x1b[33m", " WARN"),
            Level::ERROR => ("\x1b[31m", "ERROR"),
        };
        writer.write_char(' ')?;
        paint(&mut writer, style, &|w| w.write_str(name))?;
        writer.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                seen = true;
                paint(&mut writer, BOLD, &|w| w.write_str(span.metadata().name()))?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    paint(&mut writer, BOLD, &|w| w.write_char('{'))?;
                    writer.write_str(fields)?;
                    paint(&mut writer, BOLD, &|w| w.write_char('}'))?;
                }
                paint(&mut writer, DIM, &|w| w.write_char(':'))?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        if let Some((trace_id, span_id)) = line_ids() {
            // Display of the ids writes hex straight into the line: no allocation.
            paint(&mut writer, ITALIC, &|w| w.write_str(" trace_id"))?;
            write!(writer, "={trace_id}")?;
            paint(&mut writer, ITALIC, &|w| w.write_str(" span_id"))?;
            write!(writer, "={span_id}")?;
        }
        writer.write_char('\n')
    }
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const ITALIC: &str = "\x1b[3m";

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;
    use crate::telemetry::grpc::{CallIds, sync_scope_call_ids};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
        }
    }

    fn ids() -> CallIds {
        CallIds {
            trace_id: TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
            span_id: SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
            sampled: false,
        }
    }

    /// Lines logged by `f` through a subscriber with `format` (no colours unless `ansi`).
    fn logged<F>(format: F, ansi: bool, f: impl FnOnce()) -> String
    where
        F: FormatEvent<tracing_subscriber::Registry, tracing_subscriber::fmt::format::DefaultFields>
            + Send
            + Sync
            + 'static,
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(format)
                .with_ansi(ansi)
                .with_writer(buffer.clone()),
        );
        tracing::subscriber::with_default(subscriber, f);
        buffer.text()
    }

    #[test]
    fn text_lines_carry_the_call_ids_inside_a_call_only() {
        let text = logged(TextLines, false, || {
            tracing::info!("outside");
            sync_scope_call_ids(ids(), || {
                let span = tracing::info_span!("grpc.server", rpc.method = "Decide");
                let _entered = span.enter();
                tracing::warn!(outcome = "DECLINE", "decision recorded");
            });
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with(" INFO outside"), "{text}");
        assert!(!lines[0].contains("trace_id"), "{text}");
        assert!(
            lines[1].ends_with(
                " WARN grpc.server{rpc.method=\"Decide\"}: decision recorded outcome=\"DECLINE\" \
                 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7"
            ),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "no colours unless asked: {text:?}");
        // A timestamp first, as the default format.
        assert!(
            lines[1]
                .split(' ')
                .next()
                .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
            "{text}"
        );
    }

    #[test]
    fn text_lines_in_colour() {
        let text = logged(TextLines, true, || {
            sync_scope_call_ids(ids(), || tracing::error!("boom"));
        });
        assert!(text.contains("\x1b[31mERROR\x1b[0m boom"), "{text:?}");
        assert!(text.contains("=4bf92f3577b34da6a3ce929d0e0e4736"), "{text:?}");
    }

    #[test]
    fn json_lines_carry_the_call_ids() {
        let text = logged(JsonLines, false, || {
            sync_scope_call_ids(ids(), || tracing::info!(grade = "A", "scored"));
        });
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["message"], "scored");
        assert_eq!(line["grade"], "A");
        assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(line["span_id"], "00f067aa0ba902b7");
    }
}
