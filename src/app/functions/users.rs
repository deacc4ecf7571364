//! Profiles: `CreateUser` (POST /api/user, my profile), `GetUserById` (GET /api/user/{userId},
//! 204 when missing), `GetAllUsers` (GET /api/users) and `GetAllUsersByCountryCode`
//! (GET /api/users/{countryCode}). Other users are only seen through their public view.

use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api::{
    ApiError, ApiResult, Caller, json_body, ok, parse_docs, path_user_id, pk, read_doc, store,
    to_doc,
};
use crate::app::domain::auth::Route;
use crate::app::domain::commands::UpsertProfile;
use crate::app::domain::documents::{CosmosUser, LedgerEntry, containers};
use crate::app::domain::values::CountryCode;
use crate::app::maps::{self, MapsError};
use crate::app::services::AppServices;
use crate::runtime::Function;
use crate::store::{Query, SortOrder};

/// The most profiles one list answers.
pub const MAX_USERS: u64 = 5000;

pub fn create_user(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "CreateUser",
        &["POST"],
        "user",
        move |caller: Caller, body: Body| upsert_profile(services.clone(), caller, body),
    )
}

pub fn get_user_by_id(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "GetUserById",
        &["GET"],
        "user/{userId}",
        move |caller: Caller, Path(user_id): Path<String>| {
            get_user(services.clone(), caller, user_id)
        },
    )
}

pub fn get_all_users(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http("GetAllUsers", &["GET"], "users", move |caller: Caller| {
        list_users(services.clone(), caller, None)
    })
}

pub fn get_all_users_by_country_code(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "GetAllUsersByCountryCode",
        &["GET"],
        "users/{countryCode}",
        move |caller: Caller, Path(code): Path<String>| {
            list_users(services.clone(), caller, Some(code))
        },
    )
}

async fn upsert_profile(services: AppServices, caller: Caller, body: Body) -> ApiResult<Response> {
    caller.authorize(Route::CreateUser, None)?;
    let body = json_body(body).await?;
    let command = UpsertProfile::parse(&body)?;
    let principal = caller.require_self(command.claimed_id.as_ref())?;
    let lookup = maps::reverse(&services, command.position)
        .await
        .map_err(|e| match e {
            MapsError::NotConfigured => ApiError::Unavailable(e.to_string()),
            other => ApiError::BadGateway(format!(
                "the address for this position could not be looked up: {other}"
            )),
        })?;
    let store = store(&services).await?;
    let existing: Option<CosmosUser> = read_doc(
        store,
        containers::USERS,
        principal.user_id.as_str(),
        principal.user_id.as_str(),
    )
    .await?;
    let user = command.into_user(
        principal,
        lookup.address.as_ref(),
        existing.as_ref(),
        services.now(),
    );
    let key = pk(user.id.as_str())?;
    let stored = store
        .upsert(containers::USERS, &key, to_doc(&user)?)
        .await?;
    if existing.is_none() {
        put_on_leaderboard(&services, &user).await?;
    }
    Ok(ok(without_system_properties(stored)))
}

/// The zero-score ledger entry that lists a new player (created once; replays are no-ops).
pub async fn put_on_leaderboard(services: &AppServices, user: &CosmosUser) -> ApiResult<()> {
    let entry = LedgerEntry::joined(user);
    let key = pk(entry.user.id.as_str())?;
    match store(services)
        .await?
        .create(containers::LEADERBOARDS, &key, to_doc(&entry)?)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn get_user(services: AppServices, caller: Caller, raw_id: String) -> ApiResult<Response> {
    caller.authorize(Route::GetUserById, None)?;
    let user_id = path_user_id(&raw_id)?;
    let user: Option<CosmosUser> = read_doc(
        store(&services).await?,
        containers::USERS,
        user_id.as_str(),
        user_id.as_str(),
    )
    .await?;
    let Some(user) = user else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let principal = caller.principal()?;
    let own = principal.user_id == user.id || principal.is_admin();
    Ok(ok(if own { user } else { user.public_view() }))
}

async fn list_users(
    services: AppServices,
    caller: Caller,
    country: Option<String>,
) -> ApiResult<Response> {
    let route = if country.is_some() {
        Route::GetUsersByCountryCode
    } else {
        Route::GetAllUsers
    };
    caller.authorize(route, None)?;
    let mut query = Query::new()
        .order_by("/name", SortOrder::Asc)
        .limit(MAX_USERS);
    if let Some(raw) = country {
        let code = CountryCode::parse(&raw).map_err(|e| e.for_field("countryCode"))?;
        query = query.eq("/address/country/code", code.as_str());
    }
    let docs = store(&services)
        .await?
        .query(containers::USERS, None, &query)
        .await?;
    let users: Vec<CosmosUser> = parse_docs(containers::USERS, docs);
    let views: Vec<CosmosUser> = users.iter().map(CosmosUser::public_view).collect();
    Ok(ok(views))
}

/// Drops the store's system properties (and the trace context a traced write stamped) from a
/// document returned to a client.
pub fn without_system_properties(mut doc: Value) -> Value {
    if let Value::Object(map) = &mut doc {
        map.retain(|key, _| {
            !key.starts_with('_')
                && key != crate::runtime::telemetry::trace_context::TRACEPARENT_MEMBER
        });
    }
    doc
}
