//! The binary as a process: it picks `serve` from the host's port variable, rejects bad
//! configuration naming the variable, and exits cleanly on SIGTERM.

mod support;

use std::process::Command;

use support::{Handler, binary};

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
        .args(["serve", "--port", "0"])
        .env("COSMOSPARK_MAX_ENVELOPE_BYTES", "lots")
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("COSMOSPARK_MAX_ENVELOPE_BYTES"));
}

#[tokio::test]
async fn answers_readiness_and_exits_cleanly_on_sigterm() {
    let handler = Handler::start();
    let response = support::client()
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

/// Port 0 binds an ephemeral port, and the banner shows the port actually bound (not 0), so a
/// test can start the binary without probing for a free port first.
#[tokio::test]
async fn port_zero_binds_an_ephemeral_port_and_prints_it() {
    let (_serve, serve_addr) = support::spawn_serve(&[]);
    let data = tempfile::tempdir().expect("temp dir");
    let log = support::log_file("dev-port-zero");
    let (_dev, dev_addr) = support::spawn_dev(
        &[
            "--root".as_ref(),
            support::repo().as_os_str(),
            "--data-dir".as_ref(),
            data.path().as_os_str(),
        ],
        &[],
        &log,
    );
    for (addr, path) in [(serve_addr, "/"), (dev_addr, "/_devhost/health")] {
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_ne!(addr.port(), 0, "the banner must show the bound port");
        let response = support::client()
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .expect("the printed address answers");
        assert_eq!(response.status(), 200, "{addr}{path}");
    }
}
