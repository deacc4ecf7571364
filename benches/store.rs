//! Store benchmark (`cargo bench --bench store`): point read, upsert, single-partition query and
//! change-feed read, as throughput and latency percentiles, for the embedded backend, the
//! Cosmos DB backend over the SDK's in-memory emulator, and, when it is installed
//! (`tests/cosmos-server/node_modules`, see `tests/store_smoke_cosmos_shim.rs`), the Cosmos
//! backend over HTTPS against the local Cosmos API server (`tests/cosmos-server/adapter.js`).
//! Sequential operations from one task: latency, not saturation.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::credentials::Secret;
use azure_data_cosmos::{AccountReference, CosmosClient, CosmosRuntimeBuilder, RoutingStrategy};
use azure_data_cosmos_driver::in_memory_emulator::{
    InMemoryEmulatorHttpClient, VirtualAccountConfig, VirtualRegion,
};
use cosmospark::store::config::{CosmosAuth, CosmosConfig, cosmos_client};
use cosmospark::store::cosmos::CosmosStore;
use cosmospark::store::embedded::EmbeddedStore;
use cosmospark::store::{
    ChangeFeedRequest, ChangeFeedStart, CmpOp, ContainerSpec, PartitionKey, Query, SortOrder, Store,
};
use serde_json::json;

const EMULATOR_KEY: &str =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
fn reads() -> usize {
    support::size(2000, 20)
}
fn upserts() -> usize {
    support::size(500, 5)
}
fn queries() -> usize {
    support::size(300, 3)
}
fn feed_items() -> usize {
    support::size(2000, 200)
}

struct Stats {
    name: &'static str,
    ops: usize,
    total: Duration,
    samples: Vec<Duration>,
}

impl Stats {
    fn row(&mut self, backend: &str) -> String {
        self.samples.sort();
        let pct = |p: f64| {
            let i = ((self.samples.len() as f64 * p).ceil() as usize).saturating_sub(1);
            self.samples[i.min(self.samples.len() - 1)].as_secs_f64() * 1000.0
        };
        format!(
            "| {backend} | {} | {:.0} | {:.3} | {:.3} |",
            self.name,
            self.ops as f64 / self.total.as_secs_f64(),
            pct(0.5),
            pct(0.99)
        )
    }
}

async fn time<F, Fut>(name: &'static str, n: usize, mut f: F) -> Stats
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut samples = Vec::with_capacity(n);
    let mut ops = 0;
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        ops += f(i).await;
        samples.push(t.elapsed());
    }
    Stats {
        name,
        ops,
        total: start.elapsed(),
        samples,
    }
}

async fn bench(backend: &str, store: Store) -> Vec<String> {
    let spec = ContainerSpec::parse("bench", "/userId").expect("spec");
    store.ensure_container(&spec).await.expect("container");
    let hot = PartitionKey::from("hot");
    for i in 0..100 {
        let doc = json!({"id": format!("q{i}"), "userId": "hot", "score": i, "name": format!("user {i}")});
        store.upsert("bench", &hot, doc).await.expect("seed");
    }
    let mut rows = Vec::new();
    let s = &store;
    let hot_ref = &hot;
    let mut read = time("point read", reads(), |i| async move {
        let id = format!("q{}", i % 100);
        s.read("bench", hot_ref, &id)
            .await
            .expect("read")
            .expect("present");
        1
    })
    .await;
    rows.push(read.row(backend));
    let mut upsert = time("upsert", upserts(), |i| async move {
        let doc =
            json!({"id": format!("q{}", i % 100), "userId": "hot", "score": i % 100, "name": "x"});
        s.upsert("bench", hot_ref, doc).await.expect("upsert");
        1
    })
    .await;
    rows.push(upsert.row(backend));
    let query = Query::new()
        .filter("/score", CmpOp::Ge, 50)
        .order_by("/score", SortOrder::Desc)
        .top(10);
    let q = &query;
    let mut queried = time(
        "query (1 partition, 100 items, filter+order+top 10)",
        queries(),
        |_| async move {
            let found = s.query("bench", Some(hot_ref), q).await.expect("query");
            assert_eq!(found.len(), 10);
            1
        },
    )
    .await;
    rows.push(queried.row(backend));

    let feed_spec = ContainerSpec::parse("benchfeed", "/userId").expect("spec");
    store.ensure_container(&feed_spec).await.expect("container");
    for i in 0..feed_items() {
        let user = format!("u{}", i % 20);
        let doc = json!({"id": format!("f{i}"), "userId": user, "n": i});
        store
            .upsert("benchfeed", &PartitionKey::from(user), doc)
            .await
            .expect("seed feed");
    }
    // Read the whole feed in 100-item pages; latency is per page, throughput in items/s.
    let mut samples = Vec::new();
    let mut items = 0;
    let mut start = ChangeFeedStart::Beginning;
    let began = Instant::now();
    loop {
        let t = Instant::now();
        let page = store
            .read_change_feed("benchfeed", &ChangeFeedRequest::new(start).max_items(100))
            .await
            .expect("feed");
        if page.items.is_empty() {
            break;
        }
        samples.push(t.elapsed());
        items += page.items.len();
        start = ChangeFeedStart::Continuation(page.continuation);
    }
    assert!(
        items >= feed_items(),
        "change feed returned {items} of {}",
        feed_items()
    );
    let mut feed = Stats {
        name: "change feed (items/s; latency per 100-item page)",
        ops: items,
        total: began.elapsed(),
        samples,
    };
    rows.push(feed.row(backend));
    rows
}

struct Shim(Child);
impl Drop for Shim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_shim() -> Option<(Shim, u16)> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = repo.join("tests/cosmos-server");
    if !dir.join("node_modules/@vercel/cosmosdb-server").exists() {
        eprintln!(
            "cosmos-server not installed (run the smoke test once); skipping the shim column"
        );
        return None;
    }
    // Port 0: the adapter binds an ephemeral port and prints it (`ready https://127.0.0.1:<port>/`).
    let mut child = Command::new("node")
        .args(["adapter.js", "0"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let port = line
        .trim()
        .strip_prefix("ready https://127.0.0.1:")?
        .trim_end_matches('/')
        .parse()
        .ok()?;
    Some((Shim(child), port))
}

async fn emulator_store() -> Store {
    let endpoint = "https://eastus.emulator.local";
    let config = VirtualAccountConfig::new(vec![VirtualRegion::new(
        "East US",
        endpoint.parse().expect("url"),
    )])
    .expect("config");
    let emulator = Arc::new(InMemoryEmulatorHttpClient::new(config));
    let runtime = CosmosRuntimeBuilder::from(emulator.runtime_builder())
        .build()
        .await
        .expect("runtime");
    let client = CosmosClient::builder()
        .with_runtime(runtime)
        .build(
            AccountReference::with_authentication_key(
                endpoint.parse().expect("url"),
                Secret::from("dGVzdGtleQ=="),
            ),
            RoutingStrategy::PreferredRegions(vec![]),
        )
        .await
        .expect("client");
    Arc::new(
        CosmosStore::new(client, "CosmicDB", true)
            .await
            .expect("store"),
    )
}

pub fn main() {
    // The SDK reads its emulator settings from the environment; set them before any thread starts.
    // SAFETY: single-threaded at this point (no runtime yet).
    unsafe {
        std::env::set_var(
            "AZURE_COSMOS_EMULATOR_SERVER_CERT_VALIDATION_DISABLED",
            "true",
        );
        std::env::set_var("AZURE_COSMOS_CONNECTION_POOL_IS_HTTP2_ALLOWED", "false");
        std::env::set_var("AZURE_COSMOS_BINARY_ENCODING_ENABLED", "false");
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let mut rows = Vec::new();
        let dir = tempfile::tempdir().expect("temp dir");
        let embedded: Store = Arc::new(EmbeddedStore::open(dir.path()).await.expect("embedded"));
        rows.extend(bench("embedded (redb, fsync per write)", embedded).await);
        rows.extend(
            bench(
                "Cosmos backend, SDK in-memory emulator",
                emulator_store().await,
            )
            .await,
        );
        let shim = if support::smoke() { None } else { start_shim() };
        if let Some((_shim, port)) = shim {
            let config = CosmosConfig {
                endpoint: format!("https://127.0.0.1:{port}/").parse().expect("url"),
                auth: CosmosAuth::Key(Secret::new(EMULATOR_KEY)),
                database: "CosmicDB".into(),
                create_if_not_exists: true,
            };
            let client = cosmos_client(&config).await.expect("client");
            let store: Store = Arc::new(
                CosmosStore::new(client, "CosmicDB", true)
                    .await
                    .expect("store"),
            );
            rows.extend(bench("Cosmos backend, cosmosdb-server via shim (HTTPS)", store).await);
        }
        let mut markdown = format!(
            "Machine: {}.\n\n| backend | operation | ops/s | p50 ms | p99 ms |\n|---|---|---|---|---|\n",
            support::machine()
        );
        for row in rows {
            markdown.push_str(&row);
            markdown.push('\n');
        }
        support::publish("store", &markdown);
    });
}
