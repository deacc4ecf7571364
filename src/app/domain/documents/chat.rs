//! `CosmicChats` documents: one per message, partition key `/chat/id`, plus one
//! [`ChatSequence`] per chat holding the last sequence number handed out.
//!
//! A chat's order is the server-assigned `seq` (strictly increasing per chat, written in the
//! same transactional batch as the message), then timestamp and id for messages stored before
//! sequences existed (`seq` 0).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::domain::ids::{ChatId, ChatIdError};
use crate::app::domain::values::{DisplayName, MessageContent, UserId, ValueError};

/// One chat message, in the original's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: String,
    pub chat: ChatRef,
    /// Two entries: the sender's view (`toUser` = recipient) and the recipient's view.
    pub user_details: Vec<ParticipantView>,
    pub message: MessageBody,
    /// Position in the chat, from 1; 0 for messages stored before sequences existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
    #[serde(rename = "_ts", default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRef {
    pub id: ChatId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: UserId,
    pub name: DisplayName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    pub id: UserId,
    pub to_user: UserRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageBody {
    pub sender_id: UserId,
    pub content: MessageContent,
    /// Server time, unix seconds (set by the server, as in the original).
    pub timestamp: i64,
}

impl ChatMessage {
    /// A message from `sender` to `recipient`; the chat id is derived from the pair, so the
    /// client cannot pick someone else's conversation (§11.1 item 2).
    pub fn new(
        id: String,
        sender: UserRef,
        recipient: UserRef,
        content: MessageContent,
        sent_at: DateTime<Utc>,
    ) -> Result<Self, ChatIdError> {
        let chat_id = ChatId::for_pair(&sender.id, &recipient.id)?;
        Ok(Self {
            id,
            chat: ChatRef { id: chat_id },
            user_details: vec![
                ParticipantView {
                    id: sender.id.clone(),
                    to_user: recipient.clone(),
                },
                ParticipantView {
                    id: recipient.id,
                    to_user: sender.clone(),
                },
            ],
            message: MessageBody {
                sender_id: sender.id,
                content,
                timestamp: sent_at.timestamp(),
            },
            seq: 0,
            ts: None,
        })
    }

    /// The message numbered `seq` in its chat.
    pub fn numbered(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }

    /// The recipient: the `toUser` of the sender's view.
    pub fn recipient(&self) -> Option<&UserRef> {
        self.view_of(&self.message.sender_id).map(|v| &v.to_user)
    }

    /// The sender's name as the recipient's view records it.
    pub fn sender_name(&self) -> Option<&DisplayName> {
        let recipient = self.recipient()?;
        self.view_of(&recipient.id).map(|v| &v.to_user.name)
    }

    /// The view of one participant (their `toUser` is the other participant).
    pub fn view_of(&self, user: &UserId) -> Option<&ParticipantView> {
        self.user_details.iter().find(|v| v.id == *user)
    }

    pub fn participants(&self) -> impl Iterator<Item = &UserId> {
        self.user_details.iter().map(|v| &v.id)
    }

    pub fn sent_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.message.timestamp, 0).unwrap_or_default()
    }

    /// Order of messages in a chat: by sequence, then timestamp and id (the original had no
    /// ORDER BY; messages without a sequence come first, by time).
    pub fn order_key(&self) -> (u64, i64, &str) {
        (self.seq, self.message.timestamp, &self.id)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The per-chat counter document: the last `seq` handed out in its chat. It shares the
/// chat's partition so the message and the counter are written in one transactional batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatSequence {
    /// Always [`ChatSequence::ID`] (message ids are 32 hex digits, so it cannot clash).
    pub id: String,
    pub chat: ChatRef,
    pub last: u64,
}

impl ChatSequence {
    pub const ID: &'static str = "sequence";

    /// The counter of a chat with no numbered message yet.
    pub fn start(chat: ChatId) -> Self {
        Self {
            id: Self::ID.to_owned(),
            chat: ChatRef { id: chat },
            last: 0,
        }
    }

    /// The counter after handing out the next number.
    pub fn next(&self) -> Self {
        Self {
            last: self.last + 1,
            ..self.clone()
        }
    }

    /// Is this stored document the counter rather than a message?
    pub fn is_counter(doc: &serde_json::Value) -> bool {
        doc.get("id").and_then(serde_json::Value::as_str) == Some(Self::ID)
    }
}

/// A position in a chat's message order, for paging: `<seq>:<timestamp>:<messageId>`.
/// A page "before" a cursor holds the messages that sort strictly before it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageCursor {
    pub seq: u64,
    pub timestamp: i64,
    pub id: String,
}

impl MessageCursor {
    pub fn of(message: &ChatMessage) -> Self {
        Self {
            seq: message.seq,
            timestamp: message.message.timestamp,
            id: message.id.clone(),
        }
    }

    /// Parses the `before` query value.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::Malformed {
            field: "before",
            expected: "a cursor <seq>:<timestamp>:<messageId> from a previous page",
            value: raw.to_owned(),
        };
        let (seq, rest) = raw.split_once(':').ok_or_else(bad)?;
        let (ts, id) = rest.split_once(':').ok_or_else(bad)?;
        let seq = seq.parse().map_err(|_| bad())?;
        let timestamp = ts.parse().map_err(|_| bad())?;
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_id {
            return Err(bad());
        }
        Ok(Self {
            seq,
            timestamp,
            id: id.to_owned(),
        })
    }

    fn key(&self) -> (u64, i64, &str) {
        (self.seq, self.timestamp, &self.id)
    }
}

impl std::fmt::Display for MessageCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.seq, self.timestamp, self.id)
    }
}

/// One page of a chat, oldest first: the newest `limit` messages before `before` (or the
/// newest overall), and the cursor for the page before it when there are older messages.
pub fn chat_page(
    mut messages: Vec<ChatMessage>,
    before: Option<&MessageCursor>,
    limit: usize,
) -> (Vec<ChatMessage>, Option<MessageCursor>) {
    messages.retain(|m| before.is_none_or(|b| m.order_key() < b.key()));
    messages.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    messages.dedup_by(|a, b| a.id == b.id);
    let older = messages.len().saturating_sub(limit);
    let page = messages.split_off(older);
    let next = (older > 0)
        .then(|| page.first().map(MessageCursor::of))
        .flatten();
    (page, next)
}

/// A reference from literal values, for the documents' tests.
#[cfg(test)]
pub(crate) fn user(id: &str, name: &str) -> UserRef {
    UserRef {
        id: UserId::parse(id).expect("a test user id"),
        name: DisplayName::parse(name).expect("a test display name"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_the_original_shape() {
        let msg = ChatMessage::new(
            "m1".into(),
            user("a1", "octocat"),
            user("b2", "monalisa"),
            MessageContent::parse("Hi-CosmosPark").unwrap(),
            DateTime::from_timestamp(1_650_290_100, 0).unwrap(),
        )
        .unwrap();
        let v = serde_json::to_value(&msg).unwrap();
        let chat_id =
            ChatId::for_pair(&UserId::parse("b2").unwrap(), &UserId::parse("a1").unwrap()).unwrap();
        assert_eq!(
            v,
            json!({
                "id": "m1",
                "chat": {"id": chat_id.as_str()},
                "userDetails": [
                    {"id": "a1", "toUser": {"id": "b2", "name": "monalisa"}},
                    {"id": "b2", "toUser": {"id": "a1", "name": "octocat"}}
                ],
                "message": {"senderId": "a1", "content": "Hi-CosmosPark", "timestamp": 1_650_290_100}
            })
        );
        assert_eq!(msg.recipient().unwrap().id.as_str(), "b2");
        assert_eq!(msg.sender_name().unwrap().as_str(), "octocat");
        assert_eq!(msg.participants().count(), 2);
        assert_eq!(msg.sent_at().timestamp(), 1_650_290_100);
    }

    #[test]
    fn pages_walk_back_through_the_whole_chat() {
        let messages: Vec<_> = (0..7)
            .map(|i| {
                ChatMessage::new(
                    format!("m{i}"),
                    user("a1", "A"),
                    user("b2", "B"),
                    MessageContent::parse("x").unwrap(),
                    DateTime::from_timestamp(100 + i / 2, 0).unwrap(),
                )
                .unwrap()
            })
            .collect();
        let mut shuffled = messages.clone();
        shuffled.reverse();
        shuffled.push(messages[3].clone());
        let mut seen = Vec::new();
        let mut cursor: Option<MessageCursor> = None;
        loop {
            let (page, next) = chat_page(shuffled.clone(), cursor.as_ref(), 3);
            assert!(page.len() <= 3);
            seen.splice(0..0, page.into_iter().map(|m| m.id));
            match next {
                Some(c) => cursor = Some(MessageCursor::parse(&c.to_string()).unwrap()),
                None => break,
            }
        }
        let expected: Vec<_> = messages.iter().map(|m| m.id.clone()).collect();
        assert_eq!(seen, expected);
        assert_eq!(chat_page(Vec::new(), None, 3), (Vec::new(), None));
        for bad in [
            "", "12", "x:m1", "12:", "12:a/b", "1:x:m1", "1:12:", "12:m1",
        ] {
            assert_eq!(
                MessageCursor::parse(bad).unwrap_err().field(),
                "before",
                "{bad}"
            );
        }
    }

    #[test]
    fn sequence_orders_messages_of_the_same_second() {
        // Ids chosen so that id order contradicts send order.
        let sent: Vec<_> = ["m9", "m1", "m5", "m3"]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                ChatMessage::new(
                    (*id).to_owned(),
                    user("a1", "A"),
                    user("b2", "B"),
                    MessageContent::parse(&format!("{:02}", i + 1)).unwrap(),
                    DateTime::from_timestamp(500, 0).unwrap(),
                )
                .unwrap()
                .numbered(i as u64 + 1)
            })
            .collect();
        let mut stored = sent.clone();
        stored.sort_by(|a, b| a.id.cmp(&b.id));
        let (page, next) = chat_page(stored.clone(), None, 2);
        let texts = |page: &[ChatMessage]| -> Vec<String> {
            page.iter()
                .map(|m| m.message.content.as_str().to_owned())
                .collect()
        };
        assert_eq!(texts(&page), ["03", "04"]);
        let (older, none) = chat_page(stored, next.as_ref(), 2);
        assert_eq!(texts(&older), ["01", "02"]);
        assert!(none.is_none());
        let counter = ChatSequence::start(sent[0].chat.id.clone());
        assert_eq!(counter.next().next().last, 2);
        assert!(ChatSequence::is_counter(
            &serde_json::to_value(&counter).unwrap()
        ));
        assert!(!ChatSequence::is_counter(
            &serde_json::to_value(&sent[0]).unwrap()
        ));
        assert_eq!(serde_json::to_value(&sent[0]).unwrap()["seq"], 1);
    }

    #[test]
    fn reads_the_original_sample_and_refuses_self_chat() {
        let original = json!({
          "id": "9c1f0e3b7a6d4c2e8f5a1b0c9d8e7f6a",
          "chat": { "id": "5d41402abc4b2a76b9719d911017c592" },
          "userDetails": [
            { "id": "a1b2", "toUser": { "id": "0f9e", "name": "monalisa" } },
            { "id": "0f9e", "toUser": { "id": "a1b2", "name": "octocat" } }
          ],
          "message": { "senderId": "a1b2", "content": "Hi-CosmosPark", "timestamp": 1650290100 },
          "_ts": 1650290100
        });
        let msg: ChatMessage = serde_json::from_value(original).unwrap();
        assert_eq!(msg.recipient().unwrap().name.as_str(), "monalisa");
        let err = ChatMessage::new(
            "m".into(),
            user("a1", "x"),
            user("a1", "x"),
            MessageContent::parse("hi").unwrap(),
            Utc::now(),
        );
        assert_eq!(err.unwrap_err(), ChatIdError::SelfChat);
    }
}
