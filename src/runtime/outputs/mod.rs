//! Typed outputs: what a function hands back for each output binding, and the [`Outputs`]
//! collection that becomes the response envelope's `Outputs` / `ReturnValue`.

mod http;
mod web_pubsub;

pub use http::HttpResponseData;
pub use web_pubsub::{WebPubSubAction, WebPubSubActionName, WebPubSubDataType};

use serde::Serialize;
use serde_json::{Map, Value};

use super::triggers::EventGridEvent;

/// A value that can be written to an output binding of function.json `type` [`Self::BINDING_TYPE`].
pub trait OutputBinding {
    const BINDING_TYPE: &'static str;

    /// The value as the host expects it in `Outputs.<name>`.
    fn into_output_value(self) -> Value;
}

/// Events for an `eventGrid` output (all in one schema: the first item picks it on the host).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct EventGridEvents(pub Vec<EventGridEvent>);

/// Events for an `eventHub` output, one event per element (objects are sent as JSON text).
/// Each must fit [`EVENT_HUBS_MAX_EVENT_BYTES`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct EventHubEvents(pub Vec<Value>);

/// Event Hubs' largest event on the Standard, Premium and Dedicated tiers: 1 MB
/// (learn.microsoft.com/azure/event-hubs/event-hubs-quotas, "Maximum size of Event Hubs
/// publication"). The `eventHub` output adds events to an `EventDataBatch` of that size and
/// throws "Event is too large" for one that does not fit an empty batch, failing the whole
/// invocation (`EventHubAsyncCollector.AddAsync` in Azure/azure-sdk-for-net,
/// sdk/eventhub/Microsoft.Azure.WebJobs.Extensions.EventHubs).
pub const EVENT_HUBS_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Actions for a `webPubSub` output.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct WebPubSubActions(pub Vec<WebPubSubAction>);

/// Documents for a `cosmosDB` output, each upserted (needs `id` and the partition key).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct CosmosDocumentsOut(pub Vec<Value>);

macro_rules! array_output {
    ($type:ty, $binding:literal) => {
        impl OutputBinding for $type {
            const BINDING_TYPE: &'static str = $binding;
            fn into_output_value(self) -> Value {
                serde_json::to_value(self.0).unwrap_or(Value::Array(Vec::new()))
            }
        }
    };
}

array_output!(EventGridEvents, "eventGrid");
array_output!(EventHubEvents, "eventHub");
array_output!(WebPubSubActions, "webPubSub");
array_output!(CosmosDocumentsOut, "cosmosDB");

impl OutputBinding for HttpResponseData {
    const BINDING_TYPE: &'static str = "http";
    fn into_output_value(self) -> Value {
        self.into_value()
    }
}

/// What one invocation writes: named outputs, the `$return` value and extra log lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    pub values: Map<String, Value>,
    pub return_value: Option<Value>,
    pub logs: Vec<String>,
}

impl Outputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `value` to output binding `name`.
    pub fn set<O: OutputBinding>(mut self, name: &str, value: O) -> Self {
        self.values
            .insert(name.to_owned(), value.into_output_value());
        self
    }

    /// Writes a raw JSON value to output binding `name`.
    pub fn set_raw(mut self, name: &str, value: Value) -> Self {
        self.values.insert(name.to_owned(), value);
        self
    }

    /// Sets the `$return` binding's value.
    pub fn with_return(mut self, value: Value) -> Self {
        self.return_value = Some(value);
        self
    }

    /// Adds a line to the invocation's `Logs` (tracing events are captured as well).
    pub fn log(mut self, line: impl Into<String>) -> Self {
        self.logs.push(line.into());
        self
    }

    /// Moves every output of `other` into `self`.
    pub fn merge(&mut self, other: Outputs) {
        self.values.extend(other.values);
        if other.return_value.is_some() {
            self.return_value = other.return_value;
        }
        self.logs.extend(other.logs);
    }
}

/// HTTP handlers return `(outputs, body)` to write other output bindings next to `res`.
impl axum::response::IntoResponseParts for Outputs {
    type Error = std::convert::Infallible;

    fn into_response_parts(
        self,
        mut parts: axum::response::ResponseParts,
    ) -> Result<axum::response::ResponseParts, Self::Error> {
        parts.extensions_mut().insert(self);
        Ok(parts)
    }
}
