//! Hub state: connections (user, groups, roles, sequence ids, unacked buffer), users and groups
//! per hub, and every operation on them. One mutex guards it all; nothing awaits under it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

use super::action::{Permission, WebPubSubAction};
use super::client_access::{self, ClientAccessError, ClientGrant, ConnectionInfo};
use super::protocol::{
    self, AckError, ClientFrame, Origin, Payload, Protocol, RawPayload, with_sequence_id,
};
use super::token::{AccessKey, ClientIdentity};

/// Close code that tells clients not to attempt recovery.
pub const CLOSE_POLICY: u16 = 1008;
const SEEN_ACK_IDS: usize = 1024;

/// Tuning for the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// How long a reliable connection that dropped abnormally can be resumed.
    pub recovery_grace: Duration,
    /// Unacknowledged messages kept per reliable connection before it is closed.
    pub max_unacked: usize,
    /// Public http(s) base URL clients use (token audience); when unset the request's
    /// `Host` (and `X-Forwarded-Proto`) decide.
    pub public_base_url: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            recovery_grace: Duration::from_secs(45),
            max_unacked: 10_000,
            public_base_url: None,
        }
    }
}

/// What a socket task is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(Utf8Bytes),
    Binary(Vec<u8>),
    /// Send a close frame with this code and reason, then stop.
    Close(u16, String),
    /// Drop the socket without a close frame (a network failure, as far as the client knows).
    Abort,
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

struct Conn {
    user_id: Option<String>,
    roles: HashSet<String>,
    groups: HashSet<String>,
    protocol: Protocol,
    next_sequence_id: u64,
    unacked: VecDeque<(u64, Utf8Bytes)>,
    seen_ack_ids: HashSet<u64>,
    seen_ack_order: VecDeque<u64>,
    reconnection_token: String,
    link: Option<mpsc::UnboundedSender<Outbound>>,
    epoch: u64,
}

impl Conn {
    fn send(&self, out: Outbound) {
        if let Some(link) = &self.link {
            // A closed channel means the socket task is ending; it reports that itself.
            let _ = link.send(out);
        }
    }

    fn can(&self, permission: Permission, group: &str) -> bool {
        self.roles.contains(&permission.role(None))
            || self.roles.contains(&permission.role(Some(group)))
    }

    /// Records an ackId; false when it was already used on this connection.
    fn first_use(&mut self, ack_id: u64) -> bool {
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
struct Outgoing {
    frame: String,
    frame_bytes: Utf8Bytes,
    raw: RawPayload,
}

impl Outgoing {
    fn new(origin: &Origin, payload: &Payload) -> Self {
        let frame = protocol::message_frame(origin, payload);
        Self {
            frame_bytes: Utf8Bytes::from(frame.as_str()),
            frame,
            raw: payload.raw(),
        }
    }
}

#[derive(Default)]
struct HubState {
    connections: HashMap<String, Conn>,
    users: HashMap<String, HashSet<String>>,
    groups: HashMap<String, HashSet<String>>,
}

impl HubState {
    fn join(&mut self, conn_id: &str, group: &str) {
        if let Some(conn) = self.connections.get_mut(conn_id) {
            conn.groups.insert(group.to_string());
            self.groups
                .entry(group.to_string())
                .or_default()
                .insert(conn_id.to_string());
        }
    }

    fn leave(&mut self, conn_id: &str, group: &str) {
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

    fn remove(&mut self, conn_id: &str) -> Option<Conn> {
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

    fn user_connections(&self, user: &str) -> Vec<String> {
        self.users
            .get(user)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn group_connections(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Delivers to each listed connection; returns how many received it. Reliable connections
    /// that exceed `max_unacked` are closed.
    fn deliver(&mut self, targets: &[String], out: &Outgoing, max_unacked: usize) -> usize {
        let mut delivered = 0;
        let mut overflowed = Vec::new();
        for id in targets {
            let Some(conn) = self.connections.get_mut(id) else {
                continue;
            };
            delivered += 1;
            match conn.protocol {
                Protocol::Simple => conn.send(match &out.raw {
                    RawPayload::Text(t) => Outbound::Text(Utf8Bytes::from(t.as_str())),
                    RawPayload::Binary(b) => Outbound::Binary(b.clone()),
                }),
                Protocol::Json => conn.send(Outbound::Text(out.frame_bytes.clone())),
                Protocol::ReliableJson => {
                    let seq = conn.next_sequence_id;
                    conn.next_sequence_id += 1;
                    let frame = Utf8Bytes::from(with_sequence_id(&out.frame, seq));
                    conn.send(Outbound::Text(frame.clone()));
                    conn.unacked.push_back((seq, frame));
                    if conn.unacked.len() > max_unacked {
                        overflowed.push(id.clone());
                    }
                }
            }
        }
        for id in overflowed {
            self.close(&id, "Too many unacknowledged messages.");
        }
        delivered
    }

    /// Server-side close: tell the client why, close with 1008 (no recovery), forget it.
    fn close(&mut self, conn_id: &str, reason: &str) -> bool {
        let Some(conn) = self.remove(conn_id) else {
            return false;
        };
        if conn.protocol != Protocol::Simple {
            conn.send(Outbound::Text(protocol::disconnected_frame(reason).into()));
        }
        conn.send(Outbound::Close(CLOSE_POLICY, reason.to_string()));
        true
    }

    fn all_except(&self, excluded: &[String]) -> Vec<String> {
        self.connections
            .keys()
            .filter(|id| !excluded.contains(id))
            .cloned()
            .collect()
    }
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
    pub outbound: mpsc::UnboundedReceiver<Outbound>,
}

/// Why a recovery request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResumeError {
    #[error("connection `{0}` does not exist or can no longer be recovered")]
    Unknown(String),
    #[error("reconnection token does not match connection `{0}`")]
    BadToken(String),
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
        f(hubs.entry(hub.to_ascii_lowercase()).or_default())
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

    /// Runs one output-binding action on `hub`; returns how many connections it touched.
    pub fn apply(&self, hub: &str, action: WebPubSubAction) -> usize {
        let max = self.inner.config.max_unacked;
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
            conn.send(Outbound::Abort);
            if conn.protocol.is_reliable() {
                conn.link = None;
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
        let (tx, outbound) = mpsc::unbounded_channel();
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
            let _ = tx.send(Outbound::Text(frame.into()));
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
            link: Some(tx),
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
        }
    }

    /// Re-attaches a reliable connection to a new socket and re-sends what it has not acked.
    pub(crate) fn resume(
        &self,
        hub: &str,
        connection_id: &str,
        reconnection_token: &str,
    ) -> Result<Attached, ResumeError> {
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
            conn.send(Outbound::Abort);
            let (tx, outbound) = mpsc::unbounded_channel();
            for (_, frame) in &conn.unacked {
                let _ = tx.send(Outbound::Text(frame.clone()));
            }
            conn.epoch += 1;
            conn.link = Some(tx);
            Ok(Attached {
                connection_id: connection_id.to_string(),
                epoch: conn.epoch,
                outbound,
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
        let max = self.inner.config.max_unacked;
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
        let conn = state.connections.get_mut(connection_id)?;
        let (ack_id, result) = match frame {
            ClientFrame::Ping => return Some(protocol::pong_frame().to_string()),
            ClientFrame::SequenceAck { sequence_id } => {
                while conn.unacked.front().is_some_and(|(s, _)| *s <= sequence_id) {
                    conn.unacked.pop_front();
                }
                return None;
            }
            ClientFrame::JoinGroup { group, ack_id }
            | ClientFrame::LeaveGroup { group, ack_id }
                if ack_id.is_some_and(|a| !conn.first_use(a)) =>
            {
                let _ = group;
                (
                    ack_id,
                    Err((
                        AckError::Duplicate,
                        "Message with the same ackId was already processed.",
                    )),
                )
            }
            ClientFrame::JoinGroup { group, ack_id } => {
                if conn.can(Permission::JoinLeaveGroup, &group) {
                    state.join(connection_id, &group);
                    (ack_id, Ok(()))
                } else {
                    (
                        ack_id,
                        Err((
                            AckError::Forbidden,
                            "The connection has no permission to join or leave this group.",
                        )),
                    )
                }
            }
            ClientFrame::LeaveGroup { group, ack_id } => {
                if conn.can(Permission::JoinLeaveGroup, &group) {
                    state.leave(connection_id, &group);
                    (ack_id, Ok(()))
                } else {
                    (
                        ack_id,
                        Err((
                            AckError::Forbidden,
                            "The connection has no permission to join or leave this group.",
                        )),
                    )
                }
            }
            ClientFrame::SendToGroup {
                group,
                ack_id,
                no_echo,
                payload,
            } => {
                if ack_id.is_some_and(|a| !conn.first_use(a)) {
                    (
                        ack_id,
                        Err((
                            AckError::Duplicate,
                            "Message with the same ackId was already processed.",
                        )),
                    )
                } else if !conn.can(Permission::SendToGroup, &group) {
                    (
                        ack_id,
                        Err((
                            AckError::Forbidden,
                            "The connection has no permission to send to this group.",
                        )),
                    )
                } else {
                    let origin = Origin::Group {
                        group: group.clone(),
                        from_user_id: conn.user_id.clone(),
                    };
                    let mut targets = state.group_connections(&group);
                    if no_echo {
                        targets.retain(|id| id != connection_id);
                    }
                    state.deliver(&targets, &Outgoing::new(&origin, &payload), max);
                    (ack_id, Ok(()))
                }
            }
            ClientFrame::Event { ack_id, .. } => {
                // No upstream event handler exists locally: the event is accepted and dropped.
                if ack_id.is_some_and(|a| !conn.first_use(a)) {
                    (
                        ack_id,
                        Err((
                            AckError::Duplicate,
                            "Message with the same ackId was already processed.",
                        )),
                    )
                } else {
                    (ack_id, Ok(()))
                }
            }
        };
        ack_id.map(|id| protocol::ack_frame(id, result))
    }
}
