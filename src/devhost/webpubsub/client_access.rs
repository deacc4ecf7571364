//! Client access URLs: what the `webPubSubConnection` input binding hands a function
//! (`{baseUrl, url, accessToken}`), signed with the hub's key.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::token::{self, AccessKey, ClientIdentity, TokenError};

/// The binding's value, serialised camelCase exactly like Azure's `WebPubSubConnection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// `ws(s)://<host>/client/hubs/<hub>`
    pub base_url: String,
    /// `base_url` + `?access_token=<jwt>`
    pub url: String,
    pub access_token: String,
}

/// What a client may do once connected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientGrant {
    pub user_id: Option<String>,
    /// Role claims such as `webpubsub.joinLeaveGroup.<group>`.
    pub roles: Vec<String>,
    /// Groups joined on connect (`webpubsub.group` claims).
    pub groups: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientAccessError {
    #[error("Web PubSub endpoint `{0}` must start with http:// or https://")]
    Endpoint(String),
    #[error(
        "Web PubSub hub name `{0}` must be letters, digits and underscores, starting with a letter"
    )]
    HubName(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Azure's rule for hub names, which keeps them safe in a URL path.
pub fn valid_hub_name(hub: &str) -> bool {
    let mut chars = hub.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && hub.len() <= 128
}

/// Signs a client access URL for `hub` at `endpoint` (the http(s) service or local platform
/// URL, e.g. `http://127.0.0.1:7071`). Works for a real Azure endpoint too, given its key.
pub fn client_access(
    endpoint: &str,
    key: &AccessKey,
    hub: &str,
    grant: &ClientGrant,
    ttl: Duration,
) -> Result<ConnectionInfo, ClientAccessError> {
    let endpoint = endpoint.trim_end_matches('/');
    let ws_endpoint = if let Some(rest) = endpoint.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = endpoint.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(ClientAccessError::Endpoint(endpoint.to_string()));
    };
    if !valid_hub_name(hub) {
        return Err(ClientAccessError::HubName(hub.to_string()));
    }
    let identity = ClientIdentity {
        user_id: grant.user_id.clone(),
        roles: grant.roles.clone(),
        groups: grant.groups.clone(),
    };
    let access_token = token::sign(
        key,
        &format!("{endpoint}/client/hubs/{hub}"),
        &identity,
        ttl,
    )?;
    let base_url = format!("{ws_endpoint}/client/hubs/{hub}");
    Ok(ConnectionInfo {
        url: format!("{base_url}?access_token={access_token}"),
        base_url,
        access_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_the_binding_and_signs_for_the_http_audience() {
        let key = AccessKey::new("k").unwrap();
        let grant = ClientGrant {
            user_id: Some("alice".into()),
            ..ClientGrant::default()
        };
        let info = client_access(
            "https://example.test/",
            &key,
            "game",
            &grant,
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(info.base_url, "wss://example.test/client/hubs/game");
        assert_eq!(
            info.url,
            format!("{}?access_token={}", info.base_url, info.access_token)
        );
        let json = serde_json::to_value(&info).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["accessToken", "baseUrl", "url"]);
        let id = token::verify(
            &key,
            "https://example.test/client/hubs/game",
            &info.access_token,
            true,
        )
        .unwrap();
        assert_eq!(id.user_id.as_deref(), Some("alice"));
    }

    #[test]
    fn rejects_bad_endpoint_and_hub() {
        let key = AccessKey::new("k").unwrap();
        let g = ClientGrant::default();
        let ttl = Duration::from_secs(1);
        assert!(matches!(
            client_access("ftp://x", &key, "game", &g, ttl),
            Err(ClientAccessError::Endpoint(_))
        ));
        assert!(matches!(
            client_access("http://x", &key, "a/b", &g, ttl),
            Err(ClientAccessError::HubName(_))
        ));
    }
}
