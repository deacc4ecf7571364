//! Helpers for in-process game tests: the app over a temporary embedded store, driven only
//! through `FunctionApp::router()` with the envelopes the local platform builds
//! (`cosmospark::devhost::envelope`); a principal builder; and a step-wise event pump (change
//! feed → relay functions → Event Grid subscribers) that records every Web PubSub action.
//! The pump reads the relays and subscribers the way the platform does (`FeedTrigger` from
//! `functions/*/function.json`, `Topic::load` from `infra/eventgrid-subscriptions.json`), so it
//! cannot drift from the app's manifest.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use cosmospark::app::services::{Settings, ensure_containers};
use cosmospark::app::{AppServices, function_app};
use cosmospark::devhost::cosmos_trigger::FeedTrigger;
use cosmospark::devhost::envelope::{self, Envelope, HttpParts};
use cosmospark::devhost::event_grid::{Subscription, Topic};
use cosmospark::devhost::webpubsub::{AccessKey, Hub, HubConfig};
use cosmospark::runtime::Direction;
use cosmospark::runtime::manifest::{BindingKind, Manifest};
use cosmospark::runtime::outputs::HttpResponseData;
use cosmospark::runtime::{ClientPrincipal, InvocationResponse};
use cosmospark::store::embedded::EmbeddedStore;
use cosmospark::store::{ChangeFeedRequest, ChangeFeedStart, Store};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tower::ServiceExt;

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
        let (id, roles) = match self {
            Who::Anonymous => return None,
            Who::Malformed => return Some("not base64 at all!".to_owned()),
            Who::User(id) => (id, vec!["anonymous", "authenticated"]),
            Who::Admin(id) => (id, vec!["anonymous", "authenticated", "admin"]),
        };
        Some(
            ClientPrincipal {
                identity_provider: "github".into(),
                user_id: id.clone(),
                user_details: format!("{id}-gh"),
                user_roles: roles.into_iter().map(str::to_owned).collect(),
            }
            .encode(),
        )
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

/// A Web PubSub action a function asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    pub action: String,
    pub user_id: Option<String>,
    pub data: Value,
}

/// A change-feed relay to Event Grid, as declared in its function.json.
#[derive(Debug, Clone)]
pub struct Relay {
    pub trigger: FeedTrigger,
    /// The name of its `eventGrid` output binding.
    pub output: String,
}

pub struct Game {
    pub router: Router,
    pub services: AppServices,
    pub store: Store,
    continuations: Mutex<HashMap<String, String>>,
    relays: Vec<Relay>,
    subscriptions: Vec<Subscription>,
    manifest: Manifest,
    _dir: tempfile::TempDir,
}

impl Game {
    pub async fn new() -> Arc<Self> {
        Self::with_settings(Settings::default()).await
    }

    /// A game whose services read `settings` (e.g. an Azure Maps endpoint).
    pub async fn with_settings(settings: Settings) -> Arc<Self> {
        cosmospark::runtime::init_tracing();
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Store = Arc::new(EmbeddedStore::open(dir.path()).await.expect("store"));
        ensure_containers(&store).await.expect("containers");
        let services = AppServices::with_store(store.clone(), settings)
            .expect("services")
            .with_clock(Arc::new(fixed_now));
        let router = function_app(services.clone()).expect("registry").router();
        let manifest = Manifest::load(&super::repo()).expect("the app's manifest");
        let relays = manifest
            .functions
            .iter()
            .filter(|f| !f.disabled)
            .filter_map(|function| {
                let trigger = FeedTrigger::of(function).expect("a valid cosmosDBTrigger")?;
                let output = function.bindings.iter().find(|b| {
                    matches!(b.direction, Direction::Out)
                        && matches!(b.kind, BindingKind::EventGrid { .. })
                })?;
                Some(Relay {
                    trigger,
                    output: output.name.clone(),
                })
            })
            .collect();
        let topic = Topic::load(&super::repo(), &manifest, store.clone()).expect("subscriptions");
        Arc::new(Self {
            router,
            services,
            store,
            continuations: Mutex::new(HashMap::new()),
            relays,
            subscriptions: topic.subscriptions().to_vec(),
            manifest,
            _dir: dir,
        })
    }

    /// The change-feed relays to Event Grid, from the function.json files.
    pub fn relays(&self) -> &[Relay] {
        &self.relays
    }

    /// POSTs an envelope to `/{function}`; returns the invocation status and JSON answer.
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
        let binding = self
            .manifest
            .function(function)
            .and_then(|f| f.trigger())
            .map_or_else(|| "req".to_owned(), |t| t.name.clone());
        let mut envelope = envelope::http(function, &binding, &parts);
        if let Value::Object(extra) = extra_data {
            for (name, value) in extra {
                envelope = envelope.with_data(&name, value);
            }
        }
        let (invocation_status, answer) = self.invoke(function, envelope.to_json()).await;
        let response = InvocationResponse::from_slice(answer.to_string().as_bytes()).ok();
        let outputs = response
            .as_ref()
            .map(|r| Value::Object(r.outputs.clone()))
            .unwrap_or(Value::Null);
        let http: Option<HttpResponseData> = response
            .as_ref()
            .and_then(|r| r.outputs.get("res"))
            .and_then(|res| HttpResponseData::from_value("Outputs.res", res).ok());
        let text = http
            .as_ref()
            .and_then(|h| h.body.clone())
            .unwrap_or_default();
        Reply {
            invocation_status,
            status: http.as_ref().map_or(0, |h| h.status_code),
            headers: http.as_ref().map_or(Value::Null, |h| json!(h.headers)),
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            outputs,
            logs: answer["Logs"].clone(),
        }
    }

    /// Sends one Event Grid event to `function`; returns its Web PubSub actions.
    pub async fn deliver(&self, function: &str, event: &Value) -> Vec<Push> {
        let binding = self.trigger_binding(function);
        let envelope = envelope::event_grid(function, &binding, event);
        let (status, answer) = self.invoke(function, envelope.to_json()).await;
        assert_eq!(status, 200, "{function} failed: {answer}");
        pushes(&answer["Outputs"]["actions"])
    }

    /// The name of `function`'s trigger binding.
    fn trigger_binding(&self, function: &str) -> String {
        self.manifest
            .function(function)
            .and_then(|f| f.trigger())
            .map(|t| t.name.clone())
            .unwrap_or_else(|| panic!("`{function}` has no function.json with a trigger"))
    }

    /// Every subscriber of `event_type`, by the subscriptions file (as the topic matches it).
    pub fn subscribers(&self, event_type: &str) -> Vec<String> {
        self.subscriptions
            .iter()
            .filter(|s| {
                s.event_types
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(event_type))
            })
            .map(|s| s.function.clone())
            .collect()
    }

    /// Reads new changes of `container` and runs them through the relay `function`; returns
    /// the events it published.
    pub async fn relay(&self, function: &str, container: &str) -> Vec<Value> {
        let relay = self
            .relays
            .iter()
            .find(|r| r.trigger.function == function && r.trigger.container == container)
            .unwrap_or_else(|| panic!("no relay `{function}` on `{container}` in the manifest"));
        let mut continuations = self.continuations.lock().await;
        let start = match continuations.get(container) {
            Some(c) => ChangeFeedStart::Continuation(c.clone()),
            None => relay.trigger.start.clone(),
        };
        let page = self
            .store
            .read_change_feed(container, &ChangeFeedRequest::new(start).max_items(1000))
            .await
            .expect("change feed");
        continuations.insert(container.to_owned(), page.continuation.clone());
        drop(continuations);
        if page.items.is_empty() {
            return Vec::new();
        }
        let envelope = Envelope::new(function).with_data(
            &relay.trigger.binding,
            envelope::cosmos_documents(&page.items),
        );
        let (status, answer) = self.invoke(function, envelope.to_json()).await;
        assert_eq!(status, 200, "{function} failed: {answer}");
        answer["Outputs"][relay.output.as_str()]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Runs the event pipeline until nothing changes; returns every event relayed and every
    /// push made, in order.
    pub async fn pump(&self) -> (Vec<Value>, Vec<Push>) {
        let mut all_events = Vec::new();
        let mut all_pushes = Vec::new();
        for _ in 0..20 {
            let mut events = Vec::new();
            for relay in &self.relays {
                events.extend(
                    self.relay(&relay.trigger.function, &relay.trigger.container)
                        .await,
                );
            }
            if events.is_empty() {
                return (all_events, all_pushes);
            }
            for event in &events {
                let event_type = event["eventType"].as_str().unwrap_or_default().to_owned();
                for subscriber in self.subscribers(&event_type) {
                    all_pushes.extend(self.deliver(&subscriber, event).await);
                }
            }
            all_events.extend(events);
        }
        panic!("the event pipeline did not settle");
    }

    /// Every document of a container (system properties included).
    pub async fn all(&self, container: &str) -> Vec<Value> {
        self.store
            .query(container, None, &cosmospark::store::Query::new())
            .await
            .expect("query")
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

/// Creates a user through `CreateUser`.
pub async fn sign_up(game: &Game, id: &str, name: &str, latitude: f64, longitude: f64) {
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
