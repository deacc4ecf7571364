//! Deterministic ids: chat ids per pair of users, task ids per (owner, round, target), ledger
//! entry ids per task. Derived ids make every write idempotent (a replay writes the same id).
//!
//! The namespaces below are part of the stored data: changing one orphans existing documents.

use uuid::Uuid;

use super::round::RoundId;
use super::values::{UserId, ValueError, string_value_serde};

const CHAT_NAMESPACE: Uuid = Uuid::from_u128(0x6c0f_3a52_8e1d_4b7a_9c2e_51d0_7f4a_c3e1);
const TASK_NAMESPACE: Uuid = Uuid::from_u128(0x2b9e_71c4_05fa_4d38_b6e0_9a13_c8d2_5f70);
const PICK_NAMESPACE: Uuid = Uuid::from_u128(0x91d4_e0b7_3c6a_45f2_8e19_d7a0_64bc_2f83);

/// Why a chat id could not be made or parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatIdError {
    #[error("a chat needs two different users (toUserId equals the sender)")]
    SelfChat,
    #[error(transparent)]
    Invalid(#[from] ValueError),
}

/// A conversation id: the same for both directions of one pair of users.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChatId(String);

impl ChatId {
    /// The chat between `a` and `b` (32 lower-case hex, like the original's ids).
    pub fn for_pair(a: &UserId, b: &UserId) -> Result<Self, ChatIdError> {
        if a == b {
            return Err(ChatIdError::SelfChat);
        }
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let name = format!("{low}|{high}");
        Ok(Self(
            Uuid::new_v5(&CHAT_NAMESPACE, name.as_bytes())
                .simple()
                .to_string(),
        ))
    }

    /// Parses a chat id from a route or document: 1..=64 characters of `[0-9A-Za-z_-]`
    /// (original chats used 32-hex ids from the browser; those keep working).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        parse_token(raw, "chatId", 64).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value_serde!(ChatId);

/// A task id: derived from (owner, round, target) for assigned tasks; any original id
/// (dashed UUID or 32 hex) still parses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(String);

impl TaskId {
    pub fn derive(owner: &UserId, round: &RoundId, target: &UserId) -> Self {
        let name = format!("{owner}|{round}|{target}");
        Self(Uuid::new_v5(&TASK_NAMESPACE, name.as_bytes()).to_string())
    }

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        parse_token(raw, "taskId", 64).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value_serde!(TaskId);

/// Ledger entry id of the award for a task: one task, one entry, whatever the replays.
pub fn ledger_id_for_task(task: &TaskId) -> String {
    format!("task-{task}")
}

/// Ledger entry id of the zero-score entry that puts a user on the board.
pub fn ledger_id_for_new_user(user: &UserId) -> String {
    format!("init-{user}")
}

/// A stable pseudo-random sort key for picking `candidate` in `context` (task assignment).
pub(crate) fn pick_key(context: &str, candidate: &str) -> [u8; 16] {
    let name = format!("{context}|{candidate}");
    *Uuid::new_v5(&PICK_NAMESPACE, name.as_bytes()).as_bytes()
}

fn parse_token(raw: &str, field: &'static str, max: usize) -> Result<String, ValueError> {
    if raw.is_empty() {
        return Err(ValueError::Empty { field });
    }
    if raw.len() > max {
        return Err(ValueError::TooLong {
            field,
            max,
            len: raw.chars().count(),
        });
    }
    match raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        Some(ch) => Err(ValueError::ForbiddenChar { field, ch }),
        None => Ok(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn uid(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn chat_id_is_symmetric_and_pinned() {
        let (a, b) = (uid("alice"), uid("bob"));
        let ab = ChatId::for_pair(&a, &b).unwrap();
        assert_eq!(ab, ChatId::for_pair(&b, &a).unwrap());
        assert_eq!(ab.as_str().len(), 32);
        assert!(ab.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(ChatId::parse(ab.as_str()).unwrap(), ab);
        assert_eq!(ChatId::for_pair(&a, &a), Err(ChatIdError::SelfChat));
        assert_ne!(ab, ChatId::for_pair(&a, &uid("carol")).unwrap());
    }

    #[test]
    fn task_and_ledger_ids_are_deterministic() {
        let round = RoundId::parse("2026112416").unwrap();
        let t1 = TaskId::derive(&uid("alice"), &round, &uid("bob"));
        assert_eq!(t1, TaskId::derive(&uid("alice"), &round, &uid("bob")));
        assert_ne!(t1, TaskId::derive(&uid("bob"), &round, &uid("alice")));
        assert_eq!(t1.as_str().len(), 36);
        assert_eq!(ledger_id_for_task(&t1), format!("task-{}", t1.as_str()));
        assert_eq!(ledger_id_for_new_user(&uid("alice")), "init-alice");
        assert!(TaskId::parse("1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed").is_ok());
        assert_eq!(TaskId::parse("a b").unwrap_err().field(), "taskId");
        assert_eq!(ChatId::parse("").unwrap_err().field(), "chatId");
    }

    proptest! {
        #[test]
        fn chat_id_symmetric_for_any_pair(a in "[a-z0-9]{1,20}", b in "[a-z0-9]{1,20}") {
            prop_assume!(a != b);
            prop_assert_eq!(
                ChatId::for_pair(&uid(&a), &uid(&b)).unwrap(),
                ChatId::for_pair(&uid(&b), &uid(&a)).unwrap()
            );
        }
    }
}
