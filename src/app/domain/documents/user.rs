//! `CosmicUsers` documents (partition key `/id`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::domain::auth::Principal;
use crate::app::domain::geocode::ReverseGeocode;
use crate::app::domain::values::{Coordinates, CountryCode, DisplayName, UserId};

/// A player: who they are and where they joined from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CosmosUser {
    pub id: UserId,
    #[serde(default)]
    pub identity_provider: String,
    pub name: DisplayName,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Missing until the user shares a location.
    #[serde(default)]
    pub address: Option<UserAddress>,
    #[serde(default, with = "chrono::serde::ts_seconds")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "chrono::serde::ts_seconds")]
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "_ts", default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

/// The stored address: the original's `address` object plus `municipality`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAddress {
    /// Azure Maps `freeformAddress`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub country: CountryInfo,
    #[serde(default)]
    pub street: StreetInfo,
    #[serde(default)]
    pub municipality: Option<String>,
    /// Numbers on write; the original's numeric strings still parse.
    pub position: Coordinates,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountryInfo {
    /// Read leniently: a blank or unknown stored code reads as absent (it is derived data,
    /// recomputed from the position on the next profile write).
    #[serde(default, deserialize_with = "lenient_country_code")]
    pub code: Option<CountryCode>,
    #[serde(default)]
    pub sub_division: Option<String>,
    #[serde(default)]
    pub secondary_sub_division: Option<String>,
    #[serde(default)]
    pub iso_code3: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreetInfo {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub name_and_number: Option<String>,
}

fn lenient_country_code<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<CountryCode>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    Ok(raw.and_then(|r| CountryCode::parse(&r).ok()))
}

impl UserAddress {
    /// The address at `position`, filled from a reverse-geocode result when there is one.
    pub fn new(position: Coordinates, geocode: Option<&ReverseGeocode>) -> Self {
        let Some(g) = geocode else {
            return Self {
                name: None,
                country: CountryInfo::default(),
                street: StreetInfo::default(),
                municipality: None,
                position,
            };
        };
        Self {
            name: Some(g.freeform_address.clone()),
            country: CountryInfo {
                code: Some(g.country_code.clone()),
                sub_division: g.country_subdivision.clone(),
                secondary_sub_division: g.country_secondary_subdivision.clone(),
                iso_code3: g.country_code_iso3.clone(),
                name: Some(g.country.clone()),
            },
            street: StreetInfo {
                name: g.street_name.clone(),
                name_and_number: g.street_name_and_number.clone(),
            },
            municipality: g.municipality.clone(),
            position,
        }
    }

    /// A short place label: "Municipality, Subdivision, Country" from the parts that exist.
    pub fn place_label(&self) -> String {
        place_label(self.municipality.as_deref(), &self.country)
    }
}

/// "Municipality, Subdivision, Country" from the non-blank parts, each named once.
pub(super) fn place_label(municipality: Option<&str>, country: &CountryInfo) -> String {
    let parts = [
        municipality,
        country.sub_division.as_deref(),
        country.name.as_deref(),
    ];
    let mut out: Vec<&str> = Vec::new();
    for part in parts.into_iter().flatten() {
        if !part.is_empty() && !out.contains(&part) {
            out.push(part);
        }
    }
    out.join(", ")
}

impl CosmosUser {
    /// The profile of the calling user. The id always comes from the principal, never the body
    /// (the original trusted the body: §11.1 item 2).
    pub fn for_principal(
        principal: &Principal,
        name: DisplayName,
        address: Option<UserAddress>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: principal.user_id.clone(),
            identity_provider: principal.identity_provider.clone(),
            name,
            roles: principal.roles.clone(),
            address,
            created_at: now,
            updated_at: now,
            ts: None,
        }
    }

    /// This profile updated by a newer write of the same user: keeps `createdAt`.
    pub fn updated_from(&self, newer: Self) -> Self {
        Self {
            created_at: self.created_at,
            ..newer
        }
    }

    /// What other users may see: position rounded to ~1 km, no street, no roles (the original
    /// published everyone's exact browser location: §11.1 item 6).
    pub fn public_view(&self) -> Self {
        let address = self.address.as_ref().map(|a| UserAddress {
            name: Some(a.place_label()).filter(|l| !l.is_empty()),
            street: StreetInfo::default(),
            position: a.position.coarse(),
            ..a.clone()
        });
        Self {
            roles: Vec::new(),
            address,
            ..self.clone()
        }
    }

    pub fn position(&self) -> Option<Coordinates> {
        self.address.as_ref().map(|a| a.position)
    }

    pub fn country_code(&self) -> Option<&CountryCode> {
        self.address.as_ref().and_then(|a| a.country.code.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The sample document of the original spec (§3.1).
    fn original_sample() -> serde_json::Value {
        json!({
          "identityProvider": "github",
          "id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
          "name": "octocat",
          "roles": ["anonymous", "authenticated"],
          "address": {
            "name": "12 Mahatma Gandhi Road, Bengaluru 560001, Karnataka",
            "country": { "code": "IN", "subDivision": "Karnataka", "secondarySubDivision": "Bengaluru",
                         "isoCode3": "IND", "name": "India" },
            "street": { "name": "Mahatma Gandhi Road", "nameAndNumber": "12 Mahatma Gandhi Road" },
            "position": { "latitude": "12.9751", "longitude": "77.606" }
          },
          "_ts": 1650290000
        })
    }

    #[test]
    fn reads_the_original_document() {
        let user: CosmosUser = serde_json::from_value(original_sample()).unwrap();
        assert_eq!(user.id.as_str(), "a1b2c3d4e5f60718293a4b5c6d7e8f90");
        assert_eq!(user.country_code().unwrap().as_str(), "IN");
        assert_eq!(user.position().unwrap().latitude(), 12.9751);
        assert_eq!(user.ts, Some(1_650_290_000));
        let address = user.address.as_ref().unwrap();
        assert_eq!(
            address.country.secondary_sub_division.as_deref(),
            Some("Bengaluru")
        );
        assert_eq!(address.place_label(), "Karnataka, India");
    }

    #[test]
    fn writes_original_field_names() {
        let user: CosmosUser = serde_json::from_value(original_sample()).unwrap();
        let v = serde_json::to_value(&user).unwrap();
        assert_eq!(v["address"]["country"]["subDivision"], "Karnataka");
        assert_eq!(v["address"]["country"]["secondarySubDivision"], "Bengaluru");
        assert_eq!(v["address"]["country"]["isoCode3"], "IND");
        assert_eq!(
            v["address"]["street"]["nameAndNumber"],
            "12 Mahatma Gandhi Road"
        );
        assert_eq!(v["address"]["position"]["latitude"], 12.9751);
        assert_eq!(v["identityProvider"], "github");
        assert!(v["createdAt"].is_i64());
        let back: CosmosUser = serde_json::from_value(v).unwrap();
        assert_eq!(back, user);
    }

    #[test]
    fn rejects_bad_fields_by_name() {
        let mut doc = original_sample();
        doc["address"]["position"]["latitude"] = json!("91");
        let err = serde_json::from_value::<CosmosUser>(doc).unwrap_err();
        assert!(err.to_string().contains("latitude"), "{err}");
        let mut doc = original_sample();
        doc["name"] = json!("  ");
        let err = serde_json::from_value::<CosmosUser>(doc).unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
    }

    #[test]
    fn public_view_hides_precise_location() {
        let user: CosmosUser = serde_json::from_value(original_sample()).unwrap();
        let public = user.public_view();
        let address = public.address.as_ref().unwrap();
        assert_eq!(address.position, Coordinates::new(12.98, 77.61).unwrap());
        assert_eq!(address.street, StreetInfo::default());
        assert_eq!(address.name.as_deref(), Some("Karnataka, India"));
        assert!(public.roles.is_empty());
        assert_eq!(public.id, user.id);
        assert_eq!(address.country, user.address.as_ref().unwrap().country);
    }

    #[test]
    fn blank_or_unknown_stored_country_codes_read_as_absent() {
        for code in [json!(""), json!("ZZ"), json!(null)] {
            let mut doc = original_sample();
            doc["address"]["country"]["code"] = code;
            let user: CosmosUser = serde_json::from_value(doc).unwrap();
            assert_eq!(user.country_code(), None);
        }
    }

    #[test]
    fn update_keeps_creation_time() {
        let user: CosmosUser = serde_json::from_value(original_sample()).unwrap();
        let created = DateTime::from_timestamp(1_000, 0).unwrap();
        let first = CosmosUser {
            created_at: created,
            ..user.clone()
        };
        let later = CosmosUser {
            created_at: DateTime::from_timestamp(2_000, 0).unwrap(),
            updated_at: DateTime::from_timestamp(2_000, 0).unwrap(),
            ..user
        };
        let merged = first.updated_from(later);
        assert_eq!(merged.created_at, created);
        assert_eq!(merged.updated_at.timestamp(), 2_000);
    }
}
