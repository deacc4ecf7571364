//! The service's REST API as far as the app uses it: `POST /api/hubs/{hub}/:generateToken`
//! (learn.microsoft.com/rest/api/webpubsub/dataplane/web-pub-sub/generate-client-token:
//! query `userId`, `role`*, `group`*, `minutesToExpire` (≥ 1, default 60), `api-version`
//! required; answer `{"token": "…"}`).
//!
//! Calls are authenticated as the service authenticates them with an access key
//! (learn.microsoft.com/azure/azure-web-pubsub/reference-rest-api-data-plane): an HS256 JWT
//! signed with the key, with `exp` and an `aud` equal to the request URL. Entra ID tokens are
//! not accepted here: the embedded hub has no tenant to validate them against.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::client_access::{ClientGrant, valid_hub_name};
use super::hub::Hub;
use super::router::{base_url, bearer};
use super::token;

/// The data-plane API versions the service documents for `:generateToken`.
const API_VERSIONS: [&str; 5] = [
    "2021-10-01",
    "2022-11-01",
    "2023-07-01",
    "2024-01-01",
    "2024-12-01",
];
const DEFAULT_MINUTES: u64 = 60;

/// The service's error body (`ErrorDetail`: `code`, `message`).
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let message = message.into();
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

/// `POST /api/hubs/{hub}/{operation}`; only `:generateToken` exists here.
pub async fn operation(
    State(hub): State<Hub>,
    Path((hub_name, operation)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if operation != ":generateToken" {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("operation `{operation}` does not exist"),
        );
    }
    if !valid_hub_name(&hub_name) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidHub",
            format!(
                "hub name `{hub_name}` must be letters, digits and underscores, starting with a letter"
            ),
        );
    }
    let values = |name: &str| -> Vec<&str> {
        query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    };
    match values("api-version").first() {
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "MissingApiVersion",
                "query parameter `api-version` is required",
            );
        }
        Some(version) if !API_VERSIONS.contains(version) => {
            return error(
                StatusCode::BAD_REQUEST,
                "UnsupportedApiVersion",
                format!("api-version `{version}` is not supported"),
            );
        }
        Some(_) => {}
    }
    let Ok(base) = base_url(&hub, &headers) else {
        return error(
            StatusCode::BAD_REQUEST,
            "NoHost",
            "the request has no Host header",
        );
    };
    let request_url = format!("{base}{}", uri.path_and_query().map_or("", |p| p.as_str()));
    let Some(jwt) = bearer(&headers).filter(|t| !t.is_empty()) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "an `Authorization: Bearer` token signed with the access key is required",
        );
    };
    if let Err(problem) = token::verify(hub.key(), &request_url, jwt, true) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            problem.to_string(),
        );
    }
    let minutes = match values("minutesToExpire").first() {
        None => DEFAULT_MINUTES,
        Some(text) => match text.parse::<u64>() {
            Ok(minutes) if minutes >= 1 => minutes,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidMinutesToExpire",
                    format!("`minutesToExpire` must be a whole number of at least 1, got `{text}`"),
                );
            }
        },
    };
    let grant = ClientGrant {
        user_id: values("userId")
            .first()
            .filter(|id| !id.is_empty())
            .map(|id| (*id).to_owned()),
        roles: values("role").into_iter().map(str::to_owned).collect(),
        groups: values("group").into_iter().map(str::to_owned).collect(),
    };
    let ttl = Duration::from_secs(minutes.saturating_mul(60));
    match hub.client_connection(&base, &hub_name, &grant, ttl) {
        Ok(info) => Json(json!({ "token": info.access_token })).into_response(),
        Err(problem) => error(StatusCode::BAD_REQUEST, "BadRequest", problem.to_string()),
    }
}
