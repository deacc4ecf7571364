//! [`AppServices`]: what CosmosPark functions need at run time (the document store, settings,
//! one HTTP client, a clock), and [`function_app`], which registers every function with them.
//!
//! `serve` and `dev` build the services with [`AppServices::from_env`] (opens the store and
//! creates every container of `infra/cosmos-containers.json`); `check` uses
//! [`AppServices::declarations_only`], which needs neither a database nor any setting.

use std::sync::Arc;

use azure_core::credentials::Secret;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use thiserror::Error;

use crate::runtime::{FunctionApp, RegistryError};
use crate::store::config::ConfigError;
use crate::store::{ContainerSpec, Store, StoreConfig, StoreError, open_store};

/// The single source for container names, partition keys and TTLs.
const CONTAINERS_JSON: &str = include_str!("../../infra/cosmos-containers.json");

/// Default Azure Maps REST endpoint.
pub const DEFAULT_MAPS_ENDPOINT: &str = "https://atlas.microsoft.com";

/// A source of "now"; tests pin it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Why the services could not be built or used.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("setting `{name}`: {problem}")]
    Setting { name: &'static str, problem: String },
    #[error("no document store: these services only declare functions")]
    NoStore,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("infra/cosmos-containers.json: {0}")]
    Containers(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// How to reach Azure Maps. With neither a key nor a client id, reverse geocoding is offline.
#[derive(Debug, Clone, Default)]
pub struct MapsSettings {
    /// `AzureMaps__Endpoint` (default [`DEFAULT_MAPS_ENDPOINT`]).
    pub endpoint: String,
    /// `AzureMaps__ClientId`: the Maps account's client id, for Entra ID (managed identity).
    pub client_id: Option<String>,
    /// `AzureMaps__Key`: a subscription key (redacted in `Debug`).
    pub key: Option<Secret>,
    /// `AZURE_CLIENT_ID`: the user-assigned managed identity to request tokens with.
    pub identity_client_id: Option<String>,
}

impl MapsSettings {
    /// True when lookups go to Azure Maps rather than the offline geocoder.
    pub fn is_configured(&self) -> bool {
        self.key.is_some() || self.client_id.is_some()
    }
}

/// Typed app settings (read once).
#[derive(Debug, Clone)]
pub struct Settings {
    pub maps: MapsSettings,
    /// `WebPubSub__Hub` (default `CosmosPark`); must match the `hub` of the webPubSub bindings.
    pub hub: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            maps: MapsSettings {
                endpoint: DEFAULT_MAPS_ENDPOINT.to_owned(),
                ..MapsSettings::default()
            },
            hub: crate::app::domain::realtime::HUB.to_owned(),
        }
    }
}

impl Settings {
    /// Reads settings through `get` (empty values count as unset).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ServiceError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut settings = Self::default();
        if let Some(endpoint) = get("AzureMaps__Endpoint") {
            let url = reqwest::Url::parse(&endpoint).map_err(|e| ServiceError::Setting {
                name: "AzureMaps__Endpoint",
                problem: format!("is not a URL: {e}"),
            })?;
            if url.scheme() != "https" && url.host_str() != Some("127.0.0.1") {
                return Err(ServiceError::Setting {
                    name: "AzureMaps__Endpoint",
                    problem: "must be an https URL".to_owned(),
                });
            }
            settings.maps.endpoint = endpoint.trim_end_matches('/').to_owned();
        }
        settings.maps.client_id = get("AzureMaps__ClientId");
        settings.maps.key = get("AzureMaps__Key").map(Secret::new);
        settings.maps.identity_client_id = get("AZURE_CLIENT_ID");
        if let Some(hub) = get("WebPubSub__Hub") {
            settings.hub = hub;
        }
        Ok(settings)
    }
}

struct Inner {
    /// Opened on first use (so `serve` starts, and store-free functions run, without a
    /// database), or given at construction.
    store: Arc<tokio::sync::OnceCell<Store>>,
    /// How to open the store; `None` for declarations-only services.
    store_config: Option<StoreConfig>,
    settings: Settings,
    /// Built on first use: its TLS roots cost memory a process that never calls out should not
    /// hold at idle.
    http: Arc<std::sync::OnceLock<reqwest::Client>>,
    clock: Clock,
}

/// Everything a function needs; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppServices(Arc<Inner>);

impl std::fmt::Debug for AppServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppServices")
            .field("store_open", &self.0.store.initialized())
            .field("settings", &self.0.settings)
            .finish()
    }
}

impl AppServices {
    /// Reads the settings and the store configuration from the environment. The store is
    /// opened, and every container the app uses created, on first use.
    pub fn from_env() -> Result<Self, ServiceError> {
        let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
        Self::new(None, Some(StoreConfig::from_env()?), settings)
    }

    /// Opens the store `config` names now and creates every container the app uses.
    pub async fn open(config: &StoreConfig, settings: Settings) -> Result<Self, ServiceError> {
        let services = Self::new(None, Some(config.clone()), settings)?;
        services.store().await?;
        Ok(services)
    }

    /// Services over an already opened store (tests, `seed`, the local platform). The caller
    /// ensures the containers ([`ensure_containers`]).
    pub fn with_store(store: Store, settings: Settings) -> Result<Self, ServiceError> {
        Self::new(Some(store), None, settings)
    }

    /// Services without a store, for `check` and anything that only needs declarations.
    pub fn declarations_only() -> Self {
        Self(Arc::new(Inner {
            store: Arc::new(tokio::sync::OnceCell::new()),
            store_config: None,
            settings: Settings::default(),
            http: Arc::default(),
            clock: Arc::new(Utc::now),
        }))
    }

    fn new(
        store: Option<Store>,
        store_config: Option<StoreConfig>,
        settings: Settings,
    ) -> Result<Self, ServiceError> {
        Ok(Self(Arc::new(Inner {
            store: Arc::new(tokio::sync::OnceCell::new_with(store)),
            store_config,
            settings,
            http: Arc::default(),
            clock: Arc::new(Utc::now),
        })))
    }

    /// The same services with another clock (tests).
    pub fn with_clock(self, clock: Clock) -> Self {
        Self(Arc::new(Inner {
            store: Arc::clone(&self.0.store),
            store_config: self.0.store_config.clone(),
            settings: self.0.settings.clone(),
            http: Arc::clone(&self.0.http),
            clock,
        }))
    }

    /// The document store, opened (and its containers created) on first use.
    pub async fn store(&self) -> Result<&Store, ServiceError> {
        self.0
            .store
            .get_or_try_init(|| async {
                let config = self.0.store_config.as_ref().ok_or(ServiceError::NoStore)?;
                let store = open_store(config).await?;
                ensure_containers(&store).await?;
                Ok(store)
            })
            .await
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The process-wide HTTP client (connection pool shared by every function).
    pub fn http(&self) -> &reqwest::Client {
        self.0.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                // Building fails only when the TLS backend cannot initialise; the default
                // client reports the same problem on its first request.
                .unwrap_or_default()
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0.clock)()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainersFile {
    containers: Vec<ContainerEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerEntry {
    name: String,
    partition_key: String,
    default_ttl_seconds: Option<i64>,
}

/// Every container of `infra/cosmos-containers.json`, as store specs.
pub fn container_specs() -> Result<Vec<ContainerSpec>, ServiceError> {
    let file: ContainersFile = serde_json::from_str(CONTAINERS_JSON)
        .map_err(|e| ServiceError::Containers(e.to_string()))?;
    file.containers
        .into_iter()
        .map(|entry| {
            let spec = ContainerSpec::parse(&entry.name, &entry.partition_key)
                .map_err(|e| ServiceError::Containers(format!("{}: {e}", entry.name)))?;
            match entry.default_ttl_seconds {
                Some(ttl) => spec
                    .with_default_ttl(ttl)
                    .map_err(|e| ServiceError::Containers(format!("{}: {e}", entry.name))),
                None => Ok(spec),
            }
        })
        .collect()
}

/// Creates every container the app uses (existing ones are left as they are).
pub async fn ensure_containers(store: &Store) -> Result<(), ServiceError> {
    for spec in container_specs()? {
        store.ensure_container(&spec).await?;
    }
    Ok(())
}

/// Every CosmosPark function, registered by name, sharing `services`.
pub fn function_app(services: AppServices) -> Result<FunctionApp, RegistryError> {
    let app = crate::app::functions::register(FunctionApp::new(), &services)?;
    crate::app::cqrs::register(app, &services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_container_of_the_infra_file_parses() {
        let specs = container_specs().unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"CosmicUsers"));
        assert!(names.contains(&"leases"));
        let validator = specs
            .iter()
            .find(|s| s.name == "CosmicTaskValidator")
            .unwrap();
        assert_eq!(validator.default_ttl, Some(172800));
    }

    #[tokio::test]
    async fn the_store_opens_on_first_use_with_every_container() {
        assert!(matches!(
            AppServices::declarations_only().store().await,
            Err(ServiceError::NoStore)
        ));
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig::Embedded {
            dir: dir.path().join("store"),
        };
        let services = AppServices::new(None, Some(config), Settings::default()).unwrap();
        assert!(!dir.path().join("store").exists(), "nothing opened yet");
        let store = services.store().await.unwrap();
        let key = crate::store::PartitionKey::new(serde_json::json!("u1")).unwrap();
        store
            .create("CosmicUsers", &key, serde_json::json!({"id": "u1"}))
            .await
            .unwrap();
        let again = services.clone().with_clock(Arc::new(Utc::now));
        // Shares the opened store (a second open of the directory would fail on its lock).
        assert!(
            again
                .store()
                .await
                .unwrap()
                .read("CosmicUsers", &key, "u1")
                .await
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn settings_name_the_bad_setting_and_keep_keys_out_of_debug() {
        let settings = Settings::from_lookup(|name| match name {
            "AzureMaps__Key" => Some("very-secret-key".into()),
            "WebPubSub__Hub" => Some("Other".into()),
            _ => None,
        })
        .unwrap();
        assert!(settings.maps.is_configured());
        assert_eq!(settings.hub, "Other");
        assert!(!format!("{settings:?}").contains("very-secret-key"));
        let error = Settings::from_lookup(|name| {
            (name == "AzureMaps__Endpoint").then(|| "not a url".to_owned())
        })
        .unwrap_err();
        assert!(error.to_string().contains("AzureMaps__Endpoint"));
        assert!(!Settings::default().maps.is_configured());
    }
}
