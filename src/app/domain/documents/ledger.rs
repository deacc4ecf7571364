//! `CosmicLeaderboards` documents: the append-only score ledger, partition key `/user/id`.
//!
//! Entry ids are derived (`task-<taskId>`, `init-<userId>`), so writing an award twice
//! writes the same document: the original's random ids double-counted (§11.2 item 11).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::task::UserTask;
use super::user::CosmosUser;
use crate::app::domain::ids::{ledger_id_for_new_user, ledger_id_for_task};
use crate::app::domain::round::RoundId;
use crate::app::domain::values::{DisplayName, UserId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub id: String,
    pub user: LedgerUser,
    pub task: LedgerTask,
    pub score: i64,
    /// When the points were earned; original entries lack it and fall back to `_ts`.
    #[serde(default, with = "chrono::serde::ts_seconds_option")]
    pub awarded_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub round_id: Option<RoundId>,
    #[serde(rename = "_ts", default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerUser {
    pub id: UserId,
    pub name: DisplayName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerTask {
    /// `""` for entries not tied to a task, as in the original.
    pub id: String,
}

impl LedgerEntry {
    /// The zero-score entry that puts a new user on the board.
    pub fn joined(user: &CosmosUser) -> Self {
        Self {
            id: ledger_id_for_new_user(&user.id),
            user: LedgerUser {
                id: user.id.clone(),
                name: user.name.clone(),
            },
            task: LedgerTask { id: String::new() },
            score: 0,
            awarded_at: Some(user.created_at),
            round_id: None,
            ts: None,
        }
    }

    /// The award for a completed task; `None` while the task is open.
    pub fn for_task(task: &UserTask) -> Option<Self> {
        if !task.is_completed {
            return None;
        }
        Some(Self {
            id: ledger_id_for_task(&task.id),
            user: LedgerUser {
                id: task.user_id.clone(),
                name: task.user_name.clone(),
            },
            task: LedgerTask {
                id: task.id.as_str().to_owned(),
            },
            score: i64::from(task.points.unwrap_or(2)),
            awarded_at: task.completed_at,
            round_id: task.round_id.clone(),
            ts: None,
        })
    }

    /// When the entry counts for windowed leaderboards.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.awarded_at
            .or_else(|| self.ts.and_then(|t| DateTime::from_timestamp(t, 0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::domain::documents::UserAddress;
    use crate::app::domain::round::Round;
    use crate::app::domain::values::Coordinates;
    use serde_json::json;

    fn user(id: &str) -> CosmosUser {
        serde_json::from_value(json!({"id": id, "name": id, "createdAt": 1000})).unwrap()
    }

    #[test]
    fn ids_are_derived_so_awards_are_exactly_once() {
        let owner = user("alice");
        let target = user("bob");
        let address = UserAddress::new(Coordinates::new(1.0, 2.0).unwrap(), None);
        let now = DateTime::from_timestamp(1_764_000_100, 0).unwrap();
        let task = UserTask::new(&owner, &target, &address, Round::containing(now), now);
        assert_eq!(LedgerEntry::for_task(&task), None);
        let done = task.completed(now, 6);
        let a = LedgerEntry::for_task(&done).unwrap();
        let b = LedgerEntry::for_task(&done.completed(now, 2)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id, format!("task-{}", task.id));
        assert_eq!(a.score, 6);
        assert_eq!(a.time(), Some(now));
        let joined = LedgerEntry::joined(&owner);
        assert_eq!((joined.id.as_str(), joined.score), ("init-alice", 0));
        let v = serde_json::to_value(&joined).unwrap();
        assert_eq!(v["user"], json!({"id": "alice", "name": "alice"}));
        assert_eq!(v["task"], json!({"id": ""}));
    }

    #[test]
    fn original_entries_use_ts() {
        let e: LedgerEntry = serde_json::from_value(json!({
            "id": "8a1f", "user": {"id": "a1b2", "name": "octocat"},
            "task": {"id": "1b9d"}, "score": 2, "_ts": 1650290300
        }))
        .unwrap();
        assert_eq!(e.time().unwrap().timestamp(), 1_650_290_300);
    }
}
