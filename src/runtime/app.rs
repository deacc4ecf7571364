//! The `FunctionApp` registry: every function of the app by name, with its declaration.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::routing::MethodRouter;

use super::edge::EdgePolicy;
use super::function::{Function, FunctionDecl, FunctionKind, Invoke};
use super::manifest::{RouteTemplate, routes_collide};

/// Largest request envelope accepted by default (Event Hubs batches can be large).
pub const DEFAULT_MAX_ENVELOPE_BYTES: usize = 64 * 1024 * 1024;

pub(crate) enum Registered {
    Trigger(Invoke),
    /// The function's method router; its path comes from the declaration and the prefix.
    Http {
        method_router: Box<MethodRouter>,
        binding: String,
        response: String,
        template: RouteTemplate,
    },
}

pub(crate) struct Entry {
    pub(crate) decl: FunctionDecl,
    pub(crate) handler: Registered,
}

/// All functions of an app. Build it once, then serve [`FunctionApp::router`].
pub struct FunctionApp {
    pub(crate) functions: BTreeMap<String, Entry>,
    pub(crate) route_prefix: String,
    pub(crate) max_envelope_bytes: usize,
    /// The guard in front of every HTTP function; none unless the app asks for one.
    pub(crate) edge: Option<Arc<EdgePolicy>>,
}

/// A registration mistake found while building the app.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("function `{0}` is registered twice")]
    Duplicate(String),
    #[error("function name `{0}` is not a valid function folder name (letters, digits, `-`, `_`)")]
    InvalidName(String),
    #[error("HTTP function `{0}` has a route that conflicts with function `{1}`")]
    RouteConflict(String, String),
    #[error("HTTP function `{0}`: route: {1}")]
    InvalidRoute(String, String),
}

impl Default for FunctionApp {
    fn default() -> Self {
        Self::new()
    }
}

impl FunctionApp {
    /// An empty app with route prefix `api`.
    pub fn new() -> Self {
        Self {
            functions: BTreeMap::new(),
            route_prefix: "api".to_owned(),
            max_envelope_bytes: DEFAULT_MAX_ENVELOPE_BYTES,
            edge: None,
        }
    }

    /// Sets the HTTP route prefix (host.json `extensions.http.routePrefix`).
    pub fn with_route_prefix(mut self, prefix: &str) -> Self {
        self.route_prefix = prefix.trim_matches('/').to_owned();
        self
    }

    /// Sets the largest accepted envelope body.
    pub fn with_max_envelope_bytes(mut self, bytes: usize) -> Self {
        self.max_envelope_bytes = bytes;
        self
    }

    /// Puts the edge guard ([`super::edge`]) with `policy` in front of every HTTP function,
    /// for forwarded requests and host envelopes alike.
    pub fn with_edge_policy(mut self, policy: EdgePolicy) -> Self {
        self.edge = Some(Arc::new(policy));
        self
    }

    /// Registers `function`; names are unique (case-insensitively, as the host treats them).
    pub fn register(mut self, function: Function) -> Result<Self, RegistryError> {
        let name = function.decl.name.clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(RegistryError::InvalidName(name));
        }
        let key = name.to_ascii_lowercase();
        if self.functions.contains_key(&key) {
            return Err(RegistryError::Duplicate(name));
        }
        let template = match &function.decl.http {
            Some(http) => Some(
                RouteTemplate::parse(&http.route)
                    .map_err(|e| RegistryError::InvalidRoute(name.clone(), e.to_string()))?,
            ),
            None => None,
        };
        if let (Some(http), Some(template)) = (&function.decl.http, &template) {
            for other in self.functions.values() {
                let (
                    Some(other_http),
                    Registered::Http {
                        template: other_template,
                        ..
                    },
                ) = (&other.decl.http, &other.handler)
                else {
                    continue;
                };
                // axum refuses the same shape under different parameter names, and overlapping methods.
                if template.shape() == other_template.shape()
                    && (template.axum_path("") != other_template.axum_path("")
                        || routes_collide(
                            template,
                            &http.methods,
                            other_template,
                            &other_http.methods,
                        ))
                {
                    return Err(RegistryError::RouteConflict(name, other.decl.name.clone()));
                }
            }
        }
        let entry = Self::entry(function, template);
        self.functions.insert(key, entry);
        Ok(self)
    }

    fn entry(function: Function, template: Option<RouteTemplate>) -> Entry {
        let Function { decl, kind } = function;
        let handler = match kind {
            FunctionKind::Trigger(invoke) => Registered::Trigger(invoke),
            FunctionKind::Http { method_router } => {
                let binding = decl.bindings[0].name.clone();
                let response = decl
                    .bindings
                    .get(1)
                    .map(|b| b.name.clone())
                    .unwrap_or_else(|| "res".to_owned());
                Registered::Http {
                    method_router,
                    binding,
                    response,
                    template: template.unwrap_or_else(RouteTemplate::root),
                }
            }
        };
        Entry { decl, handler }
    }

    /// The axum path of an HTTP function's route under the app's prefix.
    pub fn http_path(&self, decl: &FunctionDecl) -> Option<String> {
        match &self.functions.get(&decl.name.to_ascii_lowercase())?.handler {
            Registered::Http { template, .. } => Some(template.axum_path(&self.route_prefix)),
            Registered::Trigger(_) => None,
        }
    }

    /// Every registered function's declaration, sorted by name.
    pub fn declarations(&self) -> Vec<&FunctionDecl> {
        self.functions.values().map(|entry| &entry.decl).collect()
    }

    /// The route prefix HTTP functions are served under.
    pub fn route_prefix(&self) -> &str {
        &self.route_prefix
    }
}
