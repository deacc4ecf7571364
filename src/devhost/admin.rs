//! The `/_devhost` tools of `cosmospark dev`: dead letters (list, replay, discard), a data
//! explorer (read or upsert a document) and the dashboard ([`super::dashboard`]). They bypass the
//! app's validation, so they need the admin role through the same sign-in as the site; and the
//! whole platform answers only to known `Host` names ([`known_hosts_only`]), so a web page cannot
//! reach it by DNS rebinding.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, Query as UrlQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::backlog::{BacklogError, TriggerBacklog, TriggerKind};
use super::dead_letter::DeadLetterError;
use super::replay::{ReplayError, Replayed, replay};
use super::server::Platform;
use super::swa::Sessions;
use crate::runtime::principal::CLIENT_PRINCIPAL_HEADER as PRINCIPAL_HEADER;
use crate::runtime::principal::ClientPrincipal;
use crate::store::{PartitionKey, StoreError};

/// The role `/_devhost` needs.
const ADMIN_ROLE: &str = "admin";

/// The `/_devhost` routes (nested there by the server). `health` is open (readiness probes);
/// everything else needs the admin role.
pub fn router(platform: Platform, sessions: Sessions) -> Router {
    let tools = Router::new()
        .route("/backlog", get(backlog))
        .route("/retention", get(retention))
        .route("/idle", get(wait_idle))
        .route("/deadletters", get(list_dead_letters))
        .route("/deadletters/{id}/replay", post(replay_dead_letter))
        .route("/deadletters/{id}", delete(discard_dead_letter))
        .route("/containers/{container}/items", post(upsert_item))
        .route("/containers/{container}/items/{id}", get(read_item))
        .merge(super::dashboard::routes())
        .with_state(platform)
        .layer(middleware::from_fn_with_state(
            Arc::new(sessions),
            require_admin,
        ));
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(tools)
}

/// `GET /_devhost/`, the dashboard's page, behind the same guard; merged at the root, since a
/// router nested at `/_devhost` answers `/_devhost` but not `/_devhost/`.
pub fn dashboard_page(sessions: Sessions) -> Router {
    Router::new()
        .route("/_devhost/", get(super::dashboard::page))
        .layer(middleware::from_fn_with_state(
            Arc::new(sessions),
            require_admin,
        ))
}

/// Refuses callers without role `admin`: the signed-in session's principal, else (scripts and
/// tests, as on `/api`) an `x-ms-client-principal` header. Roles compare exactly.
async fn require_admin(
    State(sessions): State<Arc<Sessions>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let principal = sessions.principal(headers).or_else(|| {
        headers
            .get(PRINCIPAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|text| ClientPrincipal::decode(text).ok())
    });
    let roles = principal
        .as_ref()
        .map(|p| p.user_roles.as_slice())
        .unwrap_or_default();
    let signed_in = roles.iter().any(|r| r == "authenticated");
    if !signed_in {
        return problem(
            StatusCode::UNAUTHORIZED,
            "sign in with the admin role to use /_devhost",
        );
    }
    if !roles.iter().any(|r| r == ADMIN_ROLE) {
        return problem(StatusCode::FORBIDDEN, "/_devhost needs the admin role");
    }
    next.run(request).await
}

/// Answers 421 to a request whose `Host` is not this machine: a page on another site that
/// rebinds its DNS name to 127.0.0.1 still sends its own name as `Host`, so it cannot reach
/// the platform. Loopback names and IP literals are known; anything else is refused.
pub fn known_hosts_only(router: Router) -> Router {
    router.layer(middleware::from_fn(check_host))
}

async fn check_host(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    // A request without any Host (HTTP/1.0 tools) cannot come from a browser page.
    match host {
        None => next.run(request).await,
        Some(host) if is_known_host(&host) => next.run(request).await,
        Some(_) => problem(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown Host: cosmospark dev answers only to localhost and IP addresses",
        ),
    }
}

/// `localhost`, `*.localhost` and IP literals, with or without a port.
pub fn is_known_host(host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || is_port(port) => {
                return ip.parse::<std::net::Ipv6Addr>().is_ok();
            }
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name.to_owned(),
            Some(_) => return false,
            None => host.clone(),
        },
    };
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn is_port(text: &str) -> bool {
    text.strip_prefix(':')
        .unwrap_or(text)
        .parse::<u16>()
        .is_ok()
}

fn problem(status: StatusCode, message: impl ToString) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

async fn list_dead_letters(State(platform): State<Platform>) -> Response {
    match platform.dead_letters.entries().await {
        Ok(entries) => Json(entries).into_response(),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

async fn replay_dead_letter(
    State(platform): State<Platform>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match replay(&id, &platform.invoker, &platform.dead_letters).await {
        Ok(Replayed::Sent) => Json(json!({ "replayed": id })).into_response(),
        Ok(Replayed::SentAndFailedAgain) => {
            Json(json!({ "replayed": id, "failedAgain": true })).into_response()
        }
        Err(ReplayError::DeadLetter(DeadLetterError::NotFound(_))) => problem(
            StatusCode::NOT_FOUND,
            format!("dead letter `{id}` does not exist"),
        ),
        Err(ReplayError::DeadLetter(error @ DeadLetterError::Busy(_))) => {
            problem(StatusCode::CONFLICT, error)
        }
        Err(ReplayError::DeadLetter(
            error @ (DeadLetterError::NotReplayable { .. } | DeadLetterError::Corrupt { .. }),
        )) => problem(StatusCode::UNPROCESSABLE_ENTITY, error),
        Err(ReplayError::DeadLetter(error)) => problem(StatusCode::INTERNAL_SERVER_ERROR, error),
        Err(error @ ReplayError::Gone { .. }) => problem(StatusCode::UNPROCESSABLE_ENTITY, error),
        Err(error) => problem(StatusCode::BAD_GATEWAY, error),
    }
}

/// `DELETE /_devhost/deadletters/{id}`: drops a dead letter without replaying it (204); 404
/// when there is none, 409 while a replay holds it.
async fn discard_dead_letter(
    State(platform): State<Platform>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match platform.dead_letters.discard(&id).await {
        Ok(()) => {
            tracing::info!(id, "dead letter discarded");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(DeadLetterError::NotFound(_)) => problem(
            StatusCode::NOT_FOUND,
            format!("dead letter `{id}` does not exist"),
        ),
        Err(error @ DeadLetterError::Busy(_)) => problem(StatusCode::CONFLICT, error),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

fn store_status(error: &StoreError) -> StatusCode {
    match error {
        StoreError::NotFound(_) => StatusCode::NOT_FOUND,
        StoreError::BadRequest(_) | StoreError::TooLarge(_) => StatusCode::BAD_REQUEST,
        StoreError::Conflict(_) => StatusCode::CONFLICT,
        StoreError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Seeds or edits a document, as a data explorer would (a write that triggers the change feed).
async fn upsert_item(
    State(platform): State<Platform>,
    UrlPath(container): UrlPath<String>,
    Json(doc): Json<Value>,
) -> Response {
    let sinks = platform.invoker.sinks();
    let result = async {
        let spec = sinks.containers.spec(&container)?;
        let pk = spec.partition_key_of(&doc)?;
        platform.store.upsert(&container, &pk, doc).await
    }
    .await;
    match result {
        Ok(stored) => Json(stored).into_response(),
        Err(error) => problem(store_status(&error), error),
    }
}

#[derive(serde::Deserialize)]
struct ReadParams {
    /// The partition key value (a string); defaults to the id.
    pk: Option<String>,
}

async fn read_item(
    State(platform): State<Platform>,
    UrlPath((container, id)): UrlPath<(String, String)>,
    UrlQuery(params): UrlQuery<ReadParams>,
) -> Response {
    let pk = PartitionKey::from(params.pk.unwrap_or_else(|| id.clone()));
    match platform.store.read(&container, &pk, &id).await {
        Ok(Some(doc)) => Json(doc).into_response(),
        Ok(None) => problem(StatusCode::NOT_FOUND, format!("item `{id}` does not exist")),
        Err(error) => problem(store_status(&error), error),
    }
}

#[cfg(test)]
mod tests {
    use super::is_known_host;

    #[test]
    fn only_local_names_and_ip_literals_are_known() {
        for host in [
            "localhost",
            "localhost:4280",
            "LOCALHOST:1",
            "app.localhost:80",
            "127.0.0.1:7071",
            "10.0.0.5",
            "[::1]:4280",
            "[::1]",
        ] {
            assert!(is_known_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:4280",
            "localhost.evil.example",
            "127.0.0.1.nip.io:80",
            "localhost:abc",
            "[::1]x",
            "",
        ] {
            assert!(!is_known_host(host), "{host}");
        }
    }
}

/// `GET /_devhost/backlog`: every trigger's backlog and the invocations in flight, now.
async fn backlog(State(platform): State<Platform>) -> Response {
    match platform.backlog().snapshot().await {
        Ok(snapshot) => Json(snapshot).into_response(),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

/// The longest `GET /_devhost/idle` waits.
const MAX_IDLE_WAIT: Duration = Duration::from_secs(600);

#[derive(serde::Deserialize)]
struct IdleParams {
    timeout_ms: Option<String>,
}

/// `GET /_devhost/idle?timeout_ms=N` (default 30 000): answers 200 with the snapshot once
/// nothing is pending or running, or 503 with the last snapshot when `N` ms pass first.
async fn wait_idle(
    State(platform): State<Platform>,
    UrlQuery(params): UrlQuery<IdleParams>,
) -> Response {
    let timeout = match params.timeout_ms.as_deref().map(str::parse::<u64>) {
        None => Duration::from_secs(30),
        Some(Ok(ms)) if Duration::from_millis(ms) <= MAX_IDLE_WAIT => Duration::from_millis(ms),
        Some(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!(
                    "timeout_ms must be a whole number of milliseconds up to {}",
                    MAX_IDLE_WAIT.as_millis()
                ),
            );
        }
    };
    match platform.backlog().wait_idle(timeout).await {
        Ok(snapshot) => Json(snapshot).into_response(),
        Err(BacklogError::NotIdle { last, .. }) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(last)).into_response()
        }
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

/// `GET /_devhost/retention`: what the local Event Hubs keep and how big the data is: per hub
/// partition the retained range and each consumer group's checkpoint, the work still queued
/// (Event Hubs events not yet checkpointed and Event Grid deliveries, summed from the
/// [`backlog`](super::backlog) snapshot) and the store's size on disk. Used by the soak
/// (`benches/soak.rs`).
async fn retention(State(platform): State<Platform>) -> Response {
    let result = async {
        let hubs = &platform.invoker.sinks().hubs;
        let mut partitions = Vec::new();
        for (hub, groups) in super::hub_retention::hubs_of(&platform.manifest) {
            for partition in 0..hubs.partitions() {
                let super::hub_retention::Retained { first, next } =
                    hubs.retained(&hub, partition).await?;
                let mut consumers = serde_json::Map::new();
                for group in &groups {
                    let checkpoint = hubs.checkpoint(&hub, group, partition).await?;
                    consumers.insert(group.clone(), json!(checkpoint));
                }
                partitions.push(json!({"hub": hub, "partition": partition, "first": first,
                    "next": next, "retained": next - first, "checkpoints": consumers}));
            }
        }
        let pending = |kind: TriggerKind, triggers: &[TriggerBacklog]| -> u64 {
            triggers
                .iter()
                .filter(|t| t.kind == kind)
                .map(|t| t.pending)
                .sum()
        };
        let triggers = platform.backlog().triggers().await?;
        Ok::<_, BacklogError>(json!({
            "eventHubs": {
                "unprocessed": pending(TriggerKind::EventHubs, &triggers),
                "partitions": partitions,
            },
            "eventGridPending": pending(TriggerKind::EventGrid, &triggers),
            "storeBytes": dir_size(&platform.data_dir.join("store")),
        }))
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map_or(0, |m| m.len());
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
            _ => entry.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}
