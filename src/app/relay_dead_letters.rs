//! The change-feed relays' own dead letters (Event Grid and Event Hubs relays). A change-feed
//! document a relay can never publish is set aside here instead of failing its batch: the
//! relays retry without limit
//! (`maxRetryCount: -1`), and the host retries a failing batch forever under such a policy
//! (`Utility.WaitForNextExecutionAttempt` in Azure/azure-webjobs-sdk stops only when
//! `MaxRetryCount != -1`), so one such document would hold its lease forever.
//!
//! Each entry (container `RelayDeadLetters`, partition key `/partitionKey`) names the document —
//! container, partition-key value, id and `_etag` — rather than holding it: a document may be up
//! to 2 MB, and the entry must fit in an item too. Its id derives from the function and the
//! document version, so the same version set aside again (a redelivered batch, a replay that
//! failed again) stays one entry. A replay hands the document's current version to the relay
//! again; the platform lists and replays these beside its own dead letters.

use std::sync::LazyLock;

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::services::container_specs;
use crate::store::{ContainerSpec, PartitionKey, Store, StoreError};

/// The container of the relays' dead letters.
pub const CONTAINER: &str = "RelayDeadLetters";

const NAMESPACE: Uuid = Uuid::from_u128(0x3c9a_61d2_7e45_4b08_a1f3_52e8_c0d7_9b14);

/// One document a relay sets aside.
#[derive(Debug, Clone, PartialEq)]
pub struct SetAside {
    /// The document's id (`None` when it has no string id).
    pub id: Option<String>,
    /// Its partition-key value, when the container's path finds one.
    pub partition_key: Option<Value>,
    /// Its `_etag` (the version that failed).
    pub version: Option<String>,
    pub reason: String,
}

impl SetAside {
    /// The entry naming `document` of `container`, set aside for `reason`.
    pub fn of(container: &str, document: &Value, reason: String) -> Self {
        Self {
            id: document
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            partition_key: partition_key(container, document),
            version: document
                .get("_etag")
                .and_then(Value::as_str)
                .map(str::to_owned),
            reason,
        }
    }
}

/// The partition-key value of `document` in `container` (from `infra/cosmos-containers.json`).
pub fn partition_key(container: &str, document: &Value) -> Option<Value> {
    // Parsed once: this runs for every relayed document.
    static SPECS: LazyLock<Option<Vec<ContainerSpec>>> = LazyLock::new(|| container_specs().ok());
    let spec = SPECS.as_ref()?.iter().find(|spec| spec.name == container)?;
    spec.partition_key_of(document)
        .ok()
        .map(|pk| pk.value().clone())
}

/// Writes the dead letter of `document` for relay `function` reading `container`.
pub async fn set_aside(
    store: &Store,
    function: &str,
    container: &str,
    entry: &SetAside,
) -> Result<(), StoreError> {
    let key = format!(
        "{function}|{container}|{}|{}",
        entry.id.as_deref().unwrap_or_default(),
        entry.version.as_deref().unwrap_or_default()
    );
    let id = Uuid::new_v5(&NAMESPACE, key.as_bytes())
        .simple()
        .to_string();
    tracing::warn!(
        function,
        container,
        document = entry.id.as_deref().unwrap_or("?"),
        reason = %entry.reason,
        "set a document aside"
    );
    let doc = json!({
        "id": id,
        "partitionKey": id,
        "function": function,
        "container": container,
        "documentId": entry.id,
        "documentPartitionKey": entry.partition_key,
        "version": entry.version,
        "reason": entry.reason,
        "deadLetteredAt": Utc::now(),
    });
    store
        .upsert(CONTAINER, &PartitionKey::from(id.as_str()), doc)
        .await?;
    Ok(())
}
