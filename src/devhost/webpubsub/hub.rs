//! The `Hub` handle: every hub's state behind one mutex (nothing awaits under it), the
//! server-side actions, client access URLs, and the connection lifecycle socket tasks drive
//! (open, request handling, abnormal drop, recovery, expiry).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use super::action::{ActionError, Permission, WebPubSubAction};
use super::client_access::{self, ClientAccessError, ClientGrant, ConnectionInfo};
use super::protocol::{self, AckError, ClientFrame, Origin, Protocol};
pub use super::state::CLOSE_POLICY;
pub(crate) use super::state::Outbound;
use super::state::{Conn, HubState, Outgoing, new_link};
use super::token::{AccessKey, ClientIdentity};

/// Tuning for the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// How long a reliable connection that dropped abnormally can be resumed.
    pub recovery_grace: Duration,
    /// Messages buffered per connection (queued for a slow socket, or unacknowledged on the
    /// reliable protocol) before the hub closes it.
    pub max_buffered: usize,
    /// Public http(s) base URL clients use (token audience); when unset the request's
    /// `Host` (and `X-Forwarded-Proto`) decide.
    pub public_base_url: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            recovery_grace: Duration::from_secs(45),
            max_buffered: 10_000,
            public_base_url: None,
        }
    }
}

/// A connection as seen from outside, for diagnostics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSnapshot {
    pub connection_id: String,
    pub user_id: Option<String>,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    /// False while a dropped reliable connection waits to be recovered.
    pub attached: bool,
    pub unacked: usize,
}

struct Inner {
    key: AccessKey,
    config: HubConfig,
    hubs: Mutex<HashMap<String, HubState>>,
}

/// The embedded Web PubSub service: every hub, addressed by name (case-insensitive, as in
/// Azure). Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// A connection the hub just registered, for its socket task.
pub(crate) struct Attached {
    pub connection_id: String,
    pub epoch: u64,
    pub outbound: mpsc::Receiver<Outbound>,
    pub abort: Arc<Notify>,
}

/// Why a recovery request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResumeError {
    #[error("connection `{0}` does not exist or can no longer be recovered")]
    Unknown(String),
    #[error("reconnection token does not match connection `{0}`")]
    BadToken(String),
    #[error("only json.reliable.webpubsub.azure.v1 connections can be recovered")]
    NotReliable,
}

impl Hub {
    pub fn new(key: AccessKey, config: HubConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                key,
                config,
                hubs: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn key(&self) -> &AccessKey {
        &self.inner.key
    }

    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, HubState>> {
        // State stays consistent across a panic in another holder: every update is small.
        self.inner.hubs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_hub<R>(&self, hub: &str, f: impl FnOnce(&mut HubState) -> R) -> R {
        let mut hubs = self.lock();
        let state = hubs.entry(hub.to_ascii_lowercase()).or_default();
        let before = state.connections.len();
        let result = f(state);
        let after = state.connections.len();
        if before != after {
            let delta = i64::try_from(after).unwrap_or(i64::MAX)
                - i64::try_from(before).unwrap_or(i64::MAX);
            crate::runtime::telemetry::metrics::hub_connections(hub, delta);
        }
        result
    }

    /// What the `webPubSubConnection` input binding returns, for clients of this hub reached
    /// at `base_http_url` (e.g. `http://127.0.0.1:7071`).
    pub fn client_connection(
        &self,
        base_http_url: &str,
        hub: &str,
        grant: &ClientGrant,
        ttl: Duration,
    ) -> Result<ConnectionInfo, ClientAccessError> {
        client_access::client_access(base_http_url, &self.inner.key, hub, grant, ttl)
    }

    /// Runs a `webPubSub` output binding's value (one action, an array, or JSON text of
    /// either) on `hub`. Nothing runs unless every action parses.
    pub fn apply_output(&self, hub: &str, value: &serde_json::Value) -> Result<usize, ActionError> {
        let actions = WebPubSubAction::parse_many(value)?;
        Ok(actions.into_iter().map(|a| self.apply(hub, a)).sum())
    }

    /// Runs one output-binding action on `hub`; returns how many connections it touched.
    pub fn apply(&self, hub: &str, action: WebPubSubAction) -> usize {
        let max = self.inner.config.max_buffered;
        self.with_hub(hub, |state| match action {
            WebPubSubAction::SendToAll { payload, excluded } => {
                let targets = state.all_except(&excluded);
                state.deliver(&targets, &Outgoing::new(&Origin::Server, &payload), max)
            }
            WebPubSubAction::SendToGroup {
                group,
                payload,
                excluded,
            } => {
                let mut targets = state.group_connections(&group);
                targets.retain(|id| !excluded.contains(id));
                // Azure marks server sends to a group as group messages, without `fromUserId`.
                let origin = Origin::Group {
                    group,
                    from_user_id: None,
                };
                state.deliver(&targets, &Outgoing::new(&origin, &payload), max)
            }
            WebPubSubAction::SendToUser { user_id, payload } => {
                let targets = state.user_connections(&user_id);
                state.deliver(&targets, &Outgoing::new(&Origin::Server, &payload), max)
            }
            WebPubSubAction::SendToConnection {
                connection_id,
                payload,
            } => state.deliver(
                &[connection_id],
                &Outgoing::new(&Origin::Server, &payload),
                max,
            ),
            WebPubSubAction::AddUserToGroup { user_id, group } => {
                let targets = state.user_connections(&user_id);
                targets.iter().for_each(|id| state.join(id, &group));
                targets.len()
            }
            WebPubSubAction::RemoveUserFromGroup { user_id, group } => {
                let targets = state.user_connections(&user_id);
                targets.iter().for_each(|id| state.leave(id, &group));
                targets.len()
            }
            WebPubSubAction::RemoveUserFromAllGroups { user_id } => {
                let targets = state.user_connections(&user_id);
                for id in &targets {
                    let groups: Vec<String> = state
                        .connections
                        .get(id)
                        .map(|c| c.groups.iter().cloned().collect())
                        .unwrap_or_default();
                    groups.iter().for_each(|g| state.leave(id, g));
                }
                targets.len()
            }
            WebPubSubAction::AddConnectionToGroup {
                connection_id,
                group,
            } => {
                let found = state.connections.contains_key(&connection_id);
                state.join(&connection_id, &group);
                usize::from(found)
            }
            WebPubSubAction::RemoveConnectionFromGroup {
                connection_id,
                group,
            } => {
                let found = state.connections.contains_key(&connection_id);
                state.leave(&connection_id, &group);
                usize::from(found)
            }
            WebPubSubAction::CloseAllConnections { excluded, reason } => {
                let reason = reason.unwrap_or_else(|| "Closed by the server.".into());
                let targets = state.all_except(&excluded);
                targets.iter().filter(|id| state.close(id, &reason)).count()
            }
            WebPubSubAction::CloseClientConnection {
                connection_id,
                reason,
            } => {
                let reason = reason.unwrap_or_else(|| "Closed by the server.".into());
                usize::from(state.close(&connection_id, &reason))
            }
            WebPubSubAction::CloseGroupConnections {
                group,
                excluded,
                reason,
            } => {
                let reason = reason.unwrap_or_else(|| "Closed by the server.".into());
                let mut targets = state.group_connections(&group);
                targets.retain(|id| !excluded.contains(id));
                targets.iter().filter(|id| state.close(id, &reason)).count()
            }
            WebPubSubAction::GrantPermission {
                connection_id,
                permission,
                target_name,
            } => match state.connections.get_mut(&connection_id) {
                Some(conn) => {
                    conn.roles.insert(permission.role(target_name.as_deref()));
                    1
                }
                None => 0,
            },
            WebPubSubAction::RevokePermission {
                connection_id,
                permission,
                target_name,
            } => match state.connections.get_mut(&connection_id) {
                Some(conn) => {
                    match target_name {
                        Some(group) => {
                            conn.roles.remove(&permission.role(Some(&group)));
                        }
                        None => {
                            let prefix = format!("{}.", permission.role(None));
                            conn.roles
                                .retain(|r| *r != permission.role(None) && !r.starts_with(&prefix));
                        }
                    }
                    1
                }
                None => 0,
            },
        })
    }

    /// Drops a connection's socket without a close frame, as a network failure would. A
    /// reliable connection then waits to be recovered; others are gone.
    pub fn drop_connection(&self, hub: &str, connection_id: &str) -> bool {
        let grace = self.inner.config.recovery_grace;
        let detached = self.with_hub(hub, |state| {
            let conn = state.connections.get_mut(connection_id)?;
            conn.abort();
            if conn.protocol.is_reliable() {
                Some(Some(conn.epoch))
            } else {
                state.remove(connection_id);
                Some(None)
            }
        });
        match detached {
            Some(Some(epoch)) => {
                self.expire_later(hub, connection_id, epoch, grace);
                true
            }
            Some(None) => true,
            None => false,
        }
    }

    /// The hubs that have connections now (names in lowercase, as the service compares them).
    pub fn hubs(&self) -> Vec<String> {
        let hubs = self.lock();
        let mut names: Vec<String> = hubs
            .iter()
            .filter(|(_, state)| !state.connections.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// Every connection of `hub`, sorted by id.
    pub fn connections(&self, hub: &str) -> Vec<ConnectionSnapshot> {
        let mut list: Vec<_> = self.with_hub(hub, |state| {
            state
                .connections
                .iter()
                .map(|(id, c)| {
                    let mut groups: Vec<_> = c.groups.iter().cloned().collect();
                    groups.sort();
                    let mut roles: Vec<_> = c.roles.iter().cloned().collect();
                    roles.sort();
                    ConnectionSnapshot {
                        connection_id: id.clone(),
                        user_id: c.user_id.clone(),
                        groups,
                        roles,
                        attached: c.link.is_some(),
                        unacked: c.unacked.len(),
                    }
                })
                .collect()
        });
        list.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
        list
    }

    /// Registers a new connection and queues its `connected` frame.
    pub(crate) fn open(&self, hub: &str, identity: ClientIdentity, protocol: Protocol) -> Attached {
        let connection_id = uuid::Uuid::new_v4().simple().to_string();
        let (link, outbound, abort) = new_link(self.inner.config.max_buffered);
        let reconnection_token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let frame = match protocol {
            Protocol::Simple => None,
            Protocol::Json => Some(protocol::connected_frame(
                identity.user_id.as_deref(),
                &connection_id,
                None,
            )),
            Protocol::ReliableJson => Some(protocol::connected_frame(
                identity.user_id.as_deref(),
                &connection_id,
                Some(&reconnection_token),
            )),
        };
        if let Some(frame) = frame {
            // The queue is new and empty.
            let _ = link.queue.try_send(Outbound::Text(frame.into()));
        }
        let conn = Conn {
            user_id: identity.user_id.clone(),
            roles: identity.roles.into_iter().collect(),
            groups: HashSet::new(),
            protocol,
            next_sequence_id: 1,
            unacked: VecDeque::new(),
            seen_ack_ids: HashSet::new(),
            seen_ack_order: VecDeque::new(),
            reconnection_token,
            link: Some(link),
            epoch: 0,
        };
        self.with_hub(hub, |state| {
            state.connections.insert(connection_id.clone(), conn);
            if let Some(user) = identity.user_id {
                state
                    .users
                    .entry(user)
                    .or_default()
                    .insert(connection_id.clone());
            }
            for group in &identity.groups {
                state.join(&connection_id, group);
            }
        });
        Attached {
            connection_id,
            epoch: 0,
            outbound,
            abort,
        }
    }

    /// Re-attaches a reliable connection to a new socket and re-sends what it has not acked.
    pub(crate) fn resume(
        &self,
        hub: &str,
        connection_id: &str,
        reconnection_token: &str,
        protocol: Protocol,
    ) -> Result<Attached, ResumeError> {
        if !protocol.is_reliable() {
            return Err(ResumeError::NotReliable);
        }
        let max_buffered = self.inner.config.max_buffered;
        self.with_hub(hub, |state| {
            let conn = state
                .connections
                .get_mut(connection_id)
                .filter(|c| c.protocol.is_reliable())
                .ok_or_else(|| ResumeError::Unknown(connection_id.to_string()))?;
            if conn.reconnection_token != reconnection_token {
                return Err(ResumeError::BadToken(connection_id.to_string()));
            }
            // A half-open old socket may still be attached: it loses to the new one.
            conn.abort();
            let (link, outbound, abort) = new_link(max_buffered);
            for (_, frame) in &conn.unacked {
                // Fits: the queue holds `max_buffered` and the unacked buffer never exceeds it.
                let _ = link.queue.try_send(Outbound::Text(frame.clone()));
            }
            conn.epoch += 1;
            conn.link = Some(link);
            Ok(Attached {
                connection_id: connection_id.to_string(),
                epoch: conn.epoch,
                outbound,
                abort,
            })
        })
    }

    /// A socket task ended. `abnormal` means no close frame came from the client.
    pub(crate) fn socket_ended(&self, hub: &str, connection_id: &str, epoch: u64, abnormal: bool) {
        let grace = self.inner.config.recovery_grace;
        let wait = self.with_hub(hub, |state| {
            let conn = state
                .connections
                .get_mut(connection_id)
                .filter(|c| c.epoch == epoch && c.link.is_some())?;
            if abnormal && conn.protocol.is_reliable() {
                conn.link = None;
                Some(epoch)
            } else {
                state.remove(connection_id);
                None
            }
        });
        if let Some(epoch) = wait {
            self.expire_later(hub, connection_id, epoch, grace);
        }
    }

    fn expire_later(&self, hub: &str, connection_id: &str, epoch: u64, grace: Duration) {
        let inner: Weak<Inner> = Arc::downgrade(&self.inner);
        let (hub, connection_id) = (hub.to_ascii_lowercase(), connection_id.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let Some(inner) = inner.upgrade() else { return };
            let hub_handle = Hub { inner };
            hub_handle.with_hub(&hub, |state| {
                let still_detached = state
                    .connections
                    .get(&connection_id)
                    .is_some_and(|c| c.epoch == epoch && c.link.is_none());
                if still_detached {
                    state.remove(&connection_id);
                }
            });
        });
    }

    /// Handles one client request. Its reply (ack or pong) is queued behind everything already
    /// queued for the connection, so a pong proves earlier deliveries were flushed.
    pub(crate) fn handle_frame(&self, hub: &str, connection_id: &str, frame: ClientFrame) {
        let max = self.inner.config.max_buffered;
        self.with_hub(hub, |state| {
            let reply = Self::answer(state, connection_id, frame, max);
            if let (Some(reply), Some(conn)) = (reply, state.connections.get(connection_id)) {
                conn.send(Outbound::Text(reply.into()));
            }
        })
    }

    /// Answers a frame that could not be parsed: an error ack when it had an ackId.
    pub(crate) fn reject_frame(
        &self,
        hub: &str,
        connection_id: &str,
        ack_id: Option<u64>,
        message: &str,
    ) {
        let Some(id) = ack_id else { return };
        let reply = protocol::ack_frame(id, Err((AckError::BadRequest, message)));
        self.with_hub(hub, |state| {
            if let Some(conn) = state.connections.get(connection_id) {
                conn.send(Outbound::Text(reply.into()));
            }
        })
    }

    fn answer(
        state: &mut HubState,
        connection_id: &str,
        frame: ClientFrame,
        max: usize,
    ) -> Option<String> {
        const DUPLICATE: &str = "Message with the same ackId was already processed.";
        const NO_JOIN: &str = "The connection has no permission to join or leave this group.";
        const NO_SEND: &str = "The connection has no permission to send to this group.";
        let conn = state.connections.get_mut(connection_id)?;
        let ack_id = frame.ack_id();
        if ack_id.is_some_and(|id| !conn.first_use(id)) {
            return ack_id.map(|id| protocol::ack_frame(id, Err((AckError::Duplicate, DUPLICATE))));
        }
        let result = match frame {
            ClientFrame::Ping => return Some(protocol::pong_frame().to_string()),
            ClientFrame::SequenceAck { sequence_id } => {
                while conn.unacked.front().is_some_and(|(s, _)| *s <= sequence_id) {
                    conn.unacked.pop_front();
                }
                return None;
            }
            ClientFrame::JoinGroup { group, .. } => {
                if conn.can(Permission::JoinLeaveGroup, &group) {
                    state.join(connection_id, &group);
                    Ok(())
                } else {
                    Err((AckError::Forbidden, NO_JOIN))
                }
            }
            ClientFrame::LeaveGroup { group, .. } => {
                if conn.can(Permission::JoinLeaveGroup, &group) {
                    state.leave(connection_id, &group);
                    Ok(())
                } else {
                    Err((AckError::Forbidden, NO_JOIN))
                }
            }
            ClientFrame::SendToGroup {
                group,
                no_echo,
                payload,
                ..
            } => {
                if conn.can(Permission::SendToGroup, &group) {
                    let origin = Origin::Group {
                        group: group.clone(),
                        from_user_id: conn.user_id.clone(),
                    };
                    let mut targets = state.group_connections(&group);
                    if no_echo {
                        targets.retain(|id| id != connection_id);
                    }
                    state.deliver(&targets, &Outgoing::new(&origin, &payload), max);
                    Ok(())
                } else {
                    Err((AckError::Forbidden, NO_SEND))
                }
            }
            // No upstream event handler exists locally: the event is accepted and dropped.
            ClientFrame::Event { .. } => Ok(()),
        };
        ack_id.map(|id| protocol::ack_frame(id, result))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::devhost::webpubsub::protocol::Payload;

    #[derive(Debug, Clone)]
    enum Op {
        Push,
        Ack(u64),
        DropAndResume,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Push),
            2 => (0u64..40).prop_map(Op::Ack),
            1 => Just(Op::DropAndResume),
        ]
    }

    fn sequence_id(out: Outbound) -> u64 {
        match out {
            Outbound::Text(t) => serde_json::from_str::<serde_json::Value>(t.as_str())
                .ok()
                .and_then(|v| v["sequenceId"].as_u64())
                .unwrap_or(0),
            other => panic!("unexpected {other:?}"),
        }
    }

    proptest! {
        /// Whatever the interleaving of pushes, acks and drops, a resumed socket gets exactly
        /// the messages above the highest ack, in order, and new ones continue the sequence.
        #[test]
        fn resume_resends_exactly_the_unacked_suffix(ops in proptest::collection::vec(op(), 1..40)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let hub = Hub::new(AccessKey::generate(), HubConfig::default());
                let identity = ClientIdentity { user_id: Some("u".into()), roles: vec![], groups: vec![] };
                let attached = hub.open("h", identity, Protocol::ReliableJson);
                let id = attached.connection_id.clone();
                let mut rx = attached.outbound;
                let token = hub.lock()["h"].connections[&id].reconnection_token.clone();
                rx.try_recv().unwrap(); // connected frame
                let (mut pushed, mut acked) = (0u64, 0u64);
                for op in ops {
                    match op {
                        Op::Push => {
                            let action = WebPubSubAction::SendToUser {
                                user_id: "u".into(),
                                payload: Payload::Text("x".into()),
                            };
                            prop_assert_eq!(hub.apply("h", action), 1);
                            pushed += 1;
                            prop_assert_eq!(sequence_id(rx.try_recv().unwrap()), pushed);
                        }
                        Op::Ack(n) => {
                            hub.handle_frame("h", &id, ClientFrame::SequenceAck { sequence_id: n });
                            acked = acked.max(n.min(pushed));
                        }
                        Op::DropAndResume => {
                            prop_assert!(hub.drop_connection("h", &id));
                            let resumed = hub.resume("h", &id, &token, Protocol::ReliableJson).unwrap();
                            rx = resumed.outbound;
                            let mut resent = Vec::new();
                            while let Ok(out) = rx.try_recv() {
                                resent.push(sequence_id(out));
                            }
                            prop_assert_eq!(resent, (acked + 1..=pushed).collect::<Vec<_>>());
                        }
                    }
                }
                Ok(())
            })?;
        }
    }
}
