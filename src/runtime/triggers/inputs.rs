//! Typed input bindings read next to a trigger with [`crate::runtime::Context::input`].

use serde::{Deserialize, Serialize};

/// The `webPubSubConnection` input: where and how a client connects to the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebPubSubConnectionInfo {
    pub base_url: String,
    pub url: String,
    pub access_token: String,
}
