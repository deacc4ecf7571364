//! The service's REST API as far as the app uses it: `POST /api/hubs/{hub}/:generateToken`
//! (learn.microsoft.com/rest/api/webpubsub/dataplane/web-pub-sub/generate-client-token:
//! query `userId`, `role`*, `group`*, `minutesToExpire` (≥ 1, default 60), `api-version`
//! required; answer `{"token": "…"}`).
//!
//! Calls are authenticated as the service authenticates them with an access key
//! (learn.microsoft.com/azure/azure-web-pubsub/reference-rest-api-data-plane): an HS256 JWT
//! signed with the key, with `exp` and an `aud` equal to the request URL. Entra ID tokens are
//! not accepted here: the embedded hub has no tenant to validate them against.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::client_access::{ClientGrant, valid_hub_name};
use super::hub::Hub;
use super::router::{base_url, bearer};
use super::token;

/// The data-plane API versions the service documents for `:generateToken`.
const API_VERSIONS: [&str; 5] = [
    "2021-10-01",
    "2022-11-01",
    "2023-07-01",
    "2024-01-01",
    "2024-12-01",
];
const DEFAULT_MINUTES: u64 = 60;

/// The service's error body (`ErrorDetail`: `code`, `message`).
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let message = message.into();
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

/// `POST /api/hubs/{hub}/{operation}`; only `:generateToken` exists here.
pub async fn operation(
    State(hub): State<Hub>,
    Path((hub_name, operation)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if operation != ":generateToken" {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("operation `{operation}` does not exist"),
        );
    }
    if !valid_hub_name(&hub_name) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidHub",
            format!(
                "hub name `{hub_name}` must be letters, digits and underscores, starting with a letter"
            ),
        );
    }
    let values = |name: &str| -> Vec<&str> {
        query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    };
    match values("api-version").first() {
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "MissingApiVersion",
                "query parameter `api-version` is required",
            );
        }
        Some(version) if !API_VERSIONS.contains(version) => {
            return error(
                StatusCode::BAD_REQUEST,
                "UnsupportedApiVersion",
                format!("api-version `{version}` is not supported"),
            );
        }
        Some(_) => {}
    }
    let Ok(base) = base_url(&hub, &headers) else {
        return error(
            StatusCode::BAD_REQUEST,
            "NoHost",
            "the request has no Host header",
        );
    };
    let request_url = format!("{base}{}", uri.path_and_query().map_or("", |p| p.as_str()));
    let Some(jwt) = bearer(&headers).filter(|t| !t.is_empty()) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "an `Authorization: Bearer` token signed with the access key is required",
        );
    };
    if let Err(problem) = token::verify(hub.key(), &request_url, jwt, true) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            problem.to_string(),
        );
    }
    let minutes = match values("minutesToExpire").first() {
        None => DEFAULT_MINUTES,
        Some(text) => match text.parse::<u64>() {
            Ok(minutes) if minutes >= 1 => minutes,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidMinutesToExpire",
                    format!("`minutesToExpire` must be a whole number of at least 1, got `{text}`"),
                );
            }
        },
    };
    let grant = ClientGrant {
        user_id: values("userId")
            .first()
            .filter(|id| !id.is_empty())
            .map(|id| (*id).to_owned()),
        roles: values("role").into_iter().map(str::to_owned).collect(),
        groups: values("group").into_iter().map(str::to_owned).collect(),
    };
    let ttl = Duration::from_secs(minutes.saturating_mul(60));
    match hub.client_connection(&base, &hub_name, &grant, ttl) {
        Ok(info) => Json(json!({ "token": info.access_token })).into_response(),
        Err(problem) => error(StatusCode::BAD_REQUEST, "BadRequest", problem.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devhost::webpubsub::{AccessKey, HubConfig, router};
    use axum::body::Body;
    use axum::http::Request;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::Value;
    use tower::ServiceExt;

    const HOST: &str = "127.0.0.1:7071";

    fn rest_jwt(secret: &str, audience: &str) -> String {
        let claims = json!({"aud": audience, "exp": jsonwebtoken::get_current_timestamp() + 60});
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    async fn call(hub: &Hub, path_and_query: &str, bearer: Option<String>) -> (u16, Value) {
        let mut request = Request::post(path_and_query).header("host", HOST);
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = router(hub.clone())
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn generates_a_client_token_for_a_call_signed_with_the_key() {
        let hub = Hub::new(AccessKey::new("secret").unwrap(), HubConfig::default());
        let path = "/api/hubs/CosmosPark/:generateToken?userId=u1&role=webpubsub.sendToGroup.g&group=g&minutesToExpire=5&api-version=2024-01-01";
        let (status, body) = call(
            &hub,
            path,
            Some(rest_jwt("secret", &format!("http://{HOST}{path}"))),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let identity = token::verify(
            hub.key(),
            &format!("http://{HOST}/client/hubs/CosmosPark"),
            body["token"].as_str().unwrap(),
            true,
        )
        .unwrap();
        assert_eq!(identity.user_id.as_deref(), Some("u1"));
        assert_eq!(identity.roles, ["webpubsub.sendToGroup.g"]);
        assert_eq!(identity.groups, ["g"]);
    }

    #[tokio::test]
    async fn refuses_what_the_service_refuses() {
        let hub = Hub::new(AccessKey::new("secret").unwrap(), HubConfig::default());
        let good = "/api/hubs/CosmosPark/:generateToken?userId=u1&api-version=2024-01-01";
        let signed = |path: &str| Some(rest_jwt("secret", &format!("http://{HOST}{path}")));
        // No credential, another key, a token for another URL.
        assert_eq!(call(&hub, good, None).await.0, 401);
        let other_key = Some(rest_jwt("other", &format!("http://{HOST}{good}")));
        assert_eq!(call(&hub, good, other_key).await.0, 401);
        let elsewhere = "/api/hubs/Other/:generateToken?userId=u1&api-version=2024-01-01";
        assert_eq!(call(&hub, good, signed(elsewhere)).await.0, 401);
        // Missing or unknown api-version, bad lifetime, unknown operation, bad hub name.
        for (path, status, code) in [
            (
                "/api/hubs/CosmosPark/:generateToken?userId=u1",
                400,
                "MissingApiVersion",
            ),
            (
                "/api/hubs/CosmosPark/:generateToken?api-version=1999-01-01",
                400,
                "UnsupportedApiVersion",
            ),
            (
                "/api/hubs/CosmosPark/:generateToken?api-version=2024-01-01&minutesToExpire=0",
                400,
                "InvalidMinutesToExpire",
            ),
            (
                "/api/hubs/CosmosPark/:send?api-version=2024-01-01",
                404,
                "NotFound",
            ),
            (
                "/api/hubs/9bad/:generateToken?api-version=2024-01-01",
                400,
                "InvalidHub",
            ),
        ] {
            let (got, body) = call(&hub, path, signed(path)).await;
            assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{path}");
        }
    }
}
