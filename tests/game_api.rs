//! The game's HTTP API through `FunctionApp::router()` with host envelopes over a temporary
//! embedded store: the auth matrix (every route × anonymous, self, other user, admin) and bad
//! inputs answered with a specific 4xx that names the field.

mod support;

use cosmospark::app::services::Settings;
use cosmospark::devhost::webpubsub::{AccessKey, Hub, HubConfig, token};
use serde_json::json;
use support::game::{Game, Who, current_window, say, sign_up};

/// One route: function, method, path acting for user `me`, and a valid body.
struct Case {
    function: &'static str,
    method: &'static str,
    path: String,
    body: Option<String>,
    /// Expected statuses for [anonymous, self, other user, admin].
    expect: [u16; 4],
}

#[tokio::test]
async fn auth_matrix_every_route() {
    let game = Game::new().await;
    sign_up(&game, "me", "Me", 12.97, 77.59).await;
    sign_up(&game, "you", "You", 48.85, 2.35).await;
    let sent = say(&game, "me", "you", "hello").await;
    assert_eq!(sent.status, 200, "{:?}", sent.body);
    game.settle().await;
    let chat_id = sent.body["chat"]["id"].as_str().unwrap().to_owned();
    let (start, end) = current_window();
    // Assign my tasks so CompleteTask has a task to name.
    let tasks = support::game::tasks(&game, "me").await;
    assert_eq!(tasks.status, 200, "{tasks:?}");
    let task_id = tasks.body[0]["id"].as_str().expect("a task").to_owned();
    let task_body = json!({
        "id": "admin-task-1", "userId": "you", "userName": "You",
        "taskDetail": {"userId": "me", "userName": "Me"}, "isCompleted": false
    })
    .to_string();
    let score_body =
        json!({"id": "bonus-1", "user": {"id": "you", "name": "You"}, "score": 5}).to_string();

    // The acting user is "me"; "other user" is "you" calling routes that act for "me";
    // admin is "boss" (not a participant of the chat).
    let cases = vec![
        Case { function: "CreateUser", method: "POST", path: "/api/user".into(), body: Some(json!({"id": "me", "name": "Me", "position": {"latitude": 12.97, "longitude": 77.59}}).to_string()), expect: [401, 200, 403, 403] },
        Case { function: "GetUserById", method: "GET", path: "/api/user/me".into(), body: None, expect: [401, 200, 200, 200] },
        Case { function: "GetAllUsers", method: "GET", path: "/api/users".into(), body: None, expect: [401, 200, 200, 200] },
        Case { function: "GetAllUsersByCountryCode", method: "GET", path: "/api/users/IN".into(), body: None, expect: [401, 200, 200, 200] },
        Case { function: "CreateChat", method: "POST", path: "/api/chat".into(), body: Some(json!({"senderId": "me", "toUserId": "you", "content": "hi"}).to_string()), expect: [401, 200, 403, 403] },
        Case { function: "GetAllChatsByUserId", method: "GET", path: "/api/chats/user/me".into(), body: None, expect: [401, 200, 403, 200] },
        Case { function: "GetAllMessagesByChatId", method: "GET", path: format!("/api/chats/{chat_id}"), body: None, expect: [401, 200, 200, 200] },
        Case { function: "MarkChatRead", method: "POST", path: format!("/api/chats/{chat_id}/read"), body: None, expect: [401, 200, 200, 404] },
        Case { function: "SendTyping", method: "POST", path: format!("/api/chats/{chat_id}/typing"), body: None, expect: [401, 202, 202, 404] },
        Case { function: "GetAllTasksByUserId", method: "GET", path: format!("/api/tasks/users/me/timestamp/{start}/{end}"), body: None, expect: [401, 200, 403, 200] },
        Case { function: "CompleteTask", method: "POST", path: format!("/api/tasks/{task_id}/users/me/timestamp/{start}/{end}"), body: Some("{}".into()), expect: [401, 200, 403, 200] },
        Case { function: "CreateTask", method: "POST", path: "/api/task".into(), body: Some(task_body), expect: [401, 403, 403, 200] },
        Case { function: "CreateScore", method: "POST", path: "/api/leaderboard".into(), body: Some(score_body), expect: [401, 403, 403, 200] },
        Case { function: "GetToken", method: "GET", path: "/api/azMap/token".into(), body: None, expect: [401, 503, 503, 503] },
        Case { function: "LookupAddress", method: "GET", path: "/api/azMap/addressLookup/12.97/77.59".into(), body: None, expect: [401, 200, 200, 200] },
        Case { function: "GetRound", method: "GET", path: "/api/round".into(), body: None, expect: [200, 200, 200, 200] },
    ];
    let callers = [
        Who::Anonymous,
        Who::user("me"),
        Who::user("you"),
        Who::Admin("boss".into()),
    ];
    let mut failures = Vec::new();
    for case in &cases {
        for (who, expected) in callers.iter().zip(case.expect) {
            let reply = if case.function == "GetConnectionDetails" {
                unreachable!()
            } else {
                game.http(
                    case.function,
                    case.method,
                    &case.path,
                    who,
                    case.body.as_deref(),
                )
                .await
            };
            if reply.status != expected {
                failures.push(format!(
                    "{} as {who:?}: expected {expected}, got {} {}",
                    case.function, reply.status, reply.body
                ));
            }
            if reply.status >= 400 {
                assert!(
                    reply.body["error"]["code"].is_string(),
                    "{}: {}",
                    case.function,
                    reply.body
                );
            }
        }
    }
    // Without a Web PubSub setting the negotiate route is unavailable, not broken.
    let missing = game
        .http(
            "GetConnectionDetails",
            "GET",
            "/api/pubsub/connection",
            &Who::user("me"),
            None,
        )
        .await;
    assert_eq!(missing.status, 503);
    assert!(failures.is_empty(), "auth matrix:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn messages_of_a_chat_are_for_members_only() {
    let game = Game::new().await;
    sign_up(&game, "a", "Ann", 10.0, 10.0).await;
    sign_up(&game, "b", "Bob", 11.0, 11.0).await;
    sign_up(&game, "c", "Cy", 12.0, 12.0).await;
    let sent = say(&game, "a", "b", "secret").await;
    let chat = sent.body["chat"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/chats/{chat}");
    // An outsider reads the chat as empty: the answer does not reveal that a and b talk.
    for (who, count) in [("a", 1), ("b", 1), ("c", 0)] {
        let reply = game
            .http(
                "GetAllMessagesByChatId",
                "GET",
                &path,
                &Who::user(who),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{who}");
        assert_eq!(reply.body.as_array().map(Vec::len), Some(count), "{who}");
    }
}

#[tokio::test]
async fn other_users_see_coarse_positions_only() {
    let game = Game::new().await;
    sign_up(&game, "a", "Ann", 12.971_599, 77.594_566).await;
    let mine = game
        .http("GetUserById", "GET", "/api/user/a", &Who::user("a"), None)
        .await;
    let theirs = game
        .http("GetUserById", "GET", "/api/user/a", &Who::user("b"), None)
        .await;
    assert_eq!(mine.body["address"]["position"]["latitude"], 12.971_599);
    assert_ne!(theirs.body["address"]["position"]["latitude"], 12.971_599);
    assert!(theirs.body["roles"].as_array().is_none_or(|r| r.is_empty()));
    let missing = game
        .http(
            "GetUserById",
            "GET",
            "/api/user/nobody",
            &Who::user("a"),
            None,
        )
        .await;
    assert_eq!(missing.status, 204);
    let everyone = game
        .http("GetAllUsers", "GET", "/api/users", &Who::user("b"), None)
        .await;
    assert_eq!(everyone.status, 200, "{everyone:?}");
    assert_eq!(
        everyone.body[0]["address"]["position"],
        theirs.body["address"]["position"]
    );
}

#[tokio::test]
async fn users_by_country_are_really_filtered() {
    let game = Game::new().await;
    sign_up(&game, "in1", "Asha", 12.97, 77.59).await;
    sign_up(&game, "fr1", "Jean", 48.85, 2.35).await;
    let india = game
        .http(
            "GetAllUsersByCountryCode",
            "GET",
            "/api/users/IN",
            &Who::user("in1"),
            None,
        )
        .await;
    let ids: Vec<&str> = india
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["in1"]);
    let lower = game
        .http(
            "GetAllUsersByCountryCode",
            "GET",
            "/api/users/fr",
            &Who::user("in1"),
            None,
        )
        .await;
    assert_eq!(lower.body.as_array().map(Vec::len), Some(1));
}

/// (function, method, path, body, expected status, expected field)
type BadInput = (
    &'static str,
    &'static str,
    String,
    Option<String>,
    u16,
    &'static str,
);

#[tokio::test]
async fn bad_inputs_get_a_specific_4xx_naming_the_field() {
    let game = Game::new().await;
    sign_up(&game, "me", "Me", 12.97, 77.59).await;
    let (start, end) = current_window();
    let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(20_000));
    let long_message = json!({"toUserId": "me2", "content": "y".repeat(5000)}).to_string();
    let cases: Vec<BadInput> = vec![
        ("CreateUser", "POST", "/api/user".into(), None, 400, "body"),
        (
            "CreateUser",
            "POST",
            "/api/user".into(),
            Some("not json".into()),
            400,
            "body",
        ),
        (
            "CreateUser",
            "POST",
            "/api/user".into(),
            Some("[1,2]".into()),
            400,
            "body",
        ),
        (
            "CreateUser",
            "POST",
            "/api/user".into(),
            Some(json!({"name": "Me"}).to_string()),
            400,
            "position",
        ),
        (
            "CreateUser",
            "POST",
            "/api/user".into(),
            Some(json!({"position": {"latitude": 91, "longitude": 0}}).to_string()),
            400,
            "position.latitude",
        ),
        (
            "CreateUser",
            "POST",
            "/api/user".into(),
            Some(json!({"position": {"latitude": "north", "longitude": 0}}).to_string()),
            400,
            "position.latitude",
        ),
        (
            "CreateUser",
            "POST",
            "/api/user".into(),
            Some(json!({"name": 5, "position": {"latitude": 1, "longitude": 2}}).to_string()),
            400,
            "name",
        ),
        (
            "CreateUser",
            "POST",
            "/api/user".into(),
            Some(huge.clone()),
            413,
            "body",
        ),
        (
            "GetUserById",
            "GET",
            "/api/user/a%2Fb".into(),
            None,
            400,
            "userId",
        ),
        (
            "GetAllUsersByCountryCode",
            "GET",
            "/api/users/XX1".into(),
            None,
            400,
            "countryCode",
        ),
        (
            "CreateChat",
            "POST",
            "/api/chat".into(),
            Some(json!({"content": "hi"}).to_string()),
            400,
            "toUserId",
        ),
        (
            "CreateChat",
            "POST",
            "/api/chat".into(),
            Some(json!({"toUserId": "me2"}).to_string()),
            400,
            "content",
        ),
        (
            "CreateChat",
            "POST",
            "/api/chat".into(),
            Some(json!({"toUserId": "me2", "content": "   "}).to_string()),
            400,
            "content",
        ),
        (
            "CreateChat",
            "POST",
            "/api/chat".into(),
            Some(long_message),
            400,
            "content",
        ),
        (
            "CreateChat",
            "POST",
            "/api/chat".into(),
            Some(json!({"toUserId": "me", "content": "hi"}).to_string()),
            400,
            "toUserId",
        ),
        (
            "CreateChat",
            "POST",
            "/api/chat".into(),
            Some(json!({"toUserId": "ghost", "content": "hi"}).to_string()),
            404,
            "toUserId",
        ),
        (
            "CreateChat",
            "POST",
            "/api/chat".into(),
            Some(huge),
            413,
            "body",
        ),
        (
            "GetAllMessagesByChatId",
            "GET",
            "/api/chats/bad!id".into(),
            None,
            400,
            "chatId",
        ),
        (
            "GetAllMessagesByChatId",
            "GET",
            "/api/chats/abc?limit=0".into(),
            None,
            400,
            "limit",
        ),
        (
            "GetAllMessagesByChatId",
            "GET",
            "/api/chats/abc?limit=lots".into(),
            None,
            400,
            "limit",
        ),
        (
            "GetAllMessagesByChatId",
            "GET",
            "/api/chats/abc?before=yesterday".into(),
            None,
            400,
            "before",
        ),
        (
            "MarkChatRead",
            "POST",
            "/api/chats/nochat/read".into(),
            None,
            404,
            "chatId",
        ),
        (
            "SendTyping",
            "POST",
            "/api/chats/nochat/typing".into(),
            None,
            404,
            "chatId",
        ),
        (
            "GetAllTasksByUserId",
            "GET",
            format!("/api/tasks/users/me/timestamp/abc/{end}"),
            None,
            400,
            "starttimestamp",
        ),
        (
            "GetAllTasksByUserId",
            "GET",
            format!("/api/tasks/users/me/timestamp/{start}/{}", end + 86_400),
            None,
            400,
            "endtimestamp",
        ),
        (
            "CompleteTask",
            "POST",
            format!("/api/tasks/bad%20id/users/me/timestamp/{start}/{end}"),
            None,
            400,
            "taskId",
        ),
        (
            "CompleteTask",
            "POST",
            format!("/api/tasks/nosuchtask/users/me/timestamp/{start}/{end}"),
            None,
            404,
            "taskId",
        ),
        (
            "LookupAddress",
            "GET",
            "/api/azMap/addressLookup/north/77".into(),
            None,
            400,
            "latitude",
        ),
        (
            "LookupAddress",
            "GET",
            "/api/azMap/addressLookup/12/181".into(),
            None,
            400,
            "longitude",
        ),
        (
            "LookupAddress",
            "GET",
            "/api/azMap/addressLookup/NaN/0".into(),
            None,
            400,
            "latitude",
        ),
    ];
    let mut failures = Vec::new();
    for (function, method, path, body, status, field) in &cases {
        let reply = game
            .http(function, method, path, &Who::user("me"), body.as_deref())
            .await;
        if reply.status != *status || reply.field() != Some(*field) {
            failures.push(format!(
                "{function} {path}: expected {status} naming {field}, got {} {}",
                reply.status, reply.body
            ));
        }
    }
    let admin = Who::Admin("boss".into());
    for (function, path, body, field) in [
        (
            "CreateScore",
            "/api/leaderboard",
            json!({"user": {"id": "me", "name": "Me"}}),
            "score",
        ),
        (
            "CreateScore",
            "/api/leaderboard",
            json!({"user": {"id": "me", "name": "Me"}, "score": "ten"}),
            "score",
        ),
        (
            "CreateScore",
            "/api/leaderboard",
            json!({"score": 1}),
            "user",
        ),
        ("CreateTask", "/api/task", json!({"id": "t1"}), "body"),
    ] {
        let reply = game
            .http(function, "POST", path, &admin, Some(&body.to_string()))
            .await;
        if reply.status != 400 || reply.field() != Some(field) {
            failures.push(format!(
                "{function} {body}: expected 400 naming {field}, got {} {}",
                reply.status, reply.body
            ));
        }
    }
    let bad_principal = game
        .http("GetAllUsers", "GET", "/api/users", &Who::Malformed, None)
        .await;
    assert_eq!(bad_principal.status, 400);
    assert_eq!(bad_principal.field(), Some("x-ms-client-principal"));
    assert!(failures.is_empty(), "bad inputs:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn offline_lookup_has_the_azure_maps_shape() {
    let game = Game::new().await;
    let reply = game
        .http(
            "LookupAddress",
            "GET",
            "/api/azMap/addressLookup/48.8566/2.3522",
            &Who::user("me"),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["addresses"][0]["address"]["countryCode"], "FR");
    assert!(reply.body["addresses"][0]["address"]["freeformAddress"].is_string());
}

#[tokio::test]
async fn chat_sends_are_idempotent_with_a_client_message_id_and_paged() {
    let game = Game::new().await;
    sign_up(&game, "a", "Ann", 10.0, 10.0).await;
    sign_up(&game, "b", "Bob", 11.0, 11.0).await;
    let body = json!({"toUserId": "b", "content": "once", "messageId": "client-1"}).to_string();
    let first = game
        .http(
            "CreateChat",
            "POST",
            "/api/chat",
            &Who::user("a"),
            Some(&body),
        )
        .await;
    let again = game
        .http(
            "CreateChat",
            "POST",
            "/api/chat",
            &Who::user("a"),
            Some(&body),
        )
        .await;
    assert_eq!(first.body["id"], again.body["id"]);
    // The same pair always lands in the same chat, whoever writes.
    let back = say(&game, "b", "a", "reply").await;
    assert_eq!(back.body["chat"]["id"], first.body["chat"]["id"]);
    for i in 0..5 {
        say(&game, "a", "b", &format!("m{i}")).await;
    }
    let chat = first.body["chat"]["id"].as_str().unwrap();
    let page = game
        .http(
            "GetAllMessagesByChatId",
            "GET",
            &format!("/api/chats/{chat}?limit=3"),
            &Who::user("b"),
            None,
        )
        .await;
    assert_eq!(page.body.as_array().unwrap().len(), 3);
    let cursor = page.headers["x-next-before"]
        .as_str()
        .expect("next cursor")
        .to_owned();
    let older = game
        .http(
            "GetAllMessagesByChatId",
            "GET",
            &format!("/api/chats/{chat}?limit=10&before={cursor}"),
            &Who::user("b"),
            None,
        )
        .await;
    assert_eq!(older.body.as_array().unwrap().len(), 4, "7 messages: 3 + 4");
    assert!(
        older
            .headers
            .get("x-next-before")
            .is_none_or(|v| v.is_null())
    );
}

/// A game whose settings name a loopback Web PubSub service.
async fn game_with_hub() -> (std::sync::Arc<Game>, Hub) {
    let (settings, hub) = support::game::loopback_hub().await;
    (Game::with_settings(settings).await, hub)
}

#[tokio::test]
async fn negotiate_issues_a_token_for_the_principal_through_the_rest_api() {
    let (game, hub) = game_with_hub().await;
    let callers = [
        Who::Anonymous,
        Who::user("me"),
        Who::user("you"),
        Who::Admin("boss".into()),
    ];
    for (who, expected) in callers.iter().zip([401, 200, 200, 200]) {
        let reply = game
            .http(
                "GetConnectionDetails",
                "GET",
                "/api/pubsub/connection",
                who,
                None,
            )
            .await;
        assert_eq!(reply.status, expected, "{who:?}: {:?}", reply.body);
        if expected != 200 {
            continue;
        }
        let base = reply.body["baseUrl"].as_str().unwrap();
        assert!(base.starts_with("ws://127.0.0.1:"), "{base}");
        assert!(base.ends_with("/client/hubs/CosmosPark"), "{base}");
        let token = reply.body["accessToken"].as_str().unwrap();
        assert_eq!(
            reply.body["url"].as_str().unwrap(),
            format!("{base}?access_token={token}")
        );
        let audience = base.replacen("ws://", "http://", 1);
        let identity = token::verify(hub.key(), &audience, token, true).unwrap();
        let (Who::User(id) | Who::Admin(id)) = who else {
            unreachable!()
        };
        assert_eq!(identity.user_id.as_deref(), Some(id.as_str()));
        assert!(identity.roles.is_empty() && identity.groups.is_empty());
    }
}

#[tokio::test]
async fn the_rest_api_refuses_calls_not_signed_with_the_key() {
    let (_game, hub) = game_with_hub().await;
    let other = Hub::new(AccessKey::generate(), HubConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, cosmospark::devhost::webpubsub::router(other)).await
    });
    // The app signs with `hub`'s key, the service at `endpoint` holds another: 502 naming it.
    let settings = Settings::from_lookup(|name| {
        (name == "WebPubSubConnection").then(|| hub.key().connection_string(&endpoint))
    })
    .unwrap();
    let game = Game::with_settings(settings).await;
    let reply = game
        .http(
            "GetConnectionDetails",
            "GET",
            "/api/pubsub/connection",
            &Who::user("me"),
            None,
        )
        .await;
    assert_eq!(reply.status, 502, "{:?}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("401") && message.contains("signature"),
        "{message}"
    );
}
