//! What every CosmosPark HTTP function shares: the caller from `x-ms-client-principal`, the
//! JSON error shape `{"error": {"code", "message", "field"?}}`, bounded JSON bodies, and
//! small store helpers that turn store errors into API errors.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::app::domain::auth::{self, Access, Principal, Route};
use crate::app::domain::values::{UserId, ValueError};
use crate::app::services::{AppServices, ServiceError};
pub use crate::app::store_io::{parse_docs, read_doc, to_doc};
use crate::runtime::principal::{CLIENT_PRINCIPAL_HEADER, ClientPrincipal};
use crate::store::{PartitionKey, Store, StoreError};

/// The largest request body any CosmosPark route accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// An API failure; every variant answers JSON with a specific status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        field: &'static str,
        message: String,
    },
    #[error("sign-in required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    NotFound {
        field: &'static str,
        message: String,
    },
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Services(#[from] ServiceError),
}

impl From<ValueError> for ApiError {
    fn from(error: ValueError) -> Self {
        Self::BadRequest {
            field: error.field(),
            message: error.to_string(),
        }
    }
}

impl ApiError {
    pub fn bad_request(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field,
            message: message.into(),
        }
    }

    pub fn not_found(field: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            field,
            message: message.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, Option<&'static str>) {
        match self {
            Self::BadRequest { field, .. } => (StatusCode::BAD_REQUEST, "BadRequest", Some(field)),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "Unauthorized", None),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden", None),
            Self::NotFound { field, .. } => (StatusCode::NOT_FOUND, "NotFound", Some(field)),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
                Some("body"),
            ),
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, "UpstreamFailed", None),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "NotConfigured", None),
            Self::Store(e) if e.is_throttled() => {
                (StatusCode::SERVICE_UNAVAILABLE, "Throttled", None)
            }
            Self::Store(_) | Self::Services(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", None)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, field) = self.parts();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            "the request could not be completed; try again".to_owned()
        } else {
            self.to_string()
        };
        let mut error = json!({ "code": code, "message": message });
        if let Some(field) = field {
            error["field"] = Value::String(field.to_owned());
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The caller, if signed in: `None` for anonymous requests (no header, or no `authenticated`
/// role). A malformed header is a 400 naming it. Only `x-ms-client-principal` is read: the
/// `-id` / `-name` / `-idp` headers are not part of what Static Web Apps sends.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(CLIENT_PRINCIPAL_HEADER) else {
            return Ok(Self(None));
        };
        let malformed = |problem: String| {
            ApiError::bad_request(
                "x-ms-client-principal",
                format!("header x-ms-client-principal is malformed: {problem}"),
            )
        };
        let text = header
            .to_str()
            .map_err(|_| malformed("not ASCII".to_owned()))?;
        let client = ClientPrincipal::decode(text).map_err(|e| malformed(e.to_string()))?;
        let principal = Principal::signed_in(
            &client.user_id,
            &client.identity_provider,
            &client.user_details,
            client.user_roles,
        )
        .map_err(|e| malformed(e.to_string()))?;
        Ok(Self(principal))
    }
}

impl Caller {
    /// Applies the route's policy; `target` is the user the request acts for.
    pub fn authorize(&self, route: Route, target: Option<&UserId>) -> ApiResult<()> {
        match auth::authorize(route, self.0.as_ref(), target) {
            Access::Allowed => Ok(()),
            Access::Unauthorized => Err(ApiError::Unauthorized),
            Access::Forbidden => Err(ApiError::Forbidden(match route.policy() {
                auth::Policy::Admin => "this route needs the admin role".to_owned(),
                _ => "you may only act for yourself".to_owned(),
            })),
        }
    }

    /// For routes whose acting user always comes from the principal (my profile, my
    /// messages): a body id naming anyone else is a 403, for admins too.
    pub fn require_self(&self, claimed: Option<&UserId>) -> ApiResult<&Principal> {
        let principal = self.principal()?;
        match claimed {
            Some(id) if *id != principal.user_id => Err(ApiError::Forbidden(
                "the body names another user; you may only act for yourself".to_owned(),
            )),
            _ => Ok(principal),
        }
    }

    /// The signed-in principal after [`Caller::authorize`] allowed a non-public route.
    pub fn principal(&self) -> ApiResult<&Principal> {
        self.0.as_ref().ok_or(ApiError::Unauthorized)
    }
}

/// Parses a path segment as a user id, naming the route parameter.
pub fn path_user_id(raw: &str) -> ApiResult<UserId> {
    Ok(UserId::parse(raw).map_err(|e| e.for_field("userId"))?)
}

/// Reads at most [`MAX_BODY_BYTES`] of the body.
pub async fn read_body(body: Body) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::TooLarge)
}

/// Reads the body as a JSON value (400 naming `body` when it is not JSON).
pub async fn json_body(body: Body) -> ApiResult<Value> {
    let bytes = read_body(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("body", "a JSON body is required"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("body", format!("body is not valid JSON: {e}")))
}

/// Deserialises a typed body, naming the JSON path of the first bad field.
pub fn typed_body<T: DeserializeOwned>(value: Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::BadRequest {
            field: "body",
            message: format!("body field `{path}`: {}", e.inner()),
        }
    })
}

/// A JSON response with status 200.
pub fn ok<T: Serialize>(value: T) -> Response {
    Json(value).into_response()
}

pub fn pk(value: &str) -> ApiResult<PartitionKey> {
    Ok(PartitionKey::new(Value::String(value.to_owned()))?)
}

/// The services' store as an API result.
pub async fn store(services: &AppServices) -> ApiResult<&Store> {
    Ok(services.store().await?)
}
