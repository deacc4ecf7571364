//! Shared helpers for in-process game tests: the app over a temporary embedded store, driven
//! only through `FunctionApp::router()` with the host's envelopes; a principal builder; and a
//! small event pump (change feed → relay functions → Event Grid subscribers per
//! `infra/eventgrid-subscriptions.json`) that records every Web PubSub action.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use cosmospark::app::services::{Settings, ensure_containers};
use cosmospark::app::{AppServices, function_app};
use cosmospark::runtime::ClientPrincipal;
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

pub struct Game {
    pub router: Router,
    pub services: AppServices,
    pub store: Store,
    continuations: Mutex<HashMap<String, String>>,
    subscriptions: Vec<(String, Vec<String>)>,
    _dir: tempfile::TempDir,
}

pub const RELAYS: [(&str, &str); 5] = [
    ("CosmicUsersTrigger", "CosmicUsers"),
    ("CosmicChatsTrigger", "CosmicChats"),
    ("CosmicUserChatsTrigger", "CosmicUserChats"),
    ("CosmicUserTasksTrigger", "CosmicUserTasks"),
    ("CosmicLeaderboardsTrigger", "CosmicLeaderboards"),
];

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
        let file: Value =
            serde_json::from_str(include_str!("../../infra/eventgrid-subscriptions.json"))
                .expect("subscriptions file");
        let subscriptions = file["subscriptions"]
            .as_array()
            .expect("subscriptions")
            .iter()
            .map(|s| {
                let types = s["eventTypes"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                (s["function"].as_str().unwrap_or_default().to_owned(), types)
            })
            .collect();
        Arc::new(Self {
            router,
            services,
            store,
            continuations: Mutex::new(HashMap::new()),
            subscriptions,
            _dir: dir,
        })
    }

    /// POSTs an envelope to `/{function}`; returns the invocation status and JSON answer.
    pub async fn invoke(&self, function: &str, envelope: Value) -> (u16, Value) {
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
        let mut headers = json!({"Content-Type": ["application/json"], "Host": ["localhost:7071"]});
        if let Some(header) = who.header() {
            headers["x-ms-client-principal"] = json!([header]);
        }
        let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
        let query: serde_json::Map<String, Value> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        let mut req = json!({
            "Url": format!("http://localhost:7071{path}"),
            "Method": method,
            "Query": query,
            "Headers": headers,
            "Params": {},
            "Identities": [],
        });
        if let Some(body) = body {
            req["Body"] = Value::String(body.to_owned());
        }
        let _ = path_only;
        let mut data = json!({ "req": req });
        if let Value::Object(extra) = extra_data {
            for (k, v) in extra {
                data[k] = v;
            }
        }
        let envelope = json!({"Data": data, "Metadata": {"sys": {"MethodName": function, "UtcNow": chrono::Utc::now().to_rfc3339()}}});
        let (invocation_status, answer) = self.invoke(function, envelope).await;
        let res = &answer["Outputs"]["res"];
        let body_text = res["body"].as_str().or(res["Body"].as_str()).unwrap_or("");
        let body = serde_json::from_str(body_text).unwrap_or(Value::String(body_text.to_owned()));
        let status = res["statusCode"]
            .as_u64()
            .or(res["StatusCode"].as_u64())
            .or_else(|| res["statusCode"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0) as u16;
        Reply {
            invocation_status,
            status,
            headers: res["headers"].clone(),
            body,
            outputs: answer["Outputs"].clone(),
            logs: answer["Logs"].clone(),
        }
    }

    /// Sends one Event Grid event to `function`; returns its Web PubSub actions.
    pub async fn deliver(&self, function: &str, event: &Value) -> Vec<Push> {
        let envelope =
            json!({"Data": {"event": event}, "Metadata": {"sys": {"MethodName": function}}});
        let (status, answer) = self.invoke(function, envelope).await;
        assert_eq!(status, 200, "{function} failed: {answer}");
        pushes(&answer["Outputs"]["actions"])
    }

    /// Every subscriber of `event_type`, by the subscriptions file (only registered ones).
    pub fn subscribers(&self, event_type: &str) -> Vec<String> {
        self.subscriptions
            .iter()
            .filter(|(_, types)| types.iter().any(|t| t == event_type))
            .map(|(name, _)| name.clone())
            .filter(|name| name != "ScoreUpdatedPush")
            .collect()
    }

    /// Reads new changes of `container` and runs them through its relay; returns the events.
    pub async fn relay(&self, function: &str, container: &str) -> Vec<Value> {
        let mut continuations = self.continuations.lock().await;
        let start = match continuations.get(container) {
            Some(c) => ChangeFeedStart::Continuation(c.clone()),
            None => ChangeFeedStart::Beginning,
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
        let envelope = json!({"Data": {"documents": page.items}, "Metadata": {"sys": {"MethodName": function}}});
        let (status, answer) = self.invoke(function, envelope).await;
        assert_eq!(status, 200, "{function} failed: {answer}");
        answer["Outputs"]["events"]
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
            for (function, container) in RELAYS {
                events.extend(self.relay(function, container).await);
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
