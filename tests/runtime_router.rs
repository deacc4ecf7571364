//! In-process tests of `FunctionApp::router()` (driven with `oneshot`, as the local platform
//! does) for every trigger kind and the error contract.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query};
use axum::http::{Request, StatusCode};
use cosmospark::runtime::outputs::{EventHubEvents, Outputs};
use cosmospark::runtime::triggers::{
    EventGridEvent, EventHubBatch, TimerInfo, WebPubSubConnectionInfo,
};
use cosmospark::runtime::{
    ClientPrincipal, Context, Function, FunctionApp, FunctionError, InvocationResponse,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tower::ServiceExt;

mod support;

use support::fixture;

async fn echo(
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Json<Value> {
    Json(
        json!({ "id": id, "query": query, "body": String::from_utf8_lossy(&body), "len": body.len() }),
    )
}

async fn trace(axum::Extension(context): axum::Extension<Context>) -> Json<Value> {
    Json(
        json!({ "invocationId": context.invocation_id, "traceparent": context.traceparent,
                 "function": context.function_name }),
    )
}

async fn negotiate(axum::Extension(context): axum::Extension<Context>) -> Json<Value> {
    let connection: WebPubSubConnectionInfo = match context.input("connection") {
        Ok(connection) => connection,
        Err(error) => return Json(json!({ "error": error.to_string() })),
    };
    Json(json!({ "url": connection.url, "baseUrl": connection.base_url }))
}

async fn me(principal: ClientPrincipal) -> Json<Value> {
    Json(json!({ "userId": principal.user_id }))
}

async fn accept(body: Bytes) -> (StatusCode, Outputs, Json<Value>) {
    let events = EventHubEvents(vec![json!({ "raw": String::from_utf8_lossy(&body) })]);
    (
        StatusCode::ACCEPTED,
        Outputs::new().set("outEvents", events),
        Json(json!({ "accepted": 1 })),
    )
}

fn app() -> FunctionApp {
    let batch = |batch: EventHubBatch, _: Context| async move {
        let events: Vec<Value> = batch
            .events
            .iter()
            .map(|event| json!({ "seq": event.sequence_number, "offset": event.offset, "key": event.partition_key,
                                 "partition": event.partition_id, "body": event.body,
                                 "enqueued": event.enqueued_time.map(|t| t.timestamp()) }))
            .collect();
        Ok::<_, FunctionError>(Outputs::new().with_return(json!(events)))
    };
    let cloud = |event: EventGridEvent, _: Context| async move {
        let kind = if matches!(event, EventGridEvent::CloudEvent(_)) {
            "cloud"
        } else {
            "eventgrid"
        };
        Ok::<_, FunctionError>(Outputs::new().with_return(
            json!({ "schema": kind, "type": event.event_type(), "data": event.data() }),
        ))
    };
    let logs = |_: TimerInfo, _: Context| async move {
        tracing::info!(answer = 42, "hello from the handler");
        Ok::<_, FunctionError>(Outputs::new().log("explicit line"))
    };
    let fails = |_: TimerInfo, _: Context| async move {
        Err::<Outputs, _>(FunctionError::msg("database unavailable"))
    };
    let panics = |_: TimerInfo, _: Context| async move {
        let empty: Vec<u8> = Vec::new();
        let index = empty.len() + 1;
        Ok::<_, FunctionError>(Outputs::new().with_return(json!(empty[index])))
    };
    FunctionApp::new()
        .register(Function::trigger("Orders", "events", batch))
        .and_then(|app| app.register(Function::trigger("Cloud", "event", cloud)))
        .and_then(|app| app.register(Function::trigger("Logs", "timer", logs)))
        .and_then(|app| app.register(Function::trigger("Fails", "timer", fails)))
        .and_then(|app| app.register(Function::trigger("Panics", "timer", panics)))
        .and_then(|app| app.register(Function::http("Echo", &["POST", "GET"], "echo/{id}", echo)))
        .and_then(|app| app.register(Function::http("Me", &["GET"], "me", me)))
        .and_then(|app| app.register(Function::http("Trace", &["GET"], "trace", trace)))
        .and_then(|app| {
            app.register(
                Function::http("Negotiate", &["GET"], "negotiate", negotiate).binding(
                    "connection",
                    "webPubSubConnection",
                    cosmospark::runtime::Direction::In,
                ),
            )
        })
        .and_then(|app| {
            app.register(
                Function::http("Accept", &["POST"], "accept", accept)
                    .output::<EventHubEvents>("outEvents"),
            )
        })
        .expect("registry")
}

async fn post(function: &str, envelope: &Value) -> (StatusCode, Value) {
    let request = Request::post(format!("/{function}"))
        .header("content-type", "application/json")
        .header(
            "x-azure-functions-invocationid",
            "11111111-2222-3333-4444-555555555555",
        )
        .body(Body::from(envelope.to_string()))
        .expect("request");
    let response = app().router().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).expect("JSON response"),
    )
}

fn http_envelope(url: &str, method: &str, headers: Value, body: Option<&str>) -> Value {
    let mut req =
        json!({ "Url": url, "Method": method, "Query": {}, "Headers": headers, "Params": {} });
    if let Some(body) = body {
        req["Body"] = json!(body);
    }
    json!({ "Data": { "req": req }, "Metadata": {} })
}

fn res(body: &Value) -> (u16, Value) {
    let response = InvocationResponse::from_slice(body.to_string().as_bytes()).expect("envelope");
    let res = cosmospark::runtime::outputs::HttpResponseData::from_value(
        "res",
        response.output("res").expect("res"),
    )
    .expect("http output");
    let parsed = res
        .body
        .as_deref()
        .map(|text| serde_json::from_str(text).unwrap_or(json!(text)))
        .unwrap_or(Value::Null);
    (res.status_code, parsed)
}

#[tokio::test]
async fn event_hub_batches_align_metadata_by_index() {
    let mut envelope = fixture("eventhub-trigger.many-string.DERIVED.request.json");
    let (status, body) = post("Orders", &envelope).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["ReturnValue"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["seq"], 59);
    assert_eq!(events[1]["offset"], "616200");
    assert_eq!(events[1]["body"], "plain text");
    assert_eq!(events[0]["partition"], "2");
    assert_eq!(events[0]["enqueued"], 1_678_670_702);

    // The batch as a real array and metadata arrays as arrays are accepted too.
    envelope["Data"]["events"] = json!(["a", "b"]);
    envelope["Metadata"]["SequenceNumberArray"] = json!(["7", 8]);
    envelope["Metadata"]["PartitionKeyArray"] = json!(["user-1", null]);
    let (_, body) = post("Orders", &envelope).await;
    assert_eq!(body["ReturnValue"][0]["seq"], 7);
    assert_eq!(body["ReturnValue"][0]["key"], "user-1");
    assert_eq!(body["ReturnValue"][1]["seq"], 8);

    let single = fixture("eventhub-trigger.one-string.DERIVED.request.json");
    let single =
        json!({ "Data": { "events": single["Data"]["event"] }, "Metadata": single["Metadata"] });
    let (_, body) = post("Orders", &single).await;
    assert_eq!(body["ReturnValue"][0]["seq"], 59);
    assert_eq!(
        body["ReturnValue"][0]["body"],
        "{\"id\":1,\"kind\":\"OrderPlaced\"}"
    );
}

#[tokio::test]
async fn event_grid_and_cloud_events_are_told_apart() {
    let cloud = json!({ "specversion": "1.0", "id": "c1", "source": "/cosmospark", "type": "CosmosPark.Test",
                        "time": "2024-05-14T15:14:15.1234567+02:00", "data": { "x": 1 } });
    let (status, body) = post("Cloud", &json!({ "Data": { "event": cloud.to_string() } })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["ReturnValue"],
        json!({ "schema": "cloud", "type": "CosmosPark.Test", "data": { "x": 1 } })
    );

    let grid = fixture("eventgrid-trigger.eventgrid-schema.karlgw.request.json");
    let (_, body) = post("Cloud", &grid).await;
    assert_eq!(body["ReturnValue"]["schema"], "eventgrid");
    assert_eq!(body["ReturnValue"]["type"], "created");
}

#[tokio::test]
async fn http_functions_see_the_original_request() {
    let octet = fixture("http-trigger.default.octet-stream-body.azure.request.json");
    let mut req = octet["Data"]["httpPayload"].clone();
    req["Url"] = json!("https://bal-dev.azurewebsites.net/api/echo/7?color=red,green");
    let (status, body) = post("Echo", &json!({ "Data": { "req": req } })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (code, echoed) = res(&body);
    assert_eq!(code, 200);
    assert_eq!(echoed["id"], "7");
    assert_eq!(
        echoed["body"], "hello from byte arr\n",
        "octet-stream body is base64-decoded"
    );
    assert_eq!(echoed["query"]["color"], "red,green");

    // Route values come from `Params` (decoded by the host) when present.
    let mut with_params = http_envelope("http://h/API/Echo/a%20b?x=1", "GET", json!({}), None);
    with_params["Data"]["req"]["Params"] = json!({ "id": "a b" });
    let (_, body) = post("Echo", &with_params).await;
    let (_, echoed) = res(&body);
    assert_eq!(
        (echoed["id"].as_str(), echoed["query"]["x"].as_str()),
        (Some("a b"), Some("1"))
    );

    let docs = fixture("http-trigger.default.docs-order.request.json");
    let mut req = docs["Data"]["req"].clone();
    req["Url"] = json!("http://localhost:7071/api/echo/order");
    let (_, body) = post("Echo", &json!({ "Data": { "req": req } })).await;
    let (_, echoed) = res(&body);
    assert_eq!(
        echoed["body"],
        "{\"id\":1005,\"quantity\":2,\"color\":\"black\"}"
    );
}

#[tokio::test]
async fn client_errors_stay_inside_outputs() {
    let url = "http://localhost:7071/api/me";
    let (status, body) = post("Me", &http_envelope(url, "GET", json!({}), None)).await;
    assert_eq!(status, StatusCode::OK, "the invocation itself succeeds");
    let (code, error) = res(&body);
    assert_eq!(code, 401);
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("x-ms-client-principal"))
    );

    let (_, body) = post(
        "Me",
        &http_envelope(
            url,
            "GET",
            json!({ "x-ms-client-principal": ["***"] }),
            None,
        ),
    )
    .await;
    assert_eq!(res(&body).0, 400);

    let principal = ClientPrincipal {
        identity_provider: "github".into(),
        user_id: "u-42".into(),
        user_details: "octocat".into(),
        user_roles: vec!["authenticated".into()],
    };
    let headers = json!({ "X-MS-CLIENT-PRINCIPAL": [principal.encode()] });
    let (_, body) = post("Me", &http_envelope(url, "GET", headers, None)).await;
    assert_eq!(res(&body), (200, json!({ "userId": "u-42" })));

    // The host matched the route case-insensitively; the handler is reached whatever the casing.
    let (_, body) = post(
        "Me",
        &http_envelope("http://h/API/Me", "GET", json!({}), None),
    )
    .await;
    assert_eq!(res(&body).0, 401);
    let (_, body) = post("Me", &http_envelope(url, "DELETE", json!({}), None)).await;
    assert_eq!(res(&body).0, 405);
}

#[tokio::test]
async fn http_functions_write_other_outputs() {
    let envelope = http_envelope(
        "http://h/api/accept",
        "POST",
        json!({ "Content-Type": ["text/plain"] }),
        Some("hi"),
    );
    let (_, body) = post("Accept", &envelope).await;
    assert_eq!(res(&body), (202, json!({ "accepted": 1 })));
    assert_eq!(body["Outputs"]["outEvents"], json!([{ "raw": "hi" }]));
}

#[tokio::test]
async fn forwarded_requests_reach_the_same_handler() {
    let request = Request::get("/api/echo/9?x=1")
        .body(Body::empty())
        .expect("request");
    let response = app().router().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let echoed: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(echoed["id"], "9");
    assert_eq!(echoed["query"]["x"], "1");

    // `Accept` has an extra output binding, so the host never forwards it.
    let request = Request::post("/api/accept")
        .body(Body::empty())
        .expect("request");
    let response = app().router().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn handler_failures_fail_the_invocation_and_logs_are_returned() {
    cosmospark::runtime::init_tracing();
    let timer = fixture("timer-trigger.schedulestatus-null.request.json");
    let timer = json!({ "Data": { "timer": timer["Data"]["inMsg"] } });

    let (status, body) = post("Logs", &timer).await;
    assert_eq!(status, StatusCode::OK);
    let logs = body["Logs"].as_array().expect("Logs");
    assert!(
        logs.iter().any(|line| line
            .as_str()
            .is_some_and(|l| l.contains("hello from the handler") && l.contains("answer=42"))),
        "{logs:?}"
    );
    assert!(logs.contains(&json!("explicit line")));

    let (status, body) = post("Fails", &timer).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("database unavailable"))
    );

    let (status, body) = post("Panics", &timer).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("panicked"))
    );
}

#[tokio::test]
async fn invocations_carry_their_id_and_trace_context() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let envelope = http_envelope(
        "http://h/api/trace",
        "GET",
        json!({ "traceparent": [traceparent] }),
        None,
    );
    let (_, body) = post("Trace", &envelope).await;
    assert_eq!(
        res(&body),
        (
            200,
            json!({ "invocationId": "11111111-2222-3333-4444-555555555555", "traceparent": traceparent,
                      "function": "Trace" })
        )
    );
}

#[tokio::test]
async fn one_path_may_serve_several_functions_by_method_but_never_twice() {
    let app = FunctionApp::new()
        .register(Function::http(
            "ReadThing",
            &["GET"],
            "things/{id}",
            || async { "read" },
        ))
        .and_then(|app| {
            app.register(Function::http(
                "WriteThing",
                &["PUT"],
                "things/{id}",
                || async { "write" },
            ))
        })
        .expect("distinct methods on one path");
    for (method, expected) in [("GET", "read"), ("PUT", "write")] {
        let request = Request::builder()
            .method(method)
            .uri("/api/things/1")
            .body(Body::empty())
            .expect("request");
        let response = app.router().oneshot(request).await.expect("infallible");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(&bytes[..], expected.as_bytes());
    }
    let conflict = app.register(Function::http(
        "AlsoRead",
        &["GET", "POST"],
        "Things/{thingId}",
        || async { "" },
    ));
    assert!(
        matches!(conflict, Err(cosmospark::runtime::RegistryError::RouteConflict(a, b)) if a == "AlsoRead" && b == "ReadThing")
    );
}

#[tokio::test]
async fn http_functions_read_other_inputs_from_the_context() {
    let envelope = fixture("http-trigger.default.webpubsub-connection-input.DERIVED.request.json");
    let (status, body) = post("Negotiate", &envelope).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (code, answer) = res(&body);
    assert_eq!(code, 200);
    assert_eq!(
        answer["baseUrl"],
        "wss://contoso-wps.webpubsub.azure.com/client/hubs/game"
    );
    assert!(
        answer["url"]
            .as_str()
            .is_some_and(|url| url.contains("access_token="))
    );

    // The function has an input binding besides HTTP, so it is never forwarded.
    let request = Request::get("/api/negotiate")
        .body(Body::empty())
        .expect("request");
    let response = app().router().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
