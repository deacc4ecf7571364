//! End to end through the running `cosmospark dev` binary: a signed-in command → 202 →
//! Commands change feed → relay → Event Hubs log → UpdateProcessor → read model → `query/get`;
//! and a ledger write showing up in `/api/leaderboards`.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Dev, app_root};

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
