//! `staticwebapp.config.json`: the schema Static Web Apps reads, parsed and validated into
//! rules the router applies. Every error names the offending field (`routes[2].redirect`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use serde::Deserialize;

use super::pattern::RoutePattern;

/// The config file's name, read from the site root.
pub const CONFIG_FILE: &str = "staticwebapp.config.json";

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: String,
        field: String,
        message: String,
    },
}

/// A validated config.
#[derive(Debug, Clone, Default)]
pub struct SwaConfig {
    pub routes: Vec<RouteRule>,
    pub navigation_fallback: Option<NavigationFallback>,
    pub response_overrides: HashMap<StatusCode, ResponseOverride>,
    pub global_headers: Vec<(HeaderName, HeaderValue)>,
    /// Lower-case extension without the dot → content type.
    pub mime_types: HashMap<String, HeaderValue>,
}

/// One entry of `routes`.
#[derive(Debug, Clone)]
pub struct RouteRule {
    pub pattern: RoutePattern,
    pub methods: Option<Vec<Method>>,
    pub allowed_roles: Option<Vec<String>>,
    pub rewrite: Option<String>,
    pub redirect: Option<String>,
    pub status_code: Option<StatusCode>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl RouteRule {
    pub fn matches(&self, path: &str, method: &Method) -> bool {
        self.pattern.matches(path)
            && self
                .methods
                .as_ref()
                .is_none_or(|methods| methods.contains(method))
    }
}

/// `navigationFallback`.
#[derive(Debug, Clone)]
pub struct NavigationFallback {
    pub rewrite: String,
    pub exclude: Vec<RoutePattern>,
}

/// One entry of `responseOverrides`.
#[derive(Debug, Clone)]
pub struct ResponseOverride {
    pub rewrite: Option<String>,
    pub redirect: Option<String>,
    pub status_code: Option<StatusCode>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    routes: Vec<RawRoute>,
    navigation_fallback: Option<RawFallback>,
    #[serde(default)]
    response_overrides: BTreeMap<String, RawOverride>,
    #[serde(default)]
    global_headers: BTreeMap<String, String>,
    #[serde(default)]
    mime_types: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRoute {
    route: String,
    methods: Option<Vec<String>>,
    allowed_roles: Option<Vec<String>>,
    rewrite: Option<String>,
    redirect: Option<String>,
    status_code: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawFallback {
    rewrite: String,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawOverride {
    rewrite: Option<String>,
    redirect: Option<String>,
    status_code: Option<u16>,
}

/// A validation failure before the file path is attached.
struct FieldError {
    field: String,
    message: String,
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

impl SwaConfig {
    /// Reads `staticwebapp.config.json` from `site_root`; no file means an empty config.
    pub fn load(site_root: &Path) -> Result<Self, ConfigError> {
        let path = site_root.join(CONFIG_FILE);
        let shown = path.display().to_string();
        match std::fs::read(&path) {
            Ok(bytes) => Self::parse(&bytes).map_err(|e| ConfigError::Invalid {
                path: shown,
                field: e.field,
                message: e.message,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read {
                path: shown,
                source,
            }),
        }
    }

    /// Parses and validates the config text.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        Self::parse(bytes).map_err(|e| ConfigError::Invalid {
            path: CONFIG_FILE.to_owned(),
            field: e.field,
            message: e.message,
        })
    }

    fn parse(bytes: &[u8]) -> Result<Self, FieldError> {
        let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let field = match path.as_str() {
                "." | "?" => "(document)".to_owned(),
                _ => path,
            };
            field_error(field, e.into_inner().to_string())
        })?;
        let routes = raw
            .routes
            .into_iter()
            .enumerate()
            .map(|(i, route)| route_rule(&format!("routes[{i}]"), route))
            .collect::<Result<_, _>>()?;
        let navigation_fallback = raw
            .navigation_fallback
            .map(|fallback| {
                let rewrite = local_path("navigationFallback.rewrite", fallback.rewrite)?;
                let exclude = fallback
                    .exclude
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        RoutePattern::parse(p)
                            .map_err(|m| field_error(format!("navigationFallback.exclude[{i}]"), m))
                    })
                    .collect::<Result<_, _>>()?;
                Ok::<_, FieldError>(NavigationFallback { rewrite, exclude })
            })
            .transpose()?;
        let mut response_overrides = HashMap::new();
        for (code, raw) in raw.response_overrides {
            let field = format!("responseOverrides.{code}");
            let status = match code.as_str() {
                "400" | "401" | "403" | "404" | "405" => code
                    .parse::<u16>()
                    .ok()
                    .and_then(|c| StatusCode::from_u16(c).ok()),
                _ => None,
            }
            .ok_or_else(|| {
                field_error(&field, "only 400, 401, 403, 404 and 405 can be overridden")
            })?;
            response_overrides.insert(status, response_override(&field, raw)?);
        }
        let global_headers = headers("globalHeaders", raw.global_headers)?;
        let mut mime_types = HashMap::new();
        for (extension, content_type) in raw.mime_types {
            let field = format!("mimeTypes.{extension}");
            let bare = extension
                .strip_prefix('.')
                .filter(|e| !e.is_empty())
                .ok_or_else(|| {
                    field_error(&field, "the key must be an extension like \".json\"")
                })?;
            let value = HeaderValue::from_str(&content_type)
                .ok()
                .filter(|_| content_type.contains('/'))
                .ok_or_else(|| {
                    field_error(&field, format!("{content_type:?} is not a content type"))
                })?;
            mime_types.insert(bare.to_ascii_lowercase(), value);
        }
        Ok(Self {
            routes,
            navigation_fallback,
            response_overrides,
            global_headers,
            mime_types,
        })
    }
}

fn route_rule(field: &str, raw: RawRoute) -> Result<RouteRule, FieldError> {
    let pattern =
        RoutePattern::parse(&raw.route).map_err(|m| field_error(format!("{field}.route"), m))?;
    let methods = raw
        .methods
        .map(|methods| {
            methods
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    parse_method(m).ok_or_else(|| {
                        field_error(
                            format!("{field}.methods[{i}]"),
                            format!("{m:?} is not an HTTP method"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    if let Some(roles) = &raw.allowed_roles {
        for (i, role) in roles.iter().enumerate() {
            if !is_role_name(role) {
                return Err(field_error(
                    format!("{field}.allowedRoles[{i}]"),
                    format!("{role:?} is not a role name (letters, digits, '-' and '_')"),
                ));
            }
        }
    }
    let ResponseOverride {
        rewrite,
        redirect,
        status_code,
    } = action(field, raw.rewrite, raw.redirect, raw.status_code)?;
    Ok(RouteRule {
        pattern,
        methods,
        allowed_roles: raw.allowed_roles,
        rewrite,
        redirect,
        status_code,
        headers: headers(&format!("{field}.headers"), raw.headers)?,
    })
}

fn response_override(field: &str, raw: RawOverride) -> Result<ResponseOverride, FieldError> {
    action(field, raw.rewrite, raw.redirect, raw.status_code)
}

/// The `rewrite` / `redirect` / `statusCode` trio shared by routes and response overrides.
fn action(
    field: &str,
    rewrite: Option<String>,
    redirect: Option<String>,
    status_code: Option<u16>,
) -> Result<ResponseOverride, FieldError> {
    if rewrite.is_some() && redirect.is_some() {
        return Err(field_error(
            format!("{field}.redirect"),
            "cannot be combined with rewrite",
        ));
    }
    let rewrite = rewrite
        .map(|r| local_path(&format!("{field}.rewrite"), r))
        .transpose()?;
    let redirect = redirect
        .map(|r| non_empty(&format!("{field}.redirect"), r))
        .transpose()?;
    let status_code = status_code
        .map(|code| status(&format!("{field}.statusCode"), code, redirect.is_some()))
        .transpose()?;
    Ok(ResponseOverride {
        rewrite,
        redirect,
        status_code,
    })
}

fn status(field: &str, code: u16, redirect: bool) -> Result<StatusCode, FieldError> {
    let valid = if redirect {
        matches!(code, 301 | 302 | 307 | 308)
    } else {
        (200..=599).contains(&code)
    };
    let message = if redirect {
        "a redirect's status must be 301, 302, 307 or 308"
    } else {
        "must be an HTTP status between 200 and 599"
    };
    StatusCode::from_u16(code)
        .ok()
        .filter(|_| valid)
        .ok_or_else(|| field_error(field, format!("{code}: {message}")))
}

fn headers(
    field: &str,
    raw: BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, FieldError> {
    raw.into_iter()
        .map(|(name, value)| {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| field_error(format!("{field}.{name}"), "not a valid header name"))?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| field_error(format!("{field}.{name}"), "not a valid header value"))?;
            Ok((header, value))
        })
        .collect()
}

fn local_path(field: &str, value: String) -> Result<String, FieldError> {
    if value.starts_with('/') && !value.starts_with("//") {
        Ok(value)
    } else {
        Err(field_error(
            field,
            format!("{value:?} must be a path starting with '/'"),
        ))
    }
}

fn non_empty(field: &str, value: String) -> Result<String, FieldError> {
    if value.trim().is_empty() {
        Err(field_error(field, "must not be empty"))
    } else {
        Ok(value)
    }
}

fn parse_method(text: &str) -> Option<Method> {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(text))
}

/// Role names as Static Web Apps allows them.
pub fn is_role_name(role: &str) -> bool {
    !role.is_empty()
        && role.len() <= 64
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
