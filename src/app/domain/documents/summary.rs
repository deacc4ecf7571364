//! `CosmicUserChats` documents: one conversation summary per participant, partition `/userId`.
//!
//! The summary is a function of the *set* of messages applied (plus read marks), so applying
//! messages twice or in any order gives the same document: the last message is the greatest
//! in the chat's order (sequence, then timestamp and id), and the unread count counts distinct
//! message ids after the read mark (a sequence number; a time for messages without one).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chat::ChatMessage;
use crate::app::domain::ids::ChatId;
use crate::app::domain::values::{DisplayName, UserId};

/// One participant's view of a conversation (original fields plus unread tracking).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserChatSummary {
    /// Equal to `chatId`: one summary per (userId, chatId).
    pub id: String,
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub to_user_id: UserId,
    /// The other participant's name.
    pub chat_name: DisplayName,
    pub sender_id: UserId,
    pub last_message: String,
    pub last_message_id: String,
    /// The message's own time (the original used the subscriber's clock: §11.2 item 18).
    pub last_message_timestamp: i64,
    /// The last message's place in the chat (0: stored before sequences existed).
    #[serde(default)]
    pub last_message_seq: u64,
    /// Unread messages from the other participant, capped at [`UserChatSummary::UNREAD_CAP`].
    pub unread_count: usize,
    /// Messages numbered up to this count as read.
    #[serde(default)]
    pub last_read_seq: u64,
    /// Messages without a number at or before this time (unix seconds) count as read.
    #[serde(default)]
    pub last_read_timestamp: i64,
    /// The unread messages behind `unreadCount` (newest first, capped).
    #[serde(default)]
    pub unread_messages: Vec<UnreadMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnreadMessage {
    #[serde(default)]
    pub seq: u64,
    pub timestamp: i64,
    pub id: String,
}

impl UserChatSummary {
    /// The unread count shows at most this many ("99+").
    pub const UNREAD_CAP: usize = 99;

    /// `owner`'s summary after `message`; `None` if `owner` is not in the conversation.
    pub fn apply(current: Option<&Self>, owner: &UserId, message: &ChatMessage) -> Option<Self> {
        let view = message.view_of(owner)?;
        let mut next = match current {
            Some(c) => c.clone(),
            None => Self {
                id: message.chat.id.as_str().to_owned(),
                chat_id: message.chat.id.clone(),
                user_id: owner.clone(),
                to_user_id: view.to_user.id.clone(),
                chat_name: view.to_user.name.clone(),
                sender_id: message.message.sender_id.clone(),
                last_message: message.message.content.as_str().to_owned(),
                last_message_id: message.id.clone(),
                last_message_timestamp: message.message.timestamp,
                last_message_seq: message.seq,
                unread_count: 0,
                last_read_seq: 0,
                last_read_timestamp: 0,
                unread_messages: Vec::new(),
            },
        };
        let last = (
            next.last_message_seq,
            next.last_message_timestamp,
            next.last_message_id.as_str(),
        );
        if message.order_key() >= last {
            next.to_user_id = view.to_user.id.clone();
            next.chat_name = view.to_user.name.clone();
            next.sender_id = message.message.sender_id.clone();
            next.last_message = message.message.content.as_str().to_owned();
            next.last_message_id = message.id.clone();
            next.last_message_timestamp = message.message.timestamp;
            next.last_message_seq = message.seq;
        }
        let unread = UnreadMessage {
            seq: message.seq,
            timestamp: message.message.timestamp,
            id: message.id.clone(),
        };
        if message.message.sender_id == *owner {
            // Writing in a conversation means having read it up to then.
            next.mark_read(message.seq, message.message.timestamp);
        } else if !next.is_read(&unread) {
            next.unread_messages.push(unread);
            next.normalise_unread();
        }
        Some(next)
    }

    fn is_read(&self, message: &UnreadMessage) -> bool {
        if message.seq > 0 {
            message.seq <= self.last_read_seq
        } else {
            message.timestamp <= self.last_read_timestamp
        }
    }

    /// Marks everything up to message `seq` (and unnumbered messages up to `at`, unix seconds)
    /// as read; never moves a mark backwards.
    pub fn mark_read(&mut self, seq: u64, at: i64) {
        self.last_read_seq = self.last_read_seq.max(seq);
        self.last_read_timestamp = self.last_read_timestamp.max(at);
        let unread = std::mem::take(&mut self.unread_messages);
        self.unread_messages = unread.into_iter().filter(|m| !self.is_read(m)).collect();
        self.normalise_unread();
    }

    /// Marks the conversation read at `now`: up to the last message this summary has seen.
    /// A message still on its way counts as unread when it lands, whatever its timestamp.
    pub fn mark_read_at(&mut self, now: DateTime<Utc>) {
        self.mark_read(self.last_message_seq, now.timestamp());
    }

    fn normalise_unread(&mut self) {
        self.unread_messages.sort_by(|a, b| b.cmp(a));
        self.unread_messages.dedup();
        self.unread_messages.truncate(Self::UNREAD_CAP);
        self.unread_count = self.unread_messages.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::domain::documents::chat::user;
    use crate::app::domain::values::MessageContent;
    use proptest::prelude::*;

    fn msg(id: u32, from_alice: bool, at: i64) -> ChatMessage {
        let (a, b) = (user("alice", "Alice"), user("bob", "Bob"));
        let (from, to) = if from_alice { (a, b) } else { (b, a) };
        ChatMessage::new(
            format!("m{id:03}"),
            from,
            to,
            MessageContent::parse(&format!("text {id}")).unwrap(),
            DateTime::from_timestamp(at, 0).unwrap(),
        )
        .unwrap()
        .numbered(u64::from(id) + 1)
    }

    fn fold(owner: &str, messages: &[ChatMessage]) -> Option<UserChatSummary> {
        let owner = UserId::parse(owner).unwrap();
        messages
            .iter()
            .fold(None, |s, m| UserChatSummary::apply(s.as_ref(), &owner, m))
    }

    #[test]
    fn tracks_last_message_and_unread() {
        let s = fold("bob", &[msg(1, true, 100), msg(2, true, 110)]).unwrap();
        assert_eq!(s.last_message, "text 2");
        assert_eq!(s.chat_name.as_str(), "Alice");
        assert_eq!(s.to_user_id.as_str(), "alice");
        assert_eq!(s.unread_count, 2);
        assert_eq!(s.id, s.chat_id.as_str());
        let s = fold(
            "bob",
            &[msg(1, true, 100), msg(2, true, 110), msg(3, false, 120)],
        )
        .unwrap();
        assert_eq!(s.unread_count, 0, "replying reads the chat");
        assert_eq!(s.sender_id.as_str(), "bob");
        let alice = fold("alice", &[msg(1, true, 100)]).unwrap();
        assert_eq!((alice.unread_count, alice.chat_name.as_str()), (0, "Bob"));
        assert!(fold("carol", &[msg(1, true, 100)]).is_none());
    }

    #[test]
    fn mark_read_clears_and_caps() {
        let many: Vec<_> = (0..150)
            .map(|i| msg(i, true, 1000 + i64::from(i)))
            .collect();
        let mut s = fold("bob", &many).unwrap();
        assert_eq!(s.unread_count, UserChatSummary::UNREAD_CAP);
        s.mark_read(101, 0);
        assert_eq!(s.unread_count, 49);
        s.mark_read(50, 0);
        assert_eq!(s.last_read_seq, 101, "the read mark never goes back");
    }

    #[test]
    fn same_second_messages_follow_the_sequence() {
        // Ids sort against send order; all in one second.
        let sent = [
            msg(9, true, 100).numbered(1),
            msg(3, true, 100).numbered(2),
            msg(1, true, 100).numbered(3),
        ];
        let s = fold("bob", &sent).unwrap();
        assert_eq!((s.last_message.as_str(), s.last_message_seq), ("text 1", 3));
        assert_eq!(s.unread_count, 3);
        // Read at second 100, then another message in that same second still counts.
        let mut read = s.clone();
        read.mark_read_at(DateTime::from_timestamp(100, 0).unwrap());
        assert_eq!(read.unread_count, 0);
        let owner = UserId::parse("bob").unwrap();
        let later = UserChatSummary::apply(Some(&read), &owner, &msg(2, true, 100).numbered(4));
        assert_eq!(later.unwrap().unread_count, 1);
        // Messages stored before sequences existed still count by time.
        let legacy = msg(4, true, 90).numbered(0);
        let mut old = fold("bob", &[legacy]).unwrap();
        assert_eq!(old.unread_count, 1);
        old.mark_read_at(DateTime::from_timestamp(95, 0).unwrap());
        assert_eq!(old.unread_count, 0);
    }

    proptest! {
        #[test]
        fn any_order_and_duplicates_give_the_same_summary(
            specs in proptest::collection::vec((proptest::bool::ANY, 0i64..20), 1..12),
            shuffle_seed in proptest::collection::vec(0usize..1000, 0..30),
        ) {
            let messages: Vec<_> = specs.iter().enumerate()
                .map(|(i, (a, t))| msg(i as u32, *a, *t)).collect();
            let mut replayed = messages.clone();
            for (i, j) in shuffle_seed.iter().enumerate() {
                let len = replayed.len();
                replayed.swap(i % len, j % len);
                if j % 3 == 0 { replayed.push(messages[j % messages.len()].clone()); }
            }
            for owner in ["alice", "bob"] {
                prop_assert_eq!(fold(owner, &messages), fold(owner, &replayed));
            }
        }
    }
}
