//! `UserId`: the acting user's id, as Static Web Apps puts it in the client principal.

use super::{ValueError, string_value_serde};

/// A user id usable as a Cosmos DB document id and partition key value.
///
/// Static Web Apps gives an opaque 32-hex id; other providers and seed data use similar tokens.
/// Accepted: 1..=128 visible ASCII characters, excluding `/ \ ? #` (forbidden in Cosmos ids)
/// and `|` (the separator this crate uses inside derived ids).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    /// Longest accepted id, in characters.
    pub const MAX_LEN: usize = 128;
    const FIELD: &'static str = "userId";

    /// Parses an id exactly as given (ids are case-sensitive; no trimming).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let field = Self::FIELD;
        if raw.is_empty() {
            return Err(ValueError::Empty { field });
        }
        let len = raw.chars().count();
        if len > Self::MAX_LEN {
            return Err(ValueError::TooLong {
                field,
                max: Self::MAX_LEN,
                len,
            });
        }
        if let Some(ch) = raw
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '\\' | '?' | '#' | '|'))
        {
            return Err(ValueError::ForbiddenChar { field, ch });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value_serde!(UserId);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_static_web_apps_ids() {
        let id = UserId::parse("a1b2c3d4e5f60718293a4b5c6d7e8f90").unwrap();
        assert_eq!(id.as_str(), "a1b2c3d4e5f60718293a4b5c6d7e8f90");
    }

    #[test]
    fn rejects_cosmos_forbidden_characters() {
        for bad in ["a/b", "a\\b", "a?b", "a#b", "a b", "a|b", "é"] {
            let err = UserId::parse(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    ValueError::ForbiddenChar {
                        field: "userId",
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_empty_and_too_long() {
        assert_eq!(
            UserId::parse(""),
            Err(ValueError::Empty { field: "userId" })
        );
        let long = "a".repeat(UserId::MAX_LEN + 1);
        assert!(matches!(
            UserId::parse(&long),
            Err(ValueError::TooLong { len: 129, .. })
        ));
        assert!(UserId::parse(&"a".repeat(UserId::MAX_LEN)).is_ok());
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let id: UserId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
        let err = serde_json::from_str::<UserId>("\"a/b\"").unwrap_err();
        assert!(err.to_string().contains("userId"), "{err}");
    }

    proptest! {
        #[test]
        fn valid_ids_round_trip(raw in "[!-~&&[^/\\\\?#|]]{1,128}") {
            let id = UserId::parse(&raw).unwrap();
            prop_assert_eq!(id.as_str(), raw.as_str());
        }

        #[test]
        fn parsed_ids_never_hold_forbidden_chars(raw in "\\PC{0,140}") {
            if let Ok(id) = UserId::parse(&raw) {
                prop_assert!(!id.as_str().contains(['/', '\\', '?', '#', '|', ' ']));
                prop_assert!(!id.as_str().is_empty() && id.as_str().len() <= UserId::MAX_LEN);
            }
        }
    }
}
