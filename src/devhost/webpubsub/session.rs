//! One task per client socket: writes what the hub queues for the connection, reads client
//! frames and answers acks and pongs, and reports how the socket ended.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tokio::sync::mpsc;

use super::hub::{Attached, CLOSE_POLICY, Hub, Outbound};
use super::protocol::{self, ClientFrame, Protocol};
use super::token::ClientIdentity;

/// How the socket starts.
pub(crate) enum Start {
    New(ClientIdentity),
    Resume {
        connection_id: String,
        reconnection_token: String,
    },
}

pub(crate) async fn run(
    hub: Hub,
    hub_name: String,
    protocol: Protocol,
    start: Start,
    mut socket: WebSocket,
) {
    let attached = match start {
        Start::New(identity) => hub.open(&hub_name, identity, protocol),
        Start::Resume {
            connection_id,
            reconnection_token,
        } => match hub.resume(&hub_name, &connection_id, &reconnection_token, protocol) {
            Ok(attached) => attached,
            Err(e) => {
                tracing::debug!(hub = %hub_name, error = %e, "refused Web PubSub recovery");
                let reason = e.to_string();
                let _ = socket
                    .send(Message::Text(protocol::disconnected_frame(&reason).into()))
                    .await;
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: CLOSE_POLICY,
                        reason: reason.into(),
                    })))
                    .await;
                return;
            }
        },
    };
    let Attached {
        connection_id,
        epoch,
        outbound,
        abort,
    } = attached;
    tracing::debug!(hub = %hub_name, connection = %connection_id, epoch, "Web PubSub socket attached");
    let abnormal = tokio::select! {
        abnormal = pump(&hub, &hub_name, &connection_id, protocol, outbound, &mut socket) => abnormal,
        () = abort.notified() => true,
    };
    hub.socket_ended(&hub_name, &connection_id, epoch, abnormal);
    tracing::debug!(hub = %hub_name, connection = %connection_id, abnormal, "Web PubSub socket ended");
}

/// Runs the socket until it ends; returns true when it ended abnormally (no close handshake
/// started by the client, nor a close requested by the hub).
async fn pump(
    hub: &Hub,
    hub_name: &str,
    connection_id: &str,
    protocol: Protocol,
    mut outbound: mpsc::Receiver<Outbound>,
    socket: &mut WebSocket,
) -> bool {
    loop {
        tokio::select! {
            out = outbound.recv() => match out {
                Some(Outbound::Text(text)) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return true;
                    }
                }
                Some(Outbound::Binary(bytes)) => {
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        return true;
                    }
                }
                Some(Outbound::Close(code, reason)) => {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame { code, reason: reason.into() })))
                        .await;
                    return false;
                }
                None => return true,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if protocol == Protocol::Simple {
                        // Simple clients' messages go to an upstream handler; none exists locally.
                        continue;
                    }
                    match ClientFrame::parse(text.as_str()) {
                        Ok(frame) => hub.handle_frame(hub_name, connection_id, frame),
                        Err(e) => {
                            tracing::debug!(connection = %connection_id, error = %e, "bad Web PubSub frame");
                            hub.reject_frame(hub_name, connection_id, e.ack_id, &e.message);
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    // One more read flushes the close reply the library queued, then ends.
                    let _ = socket.recv().await;
                    // 1000 and 1001 are deliberate; anything else may be retried by the client.
                    return !frame.is_none_or(|f| f.code == 1000 || f.code == 1001);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return true,
            },
        }
    }
}
