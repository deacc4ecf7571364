//! The server-side rebuild job behind `RebuildReadModel`: started by a request, run by the
//! process that accepted it independently of that request, one at a time. Its state is the
//! `meta`/`rebuild-job` document in `ReadModels`, so any instance answers the status; a job
//! whose heartbeat stops (its process died) is reported failed and its half-built generation
//! is deleted ([`super::rebuild::recover`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::layout::{READ_MODELS, STALE_AFTER};
use super::model::Model;
use super::rebuild::{RebuildError, RebuildReport, rebuild_all, recover};
use crate::store::{ETag, PartitionKey, Store, StoreError};

const JOB_ID: &str = "rebuild-job";
const META_PARTITION: &str = "meta";
/// How often a running job renews its heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
}

/// One model's result in a finished job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelReport {
    pub model: String,
    pub generation: u64,
    pub documents: usize,
    pub skipped: usize,
    pub written: usize,
    pub removed: usize,
}

impl From<&RebuildReport> for ModelReport {
    fn from(report: &RebuildReport) -> Self {
        Self {
            model: report.model.name().to_owned(),
            generation: report.generation,
            documents: report.documents,
            skipped: report.skipped,
            written: report.written,
            removed: report.removed,
        }
    }
}

/// The job document (also the status body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub job_id: String,
    /// A model name or `all`.
    pub target: String,
    pub state: JobState,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reports: Vec<ModelReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl JobStatus {
    fn alive(&self, now: DateTime<Utc>) -> bool {
        self.state == JobState::Running && now - self.heartbeat_at < STALE_AFTER
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Another job (or a `cosmospark rebuild`) is running.
    #[error("a rebuild is running")]
    Running(Option<Box<JobStatus>>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rebuild job document: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
}

fn pk() -> PartitionKey {
    PartitionKey::from(META_PARTITION)
}

async fn load(store: &Store) -> Result<Option<(JobStatus, Option<ETag>)>, JobError> {
    let Some(doc) = store.read(READ_MODELS, &pk(), JOB_ID).await? else {
        return Ok(None);
    };
    let status: JobStatus =
        serde_json::from_value(doc.clone()).map_err(|e| JobError::Corrupt(e.to_string()))?;
    Ok(Some((status, ETag::of(&doc))))
}

/// Writes `status` if the document is still at `etag` (`None`: absent).
async fn save(store: &Store, status: &JobStatus, etag: Option<&ETag>) -> Result<(), StoreError> {
    let mut doc = serde_json::to_value(status).map_err(|e| StoreError::Other(e.to_string()))?;
    if let Value::Object(map) = &mut doc {
        map.insert("id".into(), Value::from(JOB_ID));
        map.insert("partitionKey".into(), Value::from(META_PARTITION));
    }
    match etag {
        Some(etag) => store.replace(READ_MODELS, &pk(), doc, Some(etag)).await?,
        None => store.create(READ_MODELS, &pk(), doc).await?,
    };
    Ok(())
}

/// Starts a job rebuilding `models` (named `target`) on this process; answers at once.
pub async fn start(store: &Store, target: &str, models: Vec<Model>) -> Result<JobStatus, JobError> {
    let now = Utc::now();
    let existing = load(store).await?;
    if let Some((status, _)) = &existing
        && status.alive(now)
    {
        return Err(JobError::Running(Some(Box::new(status.clone()))));
    }
    recover(store, false).await?;
    let pointer = super::layout::Pointer::load(store).await?;
    if models
        .iter()
        .any(|m| pointer.of(*m).live_building(now).is_some())
    {
        return Err(JobError::Running(None));
    }
    let status = JobStatus {
        job_id: uuid::Uuid::new_v4().to_string(),
        target: target.to_owned(),
        state: JobState::Running,
        started_at: now,
        heartbeat_at: now,
        finished_at: None,
        reports: Vec::new(),
        error: None,
    };
    let etag = existing.as_ref().and_then(|(_, etag)| etag.as_ref());
    match save(store, &status, etag).await {
        Ok(()) => {}
        Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => {
            let winner = load(store).await?.map(|(s, _)| Box::new(s));
            return Err(JobError::Running(winner));
        }
        Err(e) => return Err(e.into()),
    }
    tokio::spawn(run(store.clone(), status.clone(), models));
    Ok(status)
}

/// Runs the job to its end, renewing its heartbeat, then records the outcome.
async fn run(store: Store, mut status: JobStatus, models: Vec<Model>) {
    let work = rebuild_all(&store, &models);
    tokio::pin!(work);
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = ticks.tick() => {
                if let Err(error) = beat(&store, &status.job_id).await {
                    tracing::warn!(%error, "cannot renew the rebuild job's heartbeat");
                }
            }
        }
    };
    let now = Utc::now();
    status.heartbeat_at = now;
    status.finished_at = Some(now);
    match result {
        Ok(reports) => {
            status.state = JobState::Succeeded;
            status.reports = reports.iter().map(ModelReport::from).collect();
        }
        Err(error) => {
            tracing::error!(%error, job = %status.job_id, "rebuild job failed");
            status.state = JobState::Failed;
            status.error = Some(error.to_string());
        }
    }
    if let Err(error) = finish(&store, &status).await {
        tracing::error!(%error, job = %status.job_id, "cannot record the rebuild job's outcome");
    }
}

async fn beat(store: &Store, job_id: &str) -> Result<(), JobError> {
    let Some((mut status, etag)) = load(store).await? else {
        return Ok(());
    };
    if status.job_id != job_id || status.state != JobState::Running {
        return Ok(());
    }
    status.heartbeat_at = Utc::now();
    save(store, &status, etag.as_ref()).await?;
    Ok(())
}

/// Records the outcome, unless another job replaced this one meanwhile.
async fn finish(store: &Store, outcome: &JobStatus) -> Result<(), JobError> {
    for _ in 0..10 {
        let Some((current, etag)) = load(store).await? else {
            return Ok(());
        };
        if current.job_id != outcome.job_id {
            return Ok(());
        }
        match save(store, outcome, etag.as_ref()).await {
            Ok(()) => return Ok(()),
            Err(StoreError::PreconditionFailed(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The latest job, if any. A running job whose heartbeat went stale is recorded as failed and
/// its half-built generation deleted.
pub async fn status(store: &Store) -> Result<Option<JobStatus>, JobError> {
    let Some((mut status, etag)) = load(store).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    if status.state == JobState::Running && !status.alive(now) {
        abandon_job(store, &mut status, etag.as_ref(), false).await?;
    }
    Ok(Some(status))
}

/// At the start of a process that holds the store exclusively (`cosmospark dev`): no job or
/// rebuild can be running, so a job still marked running died with the previous process.
pub async fn recover_after_restart(store: &Store) -> Result<(), JobError> {
    if let Some((mut status, etag)) = load(store).await?
        && status.state == JobState::Running
    {
        abandon_job(store, &mut status, etag.as_ref(), true).await?;
    } else {
        recover(store, true).await?;
    }
    Ok(())
}

async fn abandon_job(
    store: &Store,
    status: &mut JobStatus,
    etag: Option<&ETag>,
    all: bool,
) -> Result<(), JobError> {
    let removed = recover(store, all).await?;
    tracing::warn!(job = %status.job_id, ?removed, "rebuild job stopped with its process; removed its generation");
    status.state = JobState::Failed;
    status.finished_at = Some(Utc::now());
    status.error = Some(format!(
        "the process running this job stopped (last heartbeat {}); its half-built generation was removed",
        status.heartbeat_at.to_rfc3339()
    ));
    match save(store, status, etag).await {
        Ok(()) | Err(StoreError::PreconditionFailed(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
