//! Per-hub bookkeeping: connections with their user, groups, roles and reliable-protocol
//! buffers, the user and group indexes, and delivery of one message to many connections.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, mpsc};

use super::action::Permission;
use super::protocol::{self, Origin, Payload, Protocol, RawPayload, with_sequence_id};

/// Close code that tells clients not to attempt recovery.
pub const CLOSE_POLICY: u16 = 1008;
/// AckIds remembered per connection to answer repeats with `Duplicate`.
const SEEN_ACK_IDS: usize = 1024;
/// What a socket task is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(Utf8Bytes),
    Binary(Vec<u8>),
    /// Send a close frame with this code and reason, then stop.
    Close(u16, String),
}

/// The hub's side of an attached socket task.
pub(super) struct Link {
    pub(super) queue: mpsc::Sender<Outbound>,
    /// Drops the socket without a close frame (a network failure, as far as the client knows).
    pub(super) abort: Arc<Notify>,
}

pub(super) struct Conn {
    pub(super) user_id: Option<String>,
    pub(super) roles: HashSet<String>,
    pub(super) groups: HashSet<String>,
    pub(super) protocol: Protocol,
    pub(super) next_sequence_id: u64,
    pub(super) unacked: VecDeque<(u64, Utf8Bytes)>,
    pub(super) seen_ack_ids: HashSet<u64>,
    pub(super) seen_ack_order: VecDeque<u64>,
    pub(super) reconnection_token: String,
    pub(super) link: Option<Link>,
    pub(super) epoch: u64,
}

impl Conn {
    /// Queues a frame; false when the socket's queue is full (a client too slow to keep up).
    pub(super) fn send(&self, out: Outbound) -> bool {
        match &self.link {
            // A closed queue means the socket task is ending; it reports that itself.
            Some(link) => !matches!(
                link.queue.try_send(out),
                Err(mpsc::error::TrySendError::Full(_))
            ),
            None => true,
        }
    }

    pub(super) fn abort(&mut self) {
        if let Some(link) = self.link.take() {
            link.abort.notify_one();
        }
    }

    pub(super) fn can(&self, permission: Permission, group: &str) -> bool {
        self.roles.contains(&permission.role(None))
            || self.roles.contains(&permission.role(Some(group)))
    }

    /// Records an ackId; false when it was already used on this connection.
    pub(super) fn first_use(&mut self, ack_id: u64) -> bool {
        if !self.seen_ack_ids.insert(ack_id) {
            return false;
        }
        self.seen_ack_order.push_back(ack_id);
        if self.seen_ack_order.len() > SEEN_ACK_IDS
            && let Some(old) = self.seen_ack_order.pop_front()
        {
            self.seen_ack_ids.remove(&old);
        }
        true
    }
}

/// A message ready to go to many connections.
pub(super) struct Outgoing {
    pub(super) frame: String,
    pub(super) frame_bytes: Utf8Bytes,
    pub(super) raw: RawPayload,
}

impl Outgoing {
    pub(super) fn new(origin: &Origin, payload: &Payload) -> Self {
        let frame = protocol::message_frame(origin, payload);
        Self {
            frame_bytes: Utf8Bytes::from(frame.as_str()),
            frame,
            raw: payload.raw(),
        }
    }
}

#[derive(Default)]
pub(super) struct HubState {
    pub(super) connections: HashMap<String, Conn>,
    pub(super) users: HashMap<String, HashSet<String>>,
    pub(super) groups: HashMap<String, HashSet<String>>,
}

impl HubState {
    pub(super) fn join(&mut self, conn_id: &str, group: &str) {
        if let Some(conn) = self.connections.get_mut(conn_id) {
            conn.groups.insert(group.to_string());
            self.groups
                .entry(group.to_string())
                .or_default()
                .insert(conn_id.to_string());
        }
    }

    pub(super) fn leave(&mut self, conn_id: &str, group: &str) {
        if let Some(conn) = self.connections.get_mut(conn_id) {
            conn.groups.remove(group);
        }
        if let Some(members) = self.groups.get_mut(group) {
            members.remove(conn_id);
            if members.is_empty() {
                self.groups.remove(group);
            }
        }
    }

    pub(super) fn remove(&mut self, conn_id: &str) -> Option<Conn> {
        let conn = self.connections.remove(conn_id)?;
        for group in &conn.groups {
            if let Some(members) = self.groups.get_mut(group) {
                members.remove(conn_id);
                if members.is_empty() {
                    self.groups.remove(group);
                }
            }
        }
        if let Some(user) = &conn.user_id
            && let Some(conns) = self.users.get_mut(user)
        {
            conns.remove(conn_id);
            if conns.is_empty() {
                self.users.remove(user);
            }
        }
        Some(conn)
    }

    pub(super) fn user_connections(&self, user: &str) -> Vec<String> {
        self.users
            .get(user)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn group_connections(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Delivers to each listed connection; returns how many received it. Connections that
    /// buffer more than `max_buffered` messages are closed.
    pub(super) fn deliver(
        &mut self,
        targets: &[String],
        out: &Outgoing,
        max_buffered: usize,
    ) -> usize {
        let mut delivered = 0;
        let mut overflowed = Vec::new();
        for id in targets {
            let Some(conn) = self.connections.get_mut(id) else {
                continue;
            };
            delivered += 1;
            let queued = match conn.protocol {
                Protocol::Simple => conn.send(match &out.raw {
                    RawPayload::Text(t) => Outbound::Text(Utf8Bytes::from(t.as_str())),
                    RawPayload::Binary(b) => Outbound::Binary(b.clone()),
                }),
                Protocol::Json => conn.send(Outbound::Text(out.frame_bytes.clone())),
                Protocol::ReliableJson => {
                    let seq = conn.next_sequence_id;
                    conn.next_sequence_id += 1;
                    let frame = Utf8Bytes::from(with_sequence_id(&out.frame, seq));
                    let queued = conn.send(Outbound::Text(frame.clone()));
                    conn.unacked.push_back((seq, frame));
                    queued && conn.unacked.len() <= max_buffered
                }
            };
            if !queued {
                overflowed.push(id.clone());
            }
        }
        for id in overflowed {
            self.close(&id, "The client did not keep up with its messages.");
        }
        delivered
    }

    /// Server-side close: tell the client why, close with 1008 (no recovery), forget it. When
    /// the queue is full the socket task just drains it and ends as the queue closes.
    pub(super) fn close(&mut self, conn_id: &str, reason: &str) -> bool {
        let Some(conn) = self.remove(conn_id) else {
            return false;
        };
        if conn.protocol != Protocol::Simple {
            conn.send(Outbound::Text(protocol::disconnected_frame(reason).into()));
        }
        conn.send(Outbound::Close(CLOSE_POLICY, reason.to_string()));
        true
    }

    pub(super) fn all_except(&self, excluded: &[String]) -> Vec<String> {
        self.connections
            .keys()
            .filter(|id| !excluded.contains(id))
            .cloned()
            .collect()
    }
}
/// A fresh socket queue, with room for a full unacked buffer plus a few replies.
pub(super) fn new_link(max_buffered: usize) -> (Link, mpsc::Receiver<Outbound>, Arc<Notify>) {
    let (queue, outbound) = mpsc::channel(max_buffered.saturating_add(16));
    let abort = Arc::new(Notify::new());
    (
        Link {
            queue,
            abort: abort.clone(),
        },
        outbound,
        abort,
    )
}
