//! Malformed envelopes get a prompt 4xx whose JSON body names the problem — never a panic, a
//! hang or a 5xx — and the handler keeps serving afterwards.

mod support;

use serde_json::Value;
use support::{Handler, invoke};

const LIMIT: usize = 64 * 1024;

fn problem(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_owned()
        + " "
        + body["field"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn malformed_envelopes_are_client_errors_that_name_the_problem() {
    let handler = Handler::start_with(&[("COSMOSPARK_MAX_ENVELOPE_BYTES", &LIMIT.to_string())]);
    let nested = "[".repeat(10_000) + &"]".repeat(10_000);
    let cases: Vec<(&str, &str, String, &str)> = vec![
        ("not JSON", "RoundTimer", "hello".into(), "not valid JSON"),
        ("empty body", "RoundTimer", String::new(), "not valid JSON"),
        (
            "truncated",
            "RoundTimer",
            r#"{"Data":{"timer":{"IsPastDue":fa"#.into(),
            "not valid JSON",
        ),
        ("array", "RoundTimer", "[1,2]".into(), "Data"),
        (
            "missing Data",
            "RoundTimer",
            r#"{"Metadata":{}}"#.into(),
            "Data",
        ),
        (
            "Data wrong type",
            "RoundTimer",
            r#"{"Data":42}"#.into(),
            "Data",
        ),
        (
            "Metadata wrong type",
            "RoundTimer",
            r#"{"Data":{},"Metadata":[1]}"#.into(),
            "Metadata",
        ),
        (
            "missing trigger",
            "RoundTimer",
            r#"{"Data":{}}"#.into(),
            "Data.timer",
        ),
        (
            "timer wrong type",
            "RoundTimer",
            r#"{"Data":{"timer":{"IsPastDue":"maybe"}}}"#.into(),
            "Data.timer",
        ),
        (
            "documents not an array",
            "CosmicUsersTrigger",
            r#"{"Data":{"documents":{"id":1}}}"#.into(),
            "Data.documents",
        ),
        (
            "document not an object",
            "CosmicUsersTrigger",
            r#"{"Data":{"documents":"[1]"}}"#.into(),
            "Data.documents[0]",
        ),
        (
            "event missing fields",
            "UserCreated",
            r#"{"Data":{"event":{"id":"x"}}}"#.into(),
            "Data.event",
        ),
        (
            "event not an object",
            "UserCreated",
            r#"{"Data":{"event":true}}"#.into(),
            "Data.event",
        ),
        (
            "http request without Url",
            "GetRound",
            r#"{"Data":{"req":{"Method":"GET"}}}"#.into(),
            "Data.req.Url",
        ),
        (
            "http headers wrong type",
            "GetRound",
            r#"{"Data":{"req":{"Url":"http://h/api/round","Method":"GET","Headers":[1]}}}"#.into(),
            "Data.req.Headers",
        ),
        (
            "http bad method",
            "GetRound",
            r#"{"Data":{"req":{"Url":"http://h/api/round","Method":"GE T"}}}"#.into(),
            "Data.req.Method",
        ),
        ("deeply nested", "RoundTimer", nested, "not valid JSON"),
    ];
    for (case, function, body, expected) in cases {
        let (status, response) = invoke(&handler, function, body).await;
        assert_eq!(status, 400, "{case}: {response}");
        assert!(
            problem(&response).contains(expected),
            "{case}: `{}` does not mention `{expected}`",
            problem(&response)
        );
    }

    let huge = format!(r#"{{"Data":{{"timer":"{}"}}}}"#, "x".repeat(LIMIT * 2));
    let (status, _) = invoke(&handler, "RoundTimer", huge).await;
    assert_eq!(status, 413, "an oversized envelope is refused");

    let (status, response) = invoke(&handler, "NoSuchFunction", "{}").await;
    assert_eq!(status, 404);
    assert!(problem(&response).contains("NoSuchFunction"));

    // Still serving.
    let ready = support::client()
        .get(handler.url("/"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
}
