//! Store configuration from app settings, and [`open_store`], which picks the backend.
//!
//! Cosmos DB is chosen when any of these is set (first match wins):
//! - `CosmosDb__Endpoint` (+ `CosmosDb__Key` for key auth; without a key, Entra ID);
//! - `CosmosDBConnection`: a connection string `AccountEndpoint=…;AccountKey=…;`;
//! - `CosmosDBConnection__accountEndpoint`: Entra ID (the Functions identity-based form).
//!
//! Entra ID uses the managed identity when the platform provides one (`IDENTITY_ENDPOINT` or
//! `MSI_ENDPOINT`; a user-assigned identity via `CosmosDb__ClientId` or
//! `CosmosDBConnection__clientId`), otherwise the developer tools (Azure CLI / azd) login.
//! Other settings: `CosmosDb__Database` (default `CosmicDB`), `CosmosDb__CreateIfNotExists`
//! (`true`/`false`, default `false`). Otherwise the embedded store is used, in `Store__Dir`
//! (default `.data/store`), with a page cache of `Store__CacheMiB` MiB (default 64; `dev` reads
//! it too).

use std::path::PathBuf;
use std::sync::Arc;

use azure_core::credentials::{Secret, TokenCredential};
use azure_data_cosmos::{AccountEndpoint, AccountReference, CosmosClient, RoutingStrategy};
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};
use thiserror::Error;

use super::Store;
use super::cosmos::{CosmosStore, map_error};
use super::embedded::{DEFAULT_CACHE_BYTES, EmbeddedStore};
use super::error::{StoreError, StoreResult};

/// Default embedded store directory, relative to the working directory.
pub const DEFAULT_DIR: &str = ".data/store";
/// Default Cosmos DB database name.
pub const DEFAULT_DATABASE: &str = "CosmicDB";

/// A configuration problem, naming the setting.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("setting `{name}`: {problem}")]
    Invalid { name: &'static str, problem: String },
}

fn invalid(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        problem: problem.into(),
    }
}

/// How to authenticate to Cosmos DB.
#[derive(Debug, Clone)]
pub enum CosmosAuth {
    /// Account key (never logged: `Secret`'s `Debug` is redacted).
    Key(Secret),
    /// Entra ID; `client_id` selects a user-assigned managed identity.
    Identity { client_id: Option<String> },
}

/// Where the Cosmos DB account is and how to use it.
#[derive(Debug, Clone)]
pub struct CosmosConfig {
    pub endpoint: AccountEndpoint,
    pub auth: CosmosAuth,
    pub database: String,
    pub create_if_not_exists: bool,
}

/// Which backend to open.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Embedded { dir: PathBuf },
    Cosmos(CosmosConfig),
}

impl StoreConfig {
    /// Whether this is the embedded (single-instance, local disk) store.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Self::Embedded { .. })
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get` (empty values count as unset).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let endpoint_of =
            |name: &'static str, value: &str| -> Result<AccountEndpoint, ConfigError> {
                value
                    .parse()
                    .map_err(|_| invalid(name, "is not a valid https URL"))
            };
        let client_id = get("CosmosDb__ClientId").or_else(|| get("CosmosDBConnection__clientId"));
        let (endpoint, auth) = if let Some(endpoint) = get("CosmosDb__Endpoint") {
            let auth = match get("CosmosDb__Key") {
                Some(key) => CosmosAuth::Key(Secret::new(key)),
                None => CosmosAuth::Identity { client_id },
            };
            (endpoint_of("CosmosDb__Endpoint", &endpoint)?, auth)
        } else if let Some(connection) = get("CosmosDBConnection") {
            let (endpoint, key) = parse_connection_string(&connection)?;
            (endpoint, CosmosAuth::Key(key))
        } else if let Some(endpoint) = get("CosmosDBConnection__accountEndpoint") {
            (
                endpoint_of("CosmosDBConnection__accountEndpoint", &endpoint)?,
                CosmosAuth::Identity { client_id },
            )
        } else {
            let dir = get("Store__Dir").unwrap_or_else(|| DEFAULT_DIR.to_owned());
            return Ok(Self::Embedded {
                dir: PathBuf::from(dir),
            });
        };
        let create_if_not_exists = match get("CosmosDb__CreateIfNotExists").as_deref() {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
            Some(v) => {
                return Err(invalid(
                    "CosmosDb__CreateIfNotExists",
                    format!("`{v}` is not true or false"),
                ));
            }
        };
        Ok(Self::Cosmos(CosmosConfig {
            endpoint,
            auth,
            database: get("CosmosDb__Database").unwrap_or_else(|| DEFAULT_DATABASE.to_owned()),
            create_if_not_exists,
        }))
    }
}

/// Parses `AccountEndpoint=…;AccountKey=…;` (keys case-insensitive, other parts ignored).
fn parse_connection_string(text: &str) -> Result<(AccountEndpoint, Secret), ConfigError> {
    const NAME: &str = "CosmosDBConnection";
    let mut endpoint = None;
    let mut key = None;
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| invalid(NAME, "each part must look like Name=value"))?;
        if k.eq_ignore_ascii_case("AccountEndpoint") {
            endpoint = Some(
                v.parse()
                    .map_err(|_| invalid(NAME, "AccountEndpoint is not a valid URL"))?,
            );
        } else if k.eq_ignore_ascii_case("AccountKey") {
            // The key is base64 and may end in `=`: keep everything after the first `=`.
            key = Some(Secret::new(v.to_owned()));
        }
    }
    let endpoint = endpoint.ok_or_else(|| invalid(NAME, "has no AccountEndpoint"))?;
    let key = key.ok_or_else(|| invalid(NAME, "has no AccountKey"))?;
    Ok((endpoint, key))
}

/// The Entra ID credential: the managed identity (user-assigned when `client_id` is given) on
/// the platform, the developer tools login (Azure CLI / azd) elsewhere.
pub fn credential(client_id: Option<String>) -> StoreResult<Arc<dyn TokenCredential>> {
    let on_platform = std::env::var_os("IDENTITY_ENDPOINT").is_some()
        || std::env::var_os("MSI_ENDPOINT").is_some();
    let auth_error = |e: azure_core::Error| StoreError::Other(format!("Entra ID credential: {e}"));
    if on_platform {
        let options = ManagedIdentityCredentialOptions {
            user_assigned_id: client_id.map(UserAssignedId::ClientId),
            ..Default::default()
        };
        Ok(ManagedIdentityCredential::new(Some(options)).map_err(auth_error)?)
    } else {
        Ok(DeveloperToolsCredential::new(None).map_err(auth_error)?)
    }
}

/// Builds an SDK client for `config`. The SDK's emulator settings
/// (`AZURE_COSMOS_EMULATOR_SERVER_CERT_VALIDATION_DISABLED`, …) apply from the environment.
pub async fn cosmos_client(config: &CosmosConfig) -> StoreResult<CosmosClient> {
    let account = match &config.auth {
        CosmosAuth::Key(key) => {
            AccountReference::with_authentication_key(config.endpoint.clone(), key.clone())
        }
        CosmosAuth::Identity { client_id } => AccountReference::with_credential(
            config.endpoint.clone(),
            credential(client_id.clone())?,
        ),
    };
    CosmosClient::builder()
        .build(account, RoutingStrategy::PreferredRegions(vec![]))
        .await
        .map_err(map_error)
}

/// The embedded store's page cache in bytes: `Store__CacheMiB` (a whole number of MiB, 1 to
/// 65,536), else [`DEFAULT_CACHE_BYTES`].
pub fn embedded_cache_bytes(get: impl Fn(&str) -> Option<String>) -> Result<usize, ConfigError> {
    const NAME: &str = "Store__CacheMiB";
    let Some(value) = get(NAME)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
    else {
        return Ok(DEFAULT_CACHE_BYTES);
    };
    match value.parse::<usize>() {
        Ok(mib @ 1..=65_536) => Ok(mib * 1024 * 1024),
        _ => Err(invalid(
            NAME,
            format!("`{value}` is not a whole number of MiB from 1 to 65536"),
        )),
    }
}

/// Opens the configured backend.
pub async fn open_store(config: &StoreConfig) -> StoreResult<Store> {
    match config {
        StoreConfig::Embedded { dir } => {
            let cache = embedded_cache_bytes(|name| std::env::var(name).ok())
                .map_err(|e| StoreError::Other(e.to_string()))?;
            tracing::info!(dir = %dir.display(), cache_mib = cache >> 20, "opening embedded store");
            Ok(Arc::new(EmbeddedStore::open_with_cache(dir, cache).await?))
        }
        StoreConfig::Cosmos(cosmos) => {
            tracing::info!(endpoint = %cosmos.endpoint, database = %cosmos.database, "opening Cosmos DB store");
            let client = cosmos_client(cosmos).await?;
            Ok(Arc::new(
                CosmosStore::new(client, &cosmos.database, cosmos.create_if_not_exists).await?,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<StoreConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        StoreConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_embedded_dir() {
        let StoreConfig::Embedded { dir } = parse(&[]).unwrap() else {
            panic!("embedded")
        };
        assert_eq!(dir, PathBuf::from(DEFAULT_DIR));
    }

    #[test]
    fn embedded_cache_defaults_and_rejects_nonsense() {
        let cache = |value: &str| {
            let value = value.to_owned();
            embedded_cache_bytes(move |_| Some(value.clone()))
        };
        assert_eq!(embedded_cache_bytes(|_| None), Ok(DEFAULT_CACHE_BYTES));
        assert_eq!(cache(" "), Ok(DEFAULT_CACHE_BYTES));
        assert_eq!(cache("16"), Ok(16 * 1024 * 1024));
        for bad in ["0", "-1", "1.5", "lots", "65537"] {
            let error = cache(bad).unwrap_err().to_string();
            assert!(error.contains("Store__CacheMiB"), "{bad}: {error}");
        }
    }

    #[test]
    fn endpoint_and_key_select_key_auth() {
        let cfg = parse(&[
            (
                "CosmosDb__Endpoint",
                "https://acct.documents.azure.com:443/",
            ),
            ("CosmosDb__Key", "c2VjcmV0"),
            ("CosmosDb__CreateIfNotExists", "TRUE"),
        ])
        .unwrap();
        let StoreConfig::Cosmos(c) = cfg else {
            panic!("cosmos")
        };
        assert!(matches!(c.auth, CosmosAuth::Key(_)));
        assert_eq!(c.database, "CosmicDB");
        assert!(c.create_if_not_exists);
        assert!(
            !format!("{c:?}").contains("c2VjcmV0"),
            "key must not appear in Debug output"
        );
    }

    #[test]
    fn connection_string_and_identity_forms() {
        let cfg = parse(&[(
            "CosmosDBConnection",
            "AccountEndpoint=https://a.documents.azure.com:443/;AccountKey=a2V5==;",
        )])
        .unwrap();
        let StoreConfig::Cosmos(c) = cfg else {
            panic!("cosmos")
        };
        let CosmosAuth::Key(key) = &c.auth else {
            panic!("key")
        };
        assert_eq!(key.secret(), "a2V5==");
        let cfg = parse(&[
            (
                "CosmosDBConnection__accountEndpoint",
                "https://a.documents.azure.com/",
            ),
            ("CosmosDb__Database", "Other"),
        ])
        .unwrap();
        let StoreConfig::Cosmos(c) = cfg else {
            panic!("cosmos")
        };
        assert!(matches!(c.auth, CosmosAuth::Identity { client_id: None }));
        assert_eq!(c.database, "Other");
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let err = parse(&[("CosmosDb__Endpoint", "not a url")]).unwrap_err();
        assert!(err.to_string().contains("CosmosDb__Endpoint"), "{err}");
        let err = parse(&[("CosmosDBConnection", "AccountEndpoint=https://a/")]).unwrap_err();
        assert!(err.to_string().contains("AccountKey"), "{err}");
        let err = parse(&[
            ("CosmosDb__Endpoint", "https://a/"),
            ("CosmosDb__CreateIfNotExists", "yes"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("CosmosDb__CreateIfNotExists"),
            "{err}"
        );
    }
}
