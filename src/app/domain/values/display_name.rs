//! `DisplayName`: a user's name as shown on the map, in chats and on the leaderboard.

use super::{ValueError, string_value_serde, trimmed_text};

/// A trimmed display name of 1..=64 characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        trimmed_text(raw, "name", Self::MAX_LEN, false).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value_serde!(DisplayName);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_keeps_unicode() {
        assert_eq!(
            DisplayName::parse("  Zoë Ōkubo ").unwrap().as_str(),
            "Zoë Ōkubo"
        );
    }

    #[test]
    fn rejects_blank_long_and_control() {
        assert_eq!(
            DisplayName::parse("   "),
            Err(ValueError::Empty { field: "name" })
        );
        assert!(matches!(
            DisplayName::parse(&"é".repeat(65)),
            Err(ValueError::TooLong {
                max: 64,
                len: 65,
                ..
            })
        ));
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert!(matches!(
            DisplayName::parse("a\nb"),
            Err(ValueError::ForbiddenChar { ch: '\n', .. })
        ));
    }

    proptest! {
        #[test]
        fn parsed_names_are_trimmed_and_bounded(raw in "\\PC{0,80}") {
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(name.as_str(), raw.trim());
                prop_assert!((1..=64).contains(&name.as_str().chars().count()));
            }
        }
    }
}
