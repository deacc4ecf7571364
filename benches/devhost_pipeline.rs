//! Local platform benchmark (`cargo bench --bench devhost_pipeline`, release):
//!
//! 1. write → websocket latency through the whole pipeline: upsert a `CosmicUsers` document →
//!    change feed → `CosmicUsersTrigger` → Event Grid → `UserCreated` → Web PubSub → a
//!    websocket client on a real loopback socket; p50 / p99 / max over sequential writes.
//! 2. events/s through change feed → Event Hubs → processor: a relay function (change feed of
//!    `Commands` → `eventHub` output) and a counting `eventHubTrigger` registered in this bench,
//!    with the app's own functions alongside; time from the first write until the processor
//!    has seen every event.
//! 3. Event Grid drain at a steady write rate: chat messages written at 300/s for 10 s into
//!    `CosmicChats` → `CosmicChatsTrigger` → Event Grid → `UserChatsCreate`, `MessageSentPush`,
//!    `TaskGreetingValidator` (and `UserChatsPush` behind the summaries). Reports the delivery
//!    backlog each second and when both participants' chat summaries of every message exist.
//!
//! Everything runs in this process on the embedded store in a temp directory.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cosmospark::app::domain::documents::{ChatMessage, UserRef};
use cosmospark::app::domain::values::{DisplayName, MessageContent, UserId};
use cosmospark::app::services::Settings;
use cosmospark::devhost::containers::EVENT_GRID_CONTAINER;
use cosmospark::devhost::event_grid::Redelivery;
use cosmospark::devhost::server::{DevOptions, Platform};
use cosmospark::devhost::webpubsub::{AccessKey, ClientGrant, client_access};
use cosmospark::runtime::outputs::{EventHubEvents, Outputs};
use cosmospark::runtime::triggers::{CosmosDocuments, EventHubBatch};
use cosmospark::runtime::{Context, Function, FunctionError};
use cosmospark::store::{PartitionKey, Query, Store};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const LATENCY_WRITES: usize = 400;
const THROUGHPUT_EVENTS: usize = 3_000;
const CHATS_PER_SECOND: usize = 300;
const CHAT_SECONDS: usize = 10;

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
    let make_app = |store: Store, _key: &AccessKey| {
        let services = cosmospark::app::AppServices::with_store(store, Settings::default())
            .map_err(|e| e.to_string())?;
        cosmospark::app::function_app(services)
            .and_then(|app| {
                app.register(
                    Function::trigger("BenchRelay", "documents", relay)
                        .output::<EventHubEvents>("events"),
                )
            })
            .and_then(|app| app.register(Function::trigger("BenchProcessor", "events", count)))
            .map_err(|e| e.to_string())
    };
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
    let platform = Platform::open_with(&options, make_app).await.unwrap();
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
                json!({"id": id, "name": "bench", "address": {"country": {"subDivision": "Bavaria"},
                       "position": {"latitude": 48.1, "longitude": 11.6}}}),
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

    // 3. Event Grid drain at a steady 300 chats/s.
    chat_drain(&platform).await;
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}

/// A chat message between a fresh pair of users (so each message makes two new summaries).
fn chat(n: usize) -> Value {
    let user = |side: &str| UserRef {
        id: UserId::parse(&format!("bench-{side}-{n}")).unwrap(),
        name: DisplayName::parse(&format!("Bench {side}")).unwrap(),
    };
    let message = ChatMessage::new(
        format!("bench-chat-{n}"),
        user("a"),
        user("b"),
        MessageContent::parse("hello").unwrap(),
        chrono::Utc::now(),
    )
    .unwrap();
    serde_json::to_value(message).unwrap()
}

async fn count_docs(store: &Store, container: &str) -> u64 {
    store.count(container, None, &Query::new()).await.unwrap()
}

async fn chat_drain(platform: &Platform) {
    let total = CHATS_PER_SECOND * CHAT_SECONDS;
    let store = Arc::clone(&platform.store);
    let started = Instant::now();
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let per_tick = CHATS_PER_SECOND / 100;
            for first in (0..total).step_by(per_tick) {
                tick.tick().await;
                for n in first..(first + per_tick).min(total) {
                    let doc = chat(n);
                    let pk = PartitionKey::from(doc["chat"]["id"].as_str().unwrap());
                    store.upsert("CosmicChats", &pk, doc).await.unwrap();
                }
            }
        })
    };
    let mut backlog = Vec::new();
    let mut max_backlog = 0;
    let summaries = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pending = count_docs(&store, EVENT_GRID_CONTAINER).await;
        max_backlog = max_backlog.max(pending);
        backlog.push(pending);
        let summaries = count_docs(&store, "CosmicUserChats").await;
        if summaries >= 2 * total as u64 || started.elapsed() > Duration::from_secs(600) {
            break summaries;
        }
    };
    writer.await.unwrap();
    let elapsed = started.elapsed();
    println!(
        "Event Grid at {CHATS_PER_SECOND} chats/s for {CHAT_SECONDS} s: {summaries} of {} summaries after {:.1} s = {:.0} chats/s drained; max backlog {max_backlog} deliveries; backlog per second {backlog:?}",
        2 * total,
        elapsed.as_secs_f64(),
        summaries as f64 / 2.0 / elapsed.as_secs_f64(),
    );
}
