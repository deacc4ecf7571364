//! The Static Web Apps client principal and its wire forms: the `/.auth/me` JSON and the
//! `x-ms-client-principal` header (base64 of the JSON, without `claims`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A signed-in user as Static Web Apps describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientPrincipal {
    pub identity_provider: String,
    pub user_id: String,
    pub user_details: String,
    pub user_roles: Vec<String>,
}

impl ClientPrincipal {
    /// The value of `x-ms-client-principal`: base64 of the principal JSON without `claims`.
    pub fn to_header_value(&self) -> String {
        STANDARD.encode(self.to_json().to_string())
    }

    /// Decodes an `x-ms-client-principal` value; `None` when it is not one.
    pub fn from_header_value(value: &str) -> Option<Self> {
        let bytes = STANDARD.decode(value.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The `clientPrincipal` object of `/.auth/me`: the principal with empty `claims`.
    pub fn to_me_json(&self) -> Value {
        let mut json = self.to_json();
        json["claims"] = json!([]);
        json
    }

    fn to_json(&self) -> Value {
        json!({
            "identityProvider": self.identity_provider,
            "userId": self.user_id,
            "userDetails": self.user_details,
            "userRoles": self.user_roles,
        })
    }

    /// Exact comparison, as Static Web Apps matches `allowedRoles` (the SWA CLI's
    /// `isRouteRequiringUserRolesCheck`, Azure/static-web-apps-cli
    /// `src/msha/routes-engine/rules/routes.ts`, uses `Array.includes`).
    pub fn has_role(&self, role: &str) -> bool {
        self.user_roles.iter().any(|r| r == role)
    }
}

#[cfg(test)]
mod tests {
    use super::ClientPrincipal;

    #[test]
    fn role_names_compare_exactly() {
        let principal = ClientPrincipal {
            identity_provider: "github".into(),
            user_id: "u1".into(),
            user_details: "octo".into(),
            user_roles: vec!["authenticated".into(), "admin".into()],
        };
        assert!(principal.has_role("admin"));
        assert!(!principal.has_role("Admin"));
    }
}
