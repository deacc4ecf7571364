//! Demo users for `cosmospark seed` and an empty `dev` store: realistic names, positions near
//! real places from the offline geocoder's dataset, spread around the world; the same seed
//! always gives the same users.

use chrono::{DateTime, Utc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

use super::documents::{CosmosUser, UserAddress};
use super::geocode::offline::{OfflineGeocoder, Place};
use super::values::{Coordinates, DisplayName, UserId};

const SEED_NAMESPACE: Uuid = Uuid::from_u128(0x5eed_c0de_7a1b_4c2d_8e3f_a4b5_c6d7_e8f9);

/// A random point is kept when a populated place lies this close (i.e. it is on inhabited land).
const MAX_PLACE_DISTANCE_KM: f64 = 25.0;
const ATTEMPTS_PER_USER: usize = 500;
/// Users are put this far (degrees, ≈1.5 km) around the place at most.
const JITTER_DEGREES: f64 = 0.015;

const GIVEN_NAMES: &[&str] = &[
    "Amara", "Aiko", "Mateo", "Priya", "Lars", "Fatima", "Chen", "Sofia", "Kwame", "Ingrid",
    "Diego", "Anika", "Yusuf", "Mei", "Olga", "Tariq", "Lucia", "Kenji", "Nadia", "Emeka",
    "Isabel", "Arjun", "Freya", "Omar", "Hana", "Rafael", "Zainab", "Mikko", "Leila", "Tomás",
    "Ayesha", "Bjorn", "Chloe", "Dmitri", "Esi", "Farah", "Gabriel", "Hyun", "Imani", "Jonas",
];

const FAMILY_NAMES: &[&str] = &[
    "Okafor",
    "Tanaka",
    "García",
    "Sharma",
    "Nilsson",
    "Haddad",
    "Wang",
    "Rossi",
    "Mensah",
    "Berg",
    "Fernández",
    "Iyer",
    "Demir",
    "Lin",
    "Petrova",
    "Khan",
    "Moreau",
    "Sato",
    "Novak",
    "Adeyemi",
    "Silva",
    "Reddy",
    "Larsen",
    "Farouk",
    "Kim",
    "Costa",
    "Bello",
    "Virtanen",
    "Rahimi",
    "López",
    "Mwangi",
    "Schmidt",
    "Dubois",
    "Ivanov",
    "Owusu",
    "Nakamura",
    "Souza",
    "Park",
    "Abebe",
    "Jensen",
];

/// `n` demo users from `seed`, created at the unix epoch (see [`seed_users_at`]).
pub fn seed_users(n: usize, seed: u64) -> Vec<CosmosUser> {
    seed_users_at(n, seed, DateTime::UNIX_EPOCH)
}

/// `n` demo users from `seed`, with `createdAt`/`updatedAt` = `now`.
pub fn seed_users_at(n: usize, seed: u64, now: DateTime<Utc>) -> Vec<CosmosUser> {
    let geocoder = OfflineGeocoder::global();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n)
        .filter_map(|i| {
            let name = random_name(&mut rng);
            let place = random_place(&mut rng, geocoder)?;
            let position = jitter(&mut rng, place.position);
            let geocode = geocoder
                .reverse(position)
                .unwrap_or_else(|| place.to_geocode(position));
            let id = Uuid::new_v5(&SEED_NAMESPACE, format!("{seed}|{i}").as_bytes());
            Some(CosmosUser {
                id: UserId::parse(&id.simple().to_string()).ok()?,
                identity_provider: "seed".to_owned(),
                name,
                roles: vec!["anonymous".to_owned(), "authenticated".to_owned()],
                address: Some(UserAddress::new(position, Some(&geocode))),
                created_at: now,
                updated_at: now,
                ts: None,
            })
        })
        .collect()
}

fn random_name(rng: &mut Xoshiro256PlusPlus) -> DisplayName {
    let given = GIVEN_NAMES[rng.random_range(0..GIVEN_NAMES.len())];
    let family = FAMILY_NAMES[rng.random_range(0..FAMILY_NAMES.len())];
    DisplayName::parse(&format!("{given} {family}"))
        .unwrap_or_else(|_| unreachable!("the name lists hold short printable names"))
}

/// A populated place reached from a uniformly random point on the globe: dense regions are
/// hit more often, the open ocean never.
fn random_place(rng: &mut Xoshiro256PlusPlus, geocoder: &OfflineGeocoder) -> Option<Place> {
    let mut last = None;
    for _ in 0..ATTEMPTS_PER_USER {
        let latitude = (2.0 * rng.random::<f64>() - 1.0).asin().to_degrees();
        let longitude = rng.random_range(-180.0..180.0);
        let Ok(point) = Coordinates::new(latitude, longitude) else {
            continue;
        };
        if let Some(place) = geocoder.nearest(point) {
            if place.distance_km <= MAX_PLACE_DISTANCE_KM {
                return Some(place);
            }
            last = Some(place);
        }
    }
    last
}

fn jitter(rng: &mut Xoshiro256PlusPlus, around: Coordinates) -> Coordinates {
    let lat = around.latitude() + rng.random_range(-JITTER_DEGREES..=JITTER_DEGREES);
    let lon = around.longitude() + rng.random_range(-JITTER_DEGREES..=JITTER_DEGREES);
    Coordinates::new(lat, lon).unwrap_or(around)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn same_seed_same_users_and_other_seed_others() {
        let a = seed_users(12, 7);
        assert_eq!(a, seed_users(12, 7));
        assert_ne!(a, seed_users(12, 8));
        assert_eq!(seed_users(0, 7), vec![]);
    }

    #[test]
    fn users_are_valid_spread_and_near_real_places() {
        let users = seed_users(60, 42);
        assert_eq!(users.len(), 60);
        let ids: HashSet<_> = users.iter().map(|u| &u.id).collect();
        assert_eq!(ids.len(), 60);
        let geocoder = OfflineGeocoder::global();
        let mut countries = HashSet::new();
        for u in &users {
            let address = u.address.as_ref().unwrap();
            let place = geocoder.nearest(address.position).unwrap();
            assert!(
                place.distance_km < 5.0,
                "{} is {} km from {}",
                u.name,
                place.distance_km,
                place.name
            );
            assert_eq!(u.country_code(), Some(&place.country_code));
            assert!(address.name.as_deref().is_some_and(|n| !n.is_empty()));
            assert_eq!(u.id.as_str().len(), 32);
            countries.insert(place.country_code.clone());
        }
        assert!(countries.len() >= 10, "only {} countries", countries.len());
    }
}
