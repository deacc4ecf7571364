//! The read-side queries; each reads only read models.
//!
//! - `GetCosmosLeaderBoards` — `GET /api/leaderboards?window=all|7d|30d&top=N` (public): at
//!   most N rows, competition ranks (tied rows share a rank), ties ordered by user id.
//! - `GetUserStats` — `GET /api/stats/{userId}` (signed in).
//! - `GetUsersByCountry` — `GET /api/countries/{code}/users` (signed in).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ApiError;
use crate::app::cqrs::ReadSide;
use crate::app::cqrs::layout::{Pointer, READ_MODELS, body, country_partition, partition};
use crate::app::cqrs::model::{Model, StatsDoc};
use crate::app::domain::auth::Route;
use crate::app::domain::leaderboard::{Window, parse_top};
use crate::app::domain::values::{CountryCode, UserId};
use crate::runtime::{ClientPrincipal, Function};
use crate::store::PartitionKey;

pub fn leaderboards(read_side: ReadSide) -> Function {
    Function::http(
        "GetCosmosLeaderBoards",
        &["GET", "HEAD"],
        "leaderboards",
        move |Query(query): Query<HashMap<String, String>>| {
            let read_side = read_side.clone();
            async move { respond(leaderboard(&read_side, &query).await) }
        },
    )
}

pub fn user_stats(read_side: ReadSide) -> Function {
    Function::http(
        "GetUserStats",
        &["GET"],
        "stats/{userId}",
        move |principal: ClientPrincipal, Path(user): Path<String>| {
            let read_side = read_side.clone();
            async move { respond(stats(&read_side, &principal, &user).await) }
        },
    )
}

pub fn users_by_country(read_side: ReadSide) -> Function {
    Function::http(
        "GetUsersByCountry",
        &["GET"],
        "countries/{code}/users",
        move |principal: ClientPrincipal, Path(code): Path<String>| {
            let read_side = read_side.clone();
            async move { respond(country(&read_side, &principal, &code).await) }
        },
    )
}

fn respond(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn leaderboard(
    read_side: &ReadSide,
    query: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let window = match query.get("window") {
        Some(raw) => {
            Window::parse(raw).map_err(|e| ApiError::bad_request("window", e.to_string()))?
        }
        None => Window::All,
    };
    let top = parse_top(query.get("top").map(String::as_str))
        .map_err(|e| ApiError::bad_request("top", e.to_string()))?;
    let store = read_side.store().await.map_err(ApiError::internal)?;
    let now = read_side.now();
    let mut rows = read_side
        .standings()
        .top(store, window, top, now)
        .await
        .map_err(ApiError::internal)?;
    // At most `top` rows: a tie at the cut is broken by user id (the index's order), and
    // tied rows keep their shared rank.
    rows.truncate(top);
    Ok(json!({"window": window, "top": top, "asOf": now, "standings": rows}))
}

async fn stats(
    read_side: &ReadSide,
    principal: &ClientPrincipal,
    raw_user: &str,
) -> Result<Value, ApiError> {
    super::authorize(principal, Route::UserStats)?;
    let user =
        UserId::parse(raw_user).map_err(|e| ApiError::bad_request("userId", e.to_string()))?;
    let user = user.as_str();
    let store = read_side.store().await.map_err(ApiError::internal)?;
    let generation = Pointer::load(store)
        .await
        .map_err(ApiError::internal)?
        .of(Model::Stats)
        .active;
    let pk = partition(Model::Stats, generation, user);
    let doc: StatsDoc = match store
        .read(READ_MODELS, &PartitionKey::from(pk.as_str()), user)
        .await
        .map_err(ApiError::internal)?
    {
        Some(doc) => serde_json::from_value(body(&doc)).map_err(ApiError::internal)?,
        None => StatsDoc::default(),
    };
    let now = read_side.now();
    let mut scores = Vec::new();
    for window in [Window::All, Window::Days7, Window::Days30] {
        let row = read_side
            .standings()
            .standing(store, user, window, now)
            .await
            .map_err(ApiError::internal)?;
        scores.push(row);
    }
    let score = |i: usize| scores[i].as_ref().map_or(0, |r| r.score);
    let name = doc
        .user_name
        .clone()
        .or_else(|| scores[0].as_ref().map(|r| r.user_name.clone()));
    Ok(json!({
        "userId": user,
        "userName": name,
        "score": score(0),
        "rank": scores[0].as_ref().map(|r| r.rank),
        "score7d": score(1),
        "score30d": score(2),
        "tasksCompleted": doc.tasks.len(),
        "messagesSent": doc.sent.len(),
        "messagesReceived": doc.received.len(),
        "countriesGreeted": doc.countries.len(),
        "countries": doc.countries,
        "lastActive": doc.last_active.and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
    }))
}

async fn country(
    read_side: &ReadSide,
    principal: &ClientPrincipal,
    raw_code: &str,
) -> Result<Value, ApiError> {
    super::authorize(principal, Route::UsersByCountry)?;
    let code =
        CountryCode::parse(raw_code).map_err(|e| ApiError::bad_request("code", e.to_string()))?;
    let store = read_side.store().await.map_err(ApiError::internal)?;
    let generation = Pointer::load(store)
        .await
        .map_err(ApiError::internal)?
        .of(Model::Countries)
        .active;
    let pk = country_partition(generation, code.as_str());
    let docs = store
        .query(
            READ_MODELS,
            Some(&PartitionKey::from(pk.as_str())),
            &crate::store::Query::new(),
        )
        .await
        .map_err(ApiError::internal)?;
    let mut users: Vec<Value> = docs
        .iter()
        .map(|d| json!({"userId": d["userId"], "userName": d["userName"]}))
        .collect();
    users.sort_by(|a, b| a["userName"].as_str().cmp(&b["userName"].as_str()));
    Ok(json!({"country": code.as_str(), "count": users.len(), "users": users}))
}
