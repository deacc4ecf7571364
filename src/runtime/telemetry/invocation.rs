//! The span around one invocation, as the runtime opens it in both modes (envelope and
//! forwarded HTTP): named after the function, with OpenTelemetry's FaaS attributes
//! (`faas.name`, `faas.trigger`, `faas.invocation_id`), the binding type, and on finishing the
//! outcome and duration; plus the invocation metrics.
//!
//! Its parent is the W3C `traceparent` the host sent, unless the trigger's items carry a trace
//! of their own that the host's does not continue (in Azure the host starts a new trace for a
//! change-feed batch or an Event Grid delivery; the items know the request that caused them).

use std::time::Instant;

use tracing::field::Empty;

use super::trace_context::{self, TraceParent};
use super::{metrics, spans_have_ids};
use crate::runtime::triggers::facts::TriggerFacts;

/// An open invocation span; [`InvocationSpan::finish`] records how it ended.
pub struct InvocationSpan {
    span: tracing::Span,
    function: String,
    binding_type: String,
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
pub fn choose_parent(header: Option<&str>, items: Option<&str>) -> Option<String> {
    let header_parsed = header.and_then(TraceParent::parse);
    let items_parsed = items.and_then(TraceParent::parse);
    match (header_parsed, items_parsed) {
        (Some(h), Some(i)) if h.trace_id != i.trace_id => items.map(str::to_owned),
        (Some(_), _) => header.map(str::to_owned),
        (None, Some(_)) => items.map(str::to_owned),
        (None, None) => None,
    }
}

impl InvocationSpan {
    /// Opens the span of `function` (trigger type `binding_type`, empty when unknown).
    pub fn start(
        function: &str,
        binding_type: &str,
        invocation_id: Option<&str>,
        header: Option<&str>,
        facts: &TriggerFacts,
    ) -> Self {
        let kind = match binding_type {
            "httpTrigger" => "server",
            "timerTrigger" | "" => "internal",
            _ => "consumer",
        };
        let parent = choose_parent(header, facts.traceparent.as_deref());
        let span = tracing::info_span!(
            crate::runtime::logs::INVOCATION_SPAN,
            otel.name = %function,
            otel.kind = kind,
            otel.status_code = Empty,
            faas.name = %function,
            faas.trigger = faas_trigger(binding_type),
            faas.invocation_id = %invocation_id.unwrap_or(""),
            cosmospark.binding = %binding_type,
            cosmospark.outcome = Empty,
            cosmospark.duration_ms = Empty,
            http.response.status_code = Empty,
            traceparent = Empty,
        );
        if let Some(parent) = &parent {
            span.record("traceparent", parent.as_str());
            if spans_have_ids() {
                trace_context::set_parent(&span, parent);
            } else {
                trace_context::record_invocation_trace(&span, parent.clone());
            }
        }
        if let Some(oldest) = facts.oldest {
            let age = chrono::Utc::now() - oldest;
            if let Ok(age) = age.to_std() {
                metrics::trigger_lag(function, binding_type, age);
            }
        }
        Self {
            span,
            function: function.to_owned(),
            binding_type: binding_type.to_owned(),
            started: Instant::now(),
        }
    }

    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Records an HTTP function's response status (5xx counts as failed).
    pub fn record_status(&self, status: u16) {
        self.span
            .record("http.response.status_code", i64::from(status));
    }

    /// Records the outcome and duration on the span and in the metrics.
    pub fn finish(self, succeeded: bool) {
        let elapsed = self.started.elapsed();
        let outcome = if succeeded { "Succeeded" } else { "Failed" };
        self.span.record("cosmospark.outcome", outcome);
        self.span
            .record("cosmospark.duration_ms", elapsed.as_secs_f64() * 1000.0);
        self.span
            .record("otel.status_code", if succeeded { "OK" } else { "ERROR" });
        metrics::invocation(&self.function, &self.binding_type, succeeded, elapsed);
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
        assert_eq!(choose_parent(Some(A), Some(B)).as_deref(), Some(B));
        assert_eq!(choose_parent(Some(A2), Some(A)).as_deref(), Some(A2));
        assert_eq!(choose_parent(Some(A), None).as_deref(), Some(A));
        assert_eq!(choose_parent(None, Some(B)).as_deref(), Some(B));
        assert_eq!(choose_parent(Some("garbage"), Some(B)).as_deref(), Some(B));
        assert_eq!(choose_parent(Some("garbage"), None), None);
    }
}
