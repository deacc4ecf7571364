//! The read side's functions driven through `FunctionApp::router()` exactly as the host drives
//! them: change-feed envelopes to the relays, Event Hubs batches (built on the recorded
//! many-string fixture) to `UpdateProcessor`, and HTTP to the queries and the seed API.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use cosmospark::app::services::Settings;
use cosmospark::app::{AppServices, function_app};
use cosmospark::runtime::InvocationResponse;
use cosmospark::store::{ChangeFeedRequest, ChangeFeedStart, PartitionKey, Query, Store};
use serde_json::{Value, json};
use support::cqrs::*;
use tower::ServiceExt;

struct App {
    router: axum::Router,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn app() -> App {
    let (store, dir) = store().await;
    let now = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
    let services = AppServices::with_store(store.clone(), Settings::default())
        .unwrap()
        .with_clock(Arc::new(move || now));
    let router = function_app(services).unwrap().router();
    App {
        router,
        store,
        _dir: dir,
    }
}

fn principal(user: &str) -> String {
    let json = json!({"identityProvider": "github", "userId": user, "userDetails": user,
        "userRoles": ["anonymous", "authenticated"]});
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
}

impl App {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
        }
    }

    async fn get(&self, uri: &str, user: Option<&str>) -> Reply {
        let mut request = Request::get(uri);
        if let Some(user) = user {
            request = request.header("x-ms-client-principal", principal(user));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn insert(&self, body: &str, user: Option<&str>, key: Option<&str>) -> Reply {
        let mut request =
            Request::post("/api/command/insert").header("content-type", "application/json");
        if let Some(user) = user {
            request = request.header("x-ms-client-principal", principal(user));
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    /// Invokes a non-HTTP function with a host envelope; returns the parsed response envelope.
    async fn invoke(&self, function: &str, envelope: Value) -> InvocationResponse {
        let request = Request::post(format!("/{function}"))
            .header("content-type", "application/json")
            .body(Body::from(envelope.to_string()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{function} failed");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        InvocationResponse::from_slice(&bytes).unwrap()
    }

    /// The relay for `container` over every change in it, as the Cosmos DB v4 trigger sends it
    /// (documents double-encoded); returns the published event bodies.
    async fn relay(&self, function: &str, container: &str) -> Vec<String> {
        let page = self
            .store
            .read_change_feed(
                container,
                &ChangeFeedRequest::new(ChangeFeedStart::Beginning),
            )
            .await
            .unwrap();
        let documents = Value::String(Value::Array(page.items).to_string()).to_string();
        let envelope = json!({"Data": {"documents": documents}, "Metadata": {"sys": {"MethodName": function}}});
        let response = self.invoke(function, envelope).await;
        response
            .output("events")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    /// Delivers `bodies` to `UpdateProcessor` as one Event Hubs batch.
    async fn process(&self, bodies: &[String], first_sequence: i64) -> InvocationResponse {
        self.invoke("UpdateProcessor", eventhub_envelope(bodies, first_sequence))
            .await
    }
}

/// An Event Hubs `cardinality: many`, `dataType: string` envelope on the recorded fixture.
fn eventhub_envelope(bodies: &[String], first_sequence: i64) -> Value {
    let mut envelope = support::fixture("eventhub-trigger.many-string.DERIVED.request.json");
    let n = bodies.len();
    let sequences: Vec<i64> = (0..n as i64).map(|i| first_sequence + i).collect();
    let encode = |v: Value| Value::String(v.to_string());
    envelope["Data"]["events"] = encode(json!(bodies));
    let metadata = &mut envelope["Metadata"];
    metadata["PartitionContext"]["EventHubName"] = json!("cosmospark-events");
    metadata["PartitionContext"]["ConsumerGroup"] = json!("update-processor");
    metadata["PartitionKeyArray"] = encode(json!(vec![Value::Null; n]));
    metadata["OffsetArray"] = encode(json!(
        sequences
            .iter()
            .map(|s| (s * 200).to_string())
            .collect::<Vec<_>>()
    ));
    metadata["SequenceNumberArray"] = encode(json!(sequences));
    metadata["EnqueuedTimeUtcArray"] = encode(json!(vec!["2026-11-24T12:00:00.25"; n]));
    metadata["PropertiesArray"] = encode(json!(vec![json!({}); n]));
    metadata["SystemPropertiesArray"] = encode(json!(
        sequences
            .iter()
            .map(|s| json!({"SequenceNumber": s, "Offset": s * 200, "PartitionKey": null}))
            .collect::<Vec<_>>()
    ));
    envelope
}

#[tokio::test]
async fn cqrs_seed_api_insert_relay_process_query() {
    let app = app().await;
    // Sign-in and body validation.
    assert_eq!(
        app.insert(r#"{"Data":"x"}"#, None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    for (body, field) in [
        ("", "body"),
        ("not json", "body"),
        ("[1]", "body"),
        ("{}", "Data"),
        (r#"{"Data":null}"#, "Data"),
        (r#"{"Data":"  "}"#, "Data"),
    ] {
        let reply = app.insert(body, Some("ann"), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.json["field"], field, "{body}: {}", reply.json);
    }
    let bad_key = app.insert(r#"{"Data":1}"#, Some("ann"), Some(" ")).await;
    assert_eq!(bad_key.json["field"], "Idempotency-Key");

    // 202 + Location; a retry with the same key answers the same id without a second write.
    let first = app
        .insert(r#"{"Data":{"note":"hello"}}"#, Some("ann"), Some("key-1"))
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let id = first.json["id"].as_str().unwrap().to_owned();
    let location = format!("/api/query/get?id={id}");
    assert_eq!(first.headers["location"], location.as_str());
    let retry = app
        .insert(r#"{"Data":{"note":"hello"}}"#, Some("ann"), Some("key-1"))
        .await;
    assert_eq!(
        (retry.status, retry.json["id"].as_str()),
        (StatusCode::ACCEPTED, Some(id.as_str()))
    );
    let reuse = app
        .insert(r#"{"Data":{"note":"other"}}"#, Some("ann"), Some("key-1"))
        .await;
    assert_eq!(reuse.status, StatusCode::CONFLICT);
    let other = app
        .insert(r#"{"data":"lower-case key"}"#, Some("ann"), None)
        .await;
    assert_eq!(other.status, StatusCode::ACCEPTED);
    let commands = app
        .store
        .query("Commands", None, &Query::new())
        .await
        .unwrap();
    assert_eq!(commands.len(), 2, "one write per distinct command");

    // Not projected yet: 404 with a JSON body saying so; bad ids are 400.
    let pending = app.get(&location, Some("ann")).await;
    assert_eq!(pending.status, StatusCode::NOT_FOUND);
    assert_eq!(pending.json["status"], "pending");
    assert_eq!(
        app.get("/api/query/get", Some("ann")).await.json["field"],
        "id"
    );
    assert_eq!(
        app.get("/api/query/get?id=a%2Fb", Some("ann")).await.json["field"],
        "id"
    );
    assert_eq!(
        app.get(&location, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Change feed → relay → Event Hubs batch → UpdateProcessor → read model.
    let events = app.relay("CommandsToEventHub", "Commands").await;
    assert_eq!(events.len(), 2);
    let event: Value = serde_json::from_str(&events[0]).unwrap();
    for field in [
        "id",
        "type",
        "subject",
        "time",
        "dataVersion",
        "aggregateId",
        "version",
        "partitionKey",
        "data",
    ] {
        assert!(event.get(field).is_some(), "event lacks `{field}`: {event}");
    }
    assert_eq!(event["partitionKey"], "ann");
    app.process(&events, 10).await;
    app.process(&events, 10).await; // redelivery changes nothing
    let record = app.get(&location, Some("ann")).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.json);
    assert_eq!(record.json["data"], json!({"note": "hello"}));
    assert!(record.json["version"].as_u64().unwrap() > 0);
    assert_eq!(
        app.get(&location, Some("bob")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn cqrs_processor_dead_letters_poison_and_pushes_scores_then_queries_read_models() {
    let app = app().await;
    let good = [
        event_text(
            "CosmicLeaderboards",
            &award("task-1", "ann", 6, NOW - 2 * DAY, 1),
        ),
        event_text(
            "CosmicLeaderboards",
            &award("task-2", "bob", 4, NOW - 20 * DAY, 2),
        ),
        event_text(
            "CosmicLeaderboards",
            &award("task-3", "cy", 4, NOW - 60 * DAY, 3),
        ),
        event_text("CosmicUsers", &user("ann", Some("FR"), 4)),
        event_text("CosmicChats", &message("m1", "ann", "bob", NOW, 5)),
        event_text("CosmicUserTasks", &task("t1", "ann", "bob", "JP", NOW, 6)),
    ];
    let mut unknown: Value = serde_json::from_str(&good[0]).unwrap();
    unknown["type"] = json!("CosmosPark.Nope");
    let mut invalid: Value = serde_json::from_str(&good[1]).unwrap();
    invalid["data"]["score"] = json!("many");
    let mut batch = good.to_vec();
    batch.insert(1, "plain text".to_owned());
    batch.insert(3, unknown.to_string());
    batch.push(invalid.to_string());

    let response = app.process(&batch, 100).await;
    let dead = app
        .store
        .query("ReadModelDeadLetters", None, &Query::new())
        .await
        .unwrap();
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|d| d["reason"].as_str().unwrap().to_owned())
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("not a domain event")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("CosmosPark.Nope")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("`data`")), "{reasons:?}");

    // One ScoreUpdatedEvent per awarded user, with the total and the rank.
    let pushes = response.output("pubsub").and_then(Value::as_array).unwrap();
    let messages: Vec<Value> = pushes
        .iter()
        .map(|p| {
            assert_eq!(p["actionName"], "sendToAll");
            serde_json::from_str(p["data"].as_str().unwrap()).unwrap()
        })
        .collect();
    let ann = messages.iter().find(|m| m["userId"] == "ann").unwrap();
    assert_eq!(ann["type"], "ScoreUpdatedEvent");
    assert_eq!(
        (ann["score"].as_i64(), ann["rank"].as_u64()),
        (Some(6), Some(1))
    );
    let bob = messages.iter().find(|m| m["userId"] == "bob").unwrap();
    assert_eq!(bob["rank"], 2);

    // Leaderboards: windows at query time, competition ranks with ties.
    let all = app.get("/api/leaderboards?window=all&top=10", None).await;
    assert_eq!(all.status, StatusCode::OK);
    let rows: Vec<(u64, String, i64)> = all.json["standings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rank"].as_u64().unwrap(),
                r["userId"].as_str().unwrap().to_owned(),
                r["score"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, "ann".into(), 6),
            (2, "bob".into(), 4),
            (2, "cy".into(), 4)
        ]
    );
    // `top` caps the rows; the tie at the cut goes by user id and keeps its shared rank.
    let two = app.get("/api/leaderboards?window=all&top=2", None).await;
    let two: Vec<(u64, &str)> = two.json["standings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["rank"].as_u64().unwrap(), r["userId"].as_str().unwrap()))
        .collect();
    assert_eq!(two, [(1, "ann"), (2, "bob")]);
    let week = app.get("/api/leaderboards?window=7d&top=1", None).await;
    assert_eq!(week.json["standings"][0]["userId"], "ann");
    assert_eq!(week.json["standings"].as_array().unwrap().len(), 1);
    let month = app.get("/api/leaderboards?window=30d", None).await;
    assert_eq!(month.json["standings"][1]["score"], 4);
    assert_eq!(month.json["standings"][2]["score"], 0);
    for (uri, field) in [
        ("/api/leaderboards?window=week", "window"),
        ("/api/leaderboards?top=0", "top"),
        ("/api/leaderboards?top=ten", "top"),
    ] {
        let reply = app.get(uri, None).await;
        assert_eq!(
            (reply.status, reply.json["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{uri}"
        );
    }

    // Per-user stats and users by country.
    assert_eq!(
        app.get("/api/stats/ann", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let stats = app.get("/api/stats/ann", Some("bob")).await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(stats.json["score"], 6);
    assert_eq!(stats.json["rank"], 1);
    assert_eq!(stats.json["messagesSent"], 1);
    assert_eq!(stats.json["tasksCompleted"], 1);
    assert_eq!(stats.json["countries"], json!(["JP"]));
    assert_eq!(stats.json["userName"], "ANN");
    let bob_stats = app.get("/api/stats/bob", Some("bob")).await;
    assert_eq!(bob_stats.json["messagesReceived"], 1);
    assert_eq!(
        app.get("/api/stats/a%20b", Some("bob")).await.json["field"],
        "userId"
    );
    let france = app.get("/api/countries/FR/users", Some("bob")).await;
    assert_eq!(
        france.json["users"],
        json!([{"userId": "ann", "userName": "ANN"}])
    );
    assert_eq!(
        app.get("/api/countries/XX1/users", Some("bob")).await.json["field"],
        "code"
    );
}

fn admin_principal(user: &str) -> String {
    let json = json!({"identityProvider": "github", "userId": user, "userDetails": user,
        "userRoles": ["anonymous", "authenticated", "admin"]});
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

#[tokio::test]
async fn cqrs_admin_rebuild_serves_the_write_side_and_guards_its_route() {
    let app = app().await;
    let doc = award("task-9", "dee", 6, NOW - DAY, 1);
    app.store
        .upsert("CosmicLeaderboards", &PartitionKey::from("dee"), doc)
        .await
        .unwrap();
    let post = |principal: Option<String>, model: &str| {
        let mut request = Request::post(format!("/api/manage/rebuild/{model}"));
        if let Some(principal) = principal {
            request = request.header("x-ms-client-principal", principal);
        }
        request.body(Body::empty()).unwrap()
    };
    assert_eq!(
        app.send(post(None, "leaderboard")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.send(post(Some(principal("dee")), "leaderboard"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let bad = app.send(post(Some(admin_principal("root")), "nope")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json["field"], "model", "{}", bad.json);
    // Nothing was projected incrementally: only the rebuild puts the award on the board.
    let before = app.get("/api/leaderboards?window=all", None).await;
    assert!(!before.json.to_string().contains("dee"), "{}", before.json);
    let accepted = app
        .send(post(Some(admin_principal("root")), "leaderboard"))
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.json);
    let location = accepted.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/api/manage/rebuild/leaderboard");
    let job = app.wait_for_job(&location).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["reports"][0]["model"], "leaderboard");
    let board = app.get("/api/leaderboards?window=all", None).await;
    assert_eq!(board.status, StatusCode::OK);
    let rows = board.json.to_string();
    assert!(rows.contains("dee"), "{rows}");
}

#[tokio::test]
async fn cqrs_processor_sets_aside_only_the_event_a_corrupt_read_model_blocks() {
    use cosmospark::app::cqrs::layout::{READ_MODELS, partition, stored};
    use cosmospark::app::cqrs::model::Model;
    let app = app().await;
    // Ann's leaderboard document cannot be read: every event touching it fails on its data.
    let pk = partition(Model::Leaderboard, 1, "ann");
    let broken = stored(
        Model::Leaderboard,
        1,
        &pk,
        "ann",
        json!({"userId": 5, "userName": 5, "entries": "broken", "score": "broken"}),
    );
    app.store
        .upsert(READ_MODELS, &PartitionKey::from(pk.as_str()), broken)
        .await
        .unwrap();
    let batch = [
        event_text("CosmicLeaderboards", &award("task-1", "ann", 6, NOW, 1)),
        event_text("CosmicLeaderboards", &award("task-2", "bob", 4, NOW, 2)),
        event_text("CosmicLeaderboards", &award("task-3", "cy", 2, NOW, 3)),
    ];
    // The invocation succeeds (the host would otherwise retry, then lose, the whole batch).
    app.invoke("UpdateProcessor", platform_envelope(&batch, 500))
        .await;
    let dead = app
        .store
        .query("ReadModelDeadLetters", None, &Query::new())
        .await
        .unwrap();
    assert_eq!(
        dead.len(),
        1,
        "only the blocked event is set aside: {dead:?}"
    );
    assert_eq!(dead[0]["body"], batch[0].as_str());
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("not readable"),
        "{}",
        dead[0]
    );
    assert_eq!(dead[0]["eventHub"], "cosmospark-events");
    assert_eq!(dead[0]["function"], "UpdateProcessor");
    for user in ["bob", "cy"] {
        let pk = partition(Model::Leaderboard, 1, user);
        let doc = app
            .store
            .read(READ_MODELS, &PartitionKey::from(pk.as_str()), user)
            .await
            .unwrap();
        assert!(doc.is_some(), "{user}'s award was projected");
    }
    // Delivered again (the host redelivers after a crash), it is still one entry.
    app.invoke("UpdateProcessor", platform_envelope(&batch, 900))
        .await;
    let again = app
        .store
        .query("ReadModelDeadLetters", None, &Query::new())
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
}

/// The envelope the local platform builds for a `cardinality: many`, `dataType: string` batch.
fn platform_envelope(bodies: &[String], first_sequence: i64) -> Value {
    use cosmospark::devhost::envelope::{HubEvent, HubPartition, event_hubs_many};
    let partition = HubPartition {
        namespace: "localhost".into(),
        hub: "cosmospark-events".into(),
        consumer_group: "update-processor".into(),
        partition_id: "2".into(),
    };
    let events: Vec<HubEvent> = bodies
        .iter()
        .zip(first_sequence..)
        .map(|(body, sequence)| HubEvent {
            body: body.clone(),
            partition_key: None,
            sequence_number: sequence,
            offset: sequence * 200,
            enqueued_time: chrono::Utc::now(),
            properties: serde_json::Map::new(),
        })
        .collect();
    event_hubs_many(
        "UpdateProcessor",
        "events",
        Some("string"),
        &partition,
        &events,
    )
    .to_json()
}

impl App {
    async fn admin_get(&self, uri: &str) -> Reply {
        let request = Request::get(uri)
            .header("x-ms-client-principal", admin_principal("root"))
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    /// Polls the job's status until it is no longer running (bounded against a hang only).
    async fn wait_for_job(&self, location: &str) -> Value {
        for _ in 0..3_000 {
            let status = self.admin_get(location).await;
            assert_eq!(status.status, StatusCode::OK, "{}", status.json);
            if status.json["job"]["state"] != "running" {
                return status.json["job"].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the rebuild job never finished");
    }

    async fn put_meta(&self, doc: Value) {
        self.store
            .upsert("ReadModels", &PartitionKey::from("meta"), doc)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn rebuild_job_answers_409_while_one_runs_and_cleans_up_one_that_died() {
    let app = app().await;
    let uri = "/api/manage/rebuild/stats";
    let post = || {
        Request::post(uri)
            .header("x-ms-client-principal", admin_principal("root"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(app.admin_get(uri).await.status, StatusCode::NOT_FOUND);
    // Another process is running a rebuild of `stats` into generation 7.
    let now = chrono::Utc::now();
    let job = |beat: chrono::DateTime<chrono::Utc>| {
        json!({"id": "rebuild-job", "partitionKey": "meta", "jobId": "other", "target": "stats",
            "state": "running", "startedAt": beat, "heartbeatAt": beat, "reports": []})
    };
    let pointer = |beat: chrono::DateTime<chrono::Utc>| {
        json!({"id": "pointer", "partitionKey": "meta",
            "models": {"stats": {"active": 1, "building": 7, "heartbeat": beat}}})
    };
    app.put_meta(job(now)).await;
    app.put_meta(pointer(now)).await;
    app.store
        .upsert(
            "ReadModels",
            &PartitionKey::from("stats|g7|0"),
            json!({"id": "half", "partitionKey": "stats|g7|0", "model": "stats", "gen": 7}),
        )
        .await
        .unwrap();
    let refused = app.send(post()).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.json);
    assert_eq!(refused.json["job"]["jobId"], "other");
    assert_eq!(refused.headers["location"], uri);

    // That process died: its heartbeat is old. The status says so and the half-built
    // generation is gone.
    let old = now - chrono::Duration::minutes(5);
    app.put_meta(job(old)).await;
    app.put_meta(pointer(old)).await;
    let status = app.admin_get(uri).await;
    assert_eq!(status.json["job"]["state"], "failed", "{}", status.json);
    assert!(
        status.json["job"]["error"]
            .as_str()
            .unwrap()
            .contains("stopped"),
        "{}",
        status.json
    );
    let half = app
        .store
        .read("ReadModels", &PartitionKey::from("stats|g7|0"), "half")
        .await
        .unwrap();
    assert_eq!(half, None);

    // A new job runs to the end.
    let accepted = app.send(post()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.json);
    let done = app.wait_for_job(uri).await;
    assert_eq!(done["state"], "succeeded", "{done}");
}
