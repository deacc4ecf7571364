//! The guard in front of every HTTP function, in both modes (forwarded HTTP and host
//! envelopes, so `serve` under the Functions host and `dev` behave alike):
//!
//! - **Cross-site requests** to state-changing methods are refused with 403: `Sec-Fetch-Site:
//!   cross-site`, or an `Origin` that is not the app's own (the `Host`, `X-Forwarded-Host` or
//!   `x-ms-original-url` authority the request came through, or a configured trusted origin).
//!   Requests without `Origin` (server-to-server calls, the host's own) pass.
//! - **Content type**: a state-changing request with a body must say it is JSON
//!   (`application/json` or `application/*+json`), else 415 — a cross-site form or
//!   `text/plain` fetch cannot produce that without a CORS preflight.
//! - **Size**: a body over [`EdgePolicy::max_body_bytes`] is a 413.
//! - **JSON shape**: a JSON body must be UTF-8 (no silent replacement) and nest at most
//!   [`EdgePolicy::max_json_depth`] levels; otherwise 400 naming the field.
//!
//! Everything here runs before the handler, so nothing is stored from a refused request.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Largest accepted request body by default.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Deepest accepted JSON nesting by default (objects and arrays; `{"a":[1]}` is 2).
pub const DEFAULT_MAX_JSON_DEPTH: usize = 32;

/// What the guard enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgePolicy {
    pub max_body_bytes: usize,
    pub max_json_depth: usize,
    /// Further origins allowed to send state-changing requests (`https://app.example`).
    pub trusted_origins: Vec<String>,
}

impl Default for EdgePolicy {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            trusted_origins: Vec::new(),
        }
    }
}

/// Why the guard refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeRejection {
    #[error("cross-site request refused: {0}")]
    CrossSite(&'static str),
    #[error("content type must be application/json (got {0:?})")]
    NotJson(String),
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("request body is not valid UTF-8 (byte {0})")]
    NotUtf8(usize),
    #[error("request body is not valid JSON: {0}")]
    NotJsonSyntax(String),
    #[error("`{field}` nests deeper than {limit} levels")]
    TooDeep { field: String, limit: usize },
}

impl EdgeRejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::CrossSite(_) => StatusCode::FORBIDDEN,
            Self::NotJson(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotUtf8(_) | Self::NotJsonSyntax(_) | Self::TooDeep { .. } => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    pub fn field(&self) -> String {
        match self {
            Self::CrossSite(header) => (*header).to_owned(),
            Self::NotJson(_) => "Content-Type".to_owned(),
            Self::TooLarge(_) | Self::NotUtf8(_) | Self::NotJsonSyntax(_) => "body".to_owned(),
            Self::TooDeep { field, .. } => field.clone(),
        }
    }
}

impl IntoResponse for EdgeRejection {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.to_string(), "field": self.field() });
        (
            self.status(),
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// The middleware: checks the request, then hands it (body re-attached) to the handler.
pub async fn guard(
    State(policy): State<Arc<EdgePolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match check(&policy, &parts.method, &parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(rejection) => {
            tracing::warn!(%rejection, "request refused at the edge");
            return rejection.into_response();
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Every check on one request; the body on success.
pub async fn check(
    policy: &EdgePolicy,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, EdgeRejection> {
    let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        cross_site(policy, headers)?;
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > policy.max_body_bytes as u64) {
        return Err(EdgeRejection::TooLarge(policy.max_body_bytes));
    }
    let bytes = axum::body::to_bytes(body, policy.max_body_bytes)
        .await
        .map_err(|_| EdgeRejection::TooLarge(policy.max_body_bytes))?;
    if bytes.is_empty() {
        return Ok(bytes);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let json = content_type.as_deref().is_some_and(is_json);
    if changes_state && !json {
        return Err(EdgeRejection::NotJson(content_type.unwrap_or_default()));
    }
    if json {
        check_json(&bytes, policy.max_json_depth)?;
    }
    Ok(bytes)
}

/// `application/json`, `application/<x>+json`, with or without parameters.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

fn cross_site(policy: &EdgePolicy, headers: &HeaderMap) -> Result<(), EdgeRejection> {
    let text = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    if text("sec-fetch-site").iter().any(|v| v == "cross-site") {
        return Err(EdgeRejection::CrossSite("Sec-Fetch-Site"));
    }
    let origins = text("origin");
    let Some(origin) = origins.first() else {
        return Ok(());
    };
    if origins.len() > 1 {
        return Err(EdgeRejection::CrossSite("Origin"));
    }
    if policy
        .trusted_origins
        .iter()
        .any(|trusted| trusted.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return Ok(());
    }
    let Some(origin_authority) = authority(origin) else {
        // `null` (sandboxed frames, file: pages) or anything that is not an http(s) origin.
        return Err(EdgeRejection::CrossSite("Origin"));
    };
    let mut own = text("host");
    own.extend(text("x-forwarded-host"));
    own.extend(
        text("x-ms-original-url")
            .iter()
            .filter_map(|url| authority(url).map(str::to_owned)),
    );
    if own.iter().any(|a| *a == origin_authority) {
        Ok(())
    } else {
        Err(EdgeRejection::CrossSite("Origin"))
    }
}

/// `host[:port]` of an `http(s)://` URL or origin.
fn authority(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    (!authority.is_empty() && !authority.contains('@')).then_some(authority)
}

/// UTF-8, JSON syntax and nesting depth of a JSON body.
pub fn check_json(bytes: &[u8], max_depth: usize) -> Result<(), EdgeRejection> {
    std::str::from_utf8(bytes).map_err(|e| EdgeRejection::NotUtf8(e.valid_up_to()))?;
    if nesting_depth(bytes) <= max_depth {
        return Ok(());
    }
    // Too deep: name where. serde_json stops at 128 levels; past that the whole body is named.
    let field = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|value| too_deep_path(&value, max_depth))
        .unwrap_or_else(|| "body".to_owned());
    Err(EdgeRejection::TooDeep {
        field,
        limit: max_depth,
    })
}

/// The deepest nesting of objects and arrays, scanning bytes outside strings.
pub fn nesting_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The JSON path (`Data.a[0].b`) of the first container at depth `max_depth + 1`.
fn too_deep_path(value: &Value, max_depth: usize) -> Option<String> {
    fn walk(value: &Value, depth: usize, max: usize, path: &mut String) -> bool {
        let children: Vec<(String, &Value)> = match value {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    (
                        if path.is_empty() {
                            k.clone()
                        } else {
                            format!(".{k}")
                        },
                        v,
                    )
                })
                .collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("[{i}]"), v))
                .collect(),
            _ => return false,
        };
        if depth > max {
            return true;
        }
        for (step, child) in children {
            let len = path.len();
            path.push_str(&step);
            if walk(child, depth + 1, max, path) {
                return true;
            }
            path.truncate(len);
        }
        false
    }
    let mut path = String::new();
    walk(value, 1, max_depth, &mut path).then(|| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    async fn run(
        method: Method,
        pairs: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Bytes, EdgeRejection> {
        check(
            &EdgePolicy::default(),
            &method,
            &headers(pairs),
            Body::from(body.to_vec()),
        )
        .await
    }

    #[tokio::test]
    async fn cross_site_posts_are_refused_and_same_origin_ones_pass() {
        let json = ("content-type", "application/json");
        let host = ("host", "localhost:7071");
        let ok = run(
            Method::POST,
            &[json, host, ("origin", "http://localhost:7071")],
            b"{}",
        )
        .await;
        assert!(ok.is_ok());
        assert!(
            run(Method::POST, &[json, host], b"{}").await.is_ok(),
            "no Origin: server to server"
        );
        for origin in [
            "http://localhost:8080",
            "null",
            "http://evil.example",
            "http://localhost:7071.evil.example",
        ] {
            let refused = run(Method::POST, &[json, host, ("origin", origin)], b"{}").await;
            assert_eq!(refused, Err(EdgeRejection::CrossSite("Origin")), "{origin}");
        }
        let fetch = run(
            Method::POST,
            &[json, host, ("sec-fetch-site", "cross-site")],
            b"{}",
        )
        .await;
        assert_eq!(fetch, Err(EdgeRejection::CrossSite("Sec-Fetch-Site")));
        let via_swa = run(
            Method::POST,
            &[
                json,
                ("host", "func.internal"),
                ("origin", "https://app.example"),
                ("x-ms-original-url", "https://app.example/api/chat"),
            ],
            b"{}",
        )
        .await;
        assert!(via_swa.is_ok());
        assert!(
            run(Method::GET, &[host, ("origin", "http://evil.example")], b"")
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn trusted_origins_may_post_from_elsewhere() {
        let policy = EdgePolicy {
            trusted_origins: vec!["https://game.example".to_owned()],
            ..EdgePolicy::default()
        };
        let pairs = [
            ("content-type", "application/json"),
            ("host", "func.internal"),
            ("origin", "https://game.example"),
        ];
        let body = || Body::from("{}");
        assert!(
            check(&policy, &Method::POST, &headers(&pairs), body())
                .await
                .is_ok()
        );
        let other = [pairs[0], pairs[1], ("origin", "https://game.example.evil")];
        assert!(
            check(&policy, &Method::POST, &headers(&other), body())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn bodies_must_be_json_utf8_small_and_shallow() {
        let host = ("host", "h");
        let text = run(Method::POST, &[host, ("content-type", "text/plain")], b"{}").await;
        assert_eq!(
            text.unwrap_err().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let none = run(Method::POST, &[host], b"{}").await;
        assert_eq!(
            none.unwrap_err().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert!(
            run(Method::POST, &[host], b"").await.is_ok(),
            "no body, no type needed"
        );
        let json = ("content-type", "application/json; charset=utf-8");
        let big = vec![b' '; DEFAULT_MAX_BODY_BYTES + 1];
        assert_eq!(
            run(Method::POST, &[host, json], &big)
                .await
                .unwrap_err()
                .status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let latin1 = run(Method::POST, &[host, json], b"{\"a\":\"caf\xe9\"}").await;
        assert_eq!(latin1, Err(EdgeRejection::NotUtf8(9)));
        let deep = format!("{{\"Data\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        let too_deep = run(Method::POST, &[host, json], deep.as_bytes())
            .await
            .unwrap_err();
        assert_eq!(too_deep.field(), format!("Data{}", "[0]".repeat(31)));
        let very_deep = format!("{{\"Data\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let named = run(Method::POST, &[host, json], very_deep.as_bytes())
            .await
            .unwrap_err();
        assert_eq!(named.status(), StatusCode::BAD_REQUEST);
        let shallow = format!("{{\"Data\":{}1{}}}", "[".repeat(31), "]".repeat(31));
        assert!(
            run(Method::POST, &[host, json], shallow.as_bytes())
                .await
                .is_ok()
        );
        let braces_in_strings = r#"{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"{{{{{{"}"#;
        assert_eq!(nesting_depth(braces_in_strings.as_bytes()), 1);
    }

    proptest::proptest! {
        #[test]
        fn depth_scan_agrees_with_a_parser(value in arbitrary_json()) {
            let text = value.to_string();
            proptest::prop_assert_eq!(nesting_depth(text.as_bytes()), depth_of(&value));
        }
    }

    fn depth_of(value: &Value) -> usize {
        match value {
            Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(depth_of).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(12, 64, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
