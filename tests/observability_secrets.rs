//! No secret reaches a log line: a full scenario through `cosmospark dev` (sign-in, a profile,
//! a chat, a command, a Web PubSub negotiation and connection, Maps lookups with a
//! server-side key against a stand-in, one of them failing, admin calls) with debug logs captured, in the default format and with
//! `COSMOSPARK_LOG_FORMAT=json`, then every secret the run used is looked for in the log: the
//! data directory's keys (session cookie key, hub access key) in every usual encoding, the
//! session cookies, the Web PubSub client token, its signature and the reconnection token, the Maps key, and the
//! client principal header values.

mod support;

use std::collections::HashMap;
use std::path::Path;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::get;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use cosmospark::runtime::ClientPrincipal;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Dev, admin_principal, app_root, log_file};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The server-side Maps key the run sends to the stand-in.
const MAPS_KEY: &str = "maps-key-7f3c9a1e5b2d4f60a8c1e9b7d3f5a2c4";

/// An Azure Maps stand-in for `search/address/reverse/json`: one address when the key is
/// right, a 500 with an error body for latitude 48.85 (so a failed lookup is logged too).
async fn maps_stand_in() -> String {
    async fn reverse(
        headers: HeaderMap,
        Query(q): Query<HashMap<String, String>>,
    ) -> (AxumStatus, String) {
        let key = headers
            .get("subscription-key")
            .and_then(|v| v.to_str().ok());
        let query = q.get("query").cloned().unwrap_or_default();
        if key != Some(MAPS_KEY) {
            return (AxumStatus::UNAUTHORIZED, "{}".to_owned());
        }
        if query.starts_with("48.85") {
            let body = json!({"error": {"code": "InternalError", "message": "upstream broke"}});
            return (AxumStatus::INTERNAL_SERVER_ERROR, body.to_string());
        }
        let body = json!({"summary": {"numResults": 1}, "addresses": [{"address": {
            "countryCode": "IN", "country": "India", "countryCodeISO3": "IND",
            "municipality": "Bengaluru", "freeformAddress": "Bengaluru"}, "position": query}]});
        (AxumStatus::OK, body.to_string())
    }
    let app = Router::new().route("/search/address/reverse/json", get(reverse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Everything secret the run used, as the strings a leak would show.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(
            value.len() >= 12,
            "{what} is too short to look for: {value:?}"
        );
        self.0.push((what.to_owned(), value.to_owned()));
    }

    /// Raw bytes in hex and every base64 alphabet.
    fn add_bytes(&mut self, what: &str, bytes: &[u8]) {
        self.add(&format!("{what} (hex)"), &hex(bytes));
        for (name, text) in [
            ("base64", STANDARD.encode(bytes)),
            ("base64 no pad", STANDARD_NO_PAD.encode(bytes)),
            ("base64url", URL_SAFE.encode(bytes)),
            ("base64url no pad", URL_SAFE_NO_PAD.encode(bytes)),
        ] {
            self.add(&format!("{what} ({name})"), &text);
        }
        if let Ok(text) = std::str::from_utf8(bytes) {
            self.add(what, text.trim());
        }
    }

    /// A JWT and its signature alone.
    fn add_jwt(&mut self, what: &str, token: &str) {
        self.add(what, token);
        let signature = token.rsplit('.').next().expect("a JWT has parts");
        self.add(&format!("{what} signature"), signature);
    }

    fn leaks_in(&self, log: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, value)| log.contains(value.as_str()))
            .map(|(what, _)| what.clone())
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in through the local form; returns the client (cookie kept) and the cookie value.
async fn sign_in(dev: &Dev, name: &str, roles: &str) -> (reqwest::Client, String) {
    let client = client();
    let response = client
        .post(dev.url("/.auth/login/github"))
        .form(&[
            ("userDetails", name),
            ("userId", ""),
            ("userRoles", roles),
            ("post_login_redirect_uri", "/"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("StaticWebAppsAuthCookie="))
        .and_then(|v| v.split(';').next())
        .expect("the session cookie")
        .to_owned();
    (client, cookie)
}

/// The principal `/.auth/me` reports, encoded as Static Web Apps forwards it.
async fn forwarded_principal(dev: &Dev, client: &reqwest::Client) -> (String, String) {
    let me: Value = client
        .get(dev.url("/.auth/me"))
        .send()
        .await
        .expect("/.auth/me")
        .json()
        .await
        .expect("JSON");
    let principal: ClientPrincipal =
        serde_json::from_value(me["clientPrincipal"].clone()).expect("a principal");
    (principal.user_id.clone(), principal.encode())
}

async fn expect(response: reqwest::Response, status: StatusCode, what: &str) -> Value {
    let actual = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "{what}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::String(body))
}

/// Runs the scenario; returns the secrets it used.
async fn scenario(dev: &Dev) -> Secrets {
    let mut secrets = Secrets::default();
    let (ann, ann_cookie) = sign_in(dev, "ann", "authenticated").await;
    let (bob, bob_cookie) = sign_in(dev, "bob", "authenticated").await;
    let (boss, boss_cookie) = sign_in(dev, "boss", "authenticated,admin").await;
    for (what, cookie) in [
        ("ann's session cookie", &ann_cookie),
        ("bob's session cookie", &bob_cookie),
        ("the admin's session cookie", &boss_cookie),
    ] {
        secrets.add(what, cookie);
    }
    let (_, ann_principal) = forwarded_principal(dev, &ann).await;
    let (bob_id, bob_principal) = forwarded_principal(dev, &bob).await;
    secrets.add("ann's forwarded principal", &ann_principal);
    secrets.add("bob's forwarded principal", &bob_principal);
    secrets.add("the admin principal header", &admin_principal());

    for (client, name, lat, lon) in [(&ann, "ann", 12.97, 77.59), (&bob, "bob", 35.68, 139.69)] {
        let body = json!({"name": name, "position": {"latitude": lat, "longitude": lon}});
        let response = client.post(dev.url("/api/user")).json(&body).send().await;
        expect(response.expect("sign up"), StatusCode::OK, "sign up").await;
    }
    let chat = ann
        .post(dev.url("/api/chat"))
        .json(&json!({"toUserId": bob_id, "content": "Hi-CosmosPark"}))
        .send()
        .await;
    expect(chat.expect("chat"), StatusCode::OK, "chat").await;
    let command = bob
        .post(dev.url("/api/command/insert"))
        .header("Idempotency-Key", "secrets-1")
        .json(&json!({"Data": {"note": "hello"}}))
        .send()
        .await;
    expect(command.expect("command"), StatusCode::ACCEPTED, "command").await;

    let negotiated = ann.get(dev.url("/api/pubsub/connection")).send().await;
    let connection = expect(negotiated.expect("negotiate"), StatusCode::OK, "negotiate").await;
    let token = connection["accessToken"]
        .as_str()
        .expect("an access token")
        .to_owned();
    secrets.add_jwt("the Web PubSub client token", &token);
    let url = connection["url"].as_str().expect("a client URL");
    let mut request = url.into_client_request().expect("a websocket request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("json.reliable.webpubsub.azure.v1"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect to the hub");
    let connected = socket.next().await.expect("a frame").expect("a message");
    let connected: Value = serde_json::from_str(connected.to_text().expect("text")).expect("JSON");
    assert_eq!(connected["event"], "connected", "{connected}");
    secrets.add(
        "the reconnection token",
        connected["reconnectionToken"]
            .as_str()
            .expect("the reliable protocol's reconnection token"),
    );

    let lookup = ann
        .get(dev.url("/api/azMap/addressLookup/48.85/2.35"))
        .send()
        .await;
    expect(lookup.expect("lookup"), StatusCode::BAD_GATEWAY, "lookup").await;
    secrets.add("the Maps key", MAPS_KEY);

    dev.idle().await;
    let letters = boss.get(dev.url("/_devhost/deadletters")).send().await;
    expect(letters.expect("admin"), StatusCode::OK, "dead letters").await;
    let health = dev.http.get(dev.url("/api/health")).send().await;
    let health = expect(health.expect("health"), StatusCode::OK, "health").await;
    assert_eq!(health["status"], "healthy", "{health}");
    drop(socket);

    secrets.add_bytes(
        "the session cookie key",
        &std::fs::read(dev.data.join("swa-cookie.key")).expect("swa-cookie.key"),
    );
    let hub_key = std::fs::read(dev.data.join("webpubsub.key")).expect("webpubsub.key");
    secrets.add_bytes("the hub access key", &hub_key);
    secrets
}

async fn run(format: Option<&str>) {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().expect("data dir");
    let log = log_file("secrets");
    let maps = maps_stand_in().await;
    let mut env = vec![
        ("RUST_LOG", "debug"),
        ("AzureMaps__Key", MAPS_KEY),
        ("AzureMaps__Endpoint", maps.as_str()),
    ];
    if let Some(format) = format {
        env.push(("COSMOSPARK_LOG_FORMAT", format));
    }
    let dev = Dev::start_with_env(root.path(), data.path(), &[], &env, &log);
    let secrets = scenario(&dev).await;
    dev.terminate();
    let text = read_log(&log);
    assert!(
        text.contains("command accepted"),
        "the log holds the run's debug lines:\n{text}"
    );
    let leaks = secrets.leaks_in(&text);
    assert!(
        leaks.is_empty(),
        "secrets in the log ({}): {leaks:?}",
        log.display()
    );
}

fn read_log(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).expect("the log")).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_the_default_log() {
    run(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_the_json_log() {
    run(Some("json")).await;
}

#[test]
fn the_search_finds_a_planted_secret() {
    let mut secrets = Secrets::default();
    secrets.add_bytes("key", b"0123456789abcdef");
    secrets.add_jwt(
        "token",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ",
    );
    let log = format!("INFO x key={}", URL_SAFE_NO_PAD.encode(b"0123456789abcdef"));
    assert!(
        secrets
            .leaks_in(&log)
            .contains(&"key (base64url no pad)".to_owned())
    );
    assert!(!secrets.leaks_in(&log).contains(&"key (hex)".to_owned()));
    assert_eq!(
        secrets.leaks_in("sig c2lnbmF0dXJlLXBhcnQ"),
        vec!["token signature"]
    );
    assert!(secrets.leaks_in("nothing here").is_empty());
}
