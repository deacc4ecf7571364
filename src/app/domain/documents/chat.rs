//! `CosmicChats` documents: one per message, partition key `/chat/id`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::domain::ids::{ChatId, ChatIdError};
use crate::app::domain::values::{DisplayName, MessageContent, UserId};

/// One chat message, in the original's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: String,
    pub chat: ChatRef,
    /// Two entries: the sender's view (`toUser` = recipient) and the recipient's view.
    pub user_details: Vec<ParticipantView>,
    pub message: MessageBody,
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
            ts: None,
        })
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

    /// Order of messages in a chat: by timestamp, then id (the original had no ORDER BY).
    pub fn order_key(&self) -> (i64, &str) {
        (self.message.timestamp, &self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(id: &str, name: &str) -> UserRef {
        UserRef {
            id: UserId::parse(id).unwrap(),
            name: DisplayName::parse(name).unwrap(),
        }
    }

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
