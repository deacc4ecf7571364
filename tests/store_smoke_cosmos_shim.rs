//! Smoke test of the built binary's Cosmos DB backend over real HTTPS: `cosmospark store smoke`
//! against `@vercel/cosmosdb-server` behind the project's adapter, `tests/cosmos-server/adapter.js`.
//! Only environment variables differ from production. Installs the pinned npm package into the
//! git-ignored `tests/cosmos-server/node_modules` on first run (needs Node 20 and npm).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const EMULATOR_KEY: &str =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn install_server(dir: &Path) {
    if dir
        .join("node_modules/@vercel/cosmosdb-server/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["install", "--no-package-lock", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("run npm (Node 20 and npm are required for this test)");
    assert!(
        status.success(),
        "npm install in tests/cosmos-server failed"
    );
}

/// Starts the adapter on an ephemeral port; returns the port it bound.
fn start_shim(dir: &Path) -> (Server, u16) {
    let mut child = Command::new("node")
        .args(["adapter.js", "0"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read shim output");
    let port = line
        .trim()
        .strip_prefix("ready https://127.0.0.1:")
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("the Cosmos DB test server did not start: {line:?}"));
    (server, port)
}

#[test]
fn binary_talks_to_cosmos_api_server_over_https() {
    let dir = repo().join("tests/cosmos-server");
    install_server(&dir);
    let (_server, port) = start_shim(&dir);
    let output = Command::new(env!("CARGO_BIN_EXE_cosmospark"))
        .args(["store", "smoke"])
        .env(
            "AZURE_COSMOS_EMULATOR_SERVER_CERT_VALIDATION_DISABLED",
            "true",
        )
        .env("AZURE_COSMOS_CONNECTION_POOL_IS_HTTP2_ALLOWED", "false")
        .env("AZURE_COSMOS_BINARY_ENCODING_ENABLED", "false")
        .env("CosmosDb__Endpoint", format!("https://127.0.0.1:{port}/"))
        .env("CosmosDb__Key", EMULATOR_KEY)
        .env("CosmosDb__CreateIfNotExists", "true")
        .env_remove("Store__Dir")
        .output()
        .expect("run cosmospark");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "smoke failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains(EMULATOR_KEY), "the account key was logged");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON summary");
    assert_eq!(summary["conflict"], 409);
    assert_eq!(summary["staleReplace"], 412);
    assert_eq!(summary["readScore"], 5);
    assert_eq!(summary["query"], serde_json::json!(["b", "a"]));
    assert_eq!(summary["count"], 2);
    assert_eq!(summary["batch"], serde_json::json!([201, 201]));
    let mut feed: Vec<String> =
        serde_json::from_value(summary["changeFeed"].clone()).expect("feed ids");
    feed.sort();
    assert_eq!(feed, ["a", "b", "c"]);
}
