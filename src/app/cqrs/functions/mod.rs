//! The read side's functions and their shared HTTP error shape.

mod admin;
mod commands;
mod queries;
pub mod relays;
mod update_processor;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ReadSide;
use crate::app::AppServices;
use crate::app::domain::auth::{self, Access, Principal, Route};
use crate::runtime::{ClientPrincipal, FunctionApp, RegistryError};

pub use relays::RELAYS;

/// Registers the relays, `UpdateProcessor`, the queries, the seed API and the admin rebuild.
pub fn register(app: FunctionApp, services: &AppServices) -> Result<FunctionApp, RegistryError> {
    let read_side = ReadSide::new(services.clone());
    let mut app = app;
    for (name, container) in RELAYS {
        app = app.register(relays::function(services, name, container))?;
    }
    app.register(update_processor::function(read_side.clone()))?
        .register(queries::leaderboards(read_side.clone()))?
        .register(queries::user_stats(read_side.clone()))?
        .register(queries::users_by_country(read_side.clone()))?
        .register(commands::insert(read_side.clone()))?
        .register(commands::query_get(read_side.clone()))?
        .register(admin::rebuild(read_side))
}

/// Applies the authorization table's policy for `route` to a decoded principal: a principal
/// that is not signed in (no `authenticated` role) is a 401, as on every other route.
pub(crate) fn authorize(principal: &ClientPrincipal, route: Route) -> Result<(), ApiError> {
    let caller = Principal::signed_in(
        &principal.user_id,
        &principal.identity_provider,
        &principal.user_details,
        principal.user_roles.clone(),
    )
    .map_err(|e| ApiError::bad_request("x-ms-client-principal", e.to_string()))?;
    match auth::authorize(route, caller.as_ref(), None) {
        Access::Allowed => Ok(()),
        Access::Unauthorized => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign-in required: the principal is not authenticated",
        )),
        Access::Forbidden => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} needs the admin role", route.function()),
        )),
    }
}

/// An HTTP error answered as `{"error": …, "field": …}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub(crate) fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
        }
    }

    /// A server-side failure: logged here, answered without internals.
    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "read side request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the read side is unavailable; try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.field {
            Some(field) => json!({"error": self.message, "field": field}),
            None => json!({"error": self.message}),
        };
        (self.status, Json(body)).into_response()
    }
}
