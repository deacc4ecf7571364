//! `COSMOSPARK_LOG_FORMAT=json`: one JSON object per line, with the OpenTelemetry trace and span
//! ids of the span the event happened in, so a log line finds its trace (and the reverse).
//!
//! `{"timestamp","level","target","message","fields"?,"span"?,"trace_id"?,"span_id"?}`; the
//! fields are the event's own, exactly as the human format prints them (nothing else is read).

use std::io::Write as _;
use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::trace_context::InvocationTrace;

/// The JSON lines layer, writing through `W` (stderr in the binary).
pub struct JsonLines<W> {
    writer: W,
    dispatch: OnceLock<WeakDispatch>,
}

impl<W> JsonLines<W> {
    pub fn new(writer: W) -> Self {
        Self {
            writer,
            dispatch: OnceLock::new(),
        }
    }
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::String(metadata.level().to_string()));
        line.insert("target".into(), Value::String(metadata.target().to_owned()));
        line.insert(
            "message".into(),
            fields
                .remove("message")
                .unwrap_or(Value::String(String::new())),
        );
        if !fields.is_empty() {
            line.insert("fields".into(), Value::Object(fields));
        }
        if let Some(span) = ctx.event_span(event) {
            line.insert("span".into(), Value::String(span.name().to_owned()));
            // The invocation span keeps its ids itself; other spans' come from the layer.
            let invocation = span
                .extensions()
                .get::<InvocationTrace>()
                .filter(|trace| trace.otel.is_some())
                .map(|trace| (trace.context.trace_id, trace.context.span_id));
            let ids = invocation.or_else(|| {
                // The registering dispatch; a layer inside an `Option` is not told it, and
                // then the process-wide one is (this layer is installed globally).
                let dispatch = self
                    .dispatch
                    .get()
                    .and_then(WeakDispatch::upgrade)
                    .unwrap_or_else(|| tracing::dispatcher::get_default(Dispatch::clone));
                let context = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
                let span_context = context.span().span_context().clone();
                span_context
                    .is_valid()
                    .then(|| (span_context.trace_id(), span_context.span_id()))
            });
            if let Some((trace_id, span_id)) = ids {
                line.insert("trace_id".into(), Value::String(trace_id.to_string()));
                line.insert("span_id".into(), Value::String(span_id.to_string()));
            }
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        let _ = self.writer.make_writer().write_all(text.as_bytes());
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut inner) = self.0.lock() {
                inner.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn a_json_line_carries_the_span_trace_and_span_ids() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(JsonLines::new(buffer.clone()));
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            tracing::info!(answer = 42, "outside any span");
            let span = tracing::info_span!("invocation");
            let ids = span.context().span().span_context().clone();
            span.in_scope(|| tracing::warn!(user = "u1", ok = true, "inside"));
            (ids.trace_id().to_string(), ids.span_id().to_string())
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["message"], "outside any span");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["fields"]["answer"], 42);
        assert!(lines[0].get("trace_id").is_none());
        assert_eq!(lines[1]["message"], "inside");
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(
            lines[1]["fields"],
            serde_json::json!({"user": "u1", "ok": true})
        );
        assert_eq!(lines[1]["span"], "invocation");
        assert_eq!(lines[1]["trace_id"], trace_id.as_str());
        assert_eq!(lines[1]["span_id"], span_id.as_str());
        assert_eq!(trace_id.len(), 32);
        assert!(
            chrono::DateTime::parse_from_rfc3339(lines[1]["timestamp"].as_str().unwrap()).is_ok()
        );
    }
}
