//! The `http` output binding value `{statusCode, headers, body}`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::runtime::protocol::decode::{get_ci, i64_from_value, unwrap_json_string};
use crate::runtime::protocol::{ProtocolError, kind};

/// An HTTP response for an `http` output binding. The body is always text (the host does not
/// decode base64 here), with the content type set in `headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponseData {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

impl Default for HttpResponseData {
    fn default() -> Self {
        Self {
            status_code: 200,
            headers: BTreeMap::new(),
            body: None,
        }
    }
}

impl HttpResponseData {
    /// The value as the host reads it.
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("statusCode".into(), Value::from(self.status_code));
        if !self.headers.is_empty() {
            let headers = self
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                .collect();
            object.insert("headers".into(), Value::Object(headers));
        }
        if let Some(body) = &self.body {
            object.insert("body".into(), Value::String(body.clone()));
        }
        Value::Object(object)
    }

    /// The value as the host reads it, moving the headers and body instead of copying them.
    pub fn into_value(self) -> Value {
        let mut object = Map::new();
        object.insert("statusCode".into(), Value::from(self.status_code));
        if !self.headers.is_empty() {
            let headers = self
                .headers
                .into_iter()
                .map(|(name, value)| (name, Value::String(value)))
                .collect();
            object.insert("headers".into(), Value::Object(headers));
        }
        if let Some(body) = self.body {
            object.insert("body".into(), Value::String(body));
        }
        Value::Object(object)
    }

    /// Reads an `http` output value the way the host does: an object or JSON text of one;
    /// `statusCode` a number or numeric string (default 200); header values stringified;
    /// non-string bodies rendered as JSON text.
    pub fn from_value(field: &str, value: &Value) -> Result<Self, ProtocolError> {
        let Value::Object(object) = unwrap_json_string(value) else {
            return Err(ProtocolError::malformed(
                field,
                format!("expected an object, got {}", kind(value)),
            ));
        };
        let get = |name: &str| get_ci(&object, name);
        let status_code = match get("statusCode") {
            None => 200,
            Some(value) => i64_from_value(value)
                .and_then(|code| u16::try_from(code).ok())
                .filter(|code| (100..=999).contains(code))
                .ok_or_else(|| {
                    ProtocolError::malformed(
                        format!("{field}.statusCode"),
                        format!("not an HTTP status: {value}"),
                    )
                })?,
        };
        let headers = match get("headers") {
            None => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(name, value)| {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (name.clone(), text)
                })
                .collect(),
            Some(other) => {
                return Err(ProtocolError::malformed(
                    format!("{field}.headers"),
                    format!("expected an object, got {}", kind(other)),
                ));
            }
        };
        let body = get("body").map(|value| match value {
            Value::String(text) => text.clone(),
            Value::Object(_) | Value::Array(_) => {
                serde_json::to_string_pretty(value).unwrap_or_default()
            }
            other => other.to_string(),
        });
        Ok(Self {
            status_code,
            headers,
            body,
        })
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}
