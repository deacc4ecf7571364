//! [`AppServices`]: what CosmosPark functions need at run time (the document store, settings,
//! one HTTP client, a clock), and [`function_app`], which registers every function with them.
//!
//! `serve` and `dev` build the services with [`AppServices::from_env`] (opens the store and
//! creates every container of `infra/cosmos-containers.json`); `check` uses
//! [`AppServices::declarations_only`], which needs neither a database nor any setting.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use thiserror::Error;

use crate::runtime::{FunctionApp, RegistryError};
use crate::store::config::ConfigError;
use crate::store::{ContainerSpec, Store, StoreConfig, StoreError, open_store};

/// The single source for container names, partition keys and TTLs.
const CONTAINERS_JSON: &str = include_str!("../../infra/cosmos-containers.json");

pub use super::settings::{DEFAULT_MAPS_ENDPOINT, MapsSettings, SettingError, Settings};

/// A source of "now"; tests pin it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Why the services could not be built or used.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("no document store: these services only declare functions")]
    NoStore,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("infra/cosmos-containers.json: {0}")]
    Containers(String),
    #[error("cannot create the Entra ID credential: {0}")]
    Credential(String),
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
    /// The Entra ID credential for Azure Maps and Web PubSub, created on first use.
    identity: Arc<std::sync::OnceLock<Arc<dyn TokenCredential>>>,
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

    /// Services over the store `config` names (opened on first use) with `settings`.
    pub fn from_config(config: StoreConfig, settings: Settings) -> Result<Self, ServiceError> {
        Self::new(None, Some(config), settings)
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
            identity: Arc::default(),
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
            identity: Arc::default(),
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
            identity: Arc::clone(&self.0.identity),
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

    /// The app's Entra ID credential: the managed identity (`AZURE_CLIENT_ID`) on the
    /// platform, the developer's Azure CLI / azd login elsewhere.
    pub fn credential(&self) -> Result<Arc<dyn TokenCredential>, ServiceError> {
        if let Some(existing) = self.0.identity.get() {
            return Ok(Arc::clone(existing));
        }
        let created = crate::store::config::credential(self.0.settings.identity_client_id.clone())
            .map_err(|e| ServiceError::Credential(e.to_string()))?;
        Ok(Arc::clone(self.0.identity.get_or_init(|| created)))
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

/// Every CosmosPark function, registered by name, sharing `services`, behind the edge guard
/// (cross-site requests, JSON content type, 64 KiB bodies, 32 levels of JSON).
pub fn function_app(services: AppServices) -> Result<FunctionApp, RegistryError> {
    let policy = crate::runtime::EdgePolicy {
        trusted_origins: services.settings().trusted_origins.clone(),
        ..crate::runtime::EdgePolicy::default()
    };
    let app = FunctionApp::new().with_edge_policy(policy);
    let app = crate::app::functions::register(app, &services)?;
    crate::app::cqrs::register(app, &services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_origins_are_origins() {
        let read = |value: &str| {
            Settings::from_lookup(|name| (name == "Edge__TrustedOrigins").then(|| value.to_owned()))
        };
        let settings = read("https://Game.example/, http://localhost:4280").unwrap();
        assert_eq!(
            settings.trusted_origins,
            ["https://game.example", "http://localhost:4280"]
        );
        assert!(read("https://game.example/path").is_err());
        assert!(read("javascript:alert(1)").is_err());
    }

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
}
