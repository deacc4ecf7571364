//! Output bindings: after a successful invocation, each `Outputs.<name>` is written according to
//! the function.json binding of that name — `eventGrid` to the topic, `eventHub` to the hub
//! log, `webPubSub` to the embedded hub, `cosmosDB` upserted into the store.

use serde_json::Value;
use tracing::Instrument;

use super::containers::Containers;
use super::event_grid::{Topic, TopicError};
use super::event_hubs::{EventHubs, HubError, OutgoingEvent};
use super::webpubsub::{ActionError, Hub, WebPubSubAction};
use crate::runtime::Direction;
use crate::runtime::InvocationResponse;
use crate::runtime::manifest::{Binding, BindingKind, FunctionJson};
use crate::runtime::telemetry::{self, metrics};
use crate::store::{Store, StoreError, StoreResult};

/// A failed output write; fails the invocation.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output `{binding}`: {message}")]
    Invalid { binding: String, message: String },
    #[error("output `{binding}` (eventGrid): {source}")]
    EventGrid { binding: String, source: TopicError },
    #[error("output `{binding}` (eventHub): {source}")]
    EventHub { binding: String, source: HubError },
    #[error("output `{binding}` (webPubSub): {source}")]
    WebPubSub {
        binding: String,
        source: ActionError,
    },
    #[error("output `{binding}` (cosmosDB, container `{container}`): {source}")]
    Cosmos {
        binding: String,
        container: String,
        source: StoreError,
    },
}

/// Everything output bindings write to.
#[derive(Clone)]
pub struct OutputSinks {
    pub store: Store,
    pub containers: Containers,
    pub topic: Topic,
    pub hubs: EventHubs,
    pub pubsub: Hub,
}

/// The host's reading of a non-HTTP output value: an array gives its elements, an object one
/// item, a string holding JSON is parsed first.
pub fn items(value: &Value) -> Vec<Value> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(values) => values.clone(),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(values)) => values,
            Ok(parsed @ Value::Object(_)) => vec![parsed],
            _ => vec![value.clone()],
        },
        other => vec![other.clone()],
    }
}

impl OutputSinks {
    /// Writes every output of `response` that `function` declares, each in a span of its own
    /// (the trace shows every event, message and document an invocation sent).
    pub async fn write(
        &self,
        function: &FunctionJson,
        response: &InvocationResponse,
        traceparent: &str,
    ) -> Result<(), OutputError> {
        for binding in &function.bindings {
            if binding.direction != Direction::Out {
                continue;
            }
            let Some(value) = response.output(&binding.name) else {
                continue;
            };
            let kind = binding.kind.type_name();
            let span = tracing::info_span!(
                "output",
                otel.name = %format!("{kind} {}", binding.name),
                otel.kind = "producer",
                cosmospark.binding = kind,
                cosmospark.output = %binding.name,
            );
            // What the written events carry: this span when spans have ids.
            let traceparent =
                telemetry::traceparent_of(&span).unwrap_or_else(|| traceparent.to_owned());
            self.write_one(binding, value, &traceparent)
                .instrument(span)
                .await?;
        }
        Ok(())
    }

    async fn write_one(
        &self,
        binding: &Binding,
        value: &Value,
        traceparent: &str,
    ) -> Result<(), OutputError> {
        let name = binding.name.clone();
        match &binding.kind {
            BindingKind::EventGrid { .. } => {
                self.topic
                    .publish(items(value), Some(traceparent))
                    .await
                    .map_err(|source| OutputError::EventGrid {
                        binding: name,
                        source,
                    })?;
            }
            BindingKind::EventHub { event_hub_name, .. } => {
                let hub = event_hub_name.clone().ok_or_else(|| OutputError::Invalid {
                    binding: name.clone(),
                    message: "function.json sets no `eventHubName`".into(),
                })?;
                let events = items(value)
                    .into_iter()
                    .map(|item| OutgoingEvent::from_output(item, traceparent))
                    .collect();
                self.hubs
                    .send(&hub, events)
                    .await
                    .map_err(|source| OutputError::EventHub {
                        binding: name,
                        source,
                    })?;
            }
            BindingKind::WebPubSub { hub, .. } => {
                let hub = hub.clone().ok_or_else(|| OutputError::Invalid {
                    binding: name.clone(),
                    message: "function.json sets no `hub`".into(),
                })?;
                let actions = WebPubSubAction::parse_many(value).map_err(|source| {
                    OutputError::WebPubSub {
                        binding: name.clone(),
                        source,
                    }
                })?;
                let mut sent = 0;
                for action in actions {
                    sent += self.pubsub.apply(&hub, action);
                }
                metrics::hub_messages(&hub, u64::try_from(sent).unwrap_or(u64::MAX));
            }
            BindingKind::CosmosDb { container_name, .. } => {
                let container = container_name.clone().ok_or_else(|| OutputError::Invalid {
                    binding: name.clone(),
                    message: "function.json sets no `containerName`".into(),
                })?;
                for item in items(value) {
                    self.upsert(&container, item)
                        .await
                        .map_err(|source| OutputError::Cosmos {
                            binding: name.clone(),
                            container: container.clone(),
                            source,
                        })?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn upsert(&self, container: &str, item: Value) -> StoreResult<()> {
        let item = match item {
            Value::String(text) => serde_json::from_str(&text).map_err(|error| {
                StoreError::BadRequest(format!("item is a string but not a JSON object: {error}"))
            })?,
            other => other,
        };
        if !item.is_object() {
            return Err(StoreError::BadRequest(
                "each item must be a JSON object with `id` and the partition key".into(),
            ));
        }
        let spec = self.containers.spec(container)?;
        let pk = spec.partition_key_of(&item)?;
        self.store.upsert(container, &pk, item).await?;
        Ok(())
    }
}
