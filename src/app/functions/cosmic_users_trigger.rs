//! `CosmicUsersTrigger` — change feed of `CosmicUsers` relayed to Event Grid as
//! `CosmosPark.Users.Upserted`, with event ids derived from the document version so a replayed
//! batch publishes the same ids.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::runtime::outputs::{EventGridEvents, Outputs};
use crate::runtime::triggers::{CosmosDocuments, EventGridEvent, EventGridSchemaEvent};
use crate::runtime::{Context, Function, FunctionError};

/// The clean event type for a created or updated user.
pub const USER_UPSERTED: &str = "CosmosPark.Users.Upserted";

/// Namespace for deterministic event ids (UUID v5).
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_0a2e_93d4_4b7e_9f51_2c8d_7e3a_5b10);

const SYSTEM_PROPERTIES: [&str; 6] = ["_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"];

pub fn function() -> Function {
    Function::trigger("CosmicUsersTrigger", "documents", relay).output::<EventGridEvents>("events")
}

async fn relay(
    batch: CosmosDocuments<Map<String, Value>>,
    _context: Context,
) -> Result<Outputs, FunctionError> {
    let mut events = Vec::with_capacity(batch.documents.len());
    for document in batch.documents {
        match user_event(document) {
            Some(event) => events.push(EventGridEvent::EventGrid(event)),
            None => tracing::warn!("skipped a CosmicUsers document without a string `id`"),
        }
    }
    tracing::info!(count = events.len(), "relayed user changes");
    Ok(Outputs::new().set("events", EventGridEvents(events)))
}

/// The event for one changed user document, or `None` when it has no string `id`.
pub fn user_event(mut document: Map<String, Value>) -> Option<EventGridSchemaEvent> {
    let id = document.get("id")?.as_str()?.to_owned();
    let version = document
        .get("_etag")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| document.get("_lsn").map(Value::to_string))
        .unwrap_or_default();
    let event_time = document
        .get("_ts")
        .and_then(Value::as_i64)
        .and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0));
    for property in SYSTEM_PROPERTIES {
        document.remove(property);
    }
    let event_id = Uuid::new_v5(
        &EVENT_ID_NAMESPACE,
        format!("CosmicUsers\n{id}\n{version}").as_bytes(),
    );
    Some(EventGridSchemaEvent {
        id: event_id.to_string(),
        topic: None,
        subject: format!("users/{id}"),
        event_type: USER_UPSERTED.to_owned(),
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

    #[test]
    fn same_version_same_id_and_system_properties_dropped() {
        let doc = json!({"id":"u1","name":"octocat","_etag":"\"e1\"","_ts":1650290000,"_rid":"r"});
        let Value::Object(map) = doc else {
            unreachable!()
        };
        let first = user_event(map.clone()).unwrap();
        let second = user_event(map.clone()).unwrap();
        assert_eq!(first.id, second.id);
        assert_eq!(first.data, json!({"id":"u1","name":"octocat"}));
        let mut changed = map;
        changed.insert("_etag".into(), json!("\"e2\""));
        assert_ne!(user_event(changed).unwrap().id, first.id);
    }
}
