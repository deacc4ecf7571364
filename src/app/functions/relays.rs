//! Change-feed relays (the transactional outbox): each `cosmosDBTrigger` batch becomes Event
//! Grid events with the domain's clean type names, ids derived from (document id, `_etag` or
//! `_lsn`) so a replayed batch publishes the same ids, and data without system properties.
//! Tasks are relayed only once completed, as in the original.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::app::domain::documents::{ChatSequence, containers};
use crate::app::domain::event_kind::EventKind;
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

/// The relay for `container` under `name`; `None` for a container without events.
pub fn relay(name: &str, container: &str) -> Option<Function> {
    let kind = EventKind::from_container(container)?;
    Some(
        Function::trigger(
            name,
            "documents",
            move |batch: CosmosDocuments<Map<String, Value>>, _context: Context| async move {
                let events: Vec<EventGridEvent> = batch
                    .documents
                    .into_iter()
                    .filter_map(|doc| event_for(kind, doc))
                    .map(|mut event| {
                        // Event Grid schema events have no extension attributes: the trace
                        // context travels in `data`, as the relay's own (the next hop's parent).
                        telemetry::stamp(&mut event.data);
                        EventGridEvent::EventGrid(event)
                    })
                    .collect();
                tracing::info!(count = events.len(), event_type = %kind, "relayed changes");
                Ok::<_, FunctionError>(Outputs::new().set("events", EventGridEvents(events)))
            },
        )
        .output::<EventGridEvents>("events"),
    )
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

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

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
