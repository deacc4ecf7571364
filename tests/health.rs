//! `GET /api/health`: healthy through `cosmospark dev` (Static Web Apps in front, anonymous)
//! with every change-feed trigger measured from its lease; under `serve` through the host's
//! envelope, healthy on the embedded store and 503 naming the store when Cosmos DB does not
//! answer; and 503 naming the function when a change feed is behind its threshold.

mod support;

use std::time::Duration;

use cosmospark::app::AppServices;
use cosmospark::app::services::Settings;
use cosmospark::app::settings::HealthSettings;
use cosmospark::runtime::InvocationResponse;
use cosmospark::runtime::outputs::HttpResponseData;
use cosmospark::store::{ChangeFeedConsumer, ChangeFeedStart};
use serde_json::{Value, json};
use support::game::{Game, Who, sign_up};
use support::{Dev, Handler, app_root, invoke};

fn envelope() -> Value {
    json!({"Data": {"req": {"Url": "http://localhost:7071/api/health", "Method": "GET",
        "Query": {}, "Headers": {}, "Params": {}}}, "Metadata": {}})
}

fn http_output(answer: &Value) -> (u16, Value) {
    let response = InvocationResponse::from_slice(answer.to_string().as_bytes()).expect("envelope");
    let res = HttpResponseData::from_value("res", response.output("res").expect("res"))
        .expect("http output");
    let body = res
        .body
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    (res.status_code, body)
}

fn assert_healthy(body: &Value) {
    assert_eq!(body["status"], "healthy", "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["failing"], json!([]));
    assert_eq!(body["store"]["status"], "healthy");
    let triggers = body["triggers"].as_array().expect("triggers");
    assert_eq!(triggers.len(), 10, "every change-feed relay: {body}");
    assert!(
        triggers
            .iter()
            .all(|t| t["kind"] == "cosmosDBTrigger" && t["thresholdSeconds"] == 300)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_through_dev_with_every_feed_measured() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().expect("data dir");
    let dev = Dev::start(root.path(), data.path()).await;
    let first = dev
        .http
        .get(dev.url("/api/health"))
        .send()
        .await
        .expect("GET");
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-store");
    assert_healthy(&first.json().await.expect("JSON"));

    // A user write moves every trigger of CosmicUsers; once idle, each has a lease at the head.
    dev.write(
        "CosmicUsers",
        json!({"id": "ann", "name": "Ann", "position": {"latitude": 1.0, "longitude": 2.0}}),
    )
    .await;
    dev.idle().await;
    let body: Value = dev
        .http
        .get(dev.url("/api/health"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_healthy(&body);
    let users: Vec<&Value> = body["triggers"]
        .as_array()
        .expect("triggers")
        .iter()
        .filter(|t| t["source"] == "CosmicUsers")
        .collect();
    assert_eq!(users.len(), 2, "{body}");
    for trigger in users {
        assert_eq!(
            (&trigger["status"], &trigger["lagSeconds"]),
            (&json!("healthy"), &json!(0)),
            "{trigger}"
        );
    }
    dev.terminate();
}

#[tokio::test]
async fn healthy_under_serve_through_the_envelope() {
    let dir = tempfile::tempdir().expect("store dir");
    let store = dir.path().join("store");
    let handler = Handler::start_with(&[("Store__Dir", store.to_str().expect("utf-8 path"))]);
    let (status, answer) = invoke(&handler, "Health", envelope().to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let (status, body) = http_output(&answer);
    assert_eq!(status, 200, "{body}");
    assert_healthy(&body);
    assert!(
        body["triggers"]
            .as_array()
            .expect("triggers")
            .iter()
            .all(|t| t["status"] == "unmeasured"),
        "no trigger has run, so no lease exists: {body}"
    );
}

#[tokio::test]
async fn an_unreachable_cosmos_db_answers_503_naming_the_store() {
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let endpoint = format!("https://127.0.0.1:{closed}/");
    let handler = Handler::start_with(&[
        ("CosmosDb__Endpoint", endpoint.as_str()),
        ("CosmosDb__Key", "c2VjcmV0LWtleS1mb3ItYS1jbG9zZWQtcG9ydA=="),
        ("Health__StoreTimeoutMs", "1500"),
    ]);
    let (status, answer) = invoke(&handler, "Health", envelope().to_string()).await;
    assert_eq!(
        status, 200,
        "the invocation succeeds; the HTTP answer is 503: {answer}"
    );
    let (status, body) = http_output(&answer);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["failing"], json!(["store"]));
    assert_eq!(body["store"]["status"], "unhealthy");
    assert_eq!(body["store"]["timeoutMs"], 1500);
    let shown = body.to_string();
    assert!(
        !shown.contains("127.0.0.1") && !shown.contains("c2VjcmV0"),
        "the answer names no endpoint or key: {shown}"
    );
}

#[tokio::test]
async fn no_store_at_all_is_unhealthy() {
    let services = AppServices::declarations_only();
    let report = cosmospark::app::functions::health::check(&services).await;
    assert_eq!(report.failing, vec!["store".to_owned()]);
}

/// A change written after the trigger's checkpoint and older than the threshold fails the
/// check and names the function.
#[tokio::test]
async fn a_change_feed_behind_its_threshold_answers_503_naming_the_function() {
    let settings = Settings {
        health: HealthSettings {
            change_feed_lag: Duration::from_secs(1),
            ..HealthSettings::default()
        },
        ..Settings::default()
    };
    let game = Game::with_settings(settings).await;
    // The trigger's lease at the head of the (empty) feed, as the platform writes it.
    let consumer = ChangeFeedConsumer::open(
        game.store.clone(),
        "CosmicUsers",
        "leases",
        "CosmicUsersTrigger-CosmicUsersTrigger",
        ChangeFeedStart::Beginning,
    )
    .await
    .expect("consumer");
    let head = consumer.next_page().await.expect("page");
    consumer.checkpoint(&head).await.expect("checkpoint");
    sign_up(&game, "ann", "Ann", 12.97, 77.59).await;
    // `_ts` has whole seconds: two seconds later the change is at least a second old.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let reply = game
        .http("Health", "GET", "/api/health", &Who::Anonymous, None)
        .await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert_eq!(reply.body["failing"], json!(["CosmicUsersTrigger"]));
    let trigger = reply.body["triggers"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["function"] == "CosmicUsersTrigger"))
        .cloned()
        .expect("the trigger");
    assert_eq!(trigger["status"], "unhealthy");
    assert!(trigger["lagSeconds"].as_u64() >= Some(1), "{trigger}");
}
