//! Per-invocation log capture: a `tracing` layer that copies every event inside an invocation
//! span into that span's buffer, so the runtime can return it in the response's `Logs`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The span name the runtime opens around every invocation.
pub const INVOCATION_SPAN: &str = "invocation";

/// Log lines collected for one invocation.
#[derive(Debug, Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<String>>>);

impl LogBuffer {
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line);
        }
    }

    /// Takes the lines collected so far.
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut lines| std::mem::take(&mut *lines))
            .unwrap_or_default()
    }
}

/// The capture layer; install it next to the formatting layer (see [`crate::runtime::init_tracing`]).
#[derive(Debug, Clone, Default)]
pub struct InvocationLogLayer;

impl<S> Layer<S> for InvocationLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            if span.name() != INVOCATION_SPAN {
                continue;
            }
            let mut visitor = LineVisitor::default();
            event.record(&mut visitor);
            let metadata = event.metadata();
            let line = format!(
                "{} {}: {}{}",
                metadata.level(),
                metadata.target(),
                visitor.message,
                visitor.fields
            );
            // The buffer is made on the first line: most invocations log nothing.
            let mut extensions = span.extensions_mut();
            match extensions.get_mut::<LogBuffer>() {
                Some(buffer) => buffer.push(line),
                None => {
                    let buffer = LogBuffer::default();
                    buffer.push(line);
                    extensions.insert(buffer);
                }
            }
            return;
        }
    }
}

#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

/// Takes the lines captured for `span` (empty when no capture layer is installed).
pub fn take_span_logs(span: &tracing::Span) -> Vec<String> {
    span.with_subscriber(|(id, dispatch)| {
        dispatch
            .downcast_ref::<tracing_subscriber::Registry>()
            .and_then(|registry| registry.span(id))
            .and_then(|span| span.extensions().get::<LogBuffer>().cloned())
            .map(|buffer| buffer.take())
    })
    .flatten()
    .unwrap_or_default()
}
