//! Push → WebSocket delivery latency of the embedded Web PubSub hub with N connected clients,
//! against a baseline measured in the same run: a bare axum WebSocket fan-out through a
//! `tokio::sync::broadcast` channel with the same frame and the same client.
//!
//! Run: `cargo bench --bench webpubsub` (optional args: rounds, then client counts).
//! Each round pushes one `sendToAll` (hub) or one broadcast (baseline) and waits until every
//! client has it; a sample is the time from the push call to one client's receipt.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message as AxMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use cosmospark::devhost::webpubsub::{
    self, AccessKey, ClientGrant, Hub, HubConfig, Payload, WebPubSubAction,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const HUB: &str = "bench";

#[derive(Clone, Copy)]
enum Target {
    Hub(&'static str),
    Baseline,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Hub("json.webpubsub.azure.v1") => "hub, json.webpubsub.azure.v1",
            Target::Hub(_) => "hub, json.reliable.webpubsub.azure.v1",
            Target::Baseline => "baseline: axum ws + broadcast",
        }
    }
}

pub fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rounds = args
        .first()
        .copied()
        .unwrap_or_else(|| support::size(200, 3));
    let counts = if args.len() > 1 {
        args[1..].to_vec()
    } else if support::smoke() {
        vec![1, 4]
    } else {
        vec![1, 10, 100, 1000]
    };
    let machine = support::machine();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut markdown = format!(
            "Machine: {machine}. `{rounds}` rounds per row.\n\n\
             | clients | target | p50 | p99 | max | samples |\n|---:|---|---:|---:|---:|---:|\n"
        );
        let mut lines: Vec<support::Series> = Vec::new();
        for &n in &counts {
            for (index, target) in [
                Target::Baseline,
                Target::Hub("json.webpubsub.azure.v1"),
                Target::Hub("json.reliable.webpubsub.azure.v1"),
            ]
            .into_iter()
            .enumerate()
            {
                let mut samples = run(target, n, rounds).await;
                samples.sort();
                let p99 = percentile(&samples, 0.99);
                markdown.push_str(&format!(
                    "| {n} | {} | {} | {} | {} | {} |\n",
                    target.name(),
                    fmt(percentile(&samples, 0.50)),
                    fmt(p99),
                    fmt(*samples.last().unwrap_or(&Duration::ZERO)),
                    samples.len()
                ));
                if lines.len() <= index {
                    lines.push(support::Series {
                        name: format!("{} p99", target.name()),
                        points: Vec::new(),
                    });
                }
                lines[index].points.push((n as f64, support::ms(p99)));
            }
        }
        support::chart(
            "hub-latency-vs-clients.svg",
            "Web PubSub push latency (p99) vs connected clients",
            "clients",
            "p99 latency (ms)",
            true,
            &lines,
        );
        markdown.push_str("\n![hub latency vs clients](bench/hub-latency-vs-clients.svg)\n");
        support::publish("webpubsub", &markdown);
    });
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn fmt(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

async fn run(target: Target, clients: usize, rounds: usize) -> Vec<Duration> {
    let hub = Hub::new(AccessKey::generate(), HubConfig::default());
    let (fanout, _) = broadcast::channel::<Utf8Bytes>(1024);
    let app = webpubsub::router(hub.clone()).merge(
        Router::new()
            .route("/baseline", get(baseline))
            .with_state(fanout.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let (receipts, mut received) = mpsc::unbounded_channel::<(u64, Instant)>();
    let mut readers = Vec::new();
    for i in 0..clients {
        let (url, protocol) = match target {
            Target::Hub(protocol) => {
                let grant = ClientGrant {
                    user_id: Some(format!("u{i}")),
                    ..ClientGrant::default()
                };
                let info = hub
                    .client_connection(&base, HUB, &grant, Duration::from_secs(3600))
                    .expect("client url");
                (info.url, Some(protocol))
            }
            Target::Baseline => (format!("{}/baseline", base.replace("http", "ws")), None),
        };
        let mut request = url.into_client_request().expect("request");
        if let Some(p) = protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(p));
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connect");
        let (mut write, mut read) = ws.split();
        let receipts = receipts.clone();
        let reliable = protocol == Some("json.reliable.webpubsub.azure.v1");
        readers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = read.next().await {
                let at = Instant::now();
                let Message::Text(text) = frame else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if v["type"] != "message" {
                    continue;
                }
                let round = v["data"].as_u64().unwrap_or(u64::MAX);
                if reliable && let Some(seq) = v["sequenceId"].as_u64() {
                    let ack = json!({"type":"sequenceAck","sequenceId":seq}).to_string();
                    let _ = write.send(Message::text(ack)).await;
                }
                if receipts.send((round, at)).is_err() {
                    break;
                }
            }
        }));
    }
    if let Target::Hub(_) = target {
        // Every client is registered once its connected frame went out; wait for all of them.
        while hub.connections(HUB).len() < clients {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    } else {
        while fanout.receiver_count() < clients {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    let mut samples = Vec::with_capacity(clients * rounds);
    for round in 0..rounds as u64 {
        let started = Instant::now();
        match target {
            Target::Hub(_) => {
                hub.apply(
                    HUB,
                    WebPubSubAction::SendToAll {
                        payload: Payload::Json(json!(round)),
                        excluded: Vec::new(),
                    },
                );
            }
            Target::Baseline => {
                let frame =
                    json!({"type":"message","from":"server","dataType":"json","data":round});
                let _ = fanout.send(Utf8Bytes::from(frame.to_string()));
            }
        }
        let mut got = 0;
        while got < clients {
            let Some((r, at)) = received.recv().await else {
                break;
            };
            if r == round {
                samples.push(at.duration_since(started));
                got += 1;
            }
        }
    }
    for reader in readers {
        reader.abort();
    }
    server.abort();
    samples
}

async fn baseline(
    ws: WebSocketUpgrade,
    State(fanout): State<broadcast::Sender<Utf8Bytes>>,
) -> Response {
    let mut rx = fanout.subscribe();
    ws.on_upgrade(move |mut socket: WebSocket| async move {
        while let Ok(frame) = rx.recv().await {
            if socket.send(AxMessage::Text(frame)).await.is_err() {
                break;
            }
        }
    })
}
