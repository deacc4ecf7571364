//! Rebuilding a read model from the write side while the app serves.
//!
//! 1. The pointer marks a new generation `g+1` as `building`; from then on the processor
//!    writes every event to both generations, so nothing that happens during the rebuild is
//!    missed.
//! 2. The source containers' change feeds are read from the beginning (the latest version of
//!    every document), relayed into events and projected into `g+1` only.
//! 3. The pointer swaps `active` to `g+1` (ETag-guarded), and the old generation's documents
//!    are deleted. Queries follow the pointer, so they switch in one step.
//!
//! Projections are idempotent and order-insensitive, so events applied to `g+1` both by the
//! processor and by the rebuild give the same documents as the incremental build.

use serde_json::{Map, Value};
use thiserror::Error;

use super::event::relay_event;
use super::layout::{Generations, Pointer, READ_MODELS};
use super::model::{Model, updates};
use super::projector::{ProjectError, apply_updates, documents_of};
use crate::store::{ChangeFeedRequest, ChangeFeedStart, PartitionKey, Store, StoreError};

/// Documents read from a change feed per page.
const PAGE: u32 = 500;
/// Attempts at swapping the pointer when the processor-side pointer changed meanwhile.
const SWAP_ATTEMPTS: usize = 5;

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub model: Model,
    pub generation: u64,
    /// Source documents read.
    pub documents: usize,
    /// Source documents that could not be projected (they are in the dead letters already).
    pub skipped: usize,
    /// Read-model documents written.
    pub written: usize,
    /// Documents of the previous generation removed.
    pub removed: usize,
}

#[derive(Debug, Error)]
pub enum RebuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("the read-model pointer kept changing; another rebuild may be running")]
    PointerContention,
}

/// Rebuilds `model` into a fresh generation and makes it the served one.
pub async fn rebuild(store: &Store, model: Model) -> Result<RebuildReport, RebuildError> {
    let mut pointer = Pointer::load(store).await?;
    let current = pointer.of(model);
    let generation = current.active.max(current.building.unwrap_or(0)) + 1;
    pointer.set(
        model,
        Generations {
            active: current.active,
            building: Some(generation),
        },
    );
    pointer.save(store).await.map_err(|e| match e {
        StoreError::PreconditionFailed(_) | StoreError::Conflict(_) => {
            RebuildError::PointerContention
        }
        other => RebuildError::Store(other),
    })?;
    tracing::info!(model = model.name(), generation, "rebuilding");
    let mut report = RebuildReport {
        model,
        generation,
        documents: 0,
        skipped: 0,
        written: 0,
        removed: 0,
    };
    for source in model.sources() {
        let container = source.container();
        let mut start = ChangeFeedStart::Beginning;
        loop {
            let page = store
                .read_change_feed(container, &ChangeFeedRequest::new(start).max_items(PAGE))
                .await?;
            if page.items.is_empty() {
                break;
            }
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
            report.written += apply_updates(store, &batch, |m| {
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
    let previous = swap(store, model, generation).await?;
    for doc in documents_of(store, model, previous).await? {
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
            Ok(()) => report.removed += 1,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(model = model.name(), generation, ?report, "rebuilt");
    Ok(report)
}

fn project_document(
    container: &str,
    document: Map<String, Value>,
) -> Result<Vec<super::model::Update>, String> {
    match relay_event(container, document, None).map_err(|e| e.to_string())? {
        Some(event) => updates(&event).map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    }
}

/// Makes `generation` the active one; returns the previous active generation.
async fn swap(store: &Store, model: Model, generation: u64) -> Result<u64, RebuildError> {
    for _ in 0..SWAP_ATTEMPTS {
        let mut pointer = Pointer::load(store).await?;
        let previous = pointer.of(model).active;
        pointer.set(
            model,
            Generations {
                active: generation,
                building: None,
            },
        );
        match pointer.save(store).await {
            Ok(()) => return Ok(previous),
            Err(StoreError::PreconditionFailed(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RebuildError::PointerContention)
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
    let mut reports = Vec::with_capacity(models.len());
    for model in models {
        reports.push(rebuild(store, *model).await?);
    }
    Ok(reports)
}
