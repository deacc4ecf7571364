//! Lifecycle edges of `cosmospark dev`: a reset never touches the data of a running instance,
//! and SIGTERM ends the process promptly — releasing the data directory — even while a trigger
//! with unlimited retries is waiting for its next attempt.

mod support;

use cosmospark::devhost::data_dir::DataDirLock;
use serde_json::json;
use support::*;

#[tokio::test]
async fn reset_is_refused_while_another_instance_holds_the_data_directory() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    dev.write("Commands", json!({"id": "kept", "Data": 1}))
        .await;

    // Refused before it binds anything, so port 0 is all it needs.
    let mut command = cosmospark();
    command
        .args(["dev", "--port", "0", "--reset", "--root"])
        .arg(root.path())
        .arg("--data-dir")
        .arg(data.path());
    let mut reset = Process::spawn(command, log_file("dev-reset"));
    let status = reset.wait_within(HANG).expect("a refused reset exits");
    let output = reset.output();
    assert!(!status.success());
    assert!(output.contains("in use by another"), "{output}");

    // The running instance's data is untouched and it keeps serving it.
    let read = dev
        .http
        .get(dev.url("/_devhost/containers/Commands/items/kept"))
        .header("x-ms-client-principal", admin_principal())
        .send()
        .await
        .unwrap();
    assert!(read.status().is_success());
    assert!(data.path().join("store").exists());
}

#[tokio::test]
async fn sigterm_during_unlimited_retries_exits_promptly_and_releases_the_lock() {
    let root = app_root(&[], None);
    // The relay's output goes to a hub name the platform rejects: every invocation fails, and
    // the policy retries forever, an hour apart.
    write_function(
        root.path(),
        "CommandsToEventHub",
        &json!({
            "bindings": [
                {"type": "cosmosDBTrigger", "direction": "in", "name": "documents",
                 "connection": "CosmosDBConnection", "databaseName": "CosmicDB",
                 "containerName": "Commands", "leaseContainerName": "leases",
                 "leaseContainerPrefix": "t-", "startFromBeginning": true},
                {"type": "eventHub", "direction": "out", "name": "events",
                 "eventHubName": "not a hub!", "connection": "EventHubConnection"}
            ],
            "retry": {"strategy": "fixedDelay", "maxRetryCount": -1, "delayInterval": "01:00:00"}
        }),
    );
    let data = tempfile::tempdir().unwrap();
    let mut dev = Dev::start_with(
        root.path(),
        data.path(),
        &["--shutdown-grace-secs", "600"],
        &log_file("dev-sigterm"),
        "warn",
    );
    dev.write("Commands", json!({"id": "c1", "Data": 1})).await;
    // Wait until the first attempt failed and the hour-long retry wait began.
    eventually(|| async { dev.process.output().contains("retrying").then_some(()) }).await;

    dev.process.sigterm();
    let status = dev.process.wait_within(HANG);
    let log = dev.process.output();
    let status = status.unwrap_or_else(|| panic!("still running after SIGTERM:\n{log}"));
    assert!(status.success(), "{status:?}\n{log}");
    assert!(!log.contains("grace expired"), "{log}");
    // The data directory is free for the next instance.
    assert!(DataDirLock::acquire(data.path()).is_ok());
}
