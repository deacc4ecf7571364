//! A chat's total order: every message gets the next number of its chat, so messages sent in
//! the same second (the games' clock is pinned) come back in the order they were sent, pages
//! walk back through that order, and the summary's last message and unread count follow it.
//! A retried send keeps its number; concurrent senders never share one.

mod support;

use futures::future::join_all;
use serde_json::{Value, json};
use support::game::{Game, Who, say, sign_up};

async fn send(game: &Game, from: &str, to: &str, text: &str, id: &str) -> Value {
    let body = json!({"toUserId": to, "content": text, "messageId": id}).to_string();
    let reply = game
        .http(
            "CreateChat",
            "POST",
            "/api/chat",
            &Who::user(from),
            Some(&body),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

/// Every message of the chat, walking back page by page, oldest first.
async fn whole_chat(game: &Game, chat: &str, reader: &str, page: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let cursor = before
            .as_deref()
            .map(|c| format!("&before={c}"))
            .unwrap_or_default();
        let reply = game
            .http(
                "GetAllMessagesByChatId",
                "GET",
                &format!("/api/chats/{chat}?limit={page}{cursor}"),
                &Who::user(reader),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let mut messages = reply.body.as_array().cloned().unwrap_or_default();
        assert!(messages.len() <= page);
        messages.extend(all);
        all = messages;
        match reply.headers["x-next-before"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => return all,
        }
    }
}

fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            m["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn summary_of(game: &Game, owner: &str) -> Value {
    let reply = game
        .http(
            "GetAllChatsByUserId",
            "GET",
            &format!("/api/chats/user/{owner}"),
            &Who::user(owner),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body[0].clone()
}

#[tokio::test]
async fn same_second_messages_keep_the_order_they_were_sent_in() {
    let game = Game::new().await;
    sign_up(&game, "ann", "Ann", 10.0, 10.0).await;
    sign_up(&game, "bob", "Bob", 11.0, 11.0).await;
    // Twenty messages in one second, both ways; ids are random, so id order is no help.
    let mut sent = Vec::new();
    for i in 1..=20 {
        let (from, to) = if i % 3 == 0 {
            ("bob", "ann")
        } else {
            ("ann", "bob")
        };
        let reply = say(&game, from, to, &format!("{i:02}")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["seq"], i, "numbered in sending order");
        sent.push(format!("{i:02}"));
    }
    let chat = say(&game, "ann", "bob", "21").await.body["chat"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sent.push("21".to_owned());
    for page in [1, 4, 7, 50] {
        let all = whole_chat(&game, &chat, "bob", page).await;
        assert_eq!(texts(&all), sent, "pages of {page}");
    }

    // The summaries follow the same order, however the events were delivered.
    game.settle().await;
    let bob = summary_of(&game, "bob").await;
    assert_eq!(bob["lastMessage"], "21");
    assert_eq!(bob["lastMessageSeq"], 21);
    // Bob's own last message (18) read everything before it: 19, 20 and 21 are unread.
    assert_eq!(bob["unreadCount"], 3);

    // Reading, then a message in that same second, counts as unread again.
    let read = game
        .http(
            "MarkChatRead",
            "POST",
            &format!("/api/chats/{chat}/read"),
            &Who::user("bob"),
            Some("{}"),
        )
        .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.body["unreadCount"], 0);
    say(&game, "ann", "bob", "22").await;
    game.settle().await;
    let bob = summary_of(&game, "bob").await;
    assert_eq!(
        (bob["lastMessage"].as_str(), bob["unreadCount"].as_u64()),
        (Some("22"), Some(1))
    );
}

#[tokio::test]
async fn retries_keep_their_number_and_concurrent_senders_never_share_one() {
    let game = Game::new().await;
    sign_up(&game, "ann", "Ann", 10.0, 10.0).await;
    sign_up(&game, "bob", "Bob", 11.0, 11.0).await;
    let first = send(&game, "ann", "bob", "hello", "client-1").await;
    let again = send(&game, "ann", "bob", "hello", "client-1").await;
    assert_eq!(
        (first["seq"].as_u64(), again["seq"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(first["id"], again["id"]);

    let sends = (0..12).map(|i| {
        let (from, to) = if i % 2 == 0 {
            ("ann", "bob")
        } else {
            ("bob", "ann")
        };
        let game = &game;
        async move { send(game, from, to, &format!("c{i}"), &format!("race-{i}")).await }
    });
    let mut numbers: Vec<u64> = join_all(sends)
        .await
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (2..=13).collect::<Vec<_>>(), "no gaps, no repeats");
    // A retry of a message sent long ago still answers with its first number.
    let late = send(&game, "ann", "bob", "hello", "client-1").await;
    assert_eq!(late["seq"], 1);
    let chat = first["chat"]["id"].as_str().unwrap();
    let all = whole_chat(&game, chat, "ann", 5).await;
    let seqs: Vec<u64> = all.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=13).collect::<Vec<_>>());
}
