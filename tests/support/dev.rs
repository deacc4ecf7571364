//! `cosmospark dev` for black-box tests: app roots in temp folders, the binary started on
//! port 0 (the bound address read from its banner), waiting on the platform's idle signal,
//! and a Web PubSub client with a hub token.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cosmospark::devhost::webpubsub::{AccessKey, ClientGrant, client_access};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::process::{Process, log_file, spawn_dev};
use super::{HANG, repo};

/// A copy of the app root with extra function folders and a replaced subscriptions file.
pub fn app_root(
    extra_functions: &[(&str, Value)],
    subscriptions: Option<Value>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("host.json"), dir.path().join("host.json")).unwrap();
    for entry in std::fs::read_dir(repo().join("functions")).unwrap() {
        let entry = entry.unwrap();
        let target = dir.path().join("functions").join(entry.file_name());
        std::fs::create_dir_all(&target).unwrap();
        std::fs::copy(
            entry.path().join("function.json"),
            target.join("function.json"),
        )
        .unwrap();
    }
    for (name, function) in extra_functions {
        write_function(dir.path(), name, function);
    }
    std::fs::create_dir_all(dir.path().join("infra")).unwrap();
    std::fs::copy(
        repo().join("infra/cosmos-containers.json"),
        dir.path().join("infra/cosmos-containers.json"),
    )
    .unwrap();
    let subscriptions = subscriptions.unwrap_or_else(|| {
        serde_json::from_slice(
            &std::fs::read(repo().join("infra/eventgrid-subscriptions.json")).unwrap(),
        )
        .unwrap()
    });
    write_subscriptions(dir.path(), &subscriptions);
    dir
}

/// An app root with the repository's host.json and infra lists but none of its functions: for
/// tests that register their own functions, so the app's triggers do not run beside them.
#[allow(dead_code)]
pub fn bare_app_root() -> tempfile::TempDir {
    let root = app_root(&[], None);
    std::fs::remove_dir_all(root.path().join("functions")).unwrap();
    std::fs::create_dir_all(root.path().join("functions")).unwrap();
    root
}

pub fn write_function(root: &Path, name: &str, function: &Value) {
    let folder = root.join("functions").join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("function.json"), function.to_string()).unwrap();
}

pub fn write_subscriptions(root: &Path, subscriptions: &Value) {
    std::fs::write(
        root.join("infra/eventgrid-subscriptions.json"),
        subscriptions.to_string(),
    )
    .unwrap();
}

/// One subscription entry.
pub fn subscription(name: &str, function: &str, types: &[&str], attempts: u32) -> Value {
    json!({
        "name": name, "function": function, "eventTypes": types,
        "schema": "EventGridSchema", "maxDeliveryAttempts": attempts, "eventTimeToLiveMinutes": 60
    })
}

/// An `x-ms-client-principal` with the admin role: the `/_devhost` tools need it.
pub fn admin_principal() -> String {
    super::principal("devhost-admin", &["anonymous", "authenticated", "admin"])
}

/// `cosmospark dev` running as a child process on an ephemeral port.
pub struct Dev {
    pub process: Process,
    pub addr: SocketAddr,
    pub port: u16,
    pub root: PathBuf,
    pub data: PathBuf,
    pub http: reqwest::Client,
    /// A data directory this wrapper created (removed on drop).
    _data_dir: Option<tempfile::TempDir>,
}

impl Dev {
    /// Starts the binary on `root` with `data` (Event Grid redeliveries after 20 ms) and
    /// returns once its banner shows the bound address.
    pub async fn start(root: &Path, data: &Path) -> Dev {
        Self::start_with(
            root,
            data,
            &["--redelivery-ms", "20"],
            &log_file("dev"),
            "error",
        )
    }

    /// The repository's app as `cosmospark dev` serves it (web/ included) on a fresh data
    /// directory, its log in `artifacts/dev.log`: what the browser tests drive.
    pub async fn start_site(artifacts: &Path) -> Dev {
        let data = tempfile::tempdir().expect("temp data dir");
        let mut dev = Self::start_with(
            &repo(),
            data.path(),
            &[],
            &artifacts.join("dev.log"),
            "info",
        );
        dev._data_dir = Some(data);
        dev
    }

    /// Starts the binary with extra `dev` arguments and `RUST_LOG=log_level`.
    pub fn start_with(root: &Path, data: &Path, args: &[&str], log: &Path, log_level: &str) -> Dev {
        Self::start_with_env(root, data, args, &[("RUST_LOG", log_level)], log)
    }

    /// Starts the binary with extra `dev` arguments and environment variables.
    pub fn start_with_env(
        root: &Path,
        data: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Dev {
        let mut all: Vec<&OsStr> = vec![
            OsStr::new("--root"),
            root.as_os_str(),
            OsStr::new("--data-dir"),
            data.as_os_str(),
        ];
        all.extend(args.iter().map(OsStr::new));
        let (process, addr) = spawn_dev(&all, env, log);
        Dev {
            process,
            addr,
            port: addr.port(),
            root: root.to_owned(),
            data: data.to_owned(),
            http: reqwest::Client::new(),
            _data_dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://ADDR`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.url("")
    }

    /// Waits until the platform is idle: every change-feed lease at the head of its feed, no
    /// Event Grid delivery queued, every Event Hubs checkpoint at the end of its partition
    /// and no invocation running (`GET /_devhost/idle`). Returns the idle snapshot.
    pub async fn idle(&self) -> Value {
        let timeout = HANG.as_millis();
        let response = self
            .http
            .get(self.url(&format!("/_devhost/idle?timeout_ms={timeout}")))
            .header("x-ms-client-principal", admin_principal())
            .send()
            .await
            .expect("GET /_devhost/idle");
        let status = response.status();
        let body: Value = response.json().await.expect("an idle snapshot");
        assert!(
            status.is_success(),
            "the platform never became idle: {body}"
        );
        body
    }

    /// Upserts a document through the platform (a committed write the change feed sees).
    pub async fn write(&self, container: &str, doc: Value) -> Value {
        let response = self
            .http
            .post(self.url(&format!("/_devhost/containers/{container}/items")))
            .header("x-ms-client-principal", admin_principal())
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
    }

    pub async fn dead_letters(&self) -> Vec<Value> {
        serde_json::from_value(self.admin_json("/_devhost/deadletters").await).unwrap()
    }

    /// `GET path` as the admin, read as JSON (the `/_devhost` tools need the role).
    pub async fn admin_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .header("x-ms-client-principal", admin_principal())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        self.process.kill9();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.process.terminate()
    }

    /// A Web PubSub client of `hub` (json.webpubsub.azure.v1) signed with the data dir's key.
    pub async fn pubsub(&self, hub: &str, user: &str) -> PubSub {
        let grant = ClientGrant {
            user_id: Some(user.to_owned()),
            ..ClientGrant::default()
        };
        self.pubsub_with(hub, &grant).await
    }

    /// A Web PubSub client of `hub` with the claims of `grant` (user, roles, groups).
    pub async fn pubsub_with(&self, hub: &str, grant: &ClientGrant) -> PubSub {
        let key = AccessKey::load_or_generate(&self.data.join("webpubsub.key")).unwrap();
        let info =
            client_access(&self.url(""), &key, hub, grant, Duration::from_secs(600)).unwrap();
        let mut request = info.url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("json.webpubsub.azure.v1"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut client = PubSub { ws };
        let connected = client.next_json().await;
        assert_eq!(connected["event"], "connected", "{connected}");
        client
    }
}

pub struct PubSub {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl PubSub {
    pub async fn next_json(&mut self) -> Value {
        loop {
            if let Message::Text(text) = super::pubsub::next_data_frame(&mut self.ws).await {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    /// The `data` of the next server message.
    pub async fn next_data(&mut self) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == "message" {
                return frame["data"].clone();
            }
        }
    }
}
