//! The embedded backend: every container in one redb database file inside a directory.
//!
//! redb gives ACID transactions with a durable (fsync'd) commit before `commit()` returns, so an
//! acknowledged write survives `kill -9`; readers see MVCC snapshots and never block the
//! single writer. Engine calls run on tokio's blocking pool.
//!
//! Writes go through a group commit ([`CommitQueue`]): the writes queued while a commit runs
//! share the next transaction and its one fsync, each applied in queue order exactly as if it
//! had committed alone (its own 409/412/404, its own LSNs), and each writer is answered only
//! after that commit returned. A write that fails leaves nothing in the shared transaction.
//!
//! Tables: `containers` (name → spec), `items` ((container, pk, id) → JSON), `feed`
//! ((container, lsn) → (pk, id, ms)) holding only each item's latest change, `lsn`
//! (container → last LSN) and `expiry` ((container, expiry ms, lsn) → ()) holding every item
//! that will expire. The change feed is a range scan of `feed` after the continuation's LSN; a
//! purge is a range scan of `expiry` up to now, so its cost is the number of expired items.
//! A write reads only the system members of the item it replaces (`_etag`, `_ts`, `ttl`,
//! `_lsn`), never the whole document.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redb::{
    Database, ReadableDatabase, ReadableTable, Table, TableDefinition, TableHandle,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DocumentStore;
use super::commit_queue::CommitQueue;
use super::error::{StoreError, StoreResult};
use super::model::{
    BatchOp, BatchOpResult, BatchResponse, ChangeFeedBacklog, ChangeFeedPage, ChangeFeedRequest,
    ChangeFeedStart, ContainerSpec, ETag, MAX_BATCH_OPS, PartitionKey, RawChangeFeedPage, RawDocs,
    check_partition_key, id_of, validate_id,
};
use super::query::Query;
use super::system::{check_item_ttl, check_size, expiry, is_expired, now_millis};

/// redb's page cache unless configured (`Store__CacheMiB`). redb's default (1 GiB) lets a
/// long-running `dev` grow with the store; the OS page cache serves what falls out of this one.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
const ITEMS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("items");
const FEED: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("feed");
const LSN: TableDefinition<&str, u64> = TableDefinition::new("lsn");
const EXPIRY: TableDefinition<(&str, i64, u64), ()> = TableDefinition::new("expiry");

/// File name of the database inside the store directory.
pub const DB_FILE: &str = "store.redb";
/// The shortest time between two purges of expired items.
const PURGE_EVERY: Duration = Duration::from_secs(30);
/// The most writes one group commit holds; more wait for the next commit.
const MAX_GROUP: usize = 1024;

fn engine(e: impl Display) -> StoreError {
    StoreError::Other(format!("embedded store: {e}"))
}

/// Where an item's latest change sits in the feed.
#[derive(Serialize, Deserialize)]
struct FeedEntry {
    pk: String,
    id: String,
    ms: i64,
}

/// A [`FeedEntry`] read in place.
#[derive(Deserialize)]
struct FeedRef<'a> {
    #[serde(borrow)]
    pk: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    ms: i64,
}

struct Inner {
    db: Database,
    specs: RwLock<HashMap<String, ContainerSpec>>,
    dir: PathBuf,
    /// Bumped after every committed item write, so feed readers can wait instead of polling.
    commits: tokio::sync::watch::Sender<u64>,
    /// Per container, bumped after every commit that wrote to it; created on first subscription.
    container_commits: Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>,
    /// Bumped after every commit that wrote to a container with a TTL (wakes the purger).
    ttl_writes: tokio::sync::watch::Sender<u64>,
    /// Group commits begun and settled (notified): they differ while a commit's data is
    /// already visible to readers but `commits` does not count it yet. Only the leader writes.
    groups_begun: AtomicU64,
    groups_settled: AtomicU64,
    queue: CommitQueue<Job>,
}

/// A write waiting for the next group commit.
struct Job {
    container: String,
    work: Work,
    reply: tokio::sync::oneshot::Sender<StoreResult<Done>>,
}

enum Work {
    One(PartitionKey, BatchOp),
    Batch(PartitionKey, Vec<BatchOp>),
    /// Batches on several partitions, all or nothing.
    Partitions(Vec<(PartitionKey, Vec<BatchOp>)>),
}

enum Done {
    One(Option<Value>),
    Batch(BatchResponse),
    Partitions(Vec<BatchResponse>),
}

/// How one pass over a group ended.
enum Pass {
    /// `true` when a written item will expire (the purger must know).
    Committed(bool),
    /// A job failed after writing into the transaction: it is settled as failed, and the
    /// transaction is rebuilt without it.
    Redo,
}

/// The embedded store: a cheap-clone handle.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`, and starts purging expired items in the background
    /// while a handle is alive.
    pub async fn open(dir: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES).await
    }

    /// [`EmbeddedStore::open`] with a page cache of at most `cache_bytes`.
    pub async fn open_with_cache(dir: impl AsRef<Path>, cache_bytes: usize) -> StoreResult<Self> {
        let dir = dir.as_ref().to_path_buf();
        let inner = tokio::task::spawn_blocking(move || Inner::open(dir, cache_bytes))
            .await
            .map_err(engine)??;
        let store = Self {
            inner: Arc::new(inner),
        };
        let weak = Arc::downgrade(&store.inner);
        tokio::spawn(purge_loop(weak));
        Ok(store)
    }

    /// The directory holding the database.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(engine)?
    }

    /// A receiver that changes after every committed item write (any container): a change-feed
    /// reader that found an empty page can `changed().await` instead of sleeping.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.commits.subscribe()
    }

    /// A receiver that changes after every commit that wrote to `container`, and only then.
    pub fn subscribe_container(&self, container: &str) -> tokio::sync::watch::Receiver<u64> {
        let mut senders = self
            .inner
            .container_commits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        senders
            .entry(container.to_owned())
            .or_insert_with(|| tokio::sync::watch::Sender::new(0))
            .subscribe()
    }

    /// Queues a write for the next group commit and waits until it is durable (or failed).
    async fn submit(&self, container: &str, work: Work) -> StoreResult<Done> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            container: container.to_owned(),
            work,
            reply,
        };
        if self.inner.queue.push(job) {
            let inner = self.inner.clone();
            tokio::task::spawn_blocking(move || inner.lead());
        }
        answer
            .await
            .map_err(|_| engine("the commit leader stopped before answering"))?
    }

    /// Deletes every expired item now; returns how many were removed.
    pub async fn purge_expired(&self) -> StoreResult<usize> {
        self.run(|inner| inner.purge().map(|purged| purged.removed))
            .await
    }
}

/// Purges expired items without polling: it sleeps until the earliest expiry the last purge
/// saw, and a commit that wrote an item with an expiry wakes it (it may expire sooner). Purges
/// are at least [`PURGE_EVERY`] apart however many such commits arrive; reads hide expired
/// items meanwhile.
async fn purge_loop(weak: Weak<Inner>) {
    let Some(mut ttl_writes) = weak.upgrade().map(|inner| inner.ttl_writes.subscribe()) else {
        return;
    };
    let mut wait = Some(PURGE_EVERY);
    let mut last: Option<Instant> = None;
    loop {
        let woke = match wait {
            Some(wait) => tokio::select! {
                () = tokio::time::sleep(wait) => Ok(()),
                changed = ttl_writes.changed() => changed,
            },
            None => ttl_writes.changed().await,
        };
        // The sender lives in the store: an error means the store is gone.
        if woke.is_err() {
            return;
        }
        if let Some(since) = last.map(|at| at.elapsed())
            && since < PURGE_EVERY
        {
            tokio::time::sleep(PURGE_EVERY - since).await;
        }
        // Marked seen before the scan, so a write during it brings another.
        ttl_writes.borrow_and_update();
        let Some(inner) = weak.upgrade() else { return };
        let next = match tokio::task::spawn_blocking(move || inner.purge()).await {
            Ok(Ok(purged)) => purged.next_expiry,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "purging expired items failed");
                Some(now_millis())
            }
            Err(_) => Some(now_millis()),
        };
        last = Some(Instant::now());
        wait = next.map(|at| {
            Duration::from_millis(u64::try_from(at - now_millis()).unwrap_or(0)).max(PURGE_EVERY)
        });
    }
}

/// What one purge did.
struct Purged {
    removed: usize,
    /// The earliest expiry (ms since the epoch) of the items it kept.
    next_expiry: Option<i64>,
}

/// How a single write treats an existing item.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Create,
    Upsert,
    Replace,
}

fn parse_doc(bytes: &[u8]) -> StoreResult<Value> {
    serde_json::from_slice(bytes).map_err(engine)
}

/// The system members of a stored item, decoded without building the rest of it.
#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "_ts", default)]
    ts: Option<i64>,
    /// Kept as written; only a whole number counts (as [`is_expired`] reads it).
    #[serde(default)]
    ttl: Option<Value>,
    #[serde(rename = "_etag", default)]
    etag: Option<String>,
    #[serde(rename = "_lsn", default)]
    lsn: Option<u64>,
}

impl Meta {
    fn parse(bytes: &[u8]) -> StoreResult<Self> {
        serde_json::from_slice(bytes).map_err(engine)
    }

    fn expiry(&self, spec: &ContainerSpec) -> Option<i64> {
        expiry(
            spec,
            self.ts.unwrap_or(0),
            self.ttl.as_ref().and_then(Value::as_i64),
        )
    }

    fn is_expired(&self, spec: &ContainerSpec, now: i64) -> bool {
        self.expiry(spec).is_some_and(|at| now >= at)
    }

    fn lsn(&self) -> u64 {
        self.lsn.unwrap_or(0)
    }

    fn etag_matches(&self, if_match: Option<&ETag>) -> bool {
        if_match.is_none_or(|tag| self.etag.as_deref() == Some(tag.0.as_str()))
    }
}

/// The write tables of one transaction, opened once for every write applied in it.
struct Tables<'t> {
    items: Table<'t, (&'static str, &'static str, &'static str), &'static [u8]>,
    feed: Table<'t, (&'static str, u64), &'static [u8]>,
    lsns: Table<'t, &'static str, u64>,
    expiry: Table<'t, (&'static str, i64, u64), ()>,
    /// Set when a written item will expire.
    expiring: bool,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> StoreResult<Self> {
        Ok(Self {
            items: txn.open_table(ITEMS).map_err(engine)?,
            feed: txn.open_table(FEED).map_err(engine)?,
            lsns: txn.open_table(LSN).map_err(engine)?,
            expiry: txn.open_table(EXPIRY).map_err(engine)?,
            expiring: false,
        })
    }

    /// The system members of the stored item, expired or not.
    fn meta(&self, container: &str, pk: &str, id: &str) -> StoreResult<Option<Meta>> {
        match self.items.get((container, pk, id)).map_err(engine)? {
            Some(bytes) => Meta::parse(bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Removes the feed and expiry entries of an item's stored version.
    fn forget(&mut self, spec: &ContainerSpec, old: &Meta) -> StoreResult<()> {
        let name = spec.name.as_str();
        self.feed.remove((name, old.lsn())).map_err(engine)?;
        if let Some(at) = old.expiry(spec) {
            self.expiry.remove((name, at, old.lsn())).map_err(engine)?;
        }
        Ok(())
    }
}

fn parse_continuation(token: &str) -> StoreResult<u64> {
    token
        .strip_prefix("lsn:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            StoreError::BadRequest(format!(
                "continuation `{token}` is not an embedded-store continuation"
            ))
        })
}

impl Inner {
    fn open(dir: PathBuf, cache_bytes: usize) -> StoreResult<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| {
            StoreError::Other(format!(
                "cannot create store directory {}: {e}",
                dir.display()
            ))
        })?;
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(dir.join(DB_FILE))
            .map_err(engine)?;
        let txn = db.begin_write().map_err(engine)?;
        let indexed = txn
            .list_tables()
            .map_err(engine)?
            .any(|table| table.name() == EXPIRY.name());
        let mut specs = HashMap::new();
        {
            txn.open_table(ITEMS).map_err(engine)?;
            txn.open_table(FEED).map_err(engine)?;
            txn.open_table(LSN).map_err(engine)?;
            let containers = txn.open_table(CONTAINERS).map_err(engine)?;
            for entry in containers.iter().map_err(engine)? {
                let (name, spec) = entry.map_err(engine)?;
                let spec: ContainerSpec = serde_json::from_slice(spec.value()).map_err(engine)?;
                specs.insert(name.value().to_owned(), spec);
            }
            let mut tables = Tables::open(&txn)?;
            if !indexed {
                index_expiries(&mut tables, specs.values())?;
            }
        }
        txn.commit().map_err(engine)?;
        Ok(Self {
            db,
            specs: RwLock::new(specs),
            dir,
            commits: tokio::sync::watch::Sender::new(0),
            container_commits: Mutex::new(HashMap::new()),
            ttl_writes: tokio::sync::watch::Sender::new(0),
            groups_begun: AtomicU64::new(0),
            groups_settled: AtomicU64::new(0),
            queue: CommitQueue::new(MAX_GROUP),
        })
    }

    fn spec(&self, container: &str) -> StoreResult<ContainerSpec> {
        self.specs
            .read()
            .map_err(engine)?
            .get(container)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("container `{container}` does not exist")))
    }

    fn ensure_container(&self, spec: &ContainerSpec) -> StoreResult<()> {
        if let Some(existing) = self.specs.read().map_err(engine)?.get(&spec.name) {
            if existing.partition_key_path != spec.partition_key_path {
                return Err(StoreError::BadRequest(format!(
                    "container `{}` exists with partition key path `{}`, not `{}`",
                    spec.name, existing.partition_key_path, spec.partition_key_path
                )));
            }
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(engine)?;
        {
            let mut containers = txn.open_table(CONTAINERS).map_err(engine)?;
            if containers
                .get(spec.name.as_str())
                .map_err(engine)?
                .is_none()
            {
                let bytes = serde_json::to_vec(spec).map_err(engine)?;
                containers
                    .insert(spec.name.as_str(), bytes.as_slice())
                    .map_err(engine)?;
            }
        }
        txn.commit().map_err(engine)?;
        self.specs
            .write()
            .map_err(engine)?
            .entry(spec.name.clone())
            .or_insert_with(|| spec.clone());
        Ok(())
    }

    fn read(&self, container: &str, pk: &PartitionKey, id: &str) -> StoreResult<Option<Value>> {
        let spec = self.spec(container)?;
        validate_id(id)?;
        let txn = self.db.begin_read().map_err(engine)?;
        let items = txn.open_table(ITEMS).map_err(engine)?;
        let key = pk.canonical();
        let Some(bytes) = items.get((container, key.as_str(), id)).map_err(engine)? else {
            return Ok(None);
        };
        let doc = parse_doc(bytes.value())?;
        Ok((!is_expired(&spec, &doc, now_millis())).then_some(doc))
    }

    fn read_many(
        &self,
        container: &str,
        keys: &[(PartitionKey, String)],
    ) -> StoreResult<Vec<Option<Value>>> {
        let spec = self.spec(container)?;
        let txn = self.db.begin_read().map_err(engine)?;
        let items = txn.open_table(ITEMS).map_err(engine)?;
        let now = now_millis();
        keys.iter()
            .map(|(pk, id)| {
                validate_id(id)?;
                let key = pk.canonical();
                let Some(bytes) = items
                    .get((container, key.as_str(), id.as_str()))
                    .map_err(engine)?
                else {
                    return Ok(None);
                };
                let doc = parse_doc(bytes.value())?;
                Ok((!is_expired(&spec, &doc, now)).then_some(doc))
            })
            .collect()
    }

    /// Runs group commits until the queue is empty; see [`CommitQueue`].
    fn lead(&self) {
        struct Abandon<'a>(&'a CommitQueue<Job>);
        impl Drop for Abandon<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.abandon();
                }
            }
        }
        let _guard = Abandon(&self.queue);
        while let Some(group) = self.queue.next_group() {
            self.commit_group(group);
        }
    }

    /// Applies `jobs` in order in one transaction, commits it, then answers every writer.
    fn commit_group(&self, jobs: Vec<Job>) {
        let now = now_millis();
        let mut outcomes: Vec<Option<StoreResult<Done>>> = jobs.iter().map(|_| None).collect();
        let mut settled = vec![false; jobs.len()];
        let mut expiring = false;
        loop {
            match self.try_group(&jobs, &mut outcomes, &mut settled, now) {
                Ok(Pass::Committed(wrote_expiring)) => {
                    expiring = wrote_expiring;
                    break;
                }
                Ok(Pass::Redo) => continue,
                Err(e) => {
                    let message = e.to_string();
                    for (outcome, settled) in outcomes.iter_mut().zip(&settled) {
                        if !settled {
                            *outcome = Some(Err(StoreError::Other(message.clone())));
                        }
                    }
                    break;
                }
            }
        }
        let mut touched: Vec<&str> = jobs
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| match outcome {
                Some(Ok(Done::One(_))) => true,
                Some(Ok(Done::Batch(response))) => response.is_success(),
                Some(Ok(Done::Partitions(responses))) => {
                    responses.iter().all(BatchResponse::is_success)
                }
                _ => false,
            })
            .map(|(job, _)| job.container.as_str())
            .collect();
        touched.sort_unstable();
        touched.dedup();
        if !touched.is_empty() {
            self.notify(&touched, expiring);
        }
        self.groups_settled
            .store(self.groups_begun.load(Ordering::SeqCst), Ordering::SeqCst);
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let outcome = outcome.unwrap_or_else(|| Err(engine("write was not applied")));
            // A writer that stopped waiting is fine: its write is committed either way.
            let _ = job.reply.send(outcome);
        }
    }

    /// One pass: applies every job not yet settled, then commits. Jobs that fail without
    /// writing are settled and skipped; a job that fails after writing settles and asks for a
    /// fresh transaction, since redb cannot roll back part of one.
    fn try_group(
        &self,
        jobs: &[Job],
        outcomes: &mut [Option<StoreResult<Done>>],
        settled: &mut [bool],
        now: i64,
    ) -> StoreResult<Pass> {
        let txn = self.db.begin_write().map_err(engine)?;
        let mut tables = Tables::open(&txn)?;
        for (index, job) in jobs.iter().enumerate() {
            if settled[index] {
                continue;
            }
            let spec = match self.spec(&job.container) {
                Ok(spec) => spec,
                Err(e) => {
                    (outcomes[index], settled[index]) = (Some(Err(e)), true);
                    continue;
                }
            };
            let (outcome, wrote_then_failed) = match &job.work {
                // `apply` checks everything before its first write, so only an engine error
                // can leave a failed single write half applied.
                Work::One(pk, op) => match apply(&mut tables, &spec, pk, op.clone(), now) {
                    Ok(item) => (Ok(Done::One(item)), false),
                    Err(e) => {
                        let engine_failure = matches!(e, StoreError::Other(_));
                        settled[index] = true;
                        (Err(e), engine_failure)
                    }
                },
                Work::Batch(pk, ops) => match run_batch(&mut tables, &spec, pk, ops, now) {
                    Ok((response, wrote)) => {
                        let failed = !response.is_success();
                        settled[index] = failed;
                        (Ok(Done::Batch(response)), failed && wrote)
                    }
                    Err(e) => {
                        settled[index] = true;
                        (Err(e), true)
                    }
                },
                Work::Partitions(batches) => match run_partitions(&mut tables, &spec, batches, now)
                {
                    Ok((responses, wrote)) => {
                        let failed = !responses.iter().all(BatchResponse::is_success);
                        settled[index] = failed;
                        (Ok(Done::Partitions(responses)), failed && wrote)
                    }
                    Err(e) => {
                        settled[index] = true;
                        (Err(e), true)
                    }
                },
            };
            outcomes[index] = Some(outcome);
            if wrote_then_failed {
                drop(tables);
                txn.abort().map_err(engine)?;
                return Ok(Pass::Redo);
            }
        }
        let expiring = tables.expiring;
        drop(tables);
        self.groups_begun.fetch_add(1, Ordering::SeqCst);
        txn.commit().map_err(engine)?;
        Ok(Pass::Committed(expiring))
    }

    fn notify(&self, containers: &[&str], expiring: bool) {
        self.commits.send_modify(|n| *n += 1);
        if expiring {
            self.ttl_writes.send_modify(|n| *n += 1);
        }
        let senders = self
            .container_commits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for name in containers {
            if let Some(sender) = senders.get(*name) {
                sender.send_modify(|n| *n += 1);
            }
        }
    }

    fn query(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<Vec<Value>> {
        let spec = self.spec(container)?;
        let plan = query.plan()?;
        let docs = self.scan(&spec, pk, |doc| plan.matches(doc))?;
        Ok(plan.finish(docs))
    }

    /// Counts without keeping documents: with no filter only an expiring container's items
    /// are decoded at all, and then only their system members.
    fn count(&self, container: &str, pk: Option<&PartitionKey>, query: &Query) -> StoreResult<u64> {
        let spec = self.spec(container)?;
        let plan = query.plan()?;
        plan.check_countable()?;
        let now = now_millis();
        let mut count = 0;
        self.each_stored(&spec, pk, |bytes| {
            let counted = if !plan.filters.is_empty() {
                let doc = parse_doc(bytes)?;
                !is_expired(&spec, &doc, now) && plan.matches(&doc)
            } else if spec.default_ttl.is_some() {
                !Meta::parse(bytes)?.is_expired(&spec, now)
            } else {
                true
            };
            count += u64::from(counted);
            Ok(())
        })?;
        Ok(count)
    }

    /// Live documents of one partition or the whole container that pass `keep`.
    fn scan(
        &self,
        spec: &ContainerSpec,
        pk: Option<&PartitionKey>,
        keep: impl Fn(&Value) -> bool,
    ) -> StoreResult<Vec<Value>> {
        let now = now_millis();
        let mut out = Vec::new();
        self.each_stored(spec, pk, |bytes| {
            let doc = parse_doc(bytes)?;
            if !is_expired(spec, &doc, now) && keep(&doc) {
                out.push(doc);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `visit` with the stored text of every item of one partition or the whole
    /// container, expired ones included, in key order.
    fn each_stored(
        &self,
        spec: &ContainerSpec,
        pk: Option<&PartitionKey>,
        visit: impl FnMut(&[u8]) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let txn = self.db.begin_read().map_err(engine)?;
        let pk_key = pk.map(PartitionKey::canonical);
        each_stored_in(&txn, &spec.name, pk_key.as_deref(), visit)
    }

    fn change_feed(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
    ) -> StoreResult<ChangeFeedPage> {
        let mut items = Vec::new();
        let continuation = self.walk_feed(container, request, |bytes| {
            items.push(parse_doc(bytes)?);
            Ok(())
        })?;
        Ok(ChangeFeedPage {
            items,
            continuation,
        })
    }

    fn change_feed_raw(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
    ) -> StoreResult<RawChangeFeedPage> {
        let mut items = RawDocs::default();
        let continuation = self.walk_feed(container, request, |bytes| {
            items.push(bytes);
            Ok(())
        })?;
        Ok(RawChangeFeedPage {
            items,
            continuation,
        })
    }

    /// Reads one page of the change feed, handing the stored text of each live item to
    /// `take`; returns the continuation after the page.
    fn walk_feed(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
        mut take: impl FnMut(&[u8]) -> StoreResult<()>,
    ) -> StoreResult<String> {
        let spec = self.spec(container)?;
        if request.max_items == 0 {
            return Err(StoreError::BadRequest(
                "max_items must be at least 1".into(),
            ));
        }
        let txn = self.db.begin_read().map_err(engine)?;
        let last = txn
            .open_table(LSN)
            .map_err(engine)?
            .get(container)
            .map_err(engine)?
            .map_or(0, |v| v.value());
        let (after, since_ms) = match &request.start {
            ChangeFeedStart::Beginning => (0, None),
            ChangeFeedStart::Now => (last, None),
            ChangeFeedStart::Time(t) => (0, Some(t.timestamp_millis())),
            ChangeFeedStart::Continuation(token) => (parse_continuation(token)?, None),
        };
        let pk_key = request.partition_key.as_ref().map(PartitionKey::canonical);
        let feed = txn.open_table(FEED).map_err(engine)?;
        let items = txn.open_table(ITEMS).map_err(engine)?;
        // Expired items not purged yet, by the LSN of their stored version (the index has
        // every item that expires, so nothing else needs decoding to be checked).
        let mut expired = std::collections::HashSet::new();
        if spec.default_ttl.is_some() {
            let now = now_millis();
            let index = txn.open_table(EXPIRY).map_err(engine)?;
            for entry in index
                .range((container, i64::MIN, 0)..=(container, now, u64::MAX))
                .map_err(engine)?
            {
                expired.insert(entry.map_err(engine)?.0.value().2);
            }
        }
        let mut taken = 0usize;
        let mut position = last.max(after);
        for entry in feed.range((container, after + 1)..).map_err(engine)? {
            let (key, value) = entry.map_err(engine)?;
            let (c, lsn) = key.value();
            if c != container {
                break;
            }
            if taken >= request.max_items as usize {
                position = lsn - 1;
                break;
            }
            let e: FeedRef<'_> = serde_json::from_slice(value.value()).map_err(engine)?;
            if pk_key.as_deref().is_some_and(|k| k != e.pk)
                || since_ms.is_some_and(|s| e.ms < s)
                || expired.contains(&lsn)
            {
                continue;
            }
            let Some(bytes) = items
                .get((container, e.pk.as_ref(), e.id.as_ref()))
                .map_err(engine)?
            else {
                continue;
            };
            take(bytes.value())?;
            taken += 1;
        }
        Ok(format!("lsn:{position}"))
    }

    /// Removes the items whose expiry has passed, found through the `expiry` index; a purge
    /// with nothing due only reads.
    fn purge(&self) -> StoreResult<Purged> {
        let specs: Vec<ContainerSpec> = self
            .specs
            .read()
            .map_err(engine)?
            .values()
            .filter(|s| s.default_ttl.is_some())
            .cloned()
            .collect();
        let now = now_millis();
        let due = {
            let txn = self.db.begin_read().map_err(engine)?;
            let expiry = txn.open_table(EXPIRY).map_err(engine)?;
            let mut due = Vec::new();
            for spec in &specs {
                let name = spec.name.as_str();
                for entry in expiry
                    .range((name, i64::MIN, 0)..=(name, now, u64::MAX))
                    .map_err(engine)?
                {
                    let (key, _) = entry.map_err(engine)?;
                    let (_, at, lsn) = key.value();
                    due.push((spec, at, lsn));
                }
            }
            due
        };
        let mut removed = 0;
        if !due.is_empty() {
            let txn = self.db.begin_write().map_err(engine)?;
            {
                let mut t = Tables::open(&txn)?;
                for (spec, at, lsn) in due {
                    let name = spec.name.as_str();
                    t.expiry.remove((name, at, lsn)).map_err(engine)?;
                    let entry: Option<FeedEntry> = match t.feed.get((name, lsn)).map_err(engine)? {
                        Some(bytes) => Some(serde_json::from_slice(bytes.value()).map_err(engine)?),
                        None => None,
                    };
                    let Some(entry) = entry else { continue };
                    // The index entry names this version (its LSN): it is the stored one.
                    t.items
                        .remove((name, entry.pk.as_str(), entry.id.as_str()))
                        .map_err(engine)?;
                    t.feed.remove((name, lsn)).map_err(engine)?;
                    removed += 1;
                }
            }
            txn.commit().map_err(engine)?;
        }
        let txn = self.db.begin_read().map_err(engine)?;
        let expiry = txn.open_table(EXPIRY).map_err(engine)?;
        let mut next_expiry: Option<i64> = None;
        for spec in &specs {
            let name = spec.name.as_str();
            if let Some(entry) = expiry
                .range((name, i64::MIN, 0)..=(name, i64::MAX, u64::MAX))
                .map_err(engine)?
                .next()
            {
                let (_, at, _) = entry.map_err(engine)?.0.value();
                next_expiry = Some(next_expiry.map_or(at, |n| n.min(at)));
            }
        }
        Ok(Purged {
            removed,
            next_expiry,
        })
    }
}

/// Fills the `expiry` index from the items of every container with a TTL (a database written
/// before the index existed).
fn index_expiries<'a>(
    t: &mut Tables<'_>,
    specs: impl Iterator<Item = &'a ContainerSpec>,
) -> StoreResult<()> {
    for spec in specs.filter(|s| s.default_ttl.is_some()) {
        let name = spec.name.as_str();
        let mut found = Vec::new();
        for entry in t.items.range((name, "", "")..).map_err(engine)? {
            let (key, bytes) = entry.map_err(engine)?;
            if key.value().0 != name {
                break;
            }
            let meta = Meta::parse(bytes.value())?;
            if let Some(at) = meta.expiry(spec) {
                found.push((at, meta.lsn()));
            }
        }
        for (at, lsn) in found {
            t.expiry.insert((name, at, lsn), ()).map_err(engine)?;
        }
    }
    Ok(())
}

/// Runs a transactional batch inside `txn`. On a failed operation the response carries its
/// status and 424 for the others, and `true` says earlier operations already wrote into `txn`
/// (which must then be abandoned). Engine errors are returned as errors.
fn run_batch(
    t: &mut Tables<'_>,
    spec: &ContainerSpec,
    pk: &PartitionKey,
    ops: &[BatchOp],
    now: i64,
) -> StoreResult<(BatchResponse, bool)> {
    let mut results = Vec::with_capacity(ops.len());
    let mut wrote = false;
    for (index, op) in ops.iter().enumerate() {
        let status = success_status(op);
        match apply(t, spec, pk, op.clone(), now) {
            Ok(item) => results.push(BatchOpResult { status, item }),
            Err(StoreError::Other(e)) => return Err(StoreError::Other(e)),
            Err(e) => {
                let mut failed: Vec<BatchOpResult> = (0..ops.len())
                    .map(|_| BatchOpResult {
                        status: 424,
                        item: None,
                    })
                    .collect();
                failed[index].status = e.status();
                return Ok((BatchResponse { results: failed }, wrote));
            }
        }
        wrote |= !matches!(op, BatchOp::Read { .. });
    }
    Ok((BatchResponse { results }, wrote))
}

/// Runs batches on several partitions inside `txn`, all or nothing: on a failed operation its
/// batch's response names it, every other batch answers 424, and `true` says earlier
/// operations already wrote into `txn`.
fn run_partitions(
    t: &mut Tables<'_>,
    spec: &ContainerSpec,
    batches: &[(PartitionKey, Vec<BatchOp>)],
    now: i64,
) -> StoreResult<(Vec<BatchResponse>, bool)> {
    let mut responses = Vec::with_capacity(batches.len());
    let mut wrote = false;
    for (index, (pk, ops)) in batches.iter().enumerate() {
        let (response, this_wrote) = run_batch(t, spec, pk, ops, now)?;
        if !response.is_success() {
            let responses = batches
                .iter()
                .enumerate()
                .map(|(other, (_, ops))| {
                    if other == index {
                        response.clone()
                    } else {
                        BatchResponse::failed_dependency(ops.len())
                    }
                })
                .collect();
            return Ok((responses, wrote || this_wrote));
        }
        wrote |= this_wrote;
        responses.push(response);
    }
    Ok((responses, wrote))
}

fn success_status(op: &BatchOp) -> u16 {
    match op {
        BatchOp::Create(_) => 201,
        BatchOp::Upsert(_) | BatchOp::Replace { .. } | BatchOp::Read { .. } => 200,
        BatchOp::Delete { .. } => 204,
    }
}

/// Applies one operation in the transaction of `t`. Reads return the item; deletes return
/// `None`. Every check runs before the first write, so only an engine error can leave a
/// failed operation half applied.
fn apply(
    t: &mut Tables<'_>,
    spec: &ContainerSpec,
    pk: &PartitionKey,
    op: BatchOp,
    now: i64,
) -> StoreResult<Option<Value>> {
    let name = spec.name.as_str();
    let pk_key = pk.canonical();
    let missing = |id: &str| StoreError::NotFound(format!("item `{id}` does not exist"));
    let (mode, mut doc, if_match) = match op {
        BatchOp::Read { id } => {
            validate_id(&id)?;
            let doc = match t
                .items
                .get((name, pk_key.as_str(), id.as_str()))
                .map_err(engine)?
            {
                Some(bytes) => Some(parse_doc(bytes.value())?),
                None => None,
            };
            return doc
                .filter(|doc| !is_expired(spec, doc, now))
                .map(Some)
                .ok_or_else(|| missing(&id));
        }
        BatchOp::Delete { id, if_match } => {
            validate_id(&id)?;
            let existing = t
                .meta(name, &pk_key, &id)?
                .filter(|meta| !meta.is_expired(spec, now))
                .ok_or_else(|| missing(&id))?;
            if !existing.etag_matches(if_match.as_ref()) {
                return Err(StoreError::PreconditionFailed(format!(
                    "item `{id}` has changed"
                )));
            }
            t.items
                .remove((name, pk_key.as_str(), id.as_str()))
                .map_err(engine)?;
            t.forget(spec, &existing)?;
            return Ok(None);
        }
        BatchOp::Create(doc) => (Mode::Create, doc, None),
        BatchOp::Upsert(doc) => (Mode::Upsert, doc, None),
        BatchOp::Replace { doc, if_match } => (Mode::Replace, doc, if_match),
    };
    let id = id_of(&doc)?.to_owned();
    check_partition_key(spec, pk, &doc)?;
    check_item_ttl(&doc)?;
    // A stale version of the same id (e.g. expired but not purged) has entries to replace too.
    let previous = t.meta(name, &pk_key, &id)?;
    let existing = previous.as_ref().filter(|meta| !meta.is_expired(spec, now));
    match (existing, mode) {
        (Some(_), Mode::Create) => {
            return Err(StoreError::Conflict(format!("item `{id}` already exists")));
        }
        (None, Mode::Replace) => return Err(missing(&id)),
        (Some(e), Mode::Replace) if !e.etag_matches(if_match.as_ref()) => {
            return Err(StoreError::PreconditionFailed(format!(
                "item `{id}` has changed"
            )));
        }
        _ => {}
    }
    let lsn = t.lsns.get(name).map_err(engine)?.map_or(0, |v| v.value()) + 1;
    let ts = now.div_euclid(1000);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("_ts".into(), Value::from(ts));
        obj.insert(
            "_etag".into(),
            Value::from(format!("\"{}\"", uuid::Uuid::new_v4())),
        );
        obj.insert("_lsn".into(), Value::from(lsn));
    }
    let bytes = check_size(&doc)?;
    t.lsns.insert(name, lsn).map_err(engine)?;
    t.items
        .insert((name, pk_key.as_str(), id.as_str()), bytes.as_slice())
        .map_err(engine)?;
    if let Some(old) = &previous {
        t.forget(spec, old)?;
    }
    if let Some(at) = expiry(spec, ts, doc.get("ttl").and_then(Value::as_i64)) {
        t.expiry.insert((name, at, lsn), ()).map_err(engine)?;
        t.expiring = true;
    }
    let entry = serde_json::to_vec(&FeedEntry {
        pk: pk_key,
        id,
        ms: now,
    })
    .map_err(engine)?;
    t.feed
        .insert((name, lsn), entry.as_slice())
        .map_err(engine)?;
    Ok(Some(doc))
}

#[async_trait]
impl DocumentStore for EmbeddedStore {
    fn commit_notifications(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.subscribe())
    }

    fn container_notifications(
        &self,
        container: &str,
    ) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.subscribe_container(container))
    }

    fn commit_unnotified(&self) -> bool {
        let inner = &self.inner;
        inner.groups_begun.load(Ordering::SeqCst) != inner.groups_settled.load(Ordering::SeqCst)
    }

    async fn ensure_container(&self, spec: &ContainerSpec) -> StoreResult<()> {
        let spec = spec.clone();
        self.run(move |inner| inner.ensure_container(&spec)).await
    }

    async fn create(&self, container: &str, pk: &PartitionKey, doc: Value) -> StoreResult<Value> {
        self.write(container, pk, BatchOp::Create(doc)).await
    }

    async fn upsert(&self, container: &str, pk: &PartitionKey, doc: Value) -> StoreResult<Value> {
        self.write(container, pk, BatchOp::Upsert(doc)).await
    }

    async fn replace(
        &self,
        container: &str,
        pk: &PartitionKey,
        doc: Value,
        if_match: Option<&ETag>,
    ) -> StoreResult<Value> {
        self.write(
            container,
            pk,
            BatchOp::Replace {
                doc,
                if_match: if_match.cloned(),
            },
        )
        .await
    }

    async fn delete(
        &self,
        container: &str,
        pk: &PartitionKey,
        id: &str,
        if_match: Option<&ETag>,
    ) -> StoreResult<()> {
        let op = BatchOp::Delete {
            id: id.to_owned(),
            if_match: if_match.cloned(),
        };
        self.submit(container, Work::One(pk.clone(), op))
            .await
            .map(|_| ())
    }

    async fn read(
        &self,
        container: &str,
        pk: &PartitionKey,
        id: &str,
    ) -> StoreResult<Option<Value>> {
        let (c, pk, id) = (container.to_owned(), pk.clone(), id.to_owned());
        self.run(move |inner| inner.read(&c, &pk, &id)).await
    }

    async fn query(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<Vec<Value>> {
        let (c, pk, q) = (container.to_owned(), pk.cloned(), query.clone());
        self.run(move |inner| inner.query(&c, pk.as_ref(), &q))
            .await
    }

    async fn count(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<u64> {
        let (c, pk, q) = (container.to_owned(), pk.cloned(), query.clone());
        self.run(move |inner| inner.count(&c, pk.as_ref(), &q))
            .await
    }

    async fn batch(
        &self,
        container: &str,
        pk: &PartitionKey,
        ops: Vec<BatchOp>,
    ) -> StoreResult<BatchResponse> {
        if ops.is_empty() || ops.len() > MAX_BATCH_OPS {
            return Err(StoreError::BadRequest(format!(
                "a batch needs 1 to {MAX_BATCH_OPS} operations, got {}",
                ops.len()
            )));
        }
        match self.submit(container, Work::Batch(pk.clone(), ops)).await? {
            Done::Batch(response) => Ok(response),
            _ => Err(engine("a batch was answered as another kind of write")),
        }
    }

    async fn read_many(
        &self,
        container: &str,
        keys: &[(PartitionKey, String)],
    ) -> StoreResult<Vec<Option<Value>>> {
        let (c, keys) = (container.to_owned(), keys.to_vec());
        self.run(move |inner| inner.read_many(&c, &keys)).await
    }

    async fn batch_partitions(
        &self,
        container: &str,
        batches: Vec<(PartitionKey, Vec<BatchOp>)>,
    ) -> StoreResult<Vec<BatchResponse>> {
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(ops) = batches
            .iter()
            .map(|(_, ops)| ops)
            .find(|ops| ops.is_empty() || ops.len() > MAX_BATCH_OPS)
        {
            return Err(StoreError::BadRequest(format!(
                "a batch needs 1 to {MAX_BATCH_OPS} operations, got {}",
                ops.len()
            )));
        }
        match self.submit(container, Work::Partitions(batches)).await? {
            Done::Partitions(responses) => Ok(responses),
            _ => Err(engine("batches were answered as another kind of write")),
        }
    }

    async fn read_change_feed(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
    ) -> StoreResult<ChangeFeedPage> {
        let (c, r) = (container.to_owned(), request.clone());
        self.run(move |inner| inner.change_feed(&c, &r)).await
    }

    async fn change_feed_backlog(
        &self,
        container: &str,
        start: &ChangeFeedStart,
        partition: Option<&PartitionKey>,
    ) -> StoreResult<Option<ChangeFeedBacklog>> {
        let (c, start, pk) = (container.to_owned(), start.clone(), partition.cloned());
        self.run(move |inner| inner.feed_backlog(&c, &start, pk.as_ref()))
            .await
            .map(Some)
    }

    async fn read_change_feed_raw(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
    ) -> StoreResult<RawChangeFeedPage> {
        let (c, r) = (container.to_owned(), request.clone());
        self.run(move |inner| inner.change_feed_raw(&c, &r)).await
    }
}

impl EmbeddedStore {
    async fn write(&self, container: &str, pk: &PartitionKey, op: BatchOp) -> StoreResult<Value> {
        match self.submit(container, Work::One(pk.clone(), op)).await? {
            Done::One(Some(doc)) => Ok(doc),
            _ => Err(engine("write returned no document")),
        }
    }
}

impl Inner {
    /// [`DocumentStore::change_feed_backlog`]: the `feed` entries after the start's LSN are the
    /// pending changes (one per item), counted by key; only the entries needed for the oldest
    /// write time, a partition filter or a start time are decoded, never the documents.
    fn feed_backlog(
        &self,
        container: &str,
        start: &ChangeFeedStart,
        partition: Option<&PartitionKey>,
    ) -> StoreResult<ChangeFeedBacklog> {
        self.spec(container)?;
        let txn = self.db.begin_read().map_err(engine)?;
        let (after, since_ms) = match start {
            ChangeFeedStart::Beginning => (0, None),
            ChangeFeedStart::Now => {
                let backlog = ChangeFeedBacklog {
                    pending: 0,
                    oldest: None,
                };
                return Ok(backlog);
            }
            ChangeFeedStart::Time(t) => (0, Some(t.timestamp_millis())),
            ChangeFeedStart::Continuation(token) => (parse_continuation(token)?, None),
        };
        let pk_key = partition.map(PartitionKey::canonical);
        // A whole partition from the beginning is its items (each has one feed entry), counted
        // by key; the feed is then read only up to the partition's oldest change.
        let whole_partition = match (&pk_key, after, since_ms) {
            // The items of one partition (expired ones not yet purged included), by key.
            (Some(pk), 0, None) => {
                let mut count = 0;
                each_stored_in(&txn, container, Some(pk), |_| {
                    count += 1;
                    Ok(())
                })?;
                Some(count)
            }
            _ => None,
        };
        if whole_partition == Some(0) {
            // Nothing to date: the feed's other partitions are not read at all.
            return Ok(ChangeFeedBacklog {
                pending: 0,
                oldest: None,
            });
        }
        let filtered = pk_key.is_some() || since_ms.is_some();
        let feed = txn.open_table(FEED).map_err(engine)?;
        let (mut pending, mut oldest_ms) = (0u64, None);
        for entry in feed.range((container, after + 1)..).map_err(engine)? {
            let (key, value) = entry.map_err(engine)?;
            if key.value().0 != container || (whole_partition.is_some() && oldest_ms.is_some()) {
                break;
            }
            if !filtered && oldest_ms.is_some() {
                pending += 1;
                continue;
            }
            let e: FeedEntry = serde_json::from_slice(value.value()).map_err(engine)?;
            if pk_key.as_deref().is_some_and(|k| k != e.pk) || since_ms.is_some_and(|s| e.ms < s) {
                continue;
            }
            pending += 1;
            oldest_ms.get_or_insert(e.ms);
        }
        Ok(ChangeFeedBacklog {
            pending: whole_partition.unwrap_or(pending),
            oldest: oldest_ms.and_then(chrono::DateTime::from_timestamp_millis),
        })
    }
}

/// Calls `visit` with the stored text of every item of `container` (of its partition `pk`,
/// canonical form, when given) as `txn` sees them, expired ones included, in key order.
fn each_stored_in(
    txn: &redb::ReadTransaction,
    container: &str,
    pk: Option<&str>,
    mut visit: impl FnMut(&[u8]) -> StoreResult<()>,
) -> StoreResult<()> {
    let items = txn.open_table(ITEMS).map_err(engine)?;
    for entry in items
        .range((container, pk.unwrap_or(""), "")..)
        .map_err(engine)?
    {
        let (key, bytes) = entry.map_err(engine)?;
        let (c, p, _) = key.value();
        if c != container || pk.is_some_and(|k| k != p) {
            break;
        }
        visit(bytes.value())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sessions(inner: &Inner) -> ContainerSpec {
        let spec = ContainerSpec::parse("sessions", "/userId")
            .and_then(|s| s.with_default_ttl(-1))
            .unwrap();
        inner.ensure_container(&spec).unwrap();
        spec
    }

    /// One write through the commit queue, led on this thread.
    fn write(inner: &Inner, op: BatchOp) {
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        let job = Job {
            container: "sessions".into(),
            work: Work::One(PartitionKey::from("u1"), op),
            reply,
        };
        assert!(inner.queue.push(job));
        inner.lead();
        assert!(answer.try_recv().unwrap().is_ok());
    }

    fn expiries(inner: &Inner) -> Vec<(String, i64, u64)> {
        let txn = inner.db.begin_read().unwrap();
        let index = txn.open_table(EXPIRY).unwrap();
        index
            .iter()
            .unwrap()
            .map(|entry| {
                let (key, _) = entry.unwrap();
                let (container, at, lsn) = key.value();
                (container.to_owned(), at, lsn)
            })
            .collect()
    }

    #[test]
    fn the_expiry_index_follows_rewrites_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Inner::open(dir.path().to_owned(), DEFAULT_CACHE_BYTES).unwrap();
        sessions(&inner);
        write(
            &inner,
            BatchOp::Create(json!({"id": "a", "userId": "u1", "ttl": 60})),
        );
        let first = expiries(&inner);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].2, 1, "the entry names the stored version's LSN");
        write(&inner, BatchOp::Upsert(json!({"id": "a", "userId": "u1"})));
        assert!(
            expiries(&inner).is_empty(),
            "a rewrite without a ttl never expires"
        );
        write(
            &inner,
            BatchOp::Upsert(json!({"id": "a", "userId": "u1", "ttl": 120})),
        );
        assert_eq!(expiries(&inner).len(), 1);
        write(
            &inner,
            BatchOp::Delete {
                id: "a".into(),
                if_match: None,
            },
        );
        assert!(expiries(&inner).is_empty(), "a delete drops its entry");
        let purged = inner.purge().unwrap();
        assert_eq!((purged.removed, purged.next_expiry), (0, None));
    }

    #[test]
    fn a_database_written_without_the_index_is_indexed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let expected = {
            let inner = Inner::open(dir.path().to_owned(), DEFAULT_CACHE_BYTES).unwrap();
            sessions(&inner);
            write(
                &inner,
                BatchOp::Create(json!({"id": "a", "userId": "u1", "ttl": 60})),
            );
            write(&inner, BatchOp::Create(json!({"id": "b", "userId": "u1"})));
            expiries(&inner)
        };
        assert_eq!(expected.len(), 1);
        {
            let db = Database::create(dir.path().join(DB_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            assert!(txn.delete_table(EXPIRY).unwrap());
            txn.commit().unwrap();
        }
        let inner = Inner::open(dir.path().to_owned(), DEFAULT_CACHE_BYTES).unwrap();
        assert_eq!(expiries(&inner), expected);
        let purged = inner.purge().unwrap();
        assert_eq!(
            (purged.removed, purged.next_expiry),
            (0, Some(expected[0].1))
        );
    }
}
