//! Negotiation answers on the name the browser used. The app asks the hub's REST API for a
//! token and builds the client URL from its configured endpoint, as the SDKs do
//! ([`crate::app::webpubsub`]); locally that endpoint is the platform's bound address
//! (`127.0.0.1:PORT`). A page opened as `http://localhost:PORT` is another origin, and its
//! `connect-src 'self'` refuses a socket to `127.0.0.1`. So an `/api` answer of the shape
//! `{baseUrl, url, accessToken}` whose token this hub signed for its own address is
//! re-addressed to the request's `Host` when that is another local name for the same port:
//! same hub, same claims and expiry, audience and URL on that name. The app's code path is
//! untouched; in Azure the endpoint is the service's one public host.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

use super::client_access::ConnectionInfo;
use super::hub::Hub;
use super::token;
use crate::devhost::admin::is_known_host;

/// Largest answer inspected (a negotiation answer is well under 2 KiB).
const MAX_INSPECTED: usize = 16 * 1024;

/// Middleware for the functions' `/api` router: re-addresses negotiation answers to the
/// request's `Host` (see the module docs); passes every other answer through unchanged.
pub async fn same_host(State(hub): State<Hub>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| is_known_host(host))
        .map(str::to_owned);
    let response = next.run(request).await;
    let Some(host) = host else {
        return response;
    };
    if !response.status().is_success() || !is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The invocation's answer is already whole in memory; reading it cannot fail.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        parts.status = axum::http::StatusCode::BAD_GATEWAY;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    };
    if bytes.len() > MAX_INSPECTED {
        return Response::from_parts(parts, Body::from(bytes));
    }
    match readdressed(&hub, &bytes, &host) {
        Some(body) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(body))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// The answer re-addressed to `host`, when it is a connection this hub signed for another
/// local name of the same port.
fn readdressed(hub: &Hub, body: &[u8], host: &str) -> Option<Vec<u8>> {
    let info: ConnectionInfo = serde_json::from_slice(body).ok()?;
    let (scheme, rest) = info.base_url.split_once("://")?;
    let (authority, path) = rest.split_once('/')?;
    let hub_name = path.strip_prefix("client/hubs/")?;
    if authority.eq_ignore_ascii_case(host) || port_of(authority)? != port_of(host)? {
        return None;
    }
    let http = if scheme == "wss" { "https" } else { "http" };
    let access_token = token::readdress(
        hub.key(),
        &info.access_token,
        &format!("{http}://{authority}/client/hubs/{hub_name}"),
        &format!("{http}://{host}/client/hubs/{hub_name}"),
    )
    .ok()?;
    let base_url = format!("{scheme}://{host}/client/hubs/{hub_name}");
    serde_json::to_vec(&ConnectionInfo {
        url: format!("{base_url}?access_token={access_token}"),
        base_url,
        access_token,
    })
    .ok()
}

/// The port of `host[:port]` (`[v6]:port` included); 80 when none is given.
fn port_of(authority: &str) -> Option<u16> {
    let after_host = match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.1,
        None => authority.rsplit_once(':').map_or("", |(_, port)| port),
    };
    match after_host.strip_prefix(':').unwrap_or(after_host) {
        "" => Some(80),
        port => port.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::devhost::webpubsub::{AccessKey, ClientGrant, HubConfig};

    fn hub() -> Hub {
        Hub::new(AccessKey::new("test-key").unwrap(), HubConfig::default())
    }

    fn answer(hub: &Hub, endpoint: &str) -> Vec<u8> {
        let grant = ClientGrant {
            user_id: Some("ann".into()),
            ..ClientGrant::default()
        };
        let info = hub
            .client_connection(endpoint, "game", &grant, Duration::from_secs(600))
            .unwrap();
        serde_json::to_vec(&info).unwrap()
    }

    #[test]
    fn an_answer_for_the_bound_address_moves_to_another_name_of_the_same_port() {
        let hub = hub();
        let body = readdressed(
            &hub,
            &answer(&hub, "http://127.0.0.1:7071"),
            "localhost:7071",
        )
        .expect("re-addressed");
        let info: ConnectionInfo = serde_json::from_slice(&body).unwrap();
        assert_eq!(info.base_url, "ws://localhost:7071/client/hubs/game");
        assert!(
            info.url
                .starts_with("ws://localhost:7071/client/hubs/game?access_token=")
        );
        let identity = token::verify(
            hub.key(),
            "http://localhost:7071/client/hubs/game",
            &info.access_token,
            true,
        )
        .unwrap();
        assert_eq!(identity.user_id.as_deref(), Some("ann"));
    }

    #[test]
    fn other_ports_foreign_tokens_and_other_answers_pass_unchanged() {
        let hub = hub();
        let ours = answer(&hub, "http://127.0.0.1:7071");
        assert!(readdressed(&hub, &ours, "127.0.0.1:7071").is_none());
        assert!(readdressed(&hub, &ours, "localhost:4280").is_none());
        assert!(readdressed(&hub, &ours, "localhost").is_none());
        let foreign = hub_with_other_key();
        assert!(
            readdressed(
                &hub,
                &answer(&foreign, "http://127.0.0.1:7071"),
                "localhost:7071"
            )
            .is_none()
        );
        assert!(
            readdressed(
                &hub,
                br#"{"url": "ws://127.0.0.1:7071/x"}"#,
                "localhost:7071"
            )
            .is_none()
        );
    }

    fn hub_with_other_key() -> Hub {
        Hub::new(AccessKey::new("other-key").unwrap(), HubConfig::default())
    }

    #[test]
    fn ports_are_read_from_names_addresses_and_v6_literals() {
        assert_eq!(port_of("localhost:7071"), Some(7071));
        assert_eq!(port_of("127.0.0.1"), Some(80));
        assert_eq!(port_of("[::1]:4280"), Some(4280));
        assert_eq!(port_of("[::1]"), Some(80));
        assert_eq!(port_of("localhost:x"), None);
    }
}
