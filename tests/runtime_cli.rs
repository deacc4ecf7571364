//! The binary as a process: it picks `serve` from the host's port variable, rejects bad
//! configuration naming the variable, and exits cleanly on SIGTERM.

mod runtime_support;

use std::process::Command;

use runtime_support::{Handler, binary};

#[test]
fn non_numeric_port_names_the_variable() {
    let output = Command::new(binary())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "eighty")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FUNCTIONS_CUSTOMHANDLER_PORT") && stderr.contains("eighty"),
        "{stderr}"
    );
}

#[test]
fn bad_envelope_limit_names_the_variable() {
    let output = Command::new(binary())
        .arg("serve")
        .env(
            "FUNCTIONS_CUSTOMHANDLER_PORT",
            runtime_support::free_port().to_string(),
        )
        .env("COSMOSPARK_MAX_ENVELOPE_BYTES", "lots")
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("COSMOSPARK_MAX_ENVELOPE_BYTES"));
}

#[tokio::test]
async fn answers_readiness_and_exits_cleanly_on_sigterm() {
    let handler = Handler::start();
    let response = runtime_support::client()
        .get(handler.url("/"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(response.status(), 200);
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(handler.pid().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = handler.wait();
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
}
