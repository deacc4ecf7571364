//! Idle cost of the local platform (`cargo bench --bench idle`, release): the real
//! `cosmospark dev` binary on the repository's app and a fresh data directory, every trigger
//! running, no traffic. After the platform reports idle (`GET /_devhost/idle`), the CPU time of
//! the process (utime + stime from `/proc/<pid>/stat`) is read before and after a 60 s window,
//! with the platform's own counters of store commits and trigger-loop wake-ups, and its RSS.
//! `BENCH_SMOKE=1` shortens the window to seconds (see `tests/bench_smoke.rs`).

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The child, killed when dropped.
struct Dev {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cosmospark dev --port 0` and reads the bound address from its banner.
fn start() -> Dev {
    let data = tempfile::tempdir().expect("temp data dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosmospark"))
        .args(["dev", "--port", "0", "--root", env!("CARGO_MANIFEST_DIR")])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cosmospark dev");
    let stdout = child.stdout.take().expect("piped stdout");
    let (found, address) = std::sync::mpsc::channel();
    // Keeps draining stdout for the life of the child, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("Ready on http://") {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                let _ = found.send(addr.trim_end_matches('/').parse::<SocketAddr>());
            }
        }
    });
    let addr = address
        .recv_timeout(Duration::from_secs(120))
        .expect("a `Ready on` banner")
        .expect("a bound address");
    Dev {
        child,
        addr,
        _data: data,
    }
}

/// The idle snapshot: waits until nothing is pending or running.
async fn idle(http: &reqwest::Client, dev: &Dev) -> Value {
    let admin = cosmospark::runtime::ClientPrincipal {
        identity_provider: "github".into(),
        user_id: "bench-admin".into(),
        user_details: "admin".into(),
        user_roles: vec!["anonymous".into(), "authenticated".into(), "admin".into()],
    }
    .encode();
    let response = http
        .get(format!(
            "http://{}/_devhost/idle?timeout_ms=120000",
            dev.addr
        ))
        .header("x-ms-client-principal", admin)
        .send()
        .await
        .expect("GET /_devhost/idle");
    assert!(
        response.status().is_success(),
        "the platform never became idle"
    );
    response.json().await.expect("an idle snapshot")
}

fn counter(snapshot: &Value, field: &str) -> u64 {
    snapshot[field].as_u64().unwrap_or(0)
}

#[tokio::main]
pub async fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let machine = support::machine();
    let dev = start();
    let pid = dev.child.id();
    let http = reqwest::Client::new();
    let settled = idle(&http, &dev).await;
    // Start-up work (the app's first store reads, lazy tables) is not idle cost.
    tokio::time::sleep(Duration::from_secs(if support::smoke() { 0 } else { 5 })).await;
    let window = if support::smoke() { 2.0 } else { 60.0 };
    let before = support::cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs_f64(window)).await;
    let used = support::cpu_seconds(pid) - before;
    let rss = support::rss_kib(pid);
    let after = idle(&http, &dev).await;
    let commits = counter(&after, "commits") - counter(&settled, "commits");
    let wakeups = counter(&after, "wakeups") - counter(&settled, "wakeups");
    let markdown = format!(
        "Machine: {machine}. Other builds and benchmarks share the machine, so CPU figures are \
         an upper bound.\n\n\
         `cosmospark dev` (the repository's app, every trigger running, fresh data directory), no \
         traffic, after it reported idle; CPU is utime + stime from `/proc/<pid>/stat` over the \
         window (10 ms clock ticks).\n\n\
         | window | CPU used | CPU (% of one core) | store commits | trigger wake-ups | RSS | goal |\n\
         |---:|---:|---:|---:|---:|---:|---|\n\
         | {window:.0} s | {:.0} ms | **{:.3}%** | {commits} | {wakeups} | {:.1} MB | < 0.1%, 0 commits, 0 wake-ups |\n",
        used * 1000.0,
        used / window * 100.0,
        rss as f64 / 1024.0,
    );
    support::publish("idle", &markdown);
    drop(dev);
}
