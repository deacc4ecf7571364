//! `RebuildReadModel` — `POST /api/manage/rebuild/{model}` (admin role): rebuilds a read model
//! (or `all`) from the write side while the app keeps serving; the same work as
//! `cosmospark rebuild`, for a running app whose store the CLI cannot open.

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiError;
use crate::app::cqrs::ReadSide;
use crate::app::cqrs::rebuild::{parse_target, rebuild_all};
use crate::app::domain::auth::Route;
use crate::runtime::{ClientPrincipal, Function};

pub fn rebuild(read_side: ReadSide) -> Function {
    Function::http(
        "RebuildReadModel",
        &["POST"],
        "manage/rebuild/{model}",
        move |principal: ClientPrincipal, Path(model): Path<String>| {
            let read_side = read_side.clone();
            async move {
                match run(&read_side, &principal, &model).await {
                    Ok(response) => response,
                    Err(error) => error.into_response(),
                }
            }
        },
    )
}

async fn run(
    read_side: &ReadSide,
    principal: &ClientPrincipal,
    target: &str,
) -> Result<Response, ApiError> {
    super::authorize(principal, Route::RebuildReadModel)?;
    let models = parse_target(target).map_err(|message| ApiError::bad_request("model", message))?;
    let store = read_side.store().await.map_err(ApiError::internal)?;
    let reports = rebuild_all(store, &models)
        .await
        .map_err(ApiError::internal)?;
    let body: Vec<_> = reports
        .iter()
        .map(|report| {
            json!({
                "model": report.model.name(),
                "generation": report.generation,
                "documents": report.documents,
                "skipped": report.skipped,
                "written": report.written,
            })
        })
        .collect();
    Ok(Json(json!({ "rebuilt": body })).into_response())
}
