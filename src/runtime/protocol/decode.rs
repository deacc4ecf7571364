//! Lenient decoding of host values: JSON-in-a-string (0–2 levels), numbers as strings,
//! .NET timestamps with or without a zone.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// How many levels of JSON-in-a-string the host may wrap around a value.
pub const MAX_STRING_LEVELS: usize = 2;

/// Peels up to [`MAX_STRING_LEVELS`] levels of JSON-in-a-string off `value`, stopping at the
/// first level that is not a string holding JSON.
pub fn unwrap_json_string(value: &Value) -> Value {
    let mut current = value.clone();
    for _ in 0..MAX_STRING_LEVELS {
        match &current {
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(inner) => current = inner,
                Err(_) => break,
            },
            _ => break,
        }
    }
    current
}

/// As [`unwrap_json_string`], borrowing `value` when it is not a string (the usual case), so
/// reading an object or array costs no copy.
pub fn unwrap_json_ref(value: &Value) -> std::borrow::Cow<'_, Value> {
    match value {
        Value::String(_) => std::borrow::Cow::Owned(unwrap_json_string(value)),
        other => std::borrow::Cow::Borrowed(other),
    }
}

/// As [`unwrap_json_string`], taking ownership so that non-string values are not copied.
pub fn unwrap_json_string_owned(value: Value) -> Value {
    match value {
        Value::String(_) => unwrap_json_string(&value),
        other => other,
    }
}

/// Member `name` of `object`, matched case-insensitively (as the host's Newtonsoft reader does);
/// `None` when absent or null.
pub fn get_ci<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .get(name)
        .or_else(|| {
            object
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        })
        .filter(|value| !value.is_null())
}

/// Deserialises `T` from `value`, trying the value itself and then each level of
/// JSON-in-a-string beneath it. The error is the one from the deepest level reached.
pub fn from_value_lenient<T: DeserializeOwned>(value: &Value) -> Result<T, serde_json::Error> {
    let mut current = value.clone();
    let mut level = 0;
    loop {
        let error = match serde_json::from_value::<T>(current.clone()) {
            Ok(parsed) => return Ok(parsed),
            Err(error) => error,
        };
        let Value::String(text) = &current else {
            return Err(error);
        };
        if level == MAX_STRING_LEVELS {
            return Err(error);
        }
        match serde_json::from_str::<Value>(text) {
            Ok(inner) => current = inner,
            Err(_) => return Err(error),
        }
        level += 1;
    }
}

/// Parses a host timestamp: `Z`, `±hh:mm` or no zone (taken as UTC), 0–7 fraction digits.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Some(parsed.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%m/%d/%Y %H:%M:%S",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    None
}

/// Reads a timestamp from a JSON value that may be a string (possibly JSON-encoded again).
pub fn timestamp_from_value(value: &Value) -> Option<DateTime<Utc>> {
    match unwrap_json_string(value) {
        Value::String(text) => parse_timestamp(&text),
        _ => match value {
            Value::String(text) => parse_timestamp(text),
            _ => None,
        },
    }
}

/// Reads an integer that may arrive as a number or as a string holding one.
pub fn i64_from_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
        }),
        Value::String(text) => {
            let trimmed = text.trim().trim_matches('"');
            trimmed.parse::<i64>().ok()
        }
        _ => None,
    }
}

/// Reads a string that may be a plain string, a JSON-encoded string or a number.
pub fn string_from_value(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::String(inner)) => Some(inner),
            _ => Some(text.clone()),
        },
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Reads a boolean that may arrive as a bool or a string (`"true"`, `"False"`).
pub fn bool_from_value(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => text
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase()
            .parse()
            .ok(),
        _ => None,
    }
}

/// Serde helpers for fields whose host encoding varies.
pub mod serde_lenient {
    use super::*;
    use serde::{Deserialize, Deserializer};

    /// An optional integer sent as a number or a numeric string.
    pub fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        let value = Option::<Value>::deserialize(deserializer)?;
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(value) => i64_from_value(&value).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("expected an integer, got {value}"))
            }),
        }
    }

    /// An optional timestamp in any of the host's text forms.
    pub fn opt_timestamp<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let value = Option::<Value>::deserialize(deserializer)?;
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(value) => timestamp_from_value(&value).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("expected a timestamp, got {value}"))
            }),
        }
    }

    /// A boolean sent as a bool or a string; missing or null means false.
    pub fn bool_or_false<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        let value = Option::<Value>::deserialize(deserializer)?;
        match value {
            None | Some(Value::Null) => Ok(false),
            Some(value) => bool_from_value(&value).ok_or_else(|| {
                serde::de::Error::custom(format!("expected a boolean, got {value}"))
            }),
        }
    }

    /// An optional string sent plain, JSON-encoded or as a number.
    pub fn opt_string<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        let value = Option::<Value>::deserialize(deserializer)?;
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(value) => string_from_value(&value)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("expected a string, got {value}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn peels_two_levels_of_json_strings() {
        let twice = json!("\"[1,2]\"");
        let parsed: Vec<i32> = from_value_lenient(&twice).unwrap();
        assert_eq!(parsed, vec![1, 2]);
        let plain: String = from_value_lenient(&json!("plain text")).unwrap();
        assert_eq!(plain, "plain text");
    }

    #[test]
    fn timestamps_in_every_host_form() {
        for text in [
            "2023-03-13T01:25:02Z",
            "2023-03-13T01:25:02.1234567Z",
            "2023-03-13T01:25:02.25",
            "2023-03-13T01:25:02",
            "2023-03-13T02:25:02+01:00",
        ] {
            let parsed = parse_timestamp(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(parsed.timestamp(), 1_678_670_702, "{text}");
        }
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn numbers_as_strings() {
        assert_eq!(i64_from_value(&json!("59")), Some(59));
        assert_eq!(i64_from_value(&json!(60)), Some(60));
        assert_eq!(i64_from_value(&json!("x")), None);
    }
}
