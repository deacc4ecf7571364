//! Shared helpers for the `devhost_*` tests: app roots in temp folders, the `cosmospark dev`
//! binary as a child process on a free port, and a Web PubSub client with a hub token.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cosmospark::devhost::webpubsub::{AccessKey, ClientGrant, client_access};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Guards against a hung test only; never a performance assertion.
pub const HANG: Duration = Duration::from_secs(30);

/// The repository root (host.json, functions/, infra/).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `x-ms-client-principal` with the admin role: the `/_devhost` tools need it.
pub fn admin_principal() -> String {
    cosmospark::runtime::ClientPrincipal {
        identity_provider: "github".into(),
        user_id: "devhost-admin".into(),
        user_details: "admin".into(),
        user_roles: vec!["anonymous".into(), "authenticated".into(), "admin".into()],
    }
    .encode()
}

/// `cosmospark dev` running as a child process.
pub struct Dev {
    pub child: Child,
    pub port: u16,
    pub root: PathBuf,
    pub data: PathBuf,
    pub http: reqwest::Client,
}

impl Dev {
    /// Starts the binary and waits until it answers.
    pub async fn start(root: &Path, data: &Path) -> Dev {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_cosmospark"))
            .args(["dev", "--port", &port.to_string(), "--redelivery-ms", "20"])
            .arg("--root")
            .arg(root)
            .arg("--data-dir")
            .arg(data)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let dev = Dev {
            child,
            port,
            root: root.to_owned(),
            data: data.to_owned(),
            http: reqwest::Client::new(),
        };
        let deadline = tokio::time::Instant::now() + HANG;
        loop {
            if let Ok(response) = dev.http.get(dev.url("/_devhost/health")).send().await
                && response.status().is_success()
            {
                return dev;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "dev never became ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
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
        self.http
            .get(self.url("/_devhost/deadletters"))
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
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }

    /// A Web PubSub client of `hub` (json.webpubsub.azure.v1) signed with the data dir's key.
    pub async fn pubsub(&self, hub: &str, user: &str) -> PubSub {
        let key = AccessKey::load_or_generate(&self.data.join("webpubsub.key")).unwrap();
        let grant = ClientGrant {
            user_id: Some(user.to_owned()),
            ..ClientGrant::default()
        };
        let info =
            client_access(&self.url(""), &key, hub, &grant, Duration::from_secs(600)).unwrap();
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

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
            let frame = tokio::time::timeout(HANG, self.ws.next())
                .await
                .expect("no frame arrived")
                .expect("socket ended")
                .expect("socket error");
            if let Message::Text(text) = frame {
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

/// Polls `check` until it returns `Some`, failing only if the test hangs.
pub async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
