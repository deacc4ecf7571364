//! `cosmospark dev`: opens the data directory, builds the platform (store, topic, hubs, Web
//! PubSub, dead letters) around the app's `FunctionApp`, serves everything on one port and owns
//! every background task: change-feed followers, Event Grid dispatcher, Event Hubs processors
//! and timers. SIGTERM / Ctrl-C stops accepting work, lets in-flight invocations finish, then
//! stops the pollers.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admin;
use super::backlog::Backlog;
use super::containers::{Containers, ContainersError};
use super::cosmos_trigger::{self, FeedTrigger, FeedTriggerError};
use super::data_dir::DataDirLock;
use super::dead_letter::{DeadLetterError, DeadLetterKind, DeadLetters, Failed};
use super::envelope::Envelope;
use super::event_grid::{self, Redelivery, Topic, TopicError};
use super::event_hubs::{self, EventHubs, HubTrigger};
use super::invoke::{InvokeError, Invoker};
use super::notify::WriteSignal;
use super::outputs::OutputSinks;
use super::replay::ReplayError;
use super::run_with_policy;
use super::swa::{self, Sessions, SwaError, SwaOptions};
use super::telemetry::TriggerLag;
use super::timer::{SystemClock, TimerError, TimerFunction, TimerScheduler};
use super::webpubsub::{self, AccessKey, Hub, HubConfig, KeyError};
use crate::runtime::FunctionApp;
use crate::runtime::manifest::{self, BindingKind, Manifest, ManifestError};
use crate::store::{Store, StoreConfig, StoreError, open_store};

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
    /// One problem per line, exactly as `cosmospark check` prints them.
    #[error("the manifest has {} problem(s):\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
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
    backlog: Backlog,
    lag: TriggerLag,
    redelivery: Redelivery,
    hub_retention: std::time::Duration,
    /// Held for as long as any clone of the platform lives.
    _lock: Arc<DataDirLock>,
}

impl Platform {
    /// Opens the data directory and builds every part; `app` is the app's registry, the same
    /// one `serve` uses.
    pub async fn open(options: &DevOptions, app: FunctionApp) -> Result<Self, DevError> {
        Self::open_with(options, |_, _| Ok(app)).await
    }

    /// As [`Platform::open`], building the app over the platform's store, so the app's
    /// functions write where the change feed, topic and hubs look, and with the Web PubSub
    /// hub's access key, so the app can call the hub's REST API.
    pub async fn open_with(
        options: &DevOptions,
        make_app: impl FnOnce(Store, &AccessKey) -> Result<FunctionApp, String>,
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
        let key = AccessKey::load_or_generate(&data_dir.join("webpubsub.key"))?;
        // Checked as built, before anything adapts it: `serve` runs the app with its own prefix.
        let app = make_app(store.clone(), &key).map_err(DevError::App)?;
        // The same verdict as `cosmospark check`: refuse what it refuses, warn where it warns.
        let refused = manifest::refusals(&manifest, &app, env!("CARGO_PKG_NAME"));
        if !refused.is_empty() {
            return Err(DevError::Manifest(refused));
        }
        for warning in manifest
            .warnings
            .iter()
            .chain(&manifest::unhandled_folders(&manifest, &app))
        {
            tracing::warn!("{warning}");
        }
        let app = app.with_route_prefix(&manifest.host.route_prefix);
        let containers = Containers::load(&options.root)?;
        containers.ensure_all(&store).await?;
        let topic = Topic::load(&options.root, &manifest, store.clone())?;
        let hubs = EventHubs::new(store.clone(), options.hub_partitions);
        let pubsub = Hub::new(key, HubConfig::default());
        let sinks = OutputSinks {
            store: store.clone(),
            containers,
            topic,
            hubs,
            pubsub: pubsub.clone(),
        };
        let invoker = Invoker::new(app.router(), Arc::clone(&manifest), sinks);
        let backlog = Backlog::new(
            &manifest,
            &invoker.sinks().topic,
            invoker.sinks().hubs.clone(),
            invoker.activity().clone(),
            signal.clone(),
            store.clone(),
        )?;
        Ok(Self {
            root: options.root.clone(),
            dead_letters: DeadLetters::new(&data_dir),
            data_dir,
            manifest,
            store,
            signal,
            invoker,
            pubsub,
            backlog,
            lag: TriggerLag::default(),
            redelivery: options.redelivery,
            hub_retention: options.hub_retention,
            _lock: Arc::new(lock),
        })
    }

    /// What every trigger still has to do, and the idle signal.
    pub fn backlog(&self) -> &Backlog {
        &self.backlog
    }

    /// Each trigger's backlog over time, sampled while the triggers run (the dashboard's).
    pub fn lag(&self) -> &TriggerLag {
        &self.lag
    }

    /// Everything on one port: the Web PubSub hub, the platform's `/_devhost` tools, and
    /// Static Web Apps (site + `/.auth`) in front of the HTTP functions under `/api`.
    pub fn router(&self) -> Result<Router, DevError> {
        let api = super::http::router(&self.manifest, self.invoker.clone(), self.pubsub.clone());
        let site = self.site_root()?;
        let options = SwaOptions::with_secret(&self.cookie_secret()?)?;
        let sessions = Sessions::new(
            options.cookie_key,
            Some(self.data_dir.join("swa-sessions-revoked.json")),
        );
        let swa = swa::router_with_sessions(site, api, sessions.clone())?;
        let router = Router::new()
            .merge(webpubsub::router(self.pubsub.clone()))
            .nest("/_devhost", admin::router(self.clone(), sessions.clone()))
            .merge(admin::dashboard_page(sessions))
            .fallback_service(swa);
        Ok(admin::known_hosts_only(router))
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

    /// 64 random bytes kept in the data directory (owner-only), so sign-ins survive restarts.
    pub fn cookie_secret(&self) -> Result<Vec<u8>, DevError> {
        let path = self.data_dir.join("swa-cookie.key");
        if let Ok(bytes) = super::private_file::read(&path)
            && bytes.len() >= 64
        {
            return Ok(bytes);
        }
        let bytes: Vec<u8> = (0..4)
            .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
            .collect();
        super::private_file::write(&path, &bytes)
            .map_err(|source| DevError::DataDir { path, source })?;
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
        tracker.spawn(super::telemetry::lag::sample(
            self.backlog.clone(),
            self.lag.clone(),
            super::telemetry::lag::SAMPLE_EVERY,
            cancel.clone(),
        ));
        tracker.spawn(super::hub_retention::run(
            sinks.hubs.clone(),
            super::hub_retention::hubs_of(&self.manifest),
            self.hub_retention,
            self.invoker.activity().clone(),
            cancel.clone(),
        ));
        let mut timers = TimerScheduler::new(self.data_dir.join("timers"), Arc::new(SystemClock));
        let mut timer_count = 0;
        for function in self.manifest.functions.iter().filter(|f| !f.disabled) {
            if let Some(trigger) = FeedTrigger::of(function)? {
                let signal = WriteSignal::of_container(&self.store, &trigger.container);
                let (consumer, pending) =
                    cosmos_trigger::open(self.store.clone(), &trigger).await?;
                tracker.spawn(cosmos_trigger::follow(
                    consumer,
                    pending,
                    trigger,
                    self.invoker.clone(),
                    self.dead_letters.clone(),
                    signal,
                    cancel.clone(),
                ));
            }
            if let Some(trigger) = HubTrigger::of(function, &self.manifest.host.event_hubs) {
                for partition in 0..sinks.hubs.partitions() {
                    tracker.spawn(event_hubs::process_partition(
                        sinks.hubs.clone(),
                        trigger.clone(),
                        partition,
                        self.invoker.clone(),
                        self.dead_letters.clone(),
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
                timers.add(TimerFunction::from_trigger(
                    &function.name,
                    schedule,
                    *run_on_startup,
                    *use_monitor,
                    |key| std::env::var(key).ok(),
                )?)?;
                timer_count += 1;
            }
        }
        if timer_count > 0 {
            let invoker = self.invoker.clone();
            let dead_letters = self.dead_letters.clone();
            let cancel = cancel.clone();
            let stop = cancel.clone();
            tracker.spawn(async move {
                let run = move |name: String, payload: Value| {
                    let (invoker, dead_letters) = (invoker.clone(), dead_letters.clone());
                    let stop = stop.clone();
                    async move {
                        invoke_timer(&invoker, &dead_letters, &name, payload, &stop).await
                    }
                };
                if let Err(error) = timers.run(run, cancel).await {
                    tracing::error!(%error, "timer scheduler stopped");
                }
            });
        }
        Ok(())
    }
}

/// One timer run under the function's retry policy; a run that still fails is dead-lettered
/// (the next occurrence runs as scheduled, as in the host) so it can be replayed. A retry
/// abandoned at shutdown counts as done (the schedule fires again after the restart, past-due
/// if it was missed).
async fn invoke_timer(
    invoker: &Invoker,
    dead_letters: &DeadLetters,
    name: &str,
    payload: Value,
    cancel: &CancellationToken,
) -> Result<(), InvokeError> {
    let function = invoker.manifest().function(name);
    let binding = function
        .and_then(|f| f.trigger())
        .map_or_else(|| "timer".to_owned(), |t| t.name.clone());
    let policy = function.and_then(|f| f.retry.clone());
    let attempt = |retry: Option<Value>| {
        let mut envelope = Envelope::new(name).with_data(&binding, payload.clone());
        if let Some(retry) = retry {
            envelope = envelope.with_retry_context(retry);
        }
        let invoker = invoker.clone();
        async move { invoker.invoke(name, envelope, None).await.map(|_| ()) }
    };
    let Some((result, attempts)) = run_with_policy(policy.as_ref(), cancel, attempt).await else {
        return Ok(());
    };
    if let Err(error) = &result
        && let Err(dead) = dead_letters.write(Failed {
            kind: DeadLetterKind::Timer,
            source: name,
            function: name,
            reason: &error.to_string(),
            attempts,
            payload,
        })
    {
        tracing::error!(error = %dead, function = name, "cannot dead-letter a failed timer run");
    }
    result
}

fn describe(function: &crate::runtime::manifest::FunctionJson, prefix: &str) -> String {
    match function.trigger().map(|t| &t.kind) {
        Some(BindingKind::HttpTrigger { methods, route, .. }) => {
            let methods = if methods.is_empty() {
                "ANY".to_owned()
            } else {
                methods.join(",")
            };
            format!("{methods} /{prefix}/{route}")
        }
        Some(BindingKind::CosmosDbTrigger(options)) => {
            format!("change feed of {}", options.container_name)
        }
        Some(BindingKind::EventGridTrigger) => "Event Grid subscriber".to_owned(),
        Some(BindingKind::EventHubTrigger(options)) => format!(
            "Event Hubs {}",
            options.event_hub_name.as_deref().unwrap_or("?")
        ),
        Some(BindingKind::TimerTrigger { schedule, .. }) => format!("timer {schedule}"),
        _ => "?".to_owned(),
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
    let addr = SocketAddr::from((options.host, options.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DevError::Bind { addr, source })?;
    serve_platform(listener, platform, options.shutdown_grace).await
}

/// Serves an opened platform on a bound `listener` until SIGTERM / Ctrl-C, as
/// [`run_platform`] does.
pub async fn serve_platform(
    listener: tokio::net::TcpListener,
    platform: Platform,
    shutdown_grace: std::time::Duration,
) -> Result<(), DevError> {
    let addr = listener.local_addr().map_err(|source| DevError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let router = platform.router()?;
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    platform.start_triggers(&tracker, &cancel).await?;
    tracker.spawn(super::lag_watch::watch(
        platform.backlog().clone(),
        super::lag_watch::Thresholds::default(),
        super::lag_watch::EVERY,
        cancel.clone(),
    ));
    print_banner(&platform, addr);
    if !addr.ip().is_loopback() {
        warn_exposed(addr);
    }
    let stop = cancel.clone();
    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
        crate::runtime::server::shutdown_signal().await;
        stop.cancel();
    });
    let serve = tokio::spawn(async move { serve.await });
    cancel.cancelled().await;
    tracing::info!("stopping: draining HTTP and in-flight invocations");
    tracker.close();
    let drained = tokio::time::timeout(shutdown_grace, async {
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
                grace = ?shutdown_grace,
                "stopped: shutdown grace expired; abandoning unfinished work (it was not acknowledged)"
            );
            Ok(())
        }
    }
}

/// `dev` is a development tool: bound beyond loopback, anyone who reaches the port can sign in
/// as anyone (the local sign-in form asks for no password) and send their own principal header.
fn warn_exposed(addr: SocketAddr) {
    let lines = [
        format!("WARNING: cosmospark dev is listening on {addr}, beyond this machine."),
        "WARNING: its sign-in is an emulation without passwords: anyone who can reach this port"
            .to_owned(),
        "WARNING: can sign in as any user or admin and read or change every document.".to_owned(),
        "WARNING: bind to 127.0.0.1 (the default) unless this network is yours alone.".to_owned(),
    ];
    for line in &lines {
        eprintln!("{line}");
        tracing::warn!("{line}");
    }
}

fn print_banner(platform: &Platform, addr: SocketAddr) {
    let base = format!("http://{addr}");
    let prefix = &platform.manifest.host.route_prefix;
    let hubs = webpubsub::declared_hubs(&platform.manifest);
    println!("CosmosPark local platform");
    println!("  Web:          {base}/");
    println!("  API:          {base}/{prefix}/");
    for hub in &hubs {
        println!("  Web PubSub:   ws://{addr}/client/hubs/{hub}");
    }
    println!("  Sign in:      {base}/.auth/login/github");
    println!("  Dashboard:    {base}/_devhost/ (admin role)");
    println!("  Dead letters: {base}/_devhost/deadletters");
    println!("  Data:         {}", platform.data_dir.display());
    println!("Functions:");
    for function in &platform.manifest.functions {
        println!("  {:<24} {}", function.name, describe(function, prefix));
    }
    // Tests and tools read the bound address from this line: keep its shape.
    println!("Ready on {base} (Ctrl-C to stop)");
}
