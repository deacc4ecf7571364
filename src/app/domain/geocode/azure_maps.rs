//! The Azure Maps Search Address Reverse (v1) request path and response parser.
//!
//! The HTTP layer sends the request (subscription key in the `subscription-key` header, never
//! in the URL, so it cannot end up in logs) and hands the status and body to [`parse_reverse`].
//! Fixes the original passing upstream errors through as 200 (§11.3 item 32).

use serde::Deserialize;

use super::ReverseGeocode;
use crate::app::domain::values::{Coordinates, CountryCode};

/// Why a response could not be turned into an address; every variant means "502 Bad Gateway".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AzureMapsError {
    #[error("Azure Maps answered {status}: {code}: {message}")]
    Upstream {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Azure Maps sent a response that is not a reverse-geocode result: {0}")]
    Malformed(String),
}

/// Path and query of the reverse-geocode request for `at`, relative to the Azure Maps endpoint.
/// The coordinates are already validated numbers, so nothing can be injected.
pub fn reverse_request_path(at: Coordinates) -> String {
    format!(
        "search/address/reverse/json?api-version=1.0&language=en-US&query={},{}",
        at.latitude(),
        at.longitude()
    )
}

#[derive(Deserialize)]
struct Response {
    addresses: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    address: Address,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Address {
    country_code: Option<String>,
    country: Option<String>,
    #[serde(rename = "countryCodeISO3")]
    country_code_iso3: Option<String>,
    country_subdivision: Option<String>,
    country_subdivision_name: Option<String>,
    country_secondary_subdivision: Option<String>,
    municipality: Option<String>,
    street_name: Option<String>,
    street_name_and_number: Option<String>,
    freeform_address: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Parses a reverse-geocode response for the point `at`.
///
/// `Ok(None)` means Azure Maps knows no country there (open sea). The full subdivision name
/// (`countrySubdivisionName`, "Washington") is preferred over the code-like
/// `countrySubdivision` ("WA") when both are present, matching what the offline geocoder gives.
pub fn parse_reverse(
    status: u16,
    body: &[u8],
    at: Coordinates,
) -> Result<Option<ReverseGeocode>, AzureMapsError> {
    if !(200..300).contains(&status) {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(e) => (e.error.code, e.error.message),
            Err(_) => (
                String::from("unknown"),
                String::from_utf8_lossy(body).chars().take(200).collect(),
            ),
        };
        return Err(AzureMapsError::Upstream {
            status,
            code,
            message,
        });
    }
    let response: Response =
        serde_json::from_slice(body).map_err(|e| AzureMapsError::Malformed(e.to_string()))?;
    let Some(address) = response.addresses.into_iter().next().map(|e| e.address) else {
        return Ok(None);
    };
    let Some(raw_code) = address.country_code.filter(|c| !c.trim().is_empty()) else {
        return Ok(None);
    };
    let country_code =
        CountryCode::parse(&raw_code).map_err(|e| AzureMapsError::Malformed(e.to_string()))?;
    let subdivision = non_blank(address.country_subdivision_name)
        .or_else(|| non_blank(address.country_subdivision));
    let municipality = non_blank(address.municipality);
    let freeform = non_blank(address.freeform_address)
        .or_else(|| municipality.clone())
        .unwrap_or_else(|| country_code.country_name().to_owned());
    Ok(Some(ReverseGeocode {
        country: non_blank(address.country)
            .unwrap_or_else(|| country_code.country_name().to_owned()),
        country_code_iso3: non_blank(address.country_code_iso3)
            .or_else(|| country_code.alpha3().map(str::to_owned)),
        country_subdivision: subdivision,
        country_secondary_subdivision: non_blank(address.country_secondary_subdivision),
        municipality,
        street_name: non_blank(address.street_name),
        street_name_and_number: non_blank(address.street_name_and_number),
        freeform_address: freeform,
        country_code,
        position: at,
    }))
}

fn non_blank(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::domain::geocode::offline::OfflineGeocoder;

    /// Written from the documented Search Address Reverse v1 response schema.
    const REDMOND: &str = r#"{
      "summary": { "queryTime": 9, "numResults": 1 },
      "addresses": [ {
        "address": {
          "buildingNumber": "15010", "streetNumber": "15010", "routeNumbers": [],
          "street": "NE 36th St", "streetName": "NE 36th St",
          "streetNameAndNumber": "15010 NE 36th St",
          "countryCode": "US", "countrySubdivision": "WA",
          "countrySecondarySubdivision": "King", "municipality": "Redmond",
          "postalCode": "98052", "country": "United States", "countryCodeISO3": "USA",
          "freeformAddress": "15010 NE 36th St, Redmond, WA 98052",
          "boundingBox": { "northEast": "47.643,-122.140", "southWest": "47.642,-122.141",
                           "entity": "position" },
          "countrySubdivisionName": "Washington", "countrySubdivisionCode": "WA",
          "localName": "Redmond"
        },
        "position": "47.642560,-122.140470",
        "id": "ZGVmYXVsdA=="
      } ]
    }"#;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).unwrap()
    }

    #[test]
    fn parses_a_full_address() {
        let point = at(47.64256, -122.14047);
        let g = parse_reverse(200, REDMOND.as_bytes(), point)
            .unwrap()
            .unwrap();
        assert_eq!(g.country_code.as_str(), "US");
        assert_eq!(g.country, "United States");
        assert_eq!(g.country_code_iso3.as_deref(), Some("USA"));
        assert_eq!(g.country_subdivision.as_deref(), Some("Washington"));
        assert_eq!(g.country_secondary_subdivision.as_deref(), Some("King"));
        assert_eq!(g.municipality.as_deref(), Some("Redmond"));
        assert_eq!(
            g.street_name_and_number.as_deref(),
            Some("15010 NE 36th St")
        );
        assert_eq!(g.freeform_address, "15010 NE 36th St, Redmond, WA 98052");
        assert_eq!(g.position, point);
    }

    #[test]
    fn online_and_offline_agree_on_the_region() {
        let point = at(47.64256, -122.14047);
        let online = parse_reverse(200, REDMOND.as_bytes(), point)
            .unwrap()
            .unwrap();
        let offline = OfflineGeocoder::global().reverse(point).unwrap();
        assert_eq!(online.country_code, offline.country_code);
        assert_eq!(online.country_code_iso3, offline.country_code_iso3);
        assert_eq!(online.country_subdivision, offline.country_subdivision);
        assert_eq!(online.position, offline.position);
    }

    #[test]
    fn sea_and_sparse_answers_are_no_address() {
        let point = at(0.0, -140.0);
        let empty = r#"{"summary":{"numResults":0},"addresses":[]}"#;
        assert_eq!(parse_reverse(200, empty.as_bytes(), point), Ok(None));
        let sea = r#"{"summary":{},"addresses":[{"address":{"freeformAddress":""},"position":"0,-140"}]}"#;
        assert_eq!(parse_reverse(200, sea.as_bytes(), point), Ok(None));
        let sparse = r#"{"addresses":[{"address":{"countryCode":"in","municipality":"Leh"}}]}"#;
        let g = parse_reverse(200, sparse.as_bytes(), point)
            .unwrap()
            .unwrap();
        assert_eq!(g.country, "India");
        assert_eq!(g.freeform_address, "Leh");
        assert_eq!(g.country_secondary_subdivision, None);
    }

    #[test]
    fn upstream_errors_are_errors() {
        let body = r#"{"error":{"code":"401 Unauthorized","message":"Access denied due to invalid subscription key."}}"#;
        let err = parse_reverse(401, body.as_bytes(), at(1.0, 1.0)).unwrap_err();
        assert_eq!(
            err,
            AzureMapsError::Upstream {
                status: 401,
                code: "401 Unauthorized".into(),
                message: "Access denied due to invalid subscription key.".into()
            }
        );
        assert!(matches!(
            parse_reverse(503, b"<html>busy</html>", at(1.0, 1.0)),
            Err(AzureMapsError::Upstream { status: 503, .. })
        ));
        assert!(matches!(
            parse_reverse(200, b"{\"summary\":{}}", at(1.0, 1.0)),
            Err(AzureMapsError::Malformed(_))
        ));
        assert!(matches!(
            parse_reverse(
                200,
                br#"{"addresses":[{"address":{"countryCode":"QQ"}}]}"#,
                at(1.0, 1.0)
            ),
            Err(AzureMapsError::Malformed(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_responses_never_panic(status in 100u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_reverse(status, &body, at(1.0, 1.0));
        }

        #[test]
        fn arbitrary_addresses_never_panic(code in "[A-Za-z ]{0,3}", city in proptest::option::of("\\PC{0,10}")) {
            let body = serde_json::json!({"addresses": [{"address": {"countryCode": code, "municipality": city}}]});
            let _ = parse_reverse(200, body.to_string().as_bytes(), at(1.0, 1.0));
        }
    }

    #[test]
    fn request_path_has_no_key_and_plain_numbers() {
        assert_eq!(
            reverse_request_path(at(12.9751, -77.5)),
            "search/address/reverse/json?api-version=1.0&language=en-US&query=12.9751,-77.5"
        );
    }
}
