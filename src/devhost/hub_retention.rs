//! Retention of the local Event Hubs log, as the real service keeps a partition: events older
//! than the hub's retention are deleted whether or not anyone read them, and — because a local
//! log has no other reader — events every consumer group has checkpointed past are deleted too.
//!
//! Azure: an event hub keeps events for its `messageRetentionInDays` / `retentionTimeInHours`
//! (1 day on Basic, up to 7 days on Standard, 90 on Premium/Dedicated; "Event Hubs quotas and
//! limits", learn.microsoft.com/azure/event-hubs/event-hubs-quotas); `infra/modules/eventhubs.bicep`
//! sets 1 day, the local default. A reader positioned before the oldest retained event reads
//! from the oldest retained one, as an Event Hubs receiver does.
//!
//! Each partition stream keeps a `tail` document (the first retained sequence number), moved in
//! the same transactional batch that deletes the events before it.
//!
//! The trimmer does not poll: it sleeps until the oldest retained event passes the retention,
//! and, after a consumer checkpoints (or the first append to an empty log), waits
//! [`TRIM_INTERVAL`] so that one pass trims behind many checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::backlog::Activity;
use super::containers::EVENT_HUBS_CONTAINER;
use super::event_hubs::{EventHubs, HubError, stream};
use super::notify::sleep_or_never;
use crate::runtime::manifest::{BindingKind, Manifest};
use crate::store::model::MAX_BATCH_OPS;
use crate::store::{BatchOp, PartitionKey, StoreError};

/// The default retention: the real service's smallest (Basic tier, and this app's Bicep).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long after a checkpoint the log is trimmed behind it (one pass for many checkpoints).
pub const TRIM_INTERVAL: Duration = Duration::from_secs(5);

const TAIL_ID: &str = "tail";

/// What one trim of one partition did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Events deleted.
    pub deleted: u64,
    /// The first sequence number still in the log.
    pub first: i64,
    /// When the oldest event still in the log passes the retention, if there is one.
    pub oldest_expires: Option<DateTime<Utc>>,
}

/// Every hub the manifest names, with the consumer groups of its triggers (an output-only hub
/// has none: only its retention applies).
pub fn hubs_of(manifest: &Manifest) -> BTreeMap<String, BTreeSet<String>> {
    let mut hubs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for function in manifest.functions.iter().filter(|f| !f.disabled) {
        for binding in &function.bindings {
            match &binding.kind {
                BindingKind::EventHubTrigger(options) => {
                    if let Some(hub) = &options.event_hub_name {
                        let group = options
                            .consumer_group
                            .clone()
                            .unwrap_or_else(|| "$Default".to_owned());
                        hubs.entry(hub.to_ascii_lowercase())
                            .or_default()
                            .insert(group);
                    }
                }
                BindingKind::EventHub {
                    event_hub_name: Some(hub),
                    ..
                } => {
                    hubs.entry(hub.to_ascii_lowercase()).or_default();
                }
                _ => {}
            }
        }
    }
    hubs
}

/// The sequence numbers a partition's log holds: `first..next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    /// The first still in the log (0 if never trimmed).
    pub first: i64,
    /// The one the next event gets (0 for a partition never written).
    pub next: i64,
}

impl EventHubs {
    /// The retained range of `hub`/`partition`, its `tail` and `head` read in one store call.
    pub async fn retained(&self, hub: &str, partition: u32) -> Result<Retained, HubError> {
        let stream = stream(hub, partition);
        let pk = PartitionKey::from(stream.as_str());
        let keys = [(pk.clone(), TAIL_ID.to_owned()), (pk, "head".to_owned())];
        let mut docs = self
            .store()
            .read_many(EVENT_HUBS_CONTAINER, &keys)
            .await?
            .into_iter();
        let mut field = |name: &str| {
            docs.next()
                .flatten()
                .and_then(|doc| doc[name].as_i64())
                .unwrap_or(0)
        };
        Ok(Retained {
            first: field("firstSequence"),
            next: field("nextSequence"),
        })
    }

    /// Deletes the events of `hub`/`partition` that every one of `groups` checkpointed past, and
    /// those enqueued before `now - retention`.
    pub async fn trim(
        &self,
        hub: &str,
        partition: u32,
        groups: &BTreeSet<String>,
        retention: Duration,
        now: DateTime<Utc>,
    ) -> Result<Trimmed, HubError> {
        let stream = stream(hub, partition);
        let pk = PartitionKey::from(stream.as_str());
        let Retained { mut first, next } = self.retained(hub, partition).await?;
        if next == 0 {
            // Never written: nothing to trim.
            return Ok(Trimmed {
                first,
                ..Trimmed::default()
            });
        }
        // Without any consumer group, nothing is "read by everyone": only time applies.
        let mut consumed = if groups.is_empty() { -1 } else { i64::MAX };
        for group in groups {
            consumed = consumed.min(self.checkpoint(hub, group, partition).await?);
        }
        let cutoff = now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let mut deleted = 0;
        'chunks: while first < next {
            let mut ops = Vec::with_capacity(MAX_BATCH_OPS);
            let mut sequence = first;
            let mut expired_end = false;
            while sequence < next && ops.len() < MAX_BATCH_OPS - 1 {
                let id = format!("{sequence:020}");
                if sequence > consumed {
                    let expired = match self.store().read(EVENT_HUBS_CONTAINER, &pk, &id).await? {
                        Some(doc) => enqueued(&doc).is_some_and(|t| t < cutoff),
                        None => false,
                    };
                    if !expired {
                        expired_end = true;
                        break;
                    }
                }
                ops.push(BatchOp::Delete { id, if_match: None });
                sequence += 1;
            }
            if ops.is_empty() {
                break 'chunks;
            }
            let count = ops.len() as u64;
            ops.push(BatchOp::Upsert(json!({
                "id": TAIL_ID,
                "stream": stream,
                "kind": "tail",
                "firstSequence": sequence,
            })));
            let response = self.store().batch(EVENT_HUBS_CONTAINER, &pk, ops).await?;
            if let Some((index, status)) = response.failure() {
                return Err(HubError::Store(StoreError::Other(format!(
                    "trimming `{stream}` failed at operation {index} with status {status}"
                ))));
            }
            deleted += count;
            first = sequence;
            if expired_end {
                break;
            }
        }
        let oldest_expires = if first < next {
            self.store()
                .read(EVENT_HUBS_CONTAINER, &pk, &format!("{first:020}"))
                .await?
                .as_ref()
                .and_then(enqueued)
                .map(|t| t + chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX))
        } else {
            None
        };
        Ok(Trimmed {
            deleted,
            first,
            oldest_expires,
        })
    }
}

fn enqueued(doc: &Value) -> Option<DateTime<Utc>> {
    doc["enqueuedTimeUtc"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Trims every partition of every hub in `hubs` until `cancel`: at start, when the oldest
/// retained event expires, and [`TRIM_INTERVAL`] after checkpoints moved.
pub async fn run(
    hubs: EventHubs,
    topology: BTreeMap<String, BTreeSet<String>>,
    retention: Duration,
    activity: Activity,
    cancel: CancellationToken,
) {
    let mut checkpointed = hubs.checkpointed();
    let mut appended = hubs.appended_anywhere();
    loop {
        // Marked seen before trimming, so a change during the pass brings another one.
        checkpointed.borrow_and_update();
        appended.borrow_and_update();
        let mut expires: Option<DateTime<Utc>> = None;
        for (hub, groups) in &topology {
            for partition in 0..hubs.partitions() {
                if cancel.is_cancelled() {
                    return;
                }
                match hubs
                    .trim(hub, partition, groups, retention, Utc::now())
                    .await
                {
                    Ok(trimmed) => {
                        if trimmed.deleted > 0 {
                            tracing::debug!(hub, partition, ?trimmed, "trimmed the hub log");
                        }
                        expires = earliest(expires, trimmed.oldest_expires);
                    }
                    Err(error) => {
                        tracing::warn!(%error, hub, partition, "cannot trim the hub log");
                        let retry =
                            Utc::now() + chrono::Duration::seconds(TRIM_INTERVAL.as_secs() as i64);
                        expires = earliest(expires, Some(retry));
                    }
                }
            }
        }
        let until_expiry = expires.map(|at| (at - Utc::now()).to_std().unwrap_or_default());
        // An append matters only to an empty log: later events never expire first.
        let empty = expires.is_none();
        let changed = tokio::select! {
            () = cancel.cancelled() => return,
            () = sleep_or_never(until_expiry) => false,
            _ = checkpointed.changed() => true,
            _ = appended.changed(), if empty => true,
        };
        if changed {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(TRIM_INTERVAL) => {}
            }
        }
        activity.woke();
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
