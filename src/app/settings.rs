//! CosmosPark's app settings in one place: [`APP_SETTINGS`], the table of every setting the app
//! and its bindings read (where it is listed, whether Azure needs it, which Bicep output provides
//! it), and [`Settings`], the typed values the functions use.
//!
//! `check` compares the table (plus the settings the function.json bindings name) with
//! `local.settings.json.example` and the Bicep's app settings; `serve` in Azure refuses to start
//! when a required one is missing or malformed ([`azure_problems`]).

use azure_core::credentials::Secret;

use crate::runtime::settings::{self as spec, Format, Listed, SettingProblem, SettingSpec};

/// Default Azure Maps REST endpoint.
pub const DEFAULT_MAPS_ENDPOINT: &str = "https://atlas.microsoft.com";

/// The binding connection names of function.json, also read by the app itself.
pub const COSMOS_CONNECTION: &str = "CosmosDBConnection";
pub const WEB_PUBSUB_CONNECTION: &str = "WebPubSubConnection";

/// The health check's store timeout (milliseconds) and change-feed lag threshold (seconds).
pub const HEALTH_STORE_TIMEOUT_MS: &str = "Health__StoreTimeoutMs";
pub const HEALTH_CHANGE_FEED_LAG_SECONDS: &str = "Health__ChangeFeedLagSeconds";

/// Opt-in that lets `serve` use the embedded store in Azure (single-instance test deployments
/// only; warned about at every start).
pub const ALLOW_EMBEDDED_STORE: &str = "Store__AllowEmbeddedInAzure";

const fn setting(
    name: &'static str,
    listed: Listed,
    required_in_azure: bool,
    format: Format,
    provided_by: &'static str,
) -> SettingSpec {
    SettingSpec {
        name,
        listed,
        required_in_azure,
        format,
        provided_by,
    }
}

/// Every setting CosmosPark (the app, its bindings, the host it runs in) reads.
pub const APP_SETTINGS: &[SettingSpec] = &[
    // Binding connections (identity-based), also read by the app: the store and the Web PubSub
    // token API use the same endpoints.
    setting(
        "CosmosDBConnection__accountEndpoint",
        Listed::Both,
        true,
        Format::HttpsUrl,
        "Bicep output COSMOS_ENDPOINT (APP_SETTINGS.CosmosDBConnection__accountEndpoint)",
    ),
    setting(
        "EventGridConnection__topicEndpointUri",
        Listed::Both,
        true,
        Format::HttpsUrl,
        "Bicep output EVENTGRID_TOPIC_ENDPOINT (APP_SETTINGS.EventGridConnection__topicEndpointUri)",
    ),
    setting(
        "EventHubConnection__fullyQualifiedNamespace",
        Listed::Both,
        true,
        Format::HostName,
        "Bicep output EVENTHUB_NAMESPACE (APP_SETTINGS.EventHubConnection__fullyQualifiedNamespace)",
    ),
    setting(
        "WebPubSubConnection__serviceUri",
        Listed::Both,
        true,
        Format::HttpsUrl,
        "Bicep output WEBPUBSUB_SERVICE_URI (APP_SETTINGS.WebPubSubConnection__serviceUri)",
    ),
    setting(
        "AzureMaps__ClientId",
        Listed::Both,
        true,
        Format::Guid,
        "Bicep output AZURE_MAPS_CLIENT_ID (APP_SETTINGS.AzureMaps__ClientId)",
    ),
    // The user-assigned managed identity every connection above uses.
    setting(
        "AZURE_CLIENT_ID",
        Listed::BicepOnly,
        true,
        Format::Guid,
        "Bicep output AZURE_CLIENT_ID (APP_SETTINGS.AZURE_CLIENT_ID)",
    ),
    setting(
        "CosmosDBConnection__credential",
        Listed::BicepOnly,
        false,
        Format::Text,
        "Bicep APP_SETTINGS (`managedidentity`)",
    ),
    setting(
        "CosmosDBConnection__clientId",
        Listed::BicepOnly,
        false,
        Format::Guid,
        "Bicep output AZURE_CLIENT_ID",
    ),
    setting(
        "EventGridConnection__credential",
        Listed::BicepOnly,
        false,
        Format::Text,
        "Bicep APP_SETTINGS (`managedidentity`)",
    ),
    setting(
        "EventGridConnection__clientId",
        Listed::BicepOnly,
        false,
        Format::Guid,
        "Bicep output AZURE_CLIENT_ID",
    ),
    setting(
        "EventHubConnection__credential",
        Listed::BicepOnly,
        false,
        Format::Text,
        "Bicep APP_SETTINGS (`managedidentity`)",
    ),
    setting(
        "EventHubConnection__clientId",
        Listed::BicepOnly,
        false,
        Format::Guid,
        "Bicep output AZURE_CLIENT_ID",
    ),
    setting(
        "WebPubSubConnection__credential",
        Listed::BicepOnly,
        false,
        Format::Text,
        "Bicep APP_SETTINGS (`managedidentity`)",
    ),
    setting(
        "WebPubSubConnection__clientId",
        Listed::BicepOnly,
        false,
        Format::Guid,
        "Bicep output AZURE_CLIENT_ID",
    ),
    // The app's own settings.
    setting(
        "CosmosDb__Database",
        Listed::Both,
        false,
        Format::Text,
        "Bicep output COSMOS_DATABASE (default CosmicDB)",
    ),
    setting(
        "WebPubSub__Hub",
        Listed::Both,
        false,
        Format::Text,
        "Bicep output WEBPUBSUB_HUB (default CosmosPark)",
    ),
    setting(
        "Edge__TrustedOrigins",
        Listed::Optional,
        false,
        Format::Text,
        "origins besides the site's own allowed to send state-changing requests (custom domains)",
    ),
    setting(
        "AzureMaps__Endpoint",
        Listed::Optional,
        false,
        Format::HttpsUrl,
        "default https://atlas.microsoft.com",
    ),
    setting(
        "AzureMaps__Key",
        Listed::Optional,
        false,
        Format::Text,
        "a Maps account key for server-side lookups (never the browser)",
    ),
    // `GET /api/health` thresholds (README, "Health").
    setting(
        HEALTH_STORE_TIMEOUT_MS,
        Listed::Optional,
        false,
        Format::PositiveInteger,
        "default 2000: the health check's store read must answer within this",
    ),
    setting(
        HEALTH_CHANGE_FEED_LAG_SECONDS,
        Listed::Optional,
        false,
        Format::PositiveInteger,
        "default 300: the oldest unprocessed change of any change-feed trigger may wait this long",
    ),
    setting(
        "RUST_LOG",
        Listed::ExampleOnly,
        false,
        Format::Text,
        "local.settings.json.example (default info)",
    ),
    setting(
        "COSMOSPARK_MAX_ENVELOPE_BYTES",
        Listed::Optional,
        false,
        Format::Text,
        "default 64 MiB",
    ),
    setting(
        ALLOW_EMBEDDED_STORE,
        Listed::Optional,
        false,
        Format::Bool,
        "an explicit opt-in for single-instance test deployments",
    ),
    // Local alternatives (keys, emulators, the embedded store); never set by the Bicep.
    setting(
        "CosmosDBConnection",
        Listed::Optional,
        false,
        Format::Text,
        "a Cosmos DB connection string (local emulator)",
    ),
    setting(
        "WebPubSubConnection",
        Listed::Optional,
        false,
        Format::Text,
        "a Web PubSub connection string (`cosmospark dev` sets its own)",
    ),
    setting(
        "CosmosDb__Endpoint",
        Listed::Optional,
        false,
        Format::HttpsUrl,
        "a Cosmos DB endpoint for local tools",
    ),
    setting(
        "CosmosDb__Key",
        Listed::Optional,
        false,
        Format::Text,
        "a local emulator's key",
    ),
    setting(
        "CosmosDb__ClientId",
        Listed::Optional,
        false,
        Format::Guid,
        "a user-assigned identity's client id",
    ),
    setting(
        "CosmosDb__CreateIfNotExists",
        Listed::Optional,
        false,
        Format::Bool,
        "default false",
    ),
    setting(
        "Store__Dir",
        Listed::Optional,
        false,
        Format::Text,
        "default .data/store",
    ),
    // The Functions host's own settings.
    setting(
        "FUNCTIONS_WORKER_RUNTIME",
        Listed::ExampleOnly,
        false,
        Format::Text,
        "local.settings.json.example (`custom`); Flex Consumption sets the runtime in siteConfig",
    ),
    setting(
        "AzureWebJobsStorage",
        Listed::ExampleOnly,
        false,
        Format::Text,
        "local.settings.json.example (Azurite)",
    ),
    setting(
        "AzureWebJobsStorage__blobServiceUri",
        Listed::BicepOnly,
        false,
        Format::HttpsUrl,
        "Bicep storage module",
    ),
    setting(
        "AzureWebJobsStorage__queueServiceUri",
        Listed::BicepOnly,
        false,
        Format::HttpsUrl,
        "Bicep storage module",
    ),
    setting(
        "AzureWebJobsStorage__tableServiceUri",
        Listed::BicepOnly,
        false,
        Format::HttpsUrl,
        "Bicep storage module",
    ),
    setting(
        "AzureWebJobsStorage__credential",
        Listed::BicepOnly,
        false,
        Format::Text,
        "Bicep APP_SETTINGS (`managedidentity`)",
    ),
    setting(
        "AzureWebJobsStorage__clientId",
        Listed::BicepOnly,
        false,
        Format::Guid,
        "Bicep output AZURE_CLIENT_ID",
    ),
    // Set by infra/modules/functionapp.bicep from the Application Insights component.
    setting(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        Listed::Optional,
        false,
        Format::AppInsightsConnectionString,
        "infra/modules/functionapp.bicep (the Application Insights component)",
    ),
    setting(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        Listed::Optional,
        false,
        Format::Text,
        "infra/modules/functionapp.bicep (`ClientId=<identity>;Authorization=AAD`)",
    ),
    // Telemetry (runtime::telemetry): any OTLP collector, the service name, the log format.
    setting(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        Listed::Optional,
        false,
        Format::Text,
        "an OTLP/HTTP collector (spans and metrics; nothing is exported without it or Application Insights)",
    ),
    setting(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        Listed::Optional,
        false,
        Format::Text,
        "`http/protobuf` (the only transport built in)",
    ),
    setting(
        "OTEL_SERVICE_NAME",
        Listed::Optional,
        false,
        Format::Text,
        "default cosmospark",
    ),
    setting(
        "COSMOSPARK_LOG_FORMAT",
        Listed::Optional,
        false,
        Format::Text,
        "`human` (default) or `json` (one object per line with trace and span ids)",
    ),
];

/// Every problem with the settings `get` gives, for `serve` in Azure: required ones missing,
/// set ones malformed, and telemetry half-configured. Without Cosmos DB the store would be the
/// embedded one, so its endpoint is required unless [`ALLOW_EMBEDDED_STORE`] is `true`.
pub fn azure_problems(get: impl Fn(&str) -> Option<String>) -> Vec<SettingProblem> {
    let embedded_allowed = embedded_store_allowed(&get);
    let waived: &[&str] = if embedded_allowed {
        &["CosmosDBConnection__accountEndpoint"]
    } else {
        &[]
    };
    let mut problems = spec::azure_problems(APP_SETTINGS, &get, waived);
    let set = |name: &str| get(name).is_some_and(|v| !v.trim().is_empty());
    if set("APPLICATIONINSIGHTS_CONNECTION_STRING")
        && !set("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")
    {
        problems.push(SettingProblem {
            name: "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
            problem: "is missing although APPLICATIONINSIGHTS_CONNECTION_STRING is set (the component accepts Entra ID telemetry only)".to_owned(),
            provided_by: "infra/modules/functionapp.bicep (`ClientId=<identity>;Authorization=AAD`)",
        });
    }
    problems
}

/// Whether [`ALLOW_EMBEDDED_STORE`] is `true`.
pub fn embedded_store_allowed(get: impl Fn(&str) -> Option<String>) -> bool {
    get(ALLOW_EMBEDDED_STORE).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Why a setting cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("setting `{name}`: {problem}")]
pub struct SettingError {
    pub name: &'static str,
    pub problem: String,
}

/// How to reach Azure Maps. With neither a key nor a client id, reverse geocoding is offline;
/// without a client id the map control gets no token (the browser keeps the offline outlines).
#[derive(Debug, Clone, Default)]
pub struct MapsSettings {
    /// `AzureMaps__Endpoint` (default [`DEFAULT_MAPS_ENDPOINT`]).
    pub endpoint: String,
    /// `AzureMaps__ClientId`: the Maps account's client id, for Entra ID (managed identity).
    pub client_id: Option<String>,
    /// `AzureMaps__Key`: a subscription key for server-side lookups only (accounts with local
    /// auth on; the deployed account has it off). Never sent to the browser; redacted in `Debug`.
    pub key: Option<Secret>,
}

impl MapsSettings {
    /// True when lookups go to Azure Maps rather than the offline geocoder.
    pub fn is_configured(&self) -> bool {
        self.key.is_some() || self.client_id.is_some()
    }
}

/// How the app authenticates to the Web PubSub REST API.
#[derive(Debug, Clone)]
pub enum WebPubSubAuth {
    /// Entra ID (managed identity in Azure, the developer's login locally).
    Identity,
    /// An access key from a connection string (redacted in `Debug`): the local platform's hub.
    AccessKey(Secret),
}

/// The Web PubSub service the app asks for client tokens, read from the same settings as the
/// `webPubSub` bindings' `connection` (Azure/azure-sdk-for-net
/// `sdk/webpubsub/Microsoft.Azure.WebJobs.Extensions.WebPubSub/src/Config/WebPubSubServiceAccessUtil.cs`:
/// a connection string in `<connection>` first, else `<connection>__serviceUri` with a token
/// credential).
#[derive(Debug, Clone)]
pub struct WebPubSubSettings {
    /// The http(s) service endpoint, without a trailing slash.
    pub endpoint: String,
    pub auth: WebPubSubAuth,
}

impl WebPubSubSettings {
    /// Parses `Endpoint=…;AccessKey=…;Version=1.0;[Port=…;]` (parts case-insensitive).
    pub fn from_connection_string(text: &str) -> Result<Self, SettingError> {
        let invalid = |problem: &str| SettingError {
            name: WEB_PUBSUB_CONNECTION,
            problem: problem.to_owned(),
        };
        let part = |name: &str| {
            text.split(';').find_map(|p| {
                let (key, value) = p.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let endpoint = part("Endpoint").ok_or_else(|| invalid("has no Endpoint"))?;
        let mut url =
            reqwest::Url::parse(&endpoint).map_err(|_| invalid("Endpoint is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("Endpoint must be an http(s) URL"));
        }
        if let Some(port) = part("Port") {
            let port: u16 = port.parse().map_err(|_| invalid("Port is not a port"))?;
            url.set_port(Some(port))
                .map_err(|_| invalid("Port cannot be set"))?;
        }
        let key = part("AccessKey")
            .filter(|k| !k.is_empty())
            .ok_or_else(|| invalid("has no AccessKey"))?;
        Ok(Self {
            endpoint: url.as_str().trim_end_matches('/').to_owned(),
            auth: WebPubSubAuth::AccessKey(Secret::new(key)),
        })
    }
}

/// Typed app settings (read once).
#[derive(Debug, Clone)]
pub struct Settings {
    pub maps: MapsSettings,
    /// `WebPubSub__Hub` (default `CosmosPark`); must match the `hub` of the webPubSub bindings.
    pub hub: String,
    /// `WebPubSubConnection` or `WebPubSubConnection__serviceUri`; `None` answers 503.
    pub web_pubsub: Option<WebPubSubSettings>,
    /// `AZURE_CLIENT_ID`: the user-assigned managed identity to request tokens with.
    pub identity_client_id: Option<String>,
    /// `Edge__TrustedOrigins`: comma-separated origins (`https://game.example`) besides the
    /// request's own that may send state-changing requests (a custom domain in front of SWA).
    pub trusted_origins: Vec<String>,
    pub health: HealthSettings,
}

/// What `GET /api/health` holds the app to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSettings {
    /// `Health__StoreTimeoutMs` (default 2 s): longer, and the store counts as unreachable.
    pub store_timeout: std::time::Duration,
    /// `Health__ChangeFeedLagSeconds` (default 5 min): the longest the oldest unprocessed
    /// change of a change-feed trigger may wait.
    pub change_feed_lag: std::time::Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            store_timeout: std::time::Duration::from_millis(2000),
            change_feed_lag: std::time::Duration::from_secs(300),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            maps: MapsSettings {
                endpoint: DEFAULT_MAPS_ENDPOINT.to_owned(),
                ..MapsSettings::default()
            },
            hub: crate::app::domain::realtime::HUB.to_owned(),
            web_pubsub: None,
            identity_client_id: None,
            trusted_origins: Vec::new(),
            health: HealthSettings::default(),
        }
    }
}

impl Settings {
    /// Reads settings through `get` (empty values count as unset).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut settings = Self::default();
        if let Some(endpoint) = get("AzureMaps__Endpoint") {
            let url = reqwest::Url::parse(&endpoint).map_err(|e| SettingError {
                name: "AzureMaps__Endpoint",
                problem: format!("is not a URL: {e}"),
            })?;
            if url.scheme() != "https" && url.host_str() != Some("127.0.0.1") {
                return Err(SettingError {
                    name: "AzureMaps__Endpoint",
                    problem: "must be an https URL".to_owned(),
                });
            }
            settings.maps.endpoint = endpoint.trim_end_matches('/').to_owned();
        }
        settings.maps.client_id = get("AzureMaps__ClientId");
        settings.maps.key = get("AzureMaps__Key").map(Secret::new);
        settings.identity_client_id = get("AZURE_CLIENT_ID");
        if let Some(hub) = get("WebPubSub__Hub") {
            settings.hub = hub;
        }
        for origin in get("Edge__TrustedOrigins")
            .iter()
            .flat_map(|v| v.split(','))
        {
            let origin = origin.trim().trim_end_matches('/');
            let url = reqwest::Url::parse(origin).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/"
            });
            if url.is_none() {
                return Err(SettingError {
                    name: "Edge__TrustedOrigins",
                    problem: format!("{origin:?} is not an origin like https://game.example"),
                });
            }
            settings.trusted_origins.push(origin.to_ascii_lowercase());
        }
        let positive = |name: &'static str| -> Result<Option<u64>, SettingError> {
            get(name)
                .map(|v| match v.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(SettingError {
                        name,
                        problem: format!("is not a whole number above zero: `{v}`"),
                    }),
                })
                .transpose()
        };
        if let Some(ms) = positive(HEALTH_STORE_TIMEOUT_MS)? {
            settings.health.store_timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(secs) = positive(HEALTH_CHANGE_FEED_LAG_SECONDS)? {
            settings.health.change_feed_lag = std::time::Duration::from_secs(secs);
        }
        settings.web_pubsub = if let Some(text) = get(WEB_PUBSUB_CONNECTION) {
            Some(WebPubSubSettings::from_connection_string(&text)?)
        } else if let Some(uri) = get("WebPubSubConnection__serviceUri") {
            let url = reqwest::Url::parse(&uri)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| SettingError {
                    name: "WebPubSubConnection__serviceUri",
                    problem: "is not an http(s) URL".to_owned(),
                })?;
            Some(WebPubSubSettings {
                endpoint: url.as_str().trim_end_matches('/').to_owned(),
                auth: WebPubSubAuth::Identity,
            })
        } else {
            None
        };
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn settings_name_the_bad_setting_and_keep_keys_out_of_debug() {
        let settings = Settings::from_lookup(lookup(&[
            (
                "WebPubSubConnection",
                "Endpoint=http://127.0.0.1;AccessKey=very-secret-key;Version=1.0;Port=7071;",
            ),
            ("WebPubSub__Hub", "Other"),
            (
                "AzureMaps__ClientId",
                "11111111-2222-3333-4444-555555555555",
            ),
        ]))
        .unwrap();
        assert!(settings.maps.is_configured());
        assert_eq!(settings.hub, "Other");
        let pubsub = settings.web_pubsub.clone().unwrap();
        assert_eq!(pubsub.endpoint, "http://127.0.0.1:7071");
        assert!(!format!("{settings:?}").contains("very-secret-key"));
        let error =
            Settings::from_lookup(lookup(&[("AzureMaps__Endpoint", "not a url")])).unwrap_err();
        assert!(error.to_string().contains("AzureMaps__Endpoint"));
        let error = Settings::from_lookup(lookup(&[("WebPubSubConnection", "Endpoint=https://x")]))
            .unwrap_err();
        assert!(error.to_string().contains("AccessKey"), "{error}");
        assert!(!Settings::default().maps.is_configured());
        let identity = Settings::from_lookup(lookup(&[(
            "WebPubSubConnection__serviceUri",
            "https://wps.webpubsub.azure.com/",
        )]))
        .unwrap();
        let pubsub = identity.web_pubsub.unwrap();
        assert_eq!(pubsub.endpoint, "https://wps.webpubsub.azure.com");
        assert!(matches!(pubsub.auth, WebPubSubAuth::Identity));
    }

    #[test]
    fn azure_needs_every_required_setting_unless_the_embedded_store_is_opted_in() {
        let names = |problems: Vec<SettingProblem>| -> Vec<&str> {
            problems.iter().map(|p| p.name).collect()
        };
        let missing = names(azure_problems(lookup(&[])));
        let required: Vec<&str> = APP_SETTINGS
            .iter()
            .filter(|s| s.required_in_azure)
            .map(|s| s.name)
            .collect();
        assert_eq!(missing, required);
        let opted_in = names(azure_problems(lookup(&[(ALLOW_EMBEDDED_STORE, "true")])));
        assert!(!opted_in.contains(&"CosmosDBConnection__accountEndpoint"));
        let telemetry = names(azure_problems(lookup(&[(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=https://x/",
        )])));
        assert!(telemetry.contains(&"APPLICATIONINSIGHTS_AUTHENTICATION_STRING"));
    }
}
