//! The span around one invocation, as the runtime opens it in both modes (envelope and
//! forwarded HTTP): named after the function, with OpenTelemetry's FaaS attributes
//! (`faas.name`, `faas.trigger`, `faas.invocation_id`) and the binding type; its status is the
//! outcome (`Ok` or `Error`) and its start and end times the duration, which is what OTLP
//! back ends and Application Insights (a request's `success` and `duration`) read. Plus the
//! invocation metrics.
//!
//! Its parent is the W3C `traceparent` the host sent, unless the trigger's items carry a trace
//! of their own that the host's does not continue (in Azure the host starts a new trace for a
//! change-feed batch or an Event Grid delivery; the items know the request that caused them).
//!
//! The OpenTelemetry span is opened directly with the tracer (one builder with its attributes,
//! static keys and per-function `&'static str` values), not through `tracing-opentelemetry`:
//! the layer's per-span bookkeeping (a builder per `tracing` span, a visitor per field and
//! record, the span built only on close) cost about a tenth of the envelope path's throughput.
//! The `tracing` span beside it carries the log lines and, in its extensions, the
//! OpenTelemetry context ([`InvocationTrace`]) that log lines, emitted events and child spans
//! read; the layer itself skips it (see [`super::init`]).

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::Instant;

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Key, KeyValue};

use super::metrics::{self, FunctionAttributes};
use super::trace_context::{self, InvocationTrace, TraceParent};
use crate::runtime::triggers::facts::TriggerFacts;

const FAAS_NAME: Key = Key::from_static_str("faas.name");
const FAAS_TRIGGER: Key = Key::from_static_str("faas.trigger");
const FAAS_INVOCATION_ID: Key = Key::from_static_str("faas.invocation_id");
const BINDING: Key = Key::from_static_str("cosmospark.binding");
const HTTP_STATUS: Key = Key::from_static_str("http.response.status_code");

/// What every invocation of one function carries, built once per function and binding type
/// ([`labels`]) so that opening a span or recording a metric allocates nothing for it.
#[derive(Debug)]
pub struct FunctionLabels {
    pub name: &'static str,
    /// The trigger's function.json type (`httpTrigger`, ...; empty when unknown).
    pub binding: &'static str,
    trigger: &'static str,
    kind: SpanKind,
    metrics: FunctionAttributes,
}

type Interned = HashMap<(String, String), &'static FunctionLabels>;

/// Every function's labels, by function and binding type.
fn interned() -> &'static RwLock<Interned> {
    static LABELS: OnceLock<RwLock<Interned>> = OnceLock::new();
    LABELS.get_or_init(Default::default)
}

/// Calls `visit` with the metric attributes of every function labelled so far (the
/// invocation counters report them at each collection).
pub(super) fn each_function(mut visit: impl FnMut(&FunctionAttributes)) {
    let table = interned().read().unwrap_or_else(PoisonError::into_inner);
    for labels in table.values() {
        visit(&labels.metrics);
    }
}

/// The labels of `function` triggered by `binding_type`, made once per distinct pair for the
/// life of the process (the set of functions is fixed by the app).
pub fn labels(function: &str, binding_type: &str) -> &'static FunctionLabels {
    let table = interned();
    let key = (function.to_owned(), binding_type.to_owned());
    if let Some(found) = table.read().ok().and_then(|map| map.get(&key).copied()) {
        return found;
    }
    let mut map = match table.write() {
        Ok(map) => map,
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(key).or_insert_with(|| {
        let name: &'static str = Box::leak(function.to_owned().into_boxed_str());
        let binding: &'static str = Box::leak(binding_type.to_owned().into_boxed_str());
        let kind = match binding {
            "httpTrigger" => SpanKind::Server,
            "timerTrigger" | "" => SpanKind::Internal,
            _ => SpanKind::Consumer,
        };
        Box::leak(Box::new(FunctionLabels {
            name,
            binding,
            trigger: faas_trigger(binding),
            kind,
            metrics: FunctionAttributes::new(name, binding),
        }))
    })
}

/// An open invocation span; [`InvocationSpan::finish`] records how it ended.
pub struct InvocationSpan {
    span: tracing::Span,
    /// The context holding the invocation's OpenTelemetry span (None without a tracer).
    otel: Option<opentelemetry::Context>,
    labels: &'static FunctionLabels,
    started: Instant,
}

/// OpenTelemetry's `faas.trigger` value for a function.json trigger type.
pub fn faas_trigger(binding_type: &str) -> &'static str {
    match binding_type {
        "httpTrigger" => "http",
        "cosmosDBTrigger" => "datasource",
        "eventHubTrigger" | "eventGridTrigger" => "pubsub",
        "timerTrigger" => "timer",
        _ => "other",
    }
}

/// The parent an invocation continues: the items' trace unless the host's header already
/// belongs to it (then the header, which is the nearer parent).
pub fn choose_parent(header: Option<&str>, items: Option<&str>) -> Option<TraceParent> {
    let header = header.and_then(TraceParent::parse);
    let items = items.and_then(TraceParent::parse);
    match (header, items) {
        (Some(h), Some(i)) if h.trace_id != i.trace_id => Some(i),
        (Some(h), _) => Some(h),
        (None, items) => items,
    }
}

impl InvocationSpan {
    /// Opens the span of the function `labels` name.
    pub fn start(
        labels: &'static FunctionLabels,
        invocation_id: Option<&str>,
        header: Option<&str>,
        facts: &TriggerFacts,
    ) -> Self {
        let parent = choose_parent(header, facts.traceparent.as_deref());
        // Field values are formatted only by a layer that prints this span (human logs).
        let span = tracing::info_span!(
            crate::runtime::logs::INVOCATION_SPAN,
            faas.name = labels.name,
            faas.invocation_id = invocation_id.unwrap_or(""),
        );
        let otel = match super::tracer() {
            Some(tracer) => {
                let parent_cx = parent.map(TraceParent::to_context).unwrap_or_default();
                let mut attributes = Vec::with_capacity(6);
                attributes.push(KeyValue::new(FAAS_NAME, labels.name));
                attributes.push(KeyValue::new(FAAS_TRIGGER, labels.trigger));
                attributes.push(KeyValue::new(BINDING, labels.binding));
                if let Some(id) = invocation_id {
                    attributes.push(KeyValue::new(FAAS_INVOCATION_ID, id.to_owned()));
                }
                let otel_span = tracer
                    .span_builder(labels.name)
                    .with_kind(labels.kind.clone())
                    .with_attributes(attributes)
                    .start_with_context(tracer, &parent_cx);
                let own = TraceParent::from_span_context(otel_span.span_context());
                let context = parent_cx.with_span(otel_span);
                if let Some(own) = own {
                    trace_context::record_invocation_trace(
                        &span,
                        InvocationTrace {
                            context: own,
                            otel: Some(context.clone()),
                        },
                    );
                }
                Some(context)
            }
            None => {
                if let Some(parent) = parent {
                    trace_context::record_invocation_trace(
                        &span,
                        InvocationTrace {
                            context: parent,
                            otel: None,
                        },
                    );
                }
                None
            }
        };
        if let Some(oldest) = facts.oldest
            && metrics::enabled()
            && let Ok(age) = (chrono::Utc::now() - oldest).to_std()
        {
            metrics::trigger_lag(&labels.metrics, age);
        }
        Self {
            span,
            otel,
            labels,
            started: Instant::now(),
        }
    }

    /// The `tracing` span the invocation runs in.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The OpenTelemetry context child spans of the invocation continue (None without a
    /// tracer).
    pub fn otel_context(&self) -> Option<&opentelemetry::Context> {
        self.otel.as_ref()
    }

    /// Records an HTTP function's response status (5xx counts as failed).
    pub fn record_status(&self, status: u16) {
        if let Some(context) = &self.otel {
            context
                .span()
                .set_attribute(KeyValue::new(HTTP_STATUS, i64::from(status)));
        }
    }

    /// Ends the span with the outcome as its status and records the invocation's metrics.
    pub fn finish(self, succeeded: bool) {
        let elapsed = self.started.elapsed();
        if let Some(context) = &self.otel {
            let span = context.span();
            span.set_status(if succeeded {
                Status::Ok
            } else {
                Status::error("invocation failed")
            });
            span.end();
        }
        metrics::invocation(&self.labels.metrics, succeeded, elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const A2: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01";
    const B: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn the_items_trace_wins_unless_the_host_continues_it() {
        let chosen = |header, items| choose_parent(header, items).map(|p| p.to_string());
        assert_eq!(chosen(Some(A), Some(B)).as_deref(), Some(B));
        assert_eq!(chosen(Some(A2), Some(A)).as_deref(), Some(A2));
        assert_eq!(chosen(Some(A), None).as_deref(), Some(A));
        assert_eq!(chosen(None, Some(B)).as_deref(), Some(B));
        assert_eq!(chosen(Some("garbage"), Some(B)).as_deref(), Some(B));
        assert_eq!(chosen(Some("garbage"), None), None);
    }

    #[test]
    fn labels_are_made_once_per_function_and_trigger() {
        let first = labels("GetRound", "httpTrigger");
        assert!(std::ptr::eq(first, labels("GetRound", "httpTrigger")));
        assert!(!std::ptr::eq(first, labels("GetRound", "timerTrigger")));
        assert_eq!(first.name, "GetRound");
        assert_eq!(first.trigger, "http");
        assert_eq!(first.kind, SpanKind::Server);
    }
}
