//! Change-feed consumers with persisted checkpoints ("leases").
//!
//! Each consumer owns one lease document, `{"id": "<name>.<container>", "continuation": …}`, in
//! a lease container partitioned on `/id`. Reading a page never moves the checkpoint; the
//! consumer calls [`ChangeFeedConsumer::checkpoint`] only after it has processed the page, so a
//! crash re-delivers at most the unprocessed page. Lease writes are ETag-guarded: two processes
//! driving the same consumer name cannot silently overwrite each other's progress.

use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::Store;
use super::error::{StoreError, StoreResult};
use super::model::{
    ChangeFeedPage, ChangeFeedRequest, ChangeFeedStart, ContainerSpec, ETag, PartitionKey,
};

/// The persisted state of a lease, as last read or written by this process.
#[derive(Debug, Clone)]
struct Lease {
    etag: ETag,
    continuation: String,
}

/// One named consumer of one container's change feed.
pub struct ChangeFeedConsumer {
    store: Store,
    source: String,
    lease_container: String,
    lease_id: String,
    start: ChangeFeedStart,
    max_items: u32,
    lease: Mutex<Option<Lease>>,
}

impl std::fmt::Debug for ChangeFeedConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeedConsumer")
            .field("lease_id", &self.lease_id)
            .finish()
    }
}

impl ChangeFeedConsumer {
    /// Opens the consumer `name` of `source`, creating the lease container (`/id`) if needed.
    /// Without a saved lease, reading starts at `start`.
    pub async fn open(
        store: Store,
        source: &str,
        lease_container: &str,
        name: &str,
        start: ChangeFeedStart,
    ) -> StoreResult<Self> {
        if matches!(start, ChangeFeedStart::Continuation(_)) {
            return Err(StoreError::BadRequest(
                "start must be Beginning, Now or Time; continuations come from the lease".into(),
            ));
        }
        store
            .ensure_container(&ContainerSpec::parse(lease_container, "/id")?)
            .await?;
        let lease_id = format!("{name}.{source}");
        let pk = PartitionKey::from(lease_id.as_str());
        let lease = match store.read(lease_container, &pk, &lease_id).await? {
            Some(doc) => Some(Lease {
                etag: ETag::of(&doc)
                    .ok_or_else(|| StoreError::Other(format!("lease `{lease_id}` has no _etag")))?,
                continuation: doc
                    .get("continuation")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        StoreError::Other(format!("lease `{lease_id}` has no continuation"))
                    })?
                    .to_owned(),
            }),
            None => None,
        };
        Ok(Self {
            store,
            source: source.to_owned(),
            lease_container: lease_container.to_owned(),
            lease_id,
            start,
            max_items: 100,
            lease: Mutex::new(lease),
        })
    }

    /// Most items per page (default 100).
    pub fn with_max_items(mut self, max_items: u32) -> Self {
        self.max_items = max_items;
        self
    }

    /// The id of this consumer's lease document.
    pub fn lease_id(&self) -> &str {
        &self.lease_id
    }

    /// The saved continuation, if the consumer has ever checkpointed.
    pub async fn checkpointed(&self) -> Option<String> {
        self.lease
            .lock()
            .await
            .as_ref()
            .map(|l| l.continuation.clone())
    }

    /// Reads the next page after the last checkpoint. Does not move the checkpoint.
    pub async fn next_page(&self) -> StoreResult<ChangeFeedPage> {
        self.page_after(self.checkpointed().await).await
    }

    /// Reads the page after `continuation` (or from the start position when `None`).
    pub async fn page_after(&self, continuation: Option<String>) -> StoreResult<ChangeFeedPage> {
        let start = continuation.map_or_else(|| self.start.clone(), ChangeFeedStart::Continuation);
        let request = ChangeFeedRequest::new(start).max_items(self.max_items);
        self.store.read_change_feed(&self.source, &request).await
    }

    /// Records that every item of `page` has been processed.
    pub async fn checkpoint(&self, page: &ChangeFeedPage) -> StoreResult<()> {
        let mut lease = self.lease.lock().await;
        let pk = PartitionKey::from(self.lease_id.as_str());
        let doc = json!({
            "id": self.lease_id,
            "container": self.source,
            "continuation": page.continuation,
            "updatedAt": chrono::Utc::now().to_rfc3339(),
        });
        let stored = match lease.as_ref() {
            Some(current) => self
                .store
                .replace(&self.lease_container, &pk, doc, Some(&current.etag))
                .await
                .map_err(|e| match e {
                    StoreError::PreconditionFailed(_) => StoreError::PreconditionFailed(format!(
                        "lease `{}` was checkpointed by another instance",
                        self.lease_id
                    )),
                    other => other,
                })?,
            None => self.store.create(&self.lease_container, &pk, doc).await?,
        };
        let etag = ETag::of(&stored)
            .ok_or_else(|| StoreError::Other(format!("lease `{}` has no _etag", self.lease_id)))?;
        *lease = Some(Lease {
            etag,
            continuation: page.continuation.clone(),
        });
        Ok(())
    }
}
