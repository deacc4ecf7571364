//! The scheduler: one task per timer function that waits for each occurrence, invokes the
//! function with the host's Timer payload, and keeps the schedule status on disk.
//!
//! Startup follows the host: a monitored timer whose recorded `Next` passed while the process
//! was down runs once at once with `IsPastDue: true`; otherwise `runOnStartup` runs it once.
//! A failed invocation is logged and the schedule continues (that run is lost, as on Azure).

use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::schedule::{Schedule, ScheduleError};
use super::status::{ScheduleStatus, StatusStore, StatusStoreError};

/// The longest single sleep, so a wall clock that jumps is noticed soon.
const MAX_SLEEP: Duration = Duration::from_secs(300);

/// A bad timer binding, or a status file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    #[error("function {function}: timerTrigger.{field}: {reason}")]
    Binding {
        function: String,
        field: &'static str,
        reason: String,
    },
    #[error("function {function}: timerTrigger.schedule: {source}")]
    Schedule {
        function: String,
        source: ScheduleError,
    },
    #[error(transparent)]
    Status(#[from] StatusStoreError),
}

/// One timer-triggered function.
#[derive(Debug, Clone)]
pub struct TimerFunction {
    pub name: String,
    pub schedule: Schedule,
    pub run_on_startup: bool,
    /// `None` is the host's default (monitored unless the schedule is sub-minute).
    pub use_monitor: Option<bool>,
}

impl TimerFunction {
    /// Reads a `timerTrigger` binding from `function.json`. A `%Name%` schedule is looked up
    /// with `setting` (app settings), as the host does.
    pub fn from_binding(
        name: &str,
        binding: &Value,
        setting: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TimerError> {
        let fail = |field, reason: &str| TimerError::Binding {
            function: name.to_owned(),
            field,
            reason: reason.to_owned(),
        };
        let text = binding
            .get("schedule")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("schedule", "required, a string"))?;
        let resolved = match text.strip_prefix('%').and_then(|t| t.strip_suffix('%')) {
            Some(key) => setting(key).ok_or_else(|| {
                fail(
                    "schedule",
                    &format!("app setting {key:?} (from {text:?}) is not set"),
                )
            })?,
            None => text.to_owned(),
        };
        let schedule = Schedule::parse(&resolved).map_err(|source| TimerError::Schedule {
            function: name.to_owned(),
            source,
        })?;
        let flag = |field: &'static str| match binding.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(fail(field, "expected true or false")),
        };
        Ok(Self {
            name: name.to_owned(),
            schedule,
            run_on_startup: flag("runOnStartup")?.unwrap_or(false),
            use_monitor: flag("useMonitor")?,
        })
    }
}

/// Runs every registered timer function until cancelled.
pub struct TimerScheduler {
    store: StatusStore,
    clock: Arc<dyn Clock>,
    functions: Vec<TimerFunction>,
}

impl TimerScheduler {
    /// A scheduler that keeps status files in `status_dir` and reads time from `clock`.
    pub fn new(status_dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: StatusStore::new(status_dir),
            clock,
            functions: Vec::new(),
        }
    }

    pub fn add(&mut self, function: TimerFunction) -> Result<(), TimerError> {
        self.store.path(&function.name)?;
        self.functions.push(function);
        Ok(())
    }

    /// Drives every timer until `cancel` fires. `invoke(function_name, timer_payload)` is
    /// awaited for each run; a run of one function never overlaps the next run of it. An
    /// in-flight invocation completes before shutdown.
    pub async fn run<F, Fut, E>(
        self,
        invoke: F,
        cancel: CancellationToken,
    ) -> Result<(), TimerError>
    where
        F: Fn(String, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display + 'static,
    {
        let invoke = Arc::new(invoke);
        let mut tasks = JoinSet::new();
        for function in self.functions {
            let timer = Timer {
                store: self.store.clone(),
                clock: Arc::clone(&self.clock),
                function,
            };
            let invoke = Arc::clone(&invoke);
            let cancel = cancel.clone();
            tasks.spawn(async move { timer.run(invoke.as_ref(), cancel).await });
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let outcome = joined.unwrap_or_else(|e| {
                tracing::error!(error = %e, "timer task panicked");
                Ok(())
            });
            if let Err(e) = outcome {
                cancel.cancel();
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

struct Timer {
    store: StatusStore,
    clock: Arc<dyn Clock>,
    function: TimerFunction,
}

impl Timer {
    async fn run<F, Fut, E>(&self, invoke: &F, cancel: CancellationToken) -> Result<(), TimerError>
    where
        F: Fn(String, Value) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let now = self.clock.now();
        let schedule = &self.function.schedule;
        let monitored = self.function.use_monitor.unwrap_or(true) && !schedule.is_sub_minute(now);
        let mut status = if monitored {
            Some(self.startup_status(now)?)
        } else {
            None
        };
        let past_due = status.is_some_and(|s| now > s.next);
        if past_due || self.function.run_on_startup {
            status = self.fire(invoke, status, now, past_due).await;
        }
        let mut after = now;
        loop {
            let Some(next) = status
                .map(|s| s.next)
                .or_else(|| schedule.next_after(after))
            else {
                tracing::warn!(function = %self.function.name, "timer schedule has no future occurrence");
                cancel.cancelled().await;
                return Ok(());
            };
            if !self.sleep_until(next, &cancel).await {
                return Ok(());
            }
            status = self.fire(invoke, status, next, false).await;
            after = next.max(self.clock.now());
        }
    }

    /// The status to start from: a fresh one, or the stored one (re-planned if the schedule
    /// changed since it was written).
    fn startup_status(&self, now: DateTime<Utc>) -> Result<ScheduleStatus, TimerError> {
        let schedule = &self.function.schedule;
        let fresh = |last| ScheduleStatus {
            last,
            next: schedule.next_after(now).unwrap_or(DateTime::<Utc>::MAX_UTC),
            last_updated: now,
        };
        let stored = match self.store.load(&self.function.name) {
            Err(StatusStoreError::Corrupt { path, source }) => {
                tracing::warn!(path = %path.display(), error = %source, "unreadable timer status; starting afresh");
                None
            }
            other => other?,
        };
        let status = match stored {
            None => fresh(ScheduleStatus::never()),
            Some(stored) => {
                let base = if stored.last == ScheduleStatus::never() {
                    stored.last_updated
                } else {
                    stored.last
                };
                if schedule.next_after(base) == Some(stored.next) {
                    return Ok(stored);
                }
                tracing::info!(function = %self.function.name, "timer schedule changed; re-planning");
                fresh(stored.last)
            }
        };
        self.store.save(&self.function.name, &status)?;
        Ok(status)
    }

    /// Invokes the function once and records the run; returns the new status.
    async fn fire<F, Fut, E>(
        &self,
        invoke: &F,
        status: Option<ScheduleStatus>,
        occurrence: DateTime<Utc>,
        past_due: bool,
    ) -> Option<ScheduleStatus>
    where
        F: Fn(String, Value) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let name = &self.function.name;
        let payload = json!({
            "Schedule": {"AdjustForDST": true},
            "ScheduleStatus": status.map(|s| s.to_json()),
            "IsPastDue": past_due,
        });
        if let Err(e) = invoke(name.clone(), payload).await {
            tracing::warn!(function = %name, error = %e, "timer invocation failed; the schedule continues");
        }
        status?; // unmonitored timers keep no status
        let now = self.clock.now();
        let updated = ScheduleStatus {
            last: occurrence,
            next: self
                .function
                .schedule
                .next_after(occurrence.max(now))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            last_updated: now,
        };
        // The run happened; a status that cannot be written only risks one extra past-due run.
        if let Err(e) = self.store.save(name, &updated) {
            tracing::error!(function = %name, error = %e, "cannot record timer status");
        }
        Some(updated)
    }

    /// Sleeps until the clock reads `when`; false if cancelled first.
    async fn sleep_until(&self, when: DateTime<Utc>, cancel: &CancellationToken) -> bool {
        loop {
            let now = self.clock.now();
            if now >= when {
                return true;
            }
            let wait = (when - now).to_std().unwrap_or_default().min(MAX_SLEEP);
            tokio::select! {
                () = cancel.cancelled() => return false,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
