//! The deployment manifest: `host.json` and every `functions/*/function.json`, parsed into typed
//! values (used by `check` and by the local platform), with validation against the registry.

mod bindings;
mod check;
mod host;
pub mod settings;

pub use bindings::{
    Binding, BindingKind, CosmosDbTriggerOptions, EventHubTriggerOptions, RetryPolicy,
    parse_timespan,
};
pub use check::{check, routes_collide};
pub use host::{CustomHandler, HostJson};
pub use settings::check_settings;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::function::Direction;

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

    /// Parses one function.json text; `file` is used in errors.
    pub fn parse(name: &str, file: &Path, text: &str) -> Result<Self, Vec<ManifestError>> {
        let value: Value = serde_json::from_str(text).map_err(|error| {
            vec![ManifestError::new(
                file,
                "",
                format!("not valid JSON: {error}"),
            )]
        })?;
        let Value::Object(object) = value else {
            return Err(vec![ManifestError::new(file, "", "expected a JSON object")]);
        };
        let mut errors = Vec::new();
        let mut bindings = Vec::new();
        match object.get("bindings") {
            Some(Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    match Binding::parse(item, &format!("bindings[{index}]")) {
                        Ok(binding) => bindings.push(binding),
                        Err((field, message)) => {
                            errors.push(ManifestError::new(file, field, message))
                        }
                    }
                }
            }
            Some(_) => errors.push(ManifestError::new(file, "bindings", "expected an array")),
            None => errors.push(ManifestError::new(file, "bindings", "missing")),
        }
        let retry = match object.get("retry") {
            None | Some(Value::Null) => None,
            Some(value) => match RetryPolicy::parse(value) {
                Ok(policy) => Some(policy),
                Err((field, message)) => {
                    errors.push(ManifestError::new(file, format!("retry.{field}"), message));
                    None
                }
            },
        };
        let disabled = matches!(object.get("disabled"), Some(Value::Bool(true)));
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
                .any(|other| other.name == binding.name)
            {
                errors.push(ManifestError::new(
                    file,
                    format!("bindings[{index}].name"),
                    format!("binding name `{}` is used twice", binding.name),
                ));
            }
        }
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
}

/// The whole manifest under one root directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub root: PathBuf,
    pub host: HostJson,
    pub functions: Vec<FunctionJson>,
}

impl Manifest {
    /// Reads `<root>/host.json` and every `<root>/functions/*/function.json`, collecting every
    /// problem rather than stopping at the first.
    pub fn load(root: &Path) -> Result<Self, Vec<ManifestError>> {
        let mut errors = Vec::new();
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
                Ok(text) => match FunctionJson::parse(&name, &file, &text) {
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
        match host {
            Some(host) if errors.is_empty() => Ok(Self {
                root: root.to_owned(),
                host,
                functions,
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
