//! `Health` — `GET /api/health` (public, no secrets): the version, whether the store answers a
//! read in time, and how far each change-feed trigger is behind, against thresholds from app
//! settings ([`HealthSettings`]). 200 when everything passes; 503 naming what failed otherwise.
//!
//! What the handler can measure honestly:
//! - **store**: a point read of a document that never exists, under `Health__StoreTimeoutMs`.
//! - **change-feed triggers** (every `cosmosDBTrigger` relay): the age of the oldest change
//!   after the trigger's checkpoint, from the lease the local platform keeps in the `leases`
//!   container in the store's own format (`store::lease`), against
//!   `Health__ChangeFeedLagSeconds`. A trigger without such a lease — never checkpointed yet, or
//!   run by the Functions host, whose change feed processor keeps leases in its own format — is
//!   listed as `unmeasured` and does not fail the check.
//!
//! Event Hubs and Event Grid positions are kept by the host (blob checkpoints, Event Grid's own
//! delivery queue), out of the handler's reach; Azure Monitor's metrics cover them.

use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::app::services::AppServices;
use crate::app::settings::HealthSettings;
use crate::runtime::Function;
use crate::store::{ChangeFeedRequest, ChangeFeedStart, PartitionKey, Query, Store, StoreError};

/// The container the change-feed leases live in (every trigger's `leaseContainerName`).
pub const LEASES: &str = "leases";
/// The id of the document the store probe reads (it never exists).
const PROBE_ID: &str = "health-probe";

/// Every change-feed trigger of the app: function name → the container it reads.
pub fn change_feed_triggers() -> Vec<(&'static str, &'static str)> {
    super::relays::RELAYS
        .iter()
        .chain(crate::app::cqrs::functions::RELAYS.iter())
        .copied()
        .collect()
}

pub fn function(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http("Health", &["GET", "HEAD"], "health", move || {
        let services = services.clone();
        async move { respond(check(&services).await) }
    })
}

/// One check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    Healthy,
    Unhealthy,
    /// Not measurable here (see the module doc); never fails the check.
    Unmeasured,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreHealth {
    pub status: Status,
    /// How long the probe took, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerHealth {
    pub function: String,
    pub kind: &'static str,
    pub source: String,
    pub status: Status,
    /// Age of the oldest change after the checkpoint (0 when none is pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<u64>,
    pub threshold_seconds: u64,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub status: Status,
    pub version: &'static str,
    /// What failed: `store`, or the functions whose lag is over the threshold.
    pub failing: Vec<String>,
    pub store: StoreHealth,
    pub triggers: Vec<TriggerHealth>,
}

/// Runs every check with the app's settings.
pub async fn check(services: &AppServices) -> Report {
    let limits = services.settings().health;
    // Wall-clock time, not the app's clock: `_ts` is the store's wall-clock write time.
    let now = Utc::now();
    let started = Instant::now();
    // Opening the store (first use: connect, create containers) runs in its own task, so a
    // slow cold start finishes for the next check instead of being cancelled by this timeout.
    let opening = {
        let services = services.clone();
        tokio::spawn(async move { services.store().await.map(|_| ()) })
    };
    let probe = tokio::time::timeout(limits.store_timeout, async {
        match opening.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error.to_string()),
            Err(join) => return Err(join.to_string()),
        }
        let store = services.store().await.map_err(|e| e.to_string())?;
        probe(store).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(store)
    })
    .await;
    let (store, error) = match probe {
        Ok(Ok(store)) => (Some(store), None),
        Ok(Err(error)) => {
            tracing::warn!(%error, "health: the store did not answer");
            (None, Some("unreachable".to_owned()))
        }
        Err(_) => {
            tracing::warn!(timeout = ?limits.store_timeout, "health: the store timed out");
            let timeout = millis(limits.store_timeout);
            (None, Some(format!("no answer within {timeout} ms")))
        }
    };
    // The report never carries the store's own message, which may name internal endpoints.
    let store_health = StoreHealth {
        status: if store.is_some() {
            Status::Healthy
        } else {
            Status::Unhealthy
        },
        latency_ms: store.map(|_| millis(started.elapsed())),
        error,
        timeout_ms: millis(limits.store_timeout),
    };
    let triggers = match store {
        Some(store) => {
            match tokio::time::timeout(limits.store_timeout, trigger_lags(store, now, limits)).await
            {
                Ok(Ok(triggers)) => Some(triggers),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "health: cannot read the change-feed positions");
                    None
                }
                Err(_) => None,
            }
        }
        None => None,
    };
    report(store_health, triggers, limits)
}

/// Combines the checks: `triggers` is `None` when the positions could not be read (the store
/// then counts as failing, even if the probe passed).
fn report(
    mut store: StoreHealth,
    triggers: Option<Vec<TriggerHealth>>,
    limits: HealthSettings,
) -> Report {
    let triggers = match triggers {
        Some(triggers) => triggers,
        None => {
            if store.status == Status::Healthy {
                store.status = Status::Unhealthy;
                store.error = Some("the change-feed positions could not be read".to_owned());
            }
            change_feed_triggers()
                .into_iter()
                .map(|(function, container)| TriggerHealth {
                    function: function.to_owned(),
                    kind: "cosmosDBTrigger",
                    source: container.to_owned(),
                    status: Status::Unmeasured,
                    lag_seconds: None,
                    threshold_seconds: limits.change_feed_lag.as_secs(),
                })
                .collect()
        }
    };
    let mut failing = Vec::new();
    if store.status == Status::Unhealthy {
        failing.push("store".to_owned());
    }
    failing.extend(
        triggers
            .iter()
            .filter(|t| t.status == Status::Unhealthy)
            .map(|t| t.function.clone()),
    );
    Report {
        status: if failing.is_empty() {
            Status::Healthy
        } else {
            Status::Unhealthy
        },
        version: env!("CARGO_PKG_VERSION"),
        failing,
        store,
        triggers,
    }
}

/// 200 or 503, never cached.
fn respond(report: Report) -> Response {
    let status = match report.status {
        Status::Healthy => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut response = (status, Json(report)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A point read that touches the database but finds nothing.
async fn probe(store: &Store) -> Result<(), StoreError> {
    store
        .read(LEASES, &PartitionKey::from(PROBE_ID), PROBE_ID)
        .await
        .map(|_| ())
}

/// The lag of every change-feed trigger, from the leases in the store's own format.
async fn trigger_lags(
    store: &Store,
    now: DateTime<Utc>,
    limits: HealthSettings,
) -> Result<Vec<TriggerHealth>, StoreError> {
    let leases = store.query(LEASES, None, &Query::new()).await?;
    let mut all = Vec::new();
    for (function, container) in change_feed_triggers() {
        let continuation = lease_continuation(&leases, function, container);
        let lag = match continuation {
            Some(continuation) => {
                Some(oldest_pending_age(store, container, continuation, now).await?)
            }
            None => None,
        };
        all.push(judge(function, container, lag, limits.change_feed_lag));
    }
    Ok(all)
}

/// The checkpoint of `function` over `container`: the lease `<prefix><function>.<container>`
/// written by [`crate::store::ChangeFeedConsumer`].
fn lease_continuation<'a>(leases: &'a [Value], function: &str, container: &str) -> Option<&'a str> {
    let suffix = format!("{function}.{container}");
    leases
        .iter()
        .filter(|lease| lease.get("container").and_then(Value::as_str) == Some(container))
        .filter(|lease| {
            lease
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.ends_with(&suffix))
        })
        .find_map(|lease| lease.get("continuation").and_then(Value::as_str))
}

/// How long the first change after `continuation` has waited (zero when there is none).
async fn oldest_pending_age(
    store: &Store,
    container: &str,
    continuation: &str,
    now: DateTime<Utc>,
) -> Result<Duration, StoreError> {
    let request =
        ChangeFeedRequest::new(ChangeFeedStart::Continuation(continuation.to_owned())).max_items(1);
    let page = store.read_change_feed(container, &request).await?;
    if page.continuation == continuation {
        return Ok(Duration::ZERO);
    }
    let written = page
        .items
        .first()
        .and_then(|doc| doc.get("_ts"))
        .and_then(Value::as_i64)
        .and_then(|ts| DateTime::from_timestamp(ts, 0));
    Ok(written.map_or(Duration::ZERO, |at| {
        (now - at).to_std().unwrap_or(Duration::ZERO)
    }))
}

/// The verdict for one trigger: `lag` is `None` when it cannot be measured.
fn judge(
    function: &str,
    container: &str,
    lag: Option<Duration>,
    threshold: Duration,
) -> TriggerHealth {
    TriggerHealth {
        function: function.to_owned(),
        kind: "cosmosDBTrigger",
        source: container.to_owned(),
        status: match lag {
            None => Status::Unmeasured,
            Some(lag) if lag > threshold => Status::Unhealthy,
            Some(_) => Status::Healthy,
        },
        lag_seconds: lag.map(|lag| lag.as_secs()),
        threshold_seconds: threshold.as_secs(),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: HealthSettings = HealthSettings {
        store_timeout: Duration::from_millis(2000),
        change_feed_lag: Duration::from_secs(300),
    };

    fn healthy_store() -> StoreHealth {
        StoreHealth {
            status: Status::Healthy,
            latency_ms: Some(1),
            error: None,
            timeout_ms: 2000,
        }
    }

    #[test]
    fn a_lag_over_the_threshold_fails_and_names_the_function() {
        let triggers = vec![
            judge(
                "A",
                "Users",
                Some(Duration::from_secs(301)),
                LIMITS.change_feed_lag,
            ),
            judge(
                "B",
                "Chats",
                Some(Duration::from_secs(300)),
                LIMITS.change_feed_lag,
            ),
            judge("C", "Tasks", None, LIMITS.change_feed_lag),
        ];
        let report = report(healthy_store(), Some(triggers), LIMITS);
        assert_eq!(report.status, Status::Unhealthy);
        assert_eq!(report.failing, vec!["A".to_owned()]);
        assert_eq!(report.triggers[1].status, Status::Healthy);
        assert_eq!(report.triggers[2].status, Status::Unmeasured);
        assert_eq!(respond(report).status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn unmeasured_triggers_do_not_fail_the_check() {
        let triggers = vec![judge("C", "Tasks", None, LIMITS.change_feed_lag)];
        let report = report(healthy_store(), Some(triggers), LIMITS);
        assert_eq!((report.status, report.failing.len()), (Status::Healthy, 0));
        assert_eq!(respond(report).status(), StatusCode::OK);
    }

    #[test]
    fn unreadable_positions_fail_the_store() {
        let report = report(healthy_store(), None, LIMITS);
        assert_eq!(report.failing, vec!["store".to_owned()]);
        assert!(
            report
                .triggers
                .iter()
                .all(|t| t.status == Status::Unmeasured)
        );
    }

    #[test]
    fn finds_the_lease_of_a_function_by_its_suffix() {
        let leases = vec![
            json!({"id": "ReadSide-UsersToEventHub-UsersToEventHub.CosmicUsers",
                   "container": "CosmicUsers", "continuation": "7"}),
            json!({"id": "CosmicUsersTrigger-CosmicUsersTrigger.CosmicUsers",
                   "container": "CosmicUsers", "continuation": "9"}),
            // The Functions host's own lease format is not read.
            json!({"id": "x.CosmicChats..0", "LeaseToken": "0", "ContinuationToken": "\"5\""}),
        ];
        assert_eq!(
            lease_continuation(&leases, "CosmicUsersTrigger", "CosmicUsers"),
            Some("9")
        );
        assert_eq!(
            lease_continuation(&leases, "UsersToEventHub", "CosmicUsers"),
            Some("7")
        );
        assert_eq!(
            lease_continuation(&leases, "CosmicChatsTrigger", "CosmicChats"),
            None
        );
    }
}
