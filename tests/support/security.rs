//! Shared by the security tests: the whole app twice — as `serve` sees it (host envelopes
//! through `FunctionApp::router()`, [`Serve`]) and as `cosmospark dev` serves it (the local
//! platform's router with Static Web Apps in front, in-process, [`Dev`]) — plus callers, route
//! paths generated from the function manifest, and per-route fixtures.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use cosmospark::app::services::Settings;
use cosmospark::app::{AppServices, function_app};
use cosmospark::runtime::manifest::{BindingKind, Manifest};
use cosmospark::store::Store;
use serde_json::{Value, json};

use super::game::Game;
use super::platform::Running;

pub const HOST: &str = "localhost:7071";

pub use super::game::{current_window as window, fixed_now};
pub use super::repo;

pub use super::principal;

/// An answer: status, headers, body (JSON when it parses, else a string).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Value,
    pub body: Value,
}

impl Answer {
    pub fn field(&self) -> Option<&str> {
        self.body["field"]
            .as_str()
            .or(self.body["error"]["field"].as_str())
    }
}

/// One HTTP request, before it is sent either way.
#[derive(Debug, Clone)]
pub struct Call {
    pub function: String,
    pub method: String,
    /// Path and query, e.g. `/api/user/me`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Call {
    pub fn new(function: &str, method: &str, path: &str) -> Self {
        Self {
            function: function.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            headers: vec![("Host".into(), HOST.into())],
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn json(self, body: &str) -> Self {
        self.raw("application/json", body.as_bytes())
    }

    pub fn raw(mut self, content_type: &str, body: &[u8]) -> Self {
        self.body = Some(body.to_vec());
        self.header("Content-Type", content_type)
    }

    pub fn by(self, principal: Option<&str>) -> Self {
        match principal {
            Some(p) => self.header("x-ms-client-principal", p),
            None => self,
        }
    }
}

/// The app as the Functions host drives `serve`: one envelope per request; the event pipeline
/// runs on the local platform of the game harness ([`Game`]).
pub struct Serve {
    pub game: Arc<Game>,
    pub router: Router,
    pub store: Store,
}

impl Serve {
    pub async fn new() -> Self {
        let (settings, _hub) = super::game::loopback_hub().await;
        let game = Game::with_settings(settings).await;
        Self {
            router: game.router.clone(),
            store: game.store.clone(),
            game,
        }
    }

    /// Sends `call` as the host would: `POST /{function}` with the request in `Data.req`.
    pub async fn send(&self, call: &Call) -> Answer {
        let mut headers = serde_json::Map::new();
        for (name, value) in &call.headers {
            headers.insert(name.clone(), json!([value]));
        }
        let (_, query) = call.path.split_once('?').unwrap_or((&call.path, ""));
        let query: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        let mut req = json!({
            "Url": format!("http://{HOST}{}", call.path),
            "Method": call.method,
            "Query": query,
            "Headers": headers,
            "Params": {},
            "Identities": [],
        });
        if let Some(body) = &call.body {
            // The host hands text bodies over as strings (it decodes them itself).
            req["Body"] = Value::String(String::from_utf8_lossy(body).into_owned());
        }
        let envelope =
            json!({"Data": {"req": req}, "Metadata": {"sys": {"MethodName": call.function}}});
        let (invocation, answer) = self.game.invoke(&call.function, envelope).await;
        assert_eq!(
            invocation, 200,
            "{} invocation failed: {answer}",
            call.function
        );
        let res = &answer["Outputs"]["res"];
        let text = res["body"].as_str().unwrap_or("");
        Answer {
            status: res["statusCode"].as_u64().unwrap_or(0) as u16,
            headers: res["headers"].clone(),
            body: serde_json::from_str(text).unwrap_or(Value::String(text.to_owned())),
        }
    }
}

/// `cosmospark dev` in-process: the platform's router (Web PubSub, `/_devhost`, Static Web Apps
/// in front of the functions) with its triggers running.
pub struct Dev {
    pub running: Running,
}

impl Dev {
    pub async fn start() -> Self {
        let (settings, _hub) = super::game::loopback_hub().await;
        let running = Running::start_with(&repo(), |store, _key| {
            let services = AppServices::with_store(store, settings)
                .map_err(|e| e.to_string())?
                .with_clock(Arc::new(fixed_now));
            function_app(services).map_err(|e| e.to_string())
        })
        .await;
        Self { running }
    }

    pub fn data_dir(&self) -> &Path {
        &self.running.platform.data_dir
    }

    pub async fn send(&self, call: &Call) -> Answer {
        let mut request = Request::builder()
            .method(call.method.as_str())
            .uri(&call.path);
        for (name, value) in &call.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let body = call
            .body
            .clone()
            .map(Body::from)
            .unwrap_or_else(Body::empty);
        let (status, headers, text) = self
            .running
            .call(request.body(body).expect("request"))
            .await;
        Answer {
            status: status.as_u16(),
            headers: headers_json(&headers),
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }
}

fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        map.insert(
            name.as_str().to_owned(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    Value::Object(map)
}

/// An HTTP function of the manifest: name, methods (upper case) and route template.
#[derive(Debug, Clone)]
pub struct HttpFunction {
    pub name: String,
    pub methods: Vec<String>,
    pub route: String,
}

/// Every HTTP function declared under `functions/`.
pub fn http_functions() -> Vec<HttpFunction> {
    let manifest = Manifest::load(&repo()).expect("manifest");
    manifest
        .functions
        .iter()
        .filter_map(|f| match f.trigger().map(|t| &t.kind) {
            Some(BindingKind::HttpTrigger { methods, route, .. }) => Some(HttpFunction {
                name: f.name.clone(),
                methods: methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
                route: route.text().to_owned(),
            }),
            _ => None,
        })
        .collect()
}

/// The world the routes act on: user `me` (the owner), `you`, and a chat and task of `me`.
#[derive(Debug, Clone)]
pub struct World {
    pub chat: String,
    pub task: String,
}

/// `/api/<route>` with every parameter filled for acting on `me`'s data.
pub fn fill(route: &str, world: &World) -> String {
    let (start, end) = window();
    let filled: Vec<String> = route
        .split('/')
        .map(|segment| {
            let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                return segment.to_owned();
            };
            let name = inner
                .split([':', '='])
                .next()
                .unwrap_or(inner)
                .trim_end_matches('?');
            match name.to_ascii_lowercase().as_str() {
                "userid" => "me".to_owned(),
                "chatid" => world.chat.clone(),
                "taskid" => world.task.clone(),
                "starttimestamp" => start.to_string(),
                "endtimestamp" => end.to_string(),
                "latitude" => "12.97".to_owned(),
                "longitude" => "77.59".to_owned(),
                "countrycode" | "code" => "IN".to_owned(),
                "model" => "all".to_owned(),
                other => panic!("route {route}: no fixture value for parameter {other}"),
            }
        })
        .collect();
    format!("/api/{}", filled.join("/"))
}

/// A valid request body for each state-changing function, acting for `me`.
pub fn body_for(function: &str) -> Option<String> {
    Some(
        match function {
            "CreateUser" => json!({"id": "me", "name": "Me", "position": {"latitude": 12.97, "longitude": 77.59}}),
            "CreateChat" => json!({"senderId": "me", "toUserId": "you", "content": "hi"}),
            "CreateTask" => json!({
                "id": "admin-task-1", "userId": "me", "userName": "Me",
                "taskDetail": {"userId": "you", "userName": "You"}, "isCompleted": false
            }),
            "CreateScore" => json!({"id": "bonus-1", "user": {"id": "me", "name": "Me"}, "score": 5}),
            "CommandInsert" => json!({"Data": {"kind": "note", "text": "hello"}}),
            "CompleteTask" => json!({}),
            _ => return None,
        }
        .to_string(),
    )
}

/// Extra query for a function's fixture.
pub fn query_for(function: &str) -> &'static str {
    match function {
        "QueryGet" => "?id=unknown1",
        _ => "",
    }
}

/// The request for `function` acting on `me`'s data, without a caller: its state-changing
/// method where it has one (`RebuildReadModel` also answers `GET` with its job's status).
pub fn call_for(function: &HttpFunction, world: &World) -> Call {
    let method = function
        .methods
        .iter()
        .find(|m| !matches!(m.as_str(), "GET" | "HEAD" | "OPTIONS"))
        .or_else(|| function.methods.first())
        .cloned()
        .unwrap_or_else(|| "GET".to_owned());
    let path = format!(
        "{}{}",
        fill(&function.route, world),
        query_for(&function.name)
    );
    let call = Call::new(&function.name, &method, &path);
    match body_for(&function.name) {
        Some(body) => call.json(&body),
        None => call,
    }
}
