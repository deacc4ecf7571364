//! Smoke test of the built binary's Cosmos DB backend over real HTTPS: `cosmospark store smoke`
//! against `@vercel/cosmosdb-server` behind the project's adapter, `tests/cosmos-server/adapter.js`.
//! Only environment variables differ from production. Installs the pinned npm package into the
//! git-ignored `tests/cosmos-server/node_modules` on first run (needs Node 20 and npm).

mod support;

use std::process::Command;

use support::{Process, log_file, npm_install, repo};

const EMULATOR_KEY: &str =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

/// Starts the adapter on an ephemeral port; returns it with the port it bound.
fn start_shim() -> (Process, u16) {
    let dir = repo().join("tests/cosmos-server");
    npm_install(&dir, "@vercel/cosmosdb-server/package.json", &[]);
    let mut command = Command::new("node");
    command.args(["adapter.js", "0"]).current_dir(&dir);
    let (server, addr) =
        Process::spawn_listening(command, log_file("cosmos-server"), "ready https://");
    (server, addr.port())
}

#[test]
fn binary_talks_to_cosmos_api_server_over_https() {
    let (_server, port) = start_shim();
    let output = support::cosmospark()
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
