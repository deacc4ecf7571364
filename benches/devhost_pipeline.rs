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
//! 3. lag vs load: the same pipeline fed at fixed write rates; per event, the time from the
//!    write until the processor sees it (p50 / p99) and the rate actually achieved.
//! 4. durable writes vs concurrent writers (group commit), beside the disk's raw fsync rate
//!    measured in the same run, and the platform's idle CPU with every trigger running.
//! 5. `CommandInsert` through the platform's HTTP front door (`POST /api/command/insert`) by
//!    16 concurrent clients, beside the same raw fsync rate.
//! 6. Event Grid drain: chat messages written into `CosmicChats` at fixed rates →
//!    `CosmicChatsTrigger` → Event Grid → `UserChatsCreate`, `MessageSentPush`,
//!    `TaskGreetingValidator`; the pending deliveries each second, and when both participants'
//!    chat summaries of every message exist.
//!
//! Everything runs in this process on the embedded store in a temp directory. `BENCH_SMOKE=1`
//! shrinks every workload to seconds (see `tests/bench_smoke.rs`).

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use cosmospark::app::domain::documents::{ChatMessage, UserRef};
use cosmospark::app::domain::values::{DisplayName, MessageContent, UserId};
use cosmospark::app::services::{AppServices, Settings};
use cosmospark::devhost::backlog::{Snapshot, TriggerKind};
use cosmospark::devhost::event_grid::Redelivery;
use cosmospark::devhost::server::{DevOptions, Platform};
use cosmospark::devhost::webpubsub::{AccessKey, ClientGrant, client_access};
use cosmospark::runtime::outputs::{EventHubEvents, Outputs};
use cosmospark::runtime::triggers::{CosmosDocuments, EventHubBatch};
use cosmospark::runtime::{ClientPrincipal, Context, Function, FunctionError};
use cosmospark::store::{PartitionKey, Query, Store};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use support::{Series, ms, percentile};

static PROCESSED: AtomicUsize = AtomicUsize::new(0);
/// When the bench started: events carry their write time as microseconds since then.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
/// Write → processor lag of every event carrying a write time.
static LAGS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
/// Longest wait for any one expected outcome before the bench fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

/// The executable's allocator (`src/main.rs`): the platform runs in this process, so its
/// store and trigger paths allocate as they do in `cosmospark dev`. Only in optimised builds:
/// the smoke test (`tests/bench_smoke.rs`, a debug build) compiles every bench into one crate,
/// where the `cqrs` bench's allocator is the one.
#[cfg(not(debug_assertions))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Seconds between the platform reporting idle after the load and the idle-CPU window.
const QUIET_BEFORE_IDLE_WINDOW: f64 = 15.0;

fn micros_now() -> u64 {
    EPOCH.elapsed().as_micros() as u64
}

async fn relay(batch: CosmosDocuments<Value>, _context: Context) -> Result<Outputs, FunctionError> {
    let events = batch
        .documents
        .into_iter()
        .map(|doc| json!({"id": doc["id"], "kind": "CommandStored", "t": doc["t"]}))
        .collect();
    Ok(Outputs::new().set("events", EventHubEvents(events)))
}

async fn count(batch: EventHubBatch, _context: Context) -> Result<Outputs, FunctionError> {
    let now = micros_now();
    let mut lags = Vec::new();
    for event in &batch.events {
        let body: Value = match &event.body {
            Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            other => other.clone(),
        };
        if let Some(t) = body["t"].as_u64() {
            lags.push(Duration::from_micros(now.saturating_sub(t)));
        }
    }
    if let Ok(mut all) = LAGS.lock() {
        all.extend(lags);
    }
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

/// `count` upserts into `container` by `writers` concurrent writers; returns the elapsed time.
async fn write_many(
    platform: &Platform,
    container: &str,
    prefix: &str,
    count: usize,
    writers: usize,
) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = Arc::clone(&platform.store);
            let (container, prefix) = (container.to_owned(), prefix.to_owned());
            tokio::spawn(async move {
                for n in (w..count).step_by(writers) {
                    let id = format!("{prefix}-{n}");
                    let doc = json!({"id": id, "partitionKey": id, "Data": n, "t": micros_now()});
                    store
                        .upsert(&container, &PartitionKey::from(id.as_str()), doc)
                        .await
                        .expect("durable upsert");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    started.elapsed()
}

/// Waits until the processor has counted `target` events, failing after [`PATIENCE`] without
/// progress.
async fn wait_processed(target: usize) {
    let mut last = (PROCESSED.load(Ordering::Relaxed), Instant::now());
    while PROCESSED.load(Ordering::Relaxed) < target {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let now = PROCESSED.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
        assert!(
            last.1.elapsed() < PATIENCE,
            "the processor stopped at {now} of {target} events"
        );
    }
}

/// Writes at `rate` per second for `seconds` (16 writers, paced in 10 ms slices) and returns
/// the achieved rate with the lag percentiles of those events.
async fn lag_at(platform: &Platform, rate: usize, seconds: f64) -> (f64, Duration, Duration) {
    let before = PROCESSED.load(Ordering::Relaxed);
    if let Ok(mut lags) = LAGS.lock() {
        lags.clear();
    }
    let slices = (seconds * 100.0) as usize;
    let per_slice = (rate / 100).max(1);
    let started = Instant::now();
    let mut written = 0;
    for slice in 0..slices {
        let due = started + Duration::from_millis(10 * slice as u64);
        tokio::time::sleep_until(due.into()).await;
        let prefix = format!("lag{rate}-{slice}");
        write_many(platform, "Commands", &prefix, per_slice, per_slice.min(16)).await;
        written += per_slice;
    }
    let achieved = written as f64 / started.elapsed().as_secs_f64();
    wait_processed(before + written).await;
    let mut lags = LAGS.lock().map(|l| l.clone()).unwrap_or_default();
    (
        achieved,
        percentile(&mut lags, 0.5),
        percentile(&mut lags, 0.99),
    )
}

/// Durable upserts by 1…32 concurrent writers (no trigger running), beside the raw fsync rate;
/// returns the fsync rate.
async fn writer_scaling(platform: &Platform, data: &Path, markdown: &mut String) -> f64 {
    let fsyncs = support::fsync_rate(data, if support::smoke() { 0.1 } else { 2.0 });
    let per_run = support::size(4_000, 64);
    let mut points = Vec::new();
    markdown.push_str(&format!(
        "Raw fsync rate of the same disk, same run: **{fsyncs:.0} fsyncs/s** (4 KiB append + \
         `fdatasync`, one thread).\n\n\
         | concurrent writers | durable upserts/s | writes per fsync of the raw rate | load avg |\n|---:|---:|---:|---:|\n"
    ));
    for writers in [1, 2, 4, 8, 16, 32] {
        let elapsed = write_many(
            platform,
            "ReadModels",
            &format!("scale{writers}"),
            per_run,
            writers,
        )
        .await;
        let rate = per_run as f64 / elapsed.as_secs_f64();
        points.push((writers as f64, rate));
        markdown.push_str(&format!(
            "| {writers} | {rate:.0} | {:.1} | {} |\n",
            rate / fsyncs.max(1.0),
            support::load_average()
        ));
    }
    support::chart(
        "writes-vs-writers.svg",
        "Durable writes vs concurrent writers (group commit)",
        "concurrent writers",
        "writes/s",
        true,
        &[
            Series {
                name: "durable upserts/s".into(),
                points: points.clone(),
            },
            Series {
                name: "raw fsyncs/s".into(),
                points: points.iter().map(|&(x, _)| (x, fsyncs)).collect(),
            },
        ],
    );
    fsyncs
}

/// `POST /api/command/insert` by `clients` concurrent HTTP clients (keep-alive, signed in
/// with their own principal), each command acknowledged 202 only once durable.
async fn command_inserts(base: &str, total: usize, clients: usize) -> (f64, Duration, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let url = format!("{base}/api/command/insert");
            let principal = ClientPrincipal {
                identity_provider: "github".into(),
                user_id: format!("bench-client-{c}"),
                user_details: format!("client{c}"),
                user_roles: vec!["anonymous".into(), "authenticated".into()],
            }
            .encode();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut latencies = Vec::new();
                for n in (c..total).step_by(clients) {
                    let t = Instant::now();
                    let response = http
                        .post(&url)
                        .header("x-ms-client-principal", &principal)
                        .json(&json!({"Data": {"n": n, "t": micros_now()}}))
                        .send()
                        .await
                        .expect("CommandInsert answers");
                    assert_eq!(response.status(), 202, "CommandInsert accepted");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    (
        rate,
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
    )
}

/// A chat message between a fresh pair of users (so each message makes two new summaries).
fn chat(tag: &str, n: usize) -> Value {
    let user = |side: &str| UserRef {
        id: UserId::parse(&format!("bench-{tag}-{side}-{n}")).expect("user id"),
        name: DisplayName::parse(&format!("Bench {side}")).expect("name"),
    };
    let message = ChatMessage::new(
        format!("bench-chat-{tag}-{n}"),
        user("a"),
        user("b"),
        MessageContent::parse("hello").expect("content"),
        chrono::Utc::now(),
    )
    .expect("distinct users");
    serde_json::to_value(message).expect("serialisable")
}

async fn pending_deliveries(platform: &Platform) -> u64 {
    platform
        .backlog()
        .triggers()
        .await
        .expect("backlog")
        .iter()
        .filter(|t| t.kind == TriggerKind::EventGrid)
        .map(|t| t.pending)
        .sum()
}

/// Chats written at `rate`/s for `seconds` (the write the chat API does, 16 writers per 10 ms
/// slice); returns (achieved chats/s, pending deliveries sampled each second while writing,
/// seconds from the first write until every summary exists, chats/s end to end).
async fn chat_drain(platform: &Platform, rate: usize, seconds: f64) -> (f64, Vec<u64>, f64, f64) {
    let store: Store = Arc::clone(&platform.store);
    let summaries_before = store
        .count("CosmicUserChats", None, &Query::new())
        .await
        .expect("count");
    let total = ((rate as f64 * seconds) as usize).max(1);
    let per_slice = (rate / 100).max(1);
    let tag = format!("r{rate}");
    let started = Instant::now();
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for (slice, first) in (0..total).step_by(per_slice).enumerate() {
                let due = started + Duration::from_millis(10 * slice as u64);
                tokio::time::sleep_until(due.into()).await;
                let writes = (first..(first + per_slice).min(total)).map(|n| {
                    let doc = chat(&tag, n);
                    let store = Arc::clone(&store);
                    async move {
                        let pk = PartitionKey::from(doc["chat"]["id"].as_str().unwrap_or(""));
                        store.upsert("CosmicChats", &pk, doc).await
                    }
                });
                for result in futures_util::future::join_all(writes).await {
                    result.expect("chat write");
                }
            }
            started.elapsed()
        })
    };
    let mut backlog = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while !writer.is_finished() {
        tick.tick().await;
        backlog.push(pending_deliveries(platform).await);
    }
    let wrote = writer.await.expect("chat writer");
    let target = summaries_before + 2 * total as u64;
    let mut last = (0, Instant::now());
    loop {
        let summaries = store
            .count("CosmicUserChats", None, &Query::new())
            .await
            .expect("count");
        if summaries >= target {
            break;
        }
        if summaries != last.0 {
            last = (summaries, Instant::now());
        }
        assert!(
            last.1.elapsed() < PATIENCE,
            "Event Grid stopped at {summaries} of {target} summaries"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = started.elapsed().as_secs_f64();
    (
        total as f64 / wrote.as_secs_f64(),
        backlog,
        drained,
        total as f64 / drained,
    )
}

/// Where one write → push spent its time: the hops of the pipeline, read from the platform's
/// invocation records (start and duration of each invocation).
#[derive(Default)]
struct Hops {
    /// Upsert until it is durable (acknowledged).
    write: Vec<Duration>,
    /// Acknowledged until the relay (`CosmicUsersTrigger`) starts: the change-feed wake-up.
    feed: Vec<Duration>,
    /// The relay's invocation, its Event Grid enqueue included.
    relay: Vec<Duration>,
    /// Relay finished until `UserCreated` starts: the dispatcher's wake-up and queue read.
    dispatch: Vec<Duration>,
    /// `UserCreated`'s invocation, its Web PubSub send included.
    subscriber: Vec<Duration>,
    /// Subscriber finished until the websocket client has the frame.
    socket: Vec<Duration>,
}

impl Hops {
    fn rows(&mut self) -> String {
        let mut out = String::new();
        for (name, samples) in [
            ("write acknowledged (durable upsert)", &mut self.write),
            ("→ relay starts (change-feed wake-up)", &mut self.feed),
            ("relay runs (incl. Event Grid enqueue)", &mut self.relay),
            (
                "→ subscriber starts (dispatcher wake-up, queue read)",
                &mut self.dispatch,
            ),
            (
                "subscriber runs (incl. Web PubSub send)",
                &mut self.subscriber,
            ),
            ("→ websocket client has the frame", &mut self.socket),
        ] {
            out.push_str(&format!(
                "| {name} | {:.2} ms | {:.2} ms |\n",
                ms(percentile(samples, 0.5)),
                ms(percentile(samples, 0.99))
            ));
        }
        out
    }
}

/// Sequential `CosmicUsers` writes, each until its `UserCreatedEvent` reaches the websocket.
async fn push_latency(
    platform: &Platform,
    ws: &mut Socket,
    writes: usize,
    tag: &str,
    hops: &mut Hops,
) -> (Duration, Duration, Duration) {
    let store = Arc::clone(&platform.store);
    let warm_up = writes / 20;
    let mut latencies = Vec::with_capacity(writes);
    let since = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
        (b - a).to_std().unwrap_or_default()
    };
    for n in 0..writes {
        let id = format!("bench-user-{tag}-{n}");
        let started = Instant::now();
        let started_at = chrono::Utc::now();
        // A user is announced on the map only once it has a position.
        let user = json!({"id": id, "name": "bench", "address": {
            "position": {"latitude": 48.85, "longitude": 2.35}, "municipality": "Paris"}});
        store
            .upsert("CosmicUsers", &PartitionKey::from(id.as_str()), user)
            .await
            .expect("user upsert");
        let written_at = chrono::Utc::now();
        tokio::time::timeout(PATIENCE, wait_for_user(ws, &id))
            .await
            .unwrap_or_else(|_| panic!("no UserCreatedEvent for {id} within {PATIENCE:?}"));
        let received_at = chrono::Utc::now();
        if n < warm_up {
            continue;
        }
        latencies.push(started.elapsed());
        let recent = platform.invoker.recorder().recent();
        let last = |function: &str| {
            recent
                .iter()
                .rev()
                .find(|i| i.function == function && i.started_at >= started_at)
                .map(|i| (i.started_at, i.started_at + i.duration))
        };
        if let (Some(relay), Some(subscriber)) = (last("CosmicUsersTrigger"), last("UserCreated")) {
            hops.write.push(since(started_at, written_at));
            hops.feed.push(since(written_at, relay.0));
            hops.relay.push(since(relay.0, relay.1));
            hops.dispatch.push(since(relay.1, subscriber.0));
            hops.subscriber.push(since(subscriber.0, subscriber.1));
            hops.socket.push(since(subscriber.1, received_at));
        }
    }
    let max = latencies.iter().max().copied().unwrap_or_default();
    (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
        max,
    )
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn wait_for_user(ws: &mut Socket, id: &str) {
    loop {
        let frame = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            other => panic!("websocket ended: {other:?}"),
        };
        let frame: Value = serde_json::from_str(frame.as_str()).expect("frame is JSON");
        let data = match &frame["data"] {
            Value::String(inner) => serde_json::from_str(inner).unwrap_or(Value::Null),
            other => other.clone(),
        };
        if data["userId"] == id {
            return;
        }
    }
}

/// Prints on stderr the tables finished since the last call, then the section starting now, so
/// a run cut short still shows what it measured.
fn progress(markdown: &str, printed: &mut usize, next: &str) {
    eprintln!("{}devhost_pipeline: {next}", &markdown[*printed..]);
    *printed = markdown.len();
}

/// Waits until the platform reports idle (nothing pending, nothing running); returns that
/// snapshot. Looked at every 250 ms: `wait_idle` re-reads the backlog after every commit,
/// which would slow the drain it waits for.
async fn settle(platform: &Platform) -> Snapshot {
    settle_within(platform, PATIENCE * 10)
        .await
        .unwrap_or_else(|last| panic!("the platform never drained: {last:?}"))
}

/// [`settle`], or the last snapshot when the platform is still busy after `limit`.
async fn settle_within(platform: &Platform, limit: Duration) -> Result<Snapshot, Snapshot> {
    let started = Instant::now();
    loop {
        let snapshot = platform.backlog().snapshot().await.expect("backlog");
        if snapshot.idle {
            return Ok(snapshot);
        }
        if started.elapsed() >= limit {
            return Err(snapshot);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::main]
pub async fn main() {
    let started_at = support::machine();
    LazyLock::force(&EPOCH);
    let root = tempfile::tempdir().expect("temp root");
    let data = tempfile::tempdir().expect("temp data");
    copy_root(root.path());
    // The app over the platform's store, as `cosmospark dev` builds it, plus the bench's relay
    // and counting processor.
    let make_app = |store: Store, _key: &AccessKey| {
        let services =
            AppServices::with_store(store, Settings::default()).map_err(|e| e.to_string())?;
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
    let platform = Platform::open_with(&options, make_app)
        .await
        .expect("platform");
    let router = platform.router().expect("router");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut markdown = format!(
        "Machine: {started_at}.\n\n### Durable writes vs concurrent writers (embedded store, no trigger running)\n\n"
    );
    let mut printed = 0;
    progress(&markdown, &mut printed, "durable writes vs writers");
    let fsyncs = writer_scaling(&platform, data.path(), &mut markdown).await;
    markdown.push_str("\n![throughput vs writers](bench/writes-vs-writers.svg)\n");

    // CommandInsert through the HTTP front door, before any trigger runs.
    progress(&markdown, &mut printed, "CommandInsert over HTTP");
    let (clients, inserts) = (16, support::size(8_000, 32));
    let perf = support::Profile::section("devhost_pipeline", "command-insert");
    let (rate, p50, p99) = command_inserts(&base, inserts, clients).await;
    perf.finish();
    markdown.push_str(&format!(
        "\n### Durable writes through the API (`CommandInsert`, no trigger running)\n\n\
         | clients | commands | accepted/s | p50 | p99 | writes per raw fsync | goal | load avg |\n\
         |---:|---:|---:|---:|---:|---:|---|---:|\n\
         | {clients} | {inserts} | {rate:.0} | {:.2} ms | {:.2} ms | {:.1} | ≥ 10,000/s | {} |\n",
        ms(p50),
        ms(p99),
        rate / fsyncs.max(1.0),
        support::load_average()
    ));

    let (tracker, cancel) = (TaskTracker::new(), CancellationToken::new());
    platform
        .start_triggers(&tracker, &cancel)
        .await
        .expect("triggers");

    // Write → websocket latency, idle and under background load.
    let key = AccessKey::load_or_generate(&data.path().join("webpubsub.key")).expect("key");
    let grant = ClientGrant {
        user_id: Some("bench".into()),
        ..ClientGrant::default()
    };
    let info = client_access(&base, &key, "CosmosPark", &grant, Duration::from_secs(3600))
        .expect("client access");
    let mut request = info.url.into_client_request().expect("ws request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("json.webpubsub.azure.v1"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket");
    let _connected = ws.next().await;
    let writes = support::size(400, 5);
    // The commands inserted above flow through `CommandsToEventHub` (it starts from the
    // beginning) → `UpdateProcessor` once the triggers start: "idle" means after that.
    let started_triggers = Instant::now();
    settle(&platform).await;
    progress(&markdown, &mut printed, "write → websocket push");
    let startup_drain = started_triggers.elapsed().as_secs_f64();
    let (mut idle_hops, mut loaded_hops) = (Hops::default(), Hops::default());
    let perf = support::Profile::section("devhost_pipeline", "push-idle");
    let idle = push_latency(&platform, &mut ws, writes, "idle", &mut idle_hops).await;
    perf.finish();
    let background_rate = 1_000;
    let background = {
        let stop = CancellationToken::new();
        let (store, stop_writer) = (Arc::clone(&platform.store), stop.clone());
        let writer = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut n = 0usize;
            while !stop_writer.is_cancelled() {
                tick.tick().await;
                let batch: Vec<_> = (0..background_rate / 100)
                    .map(|_| {
                        n += 1;
                        let id = format!("bg-{n}");
                        let store = Arc::clone(&store);
                        async move {
                            let doc = json!({"id": id, "partitionKey": id, "t": micros_now()});
                            store
                                .upsert("Commands", &PartitionKey::from(id.as_str()), doc)
                                .await
                        }
                    })
                    .collect();
                for result in futures_util::future::join_all(batch).await {
                    result.expect("background write");
                }
            }
        });
        let loaded = push_latency(&platform, &mut ws, writes, "loaded", &mut loaded_hops).await;
        stop.cancel();
        writer.await.expect("background writer");
        loaded
    };
    markdown.push_str(&format!(
        "\n### Write → websocket push through the local platform\n\n\
         Measured once the platform is idle: the {inserts} commands inserted above took \
         {startup_drain:.1} s to flow through `CommandsToEventHub` → `UpdateProcessor` after \
         the triggers started.\n\n\
         | load | writes | p50 | p99 | max | goal (p99) |\n|---|---:|---:|---:|---:|---|\n\
         | idle | {writes} | {:.2} ms | {:.2} ms | {:.2} ms | ≤ 10 ms |\n\
         | {background_rate} background writes/s | {writes} | {:.2} ms | {:.2} ms | {:.2} ms | ≤ 20 ms |\n",
        ms(idle.0), ms(idle.1), ms(idle.2),
        ms(background.0), ms(background.1), ms(background.2),
    ));
    markdown.push_str(&format!(
        "\nWhere the time goes, per hop (from the platform's invocation records; p50 / p99 of \
         each hop on its own, so the rows do not add up to the end-to-end percentiles):\n\n\
         | hop | idle p50 | idle p99 |\n|---|---:|---:|\n{}\n\
         | hop | loaded p50 | loaded p99 |\n|---|---:|---:|\n{}",
        idle_hops.rows(),
        loaded_hops.rows()
    ));

    // Change feed → Event Hubs → processor: a burst, then lag at fixed rates; from idle.
    settle(&platform).await;
    progress(
        &markdown,
        &mut printed,
        "change feed → Event Hubs → processor",
    );
    let burst = support::size(10_000, 50);
    let before = PROCESSED.load(Ordering::Relaxed);
    let started = Instant::now();
    let written = write_many(&platform, "Commands", "cmd", burst, 16).await;
    wait_processed(before + burst).await;
    let elapsed = started.elapsed();
    markdown.push_str(&format!(
        "\n### Change feed → Event Hubs → processor\n\n\
         Burst: {burst} upserts by 16 writers took {:.2} s; the processor had every event after \
         {:.2} s = **{:.0} events/s** end to end.\n\n\
         | offered writes/s | achieved writes/s | lag p50 | lag p99 | load avg |\n|---:|---:|---:|---:|---:|\n",
        written.as_secs_f64(),
        elapsed.as_secs_f64(),
        burst as f64 / elapsed.as_secs_f64(),
    ));
    let seconds = if support::smoke() { 0.05 } else { 3.0 };
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for rate in [500, 1_000, 2_000, 5_000, 10_000] {
        let perf = support::Profile::section("devhost_pipeline", &format!("lag-{rate}"));
        let (achieved, p50, p99) = lag_at(&platform, rate, seconds).await;
        perf.finish();
        p50s.push((achieved, ms(p50)));
        p99s.push((achieved, ms(p99)));
        markdown.push_str(&format!(
            "| {rate} | {achieved:.0} | {:.1} ms | {:.1} ms | {} |\n",
            ms(p50),
            ms(p99),
            support::load_average()
        ));
    }
    support::chart(
        "lag-vs-load.svg",
        "Change feed → Event Hubs → processor: lag vs load",
        "achieved writes/s",
        "lag (ms)",
        false,
        &[
            Series {
                name: "p50".into(),
                points: p50s,
            },
            Series {
                name: "p99".into(),
                points: p99s,
            },
        ],
    );
    markdown.push_str("\n![lag vs load](bench/lag-vs-load.svg)\n");

    // Event Grid drain at fixed chat rates, from idle.
    settle(&platform).await;
    progress(&markdown, &mut printed, "Event Grid drain");
    markdown.push_str(
        "\n### Event Grid subscribers (chat → summaries, unread counts, pushes)\n\n\
         | offered chats/s | achieved chats/s | pending deliveries each second while writing | \
         all summaries after | chats/s end to end | load avg |\n|---:|---:|---|---:|---:|---:|\n",
    );
    let chat_seconds = if support::smoke() { 0.05 } else { 5.0 };
    for rate in [500, 1_000, 2_000] {
        eprintln!("devhost_pipeline: Event Grid drain at {rate} chats/s");
        let perf = support::Profile::section("devhost_pipeline", &format!("chats-{rate}"));
        let (achieved, backlog, drained, end_to_end) =
            chat_drain(&platform, rate, chat_seconds).await;
        perf.finish();
        let backlog: Vec<String> = backlog.iter().map(u64::to_string).collect();
        markdown.push_str(&format!(
            "| {rate} | {achieved:.0} | {} | {drained:.1} s | {end_to_end:.0} | {} |\n",
            backlog.join(", "),
            support::load_average()
        ));
    }

    // Idle CPU with every trigger running and no traffic: first the rest of the chain drains
    // (the drain above waits only for the summaries; pushes and the read side come after),
    // then nothing may run.
    progress(&markdown, &mut printed, "drain, then idle CPU");
    let drain_started = Instant::now();
    let pending = pending_deliveries(&platform).await;
    markdown.push_str("\n### Idle CPU of the local platform after the load\n\n");
    match settle_within(&platform, PATIENCE * 10).await {
        Ok(settled) => {
            let drain = drain_started.elapsed().as_secs_f64();
            let (quiet, window) = if support::smoke() {
                (0.0, 0.2)
            } else {
                (QUIET_BEFORE_IDLE_WINDOW, 60.0)
            };
            // The async runtime's idle blocking threads exit after 10 s and the allocator
            // returns freed pages to the system shortly after the load: the window starts
            // after both (the commit and wake-up counts cover the wait as well).
            tokio::time::sleep(Duration::from_secs_f64(quiet)).await;
            let pid = std::process::id();
            let before = support::cpu_seconds(pid);
            tokio::time::sleep(Duration::from_secs_f64(window)).await;
            let used = support::cpu_seconds(pid) - before;
            let after = platform.backlog().snapshot().await.expect("backlog");
            markdown.push_str(&format!(
                "After the drain above, {pending} Event Grid deliveries were still queued \
                 (pushes, unread counts); the platform reported idle {drain:.1} s later. Then, \
                 every trigger running, one websocket client connected, no traffic, {window:.0} \
                 s from {quiet:.0} s after idle: **{:.3}% of one core** (goal < 0.1%), {} store \
                 commits and {} trigger wake-ups since idle. Load avg {}.\n",
                used / window * 100.0,
                after.commits - settled.commits,
                after.wakeups - settled.wakeups,
                support::load_average()
            ));
        }
        Err(last) => {
            let queued: Vec<String> = last
                .triggers
                .iter()
                .filter(|t| t.pending > 0)
                .map(|t| format!("{} {}", t.trigger, t.pending))
                .collect();
            markdown.push_str(&format!(
                "After the drain above, {pending} Event Grid deliveries were still queued; \
                 {:.0} s later the platform was **still draining** ({}), so no idle window was \
                 measured. Load avg {}.\n",
                drain_started.elapsed().as_secs_f64(),
                queued.join(", "),
                support::load_average()
            ));
        }
    }

    cancel.cancel();
    tracker.close();
    tracker.wait().await;
    support::publish("devhost_pipeline", &markdown);
}
