//! The Event Grid trigger: one event in Event Grid schema or CloudEvents 1.0.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Trigger;
use crate::runtime::protocol::decode::{serde_lenient, unwrap_json_string};
use crate::runtime::protocol::{InvocationRequest, ProtocolError, kind};

/// An event in Event Grid schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventGridSchemaEvent {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub subject: String,
    pub event_type: String,
    #[serde(deserialize_with = "serde_lenient::opt_timestamp", default)]
    pub event_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub data_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_version: Option<String>,
}

/// An event in CloudEvents 1.0 JSON format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_lenient::opt_timestamp"
    )]
    pub time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataschema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
}

/// An Event Grid delivery in either schema, told apart by `specversion`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventGridEvent {
    EventGrid(EventGridSchemaEvent),
    CloudEvent(CloudEvent),
}

impl EventGridEvent {
    /// Reads an event from a JSON object or a string holding one.
    pub fn from_value(field: &str, value: &Value) -> Result<Self, ProtocolError> {
        let object = unwrap_json_string(value);
        let Value::Object(map) = &object else {
            return Err(ProtocolError::malformed(
                field,
                format!("expected an event object, got {}", kind(&object)),
            ));
        };
        if map.contains_key("specversion") {
            serde_json::from_value(object.clone())
                .map(Self::CloudEvent)
                .map_err(|error| {
                    ProtocolError::malformed(field, format!("invalid CloudEvent: {error}"))
                })
        } else {
            serde_json::from_value(object.clone())
                .map(Self::EventGrid)
                .map_err(|error| {
                    ProtocolError::malformed(field, format!("invalid Event Grid event: {error}"))
                })
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::EventGrid(event) => &event.id,
            Self::CloudEvent(event) => &event.id,
        }
    }

    pub fn event_type(&self) -> &str {
        match self {
            Self::EventGrid(event) => &event.event_type,
            Self::CloudEvent(event) => &event.event_type,
        }
    }

    pub fn subject(&self) -> Option<&str> {
        match self {
            Self::EventGrid(event) => Some(&event.subject),
            Self::CloudEvent(event) => event.subject.as_deref(),
        }
    }

    pub fn time(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::EventGrid(event) => event.event_time,
            Self::CloudEvent(event) => event.time,
        }
    }

    /// The event data as JSON; a string holding JSON is decoded.
    pub fn data(&self) -> Value {
        match self {
            Self::EventGrid(event) => unwrap_json_string(&event.data),
            Self::CloudEvent(event) => event
                .data
                .as_ref()
                .map(unwrap_json_string)
                .unwrap_or(Value::Null),
        }
    }

    /// The event data as `T`, with an error naming the data field.
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, ProtocolError> {
        serde_json::from_value(self.data())
            .map_err(|error| ProtocolError::malformed("event.data", error))
    }
}

impl Trigger for EventGridEvent {
    const BINDING_TYPE: &'static str = "eventGridTrigger";

    fn from_invocation(binding: &str, request: &InvocationRequest) -> Result<Self, ProtocolError> {
        Self::from_value(&format!("Data.{binding}"), request.data_value(binding)?)
    }
}
