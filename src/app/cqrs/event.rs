//! The domain events the read side consumes: the envelope published on Event Hubs, and the
//! relay mapping from a changed write-side document (change feed = transactional outbox) to it.
//!
//! Event ids are derived from the document id and its version (`_etag`, else `_lsn`), so a
//! change feed delivered twice publishes the same ids. `version` is the per-aggregate order
//! (`_lsn`, else `_ts`): within one document it only grows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use uuid::Uuid;

use crate::app::domain::documents::{ChatSequence, containers};
use crate::app::domain::event_kind::EventKind;

/// The Event Hub every relay publishes to and `UpdateProcessor` reads.
pub const EVENT_HUB: &str = "cosmospark-events";
/// The consumer group of `UpdateProcessor`.
pub const CONSUMER_GROUP: &str = "update-processor";
/// The command store of the seed API (partition key `/id`).
pub const COMMANDS: &str = "Commands";
/// Schema version of [`DomainEvent::data`].
pub const DATA_VERSION: &str = "1.0";

const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x3d0c_8a51_7f42_4c1e_b6a9_52e0_91d7_c4f8);
const SYSTEM_PROPERTIES: [&str; 6] = ["_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"];

/// The event types the read side projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    UserUpserted,
    ChatMessageSent,
    TaskCompleted,
    ScoreAwarded,
    CommandInserted,
}

/// A `type` the read side does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("event type {0:?} is not projected by the read side")]
pub struct UnknownType(pub String);

impl EventType {
    pub const ALL: [EventType; 5] = [
        Self::UserUpserted,
        Self::ChatMessageSent,
        Self::TaskCompleted,
        Self::ScoreAwarded,
        Self::CommandInserted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::UserUpserted => EventKind::UserUpserted.name(),
            Self::ChatMessageSent => EventKind::ChatMessageSent.name(),
            Self::TaskCompleted => EventKind::TaskCompleted.name(),
            Self::ScoreAwarded => EventKind::LeaderboardScoreAwarded.name(),
            Self::CommandInserted => "CosmosPark.Commands.Inserted",
        }
    }

    /// The clean name or (for game events) the original's alias.
    pub fn parse(raw: &str) -> Result<Self, UnknownType> {
        if raw == Self::CommandInserted.name() {
            return Ok(Self::CommandInserted);
        }
        match EventKind::parse(raw) {
            Ok(EventKind::UserUpserted) => Ok(Self::UserUpserted),
            Ok(EventKind::ChatMessageSent) => Ok(Self::ChatMessageSent),
            Ok(EventKind::TaskCompleted) => Ok(Self::TaskCompleted),
            Ok(EventKind::LeaderboardScoreAwarded) => Ok(Self::ScoreAwarded),
            _ => Err(UnknownType(raw.to_owned())),
        }
    }

    /// The write container whose changes become events of this type.
    pub fn container(self) -> &'static str {
        match self {
            Self::UserUpserted => containers::USERS,
            Self::ChatMessageSent => containers::CHATS,
            Self::TaskCompleted => containers::USER_TASKS,
            Self::ScoreAwarded => containers::LEADERBOARDS,
            Self::CommandInserted => COMMANDS,
        }
    }

    pub fn from_container(container: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.container() == container)
    }

    fn subject_prefix(self) -> &'static str {
        match self {
            Self::UserUpserted => "users",
            Self::ChatMessageSent => "chats",
            Self::TaskCompleted => "tasks",
            Self::ScoreAwarded => "leaderboard",
            Self::CommandInserted => "commands",
        }
    }
}

/// One domain event as published on the hub (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: String,
    pub time: DateTime<Utc>,
    pub data_version: String,
    /// The id of the changed document.
    pub aggregate_id: String,
    /// Grows with every write of the aggregate.
    pub version: u64,
    /// The user the event belongs to (see `docs/cqrs.md` on hub partition keys).
    pub partition_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The document without its system properties.
    pub data: Value,
}

/// Why a changed document could not become an event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RelayError {
    #[error("container `{0}` is not relayed to the read side")]
    UnknownContainer(String),
    #[error("document has no string `id`")]
    MissingId,
    #[error("document `{0}` has neither `_lsn` nor `_ts`, so it has no version")]
    MissingVersion(String),
}

/// The event for one changed document of `container`, or `None` when the change is not an
/// event (an open task). `traceparent` is the relaying invocation's trace context.
pub fn relay_event(
    container: &str,
    mut document: Map<String, Value>,
    traceparent: Option<&str>,
) -> Result<Option<DomainEvent>, RelayError> {
    let event_type = EventType::from_container(container)
        .ok_or_else(|| RelayError::UnknownContainer(container.to_owned()))?;
    let id = document
        .get("id")
        .and_then(Value::as_str)
        .ok_or(RelayError::MissingId)?
        .to_owned();
    if event_type == EventType::TaskCompleted
        && document.get("isCompleted").and_then(Value::as_bool) != Some(true)
    {
        return Ok(None);
    }
    // A chat's sequence counter shares the messages' container; it is not a message.
    if event_type == EventType::ChatMessageSent && id == ChatSequence::ID {
        return Ok(None);
    }
    let ts = document.get("_ts").and_then(Value::as_u64);
    let version = document
        .get("_lsn")
        .and_then(Value::as_u64)
        .or(ts)
        .ok_or_else(|| RelayError::MissingVersion(id.clone()))?;
    let stamp = document
        .get("_etag")
        .and_then(Value::as_str)
        .map_or_else(|| version.to_string(), str::to_owned);
    for property in SYSTEM_PROPERTIES {
        document.remove(property);
    }
    let data = Value::Object(document);
    let partition_key = owner_of(event_type, &data).unwrap_or_else(|| id.clone());
    let event_id = Uuid::new_v5(
        &EVENT_ID_NAMESPACE,
        format!("{container}\n{id}\n{stamp}").as_bytes(),
    );
    let time = ts
        .and_then(|s| i64::try_from(s).ok())
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .unwrap_or_else(Utc::now);
    Ok(Some(DomainEvent {
        id: event_id.simple().to_string(),
        event_type: event_type.name().to_owned(),
        subject: format!("{}/{id}", event_type.subject_prefix()),
        time,
        data_version: DATA_VERSION.to_owned(),
        aggregate_id: id,
        version,
        partition_key,
        traceparent: traceparent.map(str::to_owned),
        data,
    }))
}

/// The user an event belongs to (the sender, the task owner, the awarded user).
fn owner_of(event_type: EventType, data: &Value) -> Option<String> {
    let at = match event_type {
        EventType::UserUpserted => "/id",
        EventType::ChatMessageSent => "/message/senderId",
        EventType::TaskCompleted => "/userId",
        EventType::ScoreAwarded => "/user/id",
        EventType::CommandInserted => "/userId",
    };
    data.pointer(at).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::app::object as map;

    #[test]
    fn deterministic_ids_versions_and_owner_keys() {
        let doc = json!({"id": "m1", "chat": {"id": "c"}, "message": {"senderId": "alice"},
            "_etag": "\"e1\"", "_lsn": 7, "_ts": 1_700_000_000, "_rid": "x"});
        let a = relay_event("CosmicChats", map(doc.clone()), Some("00-abc-def-01"))
            .unwrap()
            .unwrap();
        let b = relay_event("CosmicChats", map(doc.clone()), None)
            .unwrap()
            .unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.version, 7);
        assert_eq!(a.partition_key, "alice");
        assert_eq!(a.event_type, "CosmosPark.Chats.MessageSent");
        assert_eq!(a.traceparent.as_deref(), Some("00-abc-def-01"));
        assert!(a.data.get("_rid").is_none() && a.data.get("_lsn").is_none());
        let mut changed = map(doc);
        changed.insert("_etag".into(), json!("\"e2\""));
        let c = relay_event("CosmicChats", changed, None).unwrap().unwrap();
        assert_ne!(c.id, a.id);
    }

    #[test]
    fn open_tasks_are_not_events_and_bad_documents_are_named() {
        let open = json!({"id": "t1", "userId": "u", "isCompleted": false, "_ts": 5});
        assert_eq!(relay_event("CosmicUserTasks", map(open), None), Ok(None));
        assert_eq!(
            relay_event("CosmicUsers", map(json!({"_ts": 5})), None),
            Err(RelayError::MissingId)
        );
        assert_eq!(
            relay_event("CosmicUsers", map(json!({"id": "u"})), None),
            Err(RelayError::MissingVersion("u".into()))
        );
        assert!(matches!(
            relay_event("Nope", Map::new(), None),
            Err(RelayError::UnknownContainer(_))
        ));
    }

    #[test]
    fn types_accept_original_aliases() {
        assert_eq!(
            EventType::parse("CosmosDb.CosmicLeaderboards.Updated"),
            Ok(EventType::ScoreAwarded)
        );
        assert_eq!(
            EventType::parse("CosmosPark.Commands.Inserted"),
            Ok(EventType::CommandInserted)
        );
        assert!(EventType::parse("CosmosPark.UserChats.Updated").is_err());
    }
}
