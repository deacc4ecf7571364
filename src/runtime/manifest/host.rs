//! `host.json`: the custom-handler description, extension bundle, function timeout, HTTP
//! route prefix and the Event Hubs extension options.
//!
//! Section and property names match without case, as .NET configuration does.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::props::{Props, Renamed};
use super::timespan::TimeSpan;
use super::{FieldError, ManifestError};

/// `customHandler` in host.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomHandler {
    pub default_executable_path: String,
    pub arguments: Vec<String>,
    pub working_directory: Option<String>,
    pub enable_forwarding_http_request: bool,
    pub enable_proxying_http_request: bool,
}

/// `extensions.eventHubs` (Event Hubs extension 5.x, the one in bundle 4.x).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventHubsOptions {
    /// `maxEventBatchSize`: at most this many events per invocation (the extension's default 100).
    pub max_event_batch_size: Option<u32>,
    pub min_event_batch_size: Option<u32>,
    pub max_wait_time: Option<Duration>,
    pub batch_checkpoint_frequency: Option<u32>,
    pub prefetch_count: Option<u32>,
}

impl EventHubsOptions {
    /// The extension's default `maxEventBatchSize`.
    pub const DEFAULT_MAX_EVENT_BATCH_SIZE: u32 = 100;

    pub fn max_batch(&self) -> u32 {
        self.max_event_batch_size
            .unwrap_or(Self::DEFAULT_MAX_EVENT_BATCH_SIZE)
    }
}

/// The parts of host.json the runtime and the local platform use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostJson {
    pub version: String,
    pub custom_handler: Option<CustomHandler>,
    /// `(id, version range)` of the extension bundle.
    pub extension_bundle: Option<(String, String)>,
    pub function_timeout: Option<Duration>,
    /// `extensions.http.routePrefix`, `api` when absent.
    pub route_prefix: String,
    pub event_hubs: EventHubsOptions,
}

/// Event Hubs extension 5.x renamed the 4.x batch options (learn.microsoft.com,
/// `functions-bindings-event-hubs`, host.json settings for extension 5.x).
const EVENT_HUBS_RENAMED: [Renamed; 2] = [
    Renamed {
        old: "maxBatchSize",
        new: Some("maxEventBatchSize"),
        versions: ("Event Hubs extension 4.x", "extension 5.x (bundle 4.x)"),
    },
    Renamed {
        old: "eventProcessorOptions",
        new: Some("maxEventBatchSize / prefetchCount"),
        versions: ("Event Hubs extension 4.x", "extension 5.x (bundle 4.x)"),
    },
];

impl HostJson {
    pub fn parse(file: &Path, text: &str) -> Result<Self, Vec<ManifestError>> {
        let value = super::parse_json(file, text)?;
        Self::from_value(&value).map_err(|error| vec![error.in_file(file)])
    }

    fn from_value(value: &Value) -> Result<Self, FieldError> {
        let root =
            Props::new(value, "").map_err(|_| FieldError::new("", "expected a JSON object"))?;
        let version = root
            .string("version")
            .map_err(|e| FieldError::new("version", e.message))?
            .ok_or_else(|| FieldError::new("version", "missing"))?;
        let function_timeout = match root
            .string("functionTimeout")
            .map_err(|e| FieldError::new("functionTimeout", e.message))?
        {
            None => None,
            Some(text) => function_timeout(&text)?,
        };
        let custom_handler = match root.get("customHandler") {
            None => None,
            Some(section) => Some(custom_handler(section)?),
        };
        let extension_bundle = match root.get("extensionBundle") {
            None => None,
            Some(section) => {
                let bundle = Props::new(section, "extensionBundle")?;
                Some((
                    bundle.required_string("id")?,
                    bundle.required_string("version")?,
                ))
            }
        };
        let (mut route_prefix, mut event_hubs) = ("api".to_owned(), EventHubsOptions::default());
        if let Some(extensions) = root.get("extensions") {
            let extensions = Props::new(extensions, "extensions")?;
            if let Some(http) = extensions.get("http") {
                let http = Props::new(http, "extensions.http")?;
                if let Some(Value::String(prefix)) = http.get("routePrefix") {
                    route_prefix = prefix.clone();
                } else if let Some(other) = http.get("routePrefix") {
                    return Err(http.error(
                        "routePrefix",
                        format!("invalid type: expected a string, got {other}"),
                    ));
                }
            }
            if let Some(hubs) = extensions.get("eventHubs") {
                event_hubs = event_hubs_options(&Props::new(hubs, "extensions.eventHubs")?)?;
            }
        }
        Ok(Self {
            version,
            custom_handler,
            extension_bundle,
            function_timeout,
            route_prefix: route_prefix.trim_matches('/').to_owned(),
            event_hubs,
        })
    }
}

/// `functionTimeout`, as `ScriptJobHostOptionsSetup.ConfigureFunctionTimeout` reads it
/// (Azure/azure-functions-host, `src/WebJobs.Script/Config/ScriptJobHostOptionsSetup.cs`): `-1`
/// (one negative day) is no timeout on plans that allow it (Flex Consumption, which `infra/`
/// deploys to; the 10-minute cap applies only to the older Consumption plan), and anything
/// else must be at least one second.
fn function_timeout(text: &str) -> Result<Option<Duration>, FieldError> {
    let trimmed = text.trim();
    if let Some(positive) = trimmed.strip_prefix('-') {
        return match TimeSpan::parse(positive) {
            Ok(span) if span.as_duration() == Duration::from_secs(86_400) => Ok(None),
            _ => Err(FieldError::new(
                "functionTimeout",
                format!("`{text}`: the only negative value the host accepts is -1 (no timeout)"),
            )),
        };
    }
    let span = TimeSpan::parse(trimmed)
        .map_err(|e| FieldError::new("functionTimeout", e.to_string()))?
        .as_duration();
    if span < Duration::from_secs(1) {
        return Err(FieldError::new(
            "functionTimeout",
            format!("`{text}`: FunctionTimeout must be greater than 00:00:01"),
        ));
    }
    Ok(Some(span))
}

fn custom_handler(section: &Value) -> Result<CustomHandler, FieldError> {
    let handler = Props::new(section, "customHandler")?;
    let (mut path, mut arguments, mut working_directory) = (None, Vec::new(), None);
    if let Some(description) = handler.get("description") {
        let description = Props::new(description, "customHandler.description")?;
        path = description.string("defaultExecutablePath")?;
        arguments = description.strings("arguments")?;
        working_directory = description.string("workingDirectory")?;
    }
    Ok(CustomHandler {
        default_executable_path: path.unwrap_or_default(),
        arguments,
        working_directory,
        enable_forwarding_http_request: handler
            .bool("enableForwardingHttpRequest")?
            .unwrap_or(false),
        enable_proxying_http_request: handler.bool("enableProxyingHttpRequest")?.unwrap_or(false),
    })
}

fn event_hubs_options(hubs: &Props<'_>) -> Result<EventHubsOptions, FieldError> {
    hubs.only_with(
        &[
            "maxEventBatchSize",
            "minEventBatchSize",
            "maxWaitTime",
            "batchCheckpointFrequency",
            "prefetchCount",
            "transportType",
            "webProxy",
            "customEndpointAddress",
            "targetUnprocessedEventThreshold",
            "initialOffsetOptions",
            "clientRetryOptions",
        ],
        &EVENT_HUBS_RENAMED,
    )?;
    let max_wait_time = match hubs.string("maxWaitTime")? {
        None => None,
        Some(text) => Some(
            TimeSpan::parse(&text)
                .map_err(|e| hubs.error("maxWaitTime", e.to_string()))?
                .as_duration(),
        ),
    };
    let options = EventHubsOptions {
        max_event_batch_size: hubs.count("maxEventBatchSize", 1)?,
        min_event_batch_size: hubs.count("minEventBatchSize", 1)?,
        max_wait_time,
        batch_checkpoint_frequency: hubs.count("batchCheckpointFrequency", 1)?,
        prefetch_count: hubs.count("prefetchCount", 0)?,
    };
    if let (Some(min), max) = (options.min_event_batch_size, options.max_batch())
        && min > max
    {
        return Err(hubs.error(
            "minEventBatchSize",
            format!("{min} is greater than maxEventBatchSize {max}"),
        ));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_event_hubs_options_and_refuses_the_4x_names() {
        let host = HostJson::from_value(&json!({"version":"2.0",
            "extensions":{"eventHubs":{"maxEventBatchSize":10,"maxWaitTime":"00:00:05"}}}))
        .unwrap();
        assert_eq!(host.event_hubs.max_batch(), 10);
        assert_eq!(host.event_hubs.max_wait_time, Some(Duration::from_secs(5)));
        assert_eq!(host.route_prefix, "api");
        let error = HostJson::from_value(&json!({"version":"2.0",
            "extensions":{"eventHubs":{"maxBatchSize":10}}}))
        .unwrap_err();
        assert_eq!(error.field, "extensions.eventHubs.maxBatchSize");
        assert!(
            error.message.contains("use `maxEventBatchSize`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn timeouts_are_dotnet_timespans() {
        let host =
            HostJson::from_value(&json!({"version":"2.0","functionTimeout":"00:05"})).unwrap();
        assert_eq!(host.function_timeout, Some(Duration::from_secs(300)));
        let error = HostJson::from_value(&json!({"version":"2.0","functionTimeout":"25:00:00"}))
            .unwrap_err();
        assert_eq!(error.field, "functionTimeout");
        let unbounded = HostJson::from_value(&json!({"version":"2.0","functionTimeout":"-1"}));
        assert_eq!(unbounded.unwrap().function_timeout, None);
        for bad in ["00:00:00", "-00:00:05"] {
            let host = HostJson::from_value(&json!({"version":"2.0","functionTimeout":bad}));
            assert_eq!(host.unwrap_err().field, "functionTimeout", "{bad}");
        }
    }
}
