//! Rebuilding a read model from the write side while the app serves.
//!
//! 1. The pointer marks a new generation `g+1` as `building` (ETag-guarded; a live marker
//!    means another rebuild runs: [`RebuildError::Running`]). Only the rebuild writes `g+1`;
//!    the processor keeps writing the active generation alone, so an abandoned `g+1` receives
//!    nothing and can simply be deleted.
//! 2. The source containers' change feeds are read from the beginning (the latest version of
//!    every document) into `g+1`, as [`Delivery::Replay`]. The marker's heartbeat is renewed as
//!    pages go by.
//! 3. The pointer swaps `active` to `g+1`, and the feeds are read once more from where step 2
//!    ended (a catch-up, as [`Delivery::Live`]): everything the processor projected only into
//!    `g` before the swap was committed to the write side before this read, and everything it
//!    projects after the swap goes to `g+1` itself.
//! 4. Every older generation of the model (the previous one and any abandoned one) is deleted.
//!
//! A rebuild that fails deletes its half-built generation and clears its marker; one that died
//! with its process leaves a marker whose heartbeat goes stale, and the next rebuild (or
//! [`recover`]) deletes that generation.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use thiserror::Error;

use super::event::relay_event;
use super::layout::{Generations, Pointer, READ_MODELS};
use super::model::{Delivery, Model, Update, updates};
use super::projector::{ProjectError, apply_updates};
use crate::runtime::progress::{Progress, Silent};
use crate::store::{
    ChangeFeedRequest, ChangeFeedStart, CmpOp, PartitionKey, Query, Store, StoreError,
};

/// Documents read from a change feed per page.
const PAGE: u32 = 500;
/// Attempts at an ETag-guarded pointer change before giving up.
const POINTER_ATTEMPTS: usize = 20;
/// How often a running rebuild renews its marker.
const HEARTBEAT_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub model: Model,
    pub generation: u64,
    /// Source documents read (the catch-up included).
    pub documents: usize,
    /// Source documents that could not be projected (they are in the dead letters already).
    pub skipped: usize,
    /// Read-model documents written.
    pub written: usize,
    /// Documents of older generations removed.
    pub removed: usize,
}

#[derive(Debug, Error)]
pub enum RebuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("the read-model pointer kept changing under the rebuild; try again")]
    PointerContention,
    #[error("a rebuild of `{}` into generation {generation} is running", model.name())]
    Running { model: Model, generation: u64 },
    #[error("the rebuild of `{}` into generation {generation} was taken over after its heartbeat went stale", model.name())]
    Superseded { model: Model, generation: u64 },
}

impl RebuildError {
    fn contention(error: StoreError) -> Self {
        match error {
            StoreError::PreconditionFailed(_) | StoreError::Conflict(_) => Self::PointerContention,
            other => Self::Store(other),
        }
    }
}

/// Rebuilds `model` into a fresh generation and makes it the served one.
pub async fn rebuild(store: &Store, model: Model) -> Result<RebuildReport, RebuildError> {
    rebuild_with(store, model, &Silent).await
}

/// [`rebuild`], reporting one step per source document read to `progress` (the total is the
/// source containers' size when the rebuild starts; writes during it add to the count).
pub async fn rebuild_with(
    store: &Store,
    model: Model,
    progress: &dyn Progress,
) -> Result<RebuildReport, RebuildError> {
    let generation = begin(store, model).await?;
    tracing::info!(model = model.name(), generation, "rebuilding");
    let mut total = 0;
    for source in model.sources() {
        total += store.count(source.container(), None, &Query::new()).await?;
    }
    progress.begin(&format!("rebuild {}", model.name()), Some(total));
    let built = build(store, model, generation, progress).await;
    progress.finish();
    match built {
        Ok(report) => {
            tracing::info!(model = model.name(), generation, ?report, "rebuilt");
            Ok(report)
        }
        Err(error) => {
            tracing::warn!(model = model.name(), generation, %error, "rebuild failed; removing its generation");
            if let Err(cleanup) = abandon(store, model, generation).await {
                tracing::error!(model = model.name(), generation, error = %cleanup, "cannot remove the half-built generation; the next rebuild will");
            }
            Err(error)
        }
    }
}

/// Changes the pointer with `edit` (ETag-guarded, re-read on a race); `edit` may refuse.
async fn change_pointer<T>(
    store: &Store,
    mut edit: impl FnMut(&mut Pointer) -> Result<T, RebuildError>,
) -> Result<T, RebuildError> {
    for _ in 0..POINTER_ATTEMPTS {
        let mut pointer = Pointer::load(store).await?;
        let value = edit(&mut pointer)?;
        match pointer.save(store).await {
            Ok(()) => return Ok(value),
            Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => continue,
            Err(e) => return Err(RebuildError::contention(e)),
        }
    }
    Err(RebuildError::PointerContention)
}

/// Marks the next generation as building; takes over (and deletes) a stale marker's one.
async fn begin(store: &Store, model: Model) -> Result<u64, RebuildError> {
    let now = Utc::now();
    let (generation, stale) = change_pointer(store, |pointer| {
        let current = pointer.of(model);
        if let Some(generation) = current.live_building(now) {
            return Err(RebuildError::Running { model, generation });
        }
        let generation = current.active.max(current.building.unwrap_or(0)) + 1;
        pointer.set(
            model,
            Generations {
                active: current.active,
                building: Some(generation),
                heartbeat: Some(now),
            },
        );
        Ok((generation, current.building))
    })
    .await?;
    if let Some(stale) = stale {
        tracing::warn!(
            model = model.name(),
            generation = stale,
            "removing the generation of a rebuild that stopped"
        );
        delete_generations(store, model, CmpOp::Eq, stale).await?;
    }
    Ok(generation)
}

/// Renews the marker of `generation`; fails when another rebuild took it over.
async fn heartbeat(store: &Store, model: Model, generation: u64) -> Result<(), RebuildError> {
    change_pointer(store, |pointer| {
        let mut current = pointer.of(model);
        if current.building != Some(generation) {
            return Err(RebuildError::Superseded { model, generation });
        }
        current.heartbeat = Some(Utc::now());
        pointer.set(model, current);
        Ok(())
    })
    .await
}

/// Clears the marker of `generation` (if it is still ours) and deletes its documents.
async fn abandon(store: &Store, model: Model, generation: u64) -> Result<(), RebuildError> {
    change_pointer(store, |pointer| {
        let mut current = pointer.of(model);
        if current.building == Some(generation) {
            current.building = None;
            current.heartbeat = None;
            pointer.set(model, current);
        }
        Ok(())
    })
    .await?;
    delete_generations(store, model, CmpOp::Eq, generation).await?;
    Ok(())
}

/// Clears every stale `building` marker — or every marker with `all`, for a caller that knows
/// no rebuild can be running (a process that just took the store's lock) — and deletes its
/// generation. Returns the (model, generation)s removed.
pub async fn recover(store: &Store, all: bool) -> Result<Vec<(Model, u64)>, RebuildError> {
    let now = Utc::now();
    let stale = change_pointer(store, |pointer| {
        let mut stale = Vec::new();
        for model in Model::ALL {
            let mut current = pointer.of(model);
            if let Some(generation) = current.building
                && (all || current.live_building(now).is_none())
            {
                stale.push((model, generation));
                current.building = None;
                current.heartbeat = None;
                pointer.set(model, current);
            }
        }
        Ok(stale)
    })
    .await?;
    for (model, generation) in &stale {
        delete_generations(store, *model, CmpOp::Eq, *generation).await?;
    }
    Ok(stale)
}

/// Steps 2-4 for a marked generation.
async fn build(
    store: &Store,
    model: Model,
    generation: u64,
    progress: &dyn Progress,
) -> Result<RebuildReport, RebuildError> {
    let mut report = RebuildReport {
        model,
        generation,
        documents: 0,
        skipped: 0,
        written: 0,
        removed: 0,
    };
    let mut beat = Utc::now();
    let mut ends = Vec::new();
    for source in model.sources() {
        let end = copy_feed(
            store,
            model,
            generation,
            source.container(),
            ChangeFeedStart::Beginning,
            Delivery::Replay,
            &mut report,
            &mut beat,
            progress,
        )
        .await?;
        ends.push(end);
    }
    swap(store, model, generation).await?;
    for (source, end) in model.sources().iter().zip(ends) {
        copy_feed(
            store,
            model,
            generation,
            source.container(),
            ChangeFeedStart::Continuation(end),
            Delivery::Live,
            &mut report,
            &mut beat,
            progress,
        )
        .await?;
    }
    report.removed = delete_generations(store, model, CmpOp::Lt, generation).await?;
    Ok(report)
}

/// Projects one source feed from `start` to its end into `generation`; returns the
/// continuation at the end.
#[allow(clippy::too_many_arguments)]
async fn copy_feed(
    store: &Store,
    model: Model,
    generation: u64,
    container: &str,
    start: ChangeFeedStart,
    delivery: Delivery,
    report: &mut RebuildReport,
    beat: &mut DateTime<Utc>,
    progress: &dyn Progress,
) -> Result<String, RebuildError> {
    let mut start = start;
    loop {
        if Utc::now() - *beat >= HEARTBEAT_EVERY {
            // After the swap the marker is gone; the heartbeat only guards the build phase.
            if delivery == Delivery::Replay {
                heartbeat(store, model, generation).await?;
            }
            *beat = Utc::now();
        }
        let page = store
            .read_change_feed(container, &ChangeFeedRequest::new(start).max_items(PAGE))
            .await?;
        if page.items.is_empty() {
            return Ok(page.continuation);
        }
        progress.advance(page.items.len() as u64);
        let mut batch = Vec::new();
        for item in page.items {
            report.documents += 1;
            let Value::Object(document) = item else {
                report.skipped += 1;
                continue;
            };
            match project_document(container, document) {
                Ok(list) => batch.extend(list.into_iter().filter(|u| u.model() == model)),
                Err(reason) => {
                    report.skipped += 1;
                    tracing::warn!(container, %reason, "rebuild skipped a document");
                }
            }
        }
        report.written += apply_updates(store, &batch, delivery, |m| {
            if m == model {
                vec![generation]
            } else {
                Vec::new()
            }
        })
        .await?;
        start = ChangeFeedStart::Continuation(page.continuation);
    }
}

fn project_document(container: &str, document: Map<String, Value>) -> Result<Vec<Update>, String> {
    match relay_event(container, document, None).map_err(|e| e.to_string())? {
        Some(event) => updates(&event).map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    }
}

/// Makes `generation` (still marked as ours) the active one.
async fn swap(store: &Store, model: Model, generation: u64) -> Result<(), RebuildError> {
    change_pointer(store, |pointer| {
        if pointer.of(model).building != Some(generation) {
            return Err(RebuildError::Superseded { model, generation });
        }
        pointer.set(
            model,
            Generations {
                active: generation,
                building: None,
                heartbeat: None,
            },
        );
        Ok(())
    })
    .await
}

/// Deletes every document of `model` whose generation compares `op` to `generation`; returns
/// how many were removed.
async fn delete_generations(
    store: &Store,
    model: Model,
    op: CmpOp,
    generation: u64,
) -> Result<usize, StoreError> {
    let query = Query::new()
        .eq("/model", model.name())
        .filter("/gen", op, generation)
        .select(&["/id", "/partitionKey"]);
    let mut removed = 0;
    for doc in store.query(READ_MODELS, None, &query).await? {
        let (Some(pk), Some(id)) = (
            doc.get("partitionKey").and_then(Value::as_str),
            doc.get("id").and_then(Value::as_str),
        ) else {
            continue;
        };
        match store
            .delete(READ_MODELS, &PartitionKey::from(pk), id, None)
            .await
        {
            Ok(()) => removed += 1,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The models a `rebuild` target names: one model, or `all`.
pub fn parse_target(raw: &str) -> Result<Vec<Model>, String> {
    if raw == "all" {
        return Ok(Model::ALL.to_vec());
    }
    Model::parse(raw).map(|m| vec![m]).ok_or_else(|| {
        let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
        format!(
            "read model `{raw}` does not exist; use one of {} or `all`",
            names.join(", ")
        )
    })
}

/// Rebuilds each of `models` in turn.
pub async fn rebuild_all(
    store: &Store,
    models: &[Model],
) -> Result<Vec<RebuildReport>, RebuildError> {
    rebuild_all_with(store, models, &Silent).await
}

/// [`rebuild_all`], with each model's progress reported to `progress`.
pub async fn rebuild_all_with(
    store: &Store,
    models: &[Model],
    progress: &dyn Progress,
) -> Result<Vec<RebuildReport>, RebuildError> {
    let mut reports = Vec::with_capacity(models.len());
    for model in models {
        reports.push(rebuild_with(store, *model, progress).await?);
    }
    Ok(reports)
}
