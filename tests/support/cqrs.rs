//! Helpers for the `cqrs_*` tests: write-side documents as the change feed delivers
//! them, a real embedded store with the app's containers, and read-model snapshots.

use std::collections::BTreeMap;
use std::sync::Arc;

use cosmospark::app::cqrs::event::{DomainEvent, relay_event};
use cosmospark::app::cqrs::layout::{READ_MODELS, body};
use cosmospark::app::domain::ids::ChatId;
use cosmospark::app::domain::values::UserId;
use cosmospark::store::embedded::EmbeddedStore;
use cosmospark::store::{Query, Store};
use serde_json::{Map, Value, json};

/// 2026-11-24T12:00:00Z.
pub const NOW: i64 = 1_795_521_600;
pub const DAY: i64 = 86_400;

fn system(mut doc: Value, lsn: u64) -> Value {
    doc["_lsn"] = json!(lsn);
    doc["_ts"] = json!(NOW);
    doc["_etag"] = json!(format!("\"{lsn:08x}\""));
    doc["_rid"] = json!("rid");
    doc
}

pub fn name_of(user: &str) -> String {
    user.to_uppercase()
}

pub fn user(id: &str, country: Option<&str>, lsn: u64) -> Value {
    let mut doc = json!({"id": id, "name": name_of(id), "createdAt": NOW - 10 * DAY,
        "updatedAt": NOW - 10 * DAY + lsn as i64});
    if let Some(code) = country {
        doc["address"] =
            json!({"country": {"code": code}, "position": {"latitude": 48.0, "longitude": 2.0}});
    }
    system(doc, lsn)
}

pub fn message(id: &str, from: &str, to: &str, at: i64, lsn: u64) -> Value {
    let chat =
        ChatId::for_pair(&UserId::parse(from).unwrap(), &UserId::parse(to).unwrap()).unwrap();
    system(
        json!({"id": id, "chat": {"id": chat.as_str()},
            "userDetails": [
                {"id": from, "toUser": {"id": to, "name": name_of(to)}},
                {"id": to, "toUser": {"id": from, "name": name_of(from)}}],
            "message": {"senderId": from, "content": "Hi-CosmosPark", "timestamp": at}}),
        lsn,
    )
}

pub fn task(id: &str, owner: &str, target: &str, country: &str, at: i64, lsn: u64) -> Value {
    system(
        json!({"id": id, "userId": owner, "userName": name_of(owner),
            "taskDetail": {"userId": target, "userName": name_of(target), "country": {"code": country}},
            "isCompleted": true, "completedAt": at, "points": 4, "createdAt": at - 60}),
        lsn,
    )
}

pub fn award(id: &str, user: &str, score: i64, at: i64, lsn: u64) -> Value {
    system(
        json!({"id": id, "user": {"id": user, "name": name_of(user)}, "task": {"id": ""},
            "score": score, "awardedAt": at}),
        lsn,
    )
}

pub fn command(id: &str, user: &str, data: Value, lsn: u64) -> Value {
    system(
        json!({"id": id, "Data": data, "userId": user, "createdAt": NOW}),
        lsn,
    )
}

/// The event the relay publishes for `doc` changed in `container`.
pub fn event(container: &str, doc: &Value) -> DomainEvent {
    let Value::Object(map) = doc.clone() else {
        panic!("documents are objects")
    };
    relay_event(container, map, None).unwrap().unwrap()
}

pub fn event_text(container: &str, doc: &Value) -> String {
    serde_json::to_string(&event(container, doc)).unwrap()
}

/// The app's containers on a fresh embedded store.
pub async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    cosmospark::app::services::ensure_containers(&store)
        .await
        .unwrap();
    (store, dir)
}

/// Every read-model document body by (partition with the generation blanked, id).
pub async fn snapshot(store: &Store) -> BTreeMap<(String, String), Value> {
    let docs = store.query(READ_MODELS, None, &Query::new()).await.unwrap();
    docs.into_iter()
        .filter(|d| d["partitionKey"] != "meta")
        .map(|d| {
            let pk = d["partitionKey"].as_str().unwrap_or_default();
            let pk = pk
                .split('|')
                .map(|part| {
                    if part.starts_with('g') && part[1..].parse::<u64>().is_ok() {
                        "g*"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("|");
            (
                (pk, d["id"].as_str().unwrap_or_default().to_owned()),
                body(&d),
            )
        })
        .collect()
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
