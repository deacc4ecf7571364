//! Reverse geocoding and Azure Maps tokens: Azure Maps over the shared HTTP client when
//! configured (Entra ID through the app's identity, or a server-side key), the embedded offline
//! geocoder otherwise. The browser's map control gets only a short-lived Entra ID token
//! ([`token`]) and the account's client id, never a key.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::domain::geocode::ReverseGeocode;
use super::domain::geocode::azure_maps::{self, AzureMapsError};
use super::domain::geocode::offline::OfflineGeocoder;
use super::domain::values::Coordinates;
use super::services::AppServices;

/// The Entra ID scope for Azure Maps data-plane tokens.
pub const MAPS_SCOPE: &str = "https://atlas.microsoft.com/.default";

/// Why a lookup or token request failed.
#[derive(Debug, thiserror::Error)]
pub enum MapsError {
    /// Azure Maps failed or answered something unusable: 502.
    #[error(transparent)]
    Upstream(#[from] AzureMapsError),
    #[error("Azure Maps could not be reached: {0}")]
    Unreachable(String),
    #[error("cannot get an Entra ID token for Azure Maps: {0}")]
    Token(String),
    /// Tokens need `AzureMaps__ClientId`: 503.
    #[error(
        "Azure Maps tokens are not configured: set AzureMaps__ClientId and give the app's managed identity the Azure Maps Data Reader role"
    )]
    NotConfigured,
    #[error("the offline geocoder failed: {0}")]
    Offline(String),
}

/// A reverse-geocode answer: the parsed address (if any) and the Azure Maps-shaped JSON the
/// original `LookupAddress` route returned.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub address: Option<ReverseGeocode>,
    pub body: Value,
}

/// An Azure Maps access token for the browser map control.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapsToken {
    pub access_token: String,
    pub expires_on: DateTime<Utc>,
    /// The Maps account's client id (the map control sends it as `x-ms-client-id`).
    pub client_id: String,
}

/// A token for Azure Maps from the managed identity.
pub async fn token(services: &AppServices) -> Result<MapsToken, MapsError> {
    let settings = &services.settings().maps;
    let client_id = settings.client_id.clone().ok_or(MapsError::NotConfigured)?;
    let token = services
        .credential()
        .map_err(|e| MapsError::Token(e.to_string()))?
        .get_token(&[MAPS_SCOPE], None)
        .await
        .map_err(|e| MapsError::Token(e.to_string()))?;
    let expires_on = DateTime::from_timestamp(token.expires_on.unix_timestamp(), 0)
        .unwrap_or_else(|| services.now());
    Ok(MapsToken {
        access_token: token.token.secret().to_owned(),
        expires_on,
        client_id,
    })
}

/// Reverse-geocodes `at`.
pub async fn reverse(services: &AppServices, at: Coordinates) -> Result<Lookup, MapsError> {
    let settings = &services.settings().maps;
    if !settings.is_configured() {
        return offline(at).await;
    }
    let url = format!(
        "{}/{}",
        settings.endpoint,
        azure_maps::reverse_request_path(at)
    );
    let mut request = services.http().get(url);
    if let Some(key) = &settings.key {
        request = request.header("subscription-key", key.secret());
    } else if let Some(client_id) = &settings.client_id {
        let token = services
            .credential()
            .map_err(|e| MapsError::Token(e.to_string()))?
            .get_token(&[MAPS_SCOPE], None)
            .await
            .map_err(|e| MapsError::Token(e.to_string()))?;
        request = request
            .header("x-ms-client-id", client_id)
            .bearer_auth(token.token.secret());
    }
    let response = request
        .send()
        .await
        .map_err(|e| MapsError::Unreachable(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| MapsError::Unreachable(e.without_url().to_string()))?;
    let address = azure_maps::parse_reverse(status, &bytes, at)?;
    let body =
        serde_json::from_slice(&bytes).map_err(|e| AzureMapsError::Malformed(e.to_string()))?;
    Ok(Lookup { address, body })
}

async fn offline(at: Coordinates) -> Result<Lookup, MapsError> {
    // The first lookup loads the embedded dataset: keep it off the async workers.
    let address = tokio::task::spawn_blocking(move || OfflineGeocoder::global().reverse(at))
        .await
        .map_err(|e| MapsError::Offline(e.to_string()))?;
    let body = azure_maps_shape(address.as_ref(), at);
    Ok(Lookup { address, body })
}

/// The Search Address Reverse v1 response shape for an offline result, so the original client
/// (which reads `addresses[0].address.*`) works unchanged.
pub fn azure_maps_shape(address: Option<&ReverseGeocode>, at: Coordinates) -> Value {
    let position = format!("{},{}", at.latitude(), at.longitude());
    let addresses = match address {
        Some(g) => vec![json!({
            "address": {
                "countryCode": g.country_code.as_str(),
                "country": g.country,
                "countryCodeISO3": g.country_code_iso3,
                "countrySubdivision": g.country_subdivision,
                "countrySubdivisionName": g.country_subdivision,
                "countrySecondarySubdivision": g.country_secondary_subdivision,
                "municipality": g.municipality,
                "streetName": g.street_name,
                "streetNameAndNumber": g.street_name_and_number,
                "freeformAddress": g.freeform_address,
            },
            "position": position,
        })],
        None => Vec::new(),
    };
    json!({
        "summary": { "queryTime": 0, "numResults": addresses.len(), "source": "offline" },
        "addresses": addresses,
    })
}
