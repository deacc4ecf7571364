//! The Event Hubs trigger: a batch of events (cardinality many, or one) with per-event metadata.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Trigger;
use crate::runtime::protocol::decode::{
    from_value_lenient, i64_from_value, string_from_value, timestamp_from_value, unwrap_json_string,
};
use crate::runtime::protocol::{InvocationRequest, ProtocolError, kind};

/// `Metadata.PartitionContext`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionContext {
    #[serde(rename = "FullyQualifiedNamespace", default)]
    pub fully_qualified_namespace: Option<String>,
    #[serde(rename = "EventHubName", default)]
    pub event_hub_name: Option<String>,
    #[serde(rename = "ConsumerGroup", default)]
    pub consumer_group: Option<String>,
    #[serde(rename = "PartitionId", default)]
    pub partition_id: Option<String>,
}

/// One event of a batch with its position in the partition.
#[derive(Debug, Clone, PartialEq)]
pub struct EventHubEvent {
    /// The body: a string (text, JSON text or base64 per `dataType`) or a JSON value.
    pub body: Value,
    pub partition_id: Option<String>,
    pub partition_key: Option<String>,
    pub offset: Option<String>,
    pub sequence_number: Option<i64>,
    pub enqueued_time: Option<DateTime<Utc>>,
    pub properties: Map<String, Value>,
    pub system_properties: Map<String, Value>,
}

impl EventHubEvent {
    /// The body as text, when it is a string.
    pub fn text(&self) -> Option<&str> {
        self.body.as_str()
    }

    /// The body decoded as JSON into `T` (JSON text bodies are parsed).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match &self.body {
            Value::String(text) => {
                serde_json::from_str(text).or_else(|_| from_value_lenient(&self.body))
            }
            other => from_value_lenient(other),
        }
    }

    /// The body bytes for `dataType: binary` (a base64 string), or the text's UTF-8.
    pub fn bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        use base64::Engine;
        match &self.body {
            Value::String(text) => base64::engine::general_purpose::STANDARD.decode(text),
            other => Ok(other.to_string().into_bytes()),
        }
    }

    /// The dedupe key the host guarantees unique: (partition id, sequence number).
    pub fn dedupe_key(&self) -> Option<(String, i64)> {
        Some((self.partition_id.clone()?, self.sequence_number?))
    }
}

/// A batch of events from one partition, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct EventHubBatch {
    pub partition: PartitionContext,
    pub events: Vec<EventHubEvent>,
}

impl Trigger for EventHubBatch {
    const BINDING_TYPE: &'static str = "eventHubTrigger";

    fn from_invocation(binding: &str, request: &InvocationRequest) -> Result<Self, ProtocolError> {
        let field = format!("Data.{binding}");
        let raw = request.data_value(binding)?;
        let partition: PartitionContext = match request.metadata_value("PartitionContext") {
            None => PartitionContext::default(),
            Some(value) => from_value_lenient(value)
                .map_err(|error| ProtocolError::malformed("Metadata.PartitionContext", error))?,
        };
        let decoded = unwrap_one(raw);
        let events = match decoded {
            Value::Array(items) => batch(items, request, &partition)?,
            Value::Null => {
                return Err(ProtocolError::malformed(field, "expected events, got null"));
            }
            body => vec![single(body, request, &partition)],
        };
        Ok(Self { partition, events })
    }
}

/// One level of JSON-in-a-string: the host serialises the batch (or the single body) once.
fn unwrap_one(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

fn metadata_array(request: &InvocationRequest, name: &str) -> Result<Vec<Value>, ProtocolError> {
    match request.metadata_value(name).map(unwrap_json_string) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(ProtocolError::malformed(
            format!("Metadata.{name}"),
            format!("expected an array, got {}", kind(&other)),
        )),
    }
}

fn object(value: Option<&Value>) -> Map<String, Value> {
    match value.map(unwrap_json_string) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn batch(
    items: Vec<Value>,
    request: &InvocationRequest,
    partition: &PartitionContext,
) -> Result<Vec<EventHubEvent>, ProtocolError> {
    let keys = metadata_array(request, "PartitionKeyArray")?;
    let offsets = metadata_array(request, "OffsetArray")?;
    let sequences = metadata_array(request, "SequenceNumberArray")?;
    let times = metadata_array(request, "EnqueuedTimeUtcArray")?;
    let properties = metadata_array(request, "PropertiesArray")?;
    let system = metadata_array(request, "SystemPropertiesArray")?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let system_properties = object(system.get(index));
            EventHubEvent {
                body,
                partition_id: partition.partition_id.clone(),
                partition_key: keys.get(index).and_then(string_from_value).or_else(|| {
                    system_properties
                        .get("PartitionKey")
                        .and_then(string_from_value)
                }),
                offset: offsets
                    .get(index)
                    .and_then(string_from_value)
                    .or_else(|| system_properties.get("Offset").and_then(string_from_value)),
                sequence_number: sequences.get(index).and_then(i64_from_value).or_else(|| {
                    system_properties
                        .get("SequenceNumber")
                        .and_then(i64_from_value)
                }),
                enqueued_time: times.get(index).and_then(timestamp_from_value).or_else(|| {
                    system_properties
                        .get("EnqueuedTimeUtc")
                        .and_then(timestamp_from_value)
                }),
                properties: object(properties.get(index)),
                system_properties,
            }
        })
        .collect())
}

fn single(body: Value, request: &InvocationRequest, partition: &PartitionContext) -> EventHubEvent {
    let system_properties = object(request.metadata_value("SystemProperties"));
    let meta = |name: &str| {
        request
            .metadata_value(name)
            .or_else(|| system_properties.get(name))
    };
    EventHubEvent {
        body,
        partition_id: partition.partition_id.clone(),
        partition_key: meta("PartitionKey").and_then(string_from_value),
        offset: meta("Offset").and_then(string_from_value),
        sequence_number: meta("SequenceNumber").and_then(i64_from_value),
        enqueued_time: meta("EnqueuedTimeUtc").and_then(timestamp_from_value),
        properties: object(request.metadata_value("Properties")),
        system_properties,
    }
}
