//! The browser tests' harness: artifact folders, the Debian Chromium, and running a Node
//! scenario whose failure fails the test (with the logs of the servers it ran against).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::process::Process;
use super::repo;

/// `target/browser-artifacts/<name>`, emptied: screenshots and logs of one scenario.
pub fn artifacts(name: &str) -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp
        .parent()
        .unwrap_or(&tmp)
        .join("browser-artifacts")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the artifacts directory");
    dir
}

/// A port nobody listens on right now, for the Static Web Apps CLI only: it refuses ports
/// below 1024 (so not 0) and does not report the port it bound. Everything of ours binds port 0.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// The Chromium the scenarios drive (`CHROMIUM` or the Debian package's path).
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "Chromium not found at {} — install the Debian packages: apt-get install -y chromium (or set CHROMIUM)",
        path.display()
    );
    path
}

/// Runs `node <script>` from tests/browser with the scenario's environment; panics with the
/// scenario's output and the server logs when it fails.
pub fn run_scenario(script: &str, base_url: &str, artifacts: &Path, logs: &[&Process]) {
    let dir = repo().join("tests/browser");
    let output: Output = Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("BASE_URL", base_url)
        .env("ARTIFACTS_DIR", artifacts)
        .env("CHROMIUM", chromium())
        .env(
            "DEV_PID",
            logs.first().map_or(String::new(), |p| p.id().to_string()),
        )
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    fs::write(
        artifacts.join("scenario.log"),
        format!("{stdout}\n{stderr}"),
    )
    .ok();
    if !output.status.success() {
        let servers: Vec<String> = logs
            .iter()
            .map(|p| format!("--- {} ---\n{}", p.log.display(), p.tail()))
            .collect();
        panic!(
            "{script} failed (screenshots in {}):\n{stdout}\n{stderr}\n{}",
            artifacts.display(),
            servers.join("\n")
        );
    }
}

/// Rounds are UTC hours and a scenario's tasks belong to the round it starts in: when fewer than
/// `needed` remain before the top of the hour, waits for the next round so that the scenario
/// never straddles two.
pub fn start_within_one_round(needed: std::time::Duration) {
    use chrono::Timelike;
    let now = chrono::Utc::now();
    let into_hour = u64::from(now.minute() * 60 + now.second());
    let left = 3600 - into_hour;
    if left < needed.as_secs() {
        eprintln!("waiting {left} s for the next round to start");
        std::thread::sleep(std::time::Duration::from_secs(left + 2));
    }
}
