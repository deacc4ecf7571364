//! The official JavaScript client `@azure/web-pubsub-client` (pinned in tests/js/package.json)
//! against the embedded hub: connect on the reliable protocol, receive server pushes, join a
//! group it may join, and recover after the hub drops its socket, getting what was pushed
//! while it was down.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use support::npm_install;
use support::pubsub::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Guards against a hung test only; recovery itself is retried by the client every second.
const HANG: Duration = Duration::from_secs(60);

fn js_dir() -> PathBuf {
    support::repo().join("tests").join("js")
}

/// Installs the pinned npm packages on first use.
fn ensure_npm_packages() {
    npm_install(&js_dir(), "@azure/web-pubsub-client/package.json", &[]);
}

struct JsClient {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every event seen so far, in order.
    log: Vec<Value>,
    /// Events read but not yet waited for.
    pending: Vec<Value>,
}

impl JsClient {
    fn spawn(url: &str) -> Self {
        let mut child = Command::new("node")
            .arg(js_dir().join("webpubsub-client.mjs"))
            .arg(url)
            .current_dir(js_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed to run the JavaScript client test");
        let stdin = child.stdin.take().expect("stdin is piped");
        let lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        Self {
            child,
            stdin,
            lines,
            log: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The first event not waited for yet that matches, reading more as needed. Events that
    /// race each other (`connected` and `started`) may come in either order.
    async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&matches) {
            return self.pending.remove(i);
        }
        loop {
            let line = tokio::time::timeout(HANG, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("waiting for {what}; events so far: {:?}", self.log))
                .unwrap()
                .unwrap_or_else(|| {
                    panic!("client exited waiting for {what}; events: {:?}", self.log)
                });
            let event: Value = serde_json::from_str(&line).unwrap();
            assert_ne!(
                event["event"], "error",
                "client error; events: {:?}",
                self.log
            );
            self.log.push(event.clone());
            if matches(&event) {
                return event;
            }
            self.pending.push(event);
        }
    }

    async fn command(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }
}

fn is(event: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["event"] == event
}

#[tokio::test]
async fn official_js_client_connects_joins_receives_and_recovers() {
    ensure_npm_packages();
    let t = start().await;
    let url = t.url(&grant(
        Some("js-user"),
        &[
            "webpubsub.joinLeaveGroup.lobby",
            "webpubsub.sendToGroup.lobby",
        ],
        &[],
    ));
    let mut js = JsClient::spawn(&url);

    let connected = js.wait_for("connected", is("connected")).await;
    assert_eq!(connected["userId"], "js-user");
    let id = connected["connectionId"].as_str().unwrap().to_string();
    js.wait_for("start() to resolve", is("started")).await;

    t.apply_json(
        json!({"actionName":"sendToUser","userId":"js-user","dataType":"json","data":"{\"n\":1}"}),
    );
    let pushed = js.wait_for("a server push", is("server-message")).await;
    assert_eq!(pushed["data"], json!({"n": 1}));

    js.command(json!({"cmd":"join","group":"lobby"})).await;
    js.wait_for("the join ack", is("joined")).await;
    assert_eq!(t.hub.connections(HUB)[0].groups, vec!["lobby"]);
    js.command(json!({"cmd":"send","group":"lobby","data":{"n":2}}))
        .await;
    let echo = js
        .wait_for("its own group message", is("group-message"))
        .await;
    assert_eq!(
        (&echo["group"], &echo["data"]),
        (&json!("lobby"), &json!({"n": 2}))
    );
    js.wait_for("the send ack", is("sent")).await;

    // Drop the socket on the hub's side with no close frame, then push while it is down.
    assert!(t.hub.drop_connection(HUB, &id));
    t.apply_json(
        json!({"actionName":"sendToUser","userId":"js-user","dataType":"json","data":"{\"n\":3}"}),
    );
    t.apply_json(
        json!({"actionName":"sendToGroup","group":"lobby","dataType":"text","data":"while down"}),
    );
    let resent = js
        .wait_for("the message pushed while down", is("server-message"))
        .await;
    assert_eq!(resent["data"], json!({"n": 3}));
    let group = js
        .wait_for("the group message pushed while down", is("group-message"))
        .await;
    assert_eq!(group["data"], "while down");

    let snapshot = t.hub.connections(HUB);
    assert_eq!(
        snapshot.len(),
        1,
        "recovery resumes, it does not reconnect anew"
    );
    assert_eq!(snapshot[0].connection_id, id);
    assert!(snapshot[0].attached);
    assert_eq!(snapshot[0].groups, vec!["lobby"]);
    let connects = js.log.iter().filter(|e| e["event"] == "connected").count();
    let disconnects = js
        .log
        .iter()
        .filter(|e| e["event"] == "disconnected")
        .count();
    assert_eq!((connects, disconnects), (1, 0), "events: {:?}", js.log);
    let n1 = js
        .log
        .iter()
        .filter(|e| e["data"] == json!({"n": 1}))
        .count();
    assert_eq!(
        n1, 1,
        "already-seen messages are not delivered twice: {:?}",
        js.log
    );

    js.command(json!({"cmd":"stop"})).await;
    js.wait_for("stopped", is("stopped")).await;
    let status = tokio::time::timeout(HANG, js.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "node exited with {status}");
}
