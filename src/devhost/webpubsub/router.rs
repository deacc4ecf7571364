//! The service's endpoints: the client endpoint `GET /client/hubs/{hub}` (token check,
//! subprotocol choice, upgrade) and the REST call `POST /api/hubs/{hub}/:generateToken`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::client_access::valid_hub_name;
use super::hub::Hub;
use super::protocol::{JSON_SUBPROTOCOL, Protocol, RELIABLE_JSON_SUBPROTOCOL};
use super::session::{self, Start};
use super::token::{self, TokenError};

/// Why a client was turned away before the upgrade.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("hub name `{0}` must be letters, digits and underscores, starting with a letter")]
    HubName(String),
    #[error(
        "unsupported subprotocol(s) {0}; use {JSON_SUBPROTOCOL} or {RELIABLE_JSON_SUBPROTOCOL}, or none"
    )]
    Subprotocol(String),
    #[error("request has no `Host` header, so the token audience cannot be checked")]
    NoHost,
    #[error("`{0}` and `{1}` must be given together")]
    Recovery(&'static str, &'static str),
    #[error("this endpoint only accepts WebSocket upgrades: {0}")]
    NotWebSocket(String),
}

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        let status = match self {
            ConnectError::Token(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, self.to_string()).into_response()
    }
}

/// Routes for the hub's client endpoint and REST API, to merge into the local platform's
/// router. The REST path shares `/api` with the functions: `/api/hubs/{hub}/{operation}` is the
/// service's, as on its own host in Azure.
pub fn router(hub: Hub) -> Router {
    Router::new()
        .route("/client/hubs/{hub}", get(connect))
        .route("/api/hubs/{hub}/{operation}", post(super::rest::operation))
        .with_state(hub)
}

async fn connect(
    State(hub): State<Hub>,
    Path(hub_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ConnectError> {
    if !valid_hub_name(&hub_name) {
        return Err(ConnectError::HubName(hub_name));
    }
    let upgrade = upgrade.map_err(|e| ConnectError::NotWebSocket(e.body_text()))?;
    let protocol = choose_protocol(&upgrade)?;

    let token = query
        .get("access_token")
        .map(String::as_str)
        .or_else(|| bearer(&headers))
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Missing)?;
    let audience = format!("{}/client/hubs/{hub_name}", base_url(&hub, &headers)?);
    let recovery = match (
        query.get("awps_connection_id"),
        query.get("awps_reconnection_token"),
    ) {
        (Some(id), Some(tok)) => Some((id.clone(), tok.clone())),
        (None, None) => None,
        _ => {
            return Err(ConnectError::Recovery(
                "awps_connection_id",
                "awps_reconnection_token",
            ));
        }
    };
    // A connection being recovered was authorised when it opened; its reconnection token
    // is the credential now, so only the signature and audience must still hold.
    let identity = token::verify(hub.key(), &audience, token, recovery.is_none())?;
    let start = match recovery {
        Some((connection_id, reconnection_token)) => Start::Resume {
            connection_id,
            reconnection_token,
        },
        None => Start::New(identity),
    };

    let upgrade = match protocol {
        Protocol::Simple => upgrade,
        Protocol::Json => upgrade.protocols([JSON_SUBPROTOCOL]),
        Protocol::ReliableJson => upgrade.protocols([RELIABLE_JSON_SUBPROTOCOL]),
    };
    Ok(upgrade.on_upgrade(move |socket| session::run(hub, hub_name, protocol, start, socket)))
}

/// The first supported subprotocol the client offers; none offered means a simple client.
fn choose_protocol(upgrade: &WebSocketUpgrade) -> Result<Protocol, ConnectError> {
    let offered: Vec<String> = upgrade
        .requested_protocols()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if offered.is_empty() {
        return Ok(Protocol::Simple);
    }
    offered
        .iter()
        .find_map(|p| match p.as_str() {
            JSON_SUBPROTOCOL => Some(Protocol::Json),
            RELIABLE_JSON_SUBPROTOCOL => Some(Protocol::ReliableJson),
            _ => None,
        })
        .ok_or_else(|| ConnectError::Subprotocol(offered.join(", ")))
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The http(s) base URL the client used: configured, or from `X-Forwarded-Proto` and `Host`.
pub(super) fn base_url(hub: &Hub, headers: &HeaderMap) -> Result<String, ConnectError> {
    if let Some(base) = &hub.config().public_base_url {
        return Ok(base.trim_end_matches('/').to_string());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h: &HeaderValue| h.to_str().ok())
        .ok_or(ConnectError::NoHost)?;
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    Ok(format!("{scheme}://{host}"))
}
