//! Event Grid event types: clean names on output, the original (typo'd) names accepted on input.

use uuid::Uuid;

use super::documents::containers;

const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x7e1c_d2a9_4b3f_4a6e_9d85_c0f1_2e3a_4b5c);

/// The domain events relayed from the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    UserUpserted,
    ChatMessageSent,
    UserChatsUpdated,
    TaskCompleted,
    LeaderboardScoreAwarded,
}

/// An `eventType` that is neither a clean nor an original name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("eventType {0:?} is not a CosmosPark event type")]
pub struct UnknownEventType(pub String);

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::UserUpserted,
        EventKind::ChatMessageSent,
        EventKind::UserChatsUpdated,
        EventKind::TaskCompleted,
        EventKind::LeaderboardScoreAwarded,
    ];

    /// The name this app publishes.
    pub fn name(self) -> &'static str {
        match self {
            Self::UserUpserted => "CosmosPark.Users.Upserted",
            Self::ChatMessageSent => "CosmosPark.Chats.MessageSent",
            Self::UserChatsUpdated => "CosmosPark.UserChats.Updated",
            Self::TaskCompleted => "CosmosPark.Tasks.Completed",
            Self::LeaderboardScoreAwarded => "CosmosPark.Leaderboard.ScoreAwarded",
        }
    }

    /// The name the original published (typos included), accepted as an alias.
    pub fn original_name(self) -> &'static str {
        match self {
            Self::UserUpserted => "CosmosDb.CosmicUsers.Created",
            Self::ChatMessageSent => "CosmosDb.CosmiChats.Updated",
            Self::UserChatsUpdated => "CosmosDb.CosmiUserChats.Updated",
            Self::TaskCompleted => "CosmosDb.CosmicUserTasks.Updated",
            Self::LeaderboardScoreAwarded => "CosmosDb.CosmicLeaderboards.Updated",
        }
    }

    /// Event Grid `subject` for events of this kind (the aggregate's container).
    pub fn subject(self) -> &'static str {
        match self {
            Self::UserUpserted => "CosmosPark/Users",
            Self::ChatMessageSent => "CosmosPark/Chats",
            Self::UserChatsUpdated => "CosmosPark/UserChats",
            Self::TaskCompleted => "CosmosPark/Tasks",
            Self::LeaderboardScoreAwarded => "CosmosPark/Leaderboard",
        }
    }

    /// The event relayed for a change in `container` (the change-feed relays), if any. Task
    /// changes are relayed only for completed tasks, as in the original.
    pub fn from_container(container: &str) -> Option<Self> {
        match container {
            containers::USERS => Some(Self::UserUpserted),
            containers::CHATS => Some(Self::ChatMessageSent),
            containers::USER_CHATS => Some(Self::UserChatsUpdated),
            containers::USER_TASKS => Some(Self::TaskCompleted),
            containers::LEADERBOARDS => Some(Self::LeaderboardScoreAwarded),
            _ => None,
        }
    }

    /// A deterministic event id for one version of one document (`version` = its `_etag` or
    /// `_ts`): a change feed delivered twice yields the same event ids, so subscribers can
    /// de-duplicate (the original used random ids).
    pub fn event_id(self, document_id: &str, version: &str) -> String {
        let name = format!("{}|{document_id}|{version}", self.name());
        Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes())
            .simple()
            .to_string()
    }

    /// Accepts the clean name or the original name, exactly (case-sensitive, as Event Grid
    /// filters are for the original subscribers).
    pub fn parse(event_type: &str) -> Result<Self, UnknownEventType> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == event_type || k.original_name() == event_type)
            .ok_or_else(|| UnknownEventType(event_type.to_owned()))
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clean_and_original_names() {
        let pairs = [
            ("CosmosPark.Users.Upserted", "CosmosDb.CosmicUsers.Created"),
            (
                "CosmosPark.Chats.MessageSent",
                "CosmosDb.CosmiChats.Updated",
            ),
            (
                "CosmosPark.UserChats.Updated",
                "CosmosDb.CosmiUserChats.Updated",
            ),
            (
                "CosmosPark.Tasks.Completed",
                "CosmosDb.CosmicUserTasks.Updated",
            ),
            (
                "CosmosPark.Leaderboard.ScoreAwarded",
                "CosmosDb.CosmicLeaderboards.Updated",
            ),
        ];
        for (clean, original) in pairs {
            let kind = EventKind::parse(clean).unwrap();
            assert_eq!(EventKind::parse(original), Ok(kind));
            assert_eq!(kind.name(), clean);
            assert_eq!(kind.to_string(), clean);
        }
    }

    #[test]
    fn containers_and_event_ids() {
        assert_eq!(
            EventKind::from_container("CosmicChats"),
            Some(EventKind::ChatMessageSent)
        );
        assert_eq!(EventKind::from_container("CosmicTaskValidator"), None);
        let kinds: std::collections::HashSet<_> = [
            "CosmicUsers",
            "CosmicChats",
            "CosmicUserChats",
            "CosmicUserTasks",
            "CosmicLeaderboards",
        ]
        .into_iter()
        .filter_map(EventKind::from_container)
        .collect();
        assert_eq!(kinds.len(), 5);
        let id = EventKind::UserUpserted.event_id("a1", "\"0a00\"");
        assert_eq!(id, EventKind::UserUpserted.event_id("a1", "\"0a00\""));
        assert_ne!(id, EventKind::UserUpserted.event_id("a1", "\"0b00\""));
        assert_ne!(id, EventKind::ChatMessageSent.event_id("a1", "\"0a00\""));
        assert_eq!(id.len(), 32);
    }

    #[test]
    fn rejects_unknown_and_differently_cased_names() {
        for bad in [
            "",
            "CosmosDb.CosmicChats.Updated",
            "cosmospark.users.upserted",
        ] {
            assert_eq!(EventKind::parse(bad), Err(UnknownEventType(bad.into())));
        }
    }
}
