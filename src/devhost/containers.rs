//! The app's containers, from `infra/cosmos-containers.json` (the same file the Bicep reads),
//! plus the local platform's own durable queues.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::store::{ContainerSpec, Store, StoreError, StoreResult};

/// Where the container list lives, relative to the app root.
pub const CONTAINERS_FILE: &str = "infra/cosmos-containers.json";

/// The local platform's own containers (deliveries, hub logs, checkpoints), all on `/id`
/// except the hub log, which is partitioned per hub partition, and the Event Grid queue,
/// partitioned per subscription (so deliveries are enqueued and removed in batches).
pub const EVENT_GRID_CONTAINER: &str = "devhost-eventgrid-queue";
/// The earlier Event Grid queue (one partition per delivery); emptied into the new one at start.
pub const LEGACY_EVENT_GRID_CONTAINER: &str = "devhost-eventgrid-deliveries";
pub const EVENT_HUBS_CONTAINER: &str = "devhost-eventhubs-log";
pub const CHECKPOINTS_CONTAINER: &str = "devhost-eventhubs-checkpoints";

#[derive(Debug, thiserror::Error)]
pub enum ContainersError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFile {
    containers: Vec<RawContainer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContainer {
    name: String,
    partition_key: String,
    #[serde(default)]
    default_ttl_seconds: Option<i64>,
}

/// Container specs by name.
#[derive(Debug, Clone, Default)]
pub struct Containers {
    specs: Arc<BTreeMap<String, ContainerSpec>>,
}

impl Containers {
    /// Reads `<root>/infra/cosmos-containers.json`; a missing file gives only the platform's own
    /// containers.
    pub fn load(root: &Path) -> Result<Self, ContainersError> {
        let file = root.join(CONTAINERS_FILE);
        let mut specs = BTreeMap::new();
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let raw: RawFile =
                    serde_json::from_str(&text).map_err(|error| ContainersError::Invalid {
                        file: file.clone(),
                        message: error.to_string(),
                    })?;
                for (index, container) in raw.containers.into_iter().enumerate() {
                    let invalid = |error: StoreError| ContainersError::Invalid {
                        file: file.clone(),
                        message: format!("containers[{index}]: {error}"),
                    };
                    let mut spec = ContainerSpec::parse(&container.name, &container.partition_key)
                        .map_err(invalid)?;
                    if let Some(ttl) = container.default_ttl_seconds {
                        spec = spec.with_default_ttl(ttl).map_err(invalid)?;
                    }
                    specs.insert(container.name, spec);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(file = %file.display(), "no container list; only the platform's containers exist");
            }
            Err(source) => return Err(ContainersError::Read { file, source }),
        }
        for (name, path) in [
            (EVENT_GRID_CONTAINER, "/subscription"),
            (LEGACY_EVENT_GRID_CONTAINER, "/id"),
            (EVENT_HUBS_CONTAINER, "/stream"),
            (CHECKPOINTS_CONTAINER, "/id"),
        ] {
            let spec =
                ContainerSpec::parse(name, path).map_err(|error| ContainersError::Invalid {
                    file: file.clone(),
                    message: error.to_string(),
                })?;
            specs.insert(name.to_owned(), spec);
        }
        Ok(Self {
            specs: Arc::new(specs),
        })
    }

    /// The spec of `name`, or a 404 naming the file it should be declared in.
    pub fn spec(&self, name: &str) -> StoreResult<&ContainerSpec> {
        self.specs.get(name).ok_or_else(|| {
            StoreError::NotFound(format!(
                "container `{name}` is not declared in {CONTAINERS_FILE}"
            ))
        })
    }

    /// Creates every container that does not exist yet.
    pub async fn ensure_all(&self, store: &Store) -> StoreResult<()> {
        for spec in self.specs.values() {
            store.ensure_container(spec).await?;
        }
        Ok(())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.specs.keys().map(String::as_str)
    }
}
