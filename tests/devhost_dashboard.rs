//! The local dashboard's JSON API through the running `cosmospark dev` binary: admin only
//! (401 without a sign-in, 403 without the admin role), and after a chat message and a command
//! it shows each function's invocations and percentiles, the trigger lag sampled over time,
//! traces grouped by trace id, and the hub's clients.

mod support;

use cosmospark::devhost::webpubsub::ClientGrant;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Dev, admin_principal, app_root, eventually, log_file};

fn principal(user: &str, roles: &[&str]) -> String {
    cosmospark::runtime::ClientPrincipal {
        identity_provider: "github".into(),
        user_id: user.into(),
        user_details: user.into(),
        user_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
    .encode()
}

fn user(id: &str) -> String {
    principal(id, &["anonymous", "authenticated"])
}

async fn get(dev: &Dev, path: &str, principal: Option<&str>) -> reqwest::Response {
    let mut request = dev.http.get(dev.url(path));
    if let Some(principal) = principal {
        request = request.header("x-ms-client-principal", principal);
    }
    request.send().await.unwrap()
}

async fn admin_json(dev: &Dev, path: &str) -> Value {
    let response = get(dev, path, Some(&admin_principal())).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

async fn post(dev: &Dev, path: &str, as_user: &str, body: Value) -> reqwest::Response {
    dev.http
        .post(dev.url(path))
        .header("x-ms-client-principal", user(as_user))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn function<'a>(functions: &'a Value, name: &str) -> &'a Value {
    functions
        .as_array()
        .and_then(|all| all.iter().find(|f| f["function"] == name))
        .unwrap_or_else(|| panic!("{name} is not listed: {functions}"))
}

#[tokio::test]
async fn dashboard_is_admin_only_and_shows_invocations_lag_traces_and_clients() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;

    for path in [
        "/_devhost",
        "/_devhost/",
        "/_devhost/dashboard.js",
        "/_devhost/api/functions",
        "/_devhost/api/triggers",
        "/_devhost/api/traces",
        "/_devhost/api/hub",
        "/_devhost/api/snapshot",
        "/_devhost/api/stream",
    ] {
        let anonymous = get(&dev, path, None).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
        let player = get(&dev, path, Some(&user("ann"))).await;
        assert_eq!(player.status(), StatusCode::FORBIDDEN, "{path}");
    }

    let page = get(&dev, "/_devhost/", Some(&admin_principal())).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<h1>CosmosPark local platform</h1>"),
        "{html}"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no other origin: {html}"
    );

    // Before anything ran: every declared function is listed with no figures.
    let functions = admin_json(&dev, "/_devhost/api/functions").await;
    let create_chat = function(&functions, "CreateChat");
    assert_eq!(create_chat["invocations"], 0);
    assert_eq!(create_chat["trigger"], "httpTrigger");
    assert!(create_chat["p50Ms"].is_null());

    // A client of the app's hub, in a group.
    let grant = ClientGrant {
        user_id: Some("bob".into()),
        groups: vec!["lobby".into()],
        ..ClientGrant::default()
    };
    let socket = dev.pubsub_with("CosmosPark", &grant).await;

    // A chat message and a command.
    for (id, name, lat, lon) in [("ann", "Ann", 48.85, 2.35), ("bob", "Bob", -33.87, 151.21)] {
        let created = post(
            &dev,
            "/api/user",
            id,
            json!({"name": name, "position": {"latitude": lat, "longitude": lon}}),
        )
        .await;
        assert!(
            created.status().is_success(),
            "{}",
            created.text().await.unwrap()
        );
    }
    let sent = post(
        &dev,
        "/api/chat",
        "ann",
        json!({"toUserId": "bob", "content": "hello from the dashboard test"}),
    )
    .await;
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    let command = post(
        &dev,
        "/api/command/insert",
        "ann",
        json!({"Data": {"n": 1}}),
    )
    .await;
    assert_eq!(command.status(), StatusCode::ACCEPTED);
    dev.idle().await;

    let functions = admin_json(&dev, "/_devhost/api/functions").await;
    for (name, at_least) in [
        ("CreateUser", 2),
        ("CreateChat", 1),
        ("CommandInsert", 1),
        ("UpdateProcessor", 1),
    ] {
        let row = function(&functions, name);
        assert!(row["invocations"].as_u64().unwrap() >= at_least, "{row}");
        assert_eq!(row["failures"], 0, "{row}");
        let (p50, p99) = (
            row["p50Ms"].as_f64().unwrap(),
            row["p99Ms"].as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p50 <= p99, "{row}");
    }
    assert_eq!(function(&functions, "CommandInsert")["invocations"], 1);

    // Traces: every span of a trace shares its id; the chat request is one of them, and the
    // triggers that followed it were recorded with their own spans.
    let traces = admin_json(&dev, "/_devhost/api/traces?limit=200").await;
    let traces = traces.as_array().unwrap();
    let spans = |name: &str| {
        traces
            .iter()
            .flat_map(|t| t["spans"].as_array().unwrap())
            .filter(|s| s["function"] == name)
            .count()
    };
    assert_eq!(spans("CreateChat"), 1, "{traces:?}");
    assert!(spans("UpdateProcessor") >= 1, "{traces:?}");
    for trace in traces {
        let id = trace["traceId"].as_str().unwrap();
        assert_eq!(id.len(), 32, "{trace}");
        let offsets: Vec<f64> = trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["offsetMs"].as_f64().unwrap())
            .collect();
        assert_eq!(offsets[0], 0.0, "spans start on the trace's axis: {trace}");
        assert!(
            offsets.windows(2).all(|w| w[0] <= w[1]),
            "in start order: {trace}"
        );
    }
    assert!(
        traces.iter().any(|t| {
            let names: std::collections::BTreeSet<&str> = t["spans"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["function"].as_str())
                .collect();
            names.len() >= 2
        }),
        "a trace spans several functions: {traces:?}"
    );
    let bad = get(
        &dev,
        "/_devhost/api/traces?limit=0",
        Some(&admin_principal()),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let message: Value = bad.json().await.unwrap();
    assert!(
        message["error"].as_str().unwrap().contains("limit"),
        "{message}"
    );

    // Trigger lag: sampled in the background, with a history per trigger.
    let triggers = eventually(|| async {
        let view = admin_json(&dev, "/_devhost/api/triggers").await;
        let sampled = view["triggers"].as_array().is_some_and(|t| {
            !t.is_empty()
                && t.iter()
                    .all(|t| t["history"].as_array().is_some_and(|h| h.len() >= 2))
        });
        sampled.then_some(view)
    })
    .await;
    assert_eq!(triggers["sampleEveryMs"], 1000);
    let processor = triggers["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trigger"] == "UpdateProcessor")
        .unwrap_or_else(|| panic!("{triggers}"));
    assert_eq!(processor["kind"], "eventHubTrigger");
    for sample in processor["history"].as_array().unwrap() {
        assert!(
            sample["pending"].is_u64() && sample["lagMs"].is_u64(),
            "{sample}"
        );
    }

    // The hub: bob's connection.
    let hubs = admin_json(&dev, "/_devhost/api/hub").await;
    let hub = hubs
        .as_array()
        .unwrap()
        .iter()
        .find(|h| {
            h["hub"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("CosmosPark"))
        })
        .unwrap_or_else(|| panic!("{hubs}"));
    let clients = hub["connections"].as_array().unwrap();
    assert_eq!(clients.len(), 1, "{hub}");
    assert_eq!(clients[0]["userId"], "bob");
    assert_eq!(clients[0]["groups"], json!(["lobby"]));
    assert_eq!(hub["groups"], json!([{"group": "lobby", "connections": 1}]));

    // The snapshot bundles everything the page shows, dead letters included.
    let snapshot = admin_json(&dev, "/_devhost/api/snapshot").await;
    for key in ["functions", "triggers", "traces", "hubs", "deadLetters"] {
        assert!(!snapshot[key].is_null(), "{key} in {snapshot}");
    }
    drop(socket);
    let status = dev.terminate();
    assert!(status.success(), "dev stops cleanly: {status:?}");
}

#[tokio::test]
async fn the_live_stream_sends_a_snapshot_then_ends_when_dev_stops() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let log = log_file("dev-dashboard-stream");
    let dev = Dev::start_with(root.path(), data.path(), &[], &log, "warn");
    let mut stream = dev
        .http
        .get(dev.url("/_devhost/api/stream"))
        .header("x-ms-client-principal", admin_principal())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(support::HANG, stream.chunk())
            .await
            .expect("a first event")
            .unwrap()
            .expect("the stream is open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.starts_with("event: snapshot\ndata: {"), "{text}");
    let data: Value =
        serde_json::from_str(text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert!(data["functions"].as_array().is_some_and(|f| !f.is_empty()));
    // SIGTERM ends the stream, so shutdown does not wait for the open dashboard.
    let reading = tokio::spawn(async move { while let Ok(Some(_)) = stream.chunk().await {} });
    let status = dev.terminate();
    assert!(status.success(), "{status:?}");
    tokio::time::timeout(support::HANG, reading)
        .await
        .expect("the stream ended")
        .unwrap();
    // Had the stream stayed open, shutdown would have waited out its grace for it.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("grace expired"), "{logged}");
}
