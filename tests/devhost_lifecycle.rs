//! Lifecycle edges of `cosmospark dev`: a reset never touches the data of a running instance,
//! and SIGTERM ends the process promptly — releasing the data directory — even while a trigger
//! with unlimited retries is waiting for its next attempt.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cosmospark::devhost::data_dir::DataDirLock;
use serde_json::json;
use support::*;

/// Waits for `child` to exit; `None` if it is still running after [`HANG`] (a hung test).
fn wait_exit(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + HANG;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn dev_command(root: &Path, data: &Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cosmospark"));
    command
        .args(["dev", "--port", &port.to_string()])
        .arg("--root")
        .arg(root)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null());
    command
}

#[tokio::test]
async fn reset_is_refused_while_another_instance_holds_the_data_directory() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    dev.write("Commands", json!({"id": "kept", "Data": 1}))
        .await;

    let mut reset = dev_command(root.path(), data.path(), free_port())
        .arg("--reset")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut reset);
    let _ = reset.kill();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut reset.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = status.expect("a refused reset exits");
    assert!(!status.success());
    assert!(stderr.contains("in use by another"), "{stderr}");

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
    let port = free_port();
    let mut child = dev_command(root.path(), data.path(), port)
        .args(["--shutdown-grace-secs", "600"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, logged) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let deadline = Instant::now() + HANG;
    loop {
        let written = http
            .post(url("/_devhost/containers/Commands/items"))
            .header("x-ms-client-principal", admin_principal())
            .json(&json!({"id": "c1", "Data": 1}))
            .send()
            .await;
        if written.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "dev never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Wait until the first attempt failed and the hour-long retry wait began.
    let mut log = Vec::new();
    loop {
        let line = logged.recv_timeout(HANG).expect("the relay never retried");
        let retrying = line.contains("retrying");
        log.push(line);
        if retrying {
            break;
        }
    }

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = wait_exit(&mut child);
    let _ = child.kill();
    log.extend(logged.try_iter());
    let log = log.join("\n");
    let status = status.unwrap_or_else(|| panic!("still running after SIGTERM:\n{log}"));
    assert!(status.success(), "{status:?}\n{log}");
    assert!(!log.contains("grace expired"), "{log}");
    // The data directory is free for the next instance.
    assert!(DataDirLock::acquire(data.path()).is_ok());
}
