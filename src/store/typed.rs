//! Typed convenience over [`DocumentStore`]: read, write and query serde models instead of raw
//! JSON. System properties are dropped unless the model declares them (e.g. `_etag`).

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::DocumentStore;
use super::error::{StoreError, StoreResult};
use super::model::PartitionKey;
use super::query::Query;

fn to_doc<T: Serialize + Sync>(item: &T) -> StoreResult<Value> {
    serde_json::to_value(item)
        .map_err(|e| StoreError::BadRequest(format!("document does not serialize: {e}")))
}

fn from_doc<T: DeserializeOwned>(doc: Value) -> StoreResult<T> {
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    serde_json::from_value(doc)
        .map_err(|e| StoreError::Other(format!("stored item `{id}` does not match its model: {e}")))
}

/// Typed helpers, available on every `DocumentStore` (including `Arc<dyn DocumentStore>`).
#[async_trait]
pub trait DocumentStoreExt: DocumentStore {
    /// Point read into `T`; `None` when missing.
    async fn read_as<T: DeserializeOwned>(
        &self,
        container: &str,
        pk: &PartitionKey,
        id: &str,
    ) -> StoreResult<Option<T>> {
        self.read(container, pk, id)
            .await?
            .map(from_doc)
            .transpose()
    }

    /// Creates `item`; returns the stored version as `T`.
    async fn create_as<T: Serialize + DeserializeOwned + Sync>(
        &self,
        container: &str,
        pk: &PartitionKey,
        item: &T,
    ) -> StoreResult<T> {
        from_doc(self.create(container, pk, to_doc(item)?).await?)
    }

    /// Upserts `item`; returns the stored version as `T`.
    async fn upsert_as<T: Serialize + DeserializeOwned + Sync>(
        &self,
        container: &str,
        pk: &PartitionKey,
        item: &T,
    ) -> StoreResult<T> {
        from_doc(self.upsert(container, pk, to_doc(item)?).await?)
    }

    /// Runs a query and deserializes every result into `T`.
    async fn query_as<T: DeserializeOwned>(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<Vec<T>> {
        self.query(container, pk, query)
            .await?
            .into_iter()
            .map(from_doc)
            .collect()
    }
}

impl<S: DocumentStore + ?Sized> DocumentStoreExt for S {}
