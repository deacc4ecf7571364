//! Benchmarks cannot rot: every bench in `benches/` runs here in its seconds-long smoke mode
//! (`BENCH_SMOKE=1`: tiny workloads, nothing published). The test fails when a bench errors,
//! panics or hangs (a watchdog ends the run), never on a timing.
//!
//! Its own harness (`harness = false`) so the runtime bench can re-execute this binary as its
//! bare axum baseline server and its telemetry sink, as it does with the bench binary.

// Each bench includes `benches/support` itself, so it is loaded once per bench here.
#![allow(clippy::duplicate_mod)]

#[path = "../benches/cqrs.rs"]
mod cqrs;
#[path = "../benches/devhost_pipeline.rs"]
mod devhost_pipeline;
#[path = "../benches/idle.rs"]
mod idle;
#[path = "../benches/runtime.rs"]
mod runtime;
#[path = "../benches/store.rs"]
mod store;
#[path = "../benches/webpubsub.rs"]
mod webpubsub;

use std::time::{Duration, Instant};

/// Far above a smoke run's few seconds per bench on a loaded machine; only a hang gets here.
const WATCHDOG: Duration = Duration::from_secs(600);

fn main() {
    if let Ok(port) = std::env::var("BENCH_BARE_PORT") {
        runtime::run_bare(port.parse().expect("BENCH_BARE_PORT"));
        return;
    }
    if let Ok(port) = std::env::var("BENCH_SINK_PORT") {
        runtime::run_sink(port.parse().expect("BENCH_SINK_PORT"));
        return;
    }
    if std::env::args().any(|arg| arg == "--list") {
        println!("bench_smoke: test");
        return;
    }
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("BENCH_SMOKE", "1") };
    let benches: [(&str, fn()); 6] = [
        ("runtime", runtime::main),
        ("store", store::main),
        ("webpubsub", webpubsub::main),
        ("cqrs", cqrs::main),
        ("devhost_pipeline", devhost_pipeline::main),
        ("idle", idle::main),
    ];
    for (name, bench) in benches {
        let started = Instant::now();
        println!("bench smoke: {name} …");
        let (done, finished) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            bench();
            let _ = done.send(());
        });
        match finished.recv_timeout(WATCHDOG) {
            Ok(()) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("bench smoke: {name} hung (no end after {WATCHDOG:?})");
                std::process::exit(1);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = worker.join();
                eprintln!("bench smoke: {name} failed");
                std::process::exit(1);
            }
        }
        let _ = worker.join();
        println!(
            "bench smoke: {name} ok in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "test result: ok. {} benches ran in smoke mode",
        benches.len()
    );
}
