//! Scoring by "criticality": the farther away the greeted user, the more points.
//!
//! The original gave a flat 2 points (§4.1, §11.2 item 12). Here: distance < 500 km → 2,
//! 500 km ..= 3,000 km → 4, > 3,000 km → 6. Both boundary values (exactly 500 and exactly
//! 3,000 km) score 4: "< 500" and "> 3,000" are strict, as the rule is written.

use super::values::Coordinates;

/// Mean Earth radius (IUGG), in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle (haversine) distance between two points, in kilometres.
pub fn distance_km(a: Coordinates, b: Coordinates) -> f64 {
    let (lat1, lat2) = (a.latitude().to_radians(), b.latitude().to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude() - a.longitude()).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Points for greeting someone `distance_km` away.
pub fn points_for_distance(distance_km: f64) -> u32 {
    if distance_km < 500.0 {
        2
    } else if distance_km <= 3000.0 {
        4
    } else {
        6
    }
}

/// Points for a greeting from `from` to `to`.
pub fn points_between(from: Coordinates, to: Coordinates) -> u32 {
    points_for_distance(distance_km(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).unwrap()
    }

    #[test]
    fn known_distances() {
        let london = at(51.5074, -0.1278);
        let paris = at(48.8566, 2.3522);
        let new_york = at(40.7128, -74.0060);
        let d = distance_km(london, paris);
        assert!((d - 343.6).abs() < 2.0, "{d}");
        let d = distance_km(london, new_york);
        assert!((d - 5570.0).abs() < 10.0, "{d}");
        let antipode = distance_km(at(0.0, 0.0), at(0.0, 180.0));
        assert!((antipode - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }

    #[test]
    fn points_by_band_with_inclusive_middle() {
        assert_eq!(points_for_distance(0.0), 2);
        assert_eq!(points_for_distance(499.999), 2);
        assert_eq!(points_for_distance(500.0), 4);
        assert_eq!(points_for_distance(3000.0), 4);
        assert_eq!(points_for_distance(3000.001), 6);
        let bengaluru = at(12.9716, 77.5946);
        assert_eq!(points_between(bengaluru, at(13.0827, 80.2707)), 2); // Chennai
        assert_eq!(points_between(bengaluru, at(28.6139, 77.2090)), 4); // Delhi
        assert_eq!(points_between(bengaluru, at(51.5074, -0.1278)), 6); // London
    }

    proptest! {
        #[test]
        fn distance_is_a_symmetric_bounded_metric(
            la in -90.0f64..=90.0, lo in -180.0f64..=180.0,
            lb in -90.0f64..=90.0, mo in -180.0f64..=180.0,
        ) {
            let (a, b) = (at(la, lo), at(lb, mo));
            let d = distance_km(a, b);
            prop_assert!((0.0..=std::f64::consts::PI * EARTH_RADIUS_KM + 1e-6).contains(&d));
            prop_assert!((d - distance_km(b, a)).abs() < 1e-6);
            prop_assert!(distance_km(a, a) < 1e-6);
            prop_assert!([2, 4, 6].contains(&points_for_distance(d)));
        }

        #[test]
        fn points_never_decrease_with_distance(x in 0.0f64..20_100.0, y in 0.0f64..20_100.0) {
            let (near, far) = if x <= y { (x, y) } else { (y, x) };
            prop_assert!(points_for_distance(near) <= points_for_distance(far));
        }
    }
}
