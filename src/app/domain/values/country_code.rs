//! `CountryCode`: an ISO 3166-1 alpha-2 country code.

use super::{ValueError, string_value_serde};

/// An assigned ISO 3166-1 alpha-2 code, stored upper-case (`in` parses as `IN`).
///
/// `XK` (Kosovo) is accepted too: it is user-assigned in ISO but used by GeoNames and Azure Maps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let code = raw.trim().to_ascii_uppercase();
        if code.is_empty() {
            return Err(ValueError::Empty {
                field: "countryCode",
            });
        }
        if code == "XK" || rust_iso3166::from_alpha2(&code).is_some() {
            Ok(Self(code))
        } else {
            Err(ValueError::Malformed {
                field: "countryCode",
                expected: "an ISO 3166-1 alpha-2 country code such as \"IN\"",
                value: raw.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ISO 3166-1 alpha-3 code (`IND` for `IN`), when ISO assigns one.
    pub fn alpha3(&self) -> Option<&'static str> {
        match self.0.as_str() {
            "XK" => Some("XKX"),
            code => rust_iso3166::from_alpha2(code).map(|c| c.alpha3),
        }
    }

    /// The country's ISO English short name.
    pub fn country_name(&self) -> &'static str {
        match self.0.as_str() {
            "XK" => "Kosovo",
            code => rust_iso3166::from_alpha2(code).map_or("", |c| c.name),
        }
    }
}

string_value_serde!(CountryCode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_knows_names() {
        let code = CountryCode::parse(" in").unwrap();
        assert_eq!(code.as_str(), "IN");
        assert_eq!(code.alpha3(), Some("IND"));
        assert_eq!(code.country_name(), "India");
    }

    #[test]
    fn rejects_unassigned_and_malformed() {
        for bad in ["ZZ", "IND", "1", "I N"] {
            let err = CountryCode::parse(bad).unwrap_err();
            assert_eq!(err.field(), "countryCode", "{bad}");
        }
        assert_eq!(
            CountryCode::parse(""),
            Err(ValueError::Empty {
                field: "countryCode"
            })
        );
    }
}
