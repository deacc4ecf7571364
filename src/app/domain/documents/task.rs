//! `CosmicUserTasks` documents: "say Hi-CosmosPark to this user", partition key `/userId`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::user::{CosmosUser, CountryInfo, StreetInfo, UserAddress, place_label};
use crate::app::domain::ids::TaskId;
use crate::app::domain::round::{Round, RoundId};
use crate::app::domain::values::{Coordinates, DisplayName, UserId};

/// A task of one user in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserTask {
    pub id: TaskId,
    /// The task owner.
    pub user_id: UserId,
    pub user_name: DisplayName,
    /// Absent on the original's documents.
    #[serde(default)]
    pub round_id: Option<RoundId>,
    pub task_detail: TaskDetail,
    pub is_completed: bool,
    #[serde(default, with = "chrono::serde::ts_seconds_option")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Points awarded on completion.
    #[serde(default)]
    pub points: Option<u32>,
    #[serde(default, with = "chrono::serde::ts_seconds")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "_ts", default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

/// The target user, copied from their *public* profile when the task was assigned: the
/// position rounded to ~1 km and no street, like every other view of someone else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDetail {
    pub user_id: UserId,
    pub user_name: DisplayName,
    #[serde(default)]
    pub country: CountryInfo,
    /// The target's street (the original UI put the user name here: §3.4).
    #[serde(default)]
    pub street: StreetInfo,
    #[serde(default)]
    pub municipality: Option<String>,
    #[serde(default)]
    pub position: Option<Coordinates>,
}

impl UserTask {
    /// A new, open task for `owner` to greet `target` (whose `address`) in `round`. Only the
    /// coarse position and the place label are copied (the owner is another user).
    pub fn new(
        owner: &CosmosUser,
        target: &CosmosUser,
        address: &UserAddress,
        round: Round,
        now: DateTime<Utc>,
    ) -> Self {
        let round_id = round.id();
        Self {
            id: TaskId::derive(&owner.id, &round_id, &target.id),
            user_id: owner.id.clone(),
            user_name: owner.name.clone(),
            round_id: Some(round_id),
            task_detail: TaskDetail {
                user_id: target.id.clone(),
                user_name: target.name.clone(),
                country: address.country.clone(),
                street: StreetInfo::default(),
                municipality: address.municipality.clone(),
                position: Some(address.position.coarse()),
            },
            is_completed: false,
            completed_at: None,
            points: None,
            created_at: now,
            ts: None,
        }
    }

    /// The task as its owner may see it: documents written before positions were coarsened
    /// (or by an admin) carry the target's exact position and street; this view never does.
    pub fn public(&self) -> Self {
        let mut task = self.clone();
        task.task_detail.street = StreetInfo::default();
        task.task_detail.position = self.task_detail.position.map(|p| p.coarse());
        task
    }

    /// The round this task belongs to (`None` for the original's round-less documents).
    pub fn round(&self) -> Option<Round> {
        self.round_id.as_ref().map(Round::from_id)
    }

    /// The text shown to the owner, from the parts of the place that are known.
    pub fn description(&self) -> String {
        let d = &self.task_detail;
        let place = place_label(d.municipality.as_deref(), &d.country);
        if place.is_empty() {
            format!("Say 'Hi-CosmosPark' to {}", d.user_name)
        } else {
            format!("Say 'Hi-CosmosPark' to {} from {place}", d.user_name)
        }
    }

    /// This task completed at `at` for `points`. Completing twice keeps the first completion.
    pub fn completed(&self, at: DateTime<Utc>, points: u32) -> Self {
        if self.is_completed {
            return self.clone();
        }
        Self {
            is_completed: true,
            completed_at: Some(at),
            points: Some(points),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_original_sample() {
        let original = json!({
          "id": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed",
          "userId": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
          "userName": "octocat",
          "taskDetail": {
            "userId": "0f9e8d7c6b5a49382716a5b4c3d2e1f0",
            "userName": "monalisa",
            "country": { "code": "IN", "subDivision": "Tamil Nadu", "secondarySubDivision": "Chennai",
                         "isoCode3": null, "name": "India" },
            "street": { "name": "monalisa", "nameAndNumber": null },
            "position": { "latitude": "13.0827", "longitude": "80.2707" }
          },
          "isCompleted": false,
          "_ts": 1650290005
        });
        let task: UserTask = serde_json::from_value(original).unwrap();
        assert_eq!(
            task.task_detail.user_id.as_str(),
            "0f9e8d7c6b5a49382716a5b4c3d2e1f0"
        );
        assert_eq!(task.round(), None);
        assert_eq!(
            task.description(),
            "Say 'Hi-CosmosPark' to monalisa from Tamil Nadu, India"
        );
        let done = task.completed(DateTime::from_timestamp(10, 0).unwrap(), 4);
        let again = done.completed(DateTime::from_timestamp(20, 0).unwrap(), 6);
        assert_eq!(again, done);
        let v = serde_json::to_value(&done).unwrap();
        assert_eq!(v["isCompleted"], true);
        assert_eq!(v["completedAt"], 10);
        assert_eq!(v["points"], 4);
        assert_eq!(v["taskDetail"]["position"]["latitude"], 13.0827);
    }
}
