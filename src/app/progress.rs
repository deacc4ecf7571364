//! Tasks and awards against the store: assigning a round's tasks once, completing a task under
//! an ETag guard, and awarding its points exactly once (ledger entry id derived from the task
//! id, written with create-if-absent). Shared by the HTTP routes and the event subscribers.

use serde_json::{Value, json};

use super::domain::documents::{CosmosUser, Greeting, LedgerEntry, UserTask, containers};
use super::domain::ids::TaskId;
use super::domain::round::Round;
use super::domain::tasks::{self, Recheck};
use super::domain::values::UserId;
use super::services::{AppServices, ServiceError};
use super::store_io::{parse_docs, read_doc, to_doc};
use crate::store::{BatchOp, ETag, PartitionKey, Query, StoreError};

/// ETag-guarded read-modify-write attempts before giving up (the caller or host retries).
pub const WRITE_ATTEMPTS: usize = 8;

/// The most users considered as task targets.
const MAX_CANDIDATES: u64 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Services(#[from] ServiceError),
    #[error("task {0} kept changing under concurrent writes")]
    Contended(String),
}

fn key(value: &str) -> Result<PartitionKey, StoreError> {
    PartitionKey::new(Value::String(value.to_owned()))
}

/// Id of the per-(user, round) marker that makes assignment happen once.
pub fn assignment_marker_id(round: &Round) -> String {
    format!("assignment-{}", round.id())
}

/// The tasks of `owner` in `round`, oldest first.
pub async fn tasks_of(
    services: &AppServices,
    owner: &UserId,
    round: &Round,
) -> Result<Vec<UserTask>, ProgressError> {
    let query = Query::new().eq("/roundId", round.id().as_str());
    let docs = services
        .store()
        .await?
        .query(containers::USER_TASKS, Some(&key(owner.as_str())?), &query)
        .await?;
    let mut found: Vec<UserTask> = parse_docs(containers::USER_TASKS, docs);
    found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(found)
}

/// The tasks of `owner` in `round`, assigning them on request while the round is current: the
/// first request assigns up to [`tasks::TASKS_PER_ROUND`] tasks, and a later one tops the set up
/// when too few other players were around at first. The assignment marker and the new tasks are
/// written in one transactional batch on the owner's partition (create, or replace under the
/// marker's ETag), so concurrent requests never assign more than one set.
pub async fn tasks_for_round(
    services: &AppServices,
    owner: &UserId,
    round: Round,
) -> Result<Vec<UserTask>, ProgressError> {
    if round == Round::containing(services.now()) {
        assign_missing_tasks(services, owner, round).await?;
    }
    tasks_of(services, owner, &round).await
}

async fn assign_missing_tasks(
    services: &AppServices,
    owner: &UserId,
    round: Round,
) -> Result<(), ProgressError> {
    let store = services.store().await?;
    let partition = key(owner.as_str())?;
    let marker_id = assignment_marker_id(&round);
    let marker = store
        .read(containers::USER_TASKS, &partition, &marker_id)
        .await?;
    let mut task_ids: Vec<String> = marker
        .as_ref()
        .and_then(|m| m.get("taskIds"))
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if task_ids.len() >= tasks::TASKS_PER_ROUND {
        return Ok(());
    }
    // Without a profile (no name, no position yet) there is nothing to assign.
    let Some(profile) =
        read_doc::<CosmosUser>(store, containers::USERS, owner.as_str(), owner.as_str()).await?
    else {
        return Ok(());
    };
    let taken: Vec<String> = tasks_of(services, owner, &round)
        .await?
        .iter()
        .map(|task| task.task_detail.user_id.as_str().to_owned())
        .collect();
    let docs = store
        .query(containers::USERS, None, &Query::new().limit(MAX_CANDIDATES))
        .await?;
    let candidates: Vec<CosmosUser> = parse_docs::<CosmosUser>(containers::USERS, docs)
        .into_iter()
        .filter(|user| !taken.iter().any(|target| target == user.id.as_str()))
        .collect();
    let now = services.now();
    let fresh: Vec<UserTask> = tasks::assign_tasks(&profile, &candidates, round, now)
        .into_iter()
        .take(tasks::TASKS_PER_ROUND - task_ids.len())
        .collect();
    if marker.is_some() && fresh.is_empty() {
        return Ok(());
    }
    task_ids.extend(fresh.iter().map(|t| t.id.as_str().to_owned()));
    let marker_doc = json!({
        "id": marker_id,
        "userId": owner.as_str(),
        "assignedRound": round.id().as_str(),
        "taskIds": task_ids,
        "createdAt": now.timestamp(),
    });
    let mut ops = vec![match &marker {
        None => BatchOp::Create(marker_doc),
        Some(current) => BatchOp::Replace {
            doc: marker_doc,
            if_match: ETag::of(current),
        },
    }];
    for task in &fresh {
        ops.push(BatchOp::Create(to_doc(task)?));
    }
    let response = store.batch(containers::USER_TASKS, &partition, ops).await?;
    match response.failure() {
        // 409 / 412: another request assigned or topped up first; its tasks are read by the caller.
        None | Some((_, 409 | 412)) => Ok(()),
        Some((index, status)) => Err(StoreError::from_status(
            status,
            format!("task assignment batch failed at operation {index}"),
        )
        .into()),
    }
}

/// The stored greeting proofs `owner` sent to `target`.
pub async fn greetings_to(
    services: &AppServices,
    owner: &UserId,
    target: &UserId,
) -> Result<Vec<Greeting>, ProgressError> {
    let query = Query::new().eq("/toUserId", target.as_str());
    let docs = services
        .store()
        .await?
        .query(
            containers::TASK_VALIDATOR,
            Some(&key(owner.as_str())?),
            &query,
        )
        .await?;
    Ok(parse_docs(containers::TASK_VALIDATOR, docs))
}

/// Records a greeting proof (create-if-absent: its id is the message id).
pub async fn record_greeting(
    services: &AppServices,
    greeting: &Greeting,
) -> Result<(), ProgressError> {
    let partition = key(greeting.user_id.as_str())?;
    match services
        .store()
        .await?
        .create(containers::TASK_VALIDATOR, &partition, to_doc(greeting)?)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Re-checks a stored task against the owner's stored greetings and, if it completes now,
/// writes the completion (ETag-guarded) and awards it. `None` when the task does not exist.
pub async fn recheck_task(
    services: &AppServices,
    owner: &UserId,
    task_id: &TaskId,
) -> Result<Option<Recheck>, ProgressError> {
    let store = services.store().await?;
    let partition = key(owner.as_str())?;
    for _ in 0..WRITE_ATTEMPTS {
        let Some(doc) = store
            .read(containers::USER_TASKS, &partition, task_id.as_str())
            .await?
        else {
            return Ok(None);
        };
        let etag = ETag::of(&doc);
        let Ok(task) = serde_json::from_value::<UserTask>(doc) else {
            return Ok(None);
        };
        let greetings = greetings_to(services, owner, &task.task_detail.user_id).await?;
        let position = owner_position(services, owner).await?;
        let outcome = tasks::recheck(&task, position, &greetings);
        match &outcome {
            Recheck::NewlyCompleted(done) => {
                match store
                    .replace(
                        containers::USER_TASKS,
                        &partition,
                        to_doc(done.as_ref())?,
                        etag.as_ref(),
                    )
                    .await
                {
                    Ok(_) => {
                        award(services, done).await?;
                        return Ok(Some(outcome));
                    }
                    Err(e) if e.is_precondition_failed() => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Recheck::AlreadyCompleted => {
                // The completion may have been written by a writer that failed before its
                // award: awarding again is a no-op when the entry exists.
                award(services, &task).await?;
                return Ok(Some(outcome));
            }
            Recheck::NotYet => return Ok(Some(outcome)),
        }
    }
    Err(ProgressError::Contended(task_id.as_str().to_owned()))
}

async fn owner_position(
    services: &AppServices,
    owner: &UserId,
) -> Result<Option<crate::app::domain::values::Coordinates>, ProgressError> {
    let profile: Option<CosmosUser> = read_doc(
        services.store().await?,
        containers::USERS,
        owner.as_str(),
        owner.as_str(),
    )
    .await?;
    Ok(profile.and_then(|p| p.position()))
}

/// Writes the ledger entry of a completed task once; `true` when this call created it.
pub async fn award(services: &AppServices, task: &UserTask) -> Result<bool, ProgressError> {
    let Some(entry) = LedgerEntry::for_task(task) else {
        return Ok(false);
    };
    let partition = key(entry.user.id.as_str())?;
    match services
        .store()
        .await?
        .create(containers::LEADERBOARDS, &partition, to_doc(&entry)?)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.is_conflict() => Ok(false),
        Err(e) => Err(e.into()),
    }
}
