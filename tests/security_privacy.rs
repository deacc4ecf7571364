//! Privacy by construction: a player's exact position is visible to that player only. Every
//! read route of the manifest is walked as another user (for the owner's data and for the other
//! user's own — tasks, chats, stats), and every realtime message the event pipeline pushes to
//! anyone else is read; none may carry the owner's exact coordinates.

mod support;

use serde_json::{Value, json};
use support::security::{Call, Serve, World, fill, http_functions, principal, query_for, window};

const EXACT: (f64, f64) = (12.971234, 77.594567);

fn user(id: &str) -> String {
    principal(id, &["anonymous", "authenticated"])
}

/// Where `value` carries an exact coordinate of the owner (number or text).
fn leaks(value: &Value, path: &str, found: &mut Vec<String>) {
    let exact = [EXACT.0, EXACT.1];
    match value {
        Value::Number(n)
            if n.as_f64()
                .is_some_and(|v| exact.iter().any(|e| (v - e).abs() < 1e-9)) =>
        {
            found.push(format!("{path} = {n}"));
        }
        Value::String(s) => {
            if ["12.971234", "77.594567"].iter().any(|e| s.contains(e)) {
                found.push(format!("{path} = {s:?}"));
            }
            if let Ok(inner) = serde_json::from_str::<Value>(s)
                && (inner.is_object() || inner.is_array())
            {
                leaks(&inner, &format!("{path}(json)"), found);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                leaks(item, &format!("{path}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                leaks(v, &format!("{path}.{k}"), found);
            }
        }
        _ => {}
    }
}

async fn sign_up(serve: &Serve, id: &str, latitude: f64, longitude: f64) {
    serve.game.listen(Some(id)).await;
    let body = json!({"name": id, "position": {"latitude": latitude, "longitude": longitude}});
    let answer = serve
        .send(
            &Call::new("CreateUser", "POST", "/api/user")
                .json(&body.to_string())
                .by(Some(&user(id))),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn no_route_and_no_push_shows_another_player_s_exact_position() {
    let serve = Serve::new().await;
    sign_up(&serve, "me", EXACT.0, EXACT.1).await;
    sign_up(&serve, "you", 48.856613, 2.352222).await;
    sign_up(&serve, "third", 35.689487, 139.691711).await;
    let mut pushes = serve.game.settle().await;
    let (start, end) = window();
    // `you` gets this round's tasks (the owner `me` is one of only two candidates) and talks to `me`.
    let tasks_path = format!("/api/tasks/users/you/timestamp/{start}/{end}");
    let tasks = serve
        .send(&Call::new("GetAllTasksByUserId", "GET", &tasks_path).by(Some(&user("you"))))
        .await;
    assert!(
        tasks
            .body
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["taskDetail"]["userId"] == "me")),
        "a task of `you` targets `me`: {tasks:?}"
    );
    let sent = serve
        .send(
            &Call::new("CreateChat", "POST", "/api/chat")
                .json(&json!({"toUserId": "me", "content": "Hi-CosmosPark"}).to_string())
                .by(Some(&user("you"))),
        )
        .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    pushes.extend(serve.game.settle().await);
    let chat = sent.body["chat"]["id"].as_str().expect("chat").to_owned();

    let mut found = Vec::new();
    let mut walked = 0;
    for function in http_functions() {
        if !function.methods.iter().any(|m| m == "GET") {
            continue;
        }
        for acting_for in ["me", "you"] {
            let world = World {
                chat: chat.clone(),
                task: "none".to_owned(),
            };
            let path = fill(&function.route, &world).replace("/me", &format!("/{acting_for}"));
            let path = format!("{path}{}", query_for(&function.name));
            let answer = serve
                .send(&Call::new(&function.name, "GET", &path).by(Some(&user("you"))))
                .await;
            walked += 1;
            leaks(&answer.body, &format!("GET {path}"), &mut found);
        }
    }
    assert!(walked >= 24, "walked {walked} reads");
    // Typing (an HTTP function's output) and the round timer push too.
    let typing = serve
        .game
        .http(
            "SendTyping",
            "POST",
            &format!("/api/chats/{chat}/typing"),
            &support::game::Who::user("me"),
            None,
        )
        .await;
    assert_eq!(typing.status, 202, "{typing:?}");
    pushes.extend(support::game::pushes(&typing.outputs["actions"]));
    let timer = json!({"Data": {"timer": {"Schedule": {"AdjustForDST": false}, "IsPastDue": false}},
        "Metadata": {"sys": {"MethodName": "RoundTimer", "UtcNow": "2026-11-24T13:00:00.01Z"}}});
    let (status, answer) = serve.game.invoke("RoundTimer", timer).await;
    assert_eq!(status, 200, "{answer}");
    pushes.extend(support::game::pushes(&answer["Outputs"]["actions"]));
    let others: Vec<_> = pushes
        .iter()
        .filter(|p| p.user_id.as_deref() != Some("me"))
        .collect();
    let mut types: Vec<&str> = others
        .iter()
        .filter_map(|p| p.data["type"].as_str())
        .collect();
    types.sort_unstable();
    types.dedup();
    // Every message type another player can receive here (scores come from the read side's
    // processor and carry points only).
    for expected in [
        "ChatsBarUpdatedEvent",
        "MessageSentEvent",
        "RoundStartedEvent",
        "TaskCompletedEvent",
        "UserCreatedEvent",
        "typingMessageEvent",
    ] {
        assert!(types.contains(&expected), "no {expected} among {types:?}");
    }
    for push in others {
        leaks(
            &push.data,
            &format!("push {} to {:?}", push.action, push.user_id),
            &mut found,
        );
    }
    assert!(
        found.is_empty(),
        "exact position of `me` seen by others:\n{}",
        found.join("\n")
    );

    // The owner still sees their own exact position.
    let own = serve
        .send(&Call::new("GetUserById", "GET", "/api/user/me").by(Some(&user("me"))))
        .await;
    let mut mine = Vec::new();
    leaks(&own.body, "own profile", &mut mine);
    assert!(!mine.is_empty(), "{own:?}");
}
