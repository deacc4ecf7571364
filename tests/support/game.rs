//! Helpers for in-process game tests: the app on the local platform in this process
//! ([`Running`]: change-feed, Event Grid and Event Hubs triggers live) over a temporary data
//! directory, with the app's clock pinned; HTTP functions called with the envelopes the
//! platform builds (`cosmospark::devhost::envelope`); a principal builder; and the realtime
//! pushes as Web PubSub clients of the platform's hub receive them. Tests let the event
//! pipeline run by itself and wait on the platform's idle signal ([`Game::settle`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use cosmospark::app::services::Settings;
use cosmospark::app::{AppServices, function_app};
use cosmospark::devhost::envelope::{self, Envelope, HttpParts};
use cosmospark::devhost::invoke::InvokeError;
use cosmospark::devhost::webpubsub::{AccessKey, ClientGrant, Hub, HubConfig};
use cosmospark::runtime::manifest::{BindingKind, FunctionJson};
use cosmospark::runtime::outputs::HttpResponseData;
use cosmospark::runtime::{Direction, InvocationResponse};
use cosmospark::store::{ChangeFeedRequest, ChangeFeedStart, Store};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tower::ServiceExt;

use super::platform::Running;
use super::pubsub::{self, Client};

/// The app's Web PubSub hub (`hub` of its `webPubSub` bindings).
const HUB: &str = "CosmosPark";

/// Who calls a route.
#[derive(Debug, Clone)]
pub enum Who {
    Anonymous,
    User(String),
    Admin(String),
    /// A header that is not a principal.
    Malformed,
}

impl Who {
    pub fn user(id: &str) -> Self {
        Self::User(id.to_owned())
    }

    /// The `x-ms-client-principal` header value, as Static Web Apps sends it.
    pub fn header(&self) -> Option<String> {
        match self {
            Who::Anonymous => None,
            Who::Malformed => Some("not base64 at all!".to_owned()),
            Who::User(id) => Some(super::principal(id, &["anonymous", "authenticated"])),
            Who::Admin(id) => Some(super::principal(
                id,
                &["anonymous", "authenticated", "admin"],
            )),
        }
    }
}

/// An HTTP answer unpacked from the invocation response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The invocation's own status (200 unless the envelope or handler failed).
    pub invocation_status: u16,
    pub status: u16,
    pub headers: Value,
    pub body: Value,
    pub outputs: Value,
    pub logs: Value,
}

impl Reply {
    /// The `error.field` of a JSON error body.
    pub fn field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }
}

/// A Web PubSub action, as its receivers saw it: `sendToAll` (reached the listener without a
/// user) or `sendToUser` (reached only `user_id`'s listener).
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    pub action: String,
    pub user_id: Option<String>,
    pub data: Value,
}

/// A Web PubSub client of the platform's hub: for `user`, or without a user (sees broadcasts).
struct Listener {
    user: Option<String>,
    client: Client,
}

pub struct Game {
    pub running: Running,
    /// The app's own router (`POST /{function}` envelopes, as the host sends them).
    pub router: Router,
    pub services: AppServices,
    pub store: Store,
    /// The platform served on loopback, for the Web PubSub listeners.
    base_url: String,
    listeners: Mutex<Vec<Listener>>,
}

impl Game {
    pub async fn new() -> Arc<Self> {
        Self::with_settings(Settings::default()).await
    }

    /// A game whose services read `settings` (e.g. an Azure Maps endpoint).
    pub async fn with_settings(settings: Settings) -> Arc<Self> {
        let mut built = None;
        let running = Running::start_with(&super::repo(), |store, _key| {
            let services = AppServices::with_store(store, settings)
                .map_err(|e| e.to_string())?
                .with_clock(Arc::new(fixed_now));
            let app = function_app(services.clone()).map_err(|e| e.to_string())?;
            built = Some((services, app.router()));
            Ok(app)
        })
        .await;
        let (services, router) = built.expect("the platform built the app");
        let base_url = format!("http://{}", running.serve().await);
        let game = Self {
            store: running.platform.store.clone(),
            running,
            router,
            services,
            base_url,
            listeners: Mutex::new(Vec::new()),
        };
        game.listen(None).await;
        Arc::new(game)
    }

    /// Connects a Web PubSub client for `user` (`None`: no user, so only broadcasts reach it),
    /// so [`Game::settle`] reports what is pushed to it from now on.
    pub async fn listen(&self, user: Option<&str>) {
        if self
            .listeners
            .lock()
            .await
            .iter()
            .any(|l| l.user.as_deref() == user)
        {
            return;
        }
        let grant = ClientGrant {
            user_id: user.map(str::to_owned),
            ..ClientGrant::default()
        };
        let url = self
            .running
            .platform
            .pubsub
            .client_connection(&self.base_url, HUB, &grant, Duration::from_secs(3600))
            .expect("a client URL")
            .url;
        let (mut client, _) = pubsub::connect(&url, Some(pubsub::JSON))
            .await
            .expect("connect to the hub");
        let connected = client.next_json().await;
        assert_eq!(connected["event"], "connected", "{connected}");
        self.listeners.lock().await.push(Listener {
            user: user.map(str::to_owned),
            client,
        });
    }

    /// The function's declaration in `functions/`.
    fn function(&self, function: &str) -> &FunctionJson {
        self.running
            .platform
            .manifest
            .function(function)
            .unwrap_or_else(|| panic!("`{function}` has no function.json"))
    }

    /// The name of `function`'s trigger binding.
    fn trigger_binding(&self, function: &str) -> String {
        self.function(function)
            .trigger()
            .map(|t| t.name.clone())
            .unwrap_or_else(|| panic!("`{function}` has no trigger"))
    }

    /// POSTs a raw envelope to the app's `/{function}`, as the host does; returns the
    /// invocation status and JSON answer. Its outputs are only returned, not written.
    pub async fn invoke(&self, function: &str, envelope: impl Into<Value>) -> (u16, Value) {
        let envelope: Value = envelope.into();
        let request = Request::post(format!("/{function}"))
            .header("content-type", "application/json")
            .body(Body::from(envelope.to_string()))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    /// Runs `envelope` through the platform's invoker: its outputs are written (documents,
    /// events, pushes) as for any invocation of the platform.
    async fn run(
        &self,
        function: &str,
        envelope: Envelope,
    ) -> (u16, Option<InvocationResponse>, String) {
        match self
            .running
            .platform
            .invoker
            .invoke(function, envelope, None)
            .await
        {
            Ok(response) => (200, Some(response), String::new()),
            Err(InvokeError::Status { status, body }) => (status, None, body),
            Err(error) => (500, None, error.to_string()),
        }
    }

    /// Calls an HTTP function through its envelope, as the host does.
    pub async fn http(
        &self,
        function: &str,
        method: &str,
        path: &str,
        who: &Who,
        body: Option<&str>,
    ) -> Reply {
        self.http_with(function, method, path, who, body, json!({}))
            .await
    }

    /// As [`Game::http`], with extra `Data` members (input bindings).
    pub async fn http_with(
        &self,
        function: &str,
        method: &str,
        path: &str,
        who: &Who,
        body: Option<&str>,
        extra_data: Value,
    ) -> Reply {
        let mut headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Host".to_owned(), "localhost:7071".to_owned()),
        ];
        if let Some(header) = who.header() {
            headers.push(("x-ms-client-principal".to_owned(), header));
        }
        let query = path
            .split_once('?')
            .map(|(_, query)| query)
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let parts = HttpParts {
            url: format!("http://localhost:7071{path}"),
            method: method.to_owned(),
            query,
            headers,
            params: Vec::new(),
            body: body.map(|b| b.as_bytes().to_vec()).unwrap_or_default(),
        };
        let mut envelope = envelope::http(function, &self.trigger_binding(function), &parts);
        if let Value::Object(extra) = extra_data {
            for (name, value) in extra {
                envelope = envelope.with_data(&name, value);
            }
        }
        let (invocation_status, response, error) = self.run(function, envelope).await;
        let outputs = response
            .as_ref()
            .map(|r| Value::Object(r.outputs.clone()))
            .unwrap_or(Value::Null);
        let http: Option<HttpResponseData> = response
            .as_ref()
            .and_then(|r| r.outputs.get("res"))
            .and_then(|res| HttpResponseData::from_value("Outputs.res", res).ok());
        let text = http.as_ref().and_then(|h| h.body.clone()).unwrap_or(error);
        Reply {
            invocation_status,
            status: http.as_ref().map_or(0, |h| h.status_code),
            headers: http.as_ref().map_or(Value::Null, |h| json!(h.headers)),
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            outputs,
            logs: response.map_or(Value::Null, |r| json!(r.logs)),
        }
    }

    /// Sends one Event Grid event to `function` through the platform's invoker (a delivery of
    /// our own, e.g. a duplicate); returns the Web PubSub actions it asked for.
    pub async fn deliver(&self, function: &str, event: &Value) -> Vec<Push> {
        let binding = self.trigger_binding(function);
        let envelope = envelope::event_grid(function, &binding, event);
        let (status, response, error) = self.run(function, envelope).await;
        assert_eq!(status, 200, "{function} failed: {error}");
        let outputs = response.map(|r| r.outputs).unwrap_or_default();
        pushes(outputs.get("actions").unwrap_or(&Value::Null))
    }

    /// Publishes `events` to the platform's Event Grid topic: its dispatcher delivers them to
    /// every subscriber, as it does the relays' events.
    pub async fn publish(&self, events: Vec<Value>) {
        self.running
            .platform
            .invoker
            .sinks()
            .topic
            .publish(events, None)
            .await
            .expect("publish to the topic");
    }

    /// The change-feed relays to Event Grid (a `cosmosDBTrigger` and an `eventGrid` output),
    /// from the function.json files.
    pub fn relays(&self) -> Vec<String> {
        self.running
            .platform
            .manifest
            .functions
            .iter()
            .filter(|f| !f.disabled)
            .filter(|f| {
                f.trigger()
                    .is_some_and(|t| matches!(t.kind, BindingKind::CosmosDbTrigger(_)))
                    && f.bindings.iter().any(|b| {
                        matches!(b.direction, Direction::Out)
                            && matches!(b.kind, BindingKind::EventGrid { .. })
                    })
            })
            .map(|f| f.name.clone())
            .collect()
    }

    /// The events the relay `function` makes of every document now in its container (the
    /// relay invoked directly, as a pure function of the change feed; the platform runs the
    /// same relay by itself): what tests replay or duplicate.
    pub async fn relay(&self, function: &str) -> Vec<Value> {
        let declaration = self.function(function);
        let trigger = declaration.trigger().expect("a trigger");
        let BindingKind::CosmosDbTrigger(options) = &trigger.kind else {
            panic!("`{function}` is not a change-feed relay");
        };
        let output = declaration
            .bindings
            .iter()
            .find(|b| {
                matches!(b.direction, Direction::Out)
                    && matches!(b.kind, BindingKind::EventGrid { .. })
            })
            .unwrap_or_else(|| panic!("`{function}` has no eventGrid output"))
            .name
            .clone();
        let page = self
            .store
            .read_change_feed(
                &options.container_name,
                &ChangeFeedRequest::new(ChangeFeedStart::Beginning).max_items(1000),
            )
            .await
            .expect("change feed");
        if page.items.is_empty() {
            return Vec::new();
        }
        let envelope = Envelope::new(function)
            .with_data(&trigger.name, envelope::cosmos_documents(&page.items));
        let (status, answer) = self.invoke(function, envelope.to_json()).await;
        assert_eq!(status, 200, "{function} failed: {answer}");
        answer["Outputs"][output.as_str()]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until the platform is idle (every change relayed, every event delivered, no
    /// invocation running; `GET /_devhost/idle`), checks that nothing was dead-lettered, and
    /// returns what the listeners received since the last call, in order.
    pub async fn settle(&self) -> Vec<Push> {
        self.running.idle().await;
        let dead = self
            .running
            .platform
            .dead_letters
            .entries()
            .await
            .expect("dead letters");
        assert!(dead.is_empty(), "the pipeline dead-lettered: {dead:?}");
        let mut listeners = self.listeners.lock().await;
        let mut broadcast = Vec::new();
        let mut received = Vec::new();
        for listener in listeners.iter_mut() {
            // The hub answers a ping after everything it sent before, so this is all so far.
            let data: Vec<Value> = listener
                .client
                .drain_data()
                .await
                .into_iter()
                .map(decoded)
                .collect();
            match &listener.user {
                None => broadcast.extend(data),
                Some(user) => received.push((user.clone(), data)),
            }
        }
        let mut all: Vec<Push> = broadcast
            .iter()
            .map(|data| Push {
                action: "sendToAll".to_owned(),
                user_id: None,
                data: data.clone(),
            })
            .collect();
        for (user, data) in received {
            let mut shared = broadcast.clone();
            for data in data {
                if let Some(i) = shared.iter().position(|b| *b == data) {
                    shared.remove(i);
                    continue;
                }
                all.push(Push {
                    action: "sendToUser".to_owned(),
                    user_id: Some(user.clone()),
                    data,
                });
            }
        }
        all
    }

    /// Every document of a container (system properties included).
    pub async fn all(&self, container: &str) -> Vec<Value> {
        self.store
            .query(container, None, &cosmospark::store::Query::new())
            .await
            .expect("query")
    }
}

/// A message's `data`: JSON text decoded.
fn decoded(data: Value) -> Value {
    match data {
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        other => other,
    }
}

/// Parses `Outputs.actions` into pushes (`data` decoded from its JSON string).
pub fn pushes(actions: &Value) -> Vec<Push> {
    actions
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| Push {
                    action: a["actionName"].as_str().unwrap_or_default().to_owned(),
                    user_id: a["userId"].as_str().map(str::to_owned),
                    data: a["data"]
                        .as_str()
                        .and_then(|d| serde_json::from_str(d).ok())
                        .unwrap_or(Value::Null),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A profile body at a position.
pub fn profile(name: &str, latitude: f64, longitude: f64) -> String {
    json!({"name": name, "position": {"latitude": latitude, "longitude": longitude}}).to_string()
}

/// Creates a user through `CreateUser`, with a Web PubSub listener for them first.
pub async fn sign_up(game: &Game, id: &str, name: &str, latitude: f64, longitude: f64) {
    game.listen(Some(id)).await;
    let reply = game
        .http(
            "CreateUser",
            "POST",
            "/api/user",
            &Who::user(id),
            Some(&profile(name, latitude, longitude)),
        )
        .await;
    assert_eq!(reply.status, 200, "sign up {id}: {:?}", reply.body);
}

/// `user`'s tasks of the pinned round through `GetAllTasksByUserId` (assigned on first read).
pub async fn tasks(game: &Game, user: &str) -> Reply {
    let (start, end) = current_window();
    game.http(
        "GetAllTasksByUserId",
        "GET",
        &format!("/api/tasks/users/{user}/timestamp/{start}/{end}"),
        &Who::user(user),
        None,
    )
    .await
}

/// Sends a chat message through `CreateChat`.
pub async fn say(game: &Game, from: &str, to: &str, text: &str) -> Reply {
    let body = json!({"toUserId": to, "content": text}).to_string();
    game.http(
        "CreateChat",
        "POST",
        "/api/chat",
        &Who::user(from),
        Some(&body),
    )
    .await
}

/// The games' pinned clock: mid-round, so every test stays inside one round.
pub fn fixed_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-24T12:30:00Z")
        .expect("timestamp")
        .with_timezone(&chrono::Utc)
}

/// The pinned round's window as route values (seconds).
pub fn current_window() -> (i64, i64) {
    let now = fixed_now().timestamp();
    let start = now - now.rem_euclid(3600);
    (start, start + 3600)
}

/// A Web PubSub service on loopback (the local platform's hub, REST token API included) and app
/// settings that name it with a connection string, as `cosmospark dev` does.
pub async fn loopback_hub() -> (Settings, Hub) {
    let hub = Hub::new(AccessKey::generate(), HubConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let router = cosmospark::devhost::webpubsub::router(hub.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let connection = hub.key().connection_string(&endpoint);
    let settings =
        Settings::from_lookup(|name| (name == "WebPubSubConnection").then(|| connection.clone()))
            .unwrap();
    (settings, hub)
}
