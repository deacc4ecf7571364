//! Helpers for the Web PubSub hub tests: a hub served in process on an ephemeral loopback port
//! and a small WebSocket client that reads protocol frames.

use std::time::Duration;

use cosmospark::devhost::webpubsub::{self, AccessKey, ClientGrant, Hub, HubConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const HUB: &str = "game";
pub const JSON: &str = "json.webpubsub.azure.v1";
pub const RELIABLE: &str = "json.reliable.webpubsub.azure.v1";

/// Guards against a hung test only; never a performance assertion.
const HANG: Duration = Duration::from_secs(20);

pub struct TestHub {
    pub hub: Hub,
    pub base: String,
}

pub async fn start() -> TestHub {
    start_with(HubConfig::default()).await
}

pub async fn start_with(config: HubConfig) -> TestHub {
    let hub = Hub::new(AccessKey::new("test-key").unwrap(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = webpubsub::router(hub.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    TestHub { hub, base }
}

pub fn grant(user: Option<&str>, roles: &[&str], groups: &[&str]) -> ClientGrant {
    ClientGrant {
        user_id: user.map(String::from),
        roles: roles.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
    }
}

impl TestHub {
    pub fn url(&self, grant: &ClientGrant) -> String {
        self.hub
            .client_connection(&self.base, HUB, grant, Duration::from_secs(3600))
            .unwrap()
            .url
    }

    /// Connects on `subprotocol` and reads the `connected` frame (none for simple clients).
    pub async fn client(&self, grant: &ClientGrant, subprotocol: &str) -> (Client, Value) {
        let (mut client, _) = connect(&self.url(grant), Some(subprotocol)).await.unwrap();
        let connected = client.next_json().await;
        assert_eq!(connected["event"], "connected", "{connected}");
        (client, connected)
    }

    pub fn apply_json(&self, action: Value) -> usize {
        self.hub.apply_output(HUB, &action).unwrap()
    }
}

pub type Response = tungstenite::handshake::client::Response;

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ack: u64,
}

pub async fn connect(
    url: &str,
    subprotocol: Option<&str>,
) -> Result<(Client, Response), tungstenite::Error> {
    let mut request = url.into_client_request()?;
    if let Some(p) = subprotocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).unwrap());
    }
    let (ws, response) = tokio_tungstenite::connect_async(request).await?;
    Ok((Client { ws, next_ack: 1 }, response))
}

/// The HTTP status a refused handshake answered with.
pub async fn refusal_status(url: &str, subprotocol: Option<&str>) -> u16 {
    match connect(url, subprotocol).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, the upgrade succeeded"),
    }
}

/// The next data frame (text or binary) on `ws`, skipping control frames; panics on a hang.
pub async fn next_data_frame(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> Message {
    loop {
        let frame = tokio::time::timeout(HANG, ws.next())
            .await
            .expect("no frame arrived")
            .expect("socket ended")
            .expect("socket error");
        match frame {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

impl Client {
    /// The next data frame (text or binary), skipping control frames.
    pub async fn next_message(&mut self) -> Message {
        next_data_frame(&mut self.ws).await
    }

    pub async fn next_json(&mut self) -> Value {
        match self.next_message().await {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    pub async fn send_json(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub fn ack_id(&mut self) -> u64 {
        self.next_ack += 1;
        self.next_ack - 1
    }

    /// Sends a ping and returns every frame that arrived before the pong. The hub queues the
    /// pong behind all earlier deliveries, so this is exactly what was sent so far.
    pub async fn drain(&mut self) -> Vec<Value> {
        self.send_json(serde_json::json!({"type": "ping"})).await;
        let mut seen = Vec::new();
        loop {
            let v = self.next_json().await;
            if v["type"] == "pong" {
                return seen;
            }
            seen.push(v);
        }
    }

    /// Messages' `data` fields received so far.
    pub async fn drain_data(&mut self) -> Vec<Value> {
        self.drain()
            .await
            .into_iter()
            .map(|m| {
                assert_eq!(m["type"], "message", "{m}");
                m["data"].clone()
            })
            .collect()
    }

    /// Reads until the server closes; returns the close frame.
    pub async fn until_closed(&mut self) -> (Vec<Value>, Option<CloseFrame>) {
        let mut seen = Vec::new();
        loop {
            let frame = tokio::time::timeout(HANG, self.ws.next())
                .await
                .expect("socket was not closed");
            match frame {
                Some(Ok(Message::Text(t))) => seen.push(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(Message::Close(frame))) => return (seen, frame),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (seen, None),
            }
        }
    }
}
