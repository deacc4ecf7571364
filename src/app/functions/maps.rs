//! Azure Maps: `GetToken` (GET /api/azMap/token, an Entra ID token for the map control) and
//! `LookupAddress` (GET /api/azMap/addressLookup/{latitude}/{longitude}, reverse geocoding in
//! the Azure Maps response shape; offline when Azure Maps is not configured).

use axum::extract::Path;
use axum::response::Response;

use super::api::{ApiError, ApiResult, Caller, ok};
use crate::app::domain::auth::Route;
use crate::app::domain::values::Coordinates;
use crate::app::maps::{self, MapsError};
use crate::app::services::AppServices;
use crate::runtime::Function;

pub fn get_token(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "GetToken",
        &["GET"],
        "azMap/token",
        move |caller: Caller| token(services.clone(), caller),
    )
}

pub fn lookup_address(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "LookupAddress",
        &["GET"],
        "azMap/addressLookup/{latitude}/{longitude}",
        move |caller: Caller, Path((latitude, longitude)): Path<(String, String)>| {
            lookup(services.clone(), caller, latitude, longitude)
        },
    )
}

/// Maps errors to statuses: not configured → 503, everything upstream → 502.
pub fn maps_error(error: MapsError) -> ApiError {
    match error {
        MapsError::NotConfigured => ApiError::Unavailable(error.to_string()),
        other => ApiError::BadGateway(other.to_string()),
    }
}

async fn token(services: AppServices, caller: Caller) -> ApiResult<Response> {
    caller.authorize(Route::MapsToken, None)?;
    let token = maps::token(&services).await.map_err(maps_error)?;
    Ok(ok(token))
}

async fn lookup(
    services: AppServices,
    caller: Caller,
    latitude: String,
    longitude: String,
) -> ApiResult<Response> {
    caller.authorize(Route::AddressLookup, None)?;
    let at = Coordinates::parse(&latitude, &longitude)?;
    let lookup = maps::reverse(&services, at).await.map_err(maps_error)?;
    Ok(ok(lookup.body))
}
