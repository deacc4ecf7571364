//! Typed function.json bindings and the function-level retry policy.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::runtime::function::Direction;

/// Change-feed options of a `cosmosDBTrigger` (Cosmos DB extension 4.x names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CosmosDbTriggerOptions {
    pub connection: Option<String>,
    pub database_name: Option<String>,
    pub container_name: Option<String>,
    pub lease_connection: Option<String>,
    pub lease_database_name: Option<String>,
    pub lease_container_name: Option<String>,
    pub lease_container_prefix: Option<String>,
    #[serde(default)]
    pub create_lease_container_if_not_exists: bool,
    pub max_items_per_invocation: Option<u32>,
    #[serde(default)]
    pub start_from_beginning: bool,
    pub start_from_time: Option<String>,
    pub feed_poll_delay: Option<u64>,
    pub preferred_locations: Option<String>,
}

/// Options of an `eventHubTrigger`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventHubTriggerOptions {
    pub event_hub_name: Option<String>,
    pub connection: Option<String>,
    pub consumer_group: Option<String>,
    /// `one` (the host's default) or `many`.
    pub cardinality: Option<String>,
}

/// The binding types CosmosPark uses, with their options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingKind {
    HttpTrigger {
        auth_level: Option<String>,
        methods: Vec<String>,
        route: Option<String>,
    },
    Http,
    CosmosDbTrigger(CosmosDbTriggerOptions),
    CosmosDb {
        connection: Option<String>,
        database_name: Option<String>,
        container_name: Option<String>,
    },
    EventGridTrigger,
    EventGrid {
        topic_endpoint_uri: Option<String>,
        topic_key_setting: Option<String>,
        connection: Option<String>,
    },
    EventHubTrigger(EventHubTriggerOptions),
    EventHub {
        event_hub_name: Option<String>,
        connection: Option<String>,
    },
    TimerTrigger {
        schedule: String,
        run_on_startup: bool,
        use_monitor: Option<bool>,
    },
    WebPubSub {
        hub: Option<String>,
        connection: Option<String>,
    },
    WebPubSubConnection {
        hub: Option<String>,
        user_id: Option<String>,
        connection: Option<String>,
    },
}

/// Canonical spellings of every supported `type`.
pub const KNOWN_TYPES: [&str; 11] = [
    "httpTrigger",
    "http",
    "cosmosDBTrigger",
    "cosmosDB",
    "eventGridTrigger",
    "eventGrid",
    "eventHubTrigger",
    "eventHub",
    "timerTrigger",
    "webPubSub",
    "webPubSubConnection",
];

impl BindingKind {
    /// The canonical function.json `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::HttpTrigger { .. } => "httpTrigger",
            Self::Http => "http",
            Self::CosmosDbTrigger(_) => "cosmosDBTrigger",
            Self::CosmosDb { .. } => "cosmosDB",
            Self::EventGridTrigger => "eventGridTrigger",
            Self::EventGrid { .. } => "eventGrid",
            Self::EventHubTrigger(_) => "eventHubTrigger",
            Self::EventHub { .. } => "eventHub",
            Self::TimerTrigger { .. } => "timerTrigger",
            Self::WebPubSub { .. } => "webPubSub",
            Self::WebPubSubConnection { .. } => "webPubSubConnection",
        }
    }

    pub fn is_trigger(&self) -> bool {
        self.type_name().ends_with("Trigger")
    }
}

/// One binding of a function.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    pub direction: Direction,
    /// `dataType` (`string`, `binary`, `stream`) when set.
    pub data_type: Option<String>,
    pub kind: BindingKind,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpTriggerRaw {
    auth_level: Option<String>,
    #[serde(default)]
    methods: Vec<String>,
    route: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CosmosRaw {
    connection: Option<String>,
    database_name: Option<String>,
    container_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventGridRaw {
    topic_endpoint_uri: Option<String>,
    topic_key_setting: Option<String>,
    connection: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventHubRaw {
    event_hub_name: Option<String>,
    connection: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimerRaw {
    schedule: String,
    #[serde(default)]
    run_on_startup: bool,
    use_monitor: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebPubSubRaw {
    hub: Option<String>,
    user_id: Option<String>,
    connection: Option<String>,
}

type FieldError = (String, String);

fn options<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value.clone()).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        (field, error.into_inner().to_string())
    })
}

fn text(value: &Value, key: &str, prefix: &str) -> Result<String, FieldError> {
    match value.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(_) => Err((
            format!("{prefix}.{key}"),
            "expected a non-empty string".into(),
        )),
        None => Err((format!("{prefix}.{key}"), "missing".into())),
    }
}

impl Binding {
    /// Parses the binding at `prefix` (e.g. `bindings[0]`); errors name the field.
    pub fn parse(value: &Value, prefix: &str) -> Result<Self, FieldError> {
        if !value.is_object() {
            return Err((prefix.to_owned(), "expected an object".into()));
        }
        let raw_type = text(value, "type", prefix)?;
        let Some(binding_type) = KNOWN_TYPES
            .iter()
            .find(|known| known.eq_ignore_ascii_case(&raw_type))
        else {
            return Err((
                format!("{prefix}.type"),
                format!(
                    "unknown binding type `{raw_type}` (known: {})",
                    KNOWN_TYPES.join(", ")
                ),
            ));
        };
        let name = text(value, "name", prefix)?;
        let direction = match text(value, "direction", prefix)?
            .to_ascii_lowercase()
            .as_str()
        {
            "in" => Direction::In,
            "out" => Direction::Out,
            other => {
                return Err((
                    format!("{prefix}.direction"),
                    format!("expected `in` or `out`, got `{other}`"),
                ));
            }
        };
        let data_type = value
            .get("dataType")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let kind = match *binding_type {
            "httpTrigger" => {
                let raw: HttpTriggerRaw = options(value, prefix)?;
                BindingKind::HttpTrigger {
                    auth_level: raw.auth_level,
                    methods: raw
                        .methods
                        .iter()
                        .map(|method| method.to_ascii_uppercase())
                        .collect(),
                    route: raw.route,
                }
            }
            "http" => BindingKind::Http,
            "cosmosDBTrigger" => BindingKind::CosmosDbTrigger(options(value, prefix)?),
            "cosmosDB" => {
                let raw: CosmosRaw = options(value, prefix)?;
                BindingKind::CosmosDb {
                    connection: raw.connection,
                    database_name: raw.database_name,
                    container_name: raw.container_name,
                }
            }
            "eventGridTrigger" => BindingKind::EventGridTrigger,
            "eventGrid" => {
                let raw: EventGridRaw = options(value, prefix)?;
                BindingKind::EventGrid {
                    topic_endpoint_uri: raw.topic_endpoint_uri,
                    topic_key_setting: raw.topic_key_setting,
                    connection: raw.connection,
                }
            }
            "eventHubTrigger" => {
                let raw: EventHubTriggerOptions = options(value, prefix)?;
                if let Some(cardinality) = &raw.cardinality
                    && !matches!(cardinality.to_ascii_lowercase().as_str(), "one" | "many")
                {
                    return Err((
                        format!("{prefix}.cardinality"),
                        format!("expected `one` or `many`, got `{cardinality}`"),
                    ));
                }
                BindingKind::EventHubTrigger(raw)
            }
            "eventHub" => {
                let raw: EventHubRaw = options(value, prefix)?;
                BindingKind::EventHub {
                    event_hub_name: raw.event_hub_name,
                    connection: raw.connection,
                }
            }
            "timerTrigger" => {
                let raw: TimerRaw = options(value, prefix)?;
                validate_schedule(&raw.schedule)
                    .map_err(|message| (format!("{prefix}.schedule"), message))?;
                BindingKind::TimerTrigger {
                    schedule: raw.schedule,
                    run_on_startup: raw.run_on_startup,
                    use_monitor: raw.use_monitor,
                }
            }
            "webPubSub" => {
                let raw: WebPubSubRaw = options(value, prefix)?;
                BindingKind::WebPubSub {
                    hub: raw.hub,
                    connection: raw.connection,
                }
            }
            _ => {
                let raw: WebPubSubRaw = options(value, prefix)?;
                BindingKind::WebPubSubConnection {
                    hub: raw.hub,
                    user_id: raw.user_id,
                    connection: raw.connection,
                }
            }
        };
        Ok(Self {
            name,
            direction,
            data_type,
            kind,
        })
    }
}

/// A 6-field (or 5-field) NCRONTAB expression, a `hh:mm:ss` interval, or a `%AppSetting%`.
fn validate_schedule(schedule: &str) -> Result<(), String> {
    let trimmed = schedule.trim();
    if trimmed.starts_with('%') && trimmed.ends_with('%') && trimmed.len() > 2 {
        return Ok(());
    }
    if parse_timespan(trimmed).is_ok() {
        return Ok(());
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    if !(5..=6).contains(&fields.len()) {
        return Err(format!(
            "expected a 6-field NCRONTAB expression, got {} fields in `{schedule}`",
            fields.len()
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-');
    if let Some(field) = fields.iter().find(|field| !field.chars().all(allowed)) {
        return Err(format!("invalid NCRONTAB field `{field}` in `{schedule}`"));
    }
    Ok(())
}

/// Parses a .NET TimeSpan `[d.]hh:mm:ss[.fff]`.
pub fn parse_timespan(text: &str) -> Result<Duration, String> {
    let invalid = || format!("expected a time span `hh:mm:ss`, got `{text}`");
    let (days, rest) = match text.split_once('.') {
        Some((days, rest)) if !days.contains(':') => {
            (days.parse::<u64>().map_err(|_| invalid())?, rest)
        }
        _ => (0, text),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [hours, minutes, seconds] = parts.as_slice() else {
        return Err(invalid());
    };
    let hours: u64 = hours.parse().map_err(|_| invalid())?;
    let minutes: u64 = minutes.parse().map_err(|_| invalid())?;
    let seconds: f64 = seconds.parse().map_err(|_| invalid())?;
    if minutes >= 60 || !(0.0..60.0).contains(&seconds) {
        return Err(invalid());
    }
    let whole = days * 86_400 + hours * 3_600 + minutes * 60;
    Ok(Duration::from_secs(whole) + Duration::from_secs_f64(seconds))
}

/// A function-level retry policy (timer, Event Hubs, Cosmos DB triggers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryPolicy {
    FixedDelay {
        max_retry_count: i32,
        delay_interval: Duration,
    },
    ExponentialBackoff {
        max_retry_count: i32,
        minimum_interval: Duration,
        maximum_interval: Duration,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryRaw {
    strategy: String,
    max_retry_count: i32,
    delay_interval: Option<String>,
    minimum_interval: Option<String>,
    maximum_interval: Option<String>,
}

impl RetryPolicy {
    pub fn parse(value: &Value) -> Result<Self, FieldError> {
        let raw: RetryRaw = serde_path_to_error::deserialize(value.clone())
            .map_err(|error| (error.path().to_string(), error.into_inner().to_string()))?;
        let span = |field: &str, value: Option<String>| -> Result<Duration, FieldError> {
            let value = value.ok_or_else(|| (field.to_owned(), "missing".to_owned()))?;
            parse_timespan(&value).map_err(|message| (field.to_owned(), message))
        };
        match raw.strategy.to_ascii_lowercase().as_str() {
            "fixeddelay" => Ok(Self::FixedDelay {
                max_retry_count: raw.max_retry_count,
                delay_interval: span("delayInterval", raw.delay_interval)?,
            }),
            "exponentialbackoff" => {
                let minimum_interval = span("minimumInterval", raw.minimum_interval)?;
                let maximum_interval = span("maximumInterval", raw.maximum_interval)?;
                if minimum_interval > maximum_interval {
                    return Err((
                        "minimumInterval".into(),
                        "is greater than maximumInterval".into(),
                    ));
                }
                Ok(Self::ExponentialBackoff {
                    max_retry_count: raw.max_retry_count,
                    minimum_interval,
                    maximum_interval,
                })
            }
            other => Err((
                "strategy".into(),
                format!("expected `fixedDelay` or `exponentialBackoff`, got `{other}`"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("00:00:10").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_timespan("1.00:15:00").unwrap(),
            Duration::from_secs(86_400 + 900)
        );
        assert!(parse_timespan("10s").is_err());
    }

    #[test]
    fn unknown_type_names_the_field() {
        let error = Binding::parse(
            &json!({"type":"queueTrigger","name":"q","direction":"in"}),
            "bindings[0]",
        )
        .unwrap_err();
        assert_eq!(error.0, "bindings[0].type");
        assert!(error.1.contains("queueTrigger"));
    }

    #[test]
    fn bad_option_type_names_the_field() {
        let value = json!({"type":"cosmosDBTrigger","name":"d","direction":"in","maxItemsPerInvocation":"many"});
        let error = Binding::parse(&value, "bindings[0]").unwrap_err();
        assert_eq!(error.0, "bindings[0].maxItemsPerInvocation");
    }

    #[test]
    fn retry_policies() {
        let fixed = json!({"strategy":"fixedDelay","maxRetryCount":3,"delayInterval":"00:00:10"});
        assert_eq!(
            RetryPolicy::parse(&fixed).unwrap(),
            RetryPolicy::FixedDelay {
                max_retry_count: 3,
                delay_interval: Duration::from_secs(10)
            }
        );
        let bad =
            json!({"strategy":"exponentialBackoff","maxRetryCount":5,"minimumInterval":"00:00:10"});
        assert_eq!(RetryPolicy::parse(&bad).unwrap_err().0, "maximumInterval");
    }
}
