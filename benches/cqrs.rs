//! Read-side benchmark (`cargo bench --bench cqrs`; see docs/benchmarks.md "Read side"):
//!
//! 1. the projection function alone (decode, group by document, apply; in memory), events/s;
//! 2. `UpdateProcessor`'s projection into the embedded store, batches of 100 and 1000, events/s;
//! 3. leaderboard top-10 at 10,000, 100,000 and 1,000,000 users (index build once, its memory
//!    per user from a counting allocator, then per-query latency);
//! 4. projection lag through the running `cosmospark dev` binary: a ledger write (HTTP to the
//!    platform) until `/api/leaderboards` shows it, p50/p99.

#[path = "support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use cosmospark::app::cqrs::Standings;
use cosmospark::app::cqrs::event::{DomainEvent, relay_event};
use cosmospark::app::cqrs::model::{Delivery, Model, Update, apply_all, decode, updates};
use cosmospark::app::cqrs::projector::{Incoming, apply_updates, project};
use cosmospark::app::domain::leaderboard::Window;
use cosmospark::store::Store;
use cosmospark::store::embedded::EmbeddedStore;
use mimalloc::MiMalloc;
use serde_json::{Value, json};

/// Counts live heap bytes, to state the leaderboard index's memory per user; allocates with
/// mimalloc, the executable's allocator (`src/main.rs`), so the store paths cost what they
/// cost in `cosmospark dev`.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to mimalloc unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const NOW: i64 = 1_795_521_600;
const DAY: i64 = 86_400;
const COUNTRIES: [&str; 4] = ["FR", "JP", "BR", "US"];

use support::{ms, percentile};

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
fn projection_function(texts: &[String], batch: usize) -> String {
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
    format!(
        "| projection in memory (decode, group, apply; batches of {batch}) | {} events | {:.0} events/s | {} documents | — | {} |\n",
        texts.len(),
        texts.len() as f64 / elapsed.as_secs_f64(),
        models.len(),
        support::load_average()
    )
}

async fn processor(texts: &[String], batch: usize) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path()).await;
    let perf = support::Profile::section("cqrs", &format!("processor-{batch}"));
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
    perf.finish();
    format!(
        "| UpdateProcessor projection into the embedded store (batches of {batch}) | {} events | {:.0} events/s | batch p50 {:.2} ms, p99 {:.2} ms | {} | {} |\n",
        texts.len(),
        texts.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&mut batch_times, 0.5)),
        ms(percentile(&mut batch_times, 0.99)),
        if batch == 100 { "≥ 60,000/s" } else { "—" },
        support::load_average()
    )
}

/// Builds the index over `users` users and times top-10 queries; returns the table rows and
/// `(build ms, all-time p99 ms)`.
async fn leaderboard(users: usize) -> (String, f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path()).await;
    let load = Instant::now();
    for start in (0..users).step_by(2000) {
        let awards: Vec<Update> = (start..(start + 2000).min(users))
            .map(|i| Update::Award {
                user: format!("user{i:07}"),
                name: format!("Player {i}"),
                entry: format!("task-{i}"),
                points: (i as i64 * 7919) % 5000,
                at: NOW - (i as i64 % 45) * DAY,
            })
            .collect();
        apply_updates(&store, &awards, Delivery::Live, |_| vec![1])
            .await
            .expect("loaded");
    }
    let loaded = load.elapsed();
    let now = chrono::DateTime::from_timestamp(NOW, 0).expect("time");
    let before = LIVE.load(Ordering::Relaxed);
    let standings = Standings::new();
    let perf = support::Profile::section("cqrs", &format!("leaderboard-build-{users}"));
    let build = Instant::now();
    standings
        .top(&store, Window::All, 10, now)
        .await
        .expect("first query");
    let built = build.elapsed();
    perf.finish();
    let with_index = LIVE.load(Ordering::Relaxed);
    let mut rows = format!(
        "| leaderboard index build (first query of a process) | {users} users | {:.0} ms | {:.0} bytes per user; documents written in {:.1} s | ≤ 2 s at 1M | {} |\n",
        ms(built),
        (with_index - before) as f64 / users as f64,
        loaded.as_secs_f64(),
        support::load_average()
    );
    let mut all_p99 = 0.0;
    for window in [Window::All, Window::Days7, Window::Days30] {
        let n = support::size(1000, 10);
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let top = standings.top(&store, window, 10, now).await.expect("query");
            samples.push(t.elapsed());
            assert!(top.len() >= 10.min(users));
        }
        let p99 = ms(percentile(&mut samples, 0.99));
        if matches!(window, Window::All) {
            all_p99 = p99;
        }
        rows.push_str(&format!(
            "| leaderboard top-10, window {window:?} | {users} users | p50 {:.3} ms | p99 {p99:.3} ms | ≤ 1 ms | {} |\n",
            ms(percentile(&mut samples, 0.5)),
            support::load_average()
        ));
    }
    drop(standings);
    (rows, ms(built), all_p99)
}

async fn lag(samples: usize) -> String {
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
            .header("x-ms-client-principal", devhost_admin())
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
    format!(
        "| projection lag, ledger write → /api/leaderboards (cosmospark dev) | {samples} writes | p50 {:.1} ms | p99 {:.1} ms | p99 ≤ 50 ms | {} |\n",
        ms(percentile(&mut lags, 0.5)),
        ms(percentile(&mut lags, 0.99)),
        support::load_average()
    )
}

pub fn main() {
    let machine = support::machine();
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
    let events_n = arg("--events", support::size(20_000, 200));
    let samples = arg("--lag-samples", support::size(200, 3));
    let sizes = if support::smoke() {
        vec![1_000]
    } else {
        vec![10_000, 100_000, 1_000_000]
    };
    let texts = events(events_n, 1000);
    let mut markdown = format!(
        "Machine: {machine}.\n\n| what | size | result | detail | goal | load avg |\n|---|---|---|---|---|---|\n"
    );
    markdown.push_str(&projection_function(&texts, 100));
    markdown.push_str(&projection_function(&texts, 1000));
    runtime.block_on(async {
        markdown.push_str(&processor(&texts, 100).await);
        markdown.push_str(&processor(&texts, 1000).await);
        let (mut builds, mut queries) = (Vec::new(), Vec::new());
        for &users in &sizes {
            let (rows, build_ms, p99) = leaderboard(users).await;
            markdown.push_str(&rows);
            builds.push((users as f64, build_ms));
            queries.push((users as f64, p99 * 1000.0));
        }
        support::chart(
            "leaderboard-vs-users.svg",
            "Leaderboard: top-10 query p99 (µs) and index build (ms) vs users",
            "users on the board",
            "µs (query) / ms (build)",
            true,
            &[
                support::Series {
                    name: "top-10 p99 (µs)".into(),
                    points: queries,
                },
                support::Series {
                    name: "index build (ms)".into(),
                    points: builds,
                },
            ],
        );
        if samples > 0 {
            markdown.push_str(&lag(samples).await);
        }
    });
    markdown.push_str("\n![leaderboard vs users](bench/leaderboard-vs-users.svg)\n");
    support::publish("cqrs", &markdown);
}

/// An `x-ms-client-principal` with the admin role: the `/_devhost` tools need it.
fn devhost_admin() -> String {
    cosmospark::runtime::ClientPrincipal {
        identity_provider: "github".into(),
        user_id: "bench-admin".into(),
        user_details: "admin".into(),
        user_roles: vec!["authenticated".into(), "admin".into()],
    }
    .encode()
}
