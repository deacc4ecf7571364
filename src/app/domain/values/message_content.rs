//! `MessageContent`: the text of one chat message.

use super::{ValueError, string_value_serde, trimmed_text};

/// Trimmed message text of 1..=1000 characters; line breaks and tabs allowed, other control
/// characters not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageContent(String);

impl MessageContent {
    pub const MAX_LEN: usize = 1000;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        trimmed_text(raw, "content", Self::MAX_LEN, true).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value_serde!(MessageContent);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_line_breaks_inside() {
        assert_eq!(MessageContent::parse(" a\nb \n").unwrap().as_str(), "a\nb");
    }

    #[test]
    fn limits_length_in_characters() {
        assert!(MessageContent::parse(&"ü".repeat(1000)).is_ok());
        assert!(matches!(
            MessageContent::parse(&"ü".repeat(1001)),
            Err(ValueError::TooLong {
                field: "content",
                len: 1001,
                ..
            })
        ));
        assert_eq!(
            MessageContent::parse(" \n "),
            Err(ValueError::Empty { field: "content" })
        );
        assert!(matches!(
            MessageContent::parse("bell\u{7}"),
            Err(ValueError::ForbiddenChar { ch: '\u{7}', .. })
        ));
    }

    proptest! {
        #[test]
        fn accepted_content_is_trimmed(raw in "\\PC{0,1100}") {
            if let Ok(content) = MessageContent::parse(&raw) {
                prop_assert_eq!(content.as_str(), raw.trim());
            }
        }
    }
}
