//! Function registrations: a name, the bindings the handler reads and writes (so `check` can
//! compare them with function.json), and the handler itself.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use serde::de::DeserializeOwned;

use super::outputs::{OutputBinding, Outputs};
use super::protocol::decode::from_value_lenient;
use super::protocol::{InvocationRequest, ProtocolError, RetryContext, SysMetadata};
use super::triggers::{HttpRequestData, Trigger};

/// Binding direction, as in function.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::In => "in",
            Self::Out => "out",
        })
    }
}

/// One binding a handler declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingDecl {
    pub name: String,
    /// The function.json `type`, e.g. `timerTrigger`, `webPubSub`.
    pub binding_type: String,
    pub direction: Direction,
}

/// The route of an HTTP function, as declared in code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpDecl {
    /// Route template without the prefix, e.g. `users/{id}`.
    pub route: String,
    /// Upper-case methods; empty means every method.
    pub methods: Vec<String>,
}

/// Everything the runtime and `check` know about a function without running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDecl {
    pub name: String,
    /// The trigger first, then inputs and outputs in declaration order.
    pub bindings: Vec<BindingDecl>,
    pub http: Option<HttpDecl>,
}

impl FunctionDecl {
    pub fn trigger(&self) -> Option<&BindingDecl> {
        self.bindings.first()
    }

    /// True when the bindings are exactly one `httpTrigger` in and one `http` out: the
    /// functions the host may forward as plain HTTP.
    pub fn is_http_only(&self) -> bool {
        self.bindings.len() == 2
            && self.bindings[0].binding_type == "httpTrigger"
            && self.bindings[1].binding_type == "http"
            && self.bindings[1].direction == Direction::Out
    }
}

/// A handler failure: the invocation answers non-2xx so the host fails it (and retries where a
/// retry policy or the trigger allows).
pub struct FunctionError(Box<dyn std::error::Error + Send + Sync>);

impl FunctionError {
    pub fn msg(message: impl Into<String>) -> Self {
        Self(message.into().into())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for FunctionError {
    fn from(error: E) -> Self {
        Self(Box::new(error))
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Per-invocation context handed to every handler (and inserted into HTTP request extensions).
#[derive(Debug, Clone)]
pub struct Context {
    pub function_name: String,
    pub invocation_id: Option<String>,
    pub traceparent: Option<String>,
    pub request: Arc<InvocationRequest>,
}

impl Context {
    /// Reads input binding `name` (`Data.<name>`), tolerant of JSON-in-a-string.
    pub fn input<T: DeserializeOwned>(&self, name: &str) -> Result<T, ProtocolError> {
        let value = self.request.data_value(name)?;
        from_value_lenient(value)
            .map_err(|error| ProtocolError::malformed(format!("Data.{name}"), error))
    }

    pub fn sys(&self) -> SysMetadata {
        self.request.sys()
    }

    pub fn retry_context(&self) -> Option<RetryContext> {
        self.request.retry_context()
    }
}

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = Result<Outputs, InvokeError>> + Send>>;
pub(crate) type Invoke = Arc<dyn Fn(Context) -> BoxFuture + Send + Sync>;

/// Why an invocation did not produce outputs.
pub(crate) enum InvokeError {
    /// The envelope did not hold a readable trigger: a 400.
    Protocol(ProtocolError),
    /// The handler failed: a 500, so the host fails the invocation.
    Handler(FunctionError),
}

pub(crate) enum FunctionKind {
    Trigger(Invoke),
    Http { method_router: Box<MethodRouter> },
}

/// A function ready to register with a [`super::FunctionApp`].
pub struct Function {
    pub(crate) decl: FunctionDecl,
    pub(crate) kind: FunctionKind,
}

impl Function {
    /// A function triggered by `T` (timer, Cosmos DB, Event Grid, Event Hubs) from binding `binding`.
    pub fn trigger<T, F, Fut>(name: &str, binding: &str, handler: F) -> Self
    where
        T: Trigger,
        F: Fn(T, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outputs, FunctionError>> + Send + 'static,
    {
        let binding_name = binding.to_owned();
        let handler = Arc::new(handler);
        let invoke: Invoke = Arc::new(move |context: Context| {
            let parsed = T::from_invocation(&binding_name, &context.request);
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let trigger = parsed.map_err(InvokeError::Protocol)?;
                handler(trigger, context)
                    .await
                    .map_err(InvokeError::Handler)
            })
        });
        Self {
            decl: FunctionDecl {
                name: name.to_owned(),
                bindings: vec![BindingDecl {
                    name: binding.to_owned(),
                    binding_type: T::BINDING_TYPE.to_owned(),
                    direction: Direction::In,
                }],
                http: None,
            },
            kind: FunctionKind::Trigger(invoke),
        }
    }

    /// An HTTP function: a plain axum handler on `route` (without the route prefix) for
    /// `methods` (e.g. `["GET"]`; empty = all). Bindings are `req` in and `res` out.
    pub fn http<H, T>(name: &str, methods: &[&str], route: &str, handler: H) -> Self
    where
        H: Handler<T, ()>,
        T: 'static,
    {
        let methods: Vec<String> = methods
            .iter()
            .map(|method| method.to_ascii_uppercase())
            .collect();
        let filter = methods
            .iter()
            .filter_map(|method| Method::from_bytes(method.as_bytes()).ok())
            .filter_map(|method| MethodFilter::try_from(method).ok())
            .reduce(MethodFilter::or);
        let method_router = match filter {
            Some(filter) => on(filter, handler),
            None => axum::routing::any(handler),
        };
        Self {
            decl: FunctionDecl {
                name: name.to_owned(),
                bindings: vec![
                    BindingDecl {
                        name: HttpRequestData::DEFAULT_BINDING.to_owned(),
                        binding_type: "httpTrigger".to_owned(),
                        direction: Direction::In,
                    },
                    BindingDecl {
                        name: "res".to_owned(),
                        binding_type: "http".to_owned(),
                        direction: Direction::Out,
                    },
                ],
                http: Some(HttpDecl {
                    route: route.trim_matches('/').to_owned(),
                    methods,
                }),
            },
            kind: FunctionKind::Http {
                method_router: Box::new(method_router),
            },
        }
    }

    /// Renames the HTTP trigger and response bindings (defaults `req` and `res`).
    pub fn http_bindings(mut self, request: &str, response: &str) -> Self {
        for binding in &mut self.decl.bindings {
            match binding.binding_type.as_str() {
                "httpTrigger" => binding.name = request.to_owned(),
                "http" => binding.name = response.to_owned(),
                _ => {}
            }
        }
        self
    }

    /// Declares an output binding written with the typed output `O`.
    pub fn output<O: OutputBinding>(self, name: &str) -> Self {
        self.binding(name, O::BINDING_TYPE, Direction::Out)
    }

    /// Declares any binding by its function.json type (e.g. a `webPubSubConnection` input).
    pub fn binding(mut self, name: &str, binding_type: &str, direction: Direction) -> Self {
        self.decl.bindings.push(BindingDecl {
            name: name.to_owned(),
            binding_type: binding_type.to_owned(),
            direction,
        });
        self
    }

    pub fn decl(&self) -> &FunctionDecl {
        &self.decl
    }
}

/// Converts a Functions route template to an axum path under `prefix`: constraints
/// (`{id:int}`) and optional markers (`{id?}`) are dropped; `{*rest}` stays a catch-all.
pub fn axum_path(prefix: &str, route: &str) -> String {
    let mut path = String::new();
    for segment in prefix
        .split('/')
        .chain(route.split('/'))
        .filter(|segment| !segment.is_empty())
    {
        path.push('/');
        if let Some(inner) = segment
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
        {
            let name = inner
                .split([':', '='])
                .next()
                .unwrap_or(inner)
                .trim_end_matches('?');
            path.push('{');
            path.push_str(name);
            path.push('}');
        } else {
            path.push_str(segment);
        }
    }
    if path.is_empty() {
        "/".to_owned()
    } else {
        path
    }
}

/// Characters escaped in one path segment (everything but RFC 3986 unreserved characters).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// As [`SEGMENT`], but keeping `/` for catch-all values.
const CATCH_ALL: &percent_encoding::AsciiSet = &SEGMENT.remove(b'/');

/// The request path for `route` under `prefix` with the host's route values substituted
/// (`Data.<req>.Params`, matched case-insensitively). `None` when a required value is missing.
/// Used in envelope mode because the host matched the route already (case-insensitively).
pub fn route_path(
    prefix: &str,
    route: &str,
    params: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let lookup = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    let mut path = String::new();
    for segment in prefix
        .split('/')
        .chain(route.split('/'))
        .filter(|segment| !segment.is_empty())
    {
        match segment
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
        {
            Some(inner) => {
                let catch_all = inner.starts_with('*');
                let name = inner.trim_start_matches('*');
                let optional = name.ends_with('?');
                let name = name
                    .split([':', '='])
                    .next()
                    .unwrap_or(name)
                    .trim_end_matches('?');
                match lookup(name) {
                    Some(value) => {
                        let set = if catch_all { CATCH_ALL } else { SEGMENT };
                        path.push('/');
                        path.extend(percent_encoding::utf8_percent_encode(value, set));
                    }
                    None if optional => {}
                    None => return None,
                }
            }
            None => {
                path.push('/');
                path.push_str(segment);
            }
        }
    }
    Some(if path.is_empty() {
        "/".to_owned()
    } else {
        path
    })
}

#[cfg(test)]
mod tests {
    use super::{axum_path, route_path};

    #[test]
    fn route_paths_from_params() {
        let params = [
            ("Id".to_owned(), "a b/c".to_owned()),
            ("rest".to_owned(), "x/y".to_owned()),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            route_path("api", "users/{id:alpha}/files/{*rest}", &params).as_deref(),
            Some("/api/users/a%20b%2Fc/files/x/y")
        );
        assert_eq!(
            route_path("api", "round", &params).as_deref(),
            Some("/api/round")
        );
        assert_eq!(route_path("api", "users/{missing}", &params), None);
        assert_eq!(
            route_path("api", "users/{missing?}", &params).as_deref(),
            Some("/api/users")
        );
    }

    #[test]
    fn converts_route_templates() {
        assert_eq!(axum_path("api", "users/{id:int}"), "/api/users/{id}");
        assert_eq!(axum_path("api", "files/{*rest}"), "/api/files/{*rest}");
        assert_eq!(axum_path("", "round"), "/round");
        assert_eq!(axum_path("/api/", "/x/{y?}/"), "/api/x/{y}");
    }
}
