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
