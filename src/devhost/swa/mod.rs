//! Static Web Apps emulation: serves the site root, applies `staticwebapp.config.json`
//! (routes, roles, rewrites, redirects, headers, navigation fallback, response overrides),
//! emulates `/.auth/*`, and forwards `/api/*` to an inner API router with the headers Static
//! Web Apps adds for its API / linked backend: `x-ms-client-principal` (base64 JSON without
//! `claims`), `x-ms-original-url` and `x-ms-request-id` (as the SWA CLI does,
//! Azure/static-web-apps-cli `src/msha/handlers/function.handler.ts`; the CLI's stand-in
//! `Authorization: Bearer` is local-only and not sent here). No other identity header reaches
//! the API: client-sent `x-ms-client-principal-id` / `-name` / `-idp` are removed.
//!
//! Dev-only convenience: a request to `/api` with no valid auth cookie but its own
//! `x-ms-client-principal` header (scripts, tests) keeps that header, the way a Functions host
//! reached directly accepts it; its roles count for `allowedRoles`. With a cookie, a
//! client-sent principal header is always replaced.

pub mod auth;
pub mod config;
pub mod pattern;
pub mod session;
pub mod static_files;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::Key;
use tower::ServiceExt;
use uuid::Uuid;

use crate::runtime::principal::{CLIENT_PRINCIPAL_HEADER as PRINCIPAL_HEADER, ClientPrincipal};
use config::{ConfigError, RouteRule, SwaConfig};
pub use session::Sessions;

/// App Service authentication's identity headers: never forwarded, whoever sent them.
const FOREIGN_PRINCIPAL_HEADERS: [&str; 3] = [
    "x-ms-client-principal-id",
    "x-ms-client-principal-name",
    "x-ms-client-principal-idp",
];

/// Options for [`router`].
pub struct SwaOptions {
    /// Signs the auth cookie. Keep it stable (derived from a persisted secret) to keep users
    /// signed in across restarts; the default is random per process.
    pub cookie_key: Key,
    /// Where logged-out sessions are remembered (memory only when `None`).
    pub revocations: Option<PathBuf>,
}

impl SwaOptions {
    /// Options whose cookie key comes from `secret` (at least 64 bytes, e.g. random bytes
    /// persisted in the data directory).
    pub fn with_secret(secret: &[u8]) -> Result<Self, SwaError> {
        let cookie_key = Key::try_from(secret).map_err(|_| SwaError::ShortSecret(secret.len()))?;
        Ok(Self {
            cookie_key,
            revocations: None,
        })
    }
}

impl Default for SwaOptions {
    fn default() -> Self {
        Self {
            cookie_key: Key::generate(),
            revocations: None,
        }
    }
}

/// Why the emulation cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SwaError {
    #[error("site root {0}: not a directory")]
    SiteRoot(PathBuf),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the cookie signing secret must be at least 64 bytes (got {0})")]
    ShortSecret(usize),
}

/// Builds the Static Web Apps router for `site_root`, forwarding `/api` and everything below
/// it (path unchanged, `/api/...`) to `api`.
pub fn router(
    site_root: impl Into<PathBuf>,
    api: Router,
    options: SwaOptions,
) -> Result<Router, SwaError> {
    let sessions = Sessions::new(options.cookie_key, options.revocations);
    router_with_sessions(site_root, api, sessions)
}

/// As [`router`], sharing `sessions` with other parts of the platform (the admin tools).
pub fn router_with_sessions(
    site_root: impl Into<PathBuf>,
    api: Router,
    sessions: Sessions,
) -> Result<Router, SwaError> {
    let root = site_root.into();
    if !root.is_dir() {
        return Err(SwaError::SiteRoot(root));
    }
    let config = SwaConfig::load(&root)?;
    let swa = Arc::new(Swa {
        root,
        config,
        api,
        sessions,
    });
    Ok(Router::new().fallback(handle).with_state(swa))
}

struct Swa {
    root: PathBuf,
    config: SwaConfig,
    api: Router,
    sessions: Sessions,
}

/// Who is calling.
enum Identity {
    Anonymous,
    /// Signed in through the emulated `/.auth/login`.
    Cookie(ClientPrincipal),
    /// An API call carrying its own `x-ms-client-principal` (decoded when possible).
    Header(Option<ClientPrincipal>),
}

impl Identity {
    fn principal(&self) -> Option<&ClientPrincipal> {
        match self {
            Self::Cookie(p) | Self::Header(Some(p)) => Some(p),
            Self::Anonymous | Self::Header(None) => None,
        }
    }

    fn allows(&self, allowed_roles: &[String]) -> bool {
        let principal = self.principal();
        allowed_roles.iter().any(|role| {
            role.eq_ignore_ascii_case("anonymous")
                || (principal.is_some() && role.eq_ignore_ascii_case("authenticated"))
                || principal.is_some_and(|p| p.has_role(role))
        })
    }
}

fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The path as the file system and rules see it: percent-decoded, empty and `.` segments
/// dropped (as `ServeDir` does), so `/%61dmin//x` meets the rules for `/admin/x`. `None` for
/// `..` segments or undecodable bytes.
fn normalized(raw: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    let mut path = String::with_capacity(decoded.len());
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            segment => {
                path.push('/');
                path.push_str(segment);
            }
        }
    }
    if path.is_empty() || decoded.ends_with('/') {
        path.push('/');
    }
    Some(path)
}

async fn handle(State(swa): State<Arc<Swa>>, request: Request) -> Response {
    let Some(path) = normalized(request.uri().path()) else {
        return (StatusCode::BAD_REQUEST, "malformed request path").into_response();
    };
    let method = request.method().clone();
    let identity = swa.identify(request.headers(), &path);
    let rule = swa.config.routes.iter().find(|r| r.matches(&path, &method));
    let mut response = match rule {
        None => swa.dispatch(request, &identity).await,
        Some(rule) => swa.apply(rule, request, &identity).await,
    };
    let rule_headers = rule.map(|r| r.headers.as_slice()).unwrap_or_default();
    let headers = response.headers_mut();
    for (name, value) in swa.config.global_headers.iter().chain(rule_headers) {
        headers.insert(name.clone(), value.clone());
    }
    response
}

/// `request` with its path (and query, if the target has one) replaced by `target`.
fn rewritten(mut request: Request, target: &str) -> Request {
    let with_query = match (target.contains('?'), request.uri().query()) {
        (false, Some(query)) => format!("{target}?{query}"),
        _ => target.to_owned(),
    };
    if let Ok(uri) = with_query.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    request
}

impl Swa {
    /// Applies the first matching route rule: roles, then redirect, rewrite or status.
    async fn apply(&self, rule: &RouteRule, request: Request, identity: &Identity) -> Response {
        let denied = rule
            .allowed_roles
            .as_ref()
            .is_some_and(|roles| !identity.allows(roles));
        if denied {
            let status = if identity.principal().is_some() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            return self.error_response(status, request.headers()).await;
        }
        if let Some(location) = &rule.redirect {
            let status = rule.status_code.unwrap_or(StatusCode::FOUND);
            return (status, [(header::LOCATION, location.clone())]).into_response();
        }
        let request = match &rule.rewrite {
            Some(target) => rewritten(request, target),
            None => match rule.status_code.filter(|s| s.as_u16() >= 400) {
                Some(status) => return self.error_response(status, request.headers()).await,
                None => request,
            },
        };
        let mut response = self.dispatch(request, identity).await;
        if let Some(status) = rule.status_code {
            *response.status_mut() = status;
        }
        response
    }

    fn identify(&self, headers: &HeaderMap, path: &str) -> Identity {
        if let Some(principal) = self.sessions.principal(headers) {
            return Identity::Cookie(principal);
        }
        match headers.get(PRINCIPAL_HEADER) {
            // A principal without the `authenticated` role is not signed in (Static Web Apps
            // gives every signed-in user that role); it counts as anonymous for route rules.
            Some(value) if is_under(path, "/api") => Identity::Header(
                value
                    .to_str()
                    .ok()
                    .and_then(|text| ClientPrincipal::decode(text).ok())
                    .filter(|p| p.user_roles.iter().any(|r| r == "authenticated")),
            ),
            _ => Identity::Anonymous,
        }
    }

    /// Serves a request after the route rules: auth endpoints, the API, or static files.
    async fn dispatch(&self, request: Request, identity: &Identity) -> Response {
        let raw_path = request.uri().path().to_owned();
        let Some(path) = normalized(&raw_path) else {
            return (StatusCode::BAD_REQUEST, "malformed request path").into_response();
        };
        if is_under(&path, "/.auth") {
            return auth::handle(request, &path, &self.sessions).await;
        }
        if is_under(&path, "/api") {
            return self.forward(request, identity).await;
        }
        let method = request.method().clone();
        let headers = request.headers();
        let response = self.serve_file(&method, headers, &raw_path).await;
        if response.status() != StatusCode::NOT_FOUND
            || !(method == Method::GET || method == Method::HEAD)
        {
            return response;
        }
        if let Some(fallback) = &self.config.navigation_fallback
            && !fallback.exclude.iter().any(|p| p.matches(&path))
        {
            let response = self.serve_file(&method, headers, &fallback.rewrite).await;
            if response.status() != StatusCode::NOT_FOUND {
                return response;
            }
        }
        self.error_response(StatusCode::NOT_FOUND, headers).await
    }

    async fn serve_file(&self, method: &Method, headers: &HeaderMap, path: &str) -> Response {
        static_files::serve(&self.root, method, headers, path, &self.config.mime_types).await
    }

    /// Forwards to the API with the headers Static Web Apps sets, and no other identity header.
    async fn forward(&self, mut request: Request, identity: &Identity) -> Response {
        let original_url = format!(
            "http://{}{}",
            request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost"),
            request.uri().path_and_query().map_or("/", |p| p.as_str())
        );
        let headers = request.headers_mut();
        for name in FOREIGN_PRINCIPAL_HEADERS {
            headers.remove(name);
        }
        if !matches!(identity, Identity::Header(_)) {
            headers.remove(PRINCIPAL_HEADER);
        }
        if let Identity::Cookie(principal) = identity
            && let Ok(value) = HeaderValue::from_str(&principal.encode())
        {
            headers.insert(HeaderName::from_static(PRINCIPAL_HEADER), value);
        }
        if let Ok(value) = HeaderValue::from_str(&original_url) {
            headers.insert(HeaderName::from_static("x-ms-original-url"), value);
        }
        if let Ok(value) = HeaderValue::from_str(&Uuid::new_v4().to_string()) {
            headers.insert(HeaderName::from_static("x-ms-request-id"), value);
        }
        match self.api.clone().oneshot(request).await {
            Ok(response) => response,
            Err(infallible) => match infallible {},
        }
    }

    /// The response for an error status, after `responseOverrides`.
    async fn error_response(&self, status: StatusCode, headers: &HeaderMap) -> Response {
        let Some(rule) = self.config.response_overrides.get(&status) else {
            return default_error(status);
        };
        if let Some(location) = &rule.redirect {
            let status = rule.status_code.unwrap_or(StatusCode::FOUND);
            return (status, [(header::LOCATION, location.clone())]).into_response();
        }
        let final_status = rule.status_code.unwrap_or(status);
        if let Some(target) = &rule.rewrite {
            let mut plain = headers.clone();
            plain.remove(header::IF_NONE_MATCH);
            plain.remove(header::IF_MODIFIED_SINCE);
            plain.remove(header::RANGE);
            let mut response = self.serve_file(&Method::GET, &plain, target).await;
            if response.status().is_success() {
                *response.status_mut() = final_status;
                return response;
            }
        }
        default_error(final_status)
    }
}

fn default_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\
         <body><h1>{code} {reason}</h1></body></html>"
    );
    (status, Html(page)).into_response()
}
