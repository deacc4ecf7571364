//! Every fixture in `tests/fixtures/protocol` against the running binary (as the host would send it)
//! or, for trigger kinds the app has no function for yet, against the typed parsers.

mod support;

use cosmospark::runtime::InvocationRequest;
use cosmospark::runtime::InvocationResponse;
use cosmospark::runtime::outputs::{HttpResponseData, WebPubSubAction};
use cosmospark::runtime::protocol::decode::from_value_lenient;
use cosmospark::runtime::triggers::{EventGridEvent, EventHubBatch, Trigger};
use serde_json::{Value, json};
use support::{Handler, fixture_names, invoke, read_fixture};

/// Renames the trigger's `Data` member to `binding` (fixtures use the capturing project's names);
/// the trigger is the HTTP request object when there is one, else the only member.
fn rename_data(fixture: &str, binding: &str) -> Value {
    let mut envelope: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    let data = envelope["Data"].as_object_mut().expect("Data object");
    let (first, value) = data
        .iter()
        .find(|(_, value)| value.get("Url").is_some())
        .or_else(|| data.iter().next())
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("a Data member");
    data.remove(&first);
    data.insert(binding.to_owned(), value);
    envelope
}

/// Points an HTTP fixture's `Url` at `/api/round`, keeping scheme, host and query.
fn http_to_get_round(fixture: &str) -> Value {
    let mut envelope = rename_data(fixture, "req");
    let url = envelope["Data"]["req"]["Url"]
        .as_str()
        .expect("Url")
        .to_owned();
    let (scheme_host, rest) = url.split_at(url.find("://").map(|i| i + 3).unwrap_or(0));
    let host_end = rest.find('/').unwrap_or(rest.len());
    let query = rest.find('?').map(|i| &rest[i..]).unwrap_or("");
    envelope["Data"]["req"]["Url"] = json!(format!(
        "{scheme_host}{}/api/round{query}",
        &rest[..host_end]
    ));
    envelope["Data"]["req"]["Method"] = json!("GET");
    envelope
}

fn assert_round(body: &str) {
    let round: Value = serde_json::from_str(body).expect("round JSON");
    let start = round["start"].as_i64().expect("start (unix seconds)");
    assert_eq!(round["end"].as_i64(), Some(start + 3600));
    assert_eq!(start % 3600, 0);
    assert!(round["roundId"].as_str().is_some_and(|id| id.len() == 10));
}

async fn http_fixture(handler: &Handler, name: &str) {
    let envelope = http_to_get_round(&read_fixture(name));
    let (status, body) = invoke(handler, "GetRound", envelope.to_string()).await;
    assert_eq!(status, 200, "{name}: {body}");
    let response =
        InvocationResponse::from_slice(body.to_string().as_bytes()).expect("response envelope");
    let res = HttpResponseData::from_value("Outputs.res", response.output("res").expect("res"))
        .expect("http output");
    assert_eq!(res.status_code, 200, "{name}: {res:?}");
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_round(res.body.as_deref().expect("body"));
}

async fn forwarding_fixture(handler: &Handler, name: &str) {
    // The trace shows what the host forwards: the original path, Host kept, extra headers.
    let trace = read_fixture(name);
    assert!(
        trace.contains("RequestUri: 'http://127.0.0.1:"),
        "{name}: unexpected trace shape"
    );
    let mut request = support::client().get(handler.url("/api/round"));
    for line in trace
        .lines()
        .filter(|line| line.starts_with("  ") && line.contains(": "))
    {
        let (header, value) = line.trim().split_once(": ").expect("header line");
        if header.eq_ignore_ascii_case("host") || header.eq_ignore_ascii_case("connection") {
            continue;
        }
        request = request.header(header, value);
    }
    let response = request.send().await.expect("forwarded request");
    assert_eq!(response.status(), 200, "{name}");
    assert_round(&response.text().await.expect("body"));
}

async fn cosmos_fixture(handler: &Handler, name: &str) {
    let envelope = rename_data(&read_fixture(name), "documents");
    let (status, body) = invoke(handler, "CosmicUsersTrigger", envelope.to_string()).await;
    assert_eq!(status, 200, "{name}: {body}");
    let events = body["Outputs"]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{name}");
    let event = EventGridEvent::from_value("event", &events[0]).expect("Event Grid event");
    assert_eq!(event.event_type(), "CosmosPark.Users.Upserted");
    assert_eq!(event.subject(), Some("CosmosPark/Users/o-1"));
    assert_eq!(
        event.data(),
        json!({"id":"o-1","status":"Placed"}),
        "system properties dropped"
    );
    // Replaying the same batch yields the same event id.
    let (_, again) = invoke(handler, "CosmicUsersTrigger", envelope.to_string()).await;
    assert_eq!(again["Outputs"]["events"][0]["id"], events[0]["id"]);
}

async fn event_grid_fixture(handler: &Handler, name: &str) {
    let fixture = read_fixture(name);
    let envelope = rename_data(&fixture, "event");
    let (status, body) = invoke(handler, "UserCreated", envelope.to_string()).await;
    assert_eq!(status, 200, "{name}: {body}");
    assert_eq!(
        body["Outputs"],
        json!({}),
        "{name}: an unknown event type is acknowledged and ignored"
    );

    // The same delivery carrying a user document.
    let mut user = envelope.clone();
    user["Data"]["event"]["eventType"] = json!("CosmosDb.CosmicUsers.Created");
    user["Data"]["event"]["data"] = json!({
        "id": "a1b2", "name": "octocat",
        "address": {"country": {"subDivision": "Karnataka", "secondarySubDivision": "Bengaluru"},
                    "position": {"latitude": "12.9751", "longitude": "77.606"}}});
    let (status, body) = invoke(handler, "UserCreated", user.to_string()).await;
    assert_eq!(status, 200, "{name}: {body}");
    let actions: Vec<WebPubSubAction> =
        serde_json::from_value(body["Outputs"]["actions"].clone()).expect("actions");
    let data: Value = serde_json::from_str(
        actions[0]
            .data
            .as_ref()
            .and_then(Value::as_str)
            .expect("data is a string"),
    )
    .expect("json data");
    assert_eq!(
        data,
        // Positions are numbers rounded to ~1 km for privacy (original: exact strings).
        json!({"latitude":12.98,"longitude":77.61,"userId":"a1b2","userName":"octocat",
               "city":"Bengaluru","state":"Karnataka","type":"UserCreatedEvent"})
    );
}

async fn timer_fixture(handler: &Handler, name: &str) {
    let fixture = read_fixture(name);
    let utc_now =
        serde_json::from_str::<Value>(&fixture).expect("json")["Metadata"]["sys"]["UtcNow"]
            .as_str()
            .expect("UtcNow")
            .to_owned();
    let envelope = rename_data(&fixture, "timer");
    let (status, body) = invoke(handler, "RoundTimer", envelope.to_string()).await;
    assert_eq!(status, 200, "{name}: {body}");
    let action = &body["Outputs"]["actions"][0];
    assert_eq!(action["actionName"], "sendToAll");
    assert_eq!(action["dataType"], "json");
    let data: Value =
        serde_json::from_str(action["data"].as_str().expect("string data")).expect("json");
    assert_eq!(data["type"], "RoundStartedEvent");
    let expected_id: String = utc_now[..13].replace(['-', 'T'], "");
    assert_eq!(data["roundId"], json!(expected_id), "{name}");
}

fn event_hub_fixture(name: &str) {
    let request = InvocationRequest::from_slice(read_fixture(name).as_bytes()).expect("envelope");
    let binding = request.data.keys().next().expect("binding").clone();
    let batch = EventHubBatch::from_invocation(&binding, &request).expect("event hub batch");
    assert_eq!(batch.partition.partition_id.as_deref(), Some("2"));
    let first = &batch.events[0];
    assert_eq!(
        first.json::<Value>().expect("json body"),
        json!({"id":1,"kind":"OrderPlaced"})
    );
    assert_eq!(first.sequence_number, Some(59));
    assert_eq!(first.offset.as_deref(), Some("616008"));
    assert_eq!(first.dedupe_key(), Some(("2".to_owned(), 59)));
    assert!(first.enqueued_time.is_some());
    if name.contains("many") {
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.events[1].text(), Some("plain text"));
        assert_eq!(batch.events[1].sequence_number, Some(60));
        assert_eq!(
            batch.events[1].properties.get("source"),
            Some(&json!("test"))
        );
        assert_eq!(
            batch.events[1].system_properties.get("x-opt-offset"),
            Some(&json!(616200))
        );
    } else {
        assert_eq!(batch.events.len(), 1);
    }
}

fn other_trigger_fixture(name: &str) {
    // Triggers the app does not use: the envelope parses and values decode leniently.
    let request = InvocationRequest::from_slice(read_fixture(name).as_bytes()).expect("envelope");
    let (binding, value) = request.data.iter().next().expect("one binding");
    let decoded: String =
        from_value_lenient(value).unwrap_or_else(|error| panic!("{name}: {binding}: {error}"));
    assert!(!decoded.is_empty(), "{name}");
    assert!(
        request.sys().method_name.is_some(),
        "{name}: sys.MethodName"
    );
}

fn response_fixture(name: &str) {
    let text = read_fixture(name);
    let response = InvocationResponse::from_slice(text.as_bytes()).expect("response envelope");
    let original: Value = serde_json::from_str(&text).expect("json");
    for (output, value) in &response.outputs {
        let typed = match value {
            Value::Object(map) if map.keys().any(|k| k == "body" || k == "statusCode") => {
                let http = HttpResponseData::from_value(output, value).expect("http output");
                let back =
                    HttpResponseData::from_value(output, &http.to_value()).expect("round trip");
                assert_eq!(http, back, "{name}: {output}");
                continue;
            }
            Value::Array(items) if items.iter().any(|item| item.get("actionName").is_some()) => {
                let actions: Vec<WebPubSubAction> =
                    serde_json::from_value(value.clone()).expect("actions");
                serde_json::to_value(actions).expect("serialise")
            }
            Value::Array(items) if items.iter().any(|item| item.get("eventType").is_some()) => {
                let events: Vec<EventGridEvent> = items
                    .iter()
                    .map(|item| EventGridEvent::from_value(output, item).expect("event"))
                    .collect();
                serde_json::to_value(events).expect("serialise")
            }
            other => other.clone(),
        };
        assert_eq!(
            &typed, value,
            "{name}: output `{output}` does not round-trip"
        );
    }
    let back = InvocationResponse::from_slice(
        serde_json::to_string(&response)
            .expect("serialise")
            .as_bytes(),
    )
    .expect("re-parse");
    assert_eq!(back, response, "{name}");
    let logs_expected = original["Logs"].as_array().map(|logs| logs.len());
    assert_eq!(
        response.logs.as_ref().map(Vec::len),
        logs_expected,
        "{name}: Logs"
    );
}

#[tokio::test]
async fn every_fixture_parses_into_its_typed_trigger() {
    let handler = Handler::start();
    let names = fixture_names();
    assert!(
        names.len() >= 30,
        "expected the full fixture set, found {}",
        names.len()
    );
    for name in &names {
        match name.as_str() {
            n if n.starts_with("http-trigger.default.") => http_fixture(&handler, n).await,
            n if n.starts_with("http-trigger.forwarding.") => forwarding_fixture(&handler, n).await,
            n if n.starts_with("cosmosdb-trigger.") => cosmos_fixture(&handler, n).await,
            n if n.starts_with("eventgrid-trigger.") => event_grid_fixture(&handler, n).await,
            n if n.starts_with("timer-trigger.") => timer_fixture(&handler, n).await,
            n if n.starts_with("eventhub-trigger.") => event_hub_fixture(n),
            n if n.starts_with("queue-trigger.")
                || n.starts_with("servicebus-trigger.")
                || n.starts_with("blob-trigger.") =>
            {
                other_trigger_fixture(n)
            }
            n if n.starts_with("response.") => response_fixture(n),
            other => panic!("fixture `{other}` is not covered by any protocol test"),
        }
    }
}
