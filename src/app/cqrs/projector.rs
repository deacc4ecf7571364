//! Applies batches of events to the read models in the store.
//!
//! Updates are grouped by read-model partition and document; every touched document is read
//! (one snapshot), changed in memory with [`Update::apply`] and the whole batch is written back
//! in one multi-partition write (one commit on the embedded store) whose replaces are
//! ETag-guarded (`If-Match`). A 409 / 412 (another writer got there first) re-reads and
//! re-applies; since updates are idempotent this converges.
//!
//! One poison event never fails its batch: an event that cannot be decoded is set aside at
//! once, and when applying the batch fails for a reason a retry cannot fix (an unreadable or
//! oversized read-model document), the batch is applied again event by event and only the events
//! that fail alone are set aside. Set-aside events go to [`DEAD_LETTERS`] with the reason, the
//! whole body and the hub they came from, under an id derived from the body (the same event
//! set aside twice is one entry), so they can be listed and replayed like the platform's own
//! dead letters. Store outages and write contention still fail the batch, so the host retries it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use thiserror::Error;
use uuid::Uuid;

use super::event::EVENT_HUB;
use super::layout::{
    DEAD_LETTERS, Pointer, READ_MODELS, country_partition, into_body, partition, stored,
};
use super::model::{Delivery, LocationDoc, Model, Update, apply_all, decode, updates};
use crate::store::model::MAX_BATCH_OPS;
use crate::store::{BatchOp, BatchResponse, ETag, PartitionKey, Store, StoreError};

/// Re-reads of one partition before giving up (the invocation then fails and is retried).
const MAX_ATTEMPTS: usize = 10;
/// Largest event body kept whole in a dead letter (an Event Hubs event is at most 1 MB on the
/// Standard tier; a Cosmos DB item at most 2 MB). A longer body is cut and marked `truncated`.
const MAX_DEAD_LETTER_BODY: usize = 1024 * 1024;
/// The function that runs the projector; dead letters name it.
pub const PROCESSOR: &str = "UpdateProcessor";

const DEAD_LETTER_NAMESPACE: Uuid = Uuid::from_u128(0x51b2_e7c0_0d3a_4f6b_8e21_c9a4_7f10_2b6d);

/// One event as delivered by the hub.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// The event body (JSON text of a [`super::event::DomainEvent`]).
    pub body: String,
    pub partition_id: Option<String>,
    pub sequence_number: Option<i64>,
    pub enqueued_time: Option<DateTime<Utc>>,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub events: usize,
    pub dead_lettered: usize,
    /// Read-model documents written.
    pub written: usize,
    /// Users whose ledger entries were in the batch.
    pub awarded: BTreeSet<String>,
}

/// Why a batch could not be projected (the invocation fails; the host retries it).
#[derive(Debug, Error)]
pub enum ProjectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read-model document `{id}` in `{partition}` is not readable: {reason}")]
    Corrupt {
        partition: String,
        id: String,
        reason: String,
    },
    #[error("read-model partition `{0}` kept changing under the projection; giving up for a retry")]
    Contention(String),
}

impl ProjectError {
    /// True when retrying the same events cannot help (the data, not the moment, is wrong).
    fn is_deterministic(&self) -> bool {
        matches!(
            self,
            Self::Corrupt { .. } | Self::Store(StoreError::TooLarge(_) | StoreError::BadRequest(_))
        )
    }
}

/// Projects one delivered batch into every generation the pointer says to write.
pub async fn project(store: &Store, incoming: &[Incoming]) -> Result<Outcome, ProjectError> {
    let pointer = Pointer::load(store).await?;
    let generations = |model| pointer.of(model).written();
    let mut outcome = Outcome {
        events: incoming.len(),
        ..Outcome::default()
    };
    let mut decoded: Vec<(&Incoming, Vec<Update>)> = Vec::with_capacity(incoming.len());
    for event in incoming {
        match decode(&event.body).and_then(|e| updates(&e)) {
            Ok(list) => decoded.push((event, list)),
            Err(poison) => {
                set_aside(store, event, &poison.to_string()).await?;
                outcome.dead_lettered += 1;
            }
        }
    }
    let all: Vec<Update> = decoded.iter().flat_map(|(_, list)| list.clone()).collect();
    match apply_updates(store, &all, Delivery::Live, generations).await {
        Ok(written) => {
            outcome.written = written;
            outcome.awarded = awarded(all.iter());
        }
        Err(error) if error.is_deterministic() => {
            tracing::warn!(%error, "a batch failed on its data; applying it event by event");
            for (event, list) in &decoded {
                match apply_updates(store, list, Delivery::Live, generations).await {
                    Ok(written) => {
                        outcome.written += written;
                        outcome.awarded.extend(awarded(list.iter()));
                    }
                    Err(error) if error.is_deterministic() => {
                        set_aside(store, event, &error.to_string()).await?;
                        outcome.dead_lettered += 1;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Err(error) => return Err(error),
    }
    Ok(outcome)
}

fn awarded<'a>(updates: impl Iterator<Item = &'a Update>) -> BTreeSet<String> {
    updates
        .filter_map(|update| match update {
            Update::Award { user, .. } => Some(user.clone()),
            _ => None,
        })
        .collect()
}

async fn set_aside(store: &Store, event: &Incoming, reason: &str) -> Result<(), StoreError> {
    tracing::warn!(
        reason,
        partition = event.partition_id.as_deref().unwrap_or("?"),
        sequence = event.sequence_number.unwrap_or(-1),
        "dead-lettered an event"
    );
    dead_letter(store, event, reason).await
}

/// One document's pending updates.
struct Pending {
    model: Model,
    generation: u64,
    updates: Vec<Update>,
}

/// Applies `updates` to the generations `generations(model)` returns; returns how many
/// documents were written.
///
/// Every touched document is read from one snapshot, updated in memory, and the whole batch is
/// written back with one [`DocumentStore::batch_partitions`] call: on the embedded store one
/// transaction and one fsync for the batch, whatever the number of partitions. Replaces are
/// `If-Match`-guarded; a 404 / 409 / 412 (another writer got there first) re-reads and
/// re-applies everything, which converges because updates are idempotent.
///
/// [`DocumentStore::batch_partitions`]: crate::store::DocumentStore::batch_partitions
pub async fn apply_updates(
    store: &Store,
    updates: &[Update],
    delivery: Delivery,
    generations: impl Fn(Model) -> Vec<u64>,
) -> Result<usize, ProjectError> {
    let mut groups: BTreeMap<String, BTreeMap<String, Pending>> = BTreeMap::new();
    for update in updates {
        let model = update.model();
        for generation in generations(model) {
            let pk = partition(model, generation, update.key());
            groups
                .entry(pk)
                .or_default()
                .entry(update.key().to_owned())
                .or_insert_with(|| Pending {
                    model,
                    generation,
                    updates: Vec::new(),
                })
                .updates
                .push(update.clone());
        }
    }
    let keys: Vec<(PartitionKey, String)> = groups
        .iter()
        .flat_map(|(pk, docs)| {
            docs.keys()
                .map(move |id| (PartitionKey::from(pk.as_str()), id.clone()))
        })
        .collect();
    if keys.is_empty() {
        return Ok(0);
    }
    for _ in 0..MAX_ATTEMPTS {
        let mut current = store.read_many(READ_MODELS, &keys).await?.into_iter();
        let mut writes = Vec::new();
        let mut moves = Vec::new();
        for (pk, docs) in &groups {
            let ops = plan_partition(pk, docs, &mut current, delivery, &mut moves)?;
            let key = PartitionKey::from(pk.as_str());
            let mut ops = ops.into_iter().peekable();
            while ops.peek().is_some() {
                writes.push((key.clone(), ops.by_ref().take(MAX_BATCH_OPS).collect()));
            }
        }
        if writes.is_empty() {
            return Ok(0);
        }
        let written = writes.iter().map(|(_, ops): &(_, Vec<_>)| ops.len()).sum();
        // Membership first: with a backend that commits partitions one by one, a location
        // write that loses a race leaves a membership the retry recomputes (membership writes
        // are idempotent).
        let mut batches = membership_writes(store, &moves).await?;
        batches.append(&mut writes);
        match store.batch_partitions(READ_MODELS, batches).await {
            Ok(responses) => match responses.iter().find_map(BatchResponse::failure) {
                None => return Ok(written),
                Some((_, 404 | 409 | 412)) => {}
                // A 400 / 413 keeps its kind, so an oversized document sets its events aside.
                Some((index, status)) => {
                    return Err(ProjectError::Store(StoreError::from_status(
                        status,
                        format!("read-model batch failed at operation {index} with {status}"),
                    )));
                }
            },
            Err(e) if e.is_conflict() || e.is_precondition_failed() || e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProjectError::Contention(
        groups.keys().next().cloned().unwrap_or_default(),
    ))
}

/// A user's move between countries, applied to the membership partitions.
struct Move {
    generation: u64,
    location: LocationDoc,
    left: Option<String>,
}

/// The writes of one read-model partition: each pending document's updates applied to its
/// current version (taken in order from `current`); moves between countries go to `moves`.
fn plan_partition(
    pk: &str,
    docs: &BTreeMap<String, Pending>,
    current: &mut impl Iterator<Item = Option<Value>>,
    delivery: Delivery,
    moves: &mut Vec<Move>,
) -> Result<Vec<BatchOp>, ProjectError> {
    let corrupt = |id: &str, reason: String| ProjectError::Corrupt {
        partition: pk.to_owned(),
        id: id.to_owned(),
        reason,
    };
    let mut ops = Vec::new();
    for (id, pending) in docs {
        let current = current.next().flatten();
        let etag = current.as_ref().and_then(ETag::of);
        let before = current.map(into_body);
        let all: Vec<&Update> = pending.updates.iter().collect();
        let Some(new) =
            apply_all(&all, before.as_ref(), delivery).map_err(|e| corrupt(id, e.to_string()))?
        else {
            continue;
        };
        if pending.model == Model::Countries {
            let location =
                LocationDoc::deserialize(&new).map_err(|e| corrupt(id, e.to_string()))?;
            let old = before
                .as_ref()
                .and_then(|b| LocationDoc::deserialize(b).ok());
            let moved = old.as_ref().is_none_or(|old| {
                old.country != location.country || old.user_name != location.user_name
            });
            if moved {
                let left = old
                    .and_then(|old| old.country)
                    .filter(|old| location.country.as_ref() != Some(old));
                moves.push(Move {
                    generation: pending.generation,
                    location,
                    left,
                });
            }
        }
        let doc = stored(pending.model, pending.generation, pk, id, new);
        ops.push(match etag {
            Some(etag) => BatchOp::Replace {
                doc,
                if_match: Some(etag),
            },
            None => BatchOp::Create(doc),
        });
    }
    Ok(ops)
}

/// The membership writes of `moves`: an upsert into the new country's partition, and a
/// delete from the old one when the membership document is there (read first, so a missing
/// one does not fail the transaction; its ETag guards the delete).
async fn membership_writes(
    store: &Store,
    moves: &[Move],
) -> Result<Vec<(PartitionKey, Vec<BatchOp>)>, ProjectError> {
    let mut writes = Vec::new();
    let mut leaving = Vec::new();
    for m in moves {
        let user = m.location.user_id.as_str();
        if let Some(country) = &m.location.country {
            let pk = country_partition(m.generation, country);
            let doc = stored(
                Model::Countries,
                m.generation,
                &pk,
                user,
                json!({"userId": user, "userName": m.location.user_name, "country": country, "member": true}),
            );
            writes.push((PartitionKey::from(pk.as_str()), vec![BatchOp::Upsert(doc)]));
        }
        if let Some(left) = &m.left {
            let pk = country_partition(m.generation, left);
            leaving.push((PartitionKey::from(pk.as_str()), user.to_owned()));
        }
    }
    if leaving.is_empty() {
        return Ok(writes);
    }
    let found = store.read_many(READ_MODELS, &leaving).await?;
    for ((pk, user), doc) in leaving.into_iter().zip(found) {
        if let Some(doc) = doc {
            let op = BatchOp::Delete {
                id: user,
                if_match: ETag::of(&doc),
            };
            writes.push((pk, vec![op]));
        }
    }
    Ok(writes)
}

async fn dead_letter(store: &Store, event: &Incoming, reason: &str) -> Result<(), StoreError> {
    // Keyed by the body alone: the same event delivered again — after a crash, through another
    // hub partition, or by a replay that failed again — is one entry.
    let id = Uuid::new_v5(&DEAD_LETTER_NAMESPACE, event.body.as_bytes())
        .simple()
        .to_string();
    let mut body = event.body.clone();
    let truncated = body.len() > MAX_DEAD_LETTER_BODY;
    if truncated {
        let mut end = MAX_DEAD_LETTER_BODY;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
    }
    let doc = json!({
        "id": id,
        "partitionKey": id,
        "reason": reason,
        "body": body,
        "truncated": truncated,
        "eventHub": EVENT_HUB,
        "function": PROCESSOR,
        "partitionId": event.partition_id,
        "sequenceNumber": event.sequence_number,
        "enqueuedTimeUtc": event.enqueued_time,
        "deadLetteredAt": Utc::now(),
    });
    store
        .upsert(DEAD_LETTERS, &PartitionKey::from(id.as_str()), doc)
        .await?;
    Ok(())
}

/// Every stored document of one model and generation (membership documents included).
pub async fn documents_of(
    store: &Store,
    model: Model,
    generation: u64,
) -> Result<Vec<Value>, StoreError> {
    let query = crate::store::Query::new()
        .eq("/model", model.name())
        .eq("/gen", generation);
    store.query(READ_MODELS, None, &query).await
}
