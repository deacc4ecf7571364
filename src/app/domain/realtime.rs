//! Realtime message payloads pushed through Web PubSub (hub `CosmosPark`), with the original
//! field names and `type` discriminators (§2.4, §7.4 of the original's spec).
//!
//! Changes from the original, all additive for its client:
//! - `ScoreUpdatedEvent.score` is the user's new **total**, with `rank`; the original sent the
//!   entry's delta (0 or 2) and every client refetched the whole ledger.
//! - `UserCreatedEvent` positions are numbers rounded to ~1 km (privacy, §11.1 item 6).
//! - `ChatsBarUpdatedEvent` carries `unreadCount`.
//! - `RoundStartedEvent` and `TaskCompletedEvent` are new.

use serde::{Deserialize, Serialize};

use super::documents::{ChatMessage, CosmosUser, UserChatSummary, UserTask};
use super::ids::ChatId;
use super::leaderboard::Standing;
use super::round::{Round, RoundId};
use super::values::{DisplayName, UserId};

/// Hub name shared by every push.
pub const HUB: &str = "CosmosPark";

/// Every message a browser can receive; serialises with `"type": "<VariantName>"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RealtimeMessage {
    UserCreatedEvent(UserCreatedEvent),
    MessageSentEvent(MessageSentEvent),
    ChatsBarUpdatedEvent(ChatsBarUpdatedEvent),
    ScoreUpdatedEvent(ScoreUpdatedEvent),
    #[serde(rename = "typingMessageEvent")]
    TypingEvent(TypingEvent),
    RoundStartedEvent(RoundStartedEvent),
    TaskCompletedEvent(TaskCompletedEvent),
}

/// A player joined (broadcast).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCreatedEvent {
    pub latitude: f64,
    pub longitude: f64,
    pub user_id: UserId,
    pub user_name: DisplayName,
    /// Original: `address.country.secondarySubDivision`; here the municipality when known.
    pub city: Option<String>,
    /// `address.country.subDivision`.
    pub state: Option<String>,
}

/// A chat message (to both participants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSentEvent {
    pub chat_id: ChatId,
    pub sender_id: UserId,
    pub sender_message: String,
    pub timestamp: i64,
    pub message_id: String,
    /// The message's place in its chat (0: stored before sequences existed).
    #[serde(default)]
    pub seq: u64,
}

/// A conversation summary changed (to its owner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatsBarUpdatedEvent {
    pub chat_name: DisplayName,
    pub user_id: UserId,
    pub to_user_id: UserId,
    pub chat_id: ChatId,
    pub last_message: String,
    pub last_message_timestamp: i64,
    #[serde(default)]
    pub last_message_seq: u64,
    pub unread_count: usize,
}

/// A user's total score and rank changed (broadcast).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreUpdatedEvent {
    pub user_id: UserId,
    pub user_name: DisplayName,
    /// Total all-time score (not the delta).
    pub score: i64,
    /// All-time competition rank.
    pub rank: u32,
}

/// Someone is typing (to the other participant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingEvent {
    pub chat_id: ChatId,
    pub sender_id: UserId,
    /// `"<name> is typing..."`
    pub message: String,
}

/// A new round began (broadcast at the top of each UTC hour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundStartedEvent {
    pub round_id: RoundId,
    /// Unix seconds, inclusive.
    pub start: i64,
    /// Unix seconds, exclusive.
    pub end: i64,
}

/// One of my tasks was completed (to the task owner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCompletedEvent {
    pub task_id: String,
    pub user_id: UserId,
    pub target_user_id: UserId,
    pub points: u32,
    pub round_id: Option<RoundId>,
}

impl UserCreatedEvent {
    /// `None` for users without a location (nothing to show on the map).
    pub fn from_user(user: &CosmosUser) -> Option<Self> {
        let address = user.address.as_ref()?;
        let coarse = address.position.coarse();
        Some(Self {
            latitude: coarse.latitude(),
            longitude: coarse.longitude(),
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            city: address
                .municipality
                .clone()
                .or_else(|| address.country.secondary_sub_division.clone()),
            state: address.country.sub_division.clone(),
        })
    }
}

impl MessageSentEvent {
    pub fn from_message(message: &ChatMessage) -> Self {
        Self {
            chat_id: message.chat.id.clone(),
            sender_id: message.message.sender_id.clone(),
            sender_message: message.message.content.as_str().to_owned(),
            timestamp: message.message.timestamp,
            message_id: message.id.clone(),
            seq: message.seq,
        }
    }
}

impl ChatsBarUpdatedEvent {
    pub fn from_summary(summary: &UserChatSummary) -> Self {
        Self {
            chat_name: summary.chat_name.clone(),
            user_id: summary.user_id.clone(),
            to_user_id: summary.to_user_id.clone(),
            chat_id: summary.chat_id.clone(),
            last_message: summary.last_message.clone(),
            last_message_timestamp: summary.last_message_timestamp,
            last_message_seq: summary.last_message_seq,
            unread_count: summary.unread_count,
        }
    }
}

impl ScoreUpdatedEvent {
    pub fn from_standing(standing: &Standing) -> Self {
        Self {
            user_id: standing.user_id.clone(),
            user_name: standing.user_name.clone(),
            score: standing.score,
            rank: standing.rank,
        }
    }
}

impl TypingEvent {
    pub fn new(chat_id: ChatId, sender_id: UserId, sender_name: &DisplayName) -> Self {
        Self {
            chat_id,
            sender_id,
            message: format!("{sender_name} is typing..."),
        }
    }
}

impl RoundStartedEvent {
    pub fn from_round(round: Round) -> Self {
        Self {
            round_id: round.id(),
            start: round.start().timestamp(),
            end: round.end().timestamp(),
        }
    }
}

impl TaskCompletedEvent {
    /// `None` while the task is open.
    pub fn from_task(task: &UserTask) -> Option<Self> {
        Some(Self {
            task_id: task.id.as_str().to_owned(),
            user_id: task.user_id.clone(),
            target_user_id: task.task_detail.user_id.clone(),
            points: task.points.filter(|_| task.is_completed)?,
            round_id: task.round_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn uid(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn original_type_tags_and_field_names() {
        let chat = ChatId::for_pair(&uid("a"), &uid("b")).unwrap();
        let msg = RealtimeMessage::MessageSentEvent(MessageSentEvent {
            chat_id: chat.clone(),
            sender_id: uid("a"),
            sender_message: "hi".into(),
            timestamp: 5,
            message_id: "m".into(),
            seq: 7,
        });
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({"type": "MessageSentEvent", "chatId": chat.as_str(), "senderId": "a",
                   "senderMessage": "hi", "timestamp": 5, "messageId": "m", "seq": 7})
        );
        let typing = RealtimeMessage::TypingEvent(TypingEvent::new(
            chat.clone(),
            uid("a"),
            &DisplayName::parse("Ann").unwrap(),
        ));
        let v = serde_json::to_value(&typing).unwrap();
        assert_eq!(v["type"], "typingMessageEvent");
        assert_eq!(v["message"], "Ann is typing...");
        let score = RealtimeMessage::ScoreUpdatedEvent(ScoreUpdatedEvent {
            user_id: uid("a"),
            user_name: DisplayName::parse("Ann").unwrap(),
            score: 12,
            rank: 3,
        });
        let v = serde_json::to_value(&score).unwrap();
        assert_eq!(
            v,
            json!({"type": "ScoreUpdatedEvent", "userId": "a", "userName": "Ann", "score": 12, "rank": 3})
        );
        let back: RealtimeMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, score);
    }

    #[test]
    fn round_and_user_events() {
        let round = Round::containing("2026-11-24T16:20:00Z".parse().unwrap());
        let v = serde_json::to_value(RealtimeMessage::RoundStartedEvent(
            RoundStartedEvent::from_round(round),
        ))
        .unwrap();
        assert_eq!(v["type"], "RoundStartedEvent");
        assert_eq!(v["roundId"], "2026112416");
        assert_eq!(
            v["end"].as_i64().unwrap() - v["start"].as_i64().unwrap(),
            3600
        );

        let user: CosmosUser = serde_json::from_value(json!({
            "id": "a", "name": "Ann",
            "address": {"country": {"subDivision": "Karnataka", "secondarySubDivision": "Bengaluru Urban"},
                        "position": {"latitude": 12.97512, "longitude": 77.60649}}
        }))
        .unwrap();
        let e = UserCreatedEvent::from_user(&user).unwrap();
        assert_eq!((e.latitude, e.longitude), (12.98, 77.61));
        assert_eq!(e.city.as_deref(), Some("Bengaluru Urban"));
        assert_eq!(e.state.as_deref(), Some("Karnataka"));
    }
}
