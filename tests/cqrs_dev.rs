//! End to end through the running `cosmospark dev` binary: a signed-in command → 202 →
//! Commands change feed → relay → Event Hubs log → UpdateProcessor → read model → `query/get`;
//! a ledger write showing up in `/api/leaderboards`; and a burst of chats after which the
//! platform's idle signal means an empty backlog everywhere the soak looks.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::security::principal;
use support::{Dev, app_root, log_file};

async fn signed_in(dev: &Dev, name: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(dev.url("/.auth/login/github"))
        .form(&[
            ("userDetails", name),
            ("userId", ""),
            ("userRoles", "authenticated"),
            ("post_login_redirect_uri", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    client
}

#[tokio::test]
async fn cqrs_dev_command_becomes_queryable_and_ledger_reaches_the_leaderboard() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    let client = signed_in(&dev, "ann").await;

    let anonymous = dev
        .http
        .post(dev.url("/api/command/insert"))
        .json(&json!({"Data": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let insert = || {
        client
            .post(dev.url("/api/command/insert"))
            .header("Idempotency-Key", "e2e-1")
            .json(&json!({"Data": {"hello": "world"}}))
            .send()
    };
    let accepted = insert().await.unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    let id = accepted.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retried = insert().await.unwrap();
    assert_eq!(retried.status(), StatusCode::ACCEPTED);
    assert_eq!(retried.json::<Value>().await.unwrap()["id"], id.as_str());

    // Idle: the command has gone through the change feed, the hub and the projector.
    dev.idle().await;
    let response = client.get(dev.url(&location)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let record: Value = response.json().await.unwrap();
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["data"], json!({"hello": "world"}));
    assert!(record["version"].as_u64().is_some());

    let now = chrono::Utc::now().timestamp();
    dev.write(
        "CosmicLeaderboards",
        json!({"id": "task-e2e", "user": {"id": "zed", "name": "Zed"}, "task": {"id": "e2e"},
            "score": 6, "awardedAt": now}),
    )
    .await;
    dev.idle().await;
    let board: Value = dev
        .http
        .get(dev.url("/api/leaderboards?window=7d&top=10"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = board["standings"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["userId"] == "zed"))
        .cloned()
        .unwrap_or_else(|| panic!("zed is not on the board: {board}"));
    assert_eq!(
        (row["score"].as_i64(), row["rank"].as_u64()),
        (Some(6), Some(1))
    );
    assert!(
        dev.dead_letters().await.is_empty(),
        "{:?}",
        dev.dead_letters().await
    );
    dev.terminate();
}

/// The soak once reported "50 hub events and 3 deliveries never drained": it watched the hub
/// and the Event Grid queue only, while the relays' change feeds (not counted) were still
/// catching up and kept refilling both. After a burst of chats, idle must mean every change
/// feed, delivery queue and hub partition is empty — in the backlog and in the retention view
/// the soak samples — with every message through to both participants' summaries.
#[tokio::test]
async fn after_a_burst_of_chats_idle_means_no_backlog_anywhere() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start_with(
        root.path(),
        data.path(),
        &["--redelivery-ms", "20", "--seed", "12"],
        &log_file("cqrs-drain"),
        "error",
    );
    let users: Vec<String> = dev
        .http
        .get(dev.url("/api/users"))
        .header(
            "x-ms-client-principal",
            principal("drain", &["authenticated"]),
        )
        .send()
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .iter()
        .filter_map(|u| u["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(users.len(), 12);
    const CHATS: usize = 120;
    let pairs: Vec<(&str, &str)> = (0..CHATS)
        .map(|i| {
            let from = users[i % users.len()].as_str();
            let to = users[(i * 5 + 1) % users.len()].as_str();
            let to = if to == from {
                users[(i + 1) % users.len()].as_str()
            } else {
                to
            };
            (from, to)
        })
        .collect();
    let sends = pairs.iter().enumerate().map(|(i, (from, to))| {
        let request = dev
            .http
            .post(dev.url("/api/chat"))
            .header("x-ms-client-principal", principal(from, &["authenticated"]))
            .json(&json!({"toUserId": to, "content": format!("burst {i}")}));
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");

    let idle = dev.idle().await;
    for trigger in idle["triggers"].as_array().unwrap() {
        assert_eq!(trigger["pending"], 0, "{trigger}");
    }
    let retention = dev.admin_json("/_devhost/retention").await;
    assert_eq!(retention["eventHubs"]["unprocessed"], 0, "{retention}");
    assert_eq!(retention["eventGridPending"], 0, "{retention}");
    // Every chat reached both participants' summaries before idle was reported.
    let mut partners: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        std::collections::BTreeMap::new();
    for (from, to) in &pairs {
        partners.entry(from).or_default().insert(to);
        partners.entry(to).or_default().insert(from);
    }
    for (user, expected) in partners {
        let chats: Value = dev
            .http
            .get(dev.url(&format!("/api/chats/user/{user}")))
            .header("x-ms-client-principal", principal(user, &["authenticated"]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        assert_eq!(
            chats.as_array().map_or(0, Vec::len),
            expected.len(),
            "{user}: {chats}"
        );
    }
    assert!(
        dev.dead_letters().await.is_empty(),
        "{:?}",
        dev.dead_letters().await
    );
    dev.terminate();
}
