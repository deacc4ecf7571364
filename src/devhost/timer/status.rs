//! `ScheduleStatus {Last, Next, LastUpdated}` and its store: one JSON file per function,
//! written atomically (temp file, fsync, rename, fsync of the directory).

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The monitor's record of a timer's last and next occurrences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleStatus {
    pub last: DateTime<Utc>,
    pub next: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
}

impl ScheduleStatus {
    /// .NET's `default(DateTime)`, which the host records as `Last` before the first run.
    pub fn never() -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(1, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|naive| naive.and_utc())
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The status as the host writes it in the Timer payload.
    pub fn to_json(&self) -> Value {
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        json!({
            "Last": text(self.last),
            "Next": text(self.next),
            "LastUpdated": text(self.last_updated),
        })
    }
}

/// Failures reading or writing a status file.
#[derive(Debug, thiserror::Error)]
pub enum StatusStoreError {
    #[error(
        "timer function name {0:?} is not usable as a file name (letters, digits, '-' and '_' only)"
    )]
    BadName(String),
    #[error("schedule status {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("schedule status {path}: not a valid status file: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Status files under one directory, `<function>.json`.
#[derive(Debug, Clone)]
pub struct StatusStore {
    dir: PathBuf,
}

impl StatusStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file that holds `function`'s status.
    pub fn path(&self, function: &str) -> Result<PathBuf, StatusStoreError> {
        let usable = !function.is_empty()
            && function
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !usable {
            return Err(StatusStoreError::BadName(function.to_owned()));
        }
        Ok(self.dir.join(format!("{function}.json")))
    }

    /// The stored status, or `None` when the function has none yet.
    pub fn load(&self, function: &str) -> Result<Option<ScheduleStatus>, StatusStoreError> {
        let path = self.path(function)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StatusStoreError::Io { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StatusStoreError::Corrupt { path, source })
    }

    /// Replaces the stored status atomically.
    pub fn save(&self, function: &str, status: &ScheduleStatus) -> Result<(), StatusStoreError> {
        let path = self.path(function)?;
        let io = |source| StatusStoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        let bytes = serde_json::to_vec_pretty(status).map_err(|e| io(std::io::Error::other(e)))?;
        file.write_all(&bytes).map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        file.persist(&path).map_err(|e| io(e.error))?;
        sync_dir(&self.dir).map_err(io)
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}
