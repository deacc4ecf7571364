//! The Event Grid topic: publishing durably enqueues one [`Delivery`] per matching
//! subscription (from `infra/eventgrid-subscriptions.json`) in the store, in one batch per
//! subscription; one dispatcher per subscription invokes its `eventGridTrigger` (one event per
//! invocation, as Event Grid delivers by default), up to [`MAX_CONCURRENT_DELIVERIES`] at once,
//! redelivers failures with exponential backoff up to `maxDeliveryAttempts` / the event TTL,
//! then dead-letters the event alone. Finished deliveries are removed in batches: one commit
//! for every delivery that finished while the dispatcher was busy.
//!
//! A dispatcher never polls: it sleeps until an enqueue for its subscription wakes it
//! ([`Topic::publish`], [`Topic::redeliver`]; the data directory is locked to one process, so
//! every enqueue goes through the topic), until the earliest queued redelivery is due, or until
//! a delivery finishes. It finds its due deliveries through a [`DueIndex`] kept in step with
//! the queue, so a deep queue costs no more per look than a short one.
//!
//! Event Grid delivers each event "at least once immediately" to every matching subscription,
//! one event per request by default, without ordering guarantees
//! (learn.microsoft.com/azure/event-grid/delivery-and-retry), so deliveries of a subscription
//! are concurrent. The service publishes no per-subscription concurrency figure; a custom topic
//! accepts 5,000 events/s (learn.microsoft.com/azure/event-grid/quotas-limits). The local bound
//! keeps a burst from starving the rest of the platform.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::containers::{EVENT_GRID_CONTAINER, LEGACY_EVENT_GRID_CONTAINER};
use super::dead_letter::{DeadLetterKind, DeadLetters, Failed};
use super::due_index::DueIndex;
use super::envelope;
use super::invoke::Invoker;
use super::notify::{WriteSignal, sleep_or_never};
use crate::runtime::manifest::{BindingKind, Manifest};
use crate::store::model::MAX_BATCH_OPS;
use crate::store::{BatchOp, ChangeFeedStart, PartitionKey, Query, Store, StoreError};

/// Deliveries in flight per subscription.
pub const MAX_CONCURRENT_DELIVERIES: usize = 64;
/// How long a dispatcher waits before retrying a queue read or removal the store refused.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Event Grid's size limit on one publish request: each event, and the whole array, at most
/// 1 MB, else the topic answers 413 Payload Too Large (learn.microsoft.com/azure/event-grid/event-schema).
/// The `eventGrid` output binding sends all of an invocation's events in one request
/// (`EventGridAsyncCollector.FlushAsync` in Azure/azure-sdk-for-net,
/// sdk/eventgrid/Microsoft.Azure.WebJobs.Extensions.EventGrid/src/OutputBinding), so one output
/// call is one request here.
pub const MAX_PUBLISH_BYTES: usize = 1024 * 1024;

/// Where the subscriptions live, relative to the app root.
pub const SUBSCRIPTIONS_FILE: &str = "infra/eventgrid-subscriptions.json";

const DELIVERY_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x1d6e_2b57_8a0c_4f1e_b3a4_7c59_0e2d_91f6);

/// Delivery schema of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Schema {
    EventGridSchema,
    #[serde(rename = "CloudEventSchemaV1_0")]
    CloudEvents,
}

/// One subscription: which function receives which event types.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub name: String,
    pub function: String,
    pub event_types: Vec<String>,
    pub schema: Schema,
    #[serde(default = "default_attempts")]
    pub max_delivery_attempts: u32,
    #[serde(default = "default_ttl")]
    pub event_time_to_live_minutes: u64,
}

fn default_attempts() -> u32 {
    30
}

fn default_ttl() -> u64 {
    1440
}

#[derive(Deserialize)]
struct SubscriptionsFile {
    topic: String,
    subscriptions: Vec<Subscription>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    #[error("event {index}: {message}")]
    InvalidEvent { index: usize, message: String },
    #[error("subscription `{0}` does not exist")]
    UnknownSubscription(String),
    #[error("413 Payload Too Large: {0}")]
    TooLarge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One queued delivery of one event to one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    pub subscription: String,
    pub function: String,
    /// The event in the subscription's schema.
    pub event: Value,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Unix milliseconds: not delivered before.
    pub due_at: i64,
    pub enqueued_at: i64,
    #[serde(default)]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Delivery {
    fn new(
        id: String,
        subscription: &Subscription,
        event: Value,
        traceparent: Option<&str>,
    ) -> Self {
        let now = Utc::now().timestamp_millis();
        Self {
            id,
            subscription: subscription.name.clone(),
            function: subscription.function.clone(),
            event,
            attempts: 0,
            due_at: now,
            enqueued_at: now,
            traceparent: traceparent.map(str::to_owned),
            last_error: None,
        }
    }

    fn to_doc(&self) -> Result<Value, StoreError> {
        serde_json::to_value(self).map_err(|e| StoreError::Other(e.to_string()))
    }
}

/// The topic and its subscriptions.
#[derive(Clone)]
pub struct Topic {
    store: Store,
    name: String,
    subscriptions: Arc<Vec<Subscription>>,
    /// Wakes a subscription's dispatcher when deliveries are enqueued for it.
    wake: Arc<HashMap<String, Arc<Notify>>>,
    /// Each subscription's queued deliveries by due time.
    due: Arc<HashMap<String, Mutex<DueIndex>>>,
}

impl Topic {
    /// Reads the subscriptions file under `root`, keeping only subscriptions whose function
    /// folder exists (the others are reported once: their functions are not written yet).
    pub fn load(root: &Path, manifest: &Manifest, store: Store) -> Result<Self, TopicError> {
        let file = root.join(SUBSCRIPTIONS_FILE);
        let config = |message: String| TopicError::Config {
            file: SUBSCRIPTIONS_FILE.to_owned(),
            message,
        };
        let parsed = match std::fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str::<SubscriptionsFile>(&text)
                .map_err(|error| config(error.to_string()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => SubscriptionsFile {
                topic: "local".to_owned(),
                subscriptions: Vec::new(),
            },
            Err(error) => return Err(config(error.to_string())),
        };
        let mut subscriptions = Vec::new();
        for subscription in parsed.subscriptions {
            match manifest.function(&subscription.function) {
                Some(function)
                    if function
                        .trigger()
                        .is_some_and(|t| matches!(t.kind, BindingKind::EventGridTrigger)) =>
                {
                    subscriptions.push(subscription);
                }
                Some(_) => {
                    return Err(config(format!(
                        "subscription `{}`: function `{}` has no eventGridTrigger",
                        subscription.name, subscription.function
                    )));
                }
                None => tracing::info!(
                    subscription = %subscription.name,
                    function = %subscription.function,
                    "Event Grid subscription skipped: no functions/{}/function.json yet",
                    subscription.function
                ),
            }
        }
        let wake = subscriptions
            .iter()
            .map(|s: &Subscription| (s.name.clone(), Arc::new(Notify::new())))
            .collect();
        let due = subscriptions
            .iter()
            .map(|s: &Subscription| (s.name.clone(), Mutex::new(DueIndex::default())))
            .collect();
        Ok(Self {
            store,
            name: parsed.topic,
            subscriptions: Arc::new(subscriptions),
            wake: Arc::new(wake),
            due: Arc::new(due),
        })
    }

    /// Runs `f` on `subscription`'s due index (none for an unknown subscription).
    fn with_index<R>(&self, subscription: &str, f: impl FnOnce(&mut DueIndex) -> R) -> Option<R> {
        let index = self.due.get(subscription)?;
        Some(f(&mut index.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// Validates `items` as the output binding does (the first item picks the schema) and
    /// enqueues one delivery per matching subscription, in one batch per subscription. Returns
    /// the number of deliveries. A delivery already queued (same event id) is kept as it is.
    pub async fn publish(
        &self,
        items: Vec<Value>,
        traceparent: Option<&str>,
    ) -> Result<usize, TopicError> {
        let Some(first) = items.first() else {
            return Ok(0);
        };
        let cloud = !is_event_grid_event(first);
        check_size(&items)?;
        let mut queued: HashMap<&str, Vec<Delivery>> = HashMap::new();
        for (index, item) in items.iter().enumerate() {
            let event = if cloud {
                normalise_cloud_event(item, &self.name)
            } else {
                normalise_event_grid(item, &self.name)
            }
            .map_err(|message| TopicError::InvalidEvent { index, message })?;
            let event = match (cloud, traceparent) {
                (true, Some(traceparent)) => with_trace_extension(event, traceparent),
                _ => event,
            };
            let event_type = event_type(&event).unwrap_or_default().to_owned();
            let event_id = event
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            for subscription in self.subscriptions.iter() {
                if !subscription
                    .event_types
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&event_type))
                {
                    continue;
                }
                let id = delivery_id(&subscription.name, &event_id);
                let converted = convert(&event, subscription.schema);
                queued
                    .entry(subscription.name.as_str())
                    .or_default()
                    .push(Delivery::new(id, subscription, converted, traceparent));
            }
        }
        let mut count = 0;
        for (subscription, deliveries) in queued {
            count += deliveries.len();
            self.enqueue(subscription, deliveries).await?;
        }
        Ok(count)
    }

    /// Creates `deliveries` of one subscription, up to [`MAX_BATCH_OPS`] per transactional
    /// batch (one store commit); a batch that hits an existing delivery is redone one by one.
    async fn enqueue(
        &self,
        subscription: &str,
        deliveries: Vec<Delivery>,
    ) -> Result<(), StoreError> {
        let pk = PartitionKey::from(subscription);
        for chunk in deliveries.chunks(MAX_BATCH_OPS) {
            let ops = chunk
                .iter()
                .map(|d| d.to_doc().map(BatchOp::Create))
                .collect::<Result<Vec<_>, _>>()?;
            let response = self.store.batch(EVENT_GRID_CONTAINER, &pk, ops).await?;
            match response.failure() {
                None => {
                    self.with_index(subscription, |index| {
                        for delivery in chunk {
                            index.set(&delivery.id, delivery.due_at);
                        }
                    });
                }
                Some((_, 409)) => {
                    for delivery in chunk {
                        match self
                            .store
                            .create(EVENT_GRID_CONTAINER, &pk, delivery.to_doc()?)
                            .await
                        {
                            Ok(_) => {
                                self.with_index(subscription, |index| {
                                    index.set(&delivery.id, delivery.due_at)
                                });
                            }
                            Err(e) if e.is_conflict() => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Some((index, status)) => {
                    return Err(StoreError::Other(format!(
                        "enqueueing for `{subscription}` failed at operation {index} with status {status}"
                    )));
                }
            }
        }
        if let Some(wake) = self.wake.get(subscription) {
            wake.notify_one();
        }
        Ok(())
    }

    /// Re-enqueues a dead-lettered event for its one subscription. The delivery id derives
    /// from `dead_letter_id`, so replaying the same dead letter twice enqueues it once.
    pub async fn redeliver(
        &self,
        subscription: &str,
        event: Value,
        dead_letter_id: &str,
    ) -> Result<(), TopicError> {
        let subscription = self
            .subscriptions
            .iter()
            .find(|s| s.name == subscription)
            .ok_or_else(|| TopicError::UnknownSubscription(subscription.to_owned()))?;
        let id = delivery_id(&subscription.name, &format!("replay\n{dead_letter_id}"));
        let delivery = Delivery::new(id, subscription, event, None);
        self.enqueue(&subscription.name, vec![delivery]).await?;
        Ok(())
    }

    /// Deliveries waiting, per subscription (for tools and benchmarks).
    pub async fn backlog(&self) -> Result<u64, StoreError> {
        self.store
            .count(EVENT_GRID_CONTAINER, None, &Query::new())
            .await
    }

    /// Moves deliveries left in the earlier one-partition-per-delivery queue into the queue.
    async fn migrate_legacy(&self) -> Result<usize, StoreError> {
        let legacy = self
            .store
            .query(LEGACY_EVENT_GRID_CONTAINER, None, &Query::new())
            .await?;
        let mut moved = 0;
        for doc in legacy {
            let Some(id) = doc.get("id").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            match serde_json::from_value::<Delivery>(doc) {
                Ok(delivery) => {
                    let subscription = delivery.subscription.clone();
                    self.enqueue(&subscription, vec![delivery]).await?;
                    moved += 1;
                }
                Err(error) => {
                    tracing::warn!(%error, delivery = %id, "dropping an unreadable legacy delivery")
                }
            }
            let pk = PartitionKey::from(id.as_str());
            match self
                .store
                .delete(LEGACY_EVENT_GRID_CONTAINER, &pk, &id, None)
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(moved)
    }
}

/// Unix ms, `wait` from now.
fn later(wait: Duration) -> i64 {
    Utc::now().timestamp_millis() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2)
}

fn delivery_id(subscription: &str, event_id: &str) -> String {
    uuid::Uuid::new_v5(
        &DELIVERY_NAMESPACE,
        format!("{subscription}\n{event_id}").as_bytes(),
    )
    .to_string()
}

fn event_type(event: &Value) -> Option<&str> {
    event
        .get("eventType")
        .or_else(|| event.get("type"))
        .and_then(Value::as_str)
}

/// The output binding's test: an Event Grid event has id, subject, eventType and dataVersion.
fn is_event_grid_event(item: &Value) -> bool {
    let item = unwrap_string(item);
    ["id", "subject", "eventType", "dataVersion"]
        .iter()
        .all(|field| item.get(field).is_some_and(Value::is_string))
}

/// Refuses a publish request over [`MAX_PUBLISH_BYTES`] (one event, or the array), measured
/// as the compact JSON the binding sends.
fn check_size(items: &[Value]) -> Result<(), TopicError> {
    let mut total = 2 + items.len().saturating_sub(1);
    for (index, item) in items.iter().enumerate() {
        let bytes = match item {
            Value::String(text) => text.len(),
            other => serde_json::to_vec(other).map_or(0, |v| v.len()),
        };
        if bytes > MAX_PUBLISH_BYTES {
            return Err(TopicError::TooLarge(format!(
                "event {index} is {bytes} bytes; Event Grid accepts at most {MAX_PUBLISH_BYTES}"
            )));
        }
        total += bytes;
    }
    if total > MAX_PUBLISH_BYTES {
        return Err(TopicError::TooLarge(format!(
            "the {} events are {total} bytes in one request; Event Grid accepts at most {MAX_PUBLISH_BYTES}",
            items.len()
        )));
    }
    Ok(())
}

fn unwrap_string(item: &Value) -> Value {
    match item {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn require(object: &Map<String, Value>, field: &str) -> Result<(), String> {
    match object.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(()),
        _ => Err(format!("`{field}` must be a non-empty string")),
    }
}

fn normalise_event_grid(item: &Value, topic: &str) -> Result<Value, String> {
    let Value::Object(mut object) = unwrap_string(item) else {
        return Err("expected an Event Grid event object".into());
    };
    for field in ["id", "subject", "eventType"] {
        require(&object, field)?;
    }
    if !object.get("dataVersion").is_some_and(Value::is_string) {
        return Err("`dataVersion` must be a string".into());
    }
    object
        .entry("eventTime")
        .or_insert_with(|| json!(Utc::now().to_rfc3339()));
    object
        .entry("metadataVersion")
        .or_insert_with(|| json!("1"));
    let topic_path = format!("/local/topics/{topic}");
    object.insert("topic".into(), json!(topic_path));
    object.entry("data").or_insert(Value::Null);
    Ok(Value::Object(object))
}

fn normalise_cloud_event(item: &Value, topic: &str) -> Result<Value, String> {
    let Value::Object(mut object) = unwrap_string(item) else {
        return Err("expected a CloudEvents 1.0 object".into());
    };
    match object.get("specversion").and_then(Value::as_str) {
        Some("1.0") => {}
        _ => {
            return Err(
                "neither an Event Grid event (id, subject, eventType, dataVersion) nor a CloudEvent (`specversion` must be \"1.0\")"
                    .into(),
            );
        }
    }
    for field in ["id", "type"] {
        require(&object, field)?;
    }
    object
        .entry("source")
        .or_insert_with(|| json!(format!("/local/topics/{topic}")));
    object
        .entry("time")
        .or_insert_with(|| json!(Utc::now().to_rfc3339()));
    Ok(Value::Object(object))
}

/// A CloudEvent with the distributed-tracing extension (cloudevents/spec
/// extensions/distributed-tracing.md): the publishing SDK adds the current `traceparent` unless
/// the event already has `traceparent` or `tracestate` (azure-sdk-for-net
/// sdk/eventgrid/Azure.Messaging.EventGrid/src/Customization/EventGridPublisherClient.cs).
/// Event Grid schema events have no extension attributes and are left as they are.
fn with_trace_extension(mut event: Value, traceparent: &str) -> Value {
    if let Value::Object(object) = &mut event
        && !object.contains_key("traceparent")
        && !object.contains_key("tracestate")
    {
        object.insert("traceparent".into(), json!(traceparent));
    }
    event
}

/// The event in the subscription's delivery schema.
fn convert(event: &Value, schema: Schema) -> Value {
    let cloud = event.get("specversion").is_some();
    match (schema, cloud) {
        (Schema::EventGridSchema, false) | (Schema::CloudEvents, true) => event.clone(),
        (Schema::CloudEvents, false) => {
            let mut out = json!({
                "specversion": "1.0",
                "id": event["id"],
                "source": event["topic"],
                "subject": event["subject"],
                "type": event["eventType"],
                "time": event["eventTime"],
                "datacontenttype": "application/json",
                "data": event["data"],
            });
            if let Some(version) = event.get("dataVersion").and_then(Value::as_str)
                && !version.is_empty()
            {
                out["dataschema"] = json!(version);
            }
            out
        }
        (Schema::EventGridSchema, true) => json!({
            "id": event["id"],
            "topic": event["source"],
            "subject": event.get("subject").cloned().unwrap_or(json!("")),
            "eventType": event["type"],
            "eventTime": event["time"],
            "data": event.get("data").cloned().unwrap_or(Value::Null),
            "dataVersion": event.get("dataschema").cloned().unwrap_or(json!("")),
            "metadataVersion": "1",
        }),
    }
}

/// Redelivery timing.
#[derive(Debug, Clone, Copy)]
pub struct Redelivery {
    /// Delay before the first redelivery; doubles each attempt.
    pub base: Duration,
    /// Upper bound of a delay.
    pub max: Duration,
}

impl Default for Redelivery {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Redelivery {
    fn delay(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(20);
        self.base
            .checked_mul(1u32 << exponent)
            .map_or(self.max, |d| d.min(self.max))
    }
}

/// Delivers queued events until `cancel`; in-flight deliveries finish first.
pub async fn dispatch(
    topic: Topic,
    invoker: Invoker,
    dead_letters: DeadLetters,
    redelivery: Redelivery,
    signal: WriteSignal,
    cancel: CancellationToken,
) {
    // Enqueues announce themselves to their dispatcher (`Topic::wake`); deliveries written by
    // an earlier process are found by each dispatcher's first look.
    drop(signal);
    match topic.migrate_legacy().await {
        Ok(0) => {}
        Ok(moved) => tracing::info!(moved, "moved deliveries into the per-subscription queue"),
        Err(error) => tracing::error!(%error, "cannot move deliveries of the earlier queue"),
    }
    let mut dispatchers = JoinSet::new();
    for subscription in topic.subscriptions.iter() {
        let dispatcher = Dispatcher {
            topic: topic.clone(),
            subscription: subscription.clone(),
            invoker: invoker.clone(),
            dead_letters: dead_letters.clone(),
            redelivery,
        };
        dispatchers.spawn(dispatcher.run(cancel.clone()));
    }
    while dispatchers.join_next().await.is_some() {}
}

/// What became of one delivery attempt.
enum Outcome {
    /// Delivered or dead-lettered: remove it from the queue.
    Finished,
    /// Failed; due again at this time (unix ms).
    Rescheduled(i64),
    /// Could not be recorded; it stays as it is and is picked up again.
    Unrecorded,
}

/// The deliveries of one subscription.
struct Dispatcher {
    topic: Topic,
    subscription: Subscription,
    invoker: Invoker,
    dead_letters: DeadLetters,
    redelivery: Redelivery,
}

impl Dispatcher {
    fn pk(&self) -> PartitionKey {
        PartitionKey::from(self.subscription.name.as_str())
    }

    async fn run(self, cancel: CancellationToken) {
        let wake = self
            .topic
            .wake
            .get(&self.subscription.name)
            .cloned()
            .unwrap_or_default();
        let activity = self.invoker.activity().clone();
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut finished: Vec<String> = Vec::new();
        let mut tasks: JoinSet<(String, Outcome)> = JoinSet::new();
        // Look for due deliveries when woken, when a redelivery is due, or when the last look
        // was cut short by the concurrency bound and a slot has freed up.
        let mut look = true;
        let mut saturated = false;
        // Unix ms: the earliest queued redelivery, and when to retry a failed store call.
        let mut next_due: Option<i64> = None;
        let mut retry_at: Option<i64> = None;
        // Whether the due index holds the deliveries an earlier process left.
        let mut loaded = false;
        loop {
            if !self.remove(&mut finished, &mut in_flight).await {
                retry_at = Some(later(STORE_RETRY));
            }
            let capacity = MAX_CONCURRENT_DELIVERIES.saturating_sub(in_flight.len());
            if look && capacity > 0 {
                match self.due(capacity, &in_flight, &mut loaded).await {
                    Ok((due, next)) => {
                        next_due = next;
                        saturated = due.len() >= capacity;
                        for delivery in due {
                            if in_flight.len() >= MAX_CONCURRENT_DELIVERIES {
                                saturated = true;
                                break;
                            }
                            if !in_flight.insert(delivery.id.clone()) {
                                continue;
                            }
                            let this = self.clone_parts();
                            tasks.spawn(async move {
                                let id = delivery.id.clone();
                                (id, this.deliver(delivery).await)
                            });
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, subscription = %self.subscription.name, "cannot read Event Grid deliveries");
                        retry_at = Some(later(STORE_RETRY));
                    }
                }
            }
            let now = Utc::now().timestamp_millis();
            let wait = [next_due, retry_at]
                .into_iter()
                .flatten()
                .min()
                .map(|at| Duration::from_millis(u64::try_from(at - now).unwrap_or(0)));
            tokio::select! {
                () = cancel.cancelled() => break,
                Some(done) = tasks.join_next() => {
                    let mut done = Some(done);
                    while let Some(joined) = done.take().or_else(|| tasks.try_join_next()) {
                        let Ok((id, outcome)) = joined else { continue };
                        match outcome {
                            Outcome::Finished => finished.push(id),
                            Outcome::Rescheduled(due) => {
                                in_flight.remove(&id);
                                next_due = Some(next_due.map_or(due, |d| d.min(due)));
                            }
                            Outcome::Unrecorded => {
                                in_flight.remove(&id);
                                retry_at = Some(later(STORE_RETRY));
                            }
                        }
                    }
                    look = saturated;
                }
                () = wake.notified() => look = true,
                () = sleep_or_never(wait) => {
                    // The look recomputes both from the queue.
                    look = true;
                    (next_due, retry_at) = (None, None);
                }
            }
            activity.woke();
        }
        while let Some(joined) = tasks.join_next().await {
            if let Ok((id, Outcome::Finished)) = joined {
                finished.push(id);
            }
        }
        self.remove(&mut finished, &mut in_flight).await;
    }

    fn clone_parts(&self) -> Self {
        Self {
            topic: self.topic.clone(),
            subscription: self.subscription.clone(),
            invoker: self.invoker.clone(),
            dead_letters: self.dead_letters.clone(),
            redelivery: self.redelivery,
        }
    }

    /// Up to `limit` due deliveries not in `busy`, earliest first, and when the next one not
    /// yet due is due (unix ms). The first look fills the due index from the queue. An
    /// unreadable queue entry is dead-lettered as it is and removed, so it cannot stall the
    /// subscription.
    async fn due(
        &self,
        limit: usize,
        busy: &HashSet<String>,
        loaded: &mut bool,
    ) -> Result<(Vec<Delivery>, Option<i64>), StoreError> {
        let store = &self.topic.store;
        let pk = self.pk();
        let name = self.subscription.name.as_str();
        if !*loaded {
            self.load_index().await?;
            *loaded = true;
        }
        let now = Utc::now().timestamp_millis();
        let look = || {
            self.topic
                .with_index(name, |index| index.due(now, limit, busy))
                .unwrap_or_default()
        };
        let (mut ids, mut next) = look();
        if ids.is_empty() && self.index_misses_deliveries().await? {
            // Only a delivery this process enqueued but did not index (its enqueue was dropped
            // between the store commit and the index) gets here; the store is the record.
            tracing::debug!(subscription = %name, "due index reloaded from the queue");
            self.load_index().await?;
            (ids, next) = look();
        }
        let mut due = Vec::with_capacity(ids.len());
        for (id, generation) in ids {
            let Some(doc) = store.read(EVENT_GRID_CONTAINER, &pk, &id).await? else {
                // Unless it was enqueued again since the look.
                self.topic
                    .with_index(name, |index| index.remove_if_unchanged(&id, generation));
                continue;
            };
            match serde_json::from_value::<Delivery>(doc.clone()) {
                Ok(delivery) if delivery.due_at > now => {
                    next = Some(next.map_or(delivery.due_at, |n| n.min(delivery.due_at)));
                    self.topic
                        .with_index(name, |index| index.set(&id, delivery.due_at));
                }
                Ok(delivery) => due.push(delivery),
                Err(error) => self.set_aside(doc, &error.to_string()).await,
            }
        }
        Ok((due, next))
    }

    /// Fills the due index with every queued delivery of the subscription.
    async fn load_index(&self) -> Result<(), StoreError> {
        let docs = self
            .topic
            .store
            .query(EVENT_GRID_CONTAINER, Some(&self.pk()), &Query::new())
            .await?;
        for doc in docs {
            match serde_json::from_value::<Delivery>(doc.clone()) {
                Ok(delivery) => {
                    self.topic.with_index(&self.subscription.name, |index| {
                        index.set(&delivery.id, delivery.due_at)
                    });
                }
                Err(error) => self.set_aside(doc, &error.to_string()).await,
            }
        }
        Ok(())
    }

    /// True when the store holds more queued deliveries for the subscription than the due
    /// index (counted by key, where the store can count; never true where it cannot).
    async fn index_misses_deliveries(&self) -> Result<bool, StoreError> {
        let queued = self
            .topic
            .store
            .change_feed_backlog(
                EVENT_GRID_CONTAINER,
                &ChangeFeedStart::Beginning,
                Some(&self.pk()),
            )
            .await?;
        let indexed = self
            .topic
            .with_index(&self.subscription.name, |index| index.len())
            .unwrap_or(0);
        Ok(queued.is_some_and(|q| q.pending > indexed as u64))
    }

    async fn set_aside(&self, doc: Value, error: &str) {
        let id = doc
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let reason = format!("unreadable queued delivery: {error}");
        if let Err(error) = self.dead_letters.write(Failed {
            kind: DeadLetterKind::EventGrid,
            source: &self.subscription.name,
            function: &self.subscription.function,
            reason: &reason,
            attempts: 0,
            payload: doc,
        }) {
            tracing::error!(%error, delivery = %id, "cannot dead-letter an unreadable delivery");
            return;
        }
        if let Err(error) = self
            .topic
            .store
            .delete(EVENT_GRID_CONTAINER, &self.pk(), &id, None)
            .await
        {
            tracing::error!(%error, delivery = %id, "cannot remove an unreadable delivery");
            return;
        }
        self.topic
            .with_index(&self.subscription.name, |index| index.remove(&id));
    }

    /// Removes finished deliveries, up to [`MAX_BATCH_OPS`] per store commit; a batch that
    /// hits an already removed one is redone one by one. What cannot be removed stays in
    /// flight (and is retried) so it is not delivered again; false when something stayed.
    async fn remove(&self, finished: &mut Vec<String>, in_flight: &mut HashSet<String>) -> bool {
        if finished.is_empty() {
            return true;
        }
        let store = &self.topic.store;
        let pk = self.pk();
        // Out of the index before out of the queue: an enqueue of the same id that lands after
        // the store delete then adds it back to the index, and one that lands before it finds
        // the finished delivery still queued (409) and is a duplicate of it.
        self.topic.with_index(&self.subscription.name, |index| {
            for id in finished.iter() {
                index.remove(id);
            }
        });
        let mut kept = Vec::new();
        for chunk in finished.chunks(MAX_BATCH_OPS) {
            let ops = chunk
                .iter()
                .map(|id| BatchOp::Delete {
                    id: id.clone(),
                    if_match: None,
                })
                .collect();
            let whole = match store.batch(EVENT_GRID_CONTAINER, &pk, ops).await {
                Ok(response) => response.is_success(),
                Err(error) => {
                    tracing::error!(%error, "cannot remove finished deliveries in one batch");
                    false
                }
            };
            if whole {
                continue;
            }
            for id in chunk {
                match store.delete(EVENT_GRID_CONTAINER, &pk, id, None).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(error) => {
                        tracing::error!(%error, delivery = %id, "cannot remove a finished delivery");
                        kept.push(id.clone());
                    }
                }
            }
        }
        for id in finished.drain(..) {
            if !kept.contains(&id) {
                in_flight.remove(&id);
            }
        }
        *finished = kept;
        finished.is_empty()
    }

    async fn deliver(&self, mut delivery: Delivery) -> Outcome {
        let function = &self.subscription.function;
        let binding = self
            .invoker
            .manifest()
            .function(function)
            .and_then(|f| f.trigger())
            .map_or_else(|| "event".to_owned(), |t| t.name.clone());
        let result = self
            .invoker
            .invoke(
                function,
                envelope::event_grid(function, &binding, &delivery.event),
                delivery.traceparent.clone(),
            )
            .await;
        let error = match result {
            Ok(_) => return Outcome::Finished,
            Err(error) => error,
        };
        let attempts = delivery.attempts + 1;
        let max_attempts = self.subscription.max_delivery_attempts.max(1);
        let ttl_ms = i64::try_from(self.subscription.event_time_to_live_minutes)
            .unwrap_or(i64::MAX / 60_000)
            .saturating_mul(60_000);
        let now = Utc::now().timestamp_millis();
        let delay = i64::try_from(self.redelivery.delay(attempts).as_millis()).unwrap_or(i64::MAX);
        let expired = now.saturating_add(delay) - delivery.enqueued_at > ttl_ms;
        if attempts >= max_attempts || expired {
            let reason = if expired {
                format!("event time-to-live passed after {attempts} attempts; last error: {error}")
            } else {
                format!("maxDeliveryAttempts ({max_attempts}) reached; last error: {error}")
            };
            return match self.dead_letters.write_once(
                &delivery.id,
                Failed {
                    kind: DeadLetterKind::EventGrid,
                    source: &self.subscription.name,
                    function,
                    reason: &reason,
                    attempts,
                    payload: delivery.event,
                },
            ) {
                Ok(_) => Outcome::Finished,
                Err(error) => {
                    tracing::error!(%error, delivery = %delivery.id, "cannot dead-letter; will retry");
                    Outcome::Unrecorded
                }
            };
        }
        delivery.attempts = attempts;
        delivery.due_at = now.saturating_add(delay);
        delivery.last_error = Some(error.to_string());
        let due = delivery.due_at;
        let id = delivery.id.clone();
        let written = match delivery.to_doc() {
            Ok(doc) => {
                self.topic
                    .store
                    .upsert(EVENT_GRID_CONTAINER, &self.pk(), doc)
                    .await
            }
            Err(error) => Err(error),
        };
        match written {
            Ok(_) => {
                self.topic
                    .with_index(&self.subscription.name, |index| index.set(&id, due));
                Outcome::Rescheduled(due)
            }
            Err(error) => {
                tracing::error!(%error, delivery = %id, "cannot schedule the redelivery");
                Outcome::Unrecorded
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_detection_and_conversion() {
        let eg = json!({"id":"1","subject":"users/u1","eventType":"T","dataVersion":"1.0","data":{"a":1}});
        assert!(is_event_grid_event(&eg));
        let normal = normalise_event_grid(&eg, "t").unwrap();
        let cloud = convert(&normal, Schema::CloudEvents);
        assert_eq!(cloud["type"], "T");
        assert_eq!(cloud["specversion"], "1.0");
        let ce = json!({"specversion":"1.0","id":"2","source":"s","type":"U"});
        assert!(!is_event_grid_event(&ce));
        assert_eq!(
            convert(
                &normalise_cloud_event(&ce, "t").unwrap(),
                Schema::EventGridSchema
            )["eventType"],
            "U"
        );
        assert!(normalise_cloud_event(&json!({"id":"x"}), "t").is_err());
    }

    #[test]
    fn redelivery_doubles_and_caps() {
        let r = Redelivery {
            base: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        assert_eq!(r.delay(1), Duration::from_millis(100));
        assert_eq!(r.delay(2), Duration::from_millis(200));
        assert_eq!(r.delay(3), Duration::from_millis(350));
    }
}
