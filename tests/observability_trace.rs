//! OpenTelemetry through the running `cosmospark dev`: spans go to an in-test OTLP/HTTP
//! collector, and one click's trace covers both paths it starts —
//! chat: HTTP → change feed relay → Event Grid subscribers → Web PubSub push, on through the
//! chat summaries a subscriber writes (their change feed relay → the summary push), and the
//! chats' relay to Event Hubs → UpdateProcessor; command: HTTP → change feed relay → Event
//! Hubs → UpdateProcessor. Also: an unreachable collector never fails an invocation, and a
//! failed invocation's span ends with an error status (`cosmospark serve`, as the host runs it).

mod support;

use std::collections::BTreeSet;

use cosmospark::runtime::ClientPrincipal;
use serde_json::{Value, json};
use support::otlp::{AttributeValue, Collector, ExportedSpan};
use support::{Dev, HANG, Handler, app_root, invoke, log_file};

/// The click's trace context, as a browser instrumented with OpenTelemetry would send it.
const CLICK_TRACE: &str = "5b8aa5a2d2c872e8321cf37308d69df2";
const CLICK: &str = "00-5b8aa5a2d2c872e8321cf37308d69df2-051581bf3cb55c13-01";
/// The browser's span, the parent of the click's first spans.
const CLICK_SPAN: &str = "051581bf3cb55c13";

fn principal(user: &str) -> String {
    ClientPrincipal {
        identity_provider: "github".into(),
        user_id: user.into(),
        user_details: user.into(),
        user_roles: vec!["anonymous".into(), "authenticated".into()],
    }
    .encode()
}

async fn api(
    dev: &Dev,
    path: &str,
    user: &str,
    body: Value,
    traceparent: Option<&str>,
) -> (u16, Value) {
    let mut request = dev
        .http
        .post(dev.url(path))
        .header("x-ms-client-principal", principal(user))
        .json(&body);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn start_dev(
    root: &std::path::Path,
    data: &std::path::Path,
    env: &[(&str, &str)],
    log: &str,
) -> Dev {
    Dev::start_with_env(
        root,
        data,
        &["--redelivery-ms", "20"],
        &[env, &[("RUST_LOG", "warn")]].concat(),
        &log_file(log),
    )
}

/// The runtime's invocation spans (the handler side) of `function`.
fn invocations<'a>(spans: &'a [ExportedSpan], function: &str) -> Vec<&'a ExportedSpan> {
    spans
        .iter()
        .filter(|s| s.text("faas.name") == Some(function) && s.text("cosmospark.binding").is_some())
        .collect()
}

/// The spans of the click's trace whose parent is neither the click's own span nor another
/// span of the trace.
fn orphans(spans: &[ExportedSpan]) -> Vec<&ExportedSpan> {
    let in_click = || spans.iter().filter(|s| s.trace_id == CLICK_TRACE);
    let ids: BTreeSet<&str> = in_click().map(|s| s.span_id.as_str()).collect();
    in_click()
        .filter(|s| s.parent_span_id != CLICK_SPAN && !ids.contains(s.parent_span_id.as_str()))
        .collect()
}

/// Polls the collector until `ready` holds for what it received (the batch processor exports
/// every 50 ms here); fails only if the test hangs.
async fn received(
    collector: &Collector,
    ready: impl Fn(&[ExportedSpan]) -> bool,
) -> Vec<ExportedSpan> {
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let spans = collector.spans();
        if ready(&spans) {
            return spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the collector never received the expected spans; got {:#?}",
            spans
                .iter()
                .map(|s| (&s.name, &s.trace_id))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_is_one_trace_across_chat_and_command_paths() {
    let collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = start_dev(
        root.path(),
        data.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
            ("OTEL_SERVICE_NAME", "cosmospark-trace-test"),
        ],
        "observability-trace",
    );
    let profile = |name: &str, lat: f64, lon: f64| json!({"name": name, "position": {"latitude": lat, "longitude": lon}});
    let (status, body) = api(&dev, "/api/user", "ann", profile("Ann", 12.97, 77.59), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(&dev, "/api/user", "bob", profile("Bob", 48.85, 2.35), None).await;
    assert_eq!(status, 200, "{body}");
    dev.idle().await;
    // Spans of the sign-ups may still be on their way; what started from here on is the click's.
    let click_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let since_click = |spans: &[ExportedSpan]| -> Vec<ExportedSpan> {
        spans
            .iter()
            .filter(|s| s.start_unix_nanos >= click_time)
            .cloned()
            .collect()
    };

    // One click: a chat message and a command, both under the click's trace context.
    let (status, body) = api(
        &dev,
        "/api/chat",
        "ann",
        json!({"toUserId": "bob", "content": "hello"}),
        Some(CLICK),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(
        &dev,
        "/api/command/insert",
        "ann",
        json!({"Data": {"hello": "world"}}),
        Some(CLICK),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    dev.idle().await;

    let chat_path = [
        "CreateChat",
        "CosmicChatsTrigger",
        "MessageSentPush",
        "UserChatsCreate",
        "TaskGreetingValidator",
        "ChatsToEventHub",
        // The summaries UserChatsCreate wrote carry its trace on.
        "CosmicUserChatsTrigger",
        "UserChatsPush",
    ];
    let command_path = ["CommandInsert", "CommandsToEventHub", "UpdateProcessor"];
    // A span is exported when it ends, so a host's span (ended after its invocation's) can come
    // a batch after its children: wait until every span of the click has its parent too.
    let spans = received(&collector, |spans| {
        let after = since_click(spans);
        chat_path
            .iter()
            .chain(&command_path)
            .all(|f| !invocations(&after, f).is_empty())
            && after.iter().any(|s| s.name == "webPubSub actions")
            && orphans(&after).is_empty()
    })
    .await;
    let after = since_click(&spans);

    // Every span of both paths — the host's, the handler's and each output's — is in the
    // click's trace.
    for function in chat_path.iter().chain(&command_path) {
        let traces: BTreeSet<&str> = after
            .iter()
            .filter(|s| {
                s.text("faas.name") == Some(function) || s.text("function") == Some(function)
            })
            .map(|s| s.trace_id.as_str())
            .collect();
        assert_eq!(
            traces,
            BTreeSet::from([CLICK_TRACE]),
            "{function}: every span in the click's trace"
        );
    }
    let in_click: Vec<&ExportedSpan> = after.iter().filter(|s| s.trace_id == CLICK_TRACE).collect();
    if let Some(span) = orphans(&after).first() {
        panic!(
            "span `{}` hangs off a span outside the trace ({})",
            span.name, span.parent_span_id
        );
    }
    for kind in ["eventGrid events", "eventHub events", "webPubSub actions"] {
        assert!(
            in_click.iter().any(|s| s.name == kind),
            "no `{kind}` output span in the trace"
        );
    }
    assert!(
        in_click
            .iter()
            .any(|s| s.name == "Functions.MessageSentPush"
                && s.text("faas.trigger") == Some("pubsub")),
        "the host's span of the push subscriber"
    );

    // The handler spans carry the invocation's attributes.
    let push = invocations(&after, "MessageSentPush")[0];
    assert_eq!(push.name, "MessageSentPush");
    assert_eq!(push.text("faas.trigger"), Some("pubsub"));
    assert_eq!(push.text("cosmospark.binding"), Some("eventGridTrigger"));
    assert_eq!(push.status, 1, "the outcome is the status: ok");
    assert!(
        push.text("faas.invocation_id")
            .is_some_and(|id| id.len() == 36)
    );
    assert!(
        push.end_unix_nanos > push.start_unix_nanos,
        "the span's times give the duration"
    );
    assert_eq!(push.service_name.as_deref(), Some("cosmospark-trace-test"));
    let send = invocations(&after, "CreateChat")[0];
    assert_eq!(send.text("faas.trigger"), Some("http"));
    assert_eq!(
        send.attributes.get("http.response.status_code"),
        Some(&AttributeValue::Int(200))
    );
    let relay = invocations(&after, "CommandsToEventHub")[0];
    assert_eq!(relay.text("faas.trigger"), Some("datasource"));
    let processor = invocations(&after, "UpdateProcessor")[0];
    assert_eq!(
        processor.text("cosmospark.binding"),
        Some("eventHubTrigger")
    );

    // Metrics: invocations per function, the trigger lag the handler saw, and dev's own backlog
    // per trigger (gauges read from its backlog sampler).
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let counted = collector.metric_points("faas.invocations").iter().any(|p| {
            p.get("faas.name").and_then(AttributeValue::text) == Some("UpdateProcessor")
                && p.get("cosmospark.outcome").and_then(AttributeValue::text) == Some("Succeeded")
        });
        let lag = collector
            .metric_points("cosmospark.trigger.lag")
            .iter()
            .any(|p| {
                p.get("faas.trigger").and_then(AttributeValue::text) == Some("cosmosDBTrigger")
            });
        let durations = !collector.metric_points("faas.invoke_duration").is_empty();
        let backlog = [
            "cosmospark.trigger.backlog",
            "cosmospark.trigger.backlog.age",
        ]
        .iter()
        .all(|metric| {
            collector.metric_points(metric).iter().any(|p| {
                p.get("faas.name").and_then(AttributeValue::text) == Some("CommandsToEventHub")
                    && p.get("faas.trigger").and_then(AttributeValue::text)
                        == Some("cosmosDBTrigger")
                    && p.get("cosmospark.source").and_then(AttributeValue::text) == Some("Commands")
            })
        });
        if counted && lag && durations && backlog {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no invocation or backlog metrics arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_never_fails_an_invocation() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let log = log_file("observability-unreachable");
    // Port 1 on loopback: nothing listens there, every export is refused.
    let dev = Dev::start_with_env(
        root.path(),
        data.path(),
        &["--redelivery-ms", "20"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
            ("OTEL_BSP_SCHEDULE_DELAY", "20"),
            ("RUST_LOG", "warn"),
        ],
        &log,
    );
    for round in 0..2 {
        let (status, body) = api(
            &dev,
            "/api/command/insert",
            "ann",
            json!({"Data": {"round": round}}),
            None,
        )
        .await;
        assert_eq!(status, 202, "{body}");
        dev.idle().await;
        let id = body["id"].as_str().expect("command id");
        let response = dev
            .http
            .get(dev.url(&format!("/api/query/get?id={id}")))
            .header("x-ms-client-principal", principal("ann"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the command reached the read model");
    }
    assert!(dev.dead_letters().await.is_empty(), "nothing failed");
    let deadline = tokio::time::Instant::now() + HANG;
    let reports = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let reports = text.matches("telemetry export failed (spans)").count();
        if reports > 0 {
            break reports;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failure was never logged:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Later batches keep failing (every 20 ms); none of them is logged again, by us or the SDK.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(reports, 1, "the failure is logged once");
    assert_eq!(
        text.matches("telemetry export failed (spans)").count(),
        1,
        "later failures are not logged:\n{text}"
    );
    assert!(
        !text.contains("BatchSpanProcessor.ExportError"),
        "the SDK does not log each failed batch:\n{text}"
    );
}

#[test]
fn an_unknown_log_format_stops_the_start_naming_the_variable() {
    let data = tempfile::tempdir().unwrap();
    let output = support::cosmospark()
        .args(["dev", "--port", "0", "--data-dir"])
        .arg(data.path())
        .env("COSMOSPARK_LOG_FORMAT", "yaml")
        .output()
        .expect("run cosmospark dev");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("COSMOSPARK_LOG_FORMAT") && stderr.contains("yaml"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_trace_of_the_invocation() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let log = log_file("observability-json");
    let dev = Dev::start_with_env(
        root.path(),
        data.path(),
        &[],
        &[("COSMOSPARK_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
        &log,
    );
    let (status, body) = api(
        &dev,
        "/api/command/insert",
        "ann",
        json!({"Data": {"json": true}}),
        Some(CLICK),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    dev.idle().await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("a JSON log line parses"))
        .collect();
    let accepted = lines
        .iter()
        .find(|line| line["message"] == "command accepted")
        .unwrap_or_else(|| panic!("no `command accepted` line in:\n{text}"));
    assert_eq!(accepted["level"], "INFO");
    assert_eq!(accepted["span"], "invocation");
    assert_eq!(accepted["trace_id"], CLICK_TRACE);
    assert!(
        accepted["span_id"]
            .as_str()
            .is_some_and(|id| id.len() == 16)
    );
    assert!(accepted["fields"]["command"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_invocation_ends_its_span_with_an_error_status() {
    let collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let handler = Handler::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ]);
    // The envelope is well formed; the timer binding's data is not, so the invocation fails.
    let (status, body) = invoke(
        &handler,
        "RoundTimer",
        r#"{"Data":{"timer":{"IsPastDue":"maybe"}},"Metadata":{}}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let spans = received(&collector, |spans| {
        !invocations(spans, "RoundTimer").is_empty()
    })
    .await;
    let failed = invocations(&spans, "RoundTimer")[0];
    assert_eq!(failed.status, 2, "the outcome is the status: error");
    assert_eq!(failed.text("faas.trigger"), Some("timer"));
    assert_eq!(
        failed.text("faas.invocation_id"),
        Some("6f1a7a3e-0000-4000-8000-000000000001")
    );
}
