//! The platform's backlog and idle signal, in process: a change-feed trigger held at a gate
//! shows its pending changes and keeps the platform busy; once the gate opens, waiting for idle
//! returns only after the whole chain (change feed → Event Grid → Event Hubs) has run. Also the
//! `/_devhost/backlog` and `/_devhost/idle` endpoints, and that an idle `cosmospark dev` (the
//! binary, the whole app) commits nothing and wakes no trigger loop: nothing polls. The same
//! holds after a burst of chats has built a deep Event Grid queue and drained it.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use cosmospark::devhost::backlog::{BacklogError, TriggerKind};
use cosmospark::runtime::outputs::{EventGridEvents, EventHubEvents, Outputs};
use cosmospark::runtime::triggers::{
    CosmosDocuments, EventGridEvent, EventGridSchemaEvent, EventHubBatch,
};
use cosmospark::runtime::{Context, Function, FunctionApp, FunctionError};
use cosmospark::store::PartitionKey;
use serde_json::{Value, json};
use support::platform::Running;
use support::{
    Dev, HANG, app_root, bare_app_root, subscription, write_function, write_subscriptions,
};
use tokio::sync::watch;

/// Open (true) or closed: `Feed` waits for it before handling a batch.
static GATE: Mutex<Option<watch::Sender<bool>>> = Mutex::new(None);
/// Every id `Tally` received, at the end of the chain.
static TALLIED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn gate() -> watch::Receiver<bool> {
    GATE.lock()
        .unwrap()
        .get_or_insert_with(|| watch::channel(false).0)
        .subscribe()
}

fn open_gate() {
    let _ = gate();
    if let Some(sender) = GATE.lock().unwrap().as_ref() {
        sender.send_replace(true);
    }
}

async fn feed(batch: CosmosDocuments<Value>, _: Context) -> Result<Outputs, FunctionError> {
    let mut open = gate();
    let _ = open.wait_for(|open| *open).await;
    let events = batch
        .documents
        .iter()
        .map(|doc| {
            EventGridEvent::EventGrid(EventGridSchemaEvent {
                id: format!("relayed-{}", doc["id"].as_str().unwrap_or_default()),
                topic: None,
                subject: format!("commands/{}", doc["id"].as_str().unwrap_or_default()),
                event_type: "Test.Relayed".to_owned(),
                event_time: None,
                data: json!({ "id": doc["id"] }),
                data_version: "1.0".to_owned(),
                metadata_version: None,
            })
        })
        .collect();
    Ok(Outputs::new().set("events", EventGridEvents(events)))
}

async fn sink(event: EventGridEvent, _: Context) -> Result<Outputs, FunctionError> {
    let EventGridEvent::EventGrid(event) = event else {
        return Err(FunctionError::msg("expected the Event Grid schema"));
    };
    Ok(Outputs::new().set("out", EventHubEvents(vec![event.data["id"].clone()])))
}

async fn tally(batch: EventHubBatch, _: Context) -> Result<Outputs, FunctionError> {
    let mut tallied = TALLIED.lock().unwrap();
    for event in &batch.events {
        // A string output item is the event body as it is.
        tallied.push(event.text().unwrap_or_default().to_owned());
    }
    Ok(Outputs::new())
}

fn app() -> FunctionApp {
    FunctionApp::new()
        .register(Function::trigger("Feed", "documents", feed).output::<EventGridEvents>("events"))
        .unwrap()
        .register(Function::trigger("Sink", "event", sink).output::<EventHubEvents>("out"))
        .unwrap()
        .register(Function::trigger("Tally", "events", tally))
        .unwrap()
}

async fn start() -> Running {
    let root = bare_app_root();
    write_function(
        root.path(),
        "Feed",
        &json!({"bindings": [
            {"type": "cosmosDBTrigger", "direction": "in", "name": "documents", "connection": "CosmosDBConnection",
             "databaseName": "CosmicDB", "containerName": "Commands", "leaseContainerName": "leases",
             "leaseContainerPrefix": "idle-", "maxItemsPerInvocation": 2, "startFromBeginning": true},
            {"type": "eventGrid", "direction": "out", "name": "events", "connection": "EventGridConnection"}]}),
    );
    write_function(
        root.path(),
        "Sink",
        &json!({"bindings": [
            {"type": "eventGridTrigger", "direction": "in", "name": "event"},
            {"type": "eventHub", "direction": "out", "name": "out", "eventHubName": "tally",
             "connection": "EventHubConnection"}]}),
    );
    write_function(
        root.path(),
        "Tally",
        &json!({"bindings": [
            {"type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "tally",
             "consumerGroup": "$Default", "cardinality": "many", "dataType": "string",
             "connection": "EventHubConnection"}]}),
    );
    write_subscriptions(
        root.path(),
        &json!({"topic": "cosmospark", "subscriptions": [
            subscription("idle-sink", "Sink", &["Test.Relayed"], 3)]}),
    );
    Running::start(root, app(), Vec::new()).await
}

#[tokio::test]
async fn waits_until_the_whole_chain_has_run_and_reports_each_trigger_meanwhile() {
    let running = start().await;
    let ids = ["cmd-1", "cmd-2", "cmd-3", "cmd-4", "cmd-5"];
    for id in ids {
        running
            .platform
            .store
            .upsert(
                "Commands",
                &PartitionKey::from(id),
                json!({"id": id, "commandId": id}),
            )
            .await
            .unwrap();
    }

    // Held at the gate: every change is pending (the lease moves only after a batch).
    let snapshot = running.platform.backlog().snapshot().await.unwrap();
    assert!(!snapshot.idle, "{snapshot:?}");
    let feed = snapshot
        .triggers
        .iter()
        .find(|t| t.trigger == "Feed")
        .expect("the change-feed trigger is listed");
    assert_eq!(feed.kind, TriggerKind::CosmosDb);
    assert_eq!(feed.source, "Commands");
    assert_eq!(feed.pending, 5);
    assert!(feed.oldest_pending_age.is_some());
    let kinds: Vec<(&str, TriggerKind)> = snapshot
        .triggers
        .iter()
        .map(|t| (t.trigger.as_str(), t.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Feed", TriggerKind::CosmosDb),
            ("Sink", TriggerKind::EventGrid),
            ("Tally", TriggerKind::EventHubs)
        ]
    );
    match running
        .platform
        .backlog()
        .wait_idle(Duration::from_millis(50))
        .await
    {
        Err(BacklogError::NotIdle { last, .. }) => assert!(!last.idle),
        other => panic!("idle while a batch waits at the gate: {other:?}"),
    }
    let (status, body) = running.get("/_devhost/idle?timeout_ms=0").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["idle"], false);

    open_gate();
    let idle = running.platform.backlog().wait_idle(HANG).await.unwrap();
    assert!(idle.idle);
    assert_eq!(idle.in_flight, 0);
    assert!(idle.triggers.iter().all(|t| t.pending == 0), "{idle:?}");
    // Idle means the end of the chain has seen every change: no polling needed.
    let mut tallied = TALLIED.lock().unwrap().clone();
    tallied.sort();
    assert_eq!(
        tallied,
        ids,
        "dead letters: {:?}",
        running.platform.dead_letters.list()
    );

    let (status, body) = running.get("/_devhost/idle?timeout_ms=30000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["idle"], true);
    assert_eq!(body["inFlight"], 0);
    let (status, body) = running.get("/_devhost/backlog").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["triggers"][0]["kind"], "cosmosDBTrigger");
    assert_eq!(body["triggers"][1]["kind"], "eventGridTrigger");
    assert_eq!(body["triggers"][1]["source"], "idle-sink");
    assert_eq!(body["triggers"][2]["kind"], "eventHubTrigger");
    assert_eq!(body["triggers"][2]["pending"], 0);
    assert_eq!(body["triggers"][2]["oldestPendingAgeMs"], Value::Null);

    for bad in ["soon", "-1", "600001"] {
        let (status, body) = running
            .get(&format!("/_devhost/idle?timeout_ms={bad}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("timeout_ms"),
            "{body}"
        );
    }
    running.stop().await;
}

/// The counters that move only when the platform does something.
fn activity(snapshot: &Value) -> (u64, u64) {
    let count = |field: &str| {
        snapshot[field]
            .as_u64()
            .unwrap_or_else(|| panic!("the snapshot has no `{field}`: {snapshot}"))
    };
    (count("commits"), count("wakeups"))
}

#[tokio::test]
async fn an_idle_dev_commits_nothing_and_wakes_no_trigger_loop() {
    let root = app_root(&[], None);
    // The app's hourly timer is the one thing that is due while idle; keep it out of the window.
    let timer = root.path().join("functions/RoundTimer/function.json");
    let mut function: Value = serde_json::from_slice(&std::fs::read(&timer).unwrap()).unwrap();
    function["disabled"] = json!(true);
    std::fs::write(&timer, function.to_string()).unwrap();
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    let settled = activity(&dev.idle().await);
    // Every follower, partition processor and dispatcher is waiting now. With a poll timer
    // anywhere (the change feed polled every 50 ms before), this window would count dozens.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = dev.idle().await;
    assert_eq!(
        activity(&after),
        settled,
        "an idle platform committed or woke a trigger loop: {after}"
    );
    assert!(dev.terminate().success());
}

/// A chat message between a fresh pair of users, as the chat API writes it.
fn chat(n: usize) -> Value {
    use cosmospark::app::domain::documents::{ChatMessage, UserRef};
    use cosmospark::app::domain::values::{DisplayName, MessageContent, UserId};
    let user = |side: &str| UserRef {
        id: UserId::parse(&format!("burst-{side}-{n}")).unwrap(),
        name: DisplayName::parse(&format!("Burst {side}")).unwrap(),
    };
    let message = ChatMessage::new(
        format!("burst-chat-{n}"),
        user("a"),
        user("b"),
        MessageContent::parse("hello").unwrap(),
        chrono::Utc::now(),
    )
    .unwrap();
    serde_json::to_value(message).unwrap()
}

/// Sets `"disabled": true` in the `function.json` of each of `functions` under `root`.
fn disable(root: &std::path::Path, functions: &[&str]) {
    for name in functions {
        let path = root.join("functions").join(name).join("function.json");
        let mut function: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        function["disabled"] = json!(true);
        std::fs::write(&path, function.to_string()).unwrap();
    }
}

/// A burst of chats written at once builds a deep Event Grid queue (three subscriptions per
/// chat, then a push per chat summary); once it has drained and the platform reports idle,
/// no dispatcher, follower or purger may keep working: the store's commit count and the
/// trigger loops' wake-ups stand still.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_event_grid_backlog_drains_the_platform_stands_still() {
    let root = app_root(&[], None);
    // The hourly timer may fall due in the window; the read-side relays to Event Hubs are
    // left out because hub retention trims once, on purpose, a few seconds after the last
    // checkpoint (`hub_retention::TRIM_INTERVAL`), which is scheduled work, not a loop.
    disable(
        root.path(),
        &[
            "RoundTimer",
            "ChatsToEventHub",
            "CommandsToEventHub",
            "LeaderboardToEventHub",
            "TasksToEventHub",
            "UsersToEventHub",
            "UpdateProcessor",
        ],
    );
    let running = Running::start_with(root.path(), |store, _key| {
        let services = cosmospark::app::services::AppServices::with_store(
            store,
            cosmospark::app::services::Settings::default(),
        )
        .map_err(|e| e.to_string())?;
        cosmospark::app::function_app(services).map_err(|e| e.to_string())
    })
    .await;
    let store = running.platform.store.clone();
    let burst = 400;
    let writes = (0..burst).map(|n| {
        let doc = chat(n);
        let store = store.clone();
        async move {
            let pk = PartitionKey::from(doc["chat"]["id"].as_str().unwrap());
            store.upsert("CosmicChats", &pk, doc).await
        }
    });
    for result in futures_util::future::join_all(writes).await {
        result.unwrap();
    }
    let backlog = running.platform.backlog();
    backlog.wait_idle(Duration::from_secs(300)).await.unwrap();
    let summaries = store
        .count("CosmicUserChats", None, &cosmospark::store::Query::new())
        .await
        .unwrap();
    assert_eq!(summaries, 2 * burst as u64, "every chat made two summaries");
    // A loop woken by the last commit may count that wake-up just after the idle snapshot;
    // the baseline is taken once such stragglers have run.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = backlog.wait_idle(Duration::from_secs(60)).await.unwrap();
    let settled = (idle.commits, idle.wakeups);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = backlog.snapshot().await.unwrap();
    assert_eq!(
        (after.commits, after.wakeups),
        settled,
        "the platform kept working after {burst} chats drained: {after:?}"
    );
    running.stop().await;
}
