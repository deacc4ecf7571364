//! The custom-handler wire protocol: the request envelope `{Data, Metadata}` the host POSTs and
//! the response envelope `{Outputs, Logs, ReturnValue}` it reads back. Only this module (with
//! `decode`) knows those JSON shapes; triggers and outputs convert from and to typed values.

pub mod decode;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A problem with the envelope or with one of its values; always names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("request body must be a JSON object with a `Data` member")]
    NotAnObject,
    #[error("missing required field `{field}`")]
    Missing { field: String },
    #[error("field `{field}` is malformed: {reason}")]
    Malformed { field: String, reason: String },
}

impl ProtocolError {
    /// The envelope path of the offending field, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Missing { field } | Self::Malformed { field, .. } => Some(field),
            Self::NotJson(_) | Self::NotAnObject => None,
        }
    }

    pub(crate) fn missing(field: impl Into<String>) -> Self {
        Self::Missing {
            field: field.into(),
        }
    }

    pub(crate) fn malformed(field: impl Into<String>, reason: impl ToString) -> Self {
        Self::Malformed {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// `Metadata.sys`: the host's per-invocation system values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SysMetadata {
    #[serde(rename = "MethodName", default)]
    pub method_name: Option<String>,
    #[serde(rename = "UtcNow", default)]
    pub utc_now: Option<String>,
    #[serde(rename = "RandGuid", default)]
    pub rand_guid: Option<String>,
}

/// `Metadata.RetryContext`, present only under a function retry policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryContext {
    #[serde(
        rename = "RetryCount",
        default,
        deserialize_with = "decode::serde_lenient::opt_i64"
    )]
    pub retry_count: Option<i64>,
    #[serde(
        rename = "MaxRetryCount",
        default,
        deserialize_with = "decode::serde_lenient::opt_i64"
    )]
    pub max_retry_count: Option<i64>,
    #[serde(rename = "Exception", default)]
    pub exception: Option<Value>,
}

/// The request envelope the host POSTs to `/{FunctionName}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvocationRequest {
    #[serde(rename = "Data")]
    pub data: Map<String, Value>,
    #[serde(rename = "Metadata", default)]
    pub metadata: Map<String, Value>,
}

impl InvocationRequest {
    /// Parses an envelope from the raw request body. Top-level names are matched
    /// case-insensitively; `Metadata` may be absent; unknown members are ignored.
    pub fn from_slice(body: &[u8]) -> Result<Self, ProtocolError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|error| ProtocolError::NotJson(error.to_string()))?;
        Self::from_value(value)
    }

    /// Parses an envelope from an already decoded JSON value.
    pub fn from_value(value: Value) -> Result<Self, ProtocolError> {
        let Value::Object(mut top) = value else {
            return Err(ProtocolError::NotAnObject);
        };
        let data = match take_ci(&mut top, "Data") {
            None => return Err(ProtocolError::missing("Data")),
            Some(value) => match decode::unwrap_json_string_owned(value) {
                Value::Object(map) => map,
                other => {
                    return Err(ProtocolError::malformed(
                        "Data",
                        format!("expected an object, got {}", kind(&other)),
                    ));
                }
            },
        };
        let metadata = match take_ci(&mut top, "Metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(value) => match decode::unwrap_json_string_owned(value) {
                Value::Object(map) => map,
                other => {
                    return Err(ProtocolError::malformed(
                        "Metadata",
                        format!("expected an object, got {}", kind(&other)),
                    ));
                }
            },
        };
        Ok(Self { data, metadata })
    }

    /// `Data.<name>`, or an error naming that field.
    pub fn data_value(&self, name: &str) -> Result<&Value, ProtocolError> {
        self.data
            .get(name)
            .ok_or_else(|| ProtocolError::missing(format!("Data.{name}")))
    }

    /// `Metadata.<name>`, if present and not null.
    pub fn metadata_value(&self, name: &str) -> Option<&Value> {
        self.metadata.get(name).filter(|value| !value.is_null())
    }

    /// `Metadata.sys`, tolerant of absence.
    pub fn sys(&self) -> SysMetadata {
        self.metadata_value("sys")
            .and_then(|value| decode::from_value_lenient(value).ok())
            .unwrap_or_default()
    }

    /// `Metadata.RetryContext`, present only under a retry policy.
    pub fn retry_context(&self) -> Option<RetryContext> {
        self.metadata_value("RetryContext")
            .and_then(|value| decode::from_value_lenient(value).ok())
    }
}

/// The response envelope the handler returns with a 2xx status.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InvocationResponse {
    #[serde(rename = "Outputs")]
    pub outputs: Map<String, Value>,
    #[serde(rename = "Logs")]
    pub logs: Option<Vec<String>>,
    #[serde(rename = "ReturnValue")]
    pub return_value: Option<Value>,
}

impl InvocationResponse {
    /// Parses a response envelope the way the host does: top-level names case-insensitive,
    /// `Outputs` optional, `Logs` null or an array of strings.
    pub fn from_slice(body: &[u8]) -> Result<Self, ProtocolError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|error| ProtocolError::NotJson(error.to_string()))?;
        let Value::Object(mut top) = value else {
            return Err(ProtocolError::malformed("(body)", "expected a JSON object"));
        };
        let outputs = match take_ci(&mut top, "Outputs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(ProtocolError::malformed(
                    "Outputs",
                    format!("expected an object, got {}", kind(&other)),
                ));
            }
        };
        let logs = match take_ci(&mut top, "Logs") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                serde_json::from_value::<Vec<String>>(value)
                    .map_err(|error| ProtocolError::malformed("Logs", error))?,
            ),
        };
        let return_value = take_ci(&mut top, "ReturnValue").filter(|value| !value.is_null());
        Ok(Self {
            outputs,
            logs,
            return_value,
        })
    }

    /// The raw value of output binding `name` (names match exactly, as in the host).
    pub fn output(&self, name: &str) -> Option<&Value> {
        self.outputs.get(name)
    }
}

fn take_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    if let Some(value) = map.remove(name) {
        return Some(value);
    }
    let key = map
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))?
        .clone();
    map.remove(&key)
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_data_names_the_field() {
        let error = InvocationRequest::from_slice(br#"{"Metadata":{}}"#).unwrap_err();
        assert_eq!(error.field(), Some("Data"));
    }

    #[test]
    fn data_may_be_a_string_and_names_case_insensitive() {
        let request = InvocationRequest::from_slice(br#"{"data":"{\"x\":1}"}"#).unwrap();
        assert_eq!(request.data_value("x").unwrap(), &Value::from(1));
        assert!(request.metadata.is_empty());
        assert_eq!(request.data_value("y").unwrap_err().field(), Some("Data.y"));
    }

    #[test]
    fn response_parses_like_the_host() {
        let response = InvocationResponse::from_slice(
            br#"{"outputs":{"res":{"statusCode":202}},"logs":null}"#,
        )
        .unwrap();
        assert!(response.output("res").is_some());
        assert_eq!(response.logs, None);
    }
}
