//! `cosmospark dev`: opens the data directory, builds the platform (store, topic, hubs, Web
//! PubSub, dead letters) around the app's `FunctionApp`, serves everything on one port and owns
//! every background task: change-feed followers, Event Grid dispatcher, Event Hubs processors
//! and timers. SIGTERM / Ctrl-C stops accepting work, lets in-flight invocations finish, then
//! stops the pollers.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::containers::{Containers, ContainersError};
use super::cosmos_trigger::{self, FeedTrigger, FeedTriggerError};
use super::data_dir::DataDirLock;
use super::dead_letter::{DeadLetterError, DeadLetters};
use super::envelope::Envelope;
use super::event_grid::{self, Redelivery, Topic, TopicError};
use super::event_hubs::{self, DEFAULT_MAX_BATCH, EventHubs, HubTrigger};
use super::invoke::{InvokeError, Invoker};
use super::notify::WriteSignal;
use super::outputs::OutputSinks;
use super::replay::{ReplayError, replay};
use super::swa::{self, SwaError, SwaOptions};
use super::timer::{SystemClock, TimerError, TimerFunction, TimerScheduler};
use super::webpubsub::{self, AccessKey, Hub, HubConfig, KeyError};
use super::{retry_policy, run_with_policy};
use crate::runtime::FunctionApp;
use crate::runtime::manifest::{BindingKind, Manifest, ManifestError};
use crate::store::{PartitionKey, Store, StoreConfig, StoreError, open_store};

/// Options of `cosmospark dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The app root: `host.json`, `functions/`, `infra/`, `web/`.
    pub root: PathBuf,
    pub data_dir: PathBuf,
    pub host: IpAddr,
    pub port: u16,
    pub reset: bool,
    pub redelivery: Redelivery,
    pub hub_partitions: u32,
    /// How long the local Event Hubs keep events (trimmed behind every consumer's checkpoint).
    pub hub_retention: std::time::Duration,
    /// The longest SIGTERM may take: HTTP drain plus in-flight invocations.
    pub shutdown_grace: std::time::Duration,
}

/// The default bound on shutdown: the .NET generic host's `HostOptions.ShutdownTimeout`
/// default (30 s), which the Functions host runs under.
pub const DEFAULT_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("manifest: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Manifest(Vec<ManifestError>),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "data directory {0} is in use by another `cosmospark dev` (its lock file is held); stop it first"
    )]
    Locked(PathBuf),
    #[error("store: {0} (is another `cosmospark dev` using this data directory?)")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Containers(#[from] ContainersError),
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error(transparent)]
    FeedTrigger(#[from] FeedTriggerError),
    #[error(transparent)]
    Timer(#[from] TimerError),
    #[error("Web PubSub key: {0}")]
    Key(#[from] KeyError),
    #[error("Static Web Apps: {0}")]
    Swa(#[from] SwaError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("the app: {0}")]
    App(String),
}

/// The platform's parts, shared by the server, the background tasks and the CLI tools.
#[derive(Clone)]
pub struct Platform {
    pub root: PathBuf,
    pub data_dir: PathBuf,
    pub manifest: Arc<Manifest>,
    pub store: Store,
    pub signal: WriteSignal,
    pub invoker: Invoker,
    pub dead_letters: DeadLetters,
    pub pubsub: Hub,
    redelivery: Redelivery,
    hub_retention: std::time::Duration,
    /// Held for as long as any clone of the platform lives.
    _lock: Arc<DataDirLock>,
}

impl Platform {
    /// Opens the data directory and builds every part; `app` is the app's registry, the same
    /// one `serve` uses.
    pub async fn open(options: &DevOptions, app: FunctionApp) -> Result<Self, DevError> {
        Self::open_with(options, |_| Ok(app)).await
    }

    /// As [`Platform::open`], building the app over the platform's store, so the app's
    /// functions write where the change feed, topic and hubs look.
    pub async fn open_with(
        options: &DevOptions,
        make_app: impl FnOnce(Store) -> Result<FunctionApp, String>,
    ) -> Result<Self, DevError> {
        let data_dir = options.data_dir.clone();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| DevError::DataDir { path, source }
        };
        std::fs::create_dir_all(&data_dir).map_err(io(&data_dir))?;
        // The lock comes first: a reset must never delete the store of a running instance.
        let lock = DataDirLock::acquire(&data_dir)?;
        if options.reset {
            lock.clear()?;
        }
        let manifest = Arc::new(Manifest::load(&options.root).map_err(DevError::Manifest)?);
        let store = open_store(&StoreConfig::Embedded {
            dir: data_dir.join("store"),
        })
        .await?;
        let signal = WriteSignal::of(&store);
        let app = make_app(store.clone())
            .map_err(DevError::App)?
            .with_route_prefix(&manifest.host.route_prefix);
        let problems = crate::runtime::manifest::check(&manifest, &app, env!("CARGO_PKG_NAME"));
        for problem in &problems {
            tracing::warn!("check: {problem}");
        }
        let containers = Containers::load(&options.root)?;
        containers.ensure_all(&store).await?;
        let topic = Topic::load(&options.root, &manifest, store.clone())?;
        let hubs = EventHubs::new(store.clone(), options.hub_partitions);
        let key = AccessKey::load_or_generate(&data_dir.join("webpubsub.key"))?;
        let pubsub = Hub::new(key, HubConfig::default());
        let sinks = OutputSinks {
            store: store.clone(),
            containers,
            topic,
            hubs,
            pubsub: pubsub.clone(),
        };
        let invoker = Invoker::new(app.router(), Arc::clone(&manifest), sinks);
        Ok(Self {
            root: options.root.clone(),
            dead_letters: DeadLetters::new(&data_dir),
            data_dir,
            manifest,
            store,
            signal,
            invoker,
            pubsub,
            redelivery: options.redelivery,
            hub_retention: options.hub_retention,
            _lock: Arc::new(lock),
        })
    }

    /// Everything on one port: the Web PubSub hub, the platform's `/_devhost` tools, and
    /// Static Web Apps (site + `/.auth`) in front of the HTTP functions under `/api`.
    pub fn router(&self) -> Result<Router, DevError> {
        let api = super::http::router(&self.manifest, self.invoker.clone(), self.pubsub.clone());
        let site = self.site_root()?;
        let swa = swa::router(site, api, SwaOptions::with_secret(&self.cookie_secret()?)?)?;
        Ok(Router::new()
            .merge(webpubsub::router(self.pubsub.clone()))
            .nest("/_devhost", admin_router(self.clone()))
            .fallback_service(swa))
    }

    fn site_root(&self) -> Result<PathBuf, DevError> {
        let web = self.root.join("web");
        if web.is_dir() {
            return Ok(web);
        }
        let site = self.data_dir.join("site");
        std::fs::create_dir_all(&site).map_err(|source| DevError::DataDir {
            path: site.clone(),
            source,
        })?;
        let prefix = &self.manifest.host.route_prefix;
        let functions: String = self
            .manifest
            .functions
            .iter()
            .map(|f| format!("<li>{} — {}</li>", f.name, describe(f, prefix)))
            .collect();
        let page = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>CosmosPark (dev)</title></head>\
             <body><h1>CosmosPark local platform</h1><p>No <code>web/</code> folder yet.</p>\
             <ul><li>API: <a href=\"/{prefix}/\">/{prefix}/</a></li>\
             <li>Web PubSub hub: <code>/client/hubs/&lt;hub&gt;</code></li>\
             <li>Sign in: <a href=\"/.auth/login/github\">/.auth/login/github</a>, \
             <a href=\"/.auth/me\">/.auth/me</a>, <a href=\"/.auth/logout\">/.auth/logout</a></li>\
             <li>Dead letters: <a href=\"/_devhost/deadletters\">/_devhost/deadletters</a></li></ul>\
             <h2>Functions</h2><ul>{functions}</ul></body></html>"
        );
        let index = site.join("index.html");
        std::fs::write(&index, page).map_err(|source| DevError::DataDir {
            path: index,
            source,
        })?;
        Ok(site)
    }

    /// 64 random bytes kept in the data directory, so sign-ins survive restarts.
    fn cookie_secret(&self) -> Result<Vec<u8>, DevError> {
        let path = self.data_dir.join("swa-cookie.key");
        if let Ok(bytes) = std::fs::read(&path)
            && bytes.len() >= 64
        {
            return Ok(bytes);
        }
        let bytes: Vec<u8> = (0..4)
            .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
            .collect();
        std::fs::write(&path, &bytes).map_err(|source| DevError::DataDir { path, source })?;
        Ok(bytes)
    }

    /// Starts every trigger on `tracker`; they stop when `cancel` fires.
    pub async fn start_triggers(
        &self,
        tracker: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Result<(), DevError> {
        let sinks = self.invoker.sinks();
        tracker.spawn(event_grid::dispatch(
            sinks.topic.clone(),
            self.invoker.clone(),
            self.dead_letters.clone(),
            self.redelivery,
            self.signal.clone(),
            cancel.clone(),
        ));
        tracker.spawn(super::hub_retention::run(
            sinks.hubs.clone(),
            super::hub_retention::hubs_of(&self.manifest),
            self.hub_retention,
            cancel.clone(),
        ));
        let max_batch = event_hubs_max_batch(&self.root);
        let mut timers = TimerScheduler::new(self.data_dir.join("timers"), Arc::new(SystemClock));
        let mut timer_count = 0;
        for function in self.manifest.functions.iter().filter(|f| !f.disabled) {
            if let Some(trigger) = FeedTrigger::of(function)? {
                let (consumer, pending) =
                    cosmos_trigger::open(self.store.clone(), &trigger).await?;
                tracker.spawn(cosmos_trigger::follow(
                    consumer,
                    pending,
                    trigger,
                    self.invoker.clone(),
                    self.dead_letters.clone(),
                    self.signal.clone(),
                    cancel.clone(),
                ));
            }
            if let Some(trigger) = HubTrigger::of(function, max_batch) {
                for partition in 0..sinks.hubs.partitions() {
                    tracker.spawn(event_hubs::process_partition(
                        sinks.hubs.clone(),
                        trigger.clone(),
                        partition,
                        self.invoker.clone(),
                        self.dead_letters.clone(),
                        self.signal.clone(),
                        cancel.clone(),
                    ));
                }
            }
            if let Some(BindingKind::TimerTrigger {
                schedule,
                run_on_startup,
                use_monitor,
            }) = function.trigger().map(|t| &t.kind)
            {
                let binding = json!({
                    "schedule": schedule,
                    "runOnStartup": run_on_startup,
                    "useMonitor": use_monitor,
                });
                timers.add(TimerFunction::from_binding(
                    &function.name,
                    &binding,
                    |key| std::env::var(key).ok(),
                )?)?;
                timer_count += 1;
            }
        }
        if timer_count > 0 {
            let invoker = self.invoker.clone();
            let cancel = cancel.clone();
            let stop = cancel.clone();
            tracker.spawn(async move {
                let run = move |name: String, payload: Value| {
                    let invoker = invoker.clone();
                    let stop = stop.clone();
                    async move { invoke_timer(&invoker, &name, payload, &stop).await }
                };
                if let Err(error) = timers.run(run, cancel).await {
                    tracing::error!(%error, "timer scheduler stopped");
                }
            });
        }
        Ok(())
    }
}

/// One timer invocation under the function's retry policy; a retry abandoned at shutdown
/// counts as done (the schedule fires again after the restart, past-due if it was missed).
async fn invoke_timer(
    invoker: &Invoker,
    name: &str,
    payload: Value,
    cancel: &CancellationToken,
) -> Result<(), InvokeError> {
    let function = invoker.manifest().function(name);
    let binding = function
        .and_then(|f| f.trigger())
        .map_or_else(|| "timer".to_owned(), |t| t.name.clone());
    let policy = function.and_then(|f| f.retry.as_ref()).map(retry_policy);
    let attempt = |retry: Option<Value>| {
        let mut envelope = Envelope::new(name).with_data(&binding, payload.clone());
        if let Some(retry) = retry {
            envelope = envelope.with_retry_context(retry);
        }
        let invoker = invoker.clone();
        async move { invoker.invoke(name, envelope, None).await.map(|_| ()) }
    };
    run_with_policy(policy.as_ref(), cancel, attempt)
        .await
        .map_or(Ok(()), |(result, _)| result)
}

/// host.json `extensions.eventHubs.maxEventBatchSize` (or the older `maxBatchSize`).
fn event_hubs_max_batch(root: &Path) -> u32 {
    let Ok(text) = std::fs::read_to_string(root.join("host.json")) else {
        return DEFAULT_MAX_BATCH;
    };
    let Ok(host) = serde_json::from_str::<Value>(&text) else {
        return DEFAULT_MAX_BATCH;
    };
    let hubs = &host["extensions"]["eventHubs"];
    hubs["maxEventBatchSize"]
        .as_u64()
        .or_else(|| hubs["maxBatchSize"].as_u64())
        .or_else(|| hubs["eventProcessorOptions"]["maxBatchSize"].as_u64())
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_BATCH)
}

fn describe(function: &crate::runtime::manifest::FunctionJson, prefix: &str) -> String {
    match function.trigger().map(|t| &t.kind) {
        Some(BindingKind::HttpTrigger { methods, route, .. }) => {
            let methods = if methods.is_empty() {
                "ANY".to_owned()
            } else {
                methods.join(",")
            };
            let route = route.clone().unwrap_or_else(|| function.name.clone());
            format!("{methods} /{prefix}/{route}")
        }
        Some(BindingKind::CosmosDbTrigger(options)) => format!(
            "change feed of {}",
            options.container_name.as_deref().unwrap_or("?")
        ),
        Some(BindingKind::EventGridTrigger) => "Event Grid subscriber".to_owned(),
        Some(BindingKind::EventHubTrigger(options)) => format!(
            "Event Hubs {}",
            options.event_hub_name.as_deref().unwrap_or("?")
        ),
        Some(BindingKind::TimerTrigger { schedule, .. }) => format!("timer {schedule}"),
        _ => "?".to_owned(),
    }
}

fn admin_router(platform: Platform) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/backlog", get(backlog))
        .route("/deadletters", get(list_dead_letters))
        .route("/deadletters/{id}/replay", post(replay_dead_letter))
        .route("/containers/{container}/items", post(upsert_item))
        .route("/containers/{container}/items/{id}", get(read_item))
        .with_state(platform)
}

fn problem(status: StatusCode, message: impl ToString) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// What the platform still has to deliver, and how big its data is: per hub partition the
/// retained range and each consumer group's checkpoint, the pending Event Grid deliveries and
/// the store file's size. Used by the soak (`benches/soak.rs`).
async fn backlog(State(platform): State<Platform>) -> Response {
    let result = async {
        let hubs = &platform.invoker.sinks().hubs;
        let mut partitions = Vec::new();
        let mut unprocessed = 0i64;
        for (hub, groups) in super::hub_retention::hubs_of(&platform.manifest) {
            for partition in 0..hubs.partitions() {
                let first = hubs.first_retained(&hub, partition).await?;
                let next = hubs.next_sequence(&hub, partition).await?;
                let mut consumers = serde_json::Map::new();
                for group in &groups {
                    let checkpoint = hubs.checkpoint(&hub, group, partition).await?;
                    unprocessed += next - 1 - checkpoint;
                    consumers.insert(group.clone(), json!(checkpoint));
                }
                partitions.push(json!({"hub": hub, "partition": partition, "first": first,
                    "next": next, "retained": next - first, "checkpoints": consumers}));
            }
        }
        let deliveries = platform
            .store
            .count(
                super::containers::EVENT_GRID_CONTAINER,
                None,
                &crate::store::Query::new(),
            )
            .await?;
        Ok::<_, super::event_hubs::HubError>(json!({
            "eventHubs": {"unprocessed": unprocessed, "partitions": partitions},
            "eventGridPending": deliveries,
            "storeBytes": dir_size(&platform.data_dir.join("store")),
        }))
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map_or(0, |m| m.len());
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
            _ => entry.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

async fn list_dead_letters(State(platform): State<Platform>) -> Response {
    match platform.dead_letters.list() {
        Ok(letters) => Json(letters).into_response(),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

async fn replay_dead_letter(
    State(platform): State<Platform>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let letter = match platform.dead_letters.get(&id) {
        Ok(letter) => letter,
        Err(DeadLetterError::NotFound(_)) => {
            return problem(
                StatusCode::NOT_FOUND,
                format!("dead letter `{id}` does not exist"),
            );
        }
        Err(error) => return problem(StatusCode::INTERNAL_SERVER_ERROR, error),
    };
    match replay(&letter, &platform.invoker, &platform.dead_letters).await {
        Ok(()) => Json(json!({ "replayed": id })).into_response(),
        Err(error) => problem(StatusCode::BAD_GATEWAY, error),
    }
}

fn store_status(error: &StoreError) -> StatusCode {
    match error {
        StoreError::NotFound(_) => StatusCode::NOT_FOUND,
        StoreError::BadRequest(_) | StoreError::TooLarge(_) => StatusCode::BAD_REQUEST,
        StoreError::Conflict(_) => StatusCode::CONFLICT,
        StoreError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Seeds or edits a document, as a data explorer would (a write that triggers the change feed).
async fn upsert_item(
    State(platform): State<Platform>,
    UrlPath(container): UrlPath<String>,
    Json(doc): Json<Value>,
) -> Response {
    let sinks = platform.invoker.sinks();
    let result = async {
        let spec = sinks.containers.spec(&container)?;
        let pk = spec.partition_key_of(&doc)?;
        platform.store.upsert(&container, &pk, doc).await
    }
    .await;
    match result {
        Ok(stored) => Json(stored).into_response(),
        Err(error) => problem(store_status(&error), error),
    }
}

#[derive(serde::Deserialize)]
struct ReadParams {
    /// The partition key value (a string); defaults to the id.
    pk: Option<String>,
}

async fn read_item(
    State(platform): State<Platform>,
    UrlPath((container, id)): UrlPath<(String, String)>,
    UrlQuery(params): UrlQuery<ReadParams>,
) -> Response {
    let pk = PartitionKey::from(params.pk.unwrap_or_else(|| id.clone()));
    match platform.store.read(&container, &pk, &id).await {
        Ok(Some(doc)) => Json(doc).into_response(),
        Ok(None) => problem(StatusCode::NOT_FOUND, format!("item `{id}` does not exist")),
        Err(error) => problem(store_status(&error), error),
    }
}

/// Runs `cosmospark dev` until SIGTERM / Ctrl-C.
pub async fn run(options: DevOptions, app: FunctionApp) -> Result<(), DevError> {
    let platform = Platform::open(&options, app).await?;
    run_platform(options, platform).await
}

/// Serves an opened platform until SIGTERM / Ctrl-C. Shutdown stops accepting connections and
/// triggers at once, lets in-flight requests and invocations finish (retry waits end at once:
/// their work stays unacknowledged and is redelivered after a restart), and returns within
/// `options.shutdown_grace`; whatever is still running then is abandoned, which is safe because
/// nothing unacknowledged was checkpointed. The data-directory lock is released on return.
pub async fn run_platform(options: DevOptions, platform: Platform) -> Result<(), DevError> {
    let router = platform.router()?;
    let addr = SocketAddr::from((options.host, options.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DevError::Bind { addr, source })?;
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    platform.start_triggers(&tracker, &cancel).await?;
    print_banner(&platform, addr);
    let stop = cancel.clone();
    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
        crate::runtime::server::shutdown_signal().await;
        stop.cancel();
    });
    let serve = tokio::spawn(async move { serve.await });
    cancel.cancelled().await;
    tracing::info!("stopping: draining HTTP and in-flight invocations");
    tracker.close();
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        let served = serve.await;
        tracker.wait().await;
        served
    })
    .await;
    match drained {
        Ok(Ok(served)) => {
            tracing::info!("stopped");
            served.map_err(DevError::Serve)
        }
        Ok(Err(join)) => Err(DevError::Serve(std::io::Error::other(join))),
        Err(_) => {
            tracing::warn!(
                grace = ?options.shutdown_grace,
                "stopped: shutdown grace expired; abandoning unfinished work (it was not acknowledged)"
            );
            Ok(())
        }
    }
}

fn print_banner(platform: &Platform, addr: SocketAddr) {
    let base = format!("http://{addr}");
    let prefix = &platform.manifest.host.route_prefix;
    let mut hubs: Vec<String> = platform
        .manifest
        .functions
        .iter()
        .flat_map(|f| f.bindings.iter())
        .filter_map(|b| match &b.kind {
            BindingKind::WebPubSub { hub: Some(hub), .. }
            | BindingKind::WebPubSubConnection { hub: Some(hub), .. } => Some(hub.clone()),
            _ => None,
        })
        .collect();
    hubs.sort();
    hubs.dedup();
    println!("CosmosPark local platform");
    println!("  Web:          {base}/");
    println!("  API:          {base}/{prefix}/");
    for hub in &hubs {
        println!("  Web PubSub:   ws://{addr}/client/hubs/{hub}");
    }
    println!("  Sign in:      {base}/.auth/login/github");
    println!("  Dead letters: {base}/_devhost/deadletters");
    println!("  Data:         {}", platform.data_dir.display());
    println!("Functions:");
    for function in &platform.manifest.functions {
        println!("  {:<24} {}", function.name, describe(function, prefix));
    }
    println!("Ready on {base} (Ctrl-C to stop)");
}
