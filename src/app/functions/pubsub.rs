//! `GetConnectionDetails` (GET /api/pubsub/connection): the Web PubSub client URL for the
//! caller, from the standard `webPubSubConnection` input binding (userId = the principal).
//! Clients get no group rights: everything they receive is pushed with `sendToUser` or
//! `sendToAll`. The answer is the binding's `{url, baseUrl, accessToken}` (`url` is what the
//! original client reads).

use axum::Extension;
use axum::http::HeaderMap;
use axum::response::Response;

use super::api::{ApiError, ApiResult, Caller, ok};
use crate::app::domain::auth::Route;
use crate::runtime::triggers::WebPubSubConnectionInfo;
use crate::runtime::{Context, Direction, Function};

/// The input binding's name in function.json.
pub const CONNECTION_BINDING: &str = "connection";

pub fn get_connection_details() -> Function {
    Function::http(
        "GetConnectionDetails",
        &["GET"],
        "pubsub/connection",
        connection,
    )
    .binding(CONNECTION_BINDING, "webPubSubConnection", Direction::In)
}

async fn connection(
    caller: Caller,
    headers: HeaderMap,
    context: Option<Extension<Context>>,
) -> ApiResult<Response> {
    caller.authorize(Route::PubSubConnection, None)?;
    let principal = caller.principal()?;
    // The binding mints the token for this header's user: it must be the caller.
    if let Some(id) = headers.get("x-ms-client-principal-id")
        && id.to_str().ok() != Some(principal.user_id.as_str())
    {
        return Err(ApiError::Forbidden(
            "x-ms-client-principal-id does not match the signed-in user".to_owned(),
        ));
    }
    let unavailable =
        || ApiError::Unavailable("the Web PubSub connection binding gave no connection".to_owned());
    let Some(Extension(context)) = context else {
        return Err(unavailable());
    };
    let details: WebPubSubConnectionInfo = context
        .input(CONNECTION_BINDING)
        .map_err(|_| unavailable())?;
    if details.url.is_empty() {
        return Err(unavailable());
    }
    Ok(ok(details))
}
