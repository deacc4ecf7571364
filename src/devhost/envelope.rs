//! The request envelopes the Functions host builds, per trigger kind, with the host's
//! encodings (PROTOCOL.md §4–5): `sys` metadata, JSON-in-a-string values, `RetryContext`.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// `{Data, Metadata}` ready to POST to `/{FunctionName}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub data: Map<String, Value>,
    pub metadata: Map<String, Value>,
}

impl Envelope {
    /// An envelope with `Metadata.sys` for `function`.
    pub fn new(function: &str) -> Self {
        let mut metadata = Map::new();
        metadata.insert("sys".into(), sys(function));
        Self {
            data: Map::new(),
            metadata,
        }
    }

    pub fn with_data(mut self, name: &str, value: Value) -> Self {
        self.data.insert(name.to_owned(), value);
        self
    }

    pub fn with_metadata(mut self, name: &str, value: Value) -> Self {
        self.metadata.insert(name.to_owned(), value);
        self
    }

    /// Adds `Metadata.RetryContext` (only under a retry policy).
    pub fn with_retry_context(self, context: Value) -> Self {
        self.with_metadata("RetryContext", context)
    }

    pub fn to_json(&self) -> Value {
        json!({ "Data": self.data, "Metadata": self.metadata })
    }
}

/// `Metadata.sys`: method name, current UTC time (7 fraction digits) and a random GUID.
pub fn sys(function: &str) -> Value {
    json!({
        "MethodName": function,
        "UtcNow": format!("{}Z", seven_digits(&Utc::now())),
        "RandGuid": uuid::Uuid::new_v4().to_string(),
    })
}

/// How the host carries a string, number, bool or array: as its JSON text in a string.
pub fn json_string(value: &Value) -> Value {
    match value {
        Value::Object(_) => value.clone(),
        other => Value::String(other.to_string()),
    }
}

/// The Cosmos DB v4 change-feed batch: the compact array text, wrapped as a string twice.
pub fn cosmos_documents(documents: &[Value]) -> Value {
    let array = Value::Array(documents.to_vec()).to_string();
    Value::String(Value::String(array).to_string())
}

/// Event Grid: the event object in `Data.<name>`, and `Metadata.data`.
pub fn event_grid(function: &str, binding: &str, event: &Value) -> Envelope {
    let data = event.get("data").map(json_string).unwrap_or(Value::Null);
    let mut envelope = Envelope::new(function).with_data(binding, event.clone());
    if !data.is_null() {
        envelope = envelope.with_metadata("data", data);
    }
    envelope
}

/// One event of an Event Hubs batch as stored in the local log.
#[derive(Debug, Clone, PartialEq)]
pub struct HubEvent {
    pub body: String,
    pub partition_key: Option<String>,
    pub sequence_number: i64,
    pub offset: i64,
    pub enqueued_time: DateTime<Utc>,
    pub properties: Map<String, Value>,
}

/// The partition a batch comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct HubPartition {
    pub namespace: String,
    pub hub: String,
    pub consumer_group: String,
    pub partition_id: String,
}

/// .NET `DateTime` text without a zone, as the extension's arrays carry it.
fn dotnet_utc(time: &DateTime<Utc>) -> String {
    let text = seven_digits(time);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `yyyy-MM-ddTHH:mm:ss.fffffff` (.NET's round-trip precision), no zone.
fn seven_digits(time: &DateTime<Utc>) -> String {
    format!(
        "{}.{:07}",
        time.format("%Y-%m-%dT%H:%M:%S"),
        time.timestamp_subsec_nanos() / 100
    )
}

/// Event Hubs with `cardinality: many`: the bodies as a JSON string of an array, and the
/// index-aligned `*Array` metadata (each itself JSON text) plus `PartitionContext`.
pub fn event_hubs_many(
    function: &str,
    binding: &str,
    data_type: Option<&str>,
    partition: &HubPartition,
    events: &[HubEvent],
) -> Envelope {
    let bodies: Vec<Value> = events
        .iter()
        .map(
            |event| match data_type.map(str::to_ascii_lowercase).as_deref() {
                Some("binary") => Value::String(
                    base64::engine::general_purpose::STANDARD.encode(event.body.as_bytes()),
                ),
                Some("string") => Value::String(event.body.clone()),
                _ => match serde_json::from_str::<Value>(&event.body) {
                    Ok(value @ Value::Object(_)) => value,
                    _ => Value::String(event.body.clone()),
                },
            },
        )
        .collect();
    let array = |values: Vec<Value>| Value::String(Value::Array(values).to_string());
    let system: Vec<Value> = events
        .iter()
        .map(|event| {
            json!({
                "x-opt-sequence-number": event.sequence_number,
                "x-opt-offset": event.offset,
                "x-opt-enqueued-time": event.enqueued_time.to_rfc3339_opts(SecondsFormat::AutoSi, false),
                "SequenceNumber": event.sequence_number,
                "Offset": event.offset,
                "PartitionKey": event.partition_key,
                "EnqueuedTimeUtc": dotnet_utc(&event.enqueued_time),
            })
        })
        .collect();
    Envelope::new(function)
        .with_data(binding, array(bodies))
        .with_metadata(
            "PartitionContext",
            json!({
                "FullyQualifiedNamespace": partition.namespace,
                "EventHubName": partition.hub,
                "ConsumerGroup": partition.consumer_group,
                "PartitionId": partition.partition_id,
            }),
        )
        .with_metadata(
            "PartitionKeyArray",
            array(events.iter().map(|e| json!(e.partition_key)).collect()),
        )
        .with_metadata(
            "OffsetArray",
            array(events.iter().map(|e| json!(e.offset.to_string())).collect()),
        )
        .with_metadata(
            "SequenceNumberArray",
            array(events.iter().map(|e| json!(e.sequence_number)).collect()),
        )
        .with_metadata(
            "EnqueuedTimeUtcArray",
            array(
                events
                    .iter()
                    .map(|e| json!(dotnet_utc(&e.enqueued_time)))
                    .collect(),
            ),
        )
        .with_metadata(
            "PropertiesArray",
            array(
                events
                    .iter()
                    .map(|e| Value::Object(e.properties.clone()))
                    .collect(),
            ),
        )
        .with_metadata("SystemPropertiesArray", array(system))
}

/// Event Hubs with `cardinality: one`: the double-encoded body and scalar metadata.
pub fn event_hubs_one(
    function: &str,
    binding: &str,
    partition: &HubPartition,
    event: &HubEvent,
) -> Envelope {
    let mut envelope = Envelope::new(function)
        .with_data(
            binding,
            Value::String(Value::String(event.body.clone()).to_string()),
        )
        .with_metadata(
            "PartitionContext",
            json!({
                "FullyQualifiedNamespace": partition.namespace,
                "EventHubName": partition.hub,
                "ConsumerGroup": partition.consumer_group,
                "PartitionId": partition.partition_id,
            }),
        )
        .with_metadata("Offset", json!(event.offset.to_string()))
        .with_metadata("SequenceNumber", json!(event.sequence_number.to_string()))
        .with_metadata(
            "EnqueuedTimeUtc",
            json!(event.enqueued_time.format("%Y-%m-%dT%H:%M:%S").to_string()),
        )
        .with_metadata("Properties", Value::Object(event.properties.clone()));
    if let Some(key) = &event.partition_key {
        envelope = envelope.with_metadata("PartitionKey", json!(json!(key).to_string()));
    }
    envelope
}

/// The HTTP request as the host puts it in `Data.<name>`.
#[derive(Debug, Clone, Default)]
pub struct HttpParts {
    /// `scheme://host/path?query`, route prefix included.
    pub url: String,
    pub method: String,
    /// Query pairs in order (repeats allowed).
    pub query: Vec<(String, String)>,
    /// Header pairs in order, client casing.
    pub headers: Vec<(String, String)>,
    /// Route values.
    pub params: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Builds `Data.<binding>` and the HTTP metadata (PROTOCOL.md §5 "HTTP").
pub fn http(function: &str, binding: &str, parts: &HttpParts) -> Envelope {
    let mut query = Map::new();
    let mut query_last = Map::new();
    for (name, value) in &parts.query {
        match query.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                query.insert(name.clone(), Value::String(value.clone()));
            }
        }
        query_last.insert(name.clone(), Value::String(value.clone()));
    }
    let mut headers: Map<String, Value> = Map::new();
    let mut headers_joined: Map<String, Value> = Map::new();
    for (name, value) in &parts.headers {
        let key = headers
            .keys()
            .find(|key| key.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.clone());
        if let Some(Value::Array(values)) = headers.get_mut(&key) {
            values.push(Value::String(value.clone()));
        } else {
            headers.insert(key.clone(), json!([value]));
        }
        match headers_joined.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                headers_joined.insert(key, Value::String(value.clone()));
            }
        }
    }
    let params: Map<String, Value> = parts
        .params
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let mut request = Map::new();
    request.insert("Url".into(), Value::String(parts.url.clone()));
    request.insert("Method".into(), Value::String(parts.method.clone()));
    request.insert("Query".into(), Value::Object(query));
    request.insert("Headers".into(), Value::Object(headers));
    request.insert("Params".into(), Value::Object(params.clone()));
    request.insert(
        "Identities".into(),
        json!([{
            "AuthenticationType": null, "IsAuthenticated": false, "Actor": null,
            "BootstrapContext": null, "Claims": [], "Label": null, "Name": null,
            "NameClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
            "RoleClaimType": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
        }]),
    );
    let content_type = parts
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.to_ascii_lowercase())
        .unwrap_or_default();
    let mut body_fields = Map::new();
    if !parts.body.is_empty() {
        let body = if is_binary_type(&content_type) {
            base64::engine::general_purpose::STANDARD.encode(&parts.body)
        } else {
            String::from_utf8_lossy(&parts.body).into_owned()
        };
        if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&body) {
            body_fields = fields;
        }
        request.insert("Body".into(), Value::String(body));
    }
    let mut envelope = Envelope::new(function).with_data(binding, Value::Object(request));
    for (name, value) in body_fields {
        envelope = envelope.with_metadata(&name, json_string(&value));
    }
    for (name, value) in query_last.iter().chain(params.iter()) {
        envelope = envelope.with_metadata(name, json_string(value));
    }
    envelope
        .with_metadata("Query", Value::Object(query_last))
        .with_metadata("Headers", Value::Object(headers_joined))
        .with_metadata("Params", Value::Object(params))
}

/// Content types the host hands over as base64 bytes rather than text.
fn is_binary_type(content_type: &str) -> bool {
    content_type.starts_with("application/octet-stream") || content_type.starts_with("multipart/")
}

/// Whether a request with these headers carries its body as bytes (base64) in the envelope.
pub fn is_binary(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| is_binary_type(&v.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::InvocationRequest;
    use crate::runtime::triggers::{HttpRequestData, Trigger};

    #[test]
    fn cosmos_batch_is_encoded_twice() {
        let value = cosmos_documents(&[json!({"id": "a"})]);
        let once: String = serde_json::from_str(value.as_str().unwrap()).unwrap();
        let docs: Value = serde_json::from_str(&once).unwrap();
        assert_eq!(docs, json!([{"id": "a"}]));
    }

    #[test]
    fn http_query_repeats_join_and_headers_are_arrays() {
        let parts = HttpParts {
            url: "http://127.0.0.1:7071/api/users/7?name=red&name=green".into(),
            method: "POST".into(),
            query: vec![
                ("name".into(), "red".into()),
                ("name".into(), "green".into()),
            ],
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-A".into(), "1".into()),
                ("x-a".into(), "2".into()),
            ],
            params: vec![("id".into(), "7".into())],
            body: br#"{"score":3}"#.to_vec(),
        };
        let envelope = http("Fn", "req", &parts);
        let req = &envelope.data["req"];
        assert_eq!(req["Query"]["name"], "red,green");
        assert_eq!(req["Headers"]["X-A"], json!(["1", "2"]));
        assert_eq!(req["Params"]["id"], "7");
        assert_eq!(req["Body"], r#"{"score":3}"#);
        assert_eq!(envelope.metadata["name"], "\"green\"");
        assert_eq!(envelope.metadata["score"], "3");
        let request = InvocationRequest::from_value(envelope.to_json()).unwrap();
        let data = HttpRequestData::from_invocation("req", &request).unwrap();
        assert_eq!(data.header("x-a"), Some("1"));
    }

    #[test]
    fn get_without_body_has_no_body_member() {
        let envelope = http("Fn", "req", &HttpParts::default());
        assert!(envelope.data["req"].get("Body").is_none());
    }

    #[test]
    fn event_hub_arrays_are_json_text_and_index_aligned() {
        let time = DateTime::parse_from_rfc3339("2023-03-13T01:25:02.25Z")
            .unwrap()
            .with_timezone(&Utc);
        let events = vec![
            HubEvent {
                body: r#"{"id":1}"#.into(),
                partition_key: None,
                sequence_number: 59,
                offset: 616008,
                enqueued_time: time,
                properties: Map::new(),
            },
            HubEvent {
                body: "plain text".into(),
                partition_key: Some("u1".into()),
                sequence_number: 60,
                offset: 616200,
                enqueued_time: time,
                properties: Map::new(),
            },
        ];
        let partition = HubPartition {
            namespace: "localhost".into(),
            hub: "orders".into(),
            consumer_group: "$Default".into(),
            partition_id: "2".into(),
        };
        let envelope = event_hubs_many("Fn", "events", Some("string"), &partition, &events);
        assert_eq!(
            envelope.data["events"],
            json!(r#"["{\"id\":1}","plain text"]"#)
        );
        assert_eq!(envelope.metadata["SequenceNumberArray"], json!("[59,60]"));
        assert_eq!(
            envelope.metadata["OffsetArray"],
            json!(r#"["616008","616200"]"#)
        );
        assert_eq!(
            envelope.metadata["PartitionKeyArray"],
            json!(r#"[null,"u1"]"#)
        );
        assert_eq!(
            envelope.metadata["EnqueuedTimeUtcArray"],
            json!(r#"["2023-03-13T01:25:02.25","2023-03-13T01:25:02.25"]"#)
        );
        let request = InvocationRequest::from_value(envelope.to_json()).unwrap();
        let batch =
            crate::runtime::triggers::EventHubBatch::from_invocation("events", &request).unwrap();
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.events[1].sequence_number, Some(60));
    }
}
