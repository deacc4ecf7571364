//! Runtime benchmark: the built `cosmospark serve` against a bare axum server measured in the
//! same run — exec → first 200 on `GET /`, throughput and p99 of one HTTP function invoked
//! through `POST /{FunctionName}` vs the same work in a bare handler, and idle RSS; plus the
//! same `serve` with OpenTelemetry export enabled (OTLP/HTTP to a local sink collector), to
//! measure what tracing costs the envelope path.
//!
//! Run: `cargo bench --bench runtime` (release). Loopback only; load is bounded in connections
//! and time. The bare server and the sink are this bench binary re-executed with
//! `BENCH_BARE_PORT` / `BENCH_SINK_PORT` set.
//!
//! Profile: with `BENCH_PERF_DATA=<file>` the bench ends with one more load round on `serve`
//! while `perf record --call-graph dwarf` samples it into `<file>` (render it with
//! `perf script | inferno-collapse-perf | inferno-flamegraph`; see docs/benchmarks.md).

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use chrono::{DurationRound, TimeDelta, Utc};

const CONNECTIONS: usize = 32;

/// The same work GetRound does through the runtime: parse the envelope, compute the round,
/// answer a response envelope.
async fn bare_invoke(body: Bytes) -> ([(&'static str, &'static str); 1], String) {
    let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let _url = envelope["Data"]["req"]["Url"]
        .as_str()
        .unwrap_or_default()
        .len();
    let start = Utc::now()
        .duration_trunc(TimeDelta::hours(1))
        .unwrap_or_else(|_| Utc::now());
    let end = start + TimeDelta::hours(1);
    let round = serde_json::json!({"roundId": start.format("%Y%m%d%H").to_string(), "start": start, "end": end,
        "startUnix": start.timestamp(), "endUnix": end.timestamp()});
    let response = serde_json::json!({"Outputs": {"res": {"statusCode": 200,
        "headers": {"content-type": "application/json"}, "body": round.to_string()}}, "Logs": [], "ReturnValue": null});
    ([("content-type", "application/json")], response.to_string())
}

pub fn run_bare(port: u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let app = Router::new()
            .route("/", get(|| async { "ready" }))
            .route("/GetRound", post(bare_invoke));
        axum::serve(listener, app).await.expect("serve");
    });
}

async fn sink_accept(body: Bytes) -> &'static str {
    let _ = body.len();
    ""
}

/// A collector that accepts every OTLP/HTTP export and drops it (reading the whole body).
pub fn run_sink(port: u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let app = Router::new()
            .route("/", get(|| async { "ready" }))
            .route("/v1/traces", post(sink_accept))
            .route("/v1/metrics", post(sink_accept));
        axum::serve(listener, app).await.expect("serve");
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Runtime,
    /// `serve` exporting spans and metrics to the sink on this port; `sampled`: with the SDK's
    /// `parentbased_traceidratio` sampler at 0.1 (`OTEL_TRACES_SAMPLER[_ARG]`).
    RuntimeExporting {
        sink: u16,
        sampled: bool,
    },
    Bare,
    Sink,
}

/// Spawns the server and returns it with the time from exec to the first 200 on `GET /`.
fn start(kind: Kind) -> (Server, Duration) {
    let port = free_port();
    let mut command = match kind {
        Kind::Runtime => {
            let mut command = Command::new(env!("CARGO_BIN_EXE_cosmospark"));
            command
                .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
                .env("RUST_LOG", "warn");
            command
        }
        Kind::RuntimeExporting { sink, sampled } => {
            let mut command = Command::new(env!("CARGO_BIN_EXE_cosmospark"));
            command
                .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
                .env("RUST_LOG", "warn")
                .env(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    format!("http://127.0.0.1:{sink}"),
                );
            if sampled {
                command
                    .env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
                    .env("OTEL_TRACES_SAMPLER_ARG", "0.1");
            }
            command
        }
        Kind::Bare => {
            let mut command = Command::new(std::env::current_exe().expect("bench exe"));
            command.env("BENCH_BARE_PORT", port.to_string());
            command
        }
        Kind::Sink => {
            let mut command = Command::new(std::env::current_exe().expect("bench exe"));
            command.env("BENCH_SINK_PORT", port.to_string());
            command
        }
    };
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let started = Instant::now();
    let child = command.spawn().expect("spawn");
    let server = Server { child, port };
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buffer = [0u8; 12];
            if stream.read_exact(&mut buffer).is_ok() && buffer.starts_with(b"HTTP/1.1 200") {
                return (server, started.elapsed());
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

use support::rss_kib;

struct Load {
    requests: usize,
    seconds: f64,
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(port: u16, envelope: Arc<String>) -> Load {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .expect("client");
    let url = format!("http://127.0.0.1:{port}/GetRound");
    let seconds = if support::smoke() { 0.2 } else { 3.0 };
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, envelope) = (client.clone(), url.clone(), Arc::clone(&envelope));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(envelope.as_str().to_owned())
                    .send()
                    .await
                    .expect("send");
                assert!(response.status().is_success());
                let _ = response.bytes().await.expect("body");
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Load {
        requests: latencies.len(),
        seconds: elapsed.as_secs_f64(),
        requests_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// One load round on `server` while `perf` samples it into `output`.
fn profile(tokio: &tokio::runtime::Runtime, server: &Server, envelope: &Arc<String>, output: &str) {
    let perf = support::Profile::start(server.child.id(), Path::new(output));
    tokio.block_on(load(server.port, Arc::clone(envelope)));
    perf.finish();
}

/// How many of the names in `src/link/hot-symbols.txt` the measured executable defines, and how
/// many the file lists: a list recorded before a dependency or toolchain change matches nothing
/// and silently loses the idle-memory layout (0 found when `nm` is missing).
fn hot_symbols_present() -> (usize, usize) {
    let listed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/link/hot-symbols.txt"
    ))
    .unwrap_or_default();
    let listed: std::collections::HashSet<&str> = listed.lines().collect();
    let defined = Command::new("nm")
        .args(["--defined-only", "--format=just-symbols"])
        .arg(env!("CARGO_BIN_EXE_cosmospark"))
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let found = defined
        .lines()
        .filter(|name| listed.contains(name))
        .collect::<std::collections::HashSet<_>>()
        .len();
    (found, listed.len())
}

/// CPU seconds (user + system) spent so far by the process's telemetry export threads: the
/// SDK's batch span processor and periodic metric reader, and the blocking HTTP client's
/// runtime they send through (Linux; 0 elsewhere).
fn export_thread_cpu(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: comm may hold spaces, so split after its closing parenthesis.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        if !(comm.starts_with("OpenTelemetry") || comm.starts_with("reqwest-interna")) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After comm: state is field 3, utime 14 and stime 15 (proc(5)).
        for index in [11, 12] {
            ticks += fields
                .get(index)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    // USER_HZ is 100 on Linux.
    ticks as f64 / 100.0
}

/// CPU seconds (user + system) spent so far by the whole process, every thread (Linux; 0
/// elsewhere).
fn process_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&index| fields.get(index).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0
}

/// One measured round on `server`, adding its CPU time and requests to `cpu`.
fn measured_round(
    tokio: &tokio::runtime::Runtime,
    server: &Server,
    envelope: &Arc<String>,
    cpu: &mut (f64, usize),
) -> Load {
    let before = process_cpu(server.child.id());
    let round = tokio.block_on(load(server.port, Arc::clone(envelope)));
    // The export thread finishes the round's last batch inside the window.
    std::thread::sleep(Duration::from_millis(200));
    cpu.0 += process_cpu(server.child.id()) - before;
    cpu.1 += round.requests;
    round
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

pub fn main() {
    if let Ok(port) = std::env::var("BENCH_BARE_PORT") {
        run_bare(port.parse().expect("BENCH_BARE_PORT"));
        return;
    }
    if let Ok(port) = std::env::var("BENCH_SINK_PORT") {
        run_sink(port.parse().expect("BENCH_SINK_PORT"));
        return;
    }
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let envelope = Arc::new(
        serde_json::json!({"Data": {"req": {"Url": "http://localhost:7071/api/round", "Method": "GET", "Query": {},
            "Headers": {"Accept": ["*/*"], "Host": ["localhost:7071"]}, "Params": {}}},
            "Metadata": {"sys": {"MethodName": "GetRound", "UtcNow": "2024-05-14T15:14:15.128919Z"}}})
        .to_string(),
    );

    let machine = support::machine();
    let (starts_n, rounds_n) = (support::size(15, 1), support::size(5, 1));
    let mut starts = [Vec::new(), Vec::new()];
    for _ in 0..starts_n {
        for (index, kind) in [Kind::Runtime, Kind::Bare].into_iter().enumerate() {
            let (_server, elapsed) = start(kind);
            starts[index].push(elapsed);
        }
    }
    let [runtime_start, bare_start] = starts.map(median);

    let (runtime_server, _) = start(Kind::Runtime);
    let (bare_server, _) = start(Kind::Bare);
    let (sink, _) = start(Kind::Sink);
    let (exporting_server, _) = start(Kind::RuntimeExporting {
        sink: sink.port,
        sampled: false,
    });
    let (sampled_server, _) = start(Kind::RuntimeExporting {
        sink: sink.port,
        sampled: true,
    });
    std::thread::sleep(Duration::from_millis(300));
    let runtime_idle = rss_kib(runtime_server.child.id());
    let bare_idle = rss_kib(bare_server.child.id());
    let runtime_idle_split = support::rss_split_kib(runtime_server.child.id());
    let (hot_found, hot_listed) = hot_symbols_present();
    let bare_idle_split = support::rss_split_kib(bare_server.child.id());

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Warm up both, then measure each in turn.
    tokio.block_on(async {
        let _ = load(runtime_server.port, Arc::clone(&envelope)).await;
        let _ = load(bare_server.port, Arc::clone(&envelope)).await;
        let _ = load(exporting_server.port, Arc::clone(&envelope)).await;
        let _ = load(sampled_server.port, Arc::clone(&envelope)).await;
    });
    let export_cpu_before = export_thread_cpu(exporting_server.child.id());
    // Interleave rounds so every server sees the same background load; keep each one's best round.
    let mut runtime_rounds = Vec::new();
    let mut bare_rounds = Vec::new();
    let mut exporting_rounds = Vec::new();
    let mut sampled_rounds = Vec::new();
    let mut exporting_seconds = 0.0;
    // Whole-process CPU seconds and requests over the measured rounds: CPU per request is
    // what tracing costs even when other work on the machine makes throughput noisy.
    let (mut runtime_cpu, mut exporting_cpu) = ((0.0, 0), (0.0, 0));
    for _ in 0..rounds_n {
        runtime_rounds.push(measured_round(
            &tokio,
            &runtime_server,
            &envelope,
            &mut runtime_cpu,
        ));
        bare_rounds.push(tokio.block_on(load(bare_server.port, Arc::clone(&envelope))));
        let round = measured_round(&tokio, &exporting_server, &envelope, &mut exporting_cpu);
        exporting_seconds += round.seconds;
        exporting_rounds.push(round);
        sampled_rounds.push(tokio.block_on(load(sampled_server.port, Arc::clone(&envelope))));
    }
    let export_cpu = export_thread_cpu(exporting_server.child.id()) - export_cpu_before;
    let best = |rounds: Vec<Load>| {
        rounds
            .into_iter()
            .max_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second))
            .expect("at least one round")
    };
    if let Ok(output) = std::env::var("BENCH_PERF_DATA") {
        // `BENCH_PERF_EXPORTING=1` profiles the exporting `serve` instead.
        let server = if std::env::var_os("BENCH_PERF_EXPORTING").is_some() {
            &exporting_server
        } else {
            &runtime_server
        };
        profile(&tokio, server, &envelope, &output);
    }
    let runtime_load = best(runtime_rounds);
    let bare_load = best(bare_rounds);
    let exporting_load = best(exporting_rounds);
    let sampled_load = best(sampled_rounds);
    let runtime_loaded = rss_kib(runtime_server.child.id());

    let per_request = |(seconds, requests): (f64, usize)| seconds / requests.max(1) as f64;
    let p50_overhead = runtime_load.p50.as_secs_f64() * 1e3 - bare_load.p50.as_secs_f64() * 1e3;
    let markdown = format!(
        "Machine: {machine}. Load average {} after the load rounds.\n\n\
         | metric | cosmospark serve | bare axum | ratio | goal |\n|---|---|---|---|---|\n\
         | exec → first 200 on `GET /` (median of {starts_n}) | {:.2} ms | {:.2} ms | {:.2}× | ≤ 2× |\n\
         | throughput, `POST /GetRound`, {CONNECTIONS} connections, best of {rounds_n} rounds | {:.0} req/s | {:.0} req/s | {:.2}× | ≥ 0.95× |\n\
         | p50 latency (same round) | {:.3} ms | {:.3} ms | +{:.3} ms | overhead ≤ 0.05 ms |\n\
         | p99 latency (same round) | {:.3} ms | {:.3} ms | {:.2}× | — |\n\
         | idle RSS after start | {:.1} MB | {:.1} MB | {:.2}× | ≤ 1.5× |\n\
         | of which anonymous / file-backed (`smaps_rollup`) | {:.1} / {:.1} MB | {:.1} / {:.1} MB | — | — |\n\
         | RSS after load | {:.1} MB | — | — | — |\n\n\
         Link layout: {hot_found} of the {hot_listed} functions `src/link/hot-symbols.txt` lists \
         are in the measured executable (the rest belong to the other optimised profile or are \
         stale).\n\n\
         Tracing overhead: the same `serve` with OpenTelemetry export enabled \
         (`OTEL_EXPORTER_OTLP_ENDPOINT` → a local sink collector; a span per invocation, \
         batch export, invocation metrics), measured in the same interleaved rounds.\n\n\
         | metric | export enabled | export off | ratio | goal |\n|---|---|---|---|---|\n\
         | throughput, `POST /GetRound`, best of {rounds_n} rounds | {:.0} req/s | {:.0} req/s | {:.3}× | ≥ 0.95× (overhead < 5%) |\n\
         | p50 latency (same round) | {:.3} ms | {:.3} ms | +{:.3} ms | — |\n\
         | p99 latency (same round) | {:.3} ms | {:.3} ms | {:.2}× | — |\n\
         | throughput, sampler `parentbased_traceidratio` 0.1, best of {rounds_n} rounds | {:.0} req/s | {:.0} req/s | {:.3}× | — |\n\
         | CPU per request (whole process, all threads, all measured rounds) | {:.1} µs | {:.1} µs | {:.3}× | ≤ 1.05× |\n\
         | CPU of the span export thread (encode + send), export enabled | {:.1} % of one core | — | — | — |\n",
        support::load_average(),
        runtime_start.as_secs_f64() * 1e3,
        bare_start.as_secs_f64() * 1e3,
        runtime_start.as_secs_f64() / bare_start.as_secs_f64(),
        runtime_load.requests_per_second,
        bare_load.requests_per_second,
        runtime_load.requests_per_second / bare_load.requests_per_second,
        runtime_load.p50.as_secs_f64() * 1e3,
        bare_load.p50.as_secs_f64() * 1e3,
        p50_overhead,
        runtime_load.p99.as_secs_f64() * 1e3,
        bare_load.p99.as_secs_f64() * 1e3,
        runtime_load.p99.as_secs_f64() / bare_load.p99.as_secs_f64(),
        runtime_idle as f64 / 1024.0,
        bare_idle as f64 / 1024.0,
        runtime_idle as f64 / bare_idle.max(1) as f64,
        runtime_idle_split.0 as f64 / 1024.0,
        runtime_idle_split.1 as f64 / 1024.0,
        bare_idle_split.0 as f64 / 1024.0,
        bare_idle_split.1 as f64 / 1024.0,
        runtime_loaded as f64 / 1024.0,
        exporting_load.requests_per_second,
        runtime_load.requests_per_second,
        exporting_load.requests_per_second / runtime_load.requests_per_second,
        exporting_load.p50.as_secs_f64() * 1e3,
        runtime_load.p50.as_secs_f64() * 1e3,
        exporting_load.p50.as_secs_f64() * 1e3 - runtime_load.p50.as_secs_f64() * 1e3,
        exporting_load.p99.as_secs_f64() * 1e3,
        runtime_load.p99.as_secs_f64() * 1e3,
        exporting_load.p99.as_secs_f64() / runtime_load.p99.as_secs_f64(),
        sampled_load.requests_per_second,
        runtime_load.requests_per_second,
        sampled_load.requests_per_second / runtime_load.requests_per_second,
        per_request(exporting_cpu) * 1e6,
        per_request(runtime_cpu) * 1e6,
        per_request(exporting_cpu) / per_request(runtime_cpu).max(f64::EPSILON),
        100.0 * export_cpu / exporting_seconds.max(f64::EPSILON),
    );
    support::publish("runtime", &markdown);
}
