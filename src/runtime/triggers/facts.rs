//! What telemetry reads from a trigger payload before the handler runs, without parsing the
//! whole typed trigger: the trace context the items carry and when the oldest item was
//! written or enqueued (trigger lag).
//!
//! Where each kind carries its trace context, as the producing SDKs write it:
//! - Event Hubs: the `Diagnostic-Id` application property holding a W3C `traceparent` (the
//!   Azure SDKs' messaging instrumentation; MicrosoftDocs/azure-docs
//!   articles/service-bus-messaging/service-bus-end-to-end-tracing.md describes the same
//!   property for Service Bus), or a `traceparent` property.
//! - Event Grid: CloudEvents' distributed-tracing extension attribute `traceparent`
//!   (cloudevents/spec extensions/distributed-tracing.md, which Azure.Messaging.EventGrid
//!   sets on CloudEvents); Event Grid schema events have no extension attributes, so a
//!   `traceparent` member of `data` is read.
//! - Cosmos DB: documents carry no trace context of their own; a `traceparent` property
//!   written by a traced request is read.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::protocol::InvocationRequest;
use super::super::protocol::decode::{
    get_ci, i64_from_value, timestamp_from_value, unwrap_json_ref, unwrap_json_string,
};

/// The trace context and age of one invocation's trigger items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggerFacts {
    /// The first item's `traceparent` (a batch continues its first item's trace).
    pub traceparent: Option<String>,
    /// When the oldest item was written (`_ts`) or enqueued.
    pub oldest: Option<DateTime<Utc>>,
}

/// Reads the facts of the trigger binding `binding` of type `binding_type` (empty for HTTP,
/// timers and anything unreadable: the handler reports malformed payloads itself).
pub fn trigger_facts(
    binding_type: &str,
    binding: &str,
    request: &InvocationRequest,
) -> TriggerFacts {
    match binding_type {
        "cosmosDBTrigger" => cosmos(binding, request),
        "eventHubTrigger" => event_hubs(request),
        "eventGridTrigger" => event_grid(binding, request),
        _ => TriggerFacts::default(),
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn cosmos(binding: &str, request: &InvocationRequest) -> TriggerFacts {
    let Some(raw) = request.data.get(binding) else {
        return TriggerFacts::default();
    };
    let documents = unwrap_json_ref(raw);
    let Value::Array(documents) = documents.as_ref() else {
        return TriggerFacts::default();
    };
    let traceparent = documents
        .iter()
        .find_map(|doc| text(doc.as_object().and_then(|d| d.get("traceparent"))));
    let oldest = documents
        .iter()
        .filter_map(|doc| doc.get("_ts").and_then(i64_from_value))
        .min()
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0));
    TriggerFacts {
        traceparent,
        oldest,
    }
}

fn event_hubs(request: &InvocationRequest) -> TriggerFacts {
    let property = |properties: &Value| {
        let properties = unwrap_json_string(properties);
        let properties = properties.as_object()?;
        text(get_ci(properties, "Diagnostic-Id"))
            .or_else(|| text(get_ci(properties, "traceparent")))
    };
    // A batch has arrays; one event (cardinality one) has the singular names.
    let traceparent = match request
        .metadata_value("PropertiesArray")
        .map(unwrap_json_string)
    {
        Some(Value::Array(items)) => items.first().and_then(property),
        _ => request.metadata_value("Properties").and_then(property),
    };
    let oldest = match request
        .metadata_value("EnqueuedTimeUtcArray")
        .map(unwrap_json_string)
    {
        Some(Value::Array(times)) => times.iter().filter_map(timestamp_from_value).min(),
        _ => request
            .metadata_value("EnqueuedTimeUtc")
            .and_then(timestamp_from_value),
    };
    TriggerFacts {
        traceparent,
        oldest,
    }
}

fn event_grid(binding: &str, request: &InvocationRequest) -> TriggerFacts {
    let Some(raw) = request.data.get(binding) else {
        return TriggerFacts::default();
    };
    let event = unwrap_json_ref(raw);
    let Some(event) = event.as_object() else {
        return TriggerFacts::default();
    };
    let traceparent = text(event.get("traceparent")).or_else(|| {
        let data = event.get("data").map(unwrap_json_string)?;
        text(data.get("traceparent"))
    });
    let oldest = get_ci(event, "eventTime")
        .or_else(|| event.get("time"))
        .and_then(timestamp_from_value);
    TriggerFacts {
        traceparent,
        oldest,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn request(value: Value) -> InvocationRequest {
        InvocationRequest::from_slice(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn each_trigger_kind_gives_its_trace_context_and_oldest_item() {
        let cosmos = request(json!({"Data": {"documents": json!([
            {"id": "a", "_ts": 1_700_000_100},
            {"id": "b", "_ts": 1_700_000_000, "traceparent": PARENT}
        ]).to_string()}, "Metadata": {}}));
        let facts = trigger_facts("cosmosDBTrigger", "documents", &cosmos);
        assert_eq!(facts.traceparent.as_deref(), Some(PARENT));
        assert_eq!(facts.oldest.map(|t| t.timestamp()), Some(1_700_000_000));

        let hubs = request(json!({"Data": {"events": "[]"}, "Metadata": {
            "PropertiesArray": [{"Diagnostic-Id": PARENT}, {}],
            "EnqueuedTimeUtcArray": ["2026-01-01T00:00:05Z", "2026-01-01T00:00:01Z"]
        }}));
        let facts = trigger_facts("eventHubTrigger", "events", &hubs);
        assert_eq!(facts.traceparent.as_deref(), Some(PARENT));
        assert_eq!(
            facts.oldest.map(|t| t.to_rfc3339()),
            Some("2026-01-01T00:00:01+00:00".to_owned())
        );

        let cloud = request(json!({"Data": {"event": {"specversion": "1.0", "id": "1",
            "source": "s", "type": "t", "time": "2026-01-01T00:00:00Z", "traceparent": PARENT}}}));
        assert_eq!(
            trigger_facts("eventGridTrigger", "event", &cloud)
                .traceparent
                .as_deref(),
            Some(PARENT)
        );
        let schema = request(json!({"Data": {"event": {"id": "1", "subject": "s",
            "eventType": "t", "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "1",
            "data": {"traceparent": PARENT}}}}));
        let facts = trigger_facts("eventGridTrigger", "event", &schema);
        assert_eq!(facts.traceparent.as_deref(), Some(PARENT));
        assert!(facts.oldest.is_some());

        assert_eq!(
            trigger_facts("timerTrigger", "timer", &schema),
            TriggerFacts::default()
        );
    }
}
