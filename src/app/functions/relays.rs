//! Change-feed relays (the transactional outbox): each `cosmosDBTrigger` batch becomes Event
//! Grid events with the domain's clean type names, ids derived from (document id, `_etag` or
//! `_lsn`) so a replayed batch publishes the same ids, and data without system properties.
//! Tasks are relayed only once completed, as in the original.
//!
//! A relay never fails its batch for a document it can never publish: one without a string
//! `id`, or whose event is over Event Grid's 1 MB (alone, or with the batch's other events in
//! the one request the output binding sends) is set aside alone in the relays' dead letters
//! ([`crate::app::relay_dead_letters`]) and the rest is relayed. Failures a retry can fix
//! (the store, the topic) still fail the invocation, which the host retries without limit.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::app::domain::documents::{ChatSequence, containers};
use crate::app::domain::event_kind::EventKind;
use crate::app::relay_dead_letters::{self, SetAside, partition_key};
use crate::app::services::AppServices;
use crate::runtime::outputs::{EventGridEvents, Outputs};
use crate::runtime::telemetry;
use crate::runtime::triggers::{CosmosDocuments, EventGridEvent, EventGridSchemaEvent};
use crate::runtime::{Context, Function, FunctionError};

/// The relay functions: (function name, container).
pub const RELAYS: [(&str, &str); 5] = [
    ("CosmicUsersTrigger", containers::USERS),
    ("CosmicChatsTrigger", containers::CHATS),
    ("CosmicUserChatsTrigger", containers::USER_CHATS),
    ("CosmicUserTasksTrigger", containers::USER_TASKS),
    ("CosmicLeaderboardsTrigger", containers::LEADERBOARDS),
];

/// Cosmos DB system properties, never published.
const SYSTEM_PROPERTIES: [&str; 6] = ["_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"];

/// Event Grid's limit on one publish request — each event and the whole array — beyond which
/// the topic answers 413 (learn.microsoft.com/azure/event-grid/event-schema). The `eventGrid`
/// output sends all of an invocation's events in one request (`EventGridAsyncCollector` in
/// Azure/azure-sdk-for-net, sdk/eventgrid/Microsoft.Azure.WebJobs.Extensions.EventGrid).
pub const MAX_PUBLISH_BYTES: usize = 1024 * 1024;

/// The relay for `container` under `name`; `None` for a container without events.
pub fn relay(
    services: &AppServices,
    name: &'static str,
    container: &'static str,
) -> Option<Function> {
    let kind = EventKind::from_container(container)?;
    let services = services.clone();
    Some(
        Function::trigger(
            name,
            "documents",
            // A change-feed document is always a JSON object: anything else is a malformed
            // envelope (400 naming the field), not a document to set aside.
            move |batch: CosmosDocuments<Map<String, Value>>, _context: Context| {
                let services = services.clone();
                async move {
                    let documents = batch.documents.into_iter().map(Value::Object).collect();
                    let plan = plan(kind, container, documents);
                    if !plan.set_aside.is_empty() {
                        let store = services.store().await?;
                        for entry in &plan.set_aside {
                            relay_dead_letters::set_aside(store, name, container, entry).await?;
                        }
                    }
                    tracing::info!(
                        count = plan.events.len(),
                        set_aside = plan.set_aside.len(),
                        event_type = %kind,
                        "relayed changes"
                    );
                    Ok::<_, FunctionError>(
                        Outputs::new().set("events", EventGridEvents(plan.events)),
                    )
                }
            },
        )
        .output::<EventGridEvents>("events"),
    )
}

/// What one batch becomes: the events to publish, and the documents set aside.
#[derive(Debug, Default)]
pub struct Plan {
    pub events: Vec<EventGridEvent>,
    pub set_aside: Vec<SetAside>,
}

/// Classifies a batch: each relayable document's event, each document that can never be
/// published set aside with its reason. When the events together are over one request's
/// limit, the largest are set aside until the rest fits (a replay relays each alone).
pub fn plan(kind: EventKind, container: &str, documents: Vec<Value>) -> Plan {
    let mut plan = Plan::default();
    let mut sized: Vec<(usize, EventGridEvent, SetAside)> = Vec::new();
    for document in documents {
        let entry = |reason: String| SetAside {
            id: document
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            partition_key: partition_key(container, &document),
            version: document
                .get("_etag")
                .and_then(Value::as_str)
                .map(str::to_owned),
            reason,
        };
        let has_id = document.get("id").is_some_and(Value::is_string);
        let Value::Object(map) = &document else {
            plan.set_aside
                .push(entry("not a JSON object, so not a document".into()));
            continue;
        };
        if !has_id {
            plan.set_aside
                .push(entry("the document has no string `id`".into()));
            continue;
        }
        let Some(mut event) = event_for(kind, map.clone()) else {
            continue;
        };
        // Event Grid schema events have no extension attributes: the trace context travels in
        // `data`, as the relay's own (the next hop's parent).
        telemetry::stamp(&mut event.data);
        let event = EventGridEvent::EventGrid(event);
        let bytes = serde_json::to_vec(&event).map_or(usize::MAX, |v| v.len());
        if bytes > MAX_PUBLISH_BYTES {
            plan.set_aside.push(entry(format!(
                "its event is {bytes} bytes; Event Grid accepts at most {MAX_PUBLISH_BYTES} per event"
            )));
            continue;
        }
        sized.push((bytes, event, entry(String::new())));
    }
    // The array's brackets and commas count too.
    let mut total: usize =
        2 + sized.len().saturating_sub(1) + sized.iter().map(|s| s.0).sum::<usize>();
    while total > MAX_PUBLISH_BYTES {
        let Some((largest, _)) = sized.iter().enumerate().max_by_key(|(_, s)| s.0) else {
            break;
        };
        let (bytes, _, mut entry) = sized.remove(largest);
        total -= bytes + 1;
        entry.reason = format!(
            "its event ({bytes} bytes) and the batch's others are over Event Grid's {MAX_PUBLISH_BYTES} bytes per request; a replay relays it alone"
        );
        plan.set_aside.push(entry);
    }
    plan.events = sized.into_iter().map(|(_, event, _)| event).collect();
    plan
}

/// The event for one changed document, or `None` when it is not relayed (no string id; an
/// open task; a task-assignment marker; a chat's sequence counter).
pub fn event_for(
    kind: EventKind,
    mut document: Map<String, Value>,
) -> Option<EventGridSchemaEvent> {
    let id = document.get("id")?.as_str()?.to_owned();
    if kind == EventKind::ChatMessageSent && id == ChatSequence::ID {
        return None;
    }
    if kind == EventKind::TaskCompleted
        && document.get("isCompleted").and_then(Value::as_bool) != Some(true)
    {
        return None;
    }
    let version = match (document.get("_etag"), document.get("_lsn")) {
        (Some(Value::String(etag)), _) => etag.clone(),
        (_, Some(lsn)) => lsn.to_string(),
        _ => document
            .get("_ts")
            .map(Value::to_string)
            .unwrap_or_default(),
    };
    let event_time = document
        .get("_ts")
        .and_then(Value::as_i64)
        .and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0));
    for property in SYSTEM_PROPERTIES {
        document.remove(property);
    }
    Some(EventGridSchemaEvent {
        id: kind.event_id(&id, &version),
        topic: None,
        subject: format!("{}/{id}", kind.subject()),
        event_type: kind.name().to_owned(),
        event_time: Some(event_time.unwrap_or_else(Utc::now)),
        data: Value::Object(document),
        data_version: "1.0".to_owned(),
        metadata_version: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::app::object as map;

    #[test]
    fn same_version_same_id_and_system_properties_dropped() {
        let doc =
            map(json!({"id":"u1","name":"octocat","_etag":"\"e1\"","_ts":1650290000,"_rid":"r"}));
        let first = event_for(EventKind::UserUpserted, doc.clone()).unwrap();
        let again = event_for(EventKind::UserUpserted, doc.clone()).unwrap();
        assert_eq!(first.id, again.id);
        assert_eq!(first.data, json!({"id":"u1","name":"octocat"}));
        assert_eq!(first.event_type, "CosmosPark.Users.Upserted");
        assert_eq!(first.subject, "CosmosPark/Users/u1");
        let mut changed = doc;
        changed.insert("_etag".into(), json!("\"e2\""));
        assert_ne!(
            event_for(EventKind::UserUpserted, changed).unwrap().id,
            first.id
        );
    }

    #[test]
    fn a_document_too_large_to_publish_is_set_aside_alone() {
        let big = "x".repeat(MAX_PUBLISH_BYTES);
        let docs = vec![
            json!({"id": "u1", "name": "a", "_etag": "e1"}),
            json!({"id": "u2", "name": big, "_etag": "e2"}),
            json!({"name": "no id", "_etag": "e3"}),
            json!({"id": "u4", "name": "b", "_etag": "e4"}),
        ];
        let plan = plan(EventKind::UserUpserted, containers::USERS, docs);
        let ids: Vec<String> = plan
            .events
            .iter()
            .map(|e| e.data()["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["u1", "u4"]);
        assert_eq!(plan.set_aside.len(), 2);
        assert_eq!(plan.set_aside[0].id.as_deref(), Some("u2"));
        assert_eq!(plan.set_aside[0].partition_key, Some(json!("u2")));
        assert_eq!(plan.set_aside[0].version.as_deref(), Some("e2"));
        assert!(
            plan.set_aside[0].reason.contains("bytes"),
            "{:?}",
            plan.set_aside
        );
        assert_eq!(plan.set_aside[1].id, None);
    }

    #[test]
    fn events_over_one_request_together_set_the_largest_aside() {
        let third = "x".repeat(MAX_PUBLISH_BYTES / 3);
        let docs = (0..4)
            .map(|i| json!({"id": format!("u{i}"), "name": third.clone(), "pad": "y".repeat(i), "_etag": "e"}))
            .collect();
        let plan = plan(EventKind::UserUpserted, containers::USERS, docs);
        assert_eq!(plan.events.len(), 2, "{:?}", plan.set_aside);
        let aside: Vec<_> = plan
            .set_aside
            .iter()
            .map(|s| s.id.clone().unwrap())
            .collect();
        assert_eq!(aside, ["u3", "u2"]);
    }

    #[test]
    fn only_completed_tasks_are_relayed() {
        let open = map(json!({"id":"t1","isCompleted":false,"_etag":"a"}));
        let marker = map(json!({"id":"assignment-2026112416","userId":"u","_etag":"b"}));
        let done = map(json!({"id":"t1","isCompleted":true,"_etag":"c"}));
        assert!(event_for(EventKind::TaskCompleted, open).is_none());
        assert!(event_for(EventKind::TaskCompleted, marker).is_none());
        let counter = map(json!({"id":"sequence","chat":{"id":"c"},"last":3,"_etag":"d"}));
        assert!(event_for(EventKind::ChatMessageSent, counter).is_none());
        let event = event_for(EventKind::TaskCompleted, done).unwrap();
        assert_eq!(event.event_type, "CosmosPark.Tasks.Completed");
    }
}
