//! The local dashboard at `/_devhost/` (behind the admin guard of [`super::admin`]): one page
//! embedded in the binary (HTML, script and stylesheet, no other origin) and the JSON it reads —
//! per-function figures, trigger lag with its history, the latest traces, the Web PubSub
//! clients and groups — pushed live as Server-Sent Events (`/_devhost/api/stream`). Dead
//! letters come from the existing list and replay routes.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::Stream;
use serde::Serialize;
use serde_json::{Value, json};

use super::server::Platform;
use super::telemetry::{FunctionStats, LagView, Trace};

const PAGE: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("dashboard.js");
const STYLES: &str = include_str!("dashboard.css");
const ICON: &str = include_str!("favicon.svg");

/// Traces the page shows.
const TRACES: usize = 20;
/// The most traces `GET /api/traces?limit=` returns.
const MAX_TRACES: usize = 200;
/// A live view sends at most one update per this period.
const THROTTLE: Duration = Duration::from_millis(250);
/// Only this page's own files, and requests to this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
    img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes, to be nested under `/_devhost` behind the admin guard (`/_devhost`
/// itself redirects to the page at `/_devhost/`).
pub fn routes() -> Router<Platform> {
    Router::new()
        .route("/", get(|| async { Redirect::permanent("/_devhost/") }))
        .route("/dashboard.js", get(script))
        .route("/dashboard.css", get(styles))
        .route(
            "/favicon.svg",
            get(|| async { asset("image/svg+xml", ICON) }),
        )
        .route("/api/functions", get(functions))
        .route("/api/triggers", get(triggers))
        .route("/api/traces", get(traces))
        .route("/api/hub", get(hub))
        .route("/api/snapshot", get(snapshot))
        .route("/api/stream", get(stream))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The page (served at `/_devhost/` by [`super::admin::dashboard_page`]).
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn styles() -> Response {
    asset("text/css; charset=utf-8", STYLES)
}

/// One function's figures and its trigger's binding type.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionRow {
    #[serde(flatten)]
    stats: FunctionStats,
    trigger: Option<&'static str>,
}

fn function_rows(platform: &Platform) -> Vec<FunctionRow> {
    let manifest = &platform.manifest;
    platform
        .invoker
        .recorder()
        .functions(manifest.functions.iter().map(|f| f.name.as_str()))
        .into_iter()
        .map(|stats| FunctionRow {
            trigger: manifest
                .function(&stats.function)
                .and_then(|f| f.trigger())
                .map(|t| t.kind.type_name()),
            stats,
        })
        .collect()
}

/// The connections and groups of one hub.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HubView {
    hub: String,
    connections: Vec<ConnectionView>,
    groups: Vec<GroupView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionView {
    connection_id: String,
    user_id: Option<String>,
    groups: Vec<String>,
    /// False while a dropped reliable connection waits to be recovered.
    attached: bool,
}

#[derive(Debug, Serialize)]
struct GroupView {
    group: String,
    connections: usize,
}

/// The hubs the app declares (`webPubSub` outputs and `webPubSubConnection` inputs) and any
/// other hub clients connected to.
fn hub_views(platform: &Platform) -> Vec<HubView> {
    let mut names = super::webpubsub::declared_hubs(&platform.manifest);
    for hub in platform.pubsub.hubs() {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&hub)) {
            names.push(hub);
        }
    }
    names.sort_by_key(|n| n.to_ascii_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    names
        .into_iter()
        .map(|hub| {
            let connections = platform.pubsub.connections(&hub);
            let mut groups: Vec<GroupView> = Vec::new();
            for group in connections.iter().flat_map(|c| c.groups.iter()) {
                match groups.iter_mut().find(|g| &g.group == group) {
                    Some(g) => g.connections += 1,
                    None => groups.push(GroupView {
                        group: group.clone(),
                        connections: 1,
                    }),
                }
            }
            groups.sort_by(|a, b| a.group.cmp(&b.group));
            HubView {
                hub,
                connections: connections
                    .into_iter()
                    .map(|c| ConnectionView {
                        connection_id: c.connection_id,
                        user_id: c.user_id,
                        groups: c.groups,
                        attached: c.attached,
                    })
                    .collect(),
                groups,
            }
        })
        .collect()
}

fn lag_view(platform: &Platform) -> LagView {
    platform.lag().view()
}

fn trace_list(platform: &Platform, limit: usize) -> Vec<Trace> {
    platform.invoker.recorder().traces(limit)
}

/// Everything the page shows, at once.
async fn snapshot_of(platform: &Platform) -> Value {
    let dead_letters = match platform.dead_letters.entries().await {
        Ok(entries) => json!(entries),
        Err(error) => json!({ "error": error.to_string() }),
    };
    json!({
        "functions": function_rows(platform),
        "triggers": lag_view(platform),
        "traces": trace_list(platform, TRACES),
        "hubs": hub_views(platform),
        "deadLetters": dead_letters,
    })
}

/// `GET /_devhost/api/functions`: every function with its invocations, failures and p50/p99.
async fn functions(State(platform): State<Platform>) -> Json<Vec<FunctionRow>> {
    Json(function_rows(&platform))
}

/// `GET /_devhost/api/triggers`: each trigger's latest backlog and lag, with their history.
async fn triggers(State(platform): State<Platform>) -> Json<LagView> {
    Json(lag_view(&platform))
}

#[derive(serde::Deserialize)]
struct TraceParams {
    limit: Option<String>,
}

/// `GET /_devhost/api/traces?limit=N` (default 20, at most 200): the traces that ended last.
async fn traces(State(platform): State<Platform>, Query(params): Query<TraceParams>) -> Response {
    let limit = match params.limit.as_deref().map(str::parse::<usize>) {
        None => TRACES,
        Some(Ok(n)) if (1..=MAX_TRACES).contains(&n) => n,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": format!("limit must be a whole number from 1 to {MAX_TRACES}")
                })),
            )
                .into_response();
        }
    };
    Json(trace_list(&platform, limit)).into_response()
}

/// `GET /_devhost/api/hub`: the Web PubSub clients and groups of every hub.
async fn hub(State(platform): State<Platform>) -> Json<Vec<HubView>> {
    Json(hub_views(&platform))
}

/// `GET /_devhost/api/snapshot`: functions, triggers, traces, hubs and dead letters.
async fn snapshot(State(platform): State<Platform>) -> Json<Value> {
    Json(snapshot_of(&platform).await)
}

/// `GET /_devhost/api/stream`: a `snapshot` event now, then one after each invocation or lag
/// sample (at most one per [`THROTTLE`]); the stream ends when the platform stops.
async fn stream(
    State(platform): State<Platform>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let live = Live {
        first: true,
        invocations: platform.invoker.recorder().subscribe(),
        samples: platform.lag().subscribe(),
        closed: platform.lag().closed(),
        platform,
    };
    let updates = futures::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok(event), live))
    });
    Sse::new(updates).keep_alive(KeepAlive::default())
}

/// One live view's position: what it has seen, and when to stop.
struct Live {
    first: bool,
    invocations: tokio::sync::watch::Receiver<u64>,
    samples: tokio::sync::watch::Receiver<u64>,
    closed: tokio_util::sync::CancellationToken,
    platform: Platform,
}

impl Live {
    /// The next snapshot, once something changed; `None` once the platform stops.
    async fn next(&mut self) -> Option<Event> {
        if !std::mem::take(&mut self.first) {
            tokio::select! {
                () = self.closed.cancelled() => return None,
                changed = self.invocations.changed() => changed.ok()?,
                changed = self.samples.changed() => changed.ok()?,
            }
            tokio::select! {
                () = self.closed.cancelled() => return None,
                () = tokio::time::sleep(THROTTLE) => {}
            }
        }
        self.invocations.borrow_and_update();
        self.samples.borrow_and_update();
        let data = snapshot_of(&self.platform).await;
        Some(
            Event::default()
                .event("snapshot")
                .json_data(data)
                .unwrap_or_else(|error| Event::default().event("error").data(error.to_string())),
        )
    }
}
