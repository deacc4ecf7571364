//! The deployment manifest: `host.json` and every `functions/*/function.json`, parsed once
//! into typed values with the rules of the Functions host and its v4 extensions. `check`,
//! `package` and the local platform consume these values; no other code reads the files.
//!
//! - [`route`]: HTTP route templates; [`timespan`]: .NET TimeSpans; [`schedule`]: NCRONTAB;
//!   [`retry`]: retry policies; [`bindings`]: every binding type and option; [`host`]: host.json.
//! - [`check`]: the manifest against the registered handlers.
//!
//! Problems the host refuses are errors; problems the host only lives with (it picks a
//! default) are warnings, reported by `check` and by `dev` with the same text.

mod bindings;
mod check;
mod host;
mod props;
mod retry;
mod route;
mod schedule;
pub mod settings;
mod timespan;

pub use bindings::{
    Binding, BindingKind, CosmosDbTriggerOptions, EventHubTriggerOptions, KNOWN_TYPES,
    TimerSchedule,
};
pub use check::{check, refusals, routes_collide, unhandled_folders};
pub use host::{CustomHandler, EventHubsOptions, HostJson};
pub use retry::{RetryPolicy, RetryStrategy};
pub use route::{Constraint, Parameter, Pattern, RouteError, RouteTemplate, Segment, Shape};
pub use schedule::{Schedule, ScheduleError};
pub use settings::check_settings;
pub use timespan::{TimeSpan, TimeSpanError};

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::function::Direction;

/// One problem in one field of one JSON object, before the file is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Names the binding the problem is in.
    pub(crate) fn about(self, binding_type: &str, name: &str) -> Self {
        Self {
            message: format!("{binding_type} binding `{name}`: {}", self.message),
            ..self
        }
    }

    fn in_file(self, file: &Path) -> ManifestError {
        ManifestError::new(file, self.field, self.message)
    }
}

/// One problem in the manifest: the file, the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    pub field: String,
    pub message: String,
}

impl ManifestError {
    pub fn new(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: `{}`: {}",
                self.file.display(),
                self.field,
                self.message
            )
        }
    }
}

impl std::error::Error for ManifestError {}

/// One `functions/<Name>/function.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionJson {
    /// The folder name, which is the function name.
    pub name: String,
    /// Path relative to the manifest root, e.g. `functions/GetRound/function.json`.
    pub file: PathBuf,
    pub bindings: Vec<Binding>,
    pub retry: Option<RetryPolicy>,
    pub disabled: bool,
}

impl FunctionJson {
    /// The trigger binding (the one `*Trigger` with direction in).
    pub fn trigger(&self) -> Option<&Binding> {
        self.bindings
            .iter()
            .find(|binding| binding.kind.is_trigger())
    }

    pub fn binding(&self, name: &str) -> Option<&Binding> {
        self.bindings.iter().find(|binding| binding.name == name)
    }

    /// Exactly one `httpTrigger` in and one `http` out: eligible for request forwarding.
    pub fn is_http_only(&self) -> bool {
        self.bindings.len() == 2
            && self
                .bindings
                .iter()
                .any(|b| matches!(b.kind, BindingKind::HttpTrigger { .. }))
            && self
                .bindings
                .iter()
                .any(|b| matches!(b.kind, BindingKind::Http) && b.direction == Direction::Out)
    }

    /// Parses one function.json text; `file` is used in errors, warnings go to `warnings`.
    pub fn parse(
        name: &str,
        file: &Path,
        text: &str,
        warnings: &mut Vec<ManifestError>,
    ) -> Result<Self, Vec<ManifestError>> {
        let value = parse_json(file, text)?;
        let Value::Object(object) = &value else {
            return Err(vec![ManifestError::new(file, "", "expected a JSON object")]);
        };
        let mut errors = Vec::new();
        let mut bindings = Vec::new();
        let mut binding_warnings = Vec::new();
        let get = |key: &str| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        };
        match get("bindings") {
            Some(Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    let prefix = format!("bindings[{index}]");
                    match Binding::parse(item, &prefix, name, &mut binding_warnings) {
                        Ok(binding) => bindings.push(binding),
                        Err(error) => errors.push(error.in_file(file)),
                    }
                }
            }
            Some(_) => errors.push(ManifestError::new(file, "bindings", "expected an array")),
            None => errors.push(ManifestError::new(file, "bindings", "missing")),
        }
        let retry = match get("retry") {
            None | Some(Value::Null) => None,
            Some(value) => match RetryPolicy::parse(value) {
                Ok(policy) => Some(policy),
                Err(error) => {
                    errors.push(error.in_file(file));
                    None
                }
            },
        };
        let disabled = match get("disabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(other) => {
                errors.push(ManifestError::new(
                    file,
                    "disabled",
                    format!("invalid type: expected true or false, got {other}"),
                ));
                false
            }
        };
        let triggers = bindings
            .iter()
            .filter(|binding| binding.kind.is_trigger())
            .count();
        if errors.is_empty() && triggers != 1 {
            errors.push(ManifestError::new(
                file,
                "bindings",
                format!("expected exactly one trigger, found {triggers}"),
            ));
        }
        for (index, binding) in bindings.iter().enumerate() {
            if bindings[..index]
                .iter()
                .any(|other| other.name.eq_ignore_ascii_case(&binding.name))
            {
                errors.push(ManifestError::new(
                    file,
                    format!("bindings[{index}].name"),
                    format!("binding name `{}` is used twice", binding.name),
                ));
            }
        }
        warnings.extend(binding_warnings.into_iter().map(|w| w.in_file(file)));
        if errors.is_empty() {
            Ok(Self {
                name: name.to_owned(),
                file: file.to_owned(),
                bindings,
                retry,
                disabled,
            })
        } else {
            Err(errors)
        }
    }

    /// The HTTP trigger's options, for an HTTP function.
    pub fn http_trigger(&self) -> Option<(&Binding, &[String], &RouteTemplate)> {
        self.bindings
            .iter()
            .find_map(|binding| match &binding.kind {
                BindingKind::HttpTrigger { methods, route, .. } => {
                    Some((binding, methods.as_slice(), route))
                }
                _ => None,
            })
    }
}

/// The whole manifest under one root directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub root: PathBuf,
    pub host: HostJson,
    pub functions: Vec<FunctionJson>,
    /// What the host accepts but would run differently than written (e.g. a default).
    pub warnings: Vec<ManifestError>,
}

impl Manifest {
    /// Reads `<root>/host.json` and every `<root>/functions/*/function.json`, collecting every
    /// problem rather than stopping at the first.
    pub fn load(root: &Path) -> Result<Self, Vec<ManifestError>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let host_file = PathBuf::from("host.json");
        let host = match std::fs::read_to_string(root.join(&host_file)) {
            Ok(text) => match HostJson::parse(&host_file, &text) {
                Ok(host) => Some(host),
                Err(mut more) => {
                    errors.append(&mut more);
                    None
                }
            },
            Err(error) => {
                errors.push(ManifestError::new(
                    &host_file,
                    "",
                    format!("cannot read: {error}"),
                ));
                None
            }
        };
        let mut functions = Vec::new();
        let functions_dir = root.join("functions");
        let mut folders: Vec<PathBuf> = match std::fs::read_dir(&functions_dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.is_dir())
                .collect(),
            Err(error) => {
                errors.push(ManifestError::new(
                    "functions",
                    "",
                    format!("cannot read folder: {error}"),
                ));
                Vec::new()
            }
        };
        folders.sort();
        for folder in folders {
            let Some(name) = folder
                .file_name()
                .and_then(|name| name.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let file = PathBuf::from("functions").join(&name).join("function.json");
            match std::fs::read_to_string(root.join(&file)) {
                Ok(text) => match FunctionJson::parse(&name, &file, &text, &mut warnings) {
                    Ok(function) => functions.push(function),
                    Err(mut more) => errors.append(&mut more),
                },
                Err(error) => errors.push(ManifestError::new(
                    &file,
                    "",
                    format!("cannot read: {error}"),
                )),
            }
        }
        errors.extend(check::check_routes(&functions));
        match host {
            Some(host) if errors.is_empty() => Ok(Self {
                root: root.to_owned(),
                host,
                functions,
                warnings,
            }),
            _ => Err(errors),
        }
    }

    pub fn function(&self, name: &str) -> Option<&FunctionJson> {
        self.functions
            .iter()
            .find(|function| function.name.eq_ignore_ascii_case(name))
    }
}

/// Reads `text` as JSON; the error names `file`.
pub(crate) fn parse_json(file: &Path, text: &str) -> Result<Value, Vec<ManifestError>> {
    serde_json::from_str(text).map_err(|error| {
        vec![ManifestError::new(
            file,
            "",
            format!("not valid JSON: {error}"),
        )]
    })
}
