//! The axum router that answers the host: readiness on `GET /`, invocations on
//! `POST /{FunctionName}`, and forwarded HTTP requests on the functions' own `/api/...` paths.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::FutureExt;
use opentelemetry::context::FutureExt as _;
use serde_json::{Value, json};
use tower::ServiceExt;
use tracing::Instrument;

use super::app::{FunctionApp, Registered};
use super::edge;
use super::function::{Context, InvokeError};
use super::logs::take_span_logs;
use super::manifest::RouteTemplate;
use super::outputs::{HttpResponseData, Outputs};
use super::protocol::{InvocationRequest, InvocationResponse, ProtocolError};
use super::telemetry::invocation::{FunctionLabels, InvocationSpan, labels};
use super::telemetry::spans_have_ids;
use super::triggers::facts::{TriggerFacts, trigger_facts};
use super::triggers::{HttpRequestData, Trigger};

/// Header carrying the host's invocation id.
pub const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";
/// W3C trace-context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

enum Target {
    Trigger {
        invoke: super::function::Invoke,
        /// The trigger binding's function.json type and name.
        binding_type: String,
        binding: String,
    },
    Http {
        router: Router,
        binding: String,
        response: String,
        /// Route prefix and template, to rebuild the path from the host's route values.
        prefix: String,
        template: RouteTemplate,
    },
}

struct Dispatch {
    functions: HashMap<String, (String, &'static FunctionLabels, Target)>,
}

impl FunctionApp {
    /// The one router for the host and for `devhost`: `GET /` readiness, `POST /{FunctionName}`
    /// invocation envelopes, and the forwarded paths of HTTP-only functions.
    pub fn router(&self) -> Router {
        let mut functions = HashMap::new();
        let mut forwarded = Router::new();
        for (key, entry) in &self.functions {
            let target = match &entry.handler {
                Registered::Trigger(invoke) => {
                    let trigger = entry.decl.trigger();
                    Target::Trigger {
                        invoke: Arc::clone(invoke),
                        binding_type: trigger.map(|t| t.binding_type.clone()).unwrap_or_default(),
                        binding: trigger.map(|t| t.name.clone()).unwrap_or_default(),
                    }
                }
                Registered::Http {
                    method_router,
                    binding,
                    response,
                    template,
                } => {
                    let path = template.axum_path(&self.route_prefix);
                    let guarded = match &self.edge {
                        Some(policy) => {
                            (**method_router)
                                .clone()
                                .layer(middleware::from_fn_with_state(
                                    Arc::clone(policy),
                                    edge::guard,
                                ))
                        }
                        None => (**method_router).clone(),
                    };
                    if entry.decl.is_http_only() {
                        let labels = labels(&entry.decl.name, "httpTrigger");
                        let traced =
                            guarded
                                .clone()
                                .layer(middleware::from_fn(move |request, next| {
                                    forwarded_span(labels, request, next)
                                }));
                        forwarded = forwarded.route(&path, traced);
                    }
                    Target::Http {
                        router: Router::new().route(&path, guarded),
                        binding: binding.clone(),
                        response: response.clone(),
                        prefix: self.route_prefix.clone(),
                        template: template.clone(),
                    }
                }
            };
            let binding_type = match &target {
                Target::Trigger { binding_type, .. } => binding_type.as_str(),
                Target::Http { .. } => "httpTrigger",
            };
            let labels = labels(&entry.decl.name, binding_type);
            functions.insert(key.clone(), (entry.decl.name.clone(), labels, target));
        }
        let dispatch = Arc::new(Dispatch { functions });
        Router::new()
            .route("/", get(ready))
            .route(
                "/{function}",
                post(invoke)
                    .with_state(dispatch)
                    .layer(DefaultBodyLimit::max(self.max_envelope_bytes)),
            )
            .fallback_service(forwarded.fallback(not_found))
    }
}

async fn ready() -> &'static str {
    "ready"
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "no function serves this path".to_owned(),
        None,
        Vec::new(),
    )
}

async fn forwarded_span(labels: &'static FunctionLabels, request: Request, next: Next) -> Response {
    let invocation_id = header_text(request.headers(), INVOCATION_ID_HEADER);
    let traceparent = header_text(request.headers(), TRACEPARENT_HEADER);
    let invocation = InvocationSpan::start(
        labels,
        invocation_id.as_deref(),
        traceparent.as_deref(),
        &TriggerFacts::default(),
    );
    let response = in_invocation(&invocation, next.run(request)).await;
    let status = response.status();
    invocation.record_status(status.as_u16());
    invocation.finish(!status.is_server_error());
    response
}

/// Runs `work` inside the invocation: its `tracing` span entered and, with a tracer, its
/// OpenTelemetry context attached (so spans opened inside are its children).
async fn in_invocation<F: Future>(invocation: &InvocationSpan, work: F) -> F::Output {
    let work = work.instrument(invocation.span().clone());
    match invocation.otel_context() {
        Some(context) => work.with_context(context.clone()).await,
        None => work.await,
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn error_response(
    status: StatusCode,
    message: String,
    field: Option<&str>,
    logs: Vec<String>,
) -> Response {
    let mut body = json!({ "error": message });
    if let Some(field) = field {
        body["field"] = Value::String(field.to_owned());
    }
    if !logs.is_empty() {
        body["Logs"] = json!(logs);
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn protocol_error(error: &ProtocolError, logs: Vec<String>) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        error.to_string(),
        error.field(),
        logs,
    )
}

async fn invoke(
    State(dispatch): State<Arc<Dispatch>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((function_name, labels, target)) = dispatch.functions.get(&name.to_ascii_lowercase())
    else {
        return error_response(
            StatusCode::NOT_FOUND,
            format!("no function named `{name}` is registered"),
            None,
            Vec::new(),
        );
    };
    let request = match InvocationRequest::from_slice(&body) {
        Ok(request) => Arc::new(request),
        Err(error) => return protocol_error(&error, Vec::new()),
    };
    let invocation_id = header_text(&headers, INVOCATION_ID_HEADER);
    let traceparent = header_text(&headers, TRACEPARENT_HEADER)
        .or_else(|| traceparent_from_data(target, &request));
    let facts = match target {
        // Read only when spans have ids or metrics export: the payload is parsed again.
        Target::Trigger {
            binding_type,
            binding,
            ..
        } if spans_have_ids() || super::telemetry::metrics::enabled() => {
            trigger_facts(binding_type, binding, &request)
        }
        _ => TriggerFacts::default(),
    };
    let invocation = InvocationSpan::start(
        labels,
        invocation_id.as_deref(),
        traceparent.as_deref(),
        &facts,
    );
    let span = invocation.span().clone();
    let context = Context {
        function_name: function_name.clone(),
        invocation_id,
        traceparent,
        request,
    };
    let result = in_invocation(
        &invocation,
        AssertUnwindSafe(run(target, context)).catch_unwind(),
    )
    .await;
    if let Ok(Ok((_, Some(status)))) = &result {
        invocation.record_status(*status);
    }
    invocation.finish(matches!(result, Ok(Ok(_))));
    let _entered = span.enter();
    match result {
        Ok(Ok((outputs, _))) => {
            let mut logs = take_span_logs(&span);
            logs.extend(outputs.logs);
            let envelope = InvocationResponse {
                outputs: outputs.values,
                logs: Some(logs),
                return_value: outputs.return_value,
            };
            match serde_json::to_string(&envelope) {
                Ok(text) => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    text,
                )
                    .into_response(),
                Err(error) => error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error.to_string(),
                    None,
                    Vec::new(),
                ),
            }
        }
        Ok(Err(InvokeError::Protocol(error))) => {
            tracing::warn!(%error, "invocation envelope rejected");
            protocol_error(&error, take_span_logs(&span))
        }
        Ok(Err(InvokeError::Handler(error))) => {
            tracing::error!(%error, "function failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("function failed: {error}"),
                None,
                take_span_logs(&span),
            )
        }
        Err(_) => {
            tracing::error!("function panicked");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "function panicked".to_owned(),
                None,
                take_span_logs(&span),
            )
        }
    }
}

fn traceparent_from_data(target: &Target, request: &InvocationRequest) -> Option<String> {
    let Target::Http { binding, .. } = target else {
        return None;
    };
    let headers = request.data.get(binding)?.get("Headers")?.as_object()?;
    let (_, value) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(TRACEPARENT_HEADER))?;
    match value {
        Value::Array(values) => values.first()?.as_str().map(str::to_owned),
        Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

/// Runs the function; an HTTP function's answer also gives its response status.
async fn run(target: &Target, context: Context) -> Result<(Outputs, Option<u16>), InvokeError> {
    match target {
        Target::Trigger { invoke, .. } => Ok((invoke(context).await?, None)),
        Target::Http { .. } => run_http(target, context).await,
    }
}

async fn run_http(
    target: &Target,
    context: Context,
) -> Result<(Outputs, Option<u16>), InvokeError> {
    let Target::Http {
        router,
        binding,
        response,
        prefix,
        template,
    } = target
    else {
        return Err(InvokeError::Handler(super::function::FunctionError::msg(
            "not an HTTP function",
        )));
    };
    let data = HttpRequestData::from_invocation(binding, &context.request)
        .map_err(InvokeError::Protocol)?;
    let mut request = data
        .to_http_request(binding)
        .map_err(InvokeError::Protocol)?;
    // The host matched the route case-insensitively; route on the template it matched.
    if let Some(path) = template.fill(prefix, &data.params)
        && path != request.uri().path()
    {
        let uri = match request.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        if let Ok(uri) = uri.parse() {
            *request.uri_mut() = uri;
        }
    }
    request.extensions_mut().insert(context);
    let answer = router
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let (mut parts, body) = answer.into_parts();
    let extra = parts.extensions.remove::<Outputs>();
    let bytes = axum::body::to_bytes(Body::new(body), usize::MAX)
        .await
        .map_err(|error| InvokeError::Handler(error.into()))?;
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        // The host frames the body itself.
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        let text = String::from_utf8_lossy(value.as_bytes());
        match headers.get_mut(name.as_str()) {
            Some(existing) => {
                existing.push_str(", ");
                existing.push_str(&text);
            }
            None => {
                headers.insert(name.as_str().to_owned(), text.into_owned());
            }
        }
    }
    let body = if bytes.is_empty() {
        None
    } else {
        // Zero-copy when the handler's body buffer is not shared.
        match String::from_utf8(Vec::from(bytes)) {
            Ok(text) => Some(text),
            Err(_) => {
                return Err(InvokeError::Handler(super::function::FunctionError::msg(
                    "HTTP response body is not UTF-8; the host cannot carry binary bodies in envelope mode",
                )));
            }
        }
    };
    let mut outputs = Outputs::new().set(
        response,
        HttpResponseData {
            status_code: parts.status.as_u16(),
            headers,
            body,
        },
    );
    if let Some(extra) = extra {
        outputs.merge(extra);
    }
    Ok((outputs, Some(parts.status.as_u16())))
}
