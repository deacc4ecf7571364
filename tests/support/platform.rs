//! The local platform in the test's own process: opened over a temporary data directory with
//! its triggers running, and its router called without a socket.

use std::net::SocketAddr;
use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use cosmospark::devhost::event_grid::Redelivery;
use cosmospark::devhost::server::{DevOptions, Platform};
use cosmospark::devhost::webpubsub::AccessKey;
use cosmospark::runtime::FunctionApp;
use cosmospark::store::{PartitionKey, Store};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// `cosmospark dev`'s options for an app root and a data directory, on an ephemeral port.
pub fn options(root: &Path, data: &Path) -> DevOptions {
    DevOptions {
        root: root.to_owned(),
        data_dir: data.to_owned(),
        host: [127, 0, 0, 1].into(),
        port: 0,
        reset: false,
        redelivery: Redelivery::default(),
        hub_partitions: 4,
        hub_retention: cosmospark::devhost::hub_retention::DEFAULT_RETENTION,
        shutdown_grace: cosmospark::devhost::server::DEFAULT_SHUTDOWN_GRACE,
    }
}

/// A platform running an app over an app root, with its triggers started.
pub struct Running {
    pub platform: Platform,
    pub router: axum::Router,
    cancel: CancellationToken,
    tracker: TaskTracker,
    _root: Option<tempfile::TempDir>,
    _data: tempfile::TempDir,
}

impl Running {
    /// Opens the platform over `root` running `app`, writes `commands` to the `Commands`
    /// container (so a trigger that starts from the beginning sees them all in its first
    /// batch), then starts the triggers.
    pub async fn start(root: tempfile::TempDir, app: FunctionApp, commands: Vec<Value>) -> Self {
        let path = root.path().to_owned();
        Self::open(&path, Some(root), move |_, _| Ok(app), commands).await
    }

    /// Opens the platform over `root` (kept by the caller) with the app `make_app` builds over
    /// the platform's store and Web PubSub key, as `cosmospark dev` builds it; starts the
    /// triggers.
    pub async fn start_with(
        root: &Path,
        make_app: impl FnOnce(Store, &AccessKey) -> Result<FunctionApp, String>,
    ) -> Self {
        Self::open(root, None, make_app, Vec::new()).await
    }

    async fn open(
        root: &Path,
        keep: Option<tempfile::TempDir>,
        make_app: impl FnOnce(Store, &AccessKey) -> Result<FunctionApp, String>,
        commands: Vec<Value>,
    ) -> Self {
        cosmospark::runtime::init_tracing();
        let data = tempfile::tempdir().unwrap();
        let platform = Platform::open_with(&options(root, data.path()), make_app)
            .await
            .unwrap();
        for doc in commands {
            let id = doc["id"].as_str().unwrap().to_owned();
            platform
                .store
                .upsert("Commands", &PartitionKey::from(id.as_str()), doc)
                .await
                .unwrap();
        }
        let router = platform.router().unwrap();
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        platform.start_triggers(&tracker, &cancel).await.unwrap();
        Self {
            platform,
            router,
            cancel,
            tracker,
            _root: keep,
            _data: data,
        }
    }

    /// Serves the platform's router on an ephemeral loopback port (for WebSocket clients of
    /// its Web PubSub hub); returns the bound address.
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    /// Waits until the platform is idle (`GET /_devhost/idle`): nothing pending for any trigger
    /// and no invocation running. Fails the test if it never is.
    pub async fn idle(&self) -> Value {
        let (status, snapshot) = self
            .get(&format!(
                "/_devhost/idle?timeout_ms={}",
                super::HANG.as_millis()
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "never idle: {snapshot}");
        snapshot
    }

    /// Sends `request` through the platform's router.
    pub async fn call(&self, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    /// `GET path` as an admin (the `/_devhost` tools need the role), the body read as JSON.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = Request::get(path)
            .header("x-ms-client-principal", super::admin_principal())
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = self.call(request).await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Stops the triggers and waits for their in-flight invocations.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}
