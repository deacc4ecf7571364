//! Fuzzing on the stable toolchain: property tests that throw generated hostile input at every
//! decoder an outsider can reach and require an answer (a value or an error), never a panic,
//! hang or 5xx. `cargo test` runs a short bounded pass (proptest's 256 cases per target); a
//! longer run is `PROPTEST_CASES=50000 cargo test --release --test fuzz` (figures in
//! `docs/threat-model.md`).
//!
//! Targets: the host envelope decoder, the client-principal decoders, the command and chat
//! bodies (through the whole HTTP path: edge guard, handler, store), NCRONTAB schedules and
//! the Web PubSub hub's client frames.

mod support;

use base64::Engine;
use cosmospark::app::domain::auth::Principal;
use cosmospark::app::domain::commands::{AdminScore, SendMessage, UpsertProfile};
use cosmospark::devhost::webpubsub::protocol::ClientFrame;
use cosmospark::runtime::edge::check_json;
use cosmospark::runtime::manifest::Schedule;
use cosmospark::runtime::{ClientPrincipal, InvocationRequest};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Value, json};
use support::arbitrary::{self, Shape};
use support::security::{Call, Serve, principal};

/// JSON with the field names the decoders look for, nested up to 40 levels.
fn arb_json() -> impl Strategy<Value = Value> {
    const NAMES: &[&str] = &[
        "Data",
        "data",
        "Metadata",
        "req",
        "Body",
        "Headers",
        "userId",
        "userRoles",
        "claims",
        "typ",
        "val",
        "toUserId",
        "content",
        "id",
        "position",
        "latitude",
        "longitude",
        "type",
        "group",
        "event",
        "ackId",
        "dataType",
        "user",
        "score",
        "sequenceId",
    ];
    const WORDS: &[&str] = &[
        "joinGroup",
        "sendToGroup",
        "event",
        "sequenceAck",
        "json",
        "text",
        "binary",
        "authenticated",
        "admin",
        "Hi-CosmosPark",
        "12.97",
        "\u{0}",
        "\u{fffd}",
    ];
    let keys = prop::sample::select(NAMES).prop_map(str::to_owned).boxed();
    let shape = Shape {
        depth: 40,
        size: 256,
        width: 5,
        stringified: false,
    };
    arbitrary::nested(arbitrary::leaf(16, WORDS), keys, shape)
}

/// Bytes that are mostly JSON-like, sometimes broken.
fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        arb_json().prop_map(|v| v.to_string().into_bytes()),
        (arb_json(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, at, byte)| {
            let mut bytes = v.to_string().into_bytes();
            let at = at.index(bytes.len().max(1));
            if at < bytes.len() {
                bytes[at] = byte;
            }
            bytes
        }),
        prop::collection::vec(any::<u8>(), 0..256),
        (1usize..200).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
    ]
}

proptest! {
    #[test]
    fn envelope_decoder_answers_every_input(bytes in arb_bytes()) {
        let _ = InvocationRequest::from_slice(&bytes);
        let wrapped = json!({"Data": {"req": String::from_utf8_lossy(&bytes)}, "Metadata": {}});
        let _ = InvocationRequest::from_slice(wrapped.to_string().as_bytes());
    }

    #[test]
    fn principal_decoders_answer_every_input(value in arb_json(), text in ".{0,64}") {
        let _ = ClientPrincipal::decode(&text);
        let encoded = base64::engine::general_purpose::STANDARD.encode(value.to_string());
        if let Ok(decoded) = ClientPrincipal::decode(&encoded) {
            let signed_in = Principal::signed_in(
                &decoded.user_id,
                &decoded.identity_provider,
                &decoded.user_details,
                decoded.user_roles,
            );
            if let Ok(Some(principal)) = signed_in {
                prop_assert!(principal.roles.iter().any(|r| r == "authenticated"));
            }
        }
    }

    #[test]
    fn body_parsers_answer_every_input(value in arb_json(), bytes in arb_bytes()) {
        let _ = SendMessage::parse(&value);
        let _ = UpsertProfile::parse(&value);
        let _ = AdminScore::parse(&value);
        let _ = check_json(&bytes, 32);
    }

    #[test]
    fn ncrontab_parser_answers_every_input(
        fields in prop::collection::vec(
            prop_oneof![
                Just("*".to_owned()), Just("*/5".to_owned()), Just("0".to_owned()),
                Just("1-5".to_owned()), Just("MON-FRI".to_owned()), Just("L".to_owned()),
                Just("?".to_owned()), Just("5/0".to_owned()), Just("99999999999".to_owned()),
                "[0-9*/,\\-A-Za-z?#L]{0,8}",
            ],
            0..8,
        ),
        raw in ".{0,40}",
    ) {
        let text = fields.join(" ");
        for candidate in [text.as_str(), raw.as_str(), "00:00:01", "-1.00:00:00", "1.00:00:00.5"] {
            if let Ok(schedule) = Schedule::parse(candidate) {
                let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T12:30:00Z")
                    .unwrap()
                    .with_timezone(&chrono::Utc);
                if let Some(next) = schedule.next_after(now) {
                    prop_assert!(next > now, "{candidate}: {next} not after {now}");
                }
            }
        }
    }

    #[test]
    fn hub_client_frames_answer_every_input(value in arb_json(), text in ".{0,64}") {
        let _ = ClientFrame::parse(&value.to_string());
        let _ = ClientFrame::parse(&text);
    }
}

/// Through the whole HTTP path: the edge guard, the handler and the store. Whatever the body,
/// the answer is a client error or a success — never a failed invocation or a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_and_chat_bodies_never_fail_the_invocation() {
    let serve = Serve::new().await;
    let me = principal("me", &["anonymous", "authenticated"]);
    let you = principal("you", &["anonymous", "authenticated"]);
    for (id, who) in [("me", &me), ("you", &you)] {
        let body = json!({"name": id, "position": {"latitude": 1.5, "longitude": 2.5}});
        let answer = serve
            .send(
                &Call::new("CreateUser", "POST", "/api/user")
                    .json(&body.to_string())
                    .by(Some(who)),
            )
            .await;
        assert_eq!(answer.status, 200);
    }
    let cases: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(1));
    let strategy = (arb_bytes(), arb_json(), any::<bool>());
    let mut bodies = Vec::with_capacity(cases);
    for _ in 0..cases {
        bodies.push(strategy.new_tree(&mut runner).expect("value").current());
    }
    for (bytes, value, wrap) in bodies {
        let chat = if wrap {
            json!({"toUserId": "you", "content": value})
                .to_string()
                .into_bytes()
        } else {
            bytes.clone()
        };
        let command = if wrap {
            json!({"Data": value}).to_string().into_bytes()
        } else {
            bytes
        };
        for (function, path, body) in [
            ("CreateChat", "/api/chat", chat),
            ("CommandInsert", "/api/command/insert", command),
        ] {
            let call = Call::new(function, "POST", path)
                .raw("application/json", &body)
                .by(Some(&me));
            let answer = serve.send(&call).await;
            assert!(
                answer.status < 500,
                "{function} {:?}: {answer:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}
