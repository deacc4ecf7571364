//! HTTP functions served the way the Functions host serves them: `routePrefix`, the
//! manifest's route templates (matched case-insensitively with constraints, most specific
//! first), `methods`, 404 / 405; each request becomes the host's envelope, `webPubSubConnection`
//! inputs are resolved, and `Outputs.<res>` becomes the response (a failed invocation is a
//! bare 500, as the host answers).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::envelope::{self, HttpParts};
use super::invoke::{Invoker, new_traceparent};
use super::webpubsub::{ClientGrant, Hub};
use crate::runtime::Direction;
use crate::runtime::TRACEPARENT_HEADER;
use crate::runtime::manifest::{BindingKind, FunctionJson, Manifest, RouteTemplate};
use crate::runtime::outputs::HttpResponseData;
use crate::runtime::principal::ClientPrincipal;
use crate::store::PartitionKey;

/// Largest request body accepted (the host's default limit is 100 MB).
const MAX_BODY: usize = 100 * 1024 * 1024;
/// Lifetime of client access tokens handed out by `webPubSubConnection`.
const TOKEN_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
enum Input {
    WebPubSubConnection {
        name: String,
        hub: String,
        user_id: Option<String>,
    },
    /// A `cosmosDB` input read by `id` (+ `partitionKey`), both binding expressions.
    CosmosDb {
        name: String,
        container: String,
        id: String,
        partition_key: Option<String>,
    },
}

/// The `cosmosDB` inputs of `function` that read one document. `sqlQuery` inputs are not
/// emulated and are reported once.
fn cosmos_inputs(function: &FunctionJson) -> Vec<Input> {
    function
        .bindings
        .iter()
        .filter(|b| b.direction == Direction::In)
        .filter_map(|b| match &b.kind {
            BindingKind::CosmosDb {
                container_name: Some(container),
                id: Some(id),
                partition_key,
                ..
            } => Some(Input::CosmosDb {
                name: b.name.clone(),
                container: container.clone(),
                id: id.clone(),
                partition_key: partition_key.clone(),
            }),
            BindingKind::CosmosDb {
                sql_query: Some(_), ..
            } => {
                tracing::warn!(function = %function.name, binding = %b.name, "cosmosDB input with sqlQuery is not emulated; the binding stays empty");
                None
            }
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Route {
    function: String,
    binding: String,
    response: Option<String>,
    methods: Vec<String>,
    template: RouteTemplate,
    inputs: Vec<Input>,
}

impl Route {
    fn of(function: &FunctionJson) -> Option<Self> {
        let trigger = function.trigger()?;
        let BindingKind::HttpTrigger { methods, route, .. } = &trigger.kind else {
            return None;
        };
        let response = function
            .bindings
            .iter()
            .find(|b| b.direction == Direction::Out && matches!(b.kind, BindingKind::Http))
            .map(|b| b.name.clone());
        let mut inputs: Vec<Input> = function
            .bindings
            .iter()
            .filter_map(|b| match &b.kind {
                BindingKind::WebPubSubConnection { hub, user_id, .. } => {
                    Some(Input::WebPubSubConnection {
                        name: b.name.clone(),
                        hub: hub.clone().unwrap_or_default(),
                        user_id: user_id.clone(),
                    })
                }
                _ => None,
            })
            .collect();
        inputs.extend(cosmos_inputs(function));
        Some(Self {
            function: function.name.clone(),
            binding: trigger.name.clone(),
            response,
            methods: methods.clone(),
            template: route.clone(),
            inputs,
        })
    }
}

struct HttpHost {
    prefix: String,
    routes: Vec<Route>,
    invoker: Invoker,
    pubsub: Hub,
}

/// The router serving every HTTP function of `manifest` (mount it as a fallback).
pub fn router(manifest: &Manifest, invoker: Invoker, pubsub: Hub) -> Router {
    let prefix = manifest.host.route_prefix.clone();
    let mut routes: Vec<Route> = manifest
        .functions
        .iter()
        .filter(|f| !f.disabled)
        .filter_map(Route::of)
        .collect();
    routes.sort_by_key(|route| route.template.precedence());
    Router::new()
        .fallback(handle)
        .with_state(Arc::new(HttpHost {
            prefix,
            routes,
            invoker,
            pubsub: pubsub.clone(),
        }))
        .layer(axum::middleware::from_fn_with_state(
            pubsub,
            super::webpubsub::same_host::same_host,
        ))
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_owned(),
    )
        .into_response()
}

async fn handle(State(host): State<Arc<HttpHost>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().as_str().to_ascii_uppercase();
    let mut allowed: Vec<String> = Vec::new();
    let mut found = None;
    for route in &host.routes {
        let Some(params) = route.template.matches(&host.prefix, &path) else {
            continue;
        };
        if route.methods.is_empty() || route.methods.contains(&method) {
            found = Some((route, params));
            break;
        }
        allowed.extend(route.methods.iter().cloned());
    }
    let Some((route, params)) = found else {
        if allowed.is_empty() {
            return plain(StatusCode::NOT_FOUND, "no function serves this path");
        }
        allowed.sort();
        allowed.dedup();
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        return response;
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    // The envelope carries a text body as a JSON string; a body that is not UTF-8 would be
    // silently replaced on the way, so it is refused here (binary types travel as base64).
    if !envelope::is_binary(&parts.headers) && std::str::from_utf8(&body).is_err() {
        return plain(
            StatusCode::BAD_REQUEST,
            "request body is not valid UTF-8; send binary data as application/octet-stream",
        );
    }
    let host_header = header_text(&parts.headers, "host").unwrap_or_else(|| "127.0.0.1".into());
    let scheme = header_text(&parts.headers, "x-forwarded-proto").unwrap_or_else(|| "http".into());
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let http_parts = HttpParts {
        url: format!("{scheme}://{host_header}{path_and_query}"),
        method: parts.method.as_str().to_owned(),
        query: parse_query(parts.uri.query().unwrap_or_default()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    header_case(name),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        params,
        body: body.to_vec(),
    };
    let mut envelope = envelope::http(&route.function, &route.binding, &http_parts);
    for input in &route.inputs {
        match input {
            Input::CosmosDb {
                name,
                container,
                id,
                partition_key,
            } => {
                let (Some(id), pk) = (
                    expand(id, &http_parts),
                    partition_key
                        .as_deref()
                        .and_then(|pk| expand(pk, &http_parts)),
                ) else {
                    continue;
                };
                let pk = PartitionKey::from(pk.unwrap_or_else(|| id.clone()));
                match host.invoker.sinks().store.read(container, &pk, &id).await {
                    // The host double-encodes a single document.
                    Ok(Some(doc)) => {
                        let once = Value::String(doc.to_string());
                        envelope = envelope.with_data(name, Value::String(once.to_string()));
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(function = %route.function, %error, "cosmosDB input failed");
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                }
            }
            Input::WebPubSubConnection { name, hub, user_id } => {
                let user_id = resolve_user(user_id.as_deref(), &http_parts);
                let grant = ClientGrant {
                    user_id,
                    ..ClientGrant::default()
                };
                let base = format!("{scheme}://{host_header}");
                match host.pubsub.client_connection(&base, hub, &grant, TOKEN_TTL) {
                    Ok(info) => {
                        let value = serde_json::to_value(info).unwrap_or(Value::Null);
                        envelope = envelope.with_data(name, value);
                    }
                    Err(error) => {
                        tracing::error!(function = %route.function, %error, "webPubSubConnection input failed");
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                }
            }
        }
    }
    let traceparent =
        header_text(&parts.headers, TRACEPARENT_HEADER).unwrap_or_else(new_traceparent);
    let response = match host
        .invoker
        .invoke(&route.function, envelope, Some(traceparent))
        .await
    {
        Ok(response) => response,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let value = match route.response.as_deref() {
        Some("$return") => response.return_value.clone(),
        Some(name) => response.output(name).cloned(),
        None => None,
    };
    let Some(value) = value else {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response();
    };
    let data = match HttpResponseData::from_value("res", &value) {
        Ok(data) => data,
        Err(error) => {
            tracing::error!(function = %route.function, %error, "malformed http output");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let status =
        StatusCode::from_u16(data.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = Response::builder().status(status);
    for (name, value) in &data.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            answer = answer.header(name, value);
        }
    }
    answer
        .body(Body::from(data.body.unwrap_or_default()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// HTTP/1 header names arrive lower-cased by the server; the host shows them as sent, which
/// for browsers and most clients is Title-Case.
fn header_case(name: &HeaderName) -> String {
    name.as_str()
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (decode(name), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// Resolves a binding expression such as `{headers.x-ms-client-principal-id}`; when it gives
/// nothing, the user comes from the `x-ms-client-principal` header.
fn resolve_user(expression: Option<&str>, request: &HttpParts) -> Option<String> {
    expression
        .and_then(|expression| expand(expression, request))
        .or_else(|| {
            request
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("x-ms-client-principal"))
                .and_then(|(_, v)| ClientPrincipal::decode(v).ok())
                .map(|p| p.user_id)
                .filter(|id| !id.is_empty())
        })
}

/// Expands `{name}` (route value or query), `{query.name}` and `{headers.name}` in a binding
/// expression; `None` when the result is empty.
fn expand(expression: &str, request: &HttpParts) -> Option<String> {
    let lookup = |key: &str| -> Option<String> {
        let (scope, name) = key.split_once('.').unwrap_or(("", key));
        let find = |pairs: &[(String, String)], name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        match scope.to_ascii_lowercase().as_str() {
            "headers" => find(&request.headers, name),
            "query" => find(&request.query, name),
            _ => find(&request.params, key).or_else(|| find(&request.query, key)),
        }
    };
    let mut out = String::new();
    let mut rest = expression;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        out.push_str(&lookup(&after[..end]).unwrap_or_default());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    (!out.trim().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_from_expression_or_principal() {
        let request = HttpParts {
            headers: vec![("X-MS-CLIENT-PRINCIPAL-ID".into(), "u-1".into())],
            ..HttpParts::default()
        };
        assert_eq!(
            resolve_user(Some("{headers.x-ms-client-principal-id}"), &request).as_deref(),
            Some("u-1")
        );
        assert_eq!(resolve_user(Some("{query.user}"), &request), None);
    }
}
