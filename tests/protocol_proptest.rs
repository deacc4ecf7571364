//! Property tests: the envelope parser and every typed trigger reader return a value or an
//! error for any input — they never panic.

mod support;

use cosmospark::runtime::outputs::HttpResponseData;
use cosmospark::runtime::triggers::{
    CosmosDocuments, EventGridEvent, EventHubBatch, HttpRequestData, TimerInfo, Trigger,
};
use cosmospark::runtime::{ClientPrincipal, InvocationRequest, InvocationResponse};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use support::arbitrary::{self, Shape};

fn arb_json() -> impl Strategy<Value = Value> {
    const WORDS: &[&str] = &[
        "Url",
        "Method",
        "Headers",
        "Query",
        "Body",
        "[1,2]",
        "{\"id\":\"x\"}",
        "\"[\\\"a\\\"]\"",
        "2024-05-14T15:14:15.1234567Z",
        "specversion",
        "ScheduleStatus",
        "application/octet-stream",
    ];
    let keys = "[A-Za-z]{1,10}".boxed();
    let shape = Shape {
        depth: 4,
        size: 48,
        width: 6,
        stringified: true,
    };
    arbitrary::nested(arbitrary::leaf(12, WORDS), keys, shape)
}

fn read_every_trigger(request: &InvocationRequest) {
    let _ = HttpRequestData::from_invocation("x", request).map(|data| {
        let _ = data.to_http_request("x");
        let _ = data.body_bytes("x");
    });
    let _ = CosmosDocuments::<Value>::from_invocation("x", request);
    let _ = CosmosDocuments::<Map<String, Value>>::from_invocation("x", request);
    let _ = EventGridEvent::from_invocation("x", request).map(|event| event.data());
    let _ = EventHubBatch::from_invocation("x", request);
    let _ = TimerInfo::from_invocation("x", request);
    let _ = request.sys();
    let _ = request.retry_context();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x00c0_5305),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = InvocationRequest::from_slice(&bytes);
        let _ = InvocationResponse::from_slice(&bytes);
        let _ = ClientPrincipal::decode(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_envelopes_never_panic(data in arb_json(), metadata in arb_json()) {
        let envelope = json!({ "Data": { "x": data.clone() }, "Metadata": metadata.clone() });
        if let Ok(request) = InvocationRequest::from_slice(envelope.to_string().as_bytes()) {
            read_every_trigger(&request);
        }
        let top = json!({ "Data": data.clone(), "Metadata": metadata });
        if let Ok(request) = InvocationRequest::from_value(top) {
            read_every_trigger(&request);
        }
        let _ = HttpResponseData::from_value("res", &data);
        let _ = InvocationResponse::from_slice(json!({ "Outputs": data, "Logs": null }).to_string().as_bytes());
    }

    #[test]
    fn arbitrary_http_requests_never_panic(
        url in ".{0,40}", method in "[A-Za-z ]{0,8}",
        headers in prop::collection::vec((".{0,12}", ".{0,12}"), 0..4),
        body in prop::option::of(".{0,40}"), octet in any::<bool>(),
    ) {
        let mut header_map: Map<String, Value> = headers.into_iter().map(|(k, v)| (k, json!([v]))).collect();
        if octet {
            header_map.insert("Content-Type".into(), json!(["application/octet-stream"]));
        }
        let mut req = json!({ "Url": url, "Method": method, "Headers": header_map });
        if let Some(body) = body {
            req["Body"] = json!(body);
        }
        let request = InvocationRequest::from_value(json!({ "Data": { "x": req } })).expect("object Data");
        read_every_trigger(&request);
    }
}
