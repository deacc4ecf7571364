//! `Coordinates`: a validated WGS 84 latitude/longitude pair.

use serde::{Deserialize, Deserializer, Serialize};

use super::ValueError;

/// A point on Earth: latitude -90..=90 and longitude -180..=180 degrees, both finite.
///
/// Serialises as `{"latitude": <number>, "longitude": <number>}`. Deserialises numbers or numeric
/// strings, because the original stored `"12.9751"` strings (§3.1 of the original's spec).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

impl Coordinates {
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, ValueError> {
        Ok(Self {
            latitude: check(latitude, "latitude", 90.0)?,
            longitude: check(longitude, "longitude", 180.0)?,
        })
    }

    /// Parses route or form text such as `"12.9751"` and `" -73.97 "`.
    pub fn parse(latitude: &str, longitude: &str) -> Result<Self, ValueError> {
        Self::new(
            number(latitude, "latitude")?,
            number(longitude, "longitude")?,
        )
    }

    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    pub fn longitude(&self) -> f64 {
        self.longitude
    }

    /// The point rounded to 2 decimals (about 1 km), for anything shown to other users.
    pub fn coarse(&self) -> Self {
        let round = |v: f64| (v * 100.0).round() / 100.0;
        Self {
            latitude: round(self.latitude),
            longitude: round(self.longitude),
        }
    }
}

fn number(raw: &str, field: &'static str) -> Result<f64, ValueError> {
    raw.trim()
        .parse::<f64>()
        .map_err(|_| ValueError::NotANumber {
            field,
            value: raw.to_owned(),
        })
}

fn check(value: f64, field: &'static str, limit: f64) -> Result<f64, ValueError> {
    if value.is_finite() && (-limit..=limit).contains(&value) {
        // Normalise -0.0 so equal points serialise identically.
        Ok(value + 0.0)
    } else {
        Err(ValueError::OutOfRange {
            field,
            min: -limit,
            max: limit,
            value,
        })
    }
}

/// One coordinate as found in stored documents: a JSON number or a numeric string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(f64),
    Text(String),
}

impl NumberOrText {
    fn value(self, field: &'static str) -> Result<f64, ValueError> {
        match self {
            Self::Number(n) => Ok(n),
            Self::Text(t) => number(&t, field),
        }
    }
}

impl<'de> Deserialize<'de> for Coordinates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            latitude: Option<NumberOrText>,
            longitude: Option<NumberOrText>,
        }
        let raw = Raw::deserialize(d)?;
        let part =
            |v: Option<NumberOrText>, field| v.ok_or(ValueError::Empty { field })?.value(field);
        let parsed = part(raw.latitude, "latitude")
            .and_then(|lat| Self::new(lat, part(raw.longitude, "longitude")?));
        parsed.map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn accepts_numbers_and_numeric_strings() {
        let from_text: Coordinates =
            serde_json::from_value(json!({"latitude": "12.9751", "longitude": "77.606"})).unwrap();
        let from_numbers: Coordinates =
            serde_json::from_value(json!({"latitude": 12.9751, "longitude": 77.606})).unwrap();
        assert_eq!(from_text, from_numbers);
        assert_eq!(
            serde_json::to_value(from_text).unwrap(),
            json!({"latitude": 12.9751, "longitude": 77.606})
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = Coordinates::new(90.5, 0.0).unwrap_err();
        assert_eq!(err.field(), "latitude");
        assert_eq!(
            Coordinates::new(0.0, -180.01).unwrap_err().field(),
            "longitude"
        );
        assert_eq!(
            Coordinates::new(f64::NAN, 0.0).unwrap_err().field(),
            "latitude"
        );
        assert_eq!(
            Coordinates::new(0.0, f64::INFINITY).unwrap_err().field(),
            "longitude"
        );
        assert!(matches!(
            Coordinates::parse("12,5", "3"),
            Err(ValueError::NotANumber {
                field: "latitude",
                ..
            })
        ));
        let err = serde_json::from_value::<Coordinates>(json!({"latitude": 1})).unwrap_err();
        assert!(err.to_string().contains("longitude"), "{err}");
        let err = serde_json::from_value::<Coordinates>(json!({"latitude": "x", "longitude": 1}))
            .unwrap_err();
        assert!(err.to_string().contains("latitude"), "{err}");
    }

    #[test]
    fn boundaries_are_inclusive() {
        assert!(Coordinates::new(90.0, 180.0).is_ok());
        assert!(Coordinates::new(-90.0, -180.0).is_ok());
    }

    #[test]
    fn coarse_rounds_to_two_decimals() {
        let c = Coordinates::new(12.97512, 77.60649).unwrap().coarse();
        assert_eq!((c.latitude(), c.longitude()), (12.98, 77.61));
    }

    proptest! {
        #[test]
        fn in_range_values_round_trip_through_json(lat in -90.0f64..=90.0, lon in -180.0f64..=180.0) {
            let c = Coordinates::new(lat, lon).unwrap();
            let back: Coordinates = serde_json::from_value(serde_json::to_value(c).unwrap()).unwrap();
            prop_assert_eq!(back, c);
            let text: Coordinates = serde_json::from_value(
                json!({"latitude": lat.to_string(), "longitude": lon.to_string()})).unwrap();
            prop_assert_eq!(text, c);
        }

        #[test]
        fn out_of_range_latitudes_are_rejected(lat in 90.000001f64..1e6, sign in proptest::bool::ANY) {
            let lat = if sign { lat } else { -lat };
            prop_assert_eq!(Coordinates::new(lat, 0.0).unwrap_err().field(), "latitude");
        }
    }
}
