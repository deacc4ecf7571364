//! Local platform benchmark (`cargo bench --bench devhost_pipeline`, release):
//!
//! 1. write → websocket latency through the whole pipeline: upsert a `CosmicUsers` document →
//!    change feed → `CosmicUsersTrigger` → Event Grid → `UserCreated` → Web PubSub → a
//!    websocket client on a real loopback socket; p50 / p99 / max over sequential writes.
//! 2. events/s through change feed → Event Hubs → processor: a relay function (change feed of
//!    `Commands` → `eventHub` output) and a counting `eventHubTrigger` registered in this bench,
//!    with the app's own functions alongside; time from the first write until the processor
//!    has seen every event.
//!
//! Everything runs in this process on the embedded store in a temp directory.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cosmospark::devhost::event_grid::Redelivery;
use cosmospark::devhost::server::{DevOptions, Platform};
use cosmospark::devhost::webpubsub::{AccessKey, ClientGrant, client_access};
use cosmospark::runtime::outputs::{EventHubEvents, Outputs};
use cosmospark::runtime::triggers::{CosmosDocuments, EventHubBatch};
use cosmospark::runtime::{Context, Function, FunctionError};
use cosmospark::store::PartitionKey;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const LATENCY_WRITES: usize = 400;
const THROUGHPUT_EVENTS: usize = 3_000;

static PROCESSED: AtomicUsize = AtomicUsize::new(0);

async fn relay(batch: CosmosDocuments<Value>, _context: Context) -> Result<Outputs, FunctionError> {
    let events = batch
        .documents
        .into_iter()
        .map(|doc| json!({"id": doc["id"], "kind": "CommandStored"}))
        .collect();
    Ok(Outputs::new().set("events", EventHubEvents(events)))
}

async fn count(batch: EventHubBatch, _context: Context) -> Result<Outputs, FunctionError> {
    PROCESSED.fetch_add(batch.events.len(), Ordering::Relaxed);
    Ok(Outputs::new())
}

fn copy_root(target: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(repo.join("host.json"), target.join("host.json")).unwrap();
    for entry in std::fs::read_dir(repo.join("functions")).unwrap() {
        let entry = entry.unwrap();
        let folder = target.join("functions").join(entry.file_name());
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(
            entry.path().join("function.json"),
            folder.join("function.json"),
        )
        .unwrap();
    }
    std::fs::create_dir_all(target.join("infra")).unwrap();
    for file in ["cosmos-containers.json", "eventgrid-subscriptions.json"] {
        std::fs::copy(
            repo.join("infra").join(file),
            target.join("infra").join(file),
        )
        .unwrap();
    }
    let write = |name: &str, value: Value| {
        let folder = target.join("functions").join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("function.json"), value.to_string()).unwrap();
    };
    write(
        "BenchRelay",
        json!({"bindings": [
            {"type": "cosmosDBTrigger", "direction": "in", "name": "documents", "connection": "CosmosDBConnection",
             "databaseName": "CosmicDB", "containerName": "Commands", "leaseContainerName": "leases",
             "leaseContainerPrefix": "bench-", "maxItemsPerInvocation": 100},
            {"type": "eventHub", "direction": "out", "name": "events", "eventHubName": "bench-events",
             "connection": "EventHubConnection"}]}),
    );
    write(
        "BenchProcessor",
        json!({"bindings": [
            {"type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "bench-events",
             "consumerGroup": "$Default", "cardinality": "many", "dataType": "string",
             "connection": "EventHubConnection"}]}),
    );
}

/// `count` upserts into `container` by 4 concurrent writers; returns the elapsed time.
async fn write_many(platform: &Platform, container: &str, prefix: &str, count: usize) -> Duration {
    let started = Instant::now();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::clone(&platform.store);
            let (container, prefix) = (container.to_owned(), prefix.to_owned());
            tokio::spawn(async move {
                for n in (w..count).step_by(4) {
                    let id = format!("{prefix}-{n}");
                    let doc = json!({"id": id, "partitionKey": id, "Data": n});
                    store
                        .upsert(&container, &PartitionKey::from(id.as_str()), doc)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    copy_root(root.path());
    let app = cosmospark::app::function_app(cosmospark::app::AppServices::declarations_only())
        .unwrap()
        .register(
            Function::trigger("BenchRelay", "documents", relay).output::<EventHubEvents>("events"),
        )
        .unwrap()
        .register(Function::trigger("BenchProcessor", "events", count))
        .unwrap();
    let options = DevOptions {
        root: root.path().to_owned(),
        data_dir: data.path().to_owned(),
        host: [127, 0, 0, 1].into(),
        port: 0,
        reset: false,
        redelivery: Redelivery::default(),
        hub_partitions: 4,
        hub_retention: cosmospark::devhost::hub_retention::DEFAULT_RETENTION,
        shutdown_grace: cosmospark::devhost::server::DEFAULT_SHUTDOWN_GRACE,
    };
    let platform = Platform::open(&options, app).await.unwrap();
    let router = platform.router().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    // Baseline measured in the same run: durable upserts alone, before any trigger runs.
    let baseline = write_many(&platform, "ReadModels", "baseline", 1_000).await;
    println!(
        "baseline: 1000 durable upserts by 4 writers, no triggers running: {:.0} writes/s",
        1_000.0 / baseline.as_secs_f64()
    );
    let (tracker, cancel) = (TaskTracker::new(), CancellationToken::new());
    platform.start_triggers(&tracker, &cancel).await.unwrap();

    // 1. write → websocket latency.
    let key = AccessKey::load_or_generate(&data.path().join("webpubsub.key")).unwrap();
    let grant = ClientGrant {
        user_id: Some("bench".into()),
        ..ClientGrant::default()
    };
    let info = client_access(&base, &key, "CosmosPark", &grant, Duration::from_secs(3600)).unwrap();
    let mut request = info.url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("json.webpubsub.azure.v1"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let _connected = ws.next().await;
    let store = Arc::clone(&platform.store);
    let mut latencies = Vec::with_capacity(LATENCY_WRITES);
    for n in 0..LATENCY_WRITES {
        let id = format!("bench-user-{n}");
        let started = Instant::now();
        store
            .upsert(
                "CosmicUsers",
                &PartitionKey::from(id.as_str()),
                json!({"id": id, "name": "bench"}),
            )
            .await
            .unwrap();
        loop {
            let Some(Ok(Message::Text(text))) = ws.next().await else {
                continue;
            };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            let data = match &frame["data"] {
                Value::String(inner) => serde_json::from_str(inner).unwrap_or(Value::Null),
                other => other.clone(),
            };
            if data["userId"] == id.as_str() {
                break;
            }
        }
        if n >= 20 {
            latencies.push(started.elapsed());
        }
    }
    latencies.sort();
    println!(
        "write → websocket ({} writes after 20 warm-up): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );

    // 2. change feed → Event Hubs → processor throughput.
    let started = Instant::now();
    write_many(&platform, "Commands", "cmd", THROUGHPUT_EVENTS).await;
    let written = started.elapsed();
    while PROCESSED.load(Ordering::Relaxed) < THROUGHPUT_EVENTS {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "change feed → Event Hubs → processor: {THROUGHPUT_EVENTS} events in {:.2} s = {:.0} events/s (writes alone took {:.2} s)",
        elapsed.as_secs_f64(),
        THROUGHPUT_EVENTS as f64 / elapsed.as_secs_f64(),
        written.as_secs_f64(),
    );
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}
