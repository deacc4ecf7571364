//! Tasks and admin writes: `GetAllTasksByUserId` (GET
//! /api/tasks/users/{userId}/timestamp/{start}/{end}, assigns the round's tasks on first
//! request), `CompleteTask` (POST /api/tasks/{taskId}/users/{userId}/timestamp/{start}/{end},
//! re-checks on the server, `{"success": bool}`), and the admin-only `CreateTask`
//! (POST /api/task) and `CreateScore` (POST /api/leaderboard).

use axum::body::Body;
use axum::extract::Path;
use axum::response::Response;
use serde_json::json;

use super::api::{
    ApiError, ApiResult, Caller, json_body, ok, path_user_id, pk, read_body, store, to_doc,
    typed_body,
};
use super::users::without_system_properties;
use crate::app::domain::auth::Route;
use crate::app::domain::commands::AdminScore;
use crate::app::domain::documents::{UserTask, containers};
use crate::app::domain::ids::TaskId;
use crate::app::domain::round::{Round, RoundError};
use crate::app::progress::{self, ProgressError};
use crate::app::services::AppServices;
use crate::runtime::Function;

pub fn get_all_tasks_by_user_id(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "GetAllTasksByUserId",
        &["GET"],
        "tasks/users/{userId}/timestamp/{starttimestamp}/{endtimestamp}",
        move |caller: Caller, Path((user_id, start, end)): Path<(String, String, String)>| {
            my_tasks(services.clone(), caller, user_id, start, end)
        },
    )
}

pub fn complete_task(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "CompleteTask",
        &["POST"],
        "tasks/{taskId}/users/{userId}/timestamp/{starttimestamp}/{endtimestamp}",
        move |caller: Caller,
              Path((task_id, user_id, start, end)): Path<(String, String, String, String)>,
              body: Body| {
            complete(services.clone(), caller, task_id, user_id, start, end, body)
        },
    )
}

pub fn create_task(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "CreateTask",
        &["POST"],
        "task",
        move |caller: Caller, body: Body| admin_task(services.clone(), caller, body),
    )
}

pub fn create_score(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "CreateScore",
        &["POST"],
        "leaderboard",
        move |caller: Caller, body: Body| admin_score(services.clone(), caller, body),
    )
}

fn round_error(error: RoundError) -> ApiError {
    let field = match &error {
        RoundError::BadTimestamp { field, .. } => field,
        RoundError::BadId(_) => "roundId",
        RoundError::MixedUnits | RoundError::NotARound { .. } => "endtimestamp",
    };
    ApiError::bad_request(field, error.to_string())
}

impl From<ProgressError> for ApiError {
    fn from(error: ProgressError) -> Self {
        match error {
            ProgressError::Store(e) => ApiError::Store(e),
            ProgressError::Services(e) => ApiError::Services(e),
            ProgressError::Contended(id) => {
                ApiError::Store(crate::store::StoreError::PreconditionFailed(format!(
                    "task {id} kept changing; try again"
                )))
            }
        }
    }
}

async fn my_tasks(
    services: AppServices,
    caller: Caller,
    raw_user: String,
    start: String,
    end: String,
) -> ApiResult<Response> {
    let user_id = path_user_id(&raw_user)?;
    caller.authorize(Route::GetTasksByUserId, Some(&user_id))?;
    let round = Round::from_window(&start, &end, services.now()).map_err(round_error)?;
    let tasks = progress::tasks_for_round(&services, &user_id, round).await?;
    Ok(ok(tasks.iter().map(UserTask::public).collect::<Vec<_>>()))
}

async fn complete(
    services: AppServices,
    caller: Caller,
    raw_task: String,
    raw_user: String,
    start: String,
    end: String,
    body: Body,
) -> ApiResult<Response> {
    let user_id = path_user_id(&raw_user)?;
    caller.authorize(Route::CompleteTask, Some(&user_id))?;
    // The body (the original client sends the whole task) is ignored: the stored task decides.
    read_body(body).await?;
    let task_id = TaskId::parse(&raw_task)?;
    Round::from_window(&start, &end, services.now()).map_err(round_error)?;
    let outcome = progress::recheck_task(&services, &user_id, &task_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("taskId", format!("user {user_id} has no task {task_id}"))
        })?;
    Ok(ok(json!({ "success": outcome.success() })))
}

async fn admin_task(services: AppServices, caller: Caller, body: Body) -> ApiResult<Response> {
    caller.authorize(Route::CreateTask, None)?;
    let task: UserTask = typed_body(json_body(body).await?)?;
    let stored = store(&services)
        .await?
        .upsert(
            containers::USER_TASKS,
            &pk(task.user_id.as_str())?,
            to_doc(&task)?,
        )
        .await?;
    Ok(ok(without_system_properties(stored)))
}

async fn admin_score(services: AppServices, caller: Caller, body: Body) -> ApiResult<Response> {
    caller.authorize(Route::CreateScore, None)?;
    let command = AdminScore::parse(&json_body(body).await?)?;
    let entry = command.into_entry(services.now());
    let store = store(&services).await?;
    let key = pk(entry.user.id.as_str())?;
    let stored = match store
        .create(containers::LEADERBOARDS, &key, to_doc(&entry)?)
        .await
    {
        Ok(doc) => doc,
        // The same admin entry id again: idempotent, answer with the first write.
        Err(e) if e.is_conflict() => store
            .read(containers::LEADERBOARDS, &key, &entry.id)
            .await?
            .ok_or(e)?,
        Err(e) => return Err(e.into()),
    };
    Ok(ok(without_system_properties(stored)))
}
