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
use super::status::{ScheduleStatus, StatusStore, StatusStoreError};
use crate::runtime::manifest::{Binding, BindingKind, Schedule, TimerSchedule};

/// The longest single sleep, so a wall clock that jumps is noticed soon.
const MAX_SLEEP: Duration = Duration::from_secs(300);

/// A bad timer binding, or a status file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    #[error("function {function}: {field}: {reason}")]
    Binding {
        function: String,
        field: String,
        reason: String,
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
    /// Reads the options of a `timerTrigger` binding (`schedule`, `runOnStartup`,
    /// `useMonitor`) with the manifest's parser; a `%Name%` schedule is looked up with
    /// `setting` (app settings), as the host does.
    pub fn from_binding(
        name: &str,
        binding: &Value,
        setting: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TimerError> {
        let mut object = binding.clone();
        if let Some(map) = object.as_object_mut() {
            map.insert("type".into(), "timerTrigger".into());
            map.insert("direction".into(), "in".into());
            map.insert("name".into(), "timer".into());
        }
        let parsed =
            Binding::parse(&object, "timerTrigger", name, &mut Vec::new()).map_err(|error| {
                TimerError::Binding {
                    function: name.to_owned(),
                    field: error.field,
                    reason: error.message,
                }
            })?;
        let BindingKind::TimerTrigger {
            schedule,
            run_on_startup,
            use_monitor,
        } = &parsed.kind
        else {
            return Err(TimerError::Binding {
                function: name.to_owned(),
                field: "timerTrigger".to_owned(),
                reason: "not a timerTrigger".to_owned(),
            });
        };
        Self::from_trigger(name, schedule, *run_on_startup, *use_monitor, setting)
    }

    /// A timer function from its typed trigger; a `%Name%` schedule is resolved with `setting`.
    pub fn from_trigger(
        name: &str,
        schedule: &TimerSchedule,
        run_on_startup: bool,
        use_monitor: Option<bool>,
        setting: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TimerError> {
        let schedule = schedule
            .resolve(setting)
            .map_err(|reason| TimerError::Binding {
                function: name.to_owned(),
                field: "timerTrigger.schedule".to_owned(),
                reason,
            })?;
        Ok(Self {
            name: name.to_owned(),
            schedule,
            run_on_startup,
            use_monitor,
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
