//! Documents with Cosmos DB semantics behind one [`DocumentStore`] trait, and its backends.
//!
//! - [`model`], [`query`], [`error`]: the value types, the typed query API, the error enum.
//! - [`embedded`]: the default backend, one redb file in a directory on disk, with group commit.
//! - [`cosmos`]: Azure Cosmos DB through `azure_data_cosmos`.
//! - [`lease`]: change-feed consumers whose checkpoints live in a lease container.
//! - [`typed`]: [`DocumentStoreExt`], the same calls over serde models.
//! - [`config`]: [`StoreConfig`] from app settings, and [`open_store`].
//! - [`cli`]: `cosmospark store …` tools (smoke test, crash-test writer).
//!
//! Both backends pass one conformance suite (`tests/store_conformance.rs`); the Cosmos backend
//! runs it over the SDK's in-memory emulator. Two behaviours are checked on the embedded backend
//! only because that emulator lacks them: TTL expiry and a point-in-time change-feed start (real
//! Cosmos DB implements both server-side). Ids, partition keys and batch sizes are validated
//! client-side by both backends, so bad input gets the same 400 everywhere.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

pub mod cli;
mod commit_queue;
pub mod config;
pub mod cosmos;
pub mod embedded;
pub mod error;
pub mod lease;
pub mod model;
pub mod query;
mod system;
pub mod typed;

pub use config::{StoreConfig, open_store};
pub use error::{StoreError, StoreResult};
pub use lease::ChangeFeedConsumer;
pub use model::{
    BatchOp, BatchOpResult, BatchResponse, ChangeFeedBacklog, ChangeFeedPage, ChangeFeedRequest,
    ChangeFeedStart, ContainerSpec, ETag, JsonPath, PartitionKey, RawChangeFeedPage, RawDocs,
};
pub use query::{CmpOp, Query, SortOrder};
pub use typed::DocumentStoreExt;

/// A shareable store handle, as held in axum state and background tasks.
pub type Store = Arc<dyn DocumentStore>;

/// A database of containers with Cosmos DB semantics.
///
/// Written documents come back with the system properties `_ts` (epoch seconds of the last
/// write), `_etag` and, on the embedded backend, `_lsn`. A document's partition key is the
/// value at the container's partition-key path; every call names it explicitly, and a write
/// whose document disagrees is a 400.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Creates the container if it does not exist; an existing container is left as is.
    async fn ensure_container(&self, spec: &ContainerSpec) -> StoreResult<()>;

    /// Creates an item; 409 if the id exists in the partition. Returns the stored item.
    async fn create(&self, container: &str, pk: &PartitionKey, doc: Value) -> StoreResult<Value>;

    /// Creates or replaces an item. Returns the stored item.
    async fn upsert(&self, container: &str, pk: &PartitionKey, doc: Value) -> StoreResult<Value>;

    /// Replaces an existing item (404 if missing), if its ETag still matches (412 otherwise).
    async fn replace(
        &self,
        container: &str,
        pk: &PartitionKey,
        doc: Value,
        if_match: Option<&ETag>,
    ) -> StoreResult<Value>;

    /// Deletes an item (404 if missing), if its ETag still matches (412 otherwise).
    async fn delete(
        &self,
        container: &str,
        pk: &PartitionKey,
        id: &str,
        if_match: Option<&ETag>,
    ) -> StoreResult<()>;

    /// Point read; `None` when the item does not exist (or has expired).
    async fn read(
        &self,
        container: &str,
        pk: &PartitionKey,
        id: &str,
    ) -> StoreResult<Option<Value>>;

    /// Runs a query over one partition (`pk`) or the whole container.
    async fn query(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<Vec<Value>>;

    /// Counts the items matching the query's filters.
    async fn count(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<u64>;

    /// Runs up to 100 operations on one partition atomically.
    async fn batch(
        &self,
        container: &str,
        pk: &PartitionKey,
        ops: Vec<BatchOp>,
    ) -> StoreResult<BatchResponse>;

    /// Point reads of several items of one container, answered in the order asked; `None`
    /// for an item that does not exist (or has expired). The embedded backend reads them all
    /// from one snapshot.
    async fn read_many(
        &self,
        container: &str,
        keys: &[(PartitionKey, String)],
    ) -> StoreResult<Vec<Option<Value>>> {
        futures::future::try_join_all(
            keys.iter()
                .map(|(pk, id)| self.read(container, pk, id.as_str())),
        )
        .await
    }

    /// Transactional batches on several partitions of one container, one response per batch
    /// in the order given. Each batch is atomic, as [`DocumentStore::batch`]. The embedded
    /// backend commits them all in one transaction and one fsync, all or nothing: when an
    /// operation fails nothing is written, its batch's response names it and every other
    /// operation answers 424. Cosmos DB has no transaction across partitions, so there the
    /// batches run one by one (stopping at the first failed one, later ones answering 424) and
    /// a caller must treat a failure as "some batches may have been written" and re-read.
    async fn batch_partitions(
        &self,
        container: &str,
        batches: Vec<(PartitionKey, Vec<BatchOp>)>,
    ) -> StoreResult<Vec<BatchResponse>> {
        let mut responses = Vec::with_capacity(batches.len());
        let mut failed = false;
        for (pk, ops) in batches {
            if failed {
                responses.push(BatchResponse::failed_dependency(ops.len()));
                continue;
            }
            let response = self.batch(container, &pk, ops).await?;
            failed = !response.is_success();
            responses.push(response);
        }
        Ok(responses)
    }

    /// Reads one page of the container's change feed.
    async fn read_change_feed(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
    ) -> StoreResult<ChangeFeedPage>;

    /// Counts what a change-feed read from `start` (over `partition`, or the whole container)
    /// would still return, without reading the documents, for backlog figures. `None` when the
    /// backend cannot count cheaply: the Cosmos DB backend answers `None` (its change feed
    /// exposes no per-item position to subtract); a caller then reads the feed instead.
    async fn change_feed_backlog(
        &self,
        _container: &str,
        _start: &ChangeFeedStart,
        _partition: Option<&PartitionKey>,
    ) -> StoreResult<Option<ChangeFeedBacklog>> {
        Ok(None)
    }

    /// [`DocumentStore::read_change_feed`] with each item left as its stored JSON text, so a
    /// reader can decode it straight into its own type (skipping what it does not need)
    /// instead of through a `serde_json::Value`. The embedded backend hands over the stored
    /// bytes; the default encodes the items of an ordinary page.
    async fn read_change_feed_raw(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
    ) -> StoreResult<RawChangeFeedPage> {
        let page = self.read_change_feed(container, request).await?;
        let mut items = RawDocs::default();
        for doc in &page.items {
            let text = serde_json::to_vec(doc)
                .map_err(|e| StoreError::Other(format!("change-feed item does not encode: {e}")))?;
            items.push(&text);
        }
        Ok(RawChangeFeedPage {
            items,
            continuation: page.continuation,
        })
    }

    /// A receiver that changes after every committed write, when the backend can tell (the
    /// embedded one can); `None` means poll the change feed on a timer.
    fn commit_notifications(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Like [`DocumentStore::commit_notifications`], but changes only after commits that wrote
    /// to `container`, so a reader of one container is not woken by writes to the others.
    fn container_notifications(
        &self,
        _container: &str,
    ) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// True while a commit's writes are visible to readers but not yet counted by
    /// [`DocumentStore::commit_notifications`]; a reader that wants a consistent count
    /// (the platform's idle check) reads again later.
    fn commit_unnotified(&self) -> bool {
        false
    }
}
