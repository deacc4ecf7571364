//! The stored documents, one type per container, with the original JSON field names (§3 of the
//! original's spec). New fields are additive; documents written by the original still parse.
//!
//! Timestamps are unix seconds on the wire, like the original's `_ts` and `message.timestamp`.

mod chat;
mod greeting;
mod ledger;
mod summary;
mod task;
mod user;

pub use chat::{
    ChatMessage, ChatRef, ChatSequence, MessageBody, MessageCursor, ParticipantView, UserRef,
    chat_page,
};
pub use greeting::Greeting;
pub use ledger::{LedgerEntry, LedgerTask, LedgerUser};
pub use summary::{UnreadMessage, UserChatSummary};
pub use task::{TaskDetail, UserTask};
pub use user::{CosmosUser, CountryInfo, StreetInfo, UserAddress};

/// Container names and partition-key paths, as the original used them.
pub mod containers {
    pub const DATABASE: &str = "CosmicDB";
    /// Partition key `/id`.
    pub const USERS: &str = "CosmicUsers";
    /// Partition key `/chat/id`.
    pub const CHATS: &str = "CosmicChats";
    /// Partition key `/userId`.
    pub const USER_CHATS: &str = "CosmicUserChats";
    /// Partition key `/userId`.
    pub const USER_TASKS: &str = "CosmicUserTasks";
    /// Partition key `/userId`.
    pub const TASK_VALIDATOR: &str = "CosmicTaskValidator";
    /// Partition key `/user/id`.
    pub const LEADERBOARDS: &str = "CosmicLeaderboards";
}
