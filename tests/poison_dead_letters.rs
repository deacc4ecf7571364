//! Poison that the platform's own isolation cannot take care of, in process:
//!
//! - a poison document in each Event Grid relay's container (the relays retry without limit):
//!   written through the store between good documents, it is set aside alone in the relays'
//!   dead letters, the good documents' events arrive, every lease moves past it, and its dead
//!   letter can be replayed (failing again while the document is still poison, relayed once it
//!   is fixed) or discarded;
//! - a document whose event is over Event Hubs' 1 MB in an Event Hubs relay's container: set
//!   aside alone, the others' events appended to the hub;
//! - a timer run that fails past its retry policy: dead-lettered alone with its error, and
//!   replayed with the payload it was given.

mod support;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cosmospark::app::AppServices;
use cosmospark::app::functions::relays::{MAX_PUBLISH_BYTES, RELAYS, relay};
use cosmospark::app::relay_dead_letters;
use cosmospark::app::services::Settings;
use cosmospark::devhost::dead_letter::AppDeadLetters;
use cosmospark::devhost::server::Platform;
use cosmospark::runtime::outputs::Outputs;
use cosmospark::runtime::triggers::{EventGridEvent, TimerInfo};
use cosmospark::runtime::{Context, Function, FunctionApp, FunctionError};
use cosmospark::store::{PartitionKey, Store};
use serde_json::{Value, json};
use support::{
    HANG, admin_principal, bare_app_root, eventually, repo, subscription, write_function,
    write_subscriptions,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The subject of every event `Tally` received.
static TALLIED: Mutex<Vec<String>> = Mutex::new(Vec::new());

async fn tally(event: EventGridEvent, _: Context) -> Result<Outputs, FunctionError> {
    let subject = event.subject().unwrap_or_default().to_owned();
    TALLIED.lock().unwrap().push(subject);
    Ok(Outputs::new())
}

fn tallied() -> BTreeSet<String> {
    TALLIED.lock().unwrap().iter().cloned().collect()
}

/// A document of `container` with id `id`, holding `filler` (and what its relay needs).
fn document(container: &str, id: &str, filler: &str) -> Value {
    let mut doc = json!({"id": id, "filler": filler, "userId": "ann", "isCompleted": true,
        "chat": {"id": "chat-1"}, "user": {"id": "ann"}});
    if container == "CosmicUsers" {
        doc["userId"] = json!(id);
    }
    doc
}

fn partition(container: &str, id: &str) -> PartitionKey {
    match container {
        "CosmicUsers" => PartitionKey::from(id),
        "CosmicChats" => PartitionKey::from("chat-1"),
        _ => PartitionKey::from("ann"),
    }
}

/// The subject the relay gives the event of document `id` of `container`.
fn subject(container: &str, id: &str) -> String {
    let kind = cosmospark::app::domain::event_kind::EventKind::from_container(container).unwrap();
    format!("{}/{id}", kind.subject())
}

struct Running {
    platform: Platform,
    router: axum::Router,
    cancel: CancellationToken,
    tracker: TaskTracker,
    _root: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Running {
    async fn call(&self, method: &str, path: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("x-ms-client-principal", admin_principal())
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn letters(&self) -> Vec<Value> {
        let (status, body) = self.call("GET", "/_devhost/deadletters").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }

    async fn idle(&self) {
        let idle = self.platform.backlog().wait_idle(HANG).await.unwrap();
        assert!(idle.triggers.iter().all(|t| t.pending == 0), "{idle:?}");
    }
}

/// The five relays (their function.json as deployed) and `Tally`, subscribed to every event
/// type the relays publish.
async fn start() -> Running {
    let root = bare_app_root();
    let mut types = Vec::new();
    for (name, container) in RELAYS {
        copy_deployed_function(&root, name);
        types.push(
            cosmospark::app::domain::event_kind::EventKind::from_container(container)
                .unwrap()
                .name(),
        );
    }
    write_function(
        root.path(),
        "Tally",
        &json!({"bindings": [{"type": "eventGridTrigger", "direction": "in", "name": "event"}]}),
    );
    write_subscriptions(
        root.path(),
        &json!({"topic": "cosmospark", "subscriptions": [
            subscription("poison-tally", "Tally", &types, 3)]}),
    );
    start_relays(root, |services| {
        let mut app = FunctionApp::new();
        for (name, container) in RELAYS {
            app = app
                .register(relay(services, name, container).unwrap())
                .map_err(|e| e.to_string())?;
        }
        app.register(Function::trigger("Tally", "event", tally))
            .map_err(|e| e.to_string())
    })
    .await
}

/// Copies the repository's `functions/<name>/function.json` into `root`.
fn copy_deployed_function(root: &tempfile::TempDir, name: &str) {
    let folder = root.path().join("functions").join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        repo().join("functions").join(name).join("function.json"),
        folder.join("function.json"),
    )
    .unwrap();
}

/// Runs the platform on `root` with the app `build` makes, relay dead letters listed with the
/// platform's own.
async fn start_relays(
    root: tempfile::TempDir,
    build: impl FnOnce(&AppServices) -> Result<FunctionApp, String> + Send + 'static,
) -> Running {
    let data = tempfile::tempdir().unwrap();
    let options = support::platform::options(root.path(), data.path());
    let mut platform = Platform::open_with(&options, |store: Store, _| {
        let settings = Settings::from_lookup(|_| None).map_err(|e| e.to_string())?;
        let services = AppServices::with_store(store, settings).map_err(|e| e.to_string())?;
        build(&services)
    })
    .await
    .unwrap();
    platform.dead_letters = platform
        .dead_letters
        .clone()
        .with_app(AppDeadLetters::with_prefix(
            platform.store.clone(),
            relay_dead_letters::CONTAINER,
            "relay-",
        ));
    let router = platform.router().unwrap();
    let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
    platform.start_triggers(&tracker, &cancel).await.unwrap();
    Running {
        platform,
        router,
        cancel,
        tracker,
        _root: root,
        _data: data,
    }
}

#[tokio::test]
async fn a_poison_document_in_each_relay_is_set_aside_alone_and_the_feed_moves_on() {
    let running = start().await;
    let store = running.platform.store.clone();
    // Over Event Grid's 1 MB per event, under Cosmos DB's 2 MB per item.
    let poison_filler = "p".repeat(MAX_PUBLISH_BYTES + 1024);
    let mut expected = BTreeSet::new();
    for (_, container) in RELAYS {
        for (id, filler) in [
            ("good-1", "fine"),
            ("poison", poison_filler.as_str()),
            ("good-2", "fine too"),
        ] {
            let id = format!("{container}-{id}");
            store
                .upsert(
                    container,
                    &partition(container, &id),
                    document(container, &id, filler),
                )
                .await
                .unwrap();
            if !id.ends_with("poison") {
                expected.insert(subject(container, &id));
            }
        }
    }
    running.idle().await;
    assert_eq!(tallied(), expected, "every good document's event, no other");

    let letters = running.letters().await;
    assert_eq!(letters.len(), RELAYS.len(), "{letters:#?}");
    for (name, container) in RELAYS {
        let letter = letters
            .iter()
            .find(|l| l["function"] == name)
            .unwrap_or_else(|| panic!("no dead letter of {name}: {letters:#?}"));
        assert_eq!(letter["kind"], "document");
        assert_eq!(letter["source"], container);
        assert_eq!(letter["payload"]["id"], format!("{container}-poison"));
        assert!(
            letter["reason"].as_str().unwrap().contains("bytes"),
            "{letter}"
        );
        assert!(letter["id"].as_str().unwrap().starts_with("relay-"));
    }
    let id_of = |container: &str| {
        letters.iter().find(|l| l["source"] == container).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // Still poison: the replay runs the relay, which sets it aside again as the same entry.
    let users = id_of("CosmicUsers");
    let (status, body) = running
        .call("POST", &format!("/_devhost/deadletters/{users}/replay"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["failedAgain"], true, "{body}");
    let letters = running.letters().await;
    assert_eq!(letters.len(), RELAYS.len(), "{letters:#?}");
    let again = letters.iter().find(|l| l["id"] == users.as_str()).unwrap();
    assert!(again["replaying"].is_null(), "{again}");

    // Fixed: the change feed relays the new version, and a replay relays it and removes it.
    let chats = id_of("CosmicChats");
    let fixed = "CosmicChats-poison";
    store
        .upsert(
            "CosmicChats",
            &partition("CosmicChats", fixed),
            document("CosmicChats", fixed, "fixed"),
        )
        .await
        .unwrap();
    running.idle().await;
    assert!(tallied().contains(&subject("CosmicChats", fixed)));
    let (status, body) = running
        .call("POST", &format!("/_devhost/deadletters/{chats}/replay"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["failedAgain"], Value::Null, "{body}");

    // Discarded: gone, and a second discard finds nothing.
    let tasks = id_of("CosmicUserTasks");
    let (status, body) = running
        .call("DELETE", &format!("/_devhost/deadletters/{tasks}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = running
        .call("DELETE", &format!("/_devhost/deadletters/{tasks}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    running.idle().await;
    let left: BTreeSet<String> = running
        .letters()
        .await
        .iter()
        .map(|l| l["source"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        left,
        ["CosmicLeaderboards", "CosmicUserChats", "CosmicUsers"]
            .map(str::to_owned)
            .into(),
    );

    running.cancel.cancel();
    running.tracker.close();
    running.tracker.wait().await;
}

#[tokio::test]
async fn an_event_too_large_for_event_hubs_is_set_aside_alone_and_the_others_are_relayed() {
    use cosmospark::app::cqrs::functions::relays as hub_relays;
    let (name, container) = ("UsersToEventHub", "CosmicUsers");
    let root = bare_app_root();
    copy_deployed_function(&root, name);
    let running = start_relays(root, move |services| {
        FunctionApp::new()
            .register(hub_relays::function(services, name, container))
            .map_err(|e| e.to_string())
    })
    .await;
    // Over Event Hubs' 1 MB per event, under Cosmos DB's 2 MB per item.
    let poison_filler = "p".repeat(cosmospark::runtime::outputs::EVENT_HUBS_MAX_EVENT_BYTES);
    let store = running.platform.store.clone();
    for (id, filler) in [
        ("good-1", "fine"),
        ("poison", poison_filler.as_str()),
        ("good-2", "fine too"),
    ] {
        store
            .upsert(
                container,
                &PartitionKey::from(id),
                document(container, id, filler),
            )
            .await
            .unwrap();
    }
    running.idle().await;
    let letters = running.letters().await;
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!(letters[0]["function"], name);
    assert_eq!(letters[0]["kind"], "document");
    assert_eq!(letters[0]["payload"]["id"], "poison");
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Event Hubs accepts at most 1048576"),
        "{letters:#?}"
    );
    let (status, retention) = running.call("GET", "/_devhost/retention").await;
    assert_eq!(status, StatusCode::OK, "{retention}");
    let appended: i64 = retention["eventHubs"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["hub"] == "cosmospark-events")
        .map(|p| p["retained"].as_i64().unwrap())
        .sum();
    assert_eq!(appended, 2, "the two good documents' events: {retention:#}");
    running.cancel.cancel();
    running.tracker.close();
    running.tracker.wait().await;
}

/// `Flaky` fails while this is set.
static FLAKY_FAILS: AtomicBool = AtomicBool::new(true);
/// `Flaky`'s invocations, and the `IsPastDue` each was given.
static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);
static FLAKY_PAYLOADS: Mutex<Vec<bool>> = Mutex::new(Vec::new());

async fn flaky(timer: TimerInfo, _: Context) -> Result<Outputs, FunctionError> {
    FLAKY_RUNS.fetch_add(1, Ordering::SeqCst);
    FLAKY_PAYLOADS.lock().unwrap().push(timer.is_past_due);
    if FLAKY_FAILS.load(Ordering::SeqCst) {
        return Err(FunctionError::msg("the round service is down"));
    }
    Ok(Outputs::new())
}

#[tokio::test]
async fn a_timer_run_that_fails_past_its_retries_is_dead_lettered_alone_and_replayable() {
    let root = bare_app_root();
    // Runs once at start, then not before next New Year; two quick retries.
    write_function(
        root.path(),
        "Flaky",
        &json!({"bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer",
                "schedule": "0 0 0 1 1 *", "runOnStartup": true}],
                "retry": {"strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:00:00.01"}}),
    );
    let app = FunctionApp::new()
        .register(Function::trigger("Flaky", "timer", flaky))
        .unwrap();
    let running = support::platform::Running::start(root, app, Vec::new()).await;
    let letter = eventually(|| async {
        let (_, body) = running.get("/_devhost/deadletters").await;
        body.as_array().and_then(|l| l.first().cloned())
    })
    .await;
    let (_, listed) = running.get("/_devhost/deadletters").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed:#}");
    assert_eq!(letter["kind"], "timer");
    assert_eq!(letter["function"], "Flaky");
    assert_eq!(letter["source"], "Flaky");
    assert_eq!(
        letter["attempts"], 3,
        "the first run and two retries: {letter}"
    );
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("the round service is down"),
        "{letter}"
    );
    assert_eq!(letter["payload"]["IsPastDue"], false);
    assert_eq!(FLAKY_RUNS.load(Ordering::SeqCst), 3);

    FLAKY_FAILS.store(false, Ordering::SeqCst);
    let id = letter["id"].as_str().unwrap();
    let request = Request::post(format!("/_devhost/deadletters/{id}/replay"))
        .header("x-ms-client-principal", admin_principal())
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = running.call(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(FLAKY_RUNS.load(Ordering::SeqCst), 4, "replayed once");
    assert_eq!(*FLAKY_PAYLOADS.lock().unwrap(), [false; 4]);
    let (_, listed) = running.get("/_devhost/deadletters").await;
    assert_eq!(listed, json!([]), "a replayed dead letter is gone");
    running.stop().await;
}
