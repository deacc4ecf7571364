//! One game played through the domain API only: seed users, assign tasks, chat, greet,
//! complete, award, rank, push; with every event replayed to prove nothing double-counts.

use chrono::{DateTime, Duration, Utc};
use cosmospark::app::domain::{
    auth::{Access, Principal, Route, authorize, can_read_chat},
    commands::SendMessage,
    documents::{ChatMessage, CosmosUser, Greeting, LedgerEntry, UserChatSummary, UserRef},
    event_kind::EventKind,
    leaderboard::{Window, standing_of, standings},
    realtime::{RealtimeMessage, ScoreUpdatedEvent, TaskCompletedEvent},
    round::Round,
    scoring::points_between,
    seed::seed_users_at,
    tasks::{Completion, TASKS_PER_ROUND, assign_tasks, check_message, complete_from_greetings},
};
use serde_json::json;

fn now() -> DateTime<Utc> {
    "2026-11-24T16:20:00Z".parse().unwrap()
}

fn principal_of(user: &CosmosUser) -> Principal {
    Principal::signed_in(
        user.id.as_str(),
        "github",
        user.name.as_str(),
        vec!["anonymous".into(), "authenticated".into()],
    )
    .unwrap()
    .unwrap()
}

fn user_ref(user: &CosmosUser) -> UserRef {
    UserRef {
        id: user.id.clone(),
        name: user.name.clone(),
    }
}

/// What the original frontend POSTs to /api/chat.
fn original_chat_body(from: &CosmosUser, to: &CosmosUser, text: &str) -> serde_json::Value {
    json!({
        "chat": {"id": "5d41402abc4b2a76b9719d911017c592"},
        "userDetails": [
            {"id": from.id, "toUser": {"id": to.id, "name": to.name}},
            {"toUser": {"id": from.id, "name": from.name}, "id": to.id}
        ],
        "message": {"senderId": from.id, "content": text}
    })
}

fn send(from: &CosmosUser, to: &CosmosUser, text: &str, at: DateTime<Utc>) -> ChatMessage {
    let cmd = SendMessage::parse(&original_chat_body(from, to, text)).unwrap();
    let caller = principal_of(from);
    assert_eq!(
        authorize(
            Route::CreateChat,
            Some(&caller),
            cmd.claimed_sender.as_ref()
        ),
        Access::Allowed
    );
    assert_eq!(cmd.to_user_id, to.id);
    ChatMessage::new(
        cmd.message_id(&from.id),
        user_ref(from),
        user_ref(to),
        cmd.content,
        at,
    )
    .unwrap()
}

#[test]
fn two_users_meet_chat_complete_a_task_and_climb_the_board() {
    let users = seed_users_at(8, 2026, now() - Duration::days(1));
    let round = Round::from_window(
        &(Round::containing(now()).start().timestamp()).to_string(),
        &(Round::containing(now()).end().timestamp()).to_string(),
        now(),
    )
    .unwrap();
    let alice = &users[0];

    // Tasks: three distinct other users, the same on every request.
    let tasks = assign_tasks(alice, &users, round, now());
    assert_eq!(tasks.len(), TASKS_PER_ROUND);
    assert_eq!(tasks, assign_tasks(alice, &users, round, now()));
    let task = &tasks[0];
    let bob = users
        .iter()
        .find(|u| u.id == task.task_detail.user_id)
        .unwrap();

    // Chat: a greeting among other messages, as the original UI sends them.
    let hello = send(alice, bob, "hello there", now());
    let hi = send(alice, bob, "  hi-cosmospark ", now() + Duration::minutes(1));
    let reply = send(bob, alice, "hey!", now() + Duration::minutes(2));
    assert_eq!(hello.chat.id, reply.chat.id, "one chat per pair of users");
    assert!(can_read_chat(&principal_of(bob), hi.participants()));
    assert!(!can_read_chat(&principal_of(&users[5]), hi.participants()));
    assert_eq!(check_message(task, &hello), Completion::NotAGreeting);
    assert_eq!(check_message(task, &hi), Completion::Completes);

    // Chat summaries survive replays and reordering.
    let messages = [hello.clone(), hi.clone(), reply.clone()];
    let replayed = [&reply, &hi, &hello, &hi, &reply];
    for owner in [&alice.id, &bob.id] {
        let once = messages
            .iter()
            .fold(None, |s, m| UserChatSummary::apply(s.as_ref(), owner, m));
        let again = replayed
            .iter()
            .fold(None, |s, m| UserChatSummary::apply(s.as_ref(), owner, m));
        assert_eq!(once, again);
        assert_eq!(once.unwrap().last_message, "hey!");
    }

    // Completion: greeting proofs (one per message id, whatever the replays) complete the task.
    let proofs: Vec<Greeting> = replayed
        .iter()
        .filter_map(|m| Greeting::from_message(m))
        .collect();
    assert_eq!(proofs.len(), 2);
    let completed = complete_from_greetings(task, alice.position(), &proofs).unwrap();
    let expected_points = points_between(alice.position().unwrap(), bob.position().unwrap());
    assert_eq!(completed.points, Some(expected_points));
    assert_eq!(
        complete_from_greetings(&completed, alice.position(), &proofs),
        None
    );

    // Ledger: derived ids, so every replay writes the same entry.
    let mut ledger: Vec<LedgerEntry> = users.iter().map(LedgerEntry::joined).collect();
    let award = LedgerEntry::for_task(&completed).unwrap();
    ledger.push(award.clone());
    let mut replayed_ledger = ledger.clone();
    replayed_ledger.reverse();
    replayed_ledger.push(LedgerEntry::for_task(&completed.completed(now(), 6)).unwrap());
    replayed_ledger.push(award);

    for window in [Window::All, Window::Days7, Window::Days30] {
        let board = standings(&ledger, window, now() + Duration::hours(1));
        assert_eq!(
            board,
            standings(&replayed_ledger, window, now() + Duration::hours(1))
        );
        let first = standing_of(&board, &alice.id).unwrap();
        assert_eq!((first.rank, first.score), (1, i64::from(expected_points)));
        assert_eq!(board.len(), users.len());
        assert!(board[1..].iter().all(|s| s.rank == 2 && s.score == 0));
    }

    // Realtime pushes carry totals and ranks.
    let board = standings(&ledger, Window::All, now());
    let pushed = serde_json::to_value(RealtimeMessage::ScoreUpdatedEvent(
        ScoreUpdatedEvent::from_standing(standing_of(&board, &alice.id).unwrap()),
    ))
    .unwrap();
    assert_eq!(pushed["type"], "ScoreUpdatedEvent");
    assert_eq!(pushed["score"], i64::from(expected_points));
    assert_eq!(pushed["rank"], 1);
    let done = TaskCompletedEvent::from_task(&completed).unwrap();
    assert_eq!(done.points, expected_points);

    // The original's event names still route.
    assert_eq!(
        EventKind::parse("CosmosDb.CosmicUserTasks.Updated"),
        Ok(EventKind::TaskCompleted)
    );
}

#[test]
fn nobody_acts_for_someone_else() {
    let users = seed_users_at(2, 9, now());
    let (me, other) = (principal_of(&users[0]), &users[1].id);
    for route in [
        Route::CreateUser,
        Route::CreateChat,
        Route::GetChatsByUserId,
        Route::GetTasksByUserId,
        Route::CompleteTask,
    ] {
        assert_eq!(authorize(route, Some(&me), Some(other)), Access::Forbidden);
        assert_eq!(authorize(route, None, Some(other)), Access::Unauthorized);
        assert_eq!(
            authorize(route, Some(&me), Some(&me.user_id)),
            Access::Allowed
        );
    }
    assert_eq!(
        authorize(Route::CreateScore, Some(&me), None),
        Access::Forbidden
    );
}
