//! Black-box tests of `cosmospark dev`: the real binary on a free port with a temp data dir.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{Dev, app_root, subscription, write_subscriptions};

fn object(data: Value) -> Value {
    match data {
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        other => other,
    }
}

/// A subscriber folder with no registered handler: every delivery fails like a crashing function.
fn broken_subscriber() -> (&'static str, Value) {
    (
        "BrokenSubscriber",
        json!({"bindings": [{"type": "eventGridTrigger", "direction": "in", "name": "event"}]}),
    )
}

#[tokio::test]
async fn http_functions_are_served_like_the_host_and_sigterm_exits_cleanly() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    let response = dev.http.get(dev.url("/api/round")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["roundId"].is_string(), "{body}");
    let wrong_method = dev.http.post(dev.url("/api/round")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(wrong_method.headers()["allow"], "GET, HEAD");
    let missing = dev
        .http
        .get(dev.url("/api/no-such-route"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let index = dev.http.get(dev.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(index.text().await.unwrap().contains("/client/hubs/"));
    assert!(dev.terminate().success());
}

#[tokio::test]
async fn user_write_reaches_a_websocket_client_through_change_feed_and_event_grid() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    let mut client = dev.pubsub("CosmosPark", "watcher").await;
    dev.write(
        "CosmicUsers",
        json!({"id": "u-ws-1", "name": "Ada", "address": {"country": {"subDivision": "Bavaria", "secondarySubDivision": "Munich"}, "position": {"latitude": 48.1, "longitude": 11.6}}}),
    )
    .await;
    let message = object(client.next_data().await);
    assert_eq!(message["type"], "UserCreatedEvent", "{message}");
    assert_eq!(message["userId"], "u-ws-1");
    assert_eq!(message["city"], "Munich");
    assert_eq!(message["latitude"], 48.1);
}

#[tokio::test]
async fn failed_deliveries_are_dead_lettered_then_replayed_after_the_fix() {
    let subscriptions = json!({"topic": "cosmospark", "subscriptions": [
        subscription("evgs-usercreated", "UserCreated", &["CosmosPark.Users.Upserted"], 30),
        subscription("evgs-broken", "BrokenSubscriber", &["CosmosPark.Users.Upserted"], 3),
    ]});
    let root = app_root(&[broken_subscriber()], Some(subscriptions));
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    dev.write("CosmicUsers", json!({"id": "u-dl-1", "name": "Grace", "address": {"position": {"latitude": 1.0, "longitude": 2.0}}}))
        .await;
    dev.write("CosmicUsers", json!({"id": "u-dl-2", "name": "Alan", "address": {"position": {"latitude": 1.0, "longitude": 2.0}}}))
        .await;
    // Idle once both deliveries have used their three attempts and left the queue.
    dev.idle().await;
    let letters = dev.dead_letters().await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let id_of = |user: &str| {
        let letter = letters
            .iter()
            .find(|l| l["payload"]["subject"] == format!("CosmosPark/Users/{user}"))
            .unwrap();
        assert_eq!(letter["kind"], "eventgrid");
        assert_eq!(letter["source"], "evgs-broken");
        assert_eq!(letter["function"], "BrokenSubscriber");
        assert_eq!(letter["attempts"], 3, "{letter}");
        letter["id"].as_str().unwrap().to_owned()
    };
    let (first, second) = (id_of("u-dl-1"), id_of("u-dl-2"));
    assert!(
        data.path()
            .join("deadletter/eventgrid/evgs-broken")
            .join(format!("{first}.json"))
            .is_file()
    );
    // The fix: the subscription now targets a working function.
    assert!(dev.terminate().success());
    let fixed = json!({"topic": "cosmospark", "subscriptions": [
        subscription("evgs-broken", "UserCreated", &["CosmosPark.Users.Upserted"], 3),
    ]});
    write_subscriptions(root.path(), &fixed);
    let cli = |args: &[&str]| support::cosmospark_on(data.path(), args);
    let listed = cli(&["deadletters", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&first));
    // Replay from the CLI with the platform stopped: re-enqueued in the durable topic.
    let root_arg = root.path().to_str().unwrap();
    let replayed = cli(&["deadletters", "replay", &first, "--root", root_arg]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let dev = Dev::start(root.path(), data.path()).await;
    let remaining = dev.dead_letters().await;
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0]["id"], second.as_str());
    // Replay while running, with a client connected: the event reaches it.
    let mut client = dev.pubsub("CosmosPark", "watcher").await;
    let response = dev
        .http
        .post(dev.url(&format!("/_devhost/deadletters/{second}/replay")))
        .header("x-ms-client-principal", support::admin_principal())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let mut seen = BTreeSet::new();
    while !seen.contains("u-dl-2") {
        let data = object(client.next_data().await);
        seen.insert(data["userId"].as_str().unwrap_or_default().to_owned());
    }
    assert!(dev.dead_letters().await.is_empty());
}

#[tokio::test]
async fn kill_9_loses_no_committed_write() {
    // Every delivery to this subscriber dead-letters at once: a durable trace per event.
    let subscriptions = json!({"topic": "cosmospark", "subscriptions": [
        subscription("evgs-trace", "BrokenSubscriber", &["CosmosPark.Users.Upserted"], 1),
    ]});
    let root = app_root(&[broken_subscriber()], Some(subscriptions));
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    let users: BTreeSet<String> = (0..20).map(|n| format!("u-crash-{n}")).collect();
    for user in &users {
        dev.write("CosmicUsers", json!({"id": user})).await;
    }
    dev.kill9();
    let dev = Dev::start(root.path(), data.path()).await;
    dev.idle().await;
    let traced: BTreeSet<String> = dev
        .dead_letters()
        .await
        .iter()
        .filter_map(|l| l["payload"]["subject"].as_str())
        .map(|s| s.trim_start_matches("CosmosPark/Users/").to_owned())
        .collect();
    assert_eq!(traced, users);
}
