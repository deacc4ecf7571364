//! Each trigger's backlog over time: a background task reads [`Backlog::snapshot`] every
//! [`SAMPLE_EVERY`], sleeping in between, and keeps the last [`HISTORY`] samples per trigger for
//! sparklines. It stops with the platform and then closes [`TriggerLag::closed`], so live views
//! that follow it end too.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::devhost::backlog::{Backlog, BacklogError, Snapshot, TriggerBacklog, observer_pause};

/// How often the backlog is read.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Samples kept per trigger (two minutes at one per second).
pub const HISTORY: usize = 120;

/// One reading of one trigger.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub pending: u64,
    /// Age of the oldest pending item in milliseconds (0 when nothing is pending).
    pub lag_ms: u64,
}

/// A trigger's latest backlog and its history, oldest sample first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerLagView {
    #[serde(flatten)]
    pub now: TriggerBacklog,
    pub history: Vec<Sample>,
}

/// Every trigger's lag, and the invocations in flight, at the latest sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LagView {
    pub sample_every_ms: u64,
    pub sampled_at: Option<DateTime<Utc>>,
    pub in_flight: u64,
    pub triggers: Vec<TriggerLagView>,
}

#[derive(Default)]
struct State {
    latest: Option<(DateTime<Utc>, Snapshot)>,
    history: BTreeMap<(String, String), VecDeque<Sample>>,
}

/// The sampled history. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct TriggerLag {
    state: Arc<Mutex<State>>,
    /// Counts samples, so a live view can wait for the next one.
    sampled: Arc<watch::Sender<u64>>,
    closed: CancellationToken,
    capacity: usize,
}

impl Default for TriggerLag {
    fn default() -> Self {
        Self::with_capacity(HISTORY)
    }
}

impl TriggerLag {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            state: Arc::default(),
            sampled: Arc::new(watch::Sender::new(0)),
            closed: CancellationToken::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is small and leaves the state consistent, even if a holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds one snapshot taken at `at`.
    pub fn push(&self, at: DateTime<Utc>, snapshot: Snapshot) {
        {
            let mut state = self.lock();
            for trigger in &snapshot.triggers {
                let key = (trigger.trigger.clone(), trigger.source.clone());
                let samples = state.history.entry(key).or_default();
                if samples.len() >= self.capacity {
                    samples.pop_front();
                }
                samples.push_back(Sample {
                    at,
                    pending: trigger.pending,
                    lag_ms: trigger
                        .oldest_pending_age
                        .map_or(0, |age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
                });
            }
            state.latest = Some((at, snapshot));
        }
        self.sampled.send_modify(|n| *n += 1);
    }

    /// The latest sample of every trigger with its history.
    pub fn view(&self) -> LagView {
        let state = self.lock();
        let (sampled_at, in_flight, triggers) = match &state.latest {
            None => (None, 0, Vec::new()),
            Some((at, snapshot)) => (
                Some(*at),
                snapshot.in_flight,
                snapshot
                    .triggers
                    .iter()
                    .map(|now| TriggerLagView {
                        history: state
                            .history
                            .get(&(now.trigger.clone(), now.source.clone()))
                            .map(|h| h.iter().copied().collect())
                            .unwrap_or_default(),
                        now: now.clone(),
                    })
                    .collect(),
            ),
        };
        LagView {
            sample_every_ms: u64::try_from(SAMPLE_EVERY.as_millis()).unwrap_or(u64::MAX),
            sampled_at,
            in_flight,
            triggers,
        }
    }

    /// The latest snapshot read, if any.
    pub fn latest(&self) -> Option<Snapshot> {
        self.lock()
            .latest
            .as_ref()
            .map(|(_, snapshot)| snapshot.clone())
    }

    /// Wakes on each new sample.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sampled.subscribe()
    }

    /// Cancelled once sampling stopped (the platform is shutting down).
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }
}

/// Samples the platform's backlog into `lag` every `every` until `cancel` fires, then closes
/// `lag`; while it runs the samples are also OpenTelemetry gauges ([`super::gauges`]).
pub async fn sample(backlog: Backlog, lag: TriggerLag, every: Duration, cancel: CancellationToken) {
    // Exported as gauges (when metrics are) while the sampler runs.
    let _gauges = super::gauges::register(&lag);
    let previous = lag.clone();
    // An idle platform that has not changed since the last sample is not read again, so an
    // open dashboard costs a timer tick per period and no store reads.
    let read = || async {
        match previous.latest() {
            Some(last) if backlog.unchanged_since(&last) => Ok(last),
            _ => backlog.snapshot().await,
        }
    };
    sample_with(read, lag, every, cancel).await;
}

async fn sample_with<F, Fut>(read: F, lag: TriggerLag, every: Duration, cancel: CancellationToken)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Snapshot, BacklogError>>,
{
    loop {
        let started = tokio::time::Instant::now();
        match read().await {
            Ok(snapshot) => lag.push(Utc::now(), snapshot),
            Err(error) => tracing::debug!(%error, "cannot sample the trigger backlog"),
        }
        let pause = observer_pause(every, started.elapsed());
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    lag.closed.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devhost::backlog::TriggerKind;

    fn snapshot(pending: u64, age_ms: Option<u64>) -> Snapshot {
        Snapshot {
            idle: pending == 0,
            in_flight: 1,
            triggers: vec![TriggerBacklog {
                trigger: "UsersRelay".into(),
                kind: TriggerKind::CosmosDb,
                source: "Users".into(),
                pending,
                oldest_pending_age: age_ms.map(Duration::from_millis),
            }],
            commits: 0,
            wakeups: 0,
        }
    }

    #[test]
    fn history_keeps_the_latest_samples_per_trigger() {
        let lag = TriggerLag::with_capacity(3);
        assert!(lag.view().triggers.is_empty());
        for n in 0..5 {
            let at = DateTime::from_timestamp(1_800_000_000 + n, 0).unwrap();
            lag.push(at, snapshot(n as u64, (n > 0).then_some(n as u64 * 100)));
        }
        let view = lag.view();
        assert_eq!(view.in_flight, 1);
        assert_eq!(view.triggers.len(), 1);
        let trigger = &view.triggers[0];
        assert_eq!(trigger.now.pending, 4);
        let history: Vec<(u64, u64)> = trigger
            .history
            .iter()
            .map(|s| (s.pending, s.lag_ms))
            .collect();
        assert_eq!(history, [(2, 200), (3, 300), (4, 400)]);
        let json = serde_json::to_value(trigger).unwrap();
        assert_eq!(json["trigger"], "UsersRelay");
        assert_eq!(json["oldestPendingAgeMs"], 400);
        assert_eq!(json["history"][2]["lagMs"], 400);
    }

    #[tokio::test(start_paused = true)]
    async fn sampling_stops_on_cancel_and_closes_the_history() {
        let lag = TriggerLag::default();
        let closed = lag.closed();
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let reads = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&reads);
        let read = move || {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Ok(snapshot(n, None)) }
        };
        let mut sampled = lag.subscribe();
        let task = tokio::spawn(sample_with(read, lag.clone(), SAMPLE_EVERY, cancel));
        for _ in 0..3 {
            sampled.changed().await.unwrap();
        }
        // One read per period: the task sleeps in between.
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(lag.view().triggers[0].history.len(), 3);
        assert!(!closed.is_cancelled());
        stop.cancel();
        task.await.unwrap();
        assert!(closed.is_cancelled());
    }
}
