//! Warnings and errors become events of the nearest enclosing span that has an OpenTelemetry
//! span: the invocation's own (kept in its [`InvocationTrace`]) or one `tracing-opentelemetry`
//! tracks (hosts, outputs). `{message}` is the event's name; `level`, `target` and the event's
//! fields are its attributes.

use std::fmt::Write as _;
use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Key, KeyValue};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::trace_context::InvocationTrace;

const LEVEL: Key = Key::from_static_str("level");
const TARGET: Key = Key::from_static_str("target");

/// The layer (installed with a filter that passes warnings and errors, see [`super::init`]).
#[derive(Default)]
pub struct SpanEvents {
    dispatch: OnceLock<WeakDispatch>,
}

impl<S> Layer<S> for SpanEvents
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let dispatch = self
            .dispatch
            .get()
            .and_then(WeakDispatch::upgrade)
            .unwrap_or_else(|| tracing::dispatcher::get_default(Dispatch::clone));
        for span in scope {
            let invocation = span
                .extensions()
                .get::<InvocationTrace>()
                .and_then(|trace| trace.otel.clone());
            let context = invocation
                .or_else(|| tracing_opentelemetry::get_otel_context(&span.id(), &dispatch))
                .filter(|context| context.span().span_context().is_valid());
            if let Some(context) = context {
                let metadata = event.metadata();
                let mut visitor = EventVisitor {
                    message: String::new(),
                    attributes: vec![
                        KeyValue::new(LEVEL, metadata.level().as_str()),
                        KeyValue::new(TARGET, metadata.target()),
                    ],
                };
                event.record(&mut visitor);
                let name = if visitor.message.is_empty() {
                    metadata.name().to_owned()
                } else {
                    visitor.message
                };
                context.span().add_event(name, visitor.attributes);
                return;
            }
        }
    }
}

struct EventVisitor {
    message: String,
    attributes: Vec<KeyValue>,
}

impl Visit for EventVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.attributes
                .push(KeyValue::new(field.name(), format!("{value:?}")));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.attributes
                .push(KeyValue::new(field.name(), value.to_owned()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }
}
