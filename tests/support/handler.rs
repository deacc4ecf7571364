//! The custom handler as the Functions host starts it (`cosmospark serve`, here on port 0 with
//! the bound address read back), invoked the way the host invokes it; and the recorded
//! protocol fixtures in `tests/fixtures/protocol`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;

use serde_json::Value;

use super::process::{Process, spawn_serve};
use super::{client, repo_root};

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

/// The text of one fixture.
pub fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name))
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// One fixture parsed as JSON.
pub fn fixture(name: &str) -> Value {
    serde_json::from_str(&read_fixture(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// A running `cosmospark serve`, killed on drop.
pub struct Handler {
    process: Process,
    pub addr: SocketAddr,
    pub port: u16,
}

impl Handler {
    /// Starts `serve` with the host's environment (the port comes from `--port 0`).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// As [`Handler::start`], with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let (process, addr) = spawn_serve(env);
        Self {
            process,
            addr,
            port: addr.port(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The child's process id (for signals).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits for the child to exit by itself and returns its status.
    pub fn wait(mut self) -> ExitStatus {
        self.process.wait()
    }
}

/// POSTs `body` to `/{function}` as the host does; returns status and JSON body.
pub async fn invoke(
    handler: &Handler,
    function: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
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
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}
