//! Tells the person running `dev` when a trigger falls behind: [`watch`] reads the
//! [`Backlog`] every few seconds and prints one line when a function's pending work or the age
//! of its oldest pending item goes over a threshold, and one line when it has caught up again
//! (below half of both, so a trigger hovering at the threshold does not print on every look).

use std::collections::BTreeSet;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::backlog::{Backlog, Snapshot, TriggerBacklog, TriggerKind, observer_pause};

/// When a trigger counts as behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// More pending items than this.
    pub pending: u64,
    /// The oldest pending item older than this.
    pub age: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            pending: 1000,
            age: Duration::from_secs(10),
        }
    }
}

/// How often [`watch`] reads the backlog.
pub const EVERY: Duration = Duration::from_secs(5);

/// A trigger that changed state since the last look.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    FellBehind(TriggerBacklog),
    CaughtUp(TriggerBacklog),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (verb, t) = match self {
            Change::FellBehind(t) => ("is falling behind", t),
            Change::CaughtUp(t) => ("has caught up", t),
        };
        write!(
            f,
            "{} ({} {}) {verb}: {} pending",
            t.trigger,
            kind_name(t.kind),
            t.source,
            t.pending
        )?;
        if let Some(age) = t.oldest_pending_age {
            write!(f, ", oldest {:.1} s", age.as_secs_f64())?;
        }
        Ok(())
    }
}

fn kind_name(kind: TriggerKind) -> &'static str {
    match kind {
        TriggerKind::CosmosDb => "cosmosDBTrigger",
        TriggerKind::EventGrid => "eventGridTrigger",
        TriggerKind::EventHubs => "eventHubTrigger",
    }
}

/// Remembers which triggers are behind and reports only transitions.
#[derive(Debug, Default)]
pub struct Detector {
    thresholds: Thresholds,
    behind: BTreeSet<(String, String)>,
}

impl Detector {
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            behind: BTreeSet::new(),
        }
    }

    /// The triggers that fell behind or caught up since the last call.
    pub fn observe(&mut self, triggers: &[TriggerBacklog]) -> Vec<Change> {
        let limit = self.thresholds;
        let mut changes = Vec::new();
        for trigger in triggers {
            let key = (trigger.trigger.clone(), trigger.source.clone());
            let age = trigger.oldest_pending_age.unwrap_or_default();
            if self.behind.contains(&key) {
                if trigger.pending <= limit.pending / 2 && age <= limit.age / 2 {
                    self.behind.remove(&key);
                    changes.push(Change::CaughtUp(trigger.clone()));
                }
            } else if trigger.pending > limit.pending || age > limit.age {
                self.behind.insert(key);
                changes.push(Change::FellBehind(trigger.clone()));
            }
        }
        changes
    }
}

/// Looks at the backlog every `every` until `cancel` fires, printing each change on stdout.
pub async fn watch(
    backlog: Backlog,
    thresholds: Thresholds,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut detector = Detector::new(thresholds);
    let mut last: Option<Snapshot> = None;
    let mut pause = every;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        // An idle platform that has not changed since the last look is not read again.
        if last
            .as_ref()
            .is_some_and(|last| backlog.unchanged_since(last))
        {
            continue;
        }
        let started = tokio::time::Instant::now();
        let read = backlog.snapshot().await;
        pause = observer_pause(every, started.elapsed());
        match read {
            Ok(snapshot) => {
                for change in detector.observe(&snapshot.triggers) {
                    println!("{change}");
                }
                last = Some(snapshot);
            }
            Err(error) => tracing::debug!(%error, "lag watch: cannot read the backlog"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(pending: u64, age_secs: u64) -> Vec<TriggerBacklog> {
        vec![TriggerBacklog {
            trigger: "UpdateProcessor".into(),
            kind: TriggerKind::EventHubs,
            source: "cosmospark-events".into(),
            pending,
            oldest_pending_age: (pending > 0).then(|| Duration::from_secs(age_secs)),
        }]
    }

    #[test]
    fn reports_falling_behind_once_and_catching_up_once() {
        let mut detector = Detector::new(Thresholds {
            pending: 100,
            age: Duration::from_secs(10),
        });
        assert!(detector.observe(&at(50, 2)).is_empty());
        let behind = detector.observe(&at(101, 2));
        assert!(matches!(behind.as_slice(), [Change::FellBehind(t)] if t.pending == 101));
        assert_eq!(
            behind[0].to_string(),
            "UpdateProcessor (eventHubTrigger cosmospark-events) is falling behind: 101 pending, oldest 2.0 s"
        );
        // Still behind, or hovering between half and the threshold: nothing new.
        assert!(detector.observe(&at(500, 30)).is_empty());
        assert!(detector.observe(&at(80, 2)).is_empty());
        let caught = detector.observe(&at(0, 0));
        assert!(matches!(caught.as_slice(), [Change::CaughtUp(t)] if t.pending == 0));
        assert_eq!(
            caught[0].to_string(),
            "UpdateProcessor (eventHubTrigger cosmospark-events) has caught up: 0 pending"
        );
        assert!(detector.observe(&at(0, 0)).is_empty());
    }

    #[test]
    fn an_old_item_alone_counts_as_behind() {
        let mut detector = Detector::new(Thresholds::default());
        let changes = detector.observe(&at(1, 11));
        assert!(matches!(changes.as_slice(), [Change::FellBehind(_)]));
    }
}
