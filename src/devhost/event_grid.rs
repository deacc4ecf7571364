//! The Event Grid topic: publishing durably enqueues one delivery per matching subscription
//! (from `infra/eventgrid-subscriptions.json`) in the store; the dispatcher invokes each
//! subscriber's `eventGridTrigger` (one invocation per event), redelivers failures with
//! exponential backoff up to `maxDeliveryAttempts` / the event TTL, then dead-letters to disk.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::containers::EVENT_GRID_CONTAINER;
use super::dead_letter::{DeadLetterKind, DeadLetters};
use super::envelope;
use super::invoke::Invoker;
use super::notify::WriteSignal;
use crate::runtime::manifest::{BindingKind, Manifest};
use crate::store::{CmpOp, PartitionKey, Query, SortOrder, Store, StoreError};

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The topic and its subscriptions.
#[derive(Clone)]
pub struct Topic {
    store: Store,
    name: String,
    subscriptions: Arc<Vec<Subscription>>,
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
        Ok(Self {
            store,
            name: parsed.topic,
            subscriptions: Arc::new(subscriptions),
        })
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// Validates `items` as the output binding does (the first item picks the schema) and
    /// enqueues one delivery per matching subscription. Returns the number of deliveries.
    pub async fn publish(
        &self,
        items: Vec<Value>,
        traceparent: Option<&str>,
    ) -> Result<usize, TopicError> {
        let Some(first) = items.first() else {
            return Ok(0);
        };
        let cloud = !is_event_grid_event(first);
        let mut deliveries = 0;
        for (index, item) in items.iter().enumerate() {
            let event = if cloud {
                normalise_cloud_event(item, &self.name)
            } else {
                normalise_event_grid(item, &self.name)
            }
            .map_err(|message| TopicError::InvalidEvent { index, message })?;
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
                let delivery_id = uuid::Uuid::new_v5(
                    &DELIVERY_NAMESPACE,
                    format!("{}\n{event_id}", subscription.name).as_bytes(),
                )
                .to_string();
                let converted = convert(&event, subscription.schema);
                match self
                    .enqueue(&delivery_id, subscription, converted, traceparent)
                    .await
                {
                    Ok(()) | Err(StoreError::Conflict(_)) => deliveries += 1,
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(deliveries)
    }

    async fn enqueue(
        &self,
        delivery_id: &str,
        subscription: &Subscription,
        event: Value,
        traceparent: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_millis();
        let doc = json!({
            "id": delivery_id,
            "subscription": subscription.name,
            "function": subscription.function,
            "event": event,
            "attempts": 0,
            "dueAt": now,
            "enqueuedAt": now,
            "traceparent": traceparent,
        });
        self.store
            .create(EVENT_GRID_CONTAINER, &PartitionKey::from(delivery_id), doc)
            .await
            .map(|_| ())
    }

    /// Re-enqueues a dead-lettered event for its one subscription, as a fresh delivery.
    pub async fn redeliver(&self, subscription: &str, event: Value) -> Result<(), TopicError> {
        let subscription = self
            .subscriptions
            .iter()
            .find(|s| s.name == subscription)
            .ok_or_else(|| TopicError::UnknownSubscription(subscription.to_owned()))?;
        let id = uuid::Uuid::new_v4().to_string();
        self.enqueue(&id, subscription, event, None).await?;
        Ok(())
    }
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
    let mut wake = signal.subscribe();
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    loop {
        wake.borrow_and_update();
        let now = Utc::now().timestamp_millis();
        let query = Query::new()
            .filter("/dueAt", CmpOp::Le, now)
            .order_by("/dueAt", SortOrder::Asc)
            .top(256);
        match topic.store.query(EVENT_GRID_CONTAINER, None, &query).await {
            Ok(due) => {
                for delivery in due {
                    let Some(id) = delivery
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                    else {
                        continue;
                    };
                    if !in_flight.insert(id.clone()) {
                        continue;
                    }
                    let (topic, invoker, dead_letters) =
                        (topic.clone(), invoker.clone(), dead_letters.clone());
                    tasks.spawn(async move {
                        deliver(&topic, &invoker, &dead_letters, redelivery, delivery).await;
                        id
                    });
                }
            }
            Err(error) => tracing::error!(%error, "cannot read Event Grid deliveries"),
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            Some(done) = tasks.join_next() => {
                if let Ok(id) = done {
                    in_flight.remove(&id);
                }
            }
            _ = wake.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(25)) => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}

async fn deliver(
    topic: &Topic,
    invoker: &Invoker,
    dead_letters: &DeadLetters,
    redelivery: Redelivery,
    mut delivery: Value,
) {
    let id = delivery["id"].as_str().unwrap_or_default().to_owned();
    let pk = PartitionKey::from(id.as_str());
    let function = delivery["function"].as_str().unwrap_or_default().to_owned();
    let subscription_name = delivery["subscription"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let event = delivery["event"].clone();
    let binding = invoker
        .manifest()
        .function(&function)
        .and_then(|f| f.trigger())
        .map(|t| t.name.clone())
        .unwrap_or_else(|| "event".to_owned());
    let traceparent = delivery["traceparent"].as_str().map(str::to_owned);
    let result = invoker
        .invoke(
            &function,
            envelope::event_grid(&function, &binding, &event),
            traceparent,
        )
        .await;
    let store = &topic.store;
    let error = match result {
        Ok(_) => {
            if let Err(error) = store.delete(EVENT_GRID_CONTAINER, &pk, &id, None).await {
                tracing::error!(%error, delivery = %id, "delivered but cannot remove the delivery");
            }
            return;
        }
        Err(error) => error,
    };
    let attempts = delivery["attempts"].as_u64().unwrap_or(0) as u32 + 1;
    let subscription = topic
        .subscriptions
        .iter()
        .find(|s| s.name == subscription_name);
    let (max_attempts, ttl_ms) = subscription.map_or((30, 1440 * 60_000), |s| {
        (
            s.max_delivery_attempts.max(1),
            s.event_time_to_live_minutes as i64 * 60_000,
        )
    });
    let now = Utc::now().timestamp_millis();
    let enqueued = delivery["enqueuedAt"].as_i64().unwrap_or(now);
    let delay = redelivery.delay(attempts);
    let expired = now + delay.as_millis() as i64 - enqueued > ttl_ms;
    if attempts >= max_attempts || expired {
        let reason = if expired {
            format!("event time-to-live passed after {attempts} attempts; last error: {error}")
        } else {
            format!("maxDeliveryAttempts ({max_attempts}) reached; last error: {error}")
        };
        match dead_letters.write(
            DeadLetterKind::EventGrid,
            &subscription_name,
            &function,
            &reason,
            attempts,
            event,
        ) {
            Ok(_) => {
                if let Err(error) = store.delete(EVENT_GRID_CONTAINER, &pk, &id, None).await {
                    tracing::error!(%error, delivery = %id, "dead-lettered but cannot remove the delivery");
                }
            }
            Err(error) => tracing::error!(%error, delivery = %id, "cannot dead-letter; will retry"),
        }
        return;
    }
    delivery["attempts"] = json!(attempts);
    delivery["dueAt"] = json!(now + delay.as_millis() as i64);
    delivery["lastError"] = json!(error.to_string());
    if let Err(error) = store.upsert(EVENT_GRID_CONTAINER, &pk, delivery).await {
        tracing::error!(%error, delivery = %id, "cannot schedule the redelivery");
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
