//! Parsed value types: once one exists it is valid ("parse, don't validate").
//!
//! Every parser reports a [`ValueError`] that names the offending field, so the HTTP layer can
//! answer 400 with a message a person can act on.

mod coordinates;
mod country_code;
mod display_name;
mod message_content;
mod user_id;

pub use coordinates::Coordinates;
pub use country_code::CountryCode;
pub use display_name::DisplayName;
pub use message_content::MessageContent;
pub use user_id::UserId;

/// Why a raw value was rejected; `field` is the JSON or route name of the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("{field} is required and must not be blank")]
    Empty { field: &'static str },
    #[error("{field} must be at most {max} characters long (got {len})")]
    TooLong {
        field: &'static str,
        max: usize,
        len: usize,
    },
    #[error("{field} must not contain the character {ch:?}")]
    ForbiddenChar { field: &'static str, ch: char },
    #[error("{field} must be a number (got {value:?})")]
    NotANumber { field: &'static str, value: String },
    #[error("{field} must be between {min} and {max} (got {value})")]
    OutOfRange {
        field: &'static str,
        min: f64,
        max: f64,
        value: f64,
    },
    #[error("{field} must be {expected} (got {value:?})")]
    Malformed {
        field: &'static str,
        expected: &'static str,
        value: String,
    },
}

impl ValueError {
    /// The field this error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Empty { field }
            | Self::TooLong { field, .. }
            | Self::ForbiddenChar { field, .. }
            | Self::NotANumber { field, .. }
            | Self::OutOfRange { field, .. }
            | Self::Malformed { field, .. } => field,
        }
    }

    /// The same error reported under another field name (e.g. `toUserId` instead of `userId`).
    pub fn for_field(mut self, name: &'static str) -> Self {
        match &mut self {
            Self::Empty { field }
            | Self::TooLong { field, .. }
            | Self::ForbiddenChar { field, .. }
            | Self::NotANumber { field, .. }
            | Self::OutOfRange { field, .. }
            | Self::Malformed { field, .. } => *field = name,
        }
        self
    }
}

/// Trims `raw` and checks it holds 1..=`max` characters and no control characters (line breaks
/// and tabs are allowed when `multiline`).
fn trimmed_text(
    raw: &str,
    field: &'static str,
    max: usize,
    multiline: bool,
) -> Result<String, ValueError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValueError::Empty { field });
    }
    let len = text.chars().count();
    if len > max {
        return Err(ValueError::TooLong { field, max, len });
    }
    if let Some(ch) = text
        .chars()
        .find(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(ValueError::ForbiddenChar { field, ch });
    }
    Ok(text.to_owned())
}

/// Implements `Serialize` as the inner string and `Deserialize` through `parse`.
macro_rules! string_value_serde {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}
pub(crate) use string_value_serde;
