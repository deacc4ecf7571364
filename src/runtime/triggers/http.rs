//! The HTTP trigger payload `Data.<req>` and its conversion into an `http::Request`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use base64::Engine;
use serde_json::{Map, Value};

use super::Trigger;
use crate::runtime::protocol::decode::{
    get_ci, string_from_value, unwrap_json_ref, unwrap_json_string,
};
use crate::runtime::protocol::{InvocationRequest, ProtocolError, kind};

/// The HTTP request as the host describes it in `Data.<req>`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequestData {
    pub url: String,
    pub method: String,
    /// Query parameters; repeated keys arrive comma-joined.
    pub query: BTreeMap<String, String>,
    /// Header name → values, in the client's casing.
    pub headers: Vec<(String, Vec<String>)>,
    /// Route parameters.
    pub params: BTreeMap<String, String>,
    /// Claims identities as sent by the host (shape varies by host version).
    pub identities: Vec<Value>,
    /// The body as sent: text, or base64 for binary content types. `None` when absent.
    pub body: Option<String>,
}

impl Trigger for HttpRequestData {
    const BINDING_TYPE: &'static str = "httpTrigger";

    fn from_invocation(binding: &str, request: &InvocationRequest) -> Result<Self, ProtocolError> {
        Self::from_value(binding, request.data_value(binding)?)
    }
}

impl HttpRequestData {
    /// The binding name HTTP functions use unless told otherwise.
    pub const DEFAULT_BINDING: &'static str = "req";

    /// Reads `Data.<binding>` (an object, or a string holding one).
    pub fn from_value(binding: &str, value: &Value) -> Result<Self, ProtocolError> {
        let field = |name: &str| format!("Data.{binding}.{name}");
        let decoded;
        let object = match value {
            Value::Object(object) => object,
            other => {
                decoded = unwrap_json_string(other);
                let Value::Object(object) = &decoded else {
                    return Err(ProtocolError::malformed(
                        format!("Data.{binding}"),
                        format!("expected an HTTP request object, got {}", kind(value)),
                    ));
                };
                object
            }
        };
        let get = |name: &str| get_ci(object, name);
        let url = get("Url")
            .and_then(string_from_value)
            .ok_or_else(|| ProtocolError::missing(field("Url")))?;
        let method = get("Method")
            .and_then(string_from_value)
            .ok_or_else(|| ProtocolError::missing(field("Method")))?;
        let query = string_map(get("Query"), &field("Query"))?;
        let params = string_map(get("Params"), &field("Params"))?;
        let headers = header_list(get("Headers"), &field("Headers"))?;
        let identities = match get("Identities").map(unwrap_json_ref).as_deref() {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => {
                return Err(ProtocolError::malformed(
                    field("Identities"),
                    format!("expected an array, got {}", kind(other)),
                ));
            }
        };
        let body = match get("Body") {
            None => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        };
        Ok(Self {
            url,
            method,
            query,
            headers,
            params,
            identities,
            body,
        })
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, values)| values.first())
            .map(String::as_str)
    }

    /// The body bytes: base64-decoded for `application/octet-stream` and `multipart/*`,
    /// the text's UTF-8 otherwise.
    pub fn body_bytes(&self, binding: &str) -> Result<Vec<u8>, ProtocolError> {
        let Some(body) = &self.body else {
            return Ok(Vec::new());
        };
        let content_type = self
            .header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("application/octet-stream")
            || content_type.starts_with("multipart/")
        {
            base64::engine::general_purpose::STANDARD
                .decode(body.trim())
                .map_err(|error| ProtocolError::Malformed {
                    field: format!("Data.{binding}.Body"),
                    reason: format!("binary body is not valid base64: {error}"),
                })
        } else {
            Ok(body.clone().into_bytes())
        }
    }

    /// Rebuilds the original request: method, path and query of `Url`, headers, body.
    pub fn to_http_request(&self, binding: &str) -> Result<Request<Body>, ProtocolError> {
        let malformed = |name: &str, reason: String| ProtocolError::Malformed {
            field: format!("Data.{binding}.{name}"),
            reason,
        };
        let method = match Method::from_bytes(self.method.as_bytes()) {
            Ok(method) if self.method.bytes().all(|b| !b.is_ascii_lowercase()) => method,
            _ => Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
                .map_err(|error| malformed("Method", error.to_string()))?,
        };
        let full: Uri = self
            .url
            .parse()
            .map_err(|error: axum::http::uri::InvalidUri| malformed("Url", error.to_string()))?;
        let mut parts = axum::http::uri::Parts::default();
        parts.path_and_query = Some(
            full.path_and_query()
                .cloned()
                .unwrap_or_else(|| axum::http::uri::PathAndQuery::from_static("/")),
        );
        let uri = Uri::from_parts(parts).map_err(|error| malformed("Url", error.to_string()))?;
        let mut request = Request::new(Body::from(self.body_bytes(binding)?));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.reserve(self.headers.len());
        for (name, values) in &self.headers {
            let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
                return Err(malformed(
                    "Headers",
                    format!("invalid header name `{name}`"),
                ));
            };
            for value in values {
                let value = HeaderValue::from_str(value).map_err(|_| {
                    malformed("Headers", format!("invalid value for header `{name}`"))
                })?;
                headers.append(header.clone(), value);
            }
        }
        Ok(request)
    }
}

fn string_map(
    value: Option<&Value>,
    field: &str,
) -> Result<BTreeMap<String, String>, ProtocolError> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    match unwrap_json_ref(value).as_ref() {
        Value::Object(map) => Ok(map
            .iter()
            .filter_map(|(key, value)| match value {
                Value::Null => None,
                Value::String(text) => Some((key.clone(), text.clone())),
                other => Some((key.clone(), other.to_string())),
            })
            .collect()),
        Value::String(text) if text.trim().is_empty() => Ok(BTreeMap::new()),
        other => Err(ProtocolError::malformed(
            field,
            format!("expected an object, got {}", kind(other)),
        )),
    }
}

fn header_list(
    value: Option<&Value>,
    field: &str,
) -> Result<Vec<(String, Vec<String>)>, ProtocolError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let decoded = unwrap_json_ref(value);
    let map: &Map<String, Value> = match decoded.as_ref() {
        Value::Object(map) => map,
        other => {
            return Err(ProtocolError::malformed(
                field,
                format!("expected an object, got {}", kind(other)),
            ));
        }
    };
    Ok(map
        .iter()
        .map(|(name, value)| {
            let values = match value {
                Value::Array(items) => items
                    .iter()
                    .map(|item| string_from_value(item).unwrap_or_else(|| item.to_string()))
                    .collect(),
                Value::String(text) => vec![text.clone()],
                Value::Null => Vec::new(),
                other => vec![other.to_string()],
            };
            (name.clone(), values)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_string_query_and_string_headers() {
        let value = json!({"Url":"http://h/api/x?a=1","Method":"post","Query":"{}",
            "Headers":{"Content-Type":"text/plain"},"Body":"hi"});
        let data = HttpRequestData::from_value("req", &value).unwrap();
        assert!(data.query.is_empty());
        assert_eq!(data.header("content-type"), Some("text/plain"));
        let request = data.to_http_request("req").unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "/api/x?a=1");
    }

    #[test]
    fn missing_url_names_the_field() {
        let error = HttpRequestData::from_value("req", &json!({"Method":"GET"})).unwrap_err();
        assert_eq!(error.field(), Some("Data.req.Url"));
    }
}
