//! The game's event pipeline, run by the local platform in process: change feed → relay
//! functions → Event Grid subscribers (per `infra/eventgrid-subscriptions.json`) → store writes
//! and Web PubSub pushes, as the hub's clients receive them. Proves the greeting completes a task and scores once, realtime messages go to the
//! right users, and replaying, duplicating or reordering events changes nothing.

mod support;

use std::sync::Arc;

use serde_json::{Value, json};
use support::game::{Game, Push, Who, current_window, pushes, say, sign_up, tasks};

fn of_type<'a>(pushes: &'a [Push], kind: &str) -> Vec<&'a Push> {
    pushes.iter().filter(|p| p.data["type"] == kind).collect()
}

async fn task_entries(game: &Game) -> Vec<Value> {
    game.all("CosmicLeaderboards")
        .await
        .into_iter()
        .filter(|e| e["id"].as_str().is_some_and(|id| id.starts_with("task-")))
        .collect()
}

/// Every document of every game container, sorted: the state replays must not change.
async fn snapshot(game: &Game) -> Vec<Value> {
    let mut all = Vec::new();
    for container in [
        "CosmicUsers",
        "CosmicChats",
        "CosmicUserChats",
        "CosmicUserTasks",
        "CosmicTaskValidator",
        "CosmicLeaderboards",
    ] {
        let mut docs = game.all(container).await;
        docs.sort_by_key(|d| d["id"].as_str().unwrap_or_default().to_owned());
        all.push(json!({ container: docs }));
    }
    all
}

async fn my_tasks(game: &Game, user: &str) -> Vec<Value> {
    let reply = tasks(game, user).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn greeting_completes_the_task_scores_once_and_pushes_to_the_right_users() {
    let game = Game::new().await;
    // Bengaluru and Paris: ~7,800 km apart → 6 points.
    sign_up(&game, "ann", "Ann", 12.97, 77.59).await;
    sign_up(&game, "bob", "Bob", 48.85, 2.35).await;
    let joined = game.settle().await;
    let joins = of_type(&joined, "UserCreatedEvent");
    assert_eq!(joins.len(), 2);
    assert!(joins.iter().all(|p| p.action == "sendToAll"));

    let tasks = my_tasks(&game, "ann").await;
    assert_eq!(tasks.len(), 1, "one other user, one task");
    assert_eq!(tasks[0]["taskDetail"]["userId"], "bob");
    let task_id = tasks[0]["id"].as_str().unwrap().to_owned();

    assert_eq!(say(&game, "ann", "bob", "hello!").await.status, 200);
    assert_eq!(
        say(&game, "ann", "bob", "  hi-cosmospark ").await.status,
        200
    );
    // Message sent → task completed → score awarded, each pushed by its subscriber.
    let pushed = game.settle().await;

    let sent = of_type(&pushed, "MessageSentEvent");
    assert_eq!(sent.len(), 4, "two messages, each to both members");
    assert!(sent.iter().all(|p| p.action == "sendToUser"));
    let bars = of_type(&pushed, "ChatsBarUpdatedEvent");
    for user in ["ann", "bob"] {
        assert!(
            bars.iter().any(|p| p.user_id.as_deref() == Some(user)),
            "{user} bar"
        );
    }
    let bob_bar = bars
        .iter()
        .rev()
        .find(|p| p.user_id.as_deref() == Some("bob"))
        .unwrap();
    assert_eq!(bob_bar.data["unreadCount"], 2);
    let done = of_type(&pushed, "TaskCompletedEvent");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].user_id.as_deref(), Some("ann"));
    assert_eq!(done[0].data["points"], 6);

    let entries = task_entries(&game).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["score"], 6);
    assert_eq!(entries[0]["id"], format!("task-{task_id}"));

    // The original route re-checks: success, nothing new written.
    let (start, end) = current_window();
    let recheck = game
        .http(
            "CompleteTask",
            "POST",
            &format!("/api/tasks/{task_id}/users/ann/timestamp/{start}/{end}"),
            &Who::user("ann"),
            Some("{\"isCompleted\": true}"),
        )
        .await;
    assert_eq!(recheck.body, json!({"success": true}));
    assert_eq!(task_entries(&game).await.len(), 1);

    // Bob's tasks are his own; Bob never greeted Ann, so his task stays open.
    let bobs = my_tasks(&game, "bob").await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["isCompleted"], false);
    let bob_task = bobs[0]["id"].as_str().unwrap();
    let not_yet = game
        .http(
            "CompleteTask",
            "POST",
            &format!("/api/tasks/{bob_task}/users/bob/timestamp/{start}/{end}"),
            &Who::user("bob"),
            None,
        )
        .await;
    assert_eq!(not_yet.body, json!({"success": false}));

    // Reading the chat clears Bob's unread count, and the change is pushed to him.
    let chat = sent[0].data["chatId"].as_str().unwrap();
    let read = game
        .http(
            "MarkChatRead",
            "POST",
            &format!("/api/chats/{chat}/read"),
            &Who::user("bob"),
            None,
        )
        .await;
    assert_eq!(read.body["unreadCount"], 0);
    let after_read = game.settle().await;
    let bar = of_type(&after_read, "ChatsBarUpdatedEvent");
    assert_eq!(bar.len(), 1);
    assert_eq!(bar[0].user_id.as_deref(), Some("bob"));
}

#[tokio::test]
async fn replaying_every_event_twice_and_out_of_order_changes_nothing() {
    let game = Game::new().await;
    sign_up(&game, "ann", "Ann", 12.97, 77.59).await;
    sign_up(&game, "bob", "Bob", 13.0, 77.6).await;
    sign_up(&game, "cy", "Cy", -33.86, 151.2).await;
    game.settle().await;
    my_tasks(&game, "ann").await;
    my_tasks(&game, "bob").await;
    say(&game, "ann", "bob", "Hi-CosmosPark").await;
    say(&game, "bob", "ann", "hi yourself").await;
    say(&game, "ann", "cy", "Hi-CosmosPark").await;
    say(&game, "bob", "ann", "Hi-CosmosPark").await;
    game.settle().await;
    let before = snapshot(&game).await;
    let awarded = task_entries(&game).await.len();
    assert!(awarded >= 2, "ann's and bob's greetings completed tasks");

    // Every relay's events for the documents as they are now, delivered again by the
    // platform's Event Grid to every subscriber: in order, then in reverse.
    let mut events = Vec::new();
    for relay in game.relays() {
        events.extend(game.relay(&relay).await);
    }
    for kind in [
        "CosmosPark.Chats.MessageSent",
        "CosmosPark.Tasks.Completed",
        "CosmosPark.Leaderboard.ScoreAwarded",
    ] {
        assert!(events.iter().any(|e| e["eventType"] == kind), "{kind}");
    }
    game.publish(events.clone()).await;
    game.settle().await;
    events.reverse();
    game.publish(events).await;
    game.settle().await;
    // Nothing was rewritten (system properties included), so nothing new was relayed either.
    assert_eq!(snapshot(&game).await, before);
    assert_eq!(task_entries(&game).await.len(), awarded);
}

#[tokio::test]
async fn awarding_happens_exactly_once_under_concurrent_duplicates() {
    let game = Game::new().await;
    sign_up(&game, "ann", "Ann", 12.97, 77.59).await;
    sign_up(&game, "bob", "Bob", 12.98, 77.6).await;
    game.settle().await;
    let task_id = my_tasks(&game, "ann").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    say(&game, "ann", "bob", "Hi-CosmosPark").await;
    // The message event, as the relay publishes it.
    let message_events = game.relay("CosmicChatsTrigger").await;
    assert_eq!(message_events.len(), 1);
    let event = message_events[0].clone();
    let (start, end) = current_window();
    let path = format!("/api/tasks/{task_id}/users/ann/timestamp/{start}/{end}");
    let mut handles = Vec::new();
    for i in 0..12 {
        let game = Arc::clone(&game);
        let event = event.clone();
        let path = path.clone();
        handles.push(tokio::spawn(async move {
            if i % 2 == 0 {
                game.deliver("TaskGreetingValidator", &event).await;
            } else {
                game.http("CompleteTask", "POST", &path, &Who::user("ann"), None)
                    .await;
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let entries = task_entries(&game).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["score"], 2, "neighbours: under 500 km");
    let pushed = game.settle().await;
    assert_eq!(of_type(&pushed, "TaskCompletedEvent").len(), 1);
    assert_eq!(task_entries(&game).await.len(), 1);
}

#[tokio::test]
async fn concurrent_first_requests_assign_one_set_of_tasks() {
    let game = Game::new().await;
    for (i, id) in ["u0", "u1", "u2", "u3", "u4", "u5"].iter().enumerate() {
        sign_up(
            &game,
            id,
            &format!("User {i}"),
            10.0 + i as f64,
            20.0 + i as f64,
        )
        .await;
    }
    let mut handles = Vec::new();
    for _ in 0..8 {
        let game = Arc::clone(&game);
        handles.push(tokio::spawn(async move { my_tasks(&game, "u0").await }));
    }
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.unwrap());
    }
    let stored: Vec<Value> = game
        .all("CosmicUserTasks")
        .await
        .into_iter()
        .filter(|d| d["isCompleted"].is_boolean())
        .collect();
    assert_eq!(stored.len(), 3);
    for answer in &answers {
        assert_eq!(answer.len(), 3);
        assert_eq!(answer, &answers[0]);
        assert!(answer.iter().all(|t| t["taskDetail"]["userId"] != "u0"));
    }
}

#[tokio::test]
async fn a_lonely_first_player_gets_tasks_once_others_join_the_round() {
    let game = Game::new().await;
    sign_up(&game, "first", "First", 10.0, 20.0).await;
    assert!(
        my_tasks(&game, "first").await.is_empty(),
        "nobody to greet yet"
    );
    sign_up(&game, "second", "Second", 11.0, 21.0).await;
    let one = my_tasks(&game, "first").await;
    assert_eq!(one.len(), 1);
    for (i, id) in ["third", "fourth", "fifth"].iter().enumerate() {
        sign_up(&game, id, id, 30.0 + i as f64, 40.0).await;
    }
    let topped_up = my_tasks(&game, "first").await;
    assert_eq!(topped_up.len(), 3, "{topped_up:?}");
    assert!(topped_up.contains(&one[0]), "assigned tasks are kept");
    let mut targets: Vec<&str> = topped_up
        .iter()
        .map(|t| t["taskDetail"]["userId"].as_str().unwrap())
        .collect();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), 3, "no target twice");
    sign_up(&game, "sixth", "Sixth", 50.0, 60.0).await;
    assert_eq!(
        my_tasks(&game, "first").await,
        topped_up,
        "a full set is final"
    );
}

#[tokio::test]
async fn subscribers_accept_original_event_names_and_ignore_others() {
    let game = Game::new().await;
    sign_up(&game, "ann", "Ann", 12.97, 77.59).await;
    sign_up(&game, "bob", "Bob", 48.85, 2.35).await;
    say(&game, "ann", "bob", "hello").await;
    let mut event = game.relay("CosmicChatsTrigger").await[0].clone();
    event["eventType"] = json!("CosmosDb.CosmiChats.Updated");
    let pushed = game.deliver("MessageSentPush", &event).await;
    assert_eq!(pushed.len(), 2);
    event["eventType"] = json!("Something.Else");
    assert!(game.deliver("MessageSentPush", &event).await.is_empty());
    // Unusable data is acknowledged, not retried forever.
    let broken = json!({"id": "x", "eventType": "CosmosPark.Chats.MessageSent", "subject": "s",
        "eventTime": "2026-11-24T12:30:00Z", "dataVersion": "1.0", "data": {"nope": true}});
    assert!(game.deliver("MessageSentPush", &broken).await.is_empty());
    assert!(game.deliver("UserChatsCreate", &broken).await.is_empty());
}

#[tokio::test]
async fn typing_goes_to_the_other_member_and_rounds_start_for_everyone() {
    let game = Game::new().await;
    sign_up(&game, "ann", "Ann", 12.97, 77.59).await;
    sign_up(&game, "bob", "Bob", 48.85, 2.35).await;
    let sent = say(&game, "ann", "bob", "hello").await;
    game.settle().await;
    let chat = sent.body["chat"]["id"].as_str().unwrap();
    let reply = game
        .http(
            "SendTyping",
            "POST",
            &format!("/api/chats/{chat}/typing"),
            &Who::user("ann"),
            None,
        )
        .await;
    assert_eq!(reply.status, 202);
    let typing = pushes(&reply.outputs["actions"]);
    assert_eq!(typing.len(), 1);
    assert_eq!(typing[0].action, "sendToUser");
    assert_eq!(typing[0].user_id.as_deref(), Some("bob"));
    assert_eq!(typing[0].data["type"], "typingMessageEvent");

    let envelope = json!({"Data": {"timer": {"Schedule": {"AdjustForDST": false}, "IsPastDue": false}},
        "Metadata": {"sys": {"MethodName": "RoundTimer", "UtcNow": "2026-11-24T13:00:00.01Z"}}});
    let (status, answer) = game.invoke("RoundTimer", envelope).await;
    assert_eq!(status, 200, "{answer}");
    let started = pushes(&answer["Outputs"]["actions"]);
    assert_eq!(started[0].action, "sendToAll");
    assert_eq!(started[0].data["type"], "RoundStartedEvent");
    assert_eq!(started[0].data["roundId"], "2026112413");
}
