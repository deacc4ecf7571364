//! The local platform's embedded Web PubSub-compatible service.
//!
//! - [`Hub`]: state of every hub (connections, users, groups, reliable-protocol buffers) and
//!   the server-side operations: [`Hub::apply`] runs a [`WebPubSubAction`] from a function's
//!   `webPubSub` output, [`Hub::client_connection`] answers the `webPubSubConnection` input.
//! - [`router`]: `GET /client/hubs/{hub}`, the WebSocket endpoint speaking
//!   `json.webpubsub.azure.v1`, `json.reliable.webpubsub.azure.v1`, or plain WebSocket, and
//!   the REST call `POST /api/hubs/{hub}/:generateToken` ([`rest`]).
//! - [`same_host`]: negotiation answers re-addressed to the local name the browser used.
//! - [`token`]: client access JWTs, the signing key and Azure connection strings.
//! - [`action`] and [`protocol`]: the JSON shapes of output actions and of client frames.

pub mod action;
pub mod client_access;
pub mod hub;
pub mod protocol;
pub mod rest;
pub mod router;
pub mod same_host;
mod session;
mod state;
pub mod token;

pub use action::{ActionError, Permission, WebPubSubAction};
pub use client_access::{ClientAccessError, ClientGrant, ConnectionInfo, client_access};
pub use hub::{ConnectionSnapshot, Hub, HubConfig, ResumeError};
pub use protocol::Payload;
pub use router::{ConnectError, router};
pub use token::{AccessKey, ConnectionString, KeyError, TokenError};

/// The hubs the app's bindings name (`webPubSub` outputs and `webPubSubConnection` inputs),
/// sorted, each once.
pub fn declared_hubs(manifest: &crate::runtime::manifest::Manifest) -> Vec<String> {
    use crate::runtime::manifest::BindingKind;
    let mut hubs: Vec<String> = manifest
        .functions
        .iter()
        .flat_map(|f| f.bindings.iter())
        .filter_map(|b| match &b.kind {
            BindingKind::WebPubSub { hub: Some(hub), .. }
            | BindingKind::WebPubSubConnection { hub: Some(hub), .. } => Some(hub.clone()),
            _ => None,
        })
        .collect();
    hubs.sort();
    hubs.dedup();
    hubs
}
