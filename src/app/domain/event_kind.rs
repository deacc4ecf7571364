//! Event Grid event types: clean names on output, the original (typo'd) names accepted on input.

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
