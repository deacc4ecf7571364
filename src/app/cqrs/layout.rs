//! Where read-model documents live in the `ReadModels` container (partition key
//! `/partitionKey`), and the pointer document that says which generation of each model is
//! served and which one is being rebuilt.
//!
//! A document of model `m`, generation `g`, for key `k` has partition key `m|g<g>|<shard>`
//! (shard = a stable hash of `k`, so one event batch touches few partitions and each touched
//! partition is written with one transactional batch) and id `k`. Users-by-country membership
//! documents live in `country|g<g>|<CC>`, so listing a country is one partition read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::model::Model;
use crate::store::{ETag, PartitionKey, Store, StoreError};

/// The query store container.
pub const READ_MODELS: &str = "ReadModels";
/// Poison events, with the reason (partition key `/partitionKey` = the hub partition).
pub const DEAD_LETTERS: &str = "ReadModelDeadLetters";
/// Shards per model and generation.
pub const SHARDS: u64 = 8;

const POINTER_ID: &str = "pointer";
const META_PARTITION: &str = "meta";

/// Generations of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generations {
    /// Served by queries and kept current by the processor.
    pub active: u64,
    /// Being rebuilt. Only the rebuild writes it (the processor never does, so an abandoned
    /// one receives nothing); the rebuild catches up after the swap (see `rebuild`).
    #[serde(default)]
    pub building: Option<u64>,
    /// When the rebuild of `building` last proved it is alive; a marker older than
    /// [`STALE_AFTER`] belongs to a rebuild that died and may be taken over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<DateTime<Utc>>,
}

/// How long a `building` marker lives without a heartbeat.
pub const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

impl Default for Generations {
    fn default() -> Self {
        Self {
            active: 1,
            building: None,
            heartbeat: None,
        }
    }
}

impl Generations {
    /// Every generation the processor must write: the active one only.
    pub fn written(&self) -> Vec<u64> {
        vec![self.active]
    }

    /// The generation being built by a rebuild that is still alive at `now`.
    pub fn live_building(&self, now: DateTime<Utc>) -> Option<u64> {
        self.building
            .filter(|_| self.heartbeat.is_some_and(|beat| now - beat < STALE_AFTER))
    }
}

/// The pointer document: model name → generations. Absent means generation 1 everywhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    #[serde(default)]
    pub models: BTreeMap<String, Generations>,
    #[serde(skip)]
    pub etag: Option<ETag>,
}

impl Pointer {
    pub fn of(&self, model: Model) -> Generations {
        self.models.get(model.name()).copied().unwrap_or_default()
    }

    pub fn set(&mut self, model: Model, generations: Generations) {
        self.models.insert(model.name().to_owned(), generations);
    }

    /// Reads the pointer (default when absent).
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let pk = PartitionKey::from(META_PARTITION);
        match store.read(READ_MODELS, &pk, POINTER_ID).await? {
            None => Ok(Self::default()),
            Some(doc) => {
                let mut pointer: Pointer = serde_json::from_value(doc.clone())
                    .map_err(|e| StoreError::Other(format!("read-model pointer: {e}")))?;
                pointer.etag = ETag::of(&doc);
                Ok(pointer)
            }
        }
    }

    /// Writes the pointer if nobody changed it since it was loaded (412 otherwise).
    pub async fn save(&self, store: &Store) -> Result<(), StoreError> {
        let pk = PartitionKey::from(META_PARTITION);
        let doc = json!({"id": POINTER_ID, "partitionKey": META_PARTITION, "models": self.models});
        match &self.etag {
            Some(etag) => store.replace(READ_MODELS, &pk, doc, Some(etag)).await?,
            None => store.create(READ_MODELS, &pk, doc).await?,
        };
        Ok(())
    }
}

/// A stable 64-bit FNV-1a hash (shard choice must not change between builds or processes).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn tag(model: Model) -> &'static str {
    match model {
        Model::Leaderboard => "lb",
        Model::Stats => "stats",
        Model::Countries => "loc",
        Model::Records => "rec",
    }
}

/// The partition of `key`'s document of `model` in generation `generation`.
pub fn partition(model: Model, generation: u64, key: &str) -> String {
    format!("{}|g{generation}|{}", tag(model), fnv1a(key) % SHARDS)
}

/// Every partition of one model and generation (membership partitions excluded).
pub fn partitions(model: Model, generation: u64) -> Vec<String> {
    (0..SHARDS)
        .map(|shard| format!("{}|g{generation}|{shard}", tag(model)))
        .collect()
}

/// The partition listing the users of one country.
pub fn country_partition(generation: u64, country: &str) -> String {
    format!("country|g{generation}|{country}")
}

/// A stored read-model document: the body plus its address and model/generation markers.
pub fn stored(model: Model, generation: u64, partition: &str, id: &str, body: Value) -> Value {
    let mut doc = match body {
        Value::Object(map) => map,
        other => {
            let mut map = serde_json::Map::new();
            map.insert("value".into(), other);
            map
        }
    };
    doc.insert("id".into(), Value::from(id));
    doc.insert("partitionKey".into(), Value::from(partition));
    doc.insert("model".into(), Value::from(model.name()));
    doc.insert("gen".into(), Value::from(generation));
    Value::Object(doc)
}

/// The body of a stored document: without its address, markers and system properties.
pub fn body(doc: &Value) -> Value {
    into_body(doc.clone())
}

/// [`body`], taking the document.
pub fn into_body(mut doc: Value) -> Value {
    if let Some(map) = doc.as_object_mut() {
        for key in [
            "id",
            "partitionKey",
            "model",
            "gen",
            "_rid",
            "_self",
            "_etag",
            "_attachments",
            "_ts",
            "_lsn",
        ] {
            map.remove(key);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_cover_every_shard() {
        let p = partition(Model::Stats, 3, "alice");
        assert_eq!(p, partition(Model::Stats, 3, "alice"));
        assert!(p.starts_with("stats|g3|"));
        assert!(partitions(Model::Stats, 3).contains(&p));
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        let doc = stored(Model::Stats, 3, &p, "alice", json!({"x": 1}));
        assert_eq!(body(&doc), json!({"x": 1}));
        let now = Utc::now();
        let g = Generations {
            active: 2,
            building: Some(3),
            heartbeat: Some(now),
        };
        assert_eq!(
            g.written(),
            vec![2],
            "a building generation gets no live writes"
        );
        assert_eq!(g.live_building(now), Some(3));
        assert_eq!(g.live_building(now + STALE_AFTER), None);
        assert_eq!(Generations::default().written(), vec![1]);
    }
}
