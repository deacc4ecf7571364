//! `GetConnectionDetails` (GET /api/pubsub/connection): the Web PubSub client URL for the
//! caller. The user id comes from `x-ms-client-principal` and the token from the service's REST
//! token API ([`crate::app::webpubsub`]), so the same code runs in Azure (managed identity) and
//! under `cosmospark dev` (the embedded hub serves the same REST call). Clients get no group
//! rights: everything they receive is pushed with `sendToUser` or `sendToAll`. The answer keeps
//! the `webPubSubConnection` binding's shape `{url, baseUrl, accessToken}` (`url` is what the
//! original client reads).

use axum::response::Response;

use super::api::{ApiError, ApiResult, Caller, ok};
use crate::app::domain::auth::Route;
use crate::app::services::AppServices;
use crate::app::webpubsub::{self, PubSubError};
use crate::runtime::Function;

pub fn get_connection_details(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "GetConnectionDetails",
        &["GET"],
        "pubsub/connection",
        move |caller: Caller| connection(services.clone(), caller),
    )
}

async fn connection(services: AppServices, caller: Caller) -> ApiResult<Response> {
    caller.authorize(Route::PubSubConnection, None)?;
    let principal = caller.principal()?;
    let details = webpubsub::client_connection(&services, principal.user_id.as_str())
        .await
        .map_err(|error| match error {
            PubSubError::NotConfigured => ApiError::Unavailable(error.to_string()),
            other => ApiError::BadGateway(other.to_string()),
        })?;
    Ok(ok(details))
}
