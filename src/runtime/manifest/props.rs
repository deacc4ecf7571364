//! Reading one JSON object of a manifest the way the host does: property names match
//! case-insensitively (the host reads binding metadata and `retry` through Json.NET, which
//! ignores case), `null` counts as absent, and every error names its field.

use serde_json::{Map, Value};

use super::FieldError;

/// A property an older extension read that the one in the bundle does not, and what to write
/// instead.
pub(crate) struct Renamed {
    pub old: &'static str,
    /// The current name, or `None` when the property was removed.
    pub new: Option<&'static str>,
    /// Which version read `old`, and which one the bundle carries, e.g.
    /// `("Cosmos DB extension 3.x", "extension 4.x")`.
    pub versions: (&'static str, &'static str),
}

pub(crate) struct Props<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Props<'a> {
    pub fn new(value: &'a Value, prefix: &str) -> Result<Self, FieldError> {
        match value {
            Value::Object(object) => Ok(Self {
                object,
                prefix: prefix.to_owned(),
            }),
            _ => Err(FieldError::new(prefix, "expected a JSON object")),
        }
    }

    pub fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }

    pub fn error(&self, key: &str, message: impl Into<String>) -> FieldError {
        FieldError::new(self.field(key), message)
    }

    /// The value of `key` (any case); `null` is absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.object
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value)
            .filter(|value| !value.is_null())
    }

    fn invalid(&self, key: &str, expected: &str, got: &Value) -> FieldError {
        self.error(key, format!("invalid type: expected {expected}, got {got}"))
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.clone())),
            Some(Value::String(_)) => Err(self.error(key, "expected a non-empty string")),
            Some(other) => Err(self.invalid(key, "a string", other)),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<String, FieldError> {
        self.string(key)?.ok_or_else(|| self.error(key, "missing"))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(self.invalid(key, "true or false", other)),
        }
    }

    pub fn integer(&self, key: &str) -> Result<Option<i64>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.invalid(key, "a whole number", value)),
        }
    }

    /// A whole number of at least `min`.
    pub fn count(&self, key: &str, min: u32) -> Result<Option<u32>, FieldError> {
        match self.integer(key)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n >= min)
                .map(Some)
                .ok_or_else(|| self.error(key, format!("must be at least {min}, got {n}"))),
        }
    }

    pub fn strings(&self, key: &str) -> Result<Vec<String>, FieldError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    other => Err(self.invalid(key, "an array of strings", other)),
                })
                .collect(),
            Some(other) => Err(self.invalid(key, "an array of strings", other)),
        }
    }

    /// Refuses properties outside `allowed` (compared without case), naming the v4 property
    /// for a `renamed` one.
    pub fn only_with(&self, allowed: &[&str], renamed: &[Renamed]) -> Result<(), FieldError> {
        for key in self.object.keys() {
            if allowed.iter().any(|known| known.eq_ignore_ascii_case(key)) {
                continue;
            }
            if let Some(rule) = renamed.iter().find(|r| r.old.eq_ignore_ascii_case(key)) {
                let advice = match rule.new {
                    Some(new) => format!("use `{new}` instead"),
                    None => "remove it".to_owned(),
                };
                let (old, current) = rule.versions;
                return Err(self.error(
                    key,
                    format!("`{key}` is the {old} name, which {current} does not read; {advice}"),
                ));
            }
            return Err(self.error(
                key,
                format!(
                    "unknown property (the host ignores it; known: {})",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(())
    }

    pub fn only(&self, allowed: &[&str]) -> Result<(), FieldError> {
        self.only_with(allowed, &[])
    }
}
