//! The settings check: every setting a binding reads (its `connection` with the identity-based
//! suffix of its v4 extension, and every `%Name%` expression) and every setting of the app's
//! table is listed in `local.settings.json.example` and set by the Bicep (`var appSettings` of
//! `infra/main.bicep`) under the same name, and neither file sets anything nobody reads.
//!
//! Identity-based suffixes, as the v4 extensions read them (Azure/azure-sdk-for-net):
//! - Cosmos DB `accountEndpoint` (`sdk/cosmosdb/Microsoft.Azure.WebJobs.Extensions.CosmosDB`,
//!   `CosmosDBUtility` / `Constants.AccountEndpoint`);
//! - Event Hubs `fullyQualifiedNamespace` (`sdk/eventhub/Microsoft.Azure.WebJobs.Extensions.EventHubs`,
//!   `EventHubClientFactory`);
//! - Event Grid output `topicEndpointUri` (`sdk/eventgrid/Microsoft.Azure.WebJobs.Extensions.EventGrid/src/Config/EventGridAsyncCollectorFactory.cs`);
//! - Web PubSub `serviceUri` (`sdk/webpubsub/Microsoft.Azure.WebJobs.Extensions.WebPubSub/src/Config/WebPubSubServiceAccessUtil.cs`).
//!
//! Besides the suffix, a connection prefix may carry `__credential` and `__clientId` (the
//! Functions identity-based connection properties) or be a connection string itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{BindingKind, Manifest, ManifestError, TimerSchedule};
use crate::runtime::settings::SettingSpec;

/// The example settings file, relative to the app root.
pub const EXAMPLE_FILE: &str = "local.settings.json.example";
/// The Bicep file whose `var appSettings = { … }` holds the Function App's settings.
pub const BICEP_FILE: &str = "infra/main.bicep";
const BICEP_VAR: &str = "var appSettings = {";

/// Why a setting is needed: which binding (or the app's table) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reader {
    /// `functions/X/function.json binding `b``, or `the app`.
    who: String,
    in_example: bool,
    in_bicep: bool,
}

/// The setting a binding kind's `connection` resolves to in identity-based form.
fn identity_suffix(kind: &BindingKind) -> Option<&'static str> {
    match kind {
        BindingKind::CosmosDbTrigger(_) | BindingKind::CosmosDb { .. } => Some("accountEndpoint"),
        BindingKind::EventHubTrigger(_) | BindingKind::EventHub { .. } => {
            Some("fullyQualifiedNamespace")
        }
        BindingKind::EventGrid { .. } => Some("topicEndpointUri"),
        BindingKind::WebPubSub { .. } | BindingKind::WebPubSubConnection { .. } => {
            Some("serviceUri")
        }
        _ => None,
    }
}

/// The connection prefixes a binding names.
fn connections(kind: &BindingKind) -> Vec<&str> {
    let mut names = Vec::new();
    match kind {
        BindingKind::CosmosDbTrigger(options) => {
            names.extend(options.connection.as_deref());
            names.extend(options.lease_connection.as_deref());
        }
        BindingKind::EventHubTrigger(options) => names.extend(options.connection.as_deref()),
        BindingKind::CosmosDb { connection, .. }
        | BindingKind::EventGrid { connection, .. }
        | BindingKind::EventHub { connection, .. } => names.extend(connection.as_deref()),
        // The extension's default connection name (`WebPubSubConnectionString`).
        BindingKind::WebPubSub { connection, .. }
        | BindingKind::WebPubSubConnection { connection, .. } => {
            names.push(connection.as_deref().unwrap_or("WebPubSubConnectionString"));
        }
        _ => {}
    }
    names
}

/// Settings a binding names directly: the legacy Event Grid `topicEndpointUri` /
/// `topicKeySetting` (names of settings), and every `%Name%` in its string options.
fn named_settings(kind: &BindingKind) -> Vec<String> {
    let mut texts: Vec<&str> = Vec::new();
    let mut direct = Vec::new();
    match kind {
        BindingKind::HttpTrigger { route, .. } => texts.push(route.text()),
        BindingKind::CosmosDbTrigger(o) => {
            texts.push(&o.container_name);
            texts.extend(
                [
                    &o.database_name,
                    &o.lease_database_name,
                    &o.lease_container_name,
                    &o.lease_container_prefix,
                    &o.preferred_locations,
                ]
                .into_iter()
                .filter_map(|t| t.as_deref()),
            );
        }
        BindingKind::CosmosDb {
            database_name,
            container_name,
            ..
        } => texts.extend(
            [database_name, container_name]
                .into_iter()
                .filter_map(|t| t.as_deref()),
        ),
        BindingKind::EventGrid {
            topic_endpoint_uri,
            topic_key_setting,
            ..
        } => direct.extend(
            [topic_endpoint_uri, topic_key_setting]
                .into_iter()
                .flatten()
                .cloned(),
        ),
        BindingKind::EventHubTrigger(o) => texts.extend(
            [&o.event_hub_name, &o.consumer_group]
                .into_iter()
                .filter_map(|t| t.as_deref()),
        ),
        BindingKind::EventHub { event_hub_name, .. } => texts.extend(event_hub_name.as_deref()),
        BindingKind::TimerTrigger {
            schedule: TimerSchedule::Setting(name),
            ..
        } => direct.push(name.clone()),
        BindingKind::WebPubSub { hub, .. } => texts.extend(hub.as_deref()),
        BindingKind::WebPubSubConnection { hub, user_id, .. } => {
            texts.extend([hub, user_id].into_iter().filter_map(|t| t.as_deref()));
        }
        _ => {}
    }
    for text in texts {
        direct.extend(percent_expressions(text));
    }
    direct
}

/// The names inside `%Name%` in `text`.
fn percent_expressions(text: &str) -> Vec<String> {
    let pairs = text.matches('%').count() / 2;
    text.split('%')
        .skip(1)
        .step_by(2)
        .take(pairs)
        .filter(|name| !name.is_empty() && !name.contains(char::is_whitespace))
        .map(str::to_owned)
        .collect()
}

/// Every setting the bindings and the app's table require, and every name that may appear.
fn expected(manifest: &Manifest, app: &[SettingSpec]) -> (BTreeMap<String, Reader>, Vec<String>) {
    let mut required = BTreeMap::new();
    let mut known: Vec<String> = Vec::new();
    for function in &manifest.functions {
        let file = format!("functions/{}/function.json", function.name);
        for binding in &function.bindings {
            let who = format!("{file} binding `{}`", binding.name);
            let reader = Reader {
                who: who.clone(),
                in_example: true,
                in_bicep: true,
            };
            if let Some(suffix) = identity_suffix(&binding.kind) {
                for prefix in connections(&binding.kind) {
                    required
                        .entry(format!("{prefix}__{suffix}"))
                        .or_insert_with(|| reader.clone());
                    known.extend(
                        ["", "__credential", "__clientId"].map(|tail| format!("{prefix}{tail}")),
                    );
                }
            }
            for name in named_settings(&binding.kind) {
                required.entry(name).or_insert_with(|| reader.clone());
            }
        }
    }
    for spec in app {
        known.push(spec.name.to_owned());
        if spec.listed.in_example() || spec.listed.in_bicep() {
            let entry = required.entry(spec.name.to_owned()).or_insert(Reader {
                who: "the app's settings table".to_owned(),
                in_example: false,
                in_bicep: false,
            });
            entry.in_example |= spec.listed.in_example();
            entry.in_bicep |= spec.listed.in_bicep();
        }
    }
    known.extend(required.keys().cloned());
    (required, known)
}

/// Reads the setting names a file sets.
type NameReader = fn(&Path) -> Result<Vec<String>, String>;

/// The `Values` names of the example settings file.
fn example_names(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("is not JSON: {e}"))?;
    let values = json
        .get("Values")
        .and_then(serde_json::Value::as_object)
        .ok_or("has no `Values` object")?;
    Ok(values.keys().cloned().collect())
}

/// The names set in the Bicep's `var appSettings = { … }` object (one `Name: value` per line,
/// the object closed by a `}` in the first column).
fn bicep_names(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut lines = text.lines().skip_while(|line| line.trim() != BICEP_VAR);
    if lines.next().is_none() {
        return Err(format!("has no `{BICEP_VAR} … }}` object"));
    }
    Ok(lines
        .take_while(|line| !line.starts_with('}'))
        .filter_map(|line| {
            let (name, _) = line.trim().split_once(':')?;
            let name = name.trim();
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            valid.then(|| name.to_owned())
        })
        .collect())
}

/// Checks the example file and the Bicep against the manifest and the app's table. An app root
/// with neither file (a bare script root) has nothing to check.
pub fn check_settings(manifest: &Manifest, app: &[SettingSpec]) -> Vec<ManifestError> {
    let root = &manifest.root;
    let example = root.join(EXAMPLE_FILE);
    let bicep = root.join(BICEP_FILE);
    if !example.exists() && !bicep.exists() {
        return Vec::new();
    }
    let (required, known) = expected(manifest, app);
    let mut problems = Vec::new();
    let files: [(PathBuf, NameReader, bool); 2] =
        [(example, example_names, true), (bicep, bicep_names, false)];
    for (path, read, is_example) in files {
        let names = match read(&path) {
            Ok(names) => names,
            Err(problem) => {
                problems.push(ManifestError::new(&path, "", problem));
                continue;
            }
        };
        for (name, reader) in &required {
            let wanted = if is_example {
                reader.in_example
            } else {
                reader.in_bicep
            };
            if wanted && !names.contains(name) {
                problems.push(ManifestError::new(
                    &path,
                    name.as_str(),
                    format!("setting is missing (read by {})", reader.who),
                ));
            }
        }
        for name in names.iter().filter(|name| !known.contains(name)) {
            problems.push(ManifestError::new(
                &path,
                name.as_str(),
                "setting is not read by any binding or by the app (extra)",
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_expressions_are_found() {
        assert_eq!(percent_expressions("%Hub%"), ["Hub"]);
        assert_eq!(percent_expressions("a-%One%-%Two%"), ["One", "Two"]);
        assert!(percent_expressions("100% sure").is_empty());
        assert!(percent_expressions("plain").is_empty());
    }
}
