//! `CosmicTaskValidator` documents: proof that a user sent the greeting to another user,
//! partition key `/userId`. The id is the chat message's id, so replays write the same proof
//! (the original used random ids: §12.3).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chat::ChatMessage;
use crate::app::domain::ids::ChatId;
use crate::app::domain::tasks::is_greeting;
use crate::app::domain::values::UserId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Greeting {
    /// The chat message id.
    pub id: String,
    /// The sender (original field name).
    pub user_id: UserId,
    /// The recipient (original field name).
    pub to_user_id: UserId,
    pub chat_id: ChatId,
    /// The message's time, unix seconds (the original only had `_ts`).
    pub timestamp: i64,
    #[serde(rename = "_ts", default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

impl Greeting {
    /// The proof carried by `message`, if it is the greeting.
    pub fn from_message(message: &ChatMessage) -> Option<Self> {
        if !is_greeting(message.message.content.as_str()) {
            return None;
        }
        Some(Self {
            id: message.id.clone(),
            user_id: message.message.sender_id.clone(),
            to_user_id: message.recipient()?.id.clone(),
            chat_id: message.chat.id.clone(),
            timestamp: message.message.timestamp,
            ts: None,
        })
    }

    pub fn sent_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.timestamp, 0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use crate::app::domain::tasks::is_greeting;

    #[test]
    fn greeting_tolerates_case_punctuation_and_whitespace() {
        for text in [
            "Hi-CosmosPark",
            "hi-cosmospark",
            "  HI-COSMOSPARK \n",
            "Hi-CosmosPark!",
            "¡Hi-CosmosPark!",
            "\"Hi-CosmosPark.\"",
            "Hi-CosmosPark!!! ",
            "…Hi-CosmosPark?",
        ] {
            assert!(is_greeting(text), "{text:?}");
        }
        for text in [
            "Hi CosmosPark",
            "Hi-CosmosParks",
            "Hi-CosmosPark friend",
            "Hi",
            "",
        ] {
            assert!(!is_greeting(text), "{text:?}");
        }
    }
}
