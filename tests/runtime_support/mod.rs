//! Shared helpers for black-box tests: start the built `cosmospark` binary as the Functions host
//! would, wait until it answers `/`, and kill it on drop; locate the recorded protocol fixtures.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The built binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cosmospark"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/protocol`: recorded host ↔ handler payloads.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("tests").join("fixtures").join("protocol")
}

/// Every fixture file name (sorted), read at test time.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir readable")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .filter(|name| !name.ends_with(".source.txt") && name != "README.md")
        .collect();
    names.sort();
    names
}

pub fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name))
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// A running `cosmospark serve`, killed on drop.
pub struct Handler {
    child: Child,
    pub port: u16,
}

impl Handler {
    /// Starts the binary with no arguments and `FUNCTIONS_CUSTOMHANDLER_PORT`, like the host.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// As [`Handler::start`], with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(binary());
        command
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("spawn cosmospark");
        let handler = Self { child, port };
        handler.wait_ready();
        handler
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("cosmospark did not listen on {} within 30 s", self.port);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The child's process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to exit and returns its status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client with a guard timeout, so a hang fails the test instead of stalling it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// POSTs `body` to `/{function}` as the host does; returns status and JSON body.
pub async fn invoke(
    handler: &Handler,
    function: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value) {
    let response = client()
        .post(handler.url(&format!("/{function}")))
        .header("Content-Type", "application/json; charset=utf-8")
        .header(
            "X-Azure-Functions-InvocationId",
            "6f1a7a3e-0000-4000-8000-000000000001",
        )
        .header("User-Agent", "Azure-Functions-Host/4.33.2")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json)
}
