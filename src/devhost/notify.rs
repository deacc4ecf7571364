//! Wake-ups on writes: a [`DocumentStore`] wrapper that bumps a counter after every successful
//! write, so change-feed pollers and queue dispatchers react at once instead of on a timer.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::watch;

use crate::store::{
    BatchOp, BatchResponse, ChangeFeedPage, ChangeFeedRequest, ContainerSpec, DocumentStore, ETag,
    PartitionKey, Query, Store, StoreResult,
};

/// Receivers see the counter change after any write to any container.
#[derive(Clone)]
pub struct WriteSignal {
    sender: Arc<watch::Sender<u64>>,
}

impl Default for WriteSignal {
    fn default() -> Self {
        Self {
            sender: Arc::new(watch::channel(0).0),
        }
    }
}

impl WriteSignal {
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }

    pub fn notify(&self) {
        self.sender
            .send_modify(|count| *count = count.wrapping_add(1));
    }
}

/// Wraps `inner`, notifying `signal` after each successful write.
pub fn signalling(inner: Store, signal: WriteSignal) -> Store {
    Arc::new(Signalling { inner, signal })
}

struct Signalling {
    inner: Store,
    signal: WriteSignal,
}

impl Signalling {
    fn done<T>(&self, result: StoreResult<T>) -> StoreResult<T> {
        if result.is_ok() {
            self.signal.notify();
        }
        result
    }
}

#[async_trait]
impl DocumentStore for Signalling {
    async fn ensure_container(&self, spec: &ContainerSpec) -> StoreResult<()> {
        self.inner.ensure_container(spec).await
    }

    async fn create(&self, container: &str, pk: &PartitionKey, doc: Value) -> StoreResult<Value> {
        let result = self.inner.create(container, pk, doc).await;
        self.done(result)
    }

    async fn upsert(&self, container: &str, pk: &PartitionKey, doc: Value) -> StoreResult<Value> {
        let result = self.inner.upsert(container, pk, doc).await;
        self.done(result)
    }

    async fn replace(
        &self,
        container: &str,
        pk: &PartitionKey,
        doc: Value,
        if_match: Option<&ETag>,
    ) -> StoreResult<Value> {
        let result = self.inner.replace(container, pk, doc, if_match).await;
        self.done(result)
    }

    async fn delete(
        &self,
        container: &str,
        pk: &PartitionKey,
        id: &str,
        if_match: Option<&ETag>,
    ) -> StoreResult<()> {
        let result = self.inner.delete(container, pk, id, if_match).await;
        self.done(result)
    }

    async fn read(
        &self,
        container: &str,
        pk: &PartitionKey,
        id: &str,
    ) -> StoreResult<Option<Value>> {
        self.inner.read(container, pk, id).await
    }

    async fn query(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<Vec<Value>> {
        self.inner.query(container, pk, query).await
    }

    async fn count(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<u64> {
        self.inner.count(container, pk, query).await
    }

    async fn batch(
        &self,
        container: &str,
        pk: &PartitionKey,
        ops: Vec<BatchOp>,
    ) -> StoreResult<BatchResponse> {
        let result = self.inner.batch(container, pk, ops).await;
        self.done(result)
    }

    async fn read_change_feed(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
    ) -> StoreResult<ChangeFeedPage> {
        self.inner.read_change_feed(container, request).await
    }
}
