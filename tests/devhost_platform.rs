//! The platform in-process against a `FunctionApp` with test functions registered in the test
//! (the app has no HTTP function with route parameters and no `eventHubTrigger` yet): HTTP
//! routing through the envelope, and the Event Hubs log → processor path with retries, dead
//! letter and replay. Functions are still reached only through `FunctionApp::router()`.

mod support;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::IntoResponse;
use cosmospark::devhost::dead_letter::{DeadLetterKind, Failed};
use cosmospark::devhost::event_hubs::OutgoingEvent;
use cosmospark::runtime::outputs::Outputs;
use cosmospark::runtime::triggers::{CosmosDocuments, EventHubBatch};
use cosmospark::runtime::{Context, Function, FunctionApp, FunctionError};
use cosmospark::store::PartitionKey;
use serde_json::{Map, Value, json};
use support::platform::Running;
use support::{bare_app_root, eventually, write_function};

async fn echo(
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let greeting = headers
        .get("x-greeting")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::HeaderName::from_static("x-item"), id.clone()),
        ],
        json!({"id": id, "query": query, "greeting": greeting, "body": body}).to_string(),
    )
}

async fn negotiate(axum::Extension(context): axum::Extension<Context>) -> axum::Json<Value> {
    axum::Json(context.input::<Value>("connection").unwrap_or(Value::Null))
}

async fn get_command(
    axum::Extension(context): axum::Extension<Context>,
) -> axum::response::Response {
    match context.input::<Map<String, Value>>("command") {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn boom() -> &'static str {
    panic!("the handler crashed")
}

static FEED_SEEN: Mutex<Vec<(Option<i64>, Vec<String>)>> = Mutex::new(Vec::new());
static FEED_HEALED: AtomicBool = AtomicBool::new(false);

/// Fails every batch holding a `poison` document until healed.
async fn feed(batch: CosmosDocuments<Value>, context: Context) -> Result<Outputs, FunctionError> {
    let ids: Vec<String> = batch
        .documents
        .iter()
        .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    if !ids.iter().any(|id| id.starts_with("cmd-")) {
        return Ok(Outputs::new()); // another test's documents
    }
    let poisoned = batch.documents.iter().any(|d| d["poison"] == true);
    FEED_SEEN
        .lock()
        .unwrap()
        .push((context.retry_context().and_then(|r| r.retry_count), ids));
    if poisoned && !FEED_HEALED.load(Ordering::SeqCst) {
        return Err(FunctionError::msg("cannot handle a poison document"));
    }
    Ok(Outputs::new())
}

static ISOLATED_SEEN: Mutex<Vec<(bool, Vec<String>)>> = Mutex::new(Vec::new());

/// Fails every batch holding an `iso-` document marked `poison`; records (succeeded, ids).
async fn isolated_feed(
    batch: CosmosDocuments<Value>,
    _context: Context,
) -> Result<Outputs, FunctionError> {
    let ids: Vec<String> = batch
        .documents
        .iter()
        .filter_map(|d| d["id"].as_str().filter(|id| id.starts_with("iso-")))
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Ok(Outputs::new());
    }
    let poisoned = batch
        .documents
        .iter()
        .any(|d| d["poison"] == true && d["id"].as_str().is_some_and(|id| id.starts_with("iso-")));
    ISOLATED_SEEN.lock().unwrap().push((!poisoned, ids));
    if poisoned {
        return Err(FunctionError::msg("cannot handle this document"));
    }
    Ok(Outputs::new())
}

static PICKY_SEEN: Mutex<Vec<(bool, Vec<String>)>> = Mutex::new(Vec::new());
static PICKY_HEALED: AtomicBool = AtomicBool::new(false);

/// Fails every batch holding the body `poison` until healed; records (succeeded, bodies).
async fn picky(batch: EventHubBatch, _context: Context) -> Result<Outputs, FunctionError> {
    let bodies: Vec<String> = batch
        .events
        .iter()
        .map(|e| e.text().unwrap_or_default().to_owned())
        .collect();
    let failing = bodies.iter().any(|b| b == "poison") && !PICKY_HEALED.load(Ordering::SeqCst);
    PICKY_SEEN.lock().unwrap().push((!failing, bodies));
    if failing {
        return Err(FunctionError::msg("poison body"));
    }
    Ok(Outputs::new())
}

static BATCHES: Mutex<Vec<(Map<String, Value>, EventHubBatch)>> = Mutex::new(Vec::new());
static FAIL: AtomicBool = AtomicBool::new(true);
static FLAKY_ATTEMPTS: Mutex<Vec<(Option<i64>, Vec<String>)>> = Mutex::new(Vec::new());

async fn processor(batch: EventHubBatch, context: Context) -> Result<Outputs, FunctionError> {
    BATCHES
        .lock()
        .unwrap()
        .push((context.request.metadata.clone(), batch));
    Ok(Outputs::new())
}

async fn flaky(batch: EventHubBatch, context: Context) -> Result<Outputs, FunctionError> {
    let bodies = batch
        .events
        .iter()
        .map(|e| e.text().unwrap_or_default().to_owned())
        .collect();
    let retry = context.retry_context().and_then(|r| r.retry_count);
    FLAKY_ATTEMPTS.lock().unwrap().push((retry, bodies));
    if FAIL.load(Ordering::SeqCst) {
        return Err(FunctionError::msg("downstream unavailable"));
    }
    Ok(Outputs::new())
}

fn app() -> FunctionApp {
    FunctionApp::new()
        .register(Function::http(
            "Echo",
            &["GET", "POST"],
            "items/{id:int}",
            echo,
        ))
        .unwrap()
        .register(Function::http("Boom", &["GET"], "boom", boom))
        .unwrap()
        .register(
            Function::http("Negotiate", &["GET"], "negotiate", negotiate).binding(
                "connection",
                "webPubSubConnection",
                cosmospark::runtime::Direction::In,
            ),
        )
        .unwrap()
        .register(
            Function::http("GetCommand", &["GET"], "commands/{id}", get_command).binding(
                "command",
                "cosmosDB",
                cosmospark::runtime::Direction::In,
            ),
        )
        .unwrap()
        .register(Function::trigger("Processor", "events", processor))
        .unwrap()
        .register(Function::trigger("Flaky", "events", flaky))
        .unwrap()
        .register(Function::trigger("Feed", "documents", feed))
        .unwrap()
        .register(Function::trigger(
            "IsolatedFeed",
            "documents",
            isolated_feed,
        ))
        .unwrap()
        .register(Function::trigger("Picky", "events", picky))
        .unwrap()
}

fn hub_trigger(hub: &str, group: &str) -> Value {
    json!({"type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": hub,
           "consumerGroup": group, "cardinality": "many", "dataType": "string",
           "connection": "EventHubConnection"})
}

async fn start() -> Running {
    start_with(Vec::new()).await
}

/// Starts the platform after writing `commands` to the `Commands` container (so a trigger
/// starting from the beginning sees them all in its first batch).
async fn start_with(commands: Vec<Value>) -> Running {
    let root = bare_app_root();
    write_function(
        root.path(),
        "Echo",
        &json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous",
             "methods": ["get", "post"], "route": "items/{id:int}"},
            {"type": "http", "direction": "out", "name": "res"}]}),
    );
    write_function(
        root.path(),
        "Boom",
        &json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get"], "route": "boom"},
            {"type": "http", "direction": "out", "name": "res"}]}),
    );
    write_function(
        root.path(),
        "GetCommand",
        &json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get"], "route": "commands/{id}"},
            {"type": "http", "direction": "out", "name": "res"},
            {"type": "cosmosDB", "direction": "in", "name": "command", "databaseName": "CosmicDB",
             "containerName": "Commands", "id": "{id}", "partitionKey": "{id}", "connection": "CosmosDBConnection"}]}),
    );
    write_function(
        root.path(),
        "Negotiate",
        &json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get"], "route": "negotiate"},
            {"type": "http", "direction": "out", "name": "res"},
            {"type": "webPubSubConnection", "direction": "in", "name": "connection", "hub": "CosmosPark",
             "userId": "{headers.x-ms-client-principal-id}", "connection": "WebPubSubConnectionString"}]}),
    );
    write_function(
        root.path(),
        "Processor",
        &json!({"bindings": [hub_trigger("updates", "$Default")]}),
    );
    write_function(
        root.path(),
        "Flaky",
        &json!({"bindings": [hub_trigger("flaky", "flaky-group")],
                "retry": {"strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:00:00.01"}}),
    );
    write_function(
        root.path(),
        "Feed",
        &json!({"bindings": [
            {"type": "cosmosDBTrigger", "direction": "in", "name": "documents", "connection": "CosmosDBConnection",
             "databaseName": "CosmicDB", "containerName": "Commands", "leaseContainerName": "leases",
             "leaseContainerPrefix": "feed-test-", "maxItemsPerInvocation": 10, "startFromBeginning": true}],
                "retry": {"strategy": "exponentialBackoff", "maxRetryCount": 2,
                          "minimumInterval": "00:00:00.01", "maximumInterval": "00:00:00.02"}}),
    );
    write_function(
        root.path(),
        "IsolatedFeed",
        &json!({"bindings": [
            {"type": "cosmosDBTrigger", "direction": "in", "name": "documents", "connection": "CosmosDBConnection",
             "databaseName": "CosmicDB", "containerName": "Commands", "leaseContainerName": "leases",
             "leaseContainerPrefix": "isolated-", "maxItemsPerInvocation": 100, "startFromBeginning": true}],
                "retry": {"strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:00:00.01"}}),
    );
    write_function(
        root.path(),
        "Picky",
        &json!({"bindings": [hub_trigger("picky", "$Default")],
                "retry": {"strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.01"}}),
    );
    Running::start(root, app(), commands).await
}

#[tokio::test]
async fn http_routes_params_methods_and_outputs_follow_the_host() {
    let running = start().await;
    let request = Request::post("/api/items/42?tag=a&tag=b")
        .header("host", "127.0.0.1:7071")
        .header("x-greeting", "hi")
        .body(Body::from("payload"))
        .unwrap();
    let (status, headers, body) = running.call(request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["x-item"], "42");
    assert_eq!(headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["id"], "42");
    assert_eq!(body["greeting"], "hi");
    assert_eq!(body["body"], "payload");
    let not_an_int = Request::get("/api/items/forty-two")
        .body(Body::empty())
        .unwrap();
    assert_eq!(running.call(not_an_int).await.0, StatusCode::NOT_FOUND);
    let wrong_method = Request::delete("/api/items/42")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = running.call(wrong_method).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, POST");
    let crashed = Request::get("/api/boom").body(Body::empty()).unwrap();
    let (status, _, body) = running.call(crashed).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.is_empty(), "the host answers a bare 500: {body}");
    running.stop().await;
}

#[tokio::test]
async fn event_hub_batches_carry_the_metadata_arrays_of_their_partition() {
    let running = start().await;
    let hubs = running.platform.invoker.sinks().hubs.clone();
    let events = (0..3)
        .map(|n| OutgoingEvent {
            body: json!({"n": n}).to_string(),
            partition_key: Some("user-7".to_owned()),
            properties: Map::from_iter([("source".to_owned(), json!("test"))]),
        })
        .collect();
    let placed = hubs.send("updates", events).await.unwrap();
    let partition = placed[0].0;
    assert!(placed.iter().all(|(p, _)| *p == partition));
    assert_eq!(
        placed.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let seen = eventually(|| async {
        let batches = BATCHES.lock().unwrap();
        let count: usize = batches.iter().map(|(_, b)| b.events.len()).sum();
        (count >= 3).then(|| batches.clone())
    })
    .await;
    let events: Vec<_> = seen.iter().flat_map(|(_, b)| b.events.clone()).collect();
    assert_eq!(events.len(), 3);
    for (n, event) in events.iter().enumerate() {
        assert_eq!(event.sequence_number, Some(n as i64));
        assert_eq!(event.partition_key.as_deref(), Some("user-7"));
        assert_eq!(
            event.partition_id.as_deref(),
            Some(partition.to_string().as_str())
        );
        assert_eq!(event.properties["source"], "test");
        assert_eq!(event.json::<Value>().unwrap(), json!({"n": n}));
        assert!(event.enqueued_time.is_some());
    }
    let offsets: Vec<i64> = events
        .iter()
        .map(|e| e.offset.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    let (metadata, batch) = &seen[0];
    assert_eq!(batch.partition.event_hub_name.as_deref(), Some("updates"));
    assert_eq!(batch.partition.consumer_group.as_deref(), Some("$Default"));
    for name in [
        "PartitionKeyArray",
        "OffsetArray",
        "SequenceNumberArray",
        "EnqueuedTimeUtcArray",
        "PropertiesArray",
        "SystemPropertiesArray",
    ] {
        assert!(
            metadata[name].is_string(),
            "{name} must be JSON text: {metadata:?}"
        );
    }
    assert!(metadata["PartitionContext"].is_object());
    assert_eq!(metadata["sys"]["MethodName"], "Processor");
    running.stop().await;
}

#[tokio::test]
async fn event_hub_failures_retry_then_dead_letter_then_replay() {
    let running = start().await;
    let platform = running.platform.clone();
    let hubs = platform.invoker.sinks().hubs.clone();
    let one = |body: &str| OutgoingEvent {
        body: body.to_owned(),
        partition_key: Some("k".to_owned()),
        properties: Map::new(),
    };
    hubs.send("flaky", vec![one("first")]).await.unwrap();
    let letter =
        eventually(|| async { platform.dead_letters.list().unwrap().into_iter().next() }).await;
    assert_eq!(letter.source, "flaky");
    assert_eq!(letter.function, "Flaky");
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.payload[0]["body"], "first");
    let retries: Vec<Option<i64>> = FLAKY_ATTEMPTS.lock().unwrap().iter().map(|a| a.0).collect();
    assert_eq!(retries, [Some(0), Some(1), Some(2)]);
    // The checkpoint moved past the dead-lettered batch: the next event is processed.
    FAIL.store(false, Ordering::SeqCst);
    hubs.send("flaky", vec![one("second")]).await.unwrap();
    eventually(|| async {
        let attempts = FLAKY_ATTEMPTS.lock().unwrap();
        attempts.iter().any(|a| a.1 == ["second"]).then_some(())
    })
    .await;
    assert!(
        !FLAKY_ATTEMPTS.lock().unwrap()[3..]
            .iter()
            .any(|a| a.1 == ["first"]),
        "a dead-lettered batch must not be redelivered by itself"
    );
    cosmospark::devhost::replay::replay(&letter.id, &platform.invoker, &platform.dead_letters)
        .await
        .unwrap();
    eventually(|| async {
        let attempts = FLAKY_ATTEMPTS.lock().unwrap();
        attempts[3..].iter().any(|a| a.1 == ["first"]).then_some(())
    })
    .await;
    assert!(platform.dead_letters.list().unwrap().is_empty());
    running.stop().await;
}

#[tokio::test]
async fn change_feed_batches_retry_then_dead_letter_and_the_lease_moves_on() {
    let running = start().await;
    let platform = running.platform.clone();
    let write = |doc: Value| {
        let store = platform.store.clone();
        async move {
            let id = doc["id"].as_str().unwrap().to_owned();
            store
                .upsert("Commands", &PartitionKey::from(id.as_str()), doc)
                .await
                .unwrap();
        }
    };
    write(json!({"id": "cmd-poison", "poison": true})).await;
    let letter = eventually(|| async { dead_letter_of(&platform, "Feed") }).await;
    assert_eq!(letter.source, "Commands");
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.payload[0]["id"], "cmd-poison");
    let retries: Vec<Option<i64>> = FEED_SEEN.lock().unwrap().iter().map(|s| s.0).collect();
    assert_eq!(retries, [Some(0), Some(1), Some(2)]);
    // The lease moved past the dead-lettered batch: the next write is delivered, once.
    write(json!({"id": "cmd-good"})).await;
    eventually(|| async {
        FEED_SEEN
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.1 == ["cmd-good"])
            .then_some(())
    })
    .await;
    assert!(
        !FEED_SEEN.lock().unwrap()[3..]
            .iter()
            .any(|s| s.1.contains(&"cmd-poison".to_owned()))
    );
    // After the fix, the replay hands the batch to the function again.
    FEED_HEALED.store(true, Ordering::SeqCst);
    cosmospark::devhost::replay::replay(&letter.id, &platform.invoker, &platform.dead_letters)
        .await
        .unwrap();
    assert!(
        FEED_SEEN.lock().unwrap()[3..]
            .iter()
            .any(|s| s.1 == ["cmd-poison"])
    );
    assert!(dead_letter_of(&platform, "Feed").is_none());
    running.stop().await;
}

#[tokio::test]
async fn a_poison_document_is_dead_lettered_alone_and_the_rest_of_its_batch_is_processed() {
    let mut docs: Vec<Value> = (1..=6).map(|n| json!({"id": format!("iso-{n}")})).collect();
    docs[3]["poison"] = json!(true);
    let running = start_with(docs.clone()).await;
    let platform = running.platform.clone();
    let letter = lone_dead_letter(&platform, "IsolatedFeed").await;
    assert_eq!(letter.payload[0]["id"], "iso-4");
    assert_eq!(letter.attempts, 3, "the policy's retries, alone");
    assert!(
        letter.reason.contains("cannot handle this document"),
        "{letter:?}"
    );
    let processed: Vec<String> = ISOLATED_SEEN
        .lock()
        .unwrap()
        .iter()
        .filter(|(ok, _)| *ok)
        .flat_map(|(_, ids)| ids.clone())
        .collect();
    assert_eq!(
        processed,
        ["iso-1", "iso-2", "iso-3", "iso-5", "iso-6"],
        "every other document of the batch exactly once"
    );
    // The lease moved on: a later write is processed, the poison one is not seen again.
    platform
        .store
        .upsert(
            "Commands",
            &PartitionKey::from("iso-7"),
            json!({"id": "iso-7"}),
        )
        .await
        .unwrap();
    eventually(|| async {
        let seen = ISOLATED_SEEN.lock().unwrap();
        seen.iter()
            .any(|(ok, ids)| *ok && ids == &["iso-7"])
            .then_some(())
    })
    .await;
    let letters = platform.dead_letters.list().unwrap();
    assert_eq!(
        letters
            .iter()
            .filter(|l| l.function == "IsolatedFeed")
            .count(),
        1
    );
    running.stop().await;
}

#[tokio::test]
async fn a_poison_hub_event_is_dead_lettered_alone_and_one_of_two_concurrent_replays_sends_it() {
    let running = start().await;
    let platform = running.platform.clone();
    let hubs = platform.invoker.sinks().hubs.clone();
    let event = |body: &str| OutgoingEvent {
        body: body.to_owned(),
        partition_key: Some("same".to_owned()),
        properties: Map::new(),
    };
    let bodies = ["a", "b", "poison", "c", "d"];
    hubs.send("picky", bodies.iter().map(|b| event(b)).collect())
        .await
        .unwrap();
    let letter = lone_dead_letter(&platform, "Picky").await;
    assert_eq!(letter.payload[0]["body"], "poison");
    assert_eq!(letter.attempts, 2);
    let processed: Vec<String> = PICKY_SEEN
        .lock()
        .unwrap()
        .iter()
        .filter(|(ok, _)| *ok)
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert_eq!(processed, ["a", "b", "c", "d"]);

    PICKY_HEALED.store(true, Ordering::SeqCst);
    let replay = || {
        cosmospark::devhost::replay::replay(&letter.id, &platform.invoker, &platform.dead_letters)
    };
    let (first, second) = tokio::join!(replay(), replay());
    let outcomes = [first.is_ok(), second.is_ok()];
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "exactly one replay sends it: {first:?} {second:?}"
    );
    let refused = if first.is_ok() { second } else { first };
    assert!(
        matches!(
            refused,
            Err(cosmospark::devhost::replay::ReplayError::DeadLetter(
                cosmospark::devhost::dead_letter::DeadLetterError::Busy(_)
                    | cosmospark::devhost::dead_letter::DeadLetterError::NotFound(_)
            ))
        ),
        "{refused:?}"
    );
    eventually(|| async {
        let seen = PICKY_SEEN.lock().unwrap();
        seen.iter()
            .any(|(ok, b)| *ok && b == &["poison"])
            .then_some(())
    })
    .await;
    // A later replay of the same id finds nothing to send.
    assert!(replay().await.is_err());
    let sent_again = PICKY_SEEN
        .lock()
        .unwrap()
        .iter()
        .filter(|(ok, b)| *ok && b.contains(&"poison".to_owned()))
        .count();
    assert_eq!(sent_again, 1, "re-sent once");
    assert!(dead_letter_of(&platform, "Picky").is_none());
    running.stop().await;
}

#[tokio::test]
async fn dead_letters_stay_listable_when_one_entry_is_corrupt() {
    let running = start().await;
    let platform = &running.platform;
    let letter = platform
        .dead_letters
        .write(Failed {
            kind: DeadLetterKind::EventHubs,
            source: "flaky",
            function: "Flaky",
            reason: "boom",
            attempts: 1,
            payload: json!([{"body": "x"}]),
        })
        .unwrap();
    let folder = platform.data_dir.join("deadletter/eventhubs/flaky");
    std::fs::write(
        folder.join("eventhubs-torn.json"),
        b"{\"id\": \"eventhubs-to",
    )
    .unwrap();
    let (status, _, body) = running
        .call(
            Request::get("/_devhost/deadletters")
                .header("x-ms-client-principal", support::admin_principal())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.len(), 2, "{body}");
    assert_eq!(listed[0]["id"], letter.id.as_str());
    assert_eq!(listed[1]["id"], "eventhubs-torn");
    assert!(
        listed[1]["corrupt"]
            .as_str()
            .unwrap()
            .contains("not a dead letter"),
        "{body}"
    );
    let (status, _, body) = running
        .call(
            Request::post("/_devhost/deadletters/eventhubs-torn/replay")
                .header("x-ms-client-principal", support::admin_principal())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _, _) = running
        .call(
            Request::post("/_devhost/deadletters/no-such-letter/replay")
                .header("x-ms-client-principal", support::admin_principal())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    running.stop().await;
}

/// What Static Web Apps forwards (and what `dev` accepts from a local client).
fn principal(user: &str) -> String {
    use base64::Engine as _;
    let json = json!({"identityProvider": "github", "userId": user, "userDetails": user,
                      "userRoles": ["anonymous", "authenticated"]});
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

#[tokio::test]
async fn web_pubsub_connection_input_signs_a_token_for_the_caller() {
    let running = start().await;
    let request = Request::get("/api/negotiate")
        .header("host", "127.0.0.1:7071")
        .header("x-ms-client-principal", principal("user-42"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = running.call(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        info["baseUrl"],
        "ws://127.0.0.1:7071/client/hubs/CosmosPark"
    );
    let token = info["accessToken"].as_str().unwrap();
    assert_eq!(
        info["url"],
        format!("ws://127.0.0.1:7071/client/hubs/CosmosPark?access_token={token}")
    );
    let key = running.platform.pubsub.key().clone();
    let identity = cosmospark::devhost::webpubsub::token::verify(
        &key,
        "http://127.0.0.1:7071/client/hubs/CosmosPark",
        token,
        true,
    )
    .unwrap();
    assert_eq!(identity.user_id.as_deref(), Some("user-42"));
    running.stop().await;
}

#[tokio::test]
async fn cosmos_db_input_reads_the_document_named_by_the_route() {
    let running = start().await;
    running
        .platform
        .store
        .upsert(
            "Commands",
            &PartitionKey::from("c-1"),
            json!({"id": "c-1", "Data": "x"}),
        )
        .await
        .unwrap();
    let request = Request::get("/api/commands/c-1")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = running.call(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["id"], "c-1");
    assert_eq!(doc["Data"], "x");
    let missing = Request::get("/api/commands/c-2")
        .body(Body::empty())
        .unwrap();
    assert_eq!(running.call(missing).await.0, StatusCode::NOT_FOUND);
    running.stop().await;
}

/// The dead letter of `function`, if it has one.
fn dead_letter_of(
    platform: &cosmospark::devhost::server::Platform,
    function: &str,
) -> Option<cosmospark::devhost::dead_letter::DeadLetter> {
    platform
        .dead_letters
        .list()
        .unwrap()
        .into_iter()
        .find(|l| l.function == function)
}

/// The dead letter of `function` once it appears; it holds one event, alone.
async fn lone_dead_letter(
    platform: &cosmospark::devhost::server::Platform,
    function: &str,
) -> cosmospark::devhost::dead_letter::DeadLetter {
    let letter = eventually(|| async { dead_letter_of(platform, function) }).await;
    assert_eq!(
        letter.payload.as_array().map(Vec::len),
        Some(1),
        "{letter:?}"
    );
    letter
}
