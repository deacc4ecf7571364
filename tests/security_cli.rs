//! `cosmospark dev` bound beyond loopback says so, loudly, on stderr.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn dev_warns_when_bound_beyond_loopback() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosmospark"))
        .args(["dev", "--host", "0.0.0.0", "--port", &port.to_string()])
        .arg("--root")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut warning = Vec::new();
    // A bound on waiting for the start-up output, not a timing assertion.
    while let Ok(line) = received.recv_timeout(Duration::from_secs(120)) {
        if line.starts_with("WARNING") {
            warning.push(line);
            if warning.len() == 4 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = warning.join("\n");
    assert!(text.contains("0.0.0.0"), "{text}");
    assert!(text.contains("anyone"), "{text}");
}
