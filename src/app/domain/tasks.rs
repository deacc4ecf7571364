//! Task assignment and completion.
//!
//! Assignment is server-side and deterministic (the original picked random users in the browser,
//! including itself and duplicates: §4.3, §11.3 item 23): each candidate gets a pseudo-random key
//! from hash(owner, round, candidate) and the owner gets the candidates with the smallest keys.
//! The result depends only on the *set* of candidates, not on their order.
//!
//! Completion: the owner sends the greeting to the task's target within the task's round.

use chrono::{DateTime, Utc};

use super::documents::{ChatMessage, CosmosUser, Greeting, UserTask};
use super::ids::pick_key;
use super::round::Round;
use super::scoring::points_between;
use super::values::Coordinates;

/// Tasks per user per round.
pub const TASKS_PER_ROUND: usize = 3;

/// The greeting that completes a task.
pub const GREETING: &str = "Hi-CosmosPark";

/// Up to [`TASKS_PER_ROUND`] tasks for `owner` in `round`, from `candidates` that have a location;
/// never the owner, never the same target twice.
pub fn assign_tasks(
    owner: &CosmosUser,
    candidates: &[CosmosUser],
    round: Round,
    now: DateTime<Utc>,
) -> Vec<UserTask> {
    let context = format!("{}|{}", owner.id, round.id());
    let mut keyed: Vec<([u8; 16], &CosmosUser)> = candidates
        .iter()
        .filter(|c| c.id != owner.id && c.address.is_some())
        .map(|c| (pick_key(&context, c.id.as_str()), c))
        .collect();
    // Same key means same id; of several copies of one user keep the newest profile.
    keyed.sort_by(|a, b| {
        (a.0, &a.1.id)
            .cmp(&(b.0, &b.1.id))
            .then_with(|| b.1.updated_at.cmp(&a.1.updated_at))
    });
    keyed.dedup_by(|a, b| a.1.id == b.1.id);
    keyed
        .into_iter()
        .filter_map(|(_, target)| {
            let address = target.address.as_ref()?;
            Some(UserTask::new(owner, target, address, round, now))
        })
        .take(TASKS_PER_ROUND)
        .collect()
}

/// Is this message text the greeting? Case-insensitive, ignoring whitespace and punctuation
/// around it ("hi-cosmospark!", "  Hi-CosmosPark. "); the web client applies the same rule.
pub fn is_greeting(content: &str) -> bool {
    content
        .trim_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation() || is_mark(c))
        .eq_ignore_ascii_case(GREETING)
}

/// Punctuation beyond ASCII that people put around a greeting: ¡¿ “” ‘’ « » … 。！
fn is_mark(c: char) -> bool {
    matches!(
        c,
        '¡' | '¿' | '“' | '”' | '‘' | '’' | '«' | '»' | '…' | '。' | '！' | '？'
    )
}

/// Whether a greeting completes a task, and if not, why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Completes,
    AlreadyCompleted,
    NotAGreeting,
    /// Not sent by the task's owner.
    WrongSender,
    /// Not sent to the task's target.
    WrongRecipient,
    /// Sent outside the task's round (or the task has no round).
    OutsideRound,
}

/// Checks one greeting against one task.
pub fn check_completion(task: &UserTask, greeting: &Greeting) -> Completion {
    if task.is_completed {
        Completion::AlreadyCompleted
    } else if greeting.user_id != task.user_id {
        Completion::WrongSender
    } else if greeting.to_user_id != task.task_detail.user_id {
        Completion::WrongRecipient
    } else {
        match task.round() {
            Some(round) if round.contains(greeting.sent_at()) => Completion::Completes,
            _ => Completion::OutsideRound,
        }
    }
}

/// Checks one chat message against one task.
pub fn check_message(task: &UserTask, message: &ChatMessage) -> Completion {
    match Greeting::from_message(message) {
        Some(greeting) => check_completion(task, &greeting),
        None if task.is_completed => Completion::AlreadyCompleted,
        None => Completion::NotAGreeting,
    }
}

/// `task` completed by the earliest greeting (by time, then id) in `greetings` that completes
/// it, with points by distance from `owner_position` to the target; `None` if none does.
/// The order of `greetings` does not matter.
pub fn complete_from_greetings<'a>(
    task: &UserTask,
    owner_position: Option<Coordinates>,
    greetings: impl IntoIterator<Item = &'a Greeting>,
) -> Option<UserTask> {
    let first = greetings
        .into_iter()
        .filter(|g| check_completion(task, g) == Completion::Completes)
        .min_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)))?;
    let points = match (owner_position, task.task_detail.position) {
        (Some(from), Some(to)) => points_between(from, to),
        // Without both positions the distance is unknown: the smallest award.
        _ => 2,
    };
    Some(task.completed(first.sent_at(), points))
}

/// The answer of the original `CompleteTask` route, re-checked on the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Recheck {
    /// Already completed earlier: `{"success": true}`, nothing to write.
    AlreadyCompleted,
    /// Completed now: write this task (and its ledger entry); `{"success": true}`.
    NewlyCompleted(Box<UserTask>),
    /// No qualifying greeting yet: `{"success": false}`.
    NotYet,
}

impl Recheck {
    /// The original route's `success` value.
    pub fn success(&self) -> bool {
        !matches!(self, Recheck::NotYet)
    }
}

/// Re-checks a stored task against the stored greeting proofs of its owner (idempotent).
pub fn recheck<'a>(
    task: &UserTask,
    owner_position: Option<Coordinates>,
    greetings: impl IntoIterator<Item = &'a Greeting>,
) -> Recheck {
    if task.is_completed {
        return Recheck::AlreadyCompleted;
    }
    match complete_from_greetings(task, owner_position, greetings) {
        Some(done) => Recheck::NewlyCompleted(Box::new(done)),
        None => Recheck::NotYet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::domain::documents::{UserAddress, UserRef};
    use crate::app::domain::values::MessageContent;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn user(id: &str, lat: f64, lon: f64) -> CosmosUser {
        let mut u: CosmosUser =
            serde_json::from_value(serde_json::json!({"id": id, "name": id})).unwrap();
        u.address = Some(UserAddress::new(Coordinates::new(lat, lon).unwrap(), None));
        u
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T16:20:00Z".parse().unwrap()
    }

    fn message(from: &CosmosUser, to: &CosmosUser, text: &str, at: DateTime<Utc>) -> ChatMessage {
        let r = |u: &CosmosUser| UserRef {
            id: u.id.clone(),
            name: u.name.clone(),
        };
        ChatMessage::new(
            format!("{}-{}", at.timestamp(), text.len()),
            r(from),
            r(to),
            MessageContent::parse(text).unwrap(),
            at,
        )
        .unwrap()
    }

    #[test]
    fn greeting_is_trimmed_and_case_insensitive() {
        assert!(is_greeting("Hi-CosmosPark"));
        assert!(is_greeting("  hi-cosmospark\n"));
        assert!(!is_greeting("Hi CosmosPark"));
        assert!(is_greeting("Hi-CosmosPark!"));
    }

    #[test]
    fn assigns_three_others_and_fewer_when_short() {
        let me = user("me", 0.0, 0.0);
        let mut others: Vec<_> = (0..10).map(|i| user(&format!("u{i}"), 1.0, 1.0)).collect();
        others.push(me.clone());
        let tasks = assign_tasks(&me, &others, Round::containing(now()), now());
        assert_eq!(tasks.len(), 3);
        let targets: HashSet<_> = tasks
            .iter()
            .map(|t| t.task_detail.user_id.clone())
            .collect();
        assert_eq!(targets.len(), 3);
        assert!(!targets.contains(&me.id));
        let mut no_location = user("ghost", 0.0, 0.0);
        no_location.address = None;
        let few = [
            me.clone(),
            no_location,
            user("solo", 5.0, 5.0),
            user("solo", 5.0, 5.0),
        ];
        let tasks = assign_tasks(&me, &few, Round::containing(now()), now());
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].task_detail.user_id.as_str(), "solo");
        assert!(
            assign_tasks(
                &me,
                std::slice::from_ref(&me),
                Round::containing(now()),
                now()
            )
            .is_empty()
        );
    }

    #[test]
    fn different_rounds_usually_pick_differently() {
        let me = user("me", 0.0, 0.0);
        let others: Vec<_> = (0..30).map(|i| user(&format!("u{i}"), 1.0, 1.0)).collect();
        let round = Round::containing(now());
        let picks: HashSet<Vec<String>> = (0..5)
            .map(|h| {
                let r = Round::containing(round.start() + chrono::Duration::hours(h));
                assign_tasks(&me, &others, r, now())
                    .iter()
                    .map(|t| t.task_detail.user_id.to_string())
                    .collect()
            })
            .collect();
        assert!(picks.len() > 1);
    }

    #[test]
    fn completion_rules() {
        let me = user("me", 51.5074, -0.1278); // London
        let far = user("far", 40.7128, -74.0060); // New York
        let other = user("other", 48.8566, 2.3522);
        let round = Round::containing(now());
        let task = assign_tasks(&me, std::slice::from_ref(&far), round, now()).remove(0);
        let hi = message(&me, &far, " hi-cosmospark ", now());
        assert_eq!(check_message(&task, &hi), Completion::Completes);
        assert_eq!(
            check_message(&task, &message(&far, &me, "Hi-CosmosPark", now())),
            Completion::WrongSender
        );
        assert_eq!(
            check_message(&task, &message(&me, &other, "Hi-CosmosPark", now())),
            Completion::WrongRecipient
        );
        assert_eq!(
            check_message(&task, &message(&me, &far, "hello", now())),
            Completion::NotAGreeting
        );
        assert_eq!(
            check_message(&task, &message(&me, &far, "Hi-CosmosPark", round.end())),
            Completion::OutsideRound
        );
        let later = message(
            &me,
            &far,
            "Hi-CosmosPark",
            now() + chrono::Duration::minutes(5),
        );
        let proofs: Vec<_> = [&later, &hi]
            .into_iter()
            .filter_map(Greeting::from_message)
            .collect();
        let greeting = Greeting::from_message(&hi).unwrap();
        assert_eq!(greeting.id, hi.id);
        assert_eq!(greeting.to_user_id, far.id);
        assert_eq!(
            Greeting::from_message(&message(&me, &far, "hello", now())),
            None
        );
        let done = complete_from_greetings(&task, me.position(), &proofs).unwrap();
        assert_eq!(done.points, Some(6));
        assert_eq!(done.completed_at, Some(now()));
        assert_eq!(check_message(&done, &hi), Completion::AlreadyCompleted);
        assert_eq!(
            recheck(&task, me.position(), &proofs),
            Recheck::NewlyCompleted(Box::new(done.clone()))
        );
        assert_eq!(
            recheck(&done, me.position(), &proofs),
            Recheck::AlreadyCompleted
        );
        assert!(recheck(&done, me.position(), &proofs).success());
        assert_eq!(recheck(&task, me.position(), []), Recheck::NotYet);
        assert!(!Recheck::NotYet.success());
        assert_eq!(complete_from_greetings(&done, me.position(), &proofs), None);
        assert_eq!(
            complete_from_greetings(&task, None, &proofs)
                .unwrap()
                .points,
            Some(2)
        );
    }

    fn ids(n: usize) -> impl Strategy<Value = Vec<String>> {
        proptest::collection::hash_set("[a-z0-9]{1,8}", 0..n).prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #[test]
        fn assignment_is_deterministic_and_order_insensitive(
            candidate_ids in ids(12), owner in "[a-z0-9]{1,8}", hour in 0i64..100_000,
        ) {
            let me = user(&owner, 0.0, 0.0);
            let mut candidates: Vec<_> = candidate_ids.iter().map(|id| user(id, 1.0, 2.0)).collect();
            let round = Round::containing(DateTime::from_timestamp(hour * 3600, 0).unwrap());
            let first = assign_tasks(&me, &candidates, round, now());
            candidates.reverse();
            candidates.extend(candidates.clone());
            let second = assign_tasks(&me, &candidates, round, now());
            prop_assert_eq!(&first, &second);
            let others = candidate_ids.iter().filter(|id| **id != owner).count();
            prop_assert_eq!(first.len(), others.min(TASKS_PER_ROUND));
            let targets: HashSet<_> = first.iter().map(|t| &t.task_detail.user_id).collect();
            prop_assert_eq!(targets.len(), first.len());
            prop_assert!(!targets.contains(&me.id));
            for t in &first {
                prop_assert_eq!(t.round(), Some(round));
                prop_assert_eq!(&t.user_id, &me.id);
            }
        }
    }
}
