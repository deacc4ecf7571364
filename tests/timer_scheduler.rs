//! The timer scheduler on paused tokio time: payload shape, persisted status across a
//! restart, past-due runs, runOnStartup and unmonitored schedules.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cosmospark::devhost::timer::{
    ScheduleStatus, StatusStore, TimerFunction, TimerScheduler, TokioClock,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

struct Running {
    calls: mpsc::UnboundedReceiver<(String, Value)>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    async fn next_call(&mut self) -> (String, Value) {
        self.calls.recv().await.expect("scheduler stopped")
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap();
    }
}

/// Starts a scheduler whose clock reads `now`, with one function defined by `binding`.
fn start(dir: &Path, now: &str, name: &str, binding: Value) -> Running {
    let mut scheduler = TimerScheduler::new(dir, Arc::new(TokioClock::starting_at(at(now))));
    scheduler
        .add(TimerFunction::from_binding(name, &binding, |_| None).unwrap())
        .unwrap();
    let (tx, calls) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let task = tokio::spawn(async move {
        let invoke = move |name: String, payload: Value| {
            let tx = tx.clone();
            async move { tx.send((name, payload)).map_err(|_| "receiver gone") }
        };
        scheduler.run(invoke, token).await.unwrap();
    });
    Running {
        calls,
        cancel,
        task,
    }
}

fn monthly() -> Value {
    json!({"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 15/30 * *"})
}

#[tokio::test(start_paused = true)]
async fn fires_on_schedule_with_the_host_payload_and_persists_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start(dir.path(), "2026-01-10T08:00:00Z", "TimerCosmos", monthly());
    let (name, payload) = running.next_call().await;
    assert_eq!(name, "TimerCosmos");
    assert_eq!(
        payload,
        json!({
            "Schedule": {"AdjustForDST": true},
            "ScheduleStatus": {
                "Last": "0001-01-01T00:00:00Z",
                "Next": "2026-01-15T00:00:00Z",
                "LastUpdated": "2026-01-10T08:00:00Z"
            },
            "IsPastDue": false
        })
    );
    let (_, second) = running.next_call().await;
    assert_eq!(second["ScheduleStatus"]["Last"], "2026-01-15T00:00:00Z");
    assert_eq!(second["ScheduleStatus"]["Next"], "2026-02-15T00:00:00Z");
    assert_eq!(second["IsPastDue"], false);
    running.stop().await;

    let stored = StatusStore::new(dir.path())
        .load("TimerCosmos")
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        ScheduleStatus {
            last: at("2026-02-15T00:00:00Z"),
            next: at("2026-03-15T00:00:00Z"),
            last_updated: at("2026-02-15T00:00:00Z"),
        }
    );
}

#[tokio::test(start_paused = true)]
async fn restart_before_next_occurrence_resumes_without_past_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path(), "2026-01-10T08:00:00Z", "Tick", monthly());
    first.next_call().await;
    first.stop().await;

    let mut second = start(dir.path(), "2026-02-01T00:00:00Z", "Tick", monthly());
    let (_, payload) = second.next_call().await;
    assert_eq!(payload["IsPastDue"], false);
    assert_eq!(payload["ScheduleStatus"]["Last"], "2026-01-15T00:00:00Z");
    assert_eq!(payload["ScheduleStatus"]["Next"], "2026-02-15T00:00:00Z");
    second.stop().await;
}

#[tokio::test(start_paused = true)]
async fn occurrence_missed_while_down_runs_once_as_past_due() {
    let dir = tempfile::tempdir().unwrap();
    // Stopped before any occurrence: startup alone records the status.
    let first = start(dir.path(), "2026-01-10T08:00:00Z", "Tick", monthly());
    first.stop().await;
    assert!(StatusStore::new(dir.path()).load("Tick").unwrap().is_some());

    // Down from Jan 10 to Mar 20: two occurrences missed, one past-due run.
    let mut second = start(dir.path(), "2026-03-20T12:00:00Z", "Tick", monthly());
    let (_, past_due) = second.next_call().await;
    assert_eq!(past_due["IsPastDue"], true);
    assert_eq!(past_due["ScheduleStatus"]["Next"], "2026-01-15T00:00:00Z");
    let (_, regular) = second.next_call().await;
    assert_eq!(regular["IsPastDue"], false);
    assert_eq!(regular["ScheduleStatus"]["Last"], "2026-03-20T12:00:00Z");
    assert_eq!(regular["ScheduleStatus"]["Next"], "2026-04-15T00:00:00Z");
    second.stop().await;
}

#[tokio::test(start_paused = true)]
async fn run_on_startup_runs_at_once_and_then_follows_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let mut binding = monthly();
    binding["runOnStartup"] = json!(true);
    let mut running = start(dir.path(), "2026-01-10T08:00:00Z", "Tick", binding);
    let (_, startup) = running.next_call().await;
    assert_eq!(startup["IsPastDue"], false);
    assert_eq!(startup["ScheduleStatus"]["Next"], "2026-01-15T00:00:00Z");
    let (_, scheduled) = running.next_call().await;
    assert_eq!(scheduled["ScheduleStatus"]["Last"], "2026-01-10T08:00:00Z");
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn sub_minute_schedules_are_unmonitored_like_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let binding = json!({"schedule":"*/10 * * * * *","runOnStartup":true});
    let mut running = start(dir.path(), "2026-01-10T08:00:03Z", "Fast", binding);
    let expected =
        json!({"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false});
    for _ in 0..3 {
        assert_eq!(running.next_call().await.1, expected);
    }
    running.stop().await;
    assert_eq!(StatusStore::new(dir.path()).load("Fast").unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn changed_schedule_is_replanned_instead_of_past_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path(), "2026-01-10T08:00:00Z", "Tick", monthly());
    first.next_call().await;
    first.stop().await;

    // The recorded Next (Feb 15) has passed, but it belongs to the old schedule.
    let daily = json!({"schedule":"0 0 6 * * *"});
    let mut second = start(dir.path(), "2026-03-01T09:00:00Z", "Tick", daily);
    let (_, payload) = second.next_call().await;
    assert_eq!(payload["IsPastDue"], false);
    assert_eq!(payload["ScheduleStatus"]["Last"], "2026-01-15T00:00:00Z");
    assert_eq!(payload["ScheduleStatus"]["Next"], "2026-03-02T06:00:00Z");
    second.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_corrupt_status_file_is_replaced_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Tick.json"), b"{ half a fi").unwrap();
    let mut running = start(dir.path(), "2026-01-10T08:00:00Z", "Tick", monthly());
    let (_, payload) = running.next_call().await;
    assert_eq!(payload["IsPastDue"], false);
    assert_eq!(payload["ScheduleStatus"]["Next"], "2026-01-15T00:00:00Z");
    running.stop().await;
    let stored = StatusStore::new(dir.path()).load("Tick").unwrap().unwrap();
    assert_eq!(stored.last, at("2026-01-15T00:00:00Z"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_run_is_recorded_and_the_schedule_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut scheduler = TimerScheduler::new(
        dir.path(),
        Arc::new(TokioClock::starting_at(at("2026-01-10T08:00:00Z"))),
    );
    scheduler
        .add(TimerFunction::from_binding("Tick", &monthly(), |_| None).unwrap())
        .unwrap();
    let (tx, mut calls) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let task = tokio::spawn(async move {
        let invoke = move |_: String, payload: Value| {
            let _ = tx.send(payload);
            async { Err::<(), _>("handler returned 500") }
        };
        scheduler.run(invoke, token).await.unwrap();
    });
    calls.recv().await.unwrap();
    let second = calls.recv().await.unwrap();
    assert_eq!(second["ScheduleStatus"]["Last"], "2026-01-15T00:00:00Z");
    assert_eq!(second["ScheduleStatus"]["Next"], "2026-02-15T00:00:00Z");
    cancel.cancel();
    task.await.unwrap();
}

#[test]
fn bad_bindings_name_the_field() {
    let cases = [
        (
            json!({}),
            "timerTrigger.schedule: timerTrigger binding `timer`: missing",
        ),
        (json!({"schedule":"0 0 99 * * *"}), "hour field \"99\""),
        (json!({"schedule":"%Missing%"}), "app setting \"Missing\""),
        (
            json!({"schedule":"0 * * * * *","runOnStartup":"yes"}),
            "timerTrigger.runOnStartup",
        ),
        (
            json!({"schedule":"0 * * * * *","useMonitor":1}),
            "timerTrigger.useMonitor",
        ),
    ];
    for (binding, expected) in cases {
        let error = TimerFunction::from_binding("F", &binding, |_| None)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{binding}: got {error:?}");
    }
    let resolved = TimerFunction::from_binding("F", &json!({"schedule":"%S%"}), |k| {
        (k == "S").then(|| "0 0 15/30 * *".to_owned())
    })
    .unwrap();
    assert_eq!(resolved.schedule.text(), "0 0 15/30 * *");
    let mut scheduler =
        TimerScheduler::new("unused", Arc::new(cosmospark::devhost::timer::SystemClock));
    let mut bad_name = resolved;
    bad_name.name = "../escape".to_owned();
    assert!(scheduler.add(bad_name).is_err());
}
