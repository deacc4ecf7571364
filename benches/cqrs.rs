//! Read-side benchmark (`cargo bench --bench cqrs`; see docs/benchmarks.md "Read side"):
//!
//! 1. the projection function alone (decode, group by document, apply; in memory), events/s;
//! 2. `UpdateProcessor`'s projection into the embedded store, batches of 100 and 1000, events/s;
//! 3. leaderboard top-10 with 100,000 users (index build once, then per-query latency);
//! 4. projection lag through the running `cosmospark dev` binary: a ledger write (HTTP to the
//!    platform) until `/api/leaderboards` shows it, p50/p99.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cosmospark::app::cqrs::Standings;
use cosmospark::app::cqrs::event::{DomainEvent, relay_event};
use cosmospark::app::cqrs::model::{Delivery, Model, Update, apply_all, decode, updates};
use cosmospark::app::cqrs::projector::{Incoming, apply_updates, project};
use cosmospark::app::domain::leaderboard::Window;
use cosmospark::store::Store;
use cosmospark::store::embedded::EmbeddedStore;
use serde_json::{Value, json};

const NOW: i64 = 1_795_521_600;
const DAY: i64 = 86_400;
const COUNTRIES: [&str; 4] = ["FR", "JP", "BR", "US"];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 * p).ceil() as usize).saturating_sub(1);
    samples[i.min(samples.len() - 1)]
}

fn event(container: &str, mut doc: Value, lsn: u64) -> DomainEvent {
    doc["_lsn"] = json!(lsn);
    doc["_ts"] = json!(NOW);
    doc["_etag"] = json!(format!("\"{lsn:x}\""));
    let Value::Object(map) = doc else {
        unreachable!("documents are objects")
    };
    relay_event(container, map, None)
        .expect("relayable")
        .expect("an event")
}

/// A mixed stream: awards, user upserts, chat messages and completed tasks over `users` users.
fn events(n: usize, users: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let u = format!("u{}", i % users);
            let v = format!("u{}", (i * 7 + 1) % users);
            let lsn = i as u64 + 1;
            let e = match i % 4 {
                0 => event(
                    "CosmicLeaderboards",
                    json!({"id": format!("task-{i}"), "user": {"id": u, "name": u},
                        "task": {"id": ""}, "score": (i % 3 + 1) * 2, "awardedAt": NOW - (i as i64 % 40) * DAY}),
                    lsn,
                ),
                1 => event(
                    "CosmicUsers",
                    json!({"id": u, "name": u, "createdAt": NOW, "updatedAt": NOW,
                        "address": {"country": {"code": COUNTRIES[i % 4]},
                        "position": {"latitude": 1.0, "longitude": 2.0}}}),
                    lsn,
                ),
                2 => {
                    let chat = cosmospark::app::domain::ids::ChatId::for_pair(
                        &cosmospark::app::domain::values::UserId::parse(&u).expect("id"),
                        &cosmospark::app::domain::values::UserId::parse(&v).expect("id"),
                    )
                    .expect("distinct users");
                    event(
                        "CosmicChats",
                        json!({"id": format!("m{i}"), "chat": {"id": chat.as_str()},
                            "userDetails": [{"id": u, "toUser": {"id": v, "name": v}},
                                            {"id": v, "toUser": {"id": u, "name": u}}],
                            "message": {"senderId": u, "content": "Hi-CosmosPark", "timestamp": NOW}}),
                        lsn,
                    )
                }
                _ => event(
                    "CosmicUserTasks",
                    json!({"id": format!("t{i}"), "userId": u, "userName": u,
                        "taskDetail": {"userId": v, "userName": v, "country": {"code": "JP"}},
                        "isCompleted": true, "completedAt": NOW, "points": 4, "createdAt": NOW}),
                    lsn,
                ),
            };
            serde_json::to_string(&e).expect("serialisable")
        })
        .collect()
}

async fn open_store(dir: &std::path::Path) -> Store {
    let store: Store = Arc::new(EmbeddedStore::open(dir).await.expect("store"));
    cosmospark::app::services::ensure_containers(&store)
        .await
        .expect("containers");
    store
}

/// The processor's in-memory work without the store: decode, group a batch's updates by
/// document, apply each document's updates with one parse and one write.
fn projection_function(texts: &[String], batch: usize) {
    let start = Instant::now();
    let mut models: HashMap<(Model, String), Value> = HashMap::new();
    for chunk in texts.chunks(batch) {
        let mut grouped: HashMap<(Model, String), Vec<Update>> = HashMap::new();
        for text in chunk {
            let event = decode(text).expect("decodable");
            for update in updates(&event).expect("valid") {
                grouped
                    .entry((update.model(), update.key().to_owned()))
                    .or_default()
                    .push(update);
            }
        }
        for (key, list) in grouped {
            let refs: Vec<&Update> = list.iter().collect();
            if let Some(next) =
                apply_all(&refs, models.get(&key), Delivery::Live).expect("readable")
            {
                models.insert(key, next);
            }
        }
    }
    let elapsed = start.elapsed();
    println!(
        "| projection function in memory (decode, group, apply; batches of {batch}) | {} events | {:.0} events/s | {} documents |",
        texts.len(),
        texts.len() as f64 / elapsed.as_secs_f64(),
        models.len()
    );
}

async fn processor(texts: &[String], batch: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path()).await;
    let start = Instant::now();
    let mut batch_times = Vec::new();
    for (n, chunk) in texts.chunks(batch).enumerate() {
        let incoming: Vec<Incoming> = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| Incoming {
                body: body.clone(),
                partition_id: Some("0".into()),
                sequence_number: Some((n * batch + i) as i64),
                enqueued_time: None,
            })
            .collect();
        let t = Instant::now();
        project(&store, &incoming).await.expect("projected");
        batch_times.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    println!(
        "| UpdateProcessor projection into the embedded store (batches of {batch}) | {} events | {:.0} events/s | batch p50 {:.2} ms, p99 {:.2} ms |",
        texts.len(),
        texts.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&mut batch_times, 0.5)),
        ms(percentile(&mut batch_times, 0.99)),
    );
}

async fn leaderboard(users: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path()).await;
    let awards: Vec<Update> = (0..users)
        .map(|i| Update::Award {
            user: format!("user{i:06}"),
            name: format!("Player {i}"),
            entry: format!("task-{i}"),
            points: (i as i64 * 7919) % 5000,
            at: NOW - (i as i64 % 45) * DAY,
        })
        .collect();
    let load = Instant::now();
    for chunk in awards.chunks(2000) {
        apply_updates(&store, chunk, Delivery::Live, |_| vec![1])
            .await
            .expect("loaded");
    }
    let loaded = load.elapsed();
    let standings = Standings::new();
    let now = chrono::DateTime::from_timestamp(NOW, 0).expect("time");
    let build = Instant::now();
    standings
        .top(&store, Window::All, 10, now)
        .await
        .expect("first query");
    let built = build.elapsed();
    println!(
        "| leaderboard setup | {users} users | written in {:.1} s | index built in {:.0} ms |",
        loaded.as_secs_f64(),
        ms(built)
    );
    for window in [Window::All, Window::Days7, Window::Days30] {
        let mut samples = Vec::with_capacity(1000);
        for _ in 0..1000 {
            let t = Instant::now();
            let rows = standings.top(&store, window, 10, now).await.expect("query");
            samples.push(t.elapsed());
            assert!(rows.len() >= 10);
        }
        println!(
            "| leaderboard top-10, window {window:?} | {users} users | p50 {:.3} ms | p99 {:.3} ms |",
            ms(percentile(&mut samples, 0.5)),
            ms(percentile(&mut samples, 0.99)),
        );
    }
}

async fn lag(samples: usize) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosmospark"))
        .args(["dev", "--port", &port.to_string(), "--root"])
        .arg(&root)
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dev starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    while http
        .get(format!("{base}/_devhost/health"))
        .send()
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lags = Vec::with_capacity(samples);
    for i in 0..samples {
        let user = format!("lag{i:04}");
        let doc = json!({"id": format!("task-lag-{i}"), "user": {"id": user, "name": user},
            "task": {"id": ""}, "score": 10_000 + i, "awardedAt": chrono::Utc::now().timestamp()});
        let start = Instant::now();
        let written = http
            .post(format!(
                "{base}/_devhost/containers/CosmicLeaderboards/items"
            ))
            .json(&doc)
            .send()
            .await
            .expect("write");
        assert!(written.status().is_success());
        loop {
            let board: Value = http
                .get(format!("{base}/api/leaderboards?window=all&top=1"))
                .send()
                .await
                .expect("query")
                .json()
                .await
                .expect("json");
            if board["standings"][0]["userId"] == user.as_str() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "never visible");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        lags.push(start.elapsed());
    }
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "| projection lag, ledger write → /api/leaderboards (cosmospark dev) | {samples} writes | p50 {:.1} ms | p99 {:.1} ms |",
        ms(percentile(&mut lags, 0.5)),
        ms(percentile(&mut lags, 0.99)),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let arg = |name: &str, default: usize| {
        std::env::args()
            .skip_while(|a| a != name)
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let events_n = arg("--events", 20_000);
    let users = arg("--users", 100_000);
    let samples = arg("--lag-samples", 200);
    let texts = events(events_n, 1000);
    println!("| what | size | result | detail |\n|---|---|---|---|");
    projection_function(&texts, 100);
    projection_function(&texts, 1000);
    runtime.block_on(async {
        processor(&texts, 100).await;
        processor(&texts, 1000).await;
        if users > 0 {
            leaderboard(users).await;
        }
        if samples > 0 {
            lag(samples).await;
        }
    });
}
