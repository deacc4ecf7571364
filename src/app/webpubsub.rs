//! Web PubSub client access for one user through the service's REST API
//! (`POST {endpoint}/api/hubs/{hub}/:generateToken?userId=…&minutesToExpire=…&api-version=2024-01-01`,
//! answer `{"token": "…"}`; learn.microsoft.com/rest/api/webpubsub/dataplane/web-pub-sub/generate-client-token).
//!
//! In Azure the request carries an Entra ID token of the app's managed identity (no access key);
//! with a connection string (the local platform's embedded hub) it carries an HS256 JWT signed
//! with the access key whose `aud` is the request URL, as the service's REST API accepts
//! (learn.microsoft.com/azure/azure-web-pubsub/reference-rest-api-data-plane). Both go through
//! this one code path. The client URL is built as the SDKs build it: the endpoint with `ws(s)`,
//! `/client/hubs/{hub}`, `?access_token=`.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::services::AppServices;
use super::settings::WebPubSubAuth;

/// The data-plane REST API version used.
pub const API_VERSION: &str = "2024-01-01";
/// The Entra ID scope of the Web PubSub data plane.
pub const SCOPE: &str = "https://webpubsub.azure.com/.default";
/// Lifetime of a client token, in minutes (the SDKs' default).
pub const TOKEN_MINUTES: u32 = 60;
/// Lifetime of the access-key JWT that authenticates one REST call, in seconds.
const REST_TOKEN_SECONDS: u64 = 300;

/// What the client needs to connect; the shape of the `webPubSubConnection` binding's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConnection {
    /// `ws(s)://<host>/client/hubs/<hub>`
    pub base_url: String,
    /// `base_url` + `?access_token=<token>`
    pub url: String,
    pub access_token: String,
}

/// Why no client token could be had.
#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    /// Neither `WebPubSubConnection` nor `WebPubSubConnection__serviceUri` is set: 503.
    #[error(
        "Web PubSub is not configured: set WebPubSubConnection__serviceUri (or a WebPubSubConnection connection string)"
    )]
    NotConfigured,
    #[error("the Web PubSub endpoint `{0}` cannot hold the token request path")]
    Endpoint(String),
    #[error("cannot authenticate to Web PubSub: {0}")]
    Auth(String),
    #[error("Web PubSub could not be reached: {0}")]
    Unreachable(String),
    #[error("Web PubSub refused the token request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("Web PubSub answered the token request with something unusable: {0}")]
    Malformed(String),
}

#[derive(Serialize)]
struct RestClaims<'a> {
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: String,
}

/// A client connection for `user_id` on the configured hub.
pub async fn client_connection(
    services: &AppServices,
    user_id: &str,
) -> Result<ClientConnection, PubSubError> {
    let settings = services.settings();
    let service = settings
        .web_pubsub
        .as_ref()
        .ok_or(PubSubError::NotConfigured)?;
    let endpoint = reqwest::Url::parse(&service.endpoint)
        .map_err(|_| PubSubError::Endpoint(service.endpoint.clone()))?;
    let mut url = endpoint.clone();
    url.path_segments_mut()
        .map_err(|()| PubSubError::Endpoint(service.endpoint.clone()))?
        .pop_if_empty()
        .extend(["api", "hubs", settings.hub.as_str(), ":generateToken"]);
    url.query_pairs_mut()
        .append_pair("userId", user_id)
        .append_pair("minutesToExpire", &TOKEN_MINUTES.to_string())
        .append_pair("api-version", API_VERSION);
    let bearer = match &service.auth {
        WebPubSubAuth::Identity => services
            .credential()
            .map_err(|e| PubSubError::Auth(e.to_string()))?
            .get_token(&[SCOPE], None)
            .await
            .map_err(|e| PubSubError::Auth(e.to_string()))?
            .token
            .secret()
            .to_owned(),
        WebPubSubAuth::AccessKey(key) => {
            let now = jsonwebtoken::get_current_timestamp();
            let claims = RestClaims {
                aud: url.as_str(),
                iat: now,
                exp: now + REST_TOKEN_SECONDS,
            };
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(key.secret().as_bytes()),
            )
            .map_err(|e| PubSubError::Auth(e.to_string()))?
        }
    };
    let response = services
        .http()
        .post(url)
        .bearer_auth(bearer)
        .send()
        .await
        .map_err(|e| PubSubError::Unreachable(e.without_url().to_string()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| PubSubError::Unreachable(e.without_url().to_string()))?;
    if !status.is_success() {
        let message = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(PubSubError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    let token = serde_json::from_slice::<TokenResponse>(&body)
        .map_err(|e| PubSubError::Malformed(e.to_string()))?
        .token;
    let ws = match endpoint.scheme() {
        "https" => "wss",
        _ => "ws",
    };
    let rest = service
        .endpoint
        .split_once("://")
        .map_or(service.endpoint.as_str(), |(_, rest)| rest);
    let base_url = format!("{ws}://{rest}/client/hubs/{}", settings.hub);
    Ok(ClientConnection {
        url: format!("{base_url}?access_token={token}"),
        base_url,
        access_token: token,
    })
}
