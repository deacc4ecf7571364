//! Black-box scenario through the running `cosmospark dev` binary: two users meet, chat, one
//! greets the other with "Hi-CosmosPark" to complete a task, the score is awarded once, and
//! realtime messages arrive on websockets connected through `/api/pubsub/connection`.

mod support;

use cosmospark::runtime::ClientPrincipal;
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::{Dev, HANG, app_root};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn principal(user: &str) -> String {
    ClientPrincipal {
        identity_provider: "github".into(),
        user_id: user.into(),
        user_details: user.into(),
        user_roles: vec!["anonymous".into(), "authenticated".into()],
    }
    .encode()
}

async fn api(dev: &Dev, method: &str, path: &str, user: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = dev
        .http
        .request(method.parse().unwrap(), dev.url(path))
        .header("x-ms-client-principal", principal(user));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Negotiates through the app's route and connects with the Web PubSub JSON subprotocol.
async fn connect(dev: &Dev, user: &str) -> Socket {
    let (status, details) = api(dev, "GET", "/api/pubsub/connection", user, None).await;
    assert_eq!(status, 200, "{details}");
    let url = details["url"].as_str().expect("url").to_owned();
    assert!(details["accessToken"].is_string());
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("json.webpubsub.azure.v1"),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
}

/// Reads server messages until one of `kind` arrives; returns its data.
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    next_where(socket, kind, |_| true).await
}

/// Reads server messages until one of `kind` matching `wanted` arrives; returns its data.
async fn next_where(socket: &mut Socket, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = tokio::time::timeout(HANG, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} arrived"))
            .expect("socket ended")
            .expect("socket error");
        let Message::Text(text) = frame else { continue };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        if frame["type"] != "message" {
            continue;
        }
        let data = match &frame["data"] {
            Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            other => other.clone(),
        };
        if data["type"] == kind && wanted(&data) {
            return data;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_meet_chat_greet_and_score_once() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;

    let profile = |name: &str, lat: f64, lon: f64| json!({"name": name, "position": {"latitude": lat, "longitude": lon}});
    let (status, ann) = api(
        &dev,
        "POST",
        "/api/user",
        "ann",
        Some(profile("Ann", 12.97, 77.59)),
    )
    .await;
    assert_eq!(status, 200, "{ann}");
    assert_eq!(ann["address"]["country"]["code"], "IN");
    let mut ann_socket = connect(&dev, "ann").await;
    let mut bob_socket = connect(&dev, "bob").await;
    let (status, _) = api(
        &dev,
        "POST",
        "/api/user",
        "bob",
        Some(profile("Bob", 48.85, 2.35)),
    )
    .await;
    assert_eq!(status, 200);
    // Ann sees Bob join (public broadcast, coarse position).
    let joined = next_where(&mut ann_socket, "UserCreatedEvent", |d| {
        d["userId"] == "bob"
    })
    .await;
    assert_eq!(joined["userName"], "Bob");

    let (_, round) = api(&dev, "GET", "/api/round", "ann", None).await;
    let (start, end) = (
        round["start"].as_i64().unwrap(),
        round["end"].as_i64().unwrap(),
    );
    let (status, tasks) = api(
        &dev,
        "GET",
        &format!("/api/tasks/users/ann/timestamp/{start}/{end}"),
        "ann",
        None,
    )
    .await;
    assert_eq!(status, 200, "{tasks}");
    assert_eq!(tasks.as_array().map(Vec::len), Some(1));
    assert_eq!(tasks[0]["taskDetail"]["userId"], "bob");
    let task_id = tasks[0]["id"].as_str().unwrap().to_owned();

    let (status, _) = api(
        &dev,
        "POST",
        "/api/chat",
        "ann",
        Some(json!({"toUserId": "bob", "content": "hello"})),
    )
    .await;
    assert_eq!(status, 200);
    let message = next_where(&mut bob_socket, "MessageSentEvent", |d| {
        d["senderMessage"] == "hello"
    })
    .await;
    assert_eq!(message["senderId"], "ann");
    assert_eq!(message["senderMessage"], "hello");
    let bar = next_where(&mut bob_socket, "ChatsBarUpdatedEvent", |d| {
        d["lastMessage"] == "hello"
    })
    .await;
    assert_eq!(bar["toUserId"], "ann");

    let (status, _) = api(
        &dev,
        "POST",
        "/api/chat",
        "ann",
        Some(json!({"toUserId": "bob", "content": "Hi-CosmosPark", "messageId": "greet-1"})),
    )
    .await;
    assert_eq!(status, 200);
    let done = next_of(&mut ann_socket, "TaskCompletedEvent").await;
    assert_eq!(done["taskId"], task_id);
    assert_eq!(done["points"], 6, "Bengaluru to Paris is over 3,000 km");

    // The same greeting retried, and the original route re-checked: still one award.
    api(
        &dev,
        "POST",
        "/api/chat",
        "ann",
        Some(json!({"toUserId": "bob", "content": "Hi-CosmosPark", "messageId": "greet-1"})),
    )
    .await;
    let (_, recheck) = api(
        &dev,
        "POST",
        &format!("/api/tasks/{task_id}/users/ann/timestamp/{start}/{end}"),
        "ann",
        Some(json!({})),
    )
    .await;
    assert_eq!(recheck, json!({"success": true}));
    let entry_path = format!("/_devhost/containers/CosmicLeaderboards/items/task-{task_id}?pk=ann");
    dev.idle().await;
    let response = dev
        .http
        .get(dev.url(&entry_path))
        .header("x-ms-client-principal", support::admin_principal())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "no leaderboard entry");
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["score"], 6);
    assert_eq!(entry["user"]["id"], "ann");

    // Ann's own chat bar shows the conversation too, and no event was dead-lettered.
    let (_, chats) = api(&dev, "GET", "/api/chats/user/ann", "ann", None).await;
    assert_eq!(chats[0]["toUserId"], "bob");
    assert_eq!(dev.dead_letters().await, Vec::<Value>::new());
}
