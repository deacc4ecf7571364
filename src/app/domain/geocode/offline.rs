//! Offline reverse geocoder over the GeoNames cities dataset embedded by the
//! `reverse_geocoder` crate (cities with population ≥ 1000, data CC BY 4.0 GeoNames).
//!
//! Returns the nearest populated place, wherever the point is (also at sea): the game only
//! needs a country and a place name to show.

use std::sync::OnceLock;

use reverse_geocoder::ReverseGeocoder;

use super::ReverseGeocode;
use crate::app::domain::scoring::distance_km;
use crate::app::domain::values::{Coordinates, CountryCode};

/// A nearest place from the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub name: String,
    pub admin1: Option<String>,
    pub admin2: Option<String>,
    pub country_code: CountryCode,
    pub position: Coordinates,
    /// Great-circle distance from the query point.
    pub distance_km: f64,
}

/// The offline geocoder; building it parses the embedded dataset once (≈145k places).
pub struct OfflineGeocoder {
    inner: ReverseGeocoder,
}

impl OfflineGeocoder {
    /// The process-wide instance, built on first use.
    pub fn global() -> &'static Self {
        static GEOCODER: OnceLock<OfflineGeocoder> = OnceLock::new();
        GEOCODER.get_or_init(|| Self {
            inner: ReverseGeocoder::new(),
        })
    }

    /// The populated place nearest to `at`, or `None` if the dataset row is unusable.
    pub fn nearest(&self, at: Coordinates) -> Option<Place> {
        let record = self.inner.search((at.latitude(), at.longitude())).record;
        let position = Coordinates::new(record.lat, record.lon).ok()?;
        Some(Place {
            name: record.name.clone(),
            admin1: non_empty(&record.admin1),
            admin2: non_empty(&record.admin2),
            country_code: CountryCode::parse(&record.cc).ok()?,
            distance_km: distance_km(at, position),
            position,
        })
    }

    /// Reverse-geocodes `at` into the same shape as Azure Maps.
    pub fn reverse(&self, at: Coordinates) -> Option<ReverseGeocode> {
        self.nearest(at).map(|place| place.to_geocode(at))
    }
}

impl Place {
    /// The Azure Maps-shaped address of this place, as looked up from `at`.
    pub fn to_geocode(&self, at: Coordinates) -> ReverseGeocode {
        let mut parts: Vec<&str> = vec![&self.name];
        if let Some(admin1) = self.admin1.as_deref().filter(|a| *a != self.name) {
            parts.push(admin1);
        }
        ReverseGeocode {
            country: self.country_code.country_name().to_owned(),
            country_code_iso3: self.country_code.alpha3().map(str::to_owned),
            country_subdivision: self.admin1.clone(),
            country_secondary_subdivision: self.admin2.clone(),
            municipality: Some(self.name.clone()),
            street_name: None,
            street_name_and_number: None,
            freeform_address: parts.join(", "),
            country_code: self.country_code.clone(),
            position: at,
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).unwrap()
    }

    #[test]
    fn finds_well_known_cities() {
        let g = OfflineGeocoder::global();
        let bengaluru = g.reverse(at(12.9751, 77.606)).unwrap();
        assert_eq!(bengaluru.country_code.as_str(), "IN");
        assert_eq!(bengaluru.country, "India");
        assert_eq!(bengaluru.country_code_iso3.as_deref(), Some("IND"));
        assert_eq!(bengaluru.country_subdivision.as_deref(), Some("Karnataka"));
        assert_eq!(bengaluru.position, at(12.9751, 77.606));

        let paris = g.nearest(at(48.8566, 2.3522)).unwrap();
        assert_eq!(paris.country_code.as_str(), "FR");
        assert!(paris.distance_km < 10.0, "{paris:?}");

        let sydney = g.reverse(at(-33.8688, 151.2093)).unwrap();
        assert_eq!(sydney.country_code.as_str(), "AU");
        assert_eq!(
            sydney.country_subdivision.as_deref(),
            Some("New South Wales")
        );
        assert!(sydney.freeform_address.ends_with("New South Wales"));
    }

    #[test]
    fn open_ocean_still_gets_the_nearest_place() {
        let mid_pacific = OfflineGeocoder::global().nearest(at(0.0, -140.0)).unwrap();
        assert!(mid_pacific.distance_km > 100.0);
    }
}
