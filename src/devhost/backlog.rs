//! What the local platform still has to do, per trigger: change-feed changes after each lease,
//! Event Grid deliveries queued (including those waiting for a redelivery), Event Hubs events
//! after each consumer checkpoint, and the invocations in flight. [`Backlog::snapshot`] reads
//! it; [`Backlog::wait_idle`] waits until all of it is empty (`GET /_devhost/idle` for tests).
//!
//! Read-only: the positions come from the store, where the triggers keep them (leases, the
//! delivery queue, hub checkpoints, plus the hub positions processed ahead of a checkpoint),
//! so this never disturbs a trigger. The snapshot also counts store commits and trigger-loop
//! wake-ups: on an idle platform neither moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;

use super::containers::EVENT_GRID_CONTAINER;
use super::cosmos_trigger::{FeedTrigger, FeedTriggerError};
use super::event_grid::Topic;
use super::event_hubs::{EventHubs, HubError, HubTrigger};
use super::notify::WriteSignal;
use crate::runtime::manifest::Manifest;
use crate::store::{
    ChangeFeedConsumer, ChangeFeedStart, CmpOp, PartitionKey, Query, Store, StoreError,
};

/// Changes read per change-feed page while counting.
const COUNT_PAGE: u32 = 1000;
/// Where the store cannot count a change feed's pending changes, they are read and counted up
/// to this many: past this depth the exact figure changes no decision (idle is zero pending).
pub const COUNT_LIMIT: u64 = 10_000;
/// Re-check at least this often while waiting (a redelivery becoming due writes nothing).
const RECHECK: Duration = Duration::from_millis(25);

/// The trigger kinds that queue work, named by their `function.json` binding type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TriggerKind {
    #[serde(rename = "cosmosDBTrigger")]
    CosmosDb,
    #[serde(rename = "eventGridTrigger")]
    EventGrid,
    #[serde(rename = "eventHubTrigger")]
    EventHubs,
}

/// The work queued for one trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerBacklog {
    /// The function the trigger invokes.
    pub trigger: String,
    pub kind: TriggerKind,
    /// What it reads: the container, the event hub, or the Event Grid subscription(s).
    pub source: String,
    /// Changes, deliveries or events not yet handled (handled = checkpointed or dead-lettered);
    /// a change feed the store cannot count is read up to [`COUNT_LIMIT`].
    pub pending: u64,
    /// How long the oldest pending item has waited, when there is one.
    #[serde(rename = "oldestPendingAgeMs", serialize_with = "as_millis")]
    pub oldest_pending_age: Option<Duration>,
}

fn as_millis<S: serde::Serializer>(age: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match age {
        Some(age) => s.serialize_u64(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
        None => s.serialize_none(),
    }
}

/// The platform's load at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// True when nothing is pending, nothing runs, and nothing was written or invoked while
    /// the backlog was read (so the per-trigger figures describe one moment).
    pub idle: bool,
    /// Invocations running now (any trigger, HTTP included).
    pub in_flight: u64,
    /// Store commits that wrote items, since the platform opened.
    pub commits: u64,
    /// Times a trigger loop woke up (change feed, Event Hubs partition, Event Grid
    /// subscription, hub retention), since the platform opened. Both stay still while idle.
    pub wakeups: u64,
    pub triggers: Vec<TriggerBacklog>,
}

/// The pause of a background observer (dashboard sampler, lag watch) after one backlog read
/// that took `took`: at least `every`, and long enough that reading spends at most a twentieth
/// of the time. Reading a deep backlog costs in proportion to its depth, so a fixed period
/// would slow the triggers exactly when they fall behind.
pub fn observer_pause(every: Duration, took: Duration) -> Duration {
    every.max(took.saturating_mul(20))
}

#[derive(Debug, thiserror::Error)]
pub enum BacklogError {
    #[error("reading the backlog: {0}")]
    Store(#[from] StoreError),
    #[error("reading the backlog: {0}")]
    Hub(#[from] HubError),
    #[error("the platform was not idle after {waited:?}")]
    NotIdle { waited: Duration, last: Snapshot },
}

/// Counts invocations: the [`Invoker`](super::invoke::Invoker) holds one and enters it for
/// each invocation.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    inner: Arc<ActivityCounters>,
}

#[derive(Debug, Default)]
struct ActivityCounters {
    started: AtomicU64,
    running: AtomicU64,
    changed: Notify,
    wakeups: AtomicU64,
}

/// One invocation in flight; dropping it ends the invocation.
#[must_use = "the invocation counts as running until this is dropped"]
pub struct Running(Arc<ActivityCounters>);

impl Activity {
    /// Marks an invocation as running until the returned guard drops.
    pub fn begin(&self) -> Running {
        self.inner.started.fetch_add(1, Ordering::SeqCst);
        self.inner.running.fetch_add(1, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
        Running(Arc::clone(&self.inner))
    }

    /// Invocations running now.
    pub fn running(&self) -> u64 {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Invocations started since the platform opened.
    pub fn started(&self) -> u64 {
        self.inner.started.load(Ordering::SeqCst)
    }

    /// Counts one wake-up of a trigger loop (a notification, a due time or a poll ended its
    /// wait), so an idle platform can show that nothing runs.
    pub fn woke(&self) {
        self.inner.wakeups.fetch_add(1, Ordering::Relaxed);
    }

    /// Trigger-loop wake-ups since the platform opened.
    pub fn wakeups(&self) -> u64 {
        self.inner.wakeups.load(Ordering::Relaxed)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

#[derive(Debug, Clone)]
enum Source {
    Feed(FeedTrigger),
    Grid {
        function: String,
        subscriptions: Vec<String>,
    },
    Hub(HubTrigger),
}

/// The backlog of every trigger of the platform.
#[derive(Clone)]
pub struct Backlog {
    store: Store,
    hubs: EventHubs,
    activity: Activity,
    signal: WriteSignal,
    sources: Arc<Vec<Source>>,
}

impl Backlog {
    /// The triggers of the enabled functions of `manifest` that queue work.
    pub fn new(
        manifest: &Manifest,
        topic: &Topic,
        hubs: EventHubs,
        activity: Activity,
        signal: WriteSignal,
        store: Store,
    ) -> Result<Self, FeedTriggerError> {
        let mut sources = Vec::new();
        for function in manifest.functions.iter().filter(|f| !f.disabled) {
            if let Some(trigger) = FeedTrigger::of(function)? {
                sources.push(Source::Feed(trigger));
            }
            if let Some(trigger) = HubTrigger::of(function, &manifest.host.event_hubs) {
                sources.push(Source::Hub(trigger));
            }
            let subscriptions: Vec<String> = topic
                .subscriptions()
                .iter()
                .filter(|s| s.function == function.name)
                .map(|s| s.name.clone())
                .collect();
            if !subscriptions.is_empty() {
                sources.push(Source::Grid {
                    function: function.name.clone(),
                    subscriptions,
                });
            }
        }
        Ok(Self {
            store,
            hubs,
            activity,
            signal,
            sources: Arc::new(sources),
        })
    }

    /// The backlog of every trigger, in manifest order.
    pub async fn triggers(&self) -> Result<Vec<TriggerBacklog>, BacklogError> {
        let now = Utc::now();
        let mut all = Vec::with_capacity(self.sources.len());
        for source in self.sources.iter() {
            all.push(match source {
                Source::Feed(trigger) => self.feed(trigger, now).await?,
                Source::Grid {
                    function,
                    subscriptions,
                } => self.grid(function, subscriptions, now).await?,
                Source::Hub(trigger) => self.hub(trigger, now).await?,
            });
        }
        Ok(all)
    }

    /// The backlog and the invocations in flight, with `idle` set only when nothing is
    /// pending or running and no write or invocation happened while the store was read.
    pub async fn snapshot(&self) -> Result<Snapshot, BacklogError> {
        let commits = self.commits();
        let started = self.activity.started();
        let triggers = self.triggers().await?;
        let in_flight = self.activity.running();
        let after = self.commits();
        // A commit whose writes the read saw but the count does not include yet would be
        // counted after the snapshot called the platform quiet.
        let quiet = commits == after
            && !self.store.commit_unnotified()
            && started == self.activity.started();
        Ok(Snapshot {
            idle: quiet && in_flight == 0 && triggers.iter().all(|t| t.pending == 0),
            in_flight,
            commits: after,
            wakeups: self.activity.wakeups(),
            triggers,
        })
    }

    /// True when `previous` was idle and nothing was committed, woke or ran since, so a new
    /// snapshot would read the same figures.
    pub fn unchanged_since(&self, previous: &Snapshot) -> bool {
        previous.idle
            && self.commits() == previous.commits
            && self.activity.wakeups() == previous.wakeups
            && self.activity.running() == 0
    }

    /// Waits until a snapshot is idle; after `timeout`, fails with the last snapshot.
    pub async fn wait_idle(&self, timeout: Duration) -> Result<Snapshot, BacklogError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut wake = self.signal.subscribe();
        loop {
            // Registered before reading, so a change during the read is not missed.
            let invocation = self.activity.inner.changed.notified();
            wake.borrow_and_update();
            let snapshot = self.snapshot().await?;
            if snapshot.idle {
                return Ok(snapshot);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BacklogError::NotIdle {
                    waited: timeout,
                    last: snapshot,
                });
            }
            tokio::select! {
                _ = wake.changed() => {}
                () = invocation => {}
                () = tokio::time::sleep(RECHECK) => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    fn commits(&self) -> u64 {
        self.signal.count()
    }

    /// Changes after the lease's continuation (or after the start position before the first
    /// checkpoint): counted by the store from its change-feed index when it can, otherwise
    /// read the way the trigger reads them, up to [`COUNT_LIMIT`].
    async fn feed(
        &self,
        trigger: &FeedTrigger,
        now: DateTime<Utc>,
    ) -> Result<TriggerBacklog, BacklogError> {
        let consumer = ChangeFeedConsumer::open(
            self.store.clone(),
            &trigger.container,
            &trigger.lease_container,
            &trigger.lease_name,
            trigger.start.clone(),
        )
        .await?
        .with_max_items(COUNT_PAGE);
        let mut continuation = consumer.checkpointed().await;
        let start = continuation
            .clone()
            .map_or_else(|| trigger.start.clone(), ChangeFeedStart::Continuation);
        if let Some(counted) = self
            .store
            .change_feed_backlog(&trigger.container, &start, None)
            .await?
        {
            return Ok(TriggerBacklog {
                trigger: trigger.function.clone(),
                kind: TriggerKind::CosmosDb,
                source: trigger.container.clone(),
                pending: counted.pending,
                oldest_pending_age: counted.oldest.map(|at| age(now, at)),
            });
        }
        let (mut pending, mut oldest) = (0u64, None);
        loop {
            let page = consumer.page_after(continuation.clone()).await?;
            if page.items.is_empty() || continuation.as_deref() == Some(&page.continuation) {
                break;
            }
            if oldest.is_none() {
                oldest = page.items.first().and_then(modified_at);
            }
            pending += page.items.len() as u64;
            continuation = Some(page.continuation);
            if pending >= COUNT_LIMIT {
                break;
            }
        }
        Ok(TriggerBacklog {
            trigger: trigger.function.clone(),
            kind: TriggerKind::CosmosDb,
            source: trigger.container.clone(),
            pending,
            oldest_pending_age: oldest.map(|at| age(now, at)),
        })
    }

    /// Deliveries in the queue for `function`, due now or waiting for a redelivery. The store
    /// counts each subscription's partition of the queue by key when it can; the age is then
    /// that of the oldest queued write (an enqueue, or the reschedule of a redelivery).
    async fn grid(
        &self,
        function: &str,
        subscriptions: &[String],
        now: DateTime<Utc>,
    ) -> Result<TriggerBacklog, BacklogError> {
        let (mut pending, mut oldest, mut counted) = (0, None::<DateTime<Utc>>, true);
        for subscription in subscriptions {
            let partition = PartitionKey::from(subscription.as_str());
            match self
                .store
                .change_feed_backlog(
                    EVENT_GRID_CONTAINER,
                    &ChangeFeedStart::Beginning,
                    Some(&partition),
                )
                .await?
            {
                Some(queue) => {
                    pending += queue.pending;
                    oldest = [oldest, queue.oldest].into_iter().flatten().min();
                }
                None => counted = false,
            }
        }
        if counted {
            return Ok(TriggerBacklog {
                trigger: function.to_owned(),
                kind: TriggerKind::EventGrid,
                source: subscriptions.join(","),
                pending,
                oldest_pending_age: oldest.map(|at| age(now, at)),
            });
        }
        let query = Query::new()
            .filter("/function", CmpOp::Eq, function)
            .select(&["/enqueuedAt"]);
        let queued = self.store.query(EVENT_GRID_CONTAINER, None, &query).await?;
        let oldest = queued
            .iter()
            .filter_map(|d| d.get("enqueuedAt").and_then(Value::as_i64))
            .min()
            .and_then(DateTime::from_timestamp_millis);
        Ok(TriggerBacklog {
            trigger: function.to_owned(),
            kind: TriggerKind::EventGrid,
            source: subscriptions.join(","),
            pending: queued.len() as u64,
            oldest_pending_age: oldest.map(|at| age(now, at)),
        })
    }

    /// Events after the consumer group's processed position (its checkpoint, or later while
    /// `batchCheckpointFrequency` holds batches back), over every partition.
    async fn hub(
        &self,
        trigger: &HubTrigger,
        now: DateTime<Utc>,
    ) -> Result<TriggerBacklog, BacklogError> {
        let (mut pending, mut oldest) = (0u64, None::<DateTime<Utc>>);
        for partition in 0..self.hubs.partitions() {
            let checkpoint = self
                .hubs
                .processed(&trigger.hub, &trigger.consumer_group, partition)
                .await?;
            let last = self.hubs.last_sequence(&trigger.hub, partition).await?;
            if last <= checkpoint {
                continue;
            }
            pending += u64::try_from(last - checkpoint).unwrap_or(0);
            let first = self
                .hubs
                .read(&trigger.hub, partition, checkpoint, 1)
                .await?;
            if let Some(event) = first.first() {
                oldest = Some(oldest.map_or(event.enqueued_time, |o| o.min(event.enqueued_time)));
            }
        }
        Ok(TriggerBacklog {
            trigger: trigger.function.clone(),
            kind: TriggerKind::EventHubs,
            source: trigger.hub.clone(),
            pending,
            oldest_pending_age: oldest.map(|at| age(now, at)),
        })
    }
}

/// A change's `_ts` (seconds since the epoch).
fn modified_at(doc: &Value) -> Option<DateTime<Utc>> {
    doc.get("_ts")
        .and_then(Value::as_i64)
        .and_then(|ts| DateTime::from_timestamp(ts, 0))
}

fn age(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (now - at).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observers_pause_longer_when_reading_the_backlog_is_slow() {
        let every = Duration::from_secs(1);
        assert_eq!(observer_pause(every, Duration::from_millis(10)), every);
        assert_eq!(
            observer_pause(every, Duration::from_millis(200)),
            Duration::from_secs(4)
        );
    }

    #[test]
    fn running_counts_until_dropped() {
        let activity = Activity::default();
        let first = activity.begin();
        let second = activity.begin();
        assert_eq!((activity.started(), activity.running()), (2, 2));
        drop(first);
        assert_eq!(activity.running(), 1);
        drop(second);
        assert_eq!((activity.started(), activity.running()), (2, 0));
    }

    #[test]
    fn backlog_serialises_with_binding_type_names_and_millis() {
        let backlog = TriggerBacklog {
            trigger: "UsersRelay".into(),
            kind: TriggerKind::CosmosDb,
            source: "Users".into(),
            pending: 3,
            oldest_pending_age: Some(Duration::from_millis(1500)),
        };
        assert_eq!(
            serde_json::to_value(&backlog).unwrap(),
            serde_json::json!({"trigger": "UsersRelay", "kind": "cosmosDBTrigger",
                "source": "Users", "pending": 3, "oldestPendingAgeMs": 1500})
        );
    }
}
