//! Event Hubs: a durable partitioned log per hub name in the store, and the processors that
//! feed `eventHubTrigger` functions. A partition is chosen by a stable hash of the partition
//! key (round-robin without one); each partition numbers its events (sequence number, byte
//! offset, enqueued time). Consumers checkpoint per (hub, consumer group, partition) after the
//! invocation — after its retries under a retry policy — and an event that still fails,
//! isolated from the rest of its batch, goes to the dead letter alone instead of being lost.
//!
//! A partition processor sleeps until an append to its own partition ([`EventHubs::appended`]:
//! the data directory is locked to one process, so every append goes through this log) and
//! checkpoints at the extension's cadence: every `batchCheckpointFrequency` batches (host.json
//! `extensions.eventHubs`, default 1), when it stops, and after 600 s without events when
//! batches are left unrecorded (Azure/azure-sdk-for-net,
//! `sdk/eventhub/Microsoft.Azure.WebJobs.Extensions.EventHubs/src/Listeners/EventHubListener.PartitionProcessor.cs`:
//! `UpdateCheckpointContext`, `CloseAsync`, `IdleCheckpointIntervalSeconds`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

use super::containers::{CHECKPOINTS_CONTAINER, EVENT_HUBS_CONTAINER};
use super::dead_letter::{DeadLetterError, DeadLetterKind, DeadLetters, Failed};
use super::envelope::{self, HubEvent, HubPartition};
use super::invoke::{InvokeError, Invoker};
use super::isolate::{Handled, run_isolated};
use super::notify::sleep_or_never;
use crate::runtime::manifest::RetryPolicy;
use crate::runtime::manifest::{BindingKind, EventHubsOptions, FunctionJson};
use crate::runtime::outputs::EVENT_HUBS_MAX_EVENT_BYTES;
use crate::store::{BatchOp, PartitionKey, Store, StoreError};

/// Partitions per hub (the hub in `infra/` has 4).
pub const DEFAULT_PARTITIONS: u32 = 4;
/// The namespace reported in `PartitionContext`.
pub const LOCAL_NAMESPACE: &str = "localhost";
/// With `batchCheckpointFrequency` > 1, unrecorded batches are checkpointed after this long
/// without new events (the extension's `IdleCheckpointIntervalSeconds`).
pub const IDLE_CHECKPOINT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("event hub name `{0}` is not valid (letters, digits, `.`, `-`, `_`)")]
    HubName(String),
    #[error(
        "event {index} is {bytes} bytes with its properties; Event Hubs accepts at most {EVENT_HUBS_MAX_EVENT_BYTES} per event"
    )]
    TooLarge { index: usize, bytes: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The application property the Azure SDKs' messaging instrumentation writes the producer's
/// W3C `traceparent` to (azure-sdk-for-net sdk/core/Azure.Core/src/Shared/MessagingClientDiagnostics.cs,
/// `DiagnosticIdAttribute`), and the Event Hubs extension reads to continue the trace.
pub const DIAGNOSTIC_ID: &str = "Diagnostic-Id";

/// Refuses the whole send when one event is over [`EVENT_HUBS_MAX_EVENT_BYTES`], as the
/// binding does. An event's size here is its body plus its properties as JSON, which
/// undercounts the AMQP framing Azure adds, so no event Azure would refuse for its body alone
/// gets through.
fn check_sizes(events: &[OutgoingEvent]) -> Result<(), HubError> {
    for (index, event) in events.iter().enumerate() {
        let properties = serde_json::to_vec(&event.properties).map_or(0, |v| v.len());
        let bytes = event.body.len() + properties;
        if bytes > EVENT_HUBS_MAX_EVENT_BYTES {
            return Err(HubError::TooLarge { index, bytes });
        }
    }
    Ok(())
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    pub body: String,
    pub partition_key: Option<String>,
    pub properties: Map<String, Value>,
}

impl OutgoingEvent {
    /// An output-binding item: strings pass as-is, anything else becomes its JSON text.
    pub fn from_output(item: Value, traceparent: &str) -> Self {
        let body = match item {
            Value::String(text) => text,
            other => other.to_string(),
        };
        let mut properties = Map::new();
        properties.insert(DIAGNOSTIC_ID.into(), json!(traceparent));
        Self {
            body,
            partition_key: None,
            properties,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Head {
    next_sequence: i64,
    next_offset: i64,
}

/// The hub logs.
#[derive(Clone)]
pub struct EventHubs {
    store: Store,
    partitions: u32,
    heads: Arc<Mutex<HashMap<String, Head>>>,
    round_robin: Arc<AtomicU32>,
    notices: Arc<Notices>,
}

/// In-process notifications of the log: appends per partition stream, checkpoints, and the
/// positions processed but not yet checkpointed.
#[derive(Default)]
struct Notices {
    appended: std::sync::Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Bumped after an append to any partition.
    any_append: watch::Sender<u64>,
    checkpointed: watch::Sender<u64>,
    processed: std::sync::Mutex<HashMap<String, i64>>,
}

impl Notices {
    fn appended(&self, stream: &str) -> watch::Receiver<u64> {
        lock(&self.appended)
            .entry(stream.to_owned())
            .or_default()
            .subscribe()
    }

    fn announce_append(&self, stream: &str) {
        if let Some(sender) = lock(&self.appended).get(stream) {
            sender.send_modify(|n| *n += 1);
        }
        self.any_append.send_modify(|n| *n += 1);
    }
}

/// The maps hold plain values, consistent after every statement, so a poisoned lock is usable.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// FNV-1a: stable across runs and platforms, so a key always lands in the same partition.
fn stable_hash(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// The store partition of one hub partition's log.
pub(super) fn stream(hub: &str, partition: u32) -> String {
    format!("{}:{partition}", hub.to_ascii_lowercase())
}

fn valid_hub(hub: &str) -> bool {
    !hub.is_empty()
        && hub.len() <= 256
        && hub
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl EventHubs {
    pub fn new(store: Store, partitions: u32) -> Self {
        Self {
            store,
            partitions: partitions.max(1),
            heads: Arc::default(),
            round_robin: Arc::default(),
            notices: Arc::default(),
        }
    }

    /// Changes after every append to `hub`/`partition`. Subscribe before reading, so an append
    /// during the read is not missed.
    pub fn appended(&self, hub: &str, partition: u32) -> watch::Receiver<u64> {
        self.notices.appended(&stream(hub, partition))
    }

    /// Changes after every append to any hub.
    pub fn appended_anywhere(&self) -> watch::Receiver<u64> {
        self.notices.any_append.subscribe()
    }

    /// Changes after every checkpoint of any consumer group.
    pub fn checkpointed(&self) -> watch::Receiver<u64> {
        self.notices.checkpointed.subscribe()
    }

    /// The position a consumer has processed up to: its checkpoint, or later when
    /// `batchCheckpointFrequency` holds processed batches back from the checkpoint.
    pub async fn processed(
        &self,
        hub: &str,
        consumer_group: &str,
        partition: u32,
    ) -> Result<i64, HubError> {
        let checkpoint = self.checkpoint(hub, consumer_group, partition).await?;
        let id = checkpoint_id(hub, consumer_group, partition);
        let processed = lock(&self.notices.processed).get(&id).copied();
        Ok(processed.map_or(checkpoint, |p| p.max(checkpoint)))
    }

    fn set_processed(&self, hub: &str, consumer_group: &str, partition: u32, sequence: i64) {
        let id = checkpoint_id(hub, consumer_group, partition);
        lock(&self.notices.processed).insert(id, sequence);
    }

    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// The partition an event goes to.
    pub fn partition_for(&self, key: Option<&str>) -> u32 {
        match key {
            Some(key) => stable_hash(key) % self.partitions,
            None => self.round_robin.fetch_add(1, Ordering::Relaxed) % self.partitions,
        }
    }

    /// Appends `events` durably; returns `(partition, sequence number)` of each.
    pub async fn send(
        &self,
        hub: &str,
        events: Vec<OutgoingEvent>,
    ) -> Result<Vec<(u32, i64)>, HubError> {
        if !valid_hub(hub) {
            return Err(HubError::HubName(hub.to_owned()));
        }
        check_sizes(&events)?;
        let mut by_partition: HashMap<u32, Vec<OutgoingEvent>> = HashMap::new();
        let mut order = Vec::new();
        for event in events {
            let partition = self.partition_for(event.partition_key.as_deref());
            order.push(partition);
            by_partition.entry(partition).or_default().push(event);
        }
        let mut assigned: HashMap<u32, Vec<i64>> = HashMap::new();
        // One writer per partition at a time keeps sequence numbers dense and ordered.
        let mut heads = self.heads.lock().await;
        for (partition, events) in by_partition {
            let stream = stream(hub, partition);
            let pk = PartitionKey::from(stream.as_str());
            let mut head = match heads.get(&stream) {
                Some(head) => *head,
                None => self.read_head(&stream, &pk).await?,
            };
            for chunk in events.chunks(99) {
                let mut next = head;
                let now = Utc::now();
                let mut ops = Vec::with_capacity(chunk.len() + 1);
                let mut numbers = Vec::with_capacity(chunk.len());
                for event in chunk {
                    ops.push(BatchOp::Create(json!({
                        "id": format!("{:020}", next.next_sequence),
                        "stream": stream,
                        "kind": "event",
                        "hub": hub,
                        "partition": partition,
                        "sequenceNumber": next.next_sequence,
                        "offset": next.next_offset,
                        "enqueuedTimeUtc": now.to_rfc3339(),
                        "partitionKey": event.partition_key,
                        "properties": event.properties,
                        "body": event.body,
                    })));
                    numbers.push(next.next_sequence);
                    next.next_sequence += 1;
                    next.next_offset += event.body.len() as i64;
                }
                ops.push(BatchOp::Upsert(json!({
                    "id": "head",
                    "stream": stream,
                    "kind": "head",
                    "nextSequence": next.next_sequence,
                    "nextOffset": next.next_offset,
                })));
                let response = self.store.batch(EVENT_HUBS_CONTAINER, &pk, ops).await?;
                if let Some((index, status)) = response.failure() {
                    heads.remove(&stream);
                    return Err(HubError::Store(StoreError::Other(format!(
                        "append to `{stream}` failed at operation {index} with status {status}"
                    ))));
                }
                head = next;
                assigned.entry(partition).or_default().extend(numbers);
                self.notices.announce_append(&stream);
            }
            heads.insert(stream, head);
        }
        let mut cursors: HashMap<u32, usize> = HashMap::new();
        Ok(order
            .into_iter()
            .map(|partition| {
                let cursor = cursors.entry(partition).or_default();
                let sequence = assigned
                    .get(&partition)
                    .and_then(|s| s.get(*cursor))
                    .copied();
                *cursor += 1;
                (partition, sequence.unwrap_or(-1))
            })
            .collect())
    }

    async fn read_head(&self, stream: &str, pk: &PartitionKey) -> Result<Head, HubError> {
        let head = self.store.read(EVENT_HUBS_CONTAINER, pk, "head").await?;
        Ok(match head {
            Some(doc) => Head {
                next_sequence: doc["nextSequence"].as_i64().unwrap_or(0),
                next_offset: doc["nextOffset"].as_i64().unwrap_or(0),
            },
            None => {
                tracing::debug!(stream, "new event hub partition");
                Head {
                    next_sequence: 0,
                    next_offset: 0,
                }
            }
        })
    }

    /// Up to `max` events of `hub`/`partition` after sequence number `after`. Sequence numbers
    /// are dense and are the document ids, so this is one batch of point reads up to the head
    /// (one snapshot on the embedded store), not a scan; it ends at the first event missing.
    pub async fn read(
        &self,
        hub: &str,
        partition: u32,
        after: i64,
        max: u32,
    ) -> Result<Vec<HubEvent>, HubError> {
        let stream = stream(hub, partition);
        let pk = PartitionKey::from(stream.as_str());
        // A position before the oldest retained event reads from the oldest one.
        let retained = self.retained(hub, partition).await?;
        let after = after.max(retained.first - 1);
        let end = retained.next.min(after + 1 + i64::from(max.max(1)));
        let keys: Vec<(PartitionKey, String)> = ((after + 1)..end)
            .map(|sequence| (pk.clone(), format!("{sequence:020}")))
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let documents = self.store.read_many(EVENT_HUBS_CONTAINER, &keys).await?;
        Ok(documents
            .into_iter()
            .map_while(|document| document.as_ref().map(hub_event))
            .collect())
    }

    /// The sequence number of the newest event of `hub`/`partition`, -1 when it has none.
    pub async fn last_sequence(&self, hub: &str, partition: u32) -> Result<i64, HubError> {
        let stream = stream(hub, partition);
        let pk = PartitionKey::from(stream.as_str());
        Ok(self.read_head(&stream, &pk).await?.next_sequence - 1)
    }

    /// The last processed sequence number of a consumer, -1 when none.
    pub async fn checkpoint(
        &self,
        hub: &str,
        consumer_group: &str,
        partition: u32,
    ) -> Result<i64, HubError> {
        let id = checkpoint_id(hub, consumer_group, partition);
        let doc = self
            .store
            .read(CHECKPOINTS_CONTAINER, &PartitionKey::from(id.as_str()), &id)
            .await?;
        Ok(doc
            .and_then(|doc| doc["sequenceNumber"].as_i64())
            .unwrap_or(-1))
    }

    pub async fn set_checkpoint(
        &self,
        hub: &str,
        consumer_group: &str,
        partition: u32,
        sequence_number: i64,
    ) -> Result<(), HubError> {
        let id = checkpoint_id(hub, consumer_group, partition);
        self.store
            .upsert(
                CHECKPOINTS_CONTAINER,
                &PartitionKey::from(id.as_str()),
                json!({
                    "id": id,
                    "hub": hub,
                    "consumerGroup": consumer_group,
                    "partition": partition,
                    "sequenceNumber": sequence_number,
                    "updatedAt": Utc::now().to_rfc3339(),
                }),
            )
            .await?;
        self.notices.checkpointed.send_modify(|n| *n += 1);
        Ok(())
    }
}

fn checkpoint_id(hub: &str, consumer_group: &str, partition: u32) -> String {
    format!(
        "{}.{}.{partition}",
        hub.to_ascii_lowercase(),
        consumer_group.replace(['/', '\\', '?', '#'], "_")
    )
}

fn hub_event(doc: &Value) -> HubEvent {
    HubEvent {
        body: doc["body"].as_str().unwrap_or_default().to_owned(),
        partition_key: doc["partitionKey"].as_str().map(str::to_owned),
        sequence_number: doc["sequenceNumber"].as_i64().unwrap_or(0),
        offset: doc["offset"].as_i64().unwrap_or(0),
        enqueued_time: doc["enqueuedTimeUtc"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc)),
        properties: doc["properties"].as_object().cloned().unwrap_or_default(),
    }
}

/// One `eventHubTrigger` function's settings.
#[derive(Debug, Clone)]
pub struct HubTrigger {
    pub function: String,
    pub binding: String,
    pub hub: String,
    pub consumer_group: String,
    pub many: bool,
    pub data_type: Option<String>,
    pub max_batch: u32,
    /// Batches processed between checkpoints (`batchCheckpointFrequency`).
    pub checkpoint_every: u32,
}

impl HubTrigger {
    /// Reads the trigger of `function`, if it is an `eventHubTrigger`, with host.json's
    /// `extensions.eventHubs` options.
    pub fn of(function: &FunctionJson, host: &EventHubsOptions) -> Option<Self> {
        let trigger = function.trigger()?;
        let BindingKind::EventHubTrigger(options) = &trigger.kind else {
            return None;
        };
        Some(Self {
            function: function.name.clone(),
            binding: trigger.name.clone(),
            hub: options.event_hub_name.clone()?,
            consumer_group: options
                .consumer_group
                .clone()
                .unwrap_or_else(|| "$Default".to_owned()),
            many: options
                .cardinality
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("many")),
            data_type: trigger.data_type.clone(),
            max_batch: host.max_batch(),
            checkpoint_every: host.batch_checkpoint_frequency.unwrap_or(1).max(1),
        })
    }
}

/// Processes one partition for one trigger until `cancel`; the batch in flight completes, and
/// batches processed since the last checkpoint are checkpointed on the way out.
pub async fn process_partition(
    hubs: EventHubs,
    trigger: HubTrigger,
    partition: u32,
    invoker: Invoker,
    dead_letters: DeadLetters,
    cancel: CancellationToken,
) {
    let mut appended = hubs.appended(&trigger.hub, partition);
    let activity = invoker.activity().clone();
    let processor = PartitionProcessor {
        context: HubPartition {
            namespace: LOCAL_NAMESPACE.to_owned(),
            hub: trigger.hub.clone(),
            consumer_group: trigger.consumer_group.clone(),
            partition_id: partition.to_string(),
        },
        policy: invoker
            .manifest()
            .function(&trigger.function)
            .and_then(|f| f.retry.as_ref())
            .cloned(),
        trigger,
        partition,
        invoker,
        dead_letters,
    };
    let Some(mut after) = processor.start_position(&hubs, &cancel).await else {
        return;
    };
    let mut cadence = Cadence::new(processor.trigger.checkpoint_every);
    while !cancel.is_cancelled() {
        // Marked seen before reading, so an append during the read wakes the next wait.
        appended.borrow_and_update();
        let trigger = &processor.trigger;
        let events = match hubs
            .read(&trigger.hub, partition, after, trigger.max_batch)
            .await
        {
            Ok(events) => events,
            Err(error) => {
                tracing::error!(%error, hub = %trigger.hub, partition, "cannot read the hub");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
        };
        let Some(last) = events.last().map(|e| e.sequence_number) else {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = appended.changed() => {}
                () = sleep_or_never(cadence.idle_checkpoint_in()) => {
                    processor.checkpoint(&hubs, &mut cadence, after).await;
                }
            }
            activity.woke();
            continue;
        };
        match processor.handle(events, &cancel).await {
            Ok(Handled::Done) => {}
            // Shut down between retries: neither checkpointed nor dead-lettered.
            Ok(Handled::Stopped) => break,
            Err(dead) => {
                // Without a dead letter the batch must not be skipped: retry it later.
                tracing::error!(error = %dead, "cannot dead-letter an event; not checkpointing its batch");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
        }
        after = last;
        hubs.set_processed(&trigger.hub, &trigger.consumer_group, partition, last);
        if cadence.processed_batch() {
            processor.checkpoint(&hubs, &mut cadence, after).await;
        }
    }
    // The extension's `CloseAsync`: a graceful stop records what was processed.
    if cadence.unrecorded > 0 {
        processor.checkpoint(&hubs, &mut cadence, after).await;
    }
}

/// When a partition processor checkpoints: after every `every` batches, or after
/// [`IDLE_CHECKPOINT`] without events while batches are unrecorded.
#[derive(Debug)]
struct Cadence {
    every: u32,
    /// Batches processed since the last checkpoint.
    unrecorded: u32,
    last_batch: tokio::time::Instant,
}

impl Cadence {
    fn new(every: u32) -> Self {
        Self {
            every: every.max(1),
            unrecorded: 0,
            last_batch: tokio::time::Instant::now(),
        }
    }

    /// Counts a processed batch; true when it is time to checkpoint.
    fn processed_batch(&mut self) -> bool {
        self.unrecorded += 1;
        self.last_batch = tokio::time::Instant::now();
        self.unrecorded >= self.every
    }

    /// How long until the idle checkpoint, when batches are waiting for one.
    fn idle_checkpoint_in(&self) -> Option<Duration> {
        (self.unrecorded > 0).then(|| {
            (self.last_batch + IDLE_CHECKPOINT)
                .saturating_duration_since(tokio::time::Instant::now())
        })
    }

    fn recorded(&mut self) {
        self.unrecorded = 0;
    }
}

/// One trigger's view of one partition.
struct PartitionProcessor {
    trigger: HubTrigger,
    partition: u32,
    context: HubPartition,
    policy: Option<RetryPolicy>,
    invoker: Invoker,
    dead_letters: DeadLetters,
}

impl PartitionProcessor {
    /// Checkpoints `sequence`; a failure is logged and the checkpoint retried at the next one
    /// (a crash before then redelivers the unrecorded batches, as the service would).
    async fn checkpoint(&self, hubs: &EventHubs, cadence: &mut Cadence, sequence: i64) {
        let trigger = &self.trigger;
        match hubs
            .set_checkpoint(
                &trigger.hub,
                &trigger.consumer_group,
                self.partition,
                sequence,
            )
            .await
        {
            Ok(()) => cadence.recorded(),
            Err(error) => {
                tracing::error!(%error, hub = %trigger.hub, partition = self.partition, "cannot checkpoint; unrecorded batches are redelivered after a restart");
            }
        }
    }

    /// The checkpointed sequence number (retried until read), or `None` when cancelled.
    async fn start_position(&self, hubs: &EventHubs, cancel: &CancellationToken) -> Option<i64> {
        let trigger = &self.trigger;
        loop {
            match hubs
                .checkpoint(&trigger.hub, &trigger.consumer_group, self.partition)
                .await
            {
                Ok(sequence) => return Some(sequence),
                Err(error) => {
                    tracing::error!(%error, "cannot read the Event Hubs checkpoint; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => return None,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Invokes the function on `events` — as one batch (cardinality `many`, isolated per event
    /// by [`super::isolate`]) or one event at a time — and dead-letters each event that still
    /// fails, alone, with its own error.
    async fn handle(
        &self,
        events: Vec<HubEvent>,
        cancel: &CancellationToken,
    ) -> Result<Handled, DeadLetterError> {
        let batches: Vec<Vec<HubEvent>> = if self.trigger.many {
            vec![events]
        } else {
            events.into_iter().map(|e| vec![e]).collect()
        };
        for batch in batches {
            let isolated = run_isolated(&batch, self.policy.as_ref(), cancel, |events, retry| {
                self.invoke(events, retry)
            })
            .await;
            let Some(failures) = isolated else {
                return Ok(Handled::Stopped);
            };
            for failure in failures {
                let event = &failure.item;
                let key = format!(
                    "{}\n{}\n{}\n{}\n{}",
                    self.trigger.function,
                    self.trigger.hub,
                    self.trigger.consumer_group,
                    self.partition,
                    event.sequence_number
                );
                self.dead_letters.write_once(
                    &key,
                    Failed {
                        kind: DeadLetterKind::EventHubs,
                        source: &self.trigger.hub,
                        function: &self.trigger.function,
                        reason: &failure.error,
                        attempts: failure.attempts,
                        payload: json!([{
                            "body": event.body,
                            "partitionKey": event.partition_key,
                            "properties": event.properties,
                            "sequenceNumber": event.sequence_number,
                            "partition": self.partition,
                        }]),
                    },
                )?;
            }
        }
        Ok(Handled::Done)
    }

    async fn invoke(&self, events: Vec<HubEvent>, retry: Option<Value>) -> Result<(), InvokeError> {
        let trigger = &self.trigger;
        let envelope = if trigger.many {
            envelope::event_hubs_many(
                &trigger.function,
                &trigger.binding,
                trigger.data_type.as_deref(),
                &self.context,
                &events,
            )
        } else {
            envelope::event_hubs_one(
                &trigger.function,
                &trigger.binding,
                &self.context,
                &events[0],
            )
        };
        let envelope = match retry {
            Some(retry) => envelope.with_retry_context(retry),
            None => envelope,
        };
        // The producer's `Diagnostic-Id` (see `OutgoingEvent::from_output`): the extension
        // continues the first event's trace.
        let traceparent = events
            .first()
            .and_then(|event| event.properties.get(DIAGNOSTIC_ID))
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.invoker
            .invoke(&trigger.function, envelope, traceparent)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_every_n_batches_and_when_idle_with_batches_unrecorded() {
        let mut every_batch = Cadence::new(1);
        assert!(every_batch.processed_batch());
        every_batch.recorded();
        assert_eq!(every_batch.idle_checkpoint_in(), None, "nothing to record");

        let mut third = Cadence::new(3);
        assert!(!third.processed_batch());
        assert!(!third.processed_batch());
        let idle = third
            .idle_checkpoint_in()
            .expect("two batches wait for a checkpoint");
        assert!(idle <= IDLE_CHECKPOINT);
        assert!(third.processed_batch(), "the third batch checkpoints");
        third.recorded();
        assert_eq!(third.unrecorded, 0);
        assert_eq!(third.idle_checkpoint_in(), None);
    }

    #[test]
    fn batch_checkpoint_frequency_comes_from_host_json() {
        let text = json!({"bindings": [{"type": "eventHubTrigger", "direction": "in",
            "name": "events", "eventHubName": "hub", "connection": "EventHubConnection"}]})
        .to_string();
        let file = std::path::Path::new("functions/Processor/function.json");
        let function =
            FunctionJson::parse("Processor", file, &text, &mut Vec::new()).expect("function.json");
        let default = HubTrigger::of(&function, &EventHubsOptions::default()).expect("trigger");
        assert_eq!(default.checkpoint_every, 1, "the extension's default");
        let host = EventHubsOptions {
            batch_checkpoint_frequency: Some(5),
            ..EventHubsOptions::default()
        };
        assert_eq!(
            HubTrigger::of(&function, &host)
                .expect("trigger")
                .checkpoint_every,
            5
        );
    }

    #[test]
    fn an_event_over_one_megabyte_with_its_properties_is_refused_by_index() {
        let event = |body_bytes: usize| OutgoingEvent {
            body: "x".repeat(body_bytes),
            partition_key: None,
            properties: Map::new(),
        };
        // `{}` is two bytes of properties.
        let fits = vec![event(1), event(EVENT_HUBS_MAX_EVENT_BYTES - 2)];
        assert!(check_sizes(&fits).is_ok());
        let over = vec![event(1), event(EVENT_HUBS_MAX_EVENT_BYTES - 1)];
        let error = check_sizes(&over).unwrap_err();
        assert!(
            matches!(error, HubError::TooLarge { index: 1, bytes } if bytes == EVENT_HUBS_MAX_EVENT_BYTES + 1),
            "{error}"
        );
        assert!(
            error.to_string().contains("event 1 is 1048577 bytes"),
            "{error}"
        );
    }

    #[test]
    fn stable_hash_is_stable() {
        assert_eq!(stable_hash("user-1"), stable_hash("user-1"));
        assert_eq!(stable_hash(""), 0x811c_9dc5);
    }
}
