//! `RebuildReadModel` (`/api/manage/rebuild/{model}`, admin role): `POST` starts a server-side job rebuilding a read model (or
//! `all`) from the write side while the app keeps serving — the same work as
//! `cosmospark rebuild` — and answers 202 with a `Location` to poll; `GET` on the same URL is
//! the latest job's status. A second `POST` while a job runs answers 409. The status URL is
//! the request's own path, so it follows the route wherever `function.json` puts it.

use axum::Json;
use axum::extract::Path;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiError;
use crate::app::cqrs::ReadSide;
use crate::app::cqrs::rebuild::parse_target;
use crate::app::cqrs::rebuild_job::{self, JobError};
use crate::app::domain::auth::Route;
use crate::runtime::{ClientPrincipal, Function};

pub fn rebuild(read_side: ReadSide) -> Function {
    Function::http(
        "RebuildReadModel",
        &["GET", "POST"],
        "manage/rebuild/{model}",
        move |method: Method, uri: Uri, principal: ClientPrincipal, Path(model): Path<String>| {
            let read_side = read_side.clone();
            async move {
                match run(&read_side, &method, &uri, &principal, &model).await {
                    Ok(response) => response,
                    Err(error) => error.into_response(),
                }
            }
        },
    )
}

async fn run(
    read_side: &ReadSide,
    method: &Method,
    uri: &Uri,
    principal: &ClientPrincipal,
    target: &str,
) -> Result<Response, ApiError> {
    super::authorize(principal, Route::RebuildReadModel)?;
    let models = parse_target(target).map_err(|message| ApiError::bad_request("model", message))?;
    let store = read_side.store().await.map_err(ApiError::internal)?;
    let location = [(header::LOCATION, uri.path().to_owned())];
    if method == Method::GET {
        return match rebuild_job::status(store).await {
            Ok(Some(status)) => Ok(Json(json!({ "job": status })).into_response()),
            Ok(None) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no rebuild has been started",
            )),
            Err(error) => Err(ApiError::internal(error)),
        };
    }
    match rebuild_job::start(store, target, models).await {
        Ok(status) => Ok((
            StatusCode::ACCEPTED,
            location,
            Json(json!({ "job": status })),
        )
            .into_response()),
        Err(JobError::Running(running)) => Ok((
            StatusCode::CONFLICT,
            location,
            Json(json!({
                "error": "a rebuild is already running; poll the Location for its status",
                "job": running,
            })),
        )
            .into_response()),
        Err(error) => Err(ApiError::internal(error)),
    }
}
