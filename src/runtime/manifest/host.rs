//! `host.json`: the custom-handler description, extension bundle and HTTP route prefix.

use std::path::Path;

use serde::Deserialize;

use super::ManifestError;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescription {
    #[serde(default)]
    default_executable_path: Option<String>,
    #[serde(default)]
    arguments: Vec<String>,
    #[serde(default)]
    working_directory: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCustomHandler {
    #[serde(default)]
    description: Option<RawDescription>,
    #[serde(default)]
    enable_forwarding_http_request: bool,
    #[serde(default)]
    enable_proxying_http_request: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    id: String,
    version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHttp {
    #[serde(default)]
    route_prefix: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct RawExtensions {
    #[serde(default)]
    http: Option<RawHttp>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHost {
    version: String,
    #[serde(default)]
    custom_handler: Option<RawCustomHandler>,
    #[serde(default)]
    extension_bundle: Option<RawBundle>,
    #[serde(default)]
    function_timeout: Option<String>,
    #[serde(default)]
    extensions: Option<RawExtensions>,
}

/// `customHandler` in host.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomHandler {
    pub default_executable_path: String,
    pub arguments: Vec<String>,
    pub working_directory: Option<String>,
    pub enable_forwarding_http_request: bool,
    pub enable_proxying_http_request: bool,
}

/// The parts of host.json the runtime and the local platform use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostJson {
    pub version: String,
    pub custom_handler: Option<CustomHandler>,
    /// `(id, version range)` of the extension bundle.
    pub extension_bundle: Option<(String, String)>,
    pub function_timeout: Option<std::time::Duration>,
    /// `extensions.http.routePrefix`, `api` when absent.
    pub route_prefix: String,
}

impl HostJson {
    pub fn parse(file: &Path, text: &str) -> Result<Self, Vec<ManifestError>> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let raw: RawHost =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                let field = error.path().to_string();
                vec![ManifestError::new(
                    file,
                    if field == "." { String::new() } else { field },
                    error.inner().to_string(),
                )]
            })?;
        let function_timeout =
            match raw.function_timeout.as_deref() {
                None => None,
                Some(text) => Some(super::parse_timespan(text).map_err(|message| {
                    vec![ManifestError::new(file, "functionTimeout", message)]
                })?),
            };
        let custom_handler = raw.custom_handler.map(|handler| {
            let description = handler.description.unwrap_or_default();
            CustomHandler {
                default_executable_path: description.default_executable_path.unwrap_or_default(),
                arguments: description.arguments,
                working_directory: description.working_directory,
                enable_forwarding_http_request: handler.enable_forwarding_http_request,
                enable_proxying_http_request: handler.enable_proxying_http_request,
            }
        });
        let route_prefix = raw
            .extensions
            .and_then(|extensions| extensions.http)
            .and_then(|http| http.route_prefix)
            .unwrap_or_else(|| "api".to_owned());
        Ok(Self {
            version: raw.version,
            custom_handler,
            extension_bundle: raw
                .extension_bundle
                .map(|bundle| (bundle.id, bundle.version)),
            function_timeout,
            route_prefix: route_prefix.trim_matches('/').to_owned(),
        })
    }
}
