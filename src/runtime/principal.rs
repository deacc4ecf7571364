//! The Static Web Apps / App Service client principal: the one wire type for the
//! `x-ms-client-principal` header (base64 JSON), decoded here for the handler and encoded here
//! for the local Static Web Apps emulation and for tests, plus the `/.auth/me` JSON.
//!
//! The header is the only identity the handler trusts. Static Web Apps sends it, without
//! `claims`, to its API and to a linked backend
//! (learn.microsoft.com/azure/static-web-apps/user-information; the SWA CLI does the same in
//! Azure/static-web-apps-cli `src/msha/handlers/function.handler.ts`). The
//! `x-ms-client-principal-id` / `-name` / `-idp` headers are App Service authentication's, not
//! a documented part of that contract, so nothing here reads them.

use axum::Json;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The header Static Web Apps and App Service authentication set for a signed-in user.
pub const CLIENT_PRINCIPAL_HEADER: &str = "x-ms-client-principal";

/// The signed-in user. Field names match the header's JSON (case-insensitive on input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientPrincipal {
    #[serde(alias = "IdentityProvider", alias = "auth_typ")]
    pub identity_provider: String,
    #[serde(alias = "UserId")]
    pub user_id: String,
    #[serde(alias = "UserDetails", default)]
    pub user_details: String,
    #[serde(alias = "UserRoles", default)]
    pub user_roles: Vec<String>,
}

impl ClientPrincipal {
    /// Decodes the header value (standard or URL-safe base64, padding optional).
    pub fn decode(header: &str) -> Result<Self, PrincipalRejection> {
        let trimmed = header.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(trimmed)
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(trimmed.trim_end_matches('='))
            })
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(trimmed.trim_end_matches('='))
            })
            .map_err(|_| PrincipalRejection::Malformed("header is not base64".into()))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| {
            PrincipalRejection::Malformed(format!("header is not JSON: {error}"))
        })?;
        let principal = if value.get("claims").is_some() && value.get("userId").is_none() {
            Self::from_app_service(&value)?
        } else {
            serde_json::from_value(value).map_err(|error| {
                PrincipalRejection::Malformed(format!("header is not a client principal: {error}"))
            })?
        };
        if principal.user_id.trim().is_empty() {
            return Err(PrincipalRejection::Malformed("`userId` is empty".into()));
        }
        Ok(principal)
    }

    /// App Service authentication's shape: `{auth_typ, claims: [{typ, val}], name_typ, role_typ}`.
    fn from_app_service(value: &serde_json::Value) -> Result<Self, PrincipalRejection> {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
        };
        let claims: Vec<(&str, &str)> = value["claims"]
            .as_array()
            .map(|claims| {
                claims
                    .iter()
                    .filter_map(|claim| {
                        Some((claim.get("typ")?.as_str()?, claim.get("val")?.as_str()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let claim = |types: &[&str]| {
            claims
                .iter()
                .find(|(typ, _)| types.contains(typ))
                .map(|(_, val)| (*val).to_owned())
        };
        let user_id = claim(&[
            "http://schemas.microsoft.com/identity/claims/objectidentifier",
            "oid",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
            "sub",
        ])
        .ok_or_else(|| {
            PrincipalRejection::Malformed(
                "no user id claim (`oid`, `nameidentifier` or `sub`)".into(),
            )
        })?;
        let name_type = text("name_typ");
        let role_type = text("role_typ");
        Ok(Self {
            identity_provider: text("auth_typ").to_owned(),
            user_id,
            user_details: claim(&[name_type, "name", "preferred_username"]).unwrap_or_default(),
            user_roles: claims
                .iter()
                .filter(|(typ, _)| *typ == role_type || *typ == "roles")
                .map(|(_, val)| (*val).to_owned())
                .collect(),
        })
    }

    /// Encodes the principal the way Static Web Apps does (base64 of the JSON without
    /// `claims`), for the local emulation and tests.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_json().to_string())
    }

    /// The `clientPrincipal` object of `/.auth/me`: the principal with (empty) `claims`.
    pub fn to_me_json(&self) -> serde_json::Value {
        let mut json = self.to_json();
        json["claims"] = serde_json::json!([]);
        json
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "identityProvider": self.identity_provider,
            "userId": self.user_id,
            "userDetails": self.user_details,
            "userRoles": self.user_roles,
        })
    }

    /// Whether the principal carries `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.user_roles
            .iter()
            .any(|candidate| candidate.eq_ignore_ascii_case(role))
    }
}

/// Why a request has no usable principal: 401 when absent, 400 when malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalRejection {
    #[error("sign-in required: header `x-ms-client-principal` is missing")]
    Missing,
    #[error("header `x-ms-client-principal` is malformed: {0}")]
    Malformed(String),
}

impl IntoResponse for PrincipalRejection {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Missing => StatusCode::UNAUTHORIZED,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
        };
        let body =
            serde_json::json!({ "error": self.to_string(), "field": CLIENT_PRINCIPAL_HEADER });
        (status, Json(body)).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientPrincipal {
    type Rejection = PrincipalRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(CLIENT_PRINCIPAL_HEADER)
            .ok_or(PrincipalRejection::Missing)?;
        let text = value
            .to_str()
            .map_err(|_| PrincipalRejection::Malformed("header is not ASCII".into()))?;
        Self::decode(text)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ClientPrincipal {
    type Rejection = PrincipalRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match <Self as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(principal) => Ok(Some(principal)),
            Err(PrincipalRejection::Missing) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let principal = ClientPrincipal {
            identity_provider: "github".into(),
            user_id: "u1".into(),
            user_details: "octocat".into(),
            user_roles: vec!["anonymous".into(), "authenticated".into()],
        };
        assert_eq!(
            ClientPrincipal::decode(&principal.encode()).unwrap(),
            principal
        );
        assert!(matches!(
            ClientPrincipal::decode("%%%"),
            Err(PrincipalRejection::Malformed(_))
        ));
        let app_service = serde_json::json!({"auth_typ":"aad","name_typ":"name","role_typ":"roles",
            "claims":[{"typ":"oid","val":"o-1"},{"typ":"name","val":"Alice"},{"typ":"roles","val":"admin"}]});
        let encoded = base64::engine::general_purpose::STANDARD.encode(app_service.to_string());
        let decoded = ClientPrincipal::decode(&encoded).unwrap();
        assert_eq!(
            (decoded.user_id.as_str(), decoded.user_details.as_str()),
            ("o-1", "Alice")
        );
        assert!(decoded.has_role("admin"));
        let not_json = base64::engine::general_purpose::STANDARD.encode("nope");
        assert!(matches!(
            ClientPrincipal::decode(&not_json),
            Err(PrincipalRejection::Malformed(_))
        ));
    }
}
