//! Reverse geocoding: (latitude, longitude) → the address fields the app stores.
//!
//! Two sources produce the same [`ReverseGeocode`] value: the Azure Maps Search Address Reverse
//! v1 response ([`azure_maps`]) in Azure, and an embedded GeoNames dataset ([`offline`]) for
//! `cosmospark dev` when Azure Maps is not configured.

pub mod azure_maps;
pub mod offline;

use serde::{Deserialize, Serialize};

use super::values::{Coordinates, CountryCode};

/// The reverse-geocode fields the app keeps, named as in Azure Maps' `address` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReverseGeocode {
    pub country_code: CountryCode,
    /// Country name, e.g. "India".
    pub country: String,
    #[serde(rename = "countryCodeISO3", default)]
    pub country_code_iso3: Option<String>,
    /// State or province.
    #[serde(default)]
    pub country_subdivision: Option<String>,
    /// County or district; Azure Maps often omits it.
    #[serde(default)]
    pub country_secondary_subdivision: Option<String>,
    /// City or town.
    #[serde(default)]
    pub municipality: Option<String>,
    #[serde(default)]
    pub street_name: Option<String>,
    #[serde(default)]
    pub street_name_and_number: Option<String>,
    /// One-line address for display.
    pub freeform_address: String,
    /// The point that was looked up (not the matched place).
    pub position: Coordinates,
}
