//! Soak of the local platform (`cargo bench --bench soak -- [--minutes N] [--rate R]`, release;
//! loopback only; not part of `cargo test`): runs `cosmospark dev` on the whole app in a temp
//! data directory with demo users, sends `R` chat messages per second (default 300) for `N`
//! minutes (default 10), and every 10 s records the process's RSS, the store's size on disk
//! and the backlog: changes not yet through their change-feed triggers (`/_devhost/backlog`),
//! Event Hubs events not yet checkpointed by their consumer groups, Event Grid deliveries
//! pending and events retained in the hub log (`/_devhost/retention`). After the load it waits
//! on `/_devhost/idle` (`--drain-secs`, default and at most 600) and reports how long the whole
//! pipeline took to drain. Prints a table and writes it to `target/soak.csv`. Figures go in
//! `docs/reliability.md`.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const USERS: usize = 200;
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Requests in flight at most; more means the platform is not keeping up with the rate.
const IN_FLIGHT: usize = 256;

struct Options {
    minutes: u64,
    rate: u64,
    /// How long to wait for the pipeline to drain after the load (at most 600 s).
    drain_secs: u64,
}

fn options() -> Options {
    let mut options = Options {
        minutes: 10,
        rate: 300,
        drain_secs: 600,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--minutes" => options.minutes = pair[1].parse().expect("--minutes N"),
            "--rate" => options.rate = pair[1].parse().expect("--rate R"),
            "--drain-secs" => {
                options.drain_secs = pair[1].parse::<u64>().expect("--drain-secs S").min(600)
            }
            _ => {}
        }
    }
    options
}

fn principal(user: &str) -> String {
    principal_with(user, &["anonymous", "authenticated"])
}

fn principal_with(user: &str, roles: &[&str]) -> String {
    let json = json!({"identityProvider": "github", "userId": user, "userDetails": user,
        "userRoles": roles});
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let options = options();
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = tempfile::tempdir().expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosmospark"))
        .args([
            "dev",
            "--port",
            &port.to_string(),
            "--seed",
            &USERS.to_string(),
        ])
        .arg("--root")
        .arg(&repo)
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("start cosmospark dev");
    let pid = child.id();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let ready = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/_devhost/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "dev never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let users: Vec<Value> = http
        .get(format!("{base}/api/users"))
        .header("x-ms-client-principal", principal("soak"))
        .send()
        .await
        .expect("users")
        .json()
        .await
        .expect("users json");
    let ids: Vec<String> = users
        .iter()
        .filter_map(|u| u["id"].as_str().map(str::to_owned))
        .collect();
    assert!(ids.len() > 10, "seeded users: {}", ids.len());
    println!(
        "soak: {} writes/s for {} min, {} users, dev pid {pid}",
        options.rate,
        options.minutes,
        ids.len()
    );

    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let shed = Arc::new(AtomicU64::new(0));
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let duration = Duration::from_secs(options.minutes * 60);
    let start = Instant::now();
    let load = {
        let (http, base, ids) = (http.clone(), base.clone(), ids.clone());
        let (sent, failed, shed, slots) = (sent.clone(), failed.clone(), shed.clone(), slots);
        let rate = options.rate;
        tokio::spawn(async move {
            let tick = Duration::from_millis(10);
            let mut ticks = tokio::time::interval(tick);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n: u64 = 0;
            while start.elapsed() < duration {
                ticks.tick().await;
                // Requests due by now at `rate` per second.
                let due = start.elapsed().as_millis() as u64 * rate / 1000;
                while n < due {
                    let i = n as usize;
                    n += 1;
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        shed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let from = ids[i % ids.len()].clone();
                    let to = ids[(i * 7 + 1 + i / ids.len()) % ids.len()].clone();
                    let to = if to == from {
                        ids[(i + 1) % ids.len()].clone()
                    } else {
                        to
                    };
                    let (http, base, sent, failed) =
                        (http.clone(), base.clone(), sent.clone(), failed.clone());
                    tokio::spawn(async move {
                        let response = http
                            .post(format!("{base}/api/chat"))
                            .header("x-ms-client-principal", principal(&from))
                            .json(&json!({"toUserId": to, "content": format!("soak {i}")}))
                            .send()
                            .await;
                        match response {
                            Ok(r) if r.status().is_success() => {
                                sent.fetch_add(1, Ordering::Relaxed)
                            }
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                        drop(permit);
                    });
                }
            }
        })
    };

    let mut rows = vec![
        "seconds,rss_mib,store_mib,acked,failed,shed,feed_pending,hub_unprocessed,hub_retained,eventgrid_pending"
            .to_owned(),
    ];
    println!(
        "{:>7} {:>8} {:>9} {:>9} {:>7} {:>6} {:>12} {:>10} {:>9} {:>10}",
        "seconds",
        "rss MiB",
        "store MiB",
        "acked",
        "failed",
        "shed",
        "feed pending",
        "hub unproc",
        "hub kept",
        "EG pending"
    );
    let mut sample = |elapsed: Duration, backlog: &Value, feeds: u64| {
        let row = (
            elapsed.as_secs(),
            rss_kib(pid) as f64 / 1024.0,
            backlog["storeBytes"].as_u64().unwrap_or(0) as f64 / (1024.0 * 1024.0),
            sent.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
            shed.load(Ordering::Relaxed),
            feeds,
            backlog["eventHubs"]["unprocessed"].as_i64().unwrap_or(-1),
            backlog["eventHubs"]["partitions"]
                .as_array()
                .map_or(0, |p| {
                    p.iter().filter_map(|p| p["retained"].as_i64()).sum::<i64>()
                }),
            backlog["eventGridPending"].as_u64().unwrap_or(0),
        );
        println!(
            "{:>7} {:>8.1} {:>9.1} {:>9} {:>7} {:>6} {:>12} {:>10} {:>9} {:>10}",
            row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9
        );
        rows.push(format!(
            "{},{:.1},{:.1},{},{},{},{},{},{},{}",
            row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9
        ));
    };
    let admin = principal_with("soak-admin", &["authenticated", "admin"]);
    let admin_get = |path: String| {
        let (http, admin) = (http.clone(), admin.clone());
        async move {
            let response = http
                .get(path)
                .header("x-ms-client-principal", admin)
                .send()
                .await
                .ok()?;
            let status = response.status();
            Some((status, response.json::<Value>().await.ok()?))
        }
    };
    // The retention view holds the hub and Event Grid queue; the change feeds' backlog (the
    // relays' pending changes) is only in the triggers' backlog.
    let retention = || admin_get(format!("{base}/_devhost/retention"));
    let feed_pending = |snapshot: &Value| -> u64 {
        snapshot["triggers"].as_array().map_or(0, |triggers| {
            triggers
                .iter()
                .filter(|t| t["kind"] == "cosmosDBTrigger")
                .filter_map(|t| t["pending"].as_u64())
                .sum()
        })
    };
    let triggers = || admin_get(format!("{base}/_devhost/backlog"));
    while start.elapsed() < duration {
        tokio::time::sleep(SAMPLE_EVERY).await;
        if let (Some((_, r)), Some((_, t))) = (retention().await, triggers().await) {
            sample(start.elapsed(), &r, feed_pending(&t));
        }
    }
    load.await.expect("load task");
    // Drain: wait on the platform's own idle signal (every lease at the head of its feed, no
    // delivery queued, every hub checkpoint at the end, nothing running), at most
    // `--drain-secs` (default and most 600).
    let drained = Instant::now();
    let idle = admin_get(format!(
        "{base}/_devhost/idle?timeout_ms={}",
        options.drain_secs * 1000
    ))
    .await;
    let waited = drained.elapsed().as_secs_f64();
    if let (Some((_, r)), Some((_, t))) = (retention().await, triggers().await) {
        sample(start.elapsed(), &r, feed_pending(&t));
    }
    match idle {
        Some((status, _)) if status.is_success() => {
            println!("drained {waited:.1} s after the load stopped")
        }
        Some((_, last)) => println!(
            "NOT drained {waited:.1} s after the load stopped; last backlog: {}",
            last["triggers"]
                .as_array()
                .map(|t| t
                    .iter()
                    .filter(|t| t["pending"].as_u64().unwrap_or(0) > 0)
                    .map(|t| format!("{} {}", t["trigger"], t["pending"]))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ),
        None => println!("cannot read /_devhost/idle"),
    }
    let csv = repo.join("target/soak.csv");
    std::fs::write(&csv, rows.join("\n") + "\n").expect("write soak.csv");
    println!("wrote {}", csv.display());
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
}
