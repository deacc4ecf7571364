//! Typed function.json bindings: every property of every binding type this runtime supports,
//! with the rules of the Functions host and the v4 extensions (extension bundle `[4.*, 5.0.0)`).
//!
//! Property names match without case, as in the host. A property the extension does not read
//! is refused (the host would silently ignore it, so a typo or a v3 name would silently change
//! behaviour); a v3 name is refused with its v4 replacement.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::FieldError;
use super::props::{Props, Renamed};
use super::route::RouteTemplate;
use super::schedule::Schedule;
use crate::runtime::function::Direction;

/// Change-feed options of a `cosmosDBTrigger` (Cosmos DB extension 4.x names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CosmosDbTriggerOptions {
    pub connection: Option<String>,
    pub database_name: Option<String>,
    pub container_name: String,
    pub lease_connection: Option<String>,
    pub lease_database_name: Option<String>,
    pub lease_container_name: Option<String>,
    pub lease_container_prefix: Option<String>,
    pub create_lease_container_if_not_exists: bool,
    pub leases_container_throughput: Option<u32>,
    pub max_items_per_invocation: Option<u32>,
    pub start_from_beginning: bool,
    /// `startFromTime` (ISO 8601); never set together with `start_from_beginning`.
    pub start_from_time: Option<DateTime<Utc>>,
    /// Milliseconds.
    pub feed_poll_delay: Option<u64>,
    pub lease_acquire_interval: Option<u32>,
    pub lease_expiration_interval: Option<u32>,
    pub lease_renew_interval: Option<u32>,
    pub preferred_locations: Option<String>,
}

/// Options of an `eventHubTrigger`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventHubTriggerOptions {
    /// Always set once parsed.
    pub event_hub_name: Option<String>,
    pub connection: Option<String>,
    pub consumer_group: Option<String>,
    /// `one` (the host's default when absent) or `many`.
    pub cardinality: Option<String>,
}

/// A timer schedule as written: an expression, or `%Name%` resolved from app settings when
/// the host starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerSchedule {
    Expression(Schedule),
    Setting(String),
}

impl std::fmt::Display for TimerSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Expression(schedule) => f.write_str(schedule.text()),
            Self::Setting(name) => write!(f, "%{name}%"),
        }
    }
}

impl TimerSchedule {
    /// Parses `text`: `%Name%` stays unresolved, anything else must be a valid schedule.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        match trimmed.strip_prefix('%').and_then(|t| t.strip_suffix('%')) {
            Some(name) if !name.is_empty() => Ok(Self::Setting(name.to_owned())),
            _ => Schedule::parse(trimmed)
                .map(Self::Expression)
                .map_err(|e| e.to_string()),
        }
    }

    /// The schedule, looking a `%Name%` up with `setting`.
    pub fn resolve(&self, setting: impl Fn(&str) -> Option<String>) -> Result<Schedule, String> {
        match self {
            Self::Expression(schedule) => Ok(schedule.clone()),
            Self::Setting(name) => {
                let text = setting(name).ok_or_else(|| {
                    format!("app setting \"{name}\" (from \"%{name}%\") is not set")
                })?;
                Schedule::parse(&text).map_err(|e| e.to_string())
            }
        }
    }
}

/// The binding types this runtime supports, with their options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingKind {
    HttpTrigger {
        auth_level: Option<String>,
        /// Upper-case; empty means every method.
        methods: Vec<String>,
        /// The route, or the function name when function.json sets none (as the host does).
        route: RouteTemplate,
    },
    Http,
    CosmosDbTrigger(CosmosDbTriggerOptions),
    /// A `cosmosDB` input (`id` + `partitionKey`, or `sqlQuery`) or output.
    CosmosDb {
        connection: Option<String>,
        database_name: Option<String>,
        container_name: Option<String>,
        partition_key: Option<String>,
        id: Option<String>,
        sql_query: Option<String>,
        create_if_not_exists: bool,
        container_throughput: Option<u32>,
        preferred_locations: Option<String>,
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
        schedule: TimerSchedule,
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
        client_protocol: Option<String>,
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

/// Properties every binding has.
const COMMON: [&str; 4] = ["type", "direction", "name", "dataType"];

/// Cosmos DB v3 → v4 (learn.microsoft.com, "Migrate function apps from Azure Cosmos DB
/// extension version 3.x to version 4.x", `articles/azure-functions/migrate-cosmos-db-version-3-version-4.md`).
const COSMOS_V3: (&str, &str) = ("Cosmos DB extension 3.x", "extension 4.x");
const COSMOS_RENAMED: [Renamed; 12] = [
    Renamed {
        old: "connectionStringSetting",
        new: Some("connection"),
        versions: COSMOS_V3,
    },
    Renamed {
        old: "collectionName",
        new: Some("containerName"),
        versions: COSMOS_V3,
    },
    Renamed {
        old: "leaseConnectionStringSetting",
        new: Some("leaseConnection"),
        versions: COSMOS_V3,
    },
    Renamed {
        old: "leaseCollectionName",
        new: Some("leaseContainerName"),
        versions: COSMOS_V3,
    },
    Renamed {
        old: "createLeaseCollectionIfNotExists",
        new: Some("createLeaseContainerIfNotExists"),
        versions: COSMOS_V3,
    },
    Renamed {
        old: "leasesCollectionThroughput",
        new: Some("leasesContainerThroughput"),
        versions: COSMOS_V3,
    },
    Renamed {
        old: "leaseCollectionPrefix",
        new: Some("leaseContainerPrefix"),
        versions: COSMOS_V3,
    },
    Renamed {
        old: "collectionThroughput",
        new: Some("containerThroughput"),
        versions: COSMOS_V3,
    },
    Renamed {
        old: "useMultipleWriteLocations",
        new: None,
        versions: COSMOS_V3,
    },
    Renamed {
        old: "useDefaultJsonSerialization",
        new: None,
        versions: COSMOS_V3,
    },
    Renamed {
        old: "checkpointInterval",
        new: None,
        versions: COSMOS_V3,
    },
    Renamed {
        old: "checkpointDocumentCount",
        new: None,
        versions: COSMOS_V3,
    },
];
/// Functions 1.x named the hub `path` (learn.microsoft.com, `functions-bindings-event-hubs`).
const EVENT_HUBS_RENAMED: [Renamed; 1] = [Renamed {
    old: "path",
    new: Some("eventHubName"),
    versions: (
        "Functions 1.x",
        "the Event Hubs extension for Functions 2.x and later",
    ),
}];

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

    /// Every app setting name this binding references by property: `(property, setting)`,
    /// e.g. `("connection", "CosmosDBConnection")`. Connection names are prefixes: with an
    /// identity-based connection the settings are `<name>__accountEndpoint` and the like.
    pub fn setting_names(&self) -> Vec<(&'static str, &str)> {
        fn push<'a>(
            names: &mut Vec<(&'static str, &'a str)>,
            property: &'static str,
            value: &'a Option<String>,
        ) {
            names.extend(value.as_deref().map(|value| (property, value)));
        }
        let mut names = Vec::new();
        let mut add = |property, value| push(&mut names, property, value);
        match self {
            Self::CosmosDbTrigger(options) => {
                add("connection", &options.connection);
                add("leaseConnection", &options.lease_connection);
            }
            Self::CosmosDb { connection, .. }
            | Self::EventHub { connection, .. }
            | Self::WebPubSub { connection, .. }
            | Self::WebPubSubConnection { connection, .. } => add("connection", connection),
            Self::EventHubTrigger(options) => add("connection", &options.connection),
            Self::EventGrid {
                topic_endpoint_uri,
                topic_key_setting,
                connection,
            } => {
                add("topicEndpointUri", topic_endpoint_uri);
                add("topicKeySetting", topic_key_setting);
                add("connection", connection);
            }
            Self::HttpTrigger { .. } | Self::Http | Self::EventGridTrigger => {}
            Self::TimerTrigger { schedule, .. } => {
                if let TimerSchedule::Setting(name) = schedule {
                    names.push(("schedule", name.as_str()));
                }
            }
        }
        names
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

impl Binding {
    /// Parses the binding at `prefix` (e.g. `bindings[0]`) of function `function`; errors name
    /// the field. Problems the host only warns about go to `warnings`.
    pub fn parse(
        value: &Value,
        prefix: &str,
        function: &str,
        warnings: &mut Vec<FieldError>,
    ) -> Result<Self, FieldError> {
        let props = Props::new(value, prefix)?;
        let raw_type = props.required_string("type")?;
        let Some(binding_type) = KNOWN_TYPES
            .iter()
            .find(|known| known.eq_ignore_ascii_case(&raw_type))
        else {
            return Err(props.error(
                "type",
                format!(
                    "unknown binding type `{raw_type}` (known: {})",
                    KNOWN_TYPES.join(", ")
                ),
            ));
        };
        let name = props.required_string("name")?;
        let raw_direction = props.required_string("direction")?;
        let direction = match raw_direction.to_ascii_lowercase().as_str() {
            "in" => Direction::In,
            "out" => Direction::Out,
            _ => {
                return Err(props.error(
                    "direction",
                    format!("expected `in` or `out`, got `{raw_direction}`"),
                ));
            }
        };
        let data_type = props.string("dataType")?;
        let kind = Self::kind(binding_type, &props, direction, function, warnings)
            .map_err(|error| error.about(binding_type, &name))?;
        let expected = match kind {
            BindingKind::Http
            | BindingKind::CosmosDb { .. }
            | BindingKind::EventGrid { .. }
            | BindingKind::EventHub { .. }
            | BindingKind::WebPubSub { .. }
                if direction == Direction::Out =>
            {
                None
            }
            BindingKind::CosmosDb { .. } | BindingKind::WebPubSubConnection { .. }
                if direction == Direction::In =>
            {
                None
            }
            _ if kind.is_trigger() && direction == Direction::In => None,
            BindingKind::CosmosDb { .. } => Some("`in` or `out`"),
            BindingKind::WebPubSubConnection { .. } => Some("`in`"),
            _ if kind.is_trigger() => Some("`in`"),
            _ => Some("`out`"),
        };
        if let Some(expected) = expected {
            return Err(props
                .error(
                    "direction",
                    format!("must be {expected} for `{binding_type}`"),
                )
                .about(binding_type, &name));
        }
        if let BindingKind::CosmosDb { id, sql_query, .. } = &kind
            && direction == Direction::Out
            && (id.is_some() || sql_query.is_some())
        {
            let key = if id.is_some() { "id" } else { "sqlQuery" };
            return Err(props
                .error(
                    key,
                    "is read by `cosmosDB` inputs only; an output writes the documents it is given",
                )
                .about(binding_type, &name));
        }
        Ok(Self {
            name,
            direction,
            data_type,
            kind,
        })
    }

    fn kind(
        binding_type: &str,
        props: &Props<'_>,
        direction: Direction,
        function: &str,
        warnings: &mut Vec<FieldError>,
    ) -> Result<BindingKind, FieldError> {
        let allow = |extra: &[&str], renamed: &[Renamed]| {
            let allowed: Vec<&str> = COMMON.iter().chain(extra).copied().collect();
            props.only_with(&allowed, renamed)
        };
        Ok(match binding_type {
            "httpTrigger" => {
                allow(&["authLevel", "methods", "route"], &[])?;
                let auth_level = props.string("authLevel")?;
                if let Some(level) = &auth_level
                    && !["anonymous", "user", "function", "system", "admin"]
                        .iter()
                        .any(|known| known.eq_ignore_ascii_case(level))
                {
                    return Err(props.error(
                        "authLevel",
                        format!("expected `anonymous`, `function` or `admin`, got `{level}`"),
                    ));
                }
                let methods = props
                    .strings("methods")?
                    .iter()
                    .map(|method| method.to_ascii_uppercase())
                    .collect::<Vec<_>>();
                const METHODS: [&str; 8] = [
                    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
                ];
                if let Some(bad) = methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
                    return Err(props.error("methods", format!("`{bad}` is not an HTTP method")));
                }
                // ScriptHost.ValidateHttpFunction: no route means the function name.
                let text = props
                    .string("route")?
                    .unwrap_or_else(|| function.to_owned());
                let route = RouteTemplate::parse_function_route(&text)
                    .map_err(|e| props.error("route", e.to_string()))?;
                BindingKind::HttpTrigger {
                    auth_level,
                    methods,
                    route,
                }
            }
            "http" => {
                allow(&[], &[])?;
                BindingKind::Http
            }
            "cosmosDBTrigger" => {
                allow(
                    &[
                        "connection",
                        "databaseName",
                        "containerName",
                        "leaseConnection",
                        "leaseDatabaseName",
                        "leaseContainerName",
                        "leaseContainerPrefix",
                        "createLeaseContainerIfNotExists",
                        "leasesContainerThroughput",
                        "maxItemsPerInvocation",
                        "startFromBeginning",
                        "startFromTime",
                        "feedPollDelay",
                        "leaseAcquireInterval",
                        "leaseExpirationInterval",
                        "leaseRenewInterval",
                        "preferredLocations",
                        "changeFeedMode",
                    ],
                    &COSMOS_RENAMED,
                )?;
                let mut options = CosmosDbTriggerOptions {
                    connection: props.string("connection")?,
                    database_name: Some(props.required_string("databaseName")?),
                    container_name: props.required_string("containerName")?,
                    lease_connection: props.string("leaseConnection")?,
                    lease_database_name: props.string("leaseDatabaseName")?,
                    lease_container_name: props.string("leaseContainerName")?,
                    lease_container_prefix: props.string("leaseContainerPrefix")?,
                    create_lease_container_if_not_exists: props
                        .bool("createLeaseContainerIfNotExists")?
                        .unwrap_or(false),
                    leases_container_throughput: props.count("leasesContainerThroughput", 1)?,
                    max_items_per_invocation: props.count("maxItemsPerInvocation", 1)?,
                    start_from_beginning: props.bool("startFromBeginning")?.unwrap_or(false),
                    start_from_time: None,
                    feed_poll_delay: props.count("feedPollDelay", 0)?.map(u64::from),
                    lease_acquire_interval: props.count("leaseAcquireInterval", 0)?,
                    lease_expiration_interval: props.count("leaseExpirationInterval", 0)?,
                    lease_renew_interval: props.count("leaseRenewInterval", 0)?,
                    preferred_locations: props.string("preferredLocations")?,
                };
                if let Some(text) = props.string("startFromTime")? {
                    // The change-feed processor ignores StartFromBeginning once a start time is
                    // set (ChangeFeedProcessorOptions.StartFromBeginning, remarks): refuse the
                    // pair rather than guess which one was meant.
                    if options.start_from_beginning {
                        return Err(props.error(
                            "startFromTime",
                            "cannot be combined with startFromBeginning",
                        ));
                    }
                    let time = DateTime::parse_from_rfc3339(&text).map_err(|_| {
                        props.error(
                            "startFromTime",
                            format!(
                                "`{text}` is not an ISO 8601 time such as 2026-01-01T00:00:00Z"
                            ),
                        )
                    })?;
                    options.start_from_time = Some(time.with_timezone(&Utc));
                }
                // Azure/azure-webjobs-sdk-extensions, src/WebJobs.Extensions.CosmosDB/Trigger/
                // CosmosDBTriggerAttributeBindingProvider.cs: "The monitored collection cannot be
                // the same as the collection storing the leases." (leases default to `leases`
                // in the same database through the same connection).
                let lease_container = options.lease_container_name.as_deref().unwrap_or("leases");
                if options.container_name == lease_container
                    && options
                        .lease_database_name
                        .as_ref()
                        .is_none_or(|db| Some(db) == options.database_name.as_ref())
                    && options
                        .lease_connection
                        .as_ref()
                        .is_none_or(|c| Some(c) == options.connection.as_ref())
                {
                    return Err(props.error(
                        "leaseContainerName",
                        format!("the monitored container `{lease_container}` cannot also store the leases"),
                    ));
                }
                if let Some(mode) = props.string("changeFeedMode")?
                    && !mode.eq_ignore_ascii_case("LatestVersion")
                {
                    return Err(props.error(
                        "changeFeedMode",
                        format!(
                            "`{mode}` is not supported here; only `LatestVersion` (the default) is"
                        ),
                    ));
                }
                BindingKind::CosmosDbTrigger(options)
            }
            "cosmosDB" => {
                allow(
                    &[
                        "connection",
                        "databaseName",
                        "containerName",
                        "partitionKey",
                        "id",
                        "sqlQuery",
                        "createIfNotExists",
                        "containerThroughput",
                        "preferredLocations",
                    ],
                    &COSMOS_RENAMED,
                )?;
                let kind = BindingKind::CosmosDb {
                    connection: props.string("connection")?,
                    database_name: Some(props.required_string("databaseName")?),
                    container_name: Some(props.required_string("containerName")?),
                    partition_key: props.string("partitionKey")?,
                    id: props.string("id")?,
                    sql_query: props.string("sqlQuery")?,
                    create_if_not_exists: props.bool("createIfNotExists")?.unwrap_or(false),
                    container_throughput: props.count("containerThroughput", 1)?,
                    preferred_locations: props.string("preferredLocations")?,
                };
                if let BindingKind::CosmosDb {
                    id: Some(_),
                    sql_query: Some(_),
                    ..
                } = &kind
                {
                    // CosmosDBExtensionConfigProvider binds a single item only when `Id` is
                    // set and `SqlQuery` is not.
                    return Err(props.error("sqlQuery", "cannot be combined with `id`"));
                }
                if direction == Direction::In
                    && let BindingKind::CosmosDb {
                        id: None,
                        sql_query: None,
                        ..
                    } = &kind
                {
                    return Err(props.error(
                        "id",
                        "missing: a `cosmosDB` input reads one document by `id` (+ `partitionKey`) or runs `sqlQuery`",
                    ));
                }
                kind
            }
            "eventGridTrigger" => {
                allow(&[], &[])?;
                BindingKind::EventGridTrigger
            }
            "eventGrid" => {
                allow(&["topicEndpointUri", "topicKeySetting", "connection"], &[])?;
                BindingKind::EventGrid {
                    topic_endpoint_uri: props.string("topicEndpointUri")?,
                    topic_key_setting: props.string("topicKeySetting")?,
                    connection: props.string("connection")?,
                }
            }
            "eventHubTrigger" => {
                allow(
                    &["eventHubName", "connection", "consumerGroup", "cardinality"],
                    &EVENT_HUBS_RENAMED,
                )?;
                let cardinality = props.string("cardinality")?;
                match cardinality.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    Some("one" | "many") => {}
                    // The host reads a value it does not know as `one`
                    // (GeneralScriptBindingProvider.GetRequestedType); refuse it instead.
                    Some(_) => {
                        return Err(props.error(
                            "cardinality",
                            format!(
                                "expected `one` or `many`, got `{}`",
                                cardinality.unwrap_or_default()
                            ),
                        ));
                    }
                    // Azure/azure-functions-host, src/WebJobs.Script/Binding/
                    // GeneralScriptBindingProvider.cs: absent means `one`, without a word.
                    None => warnings.push(props.error(
                        "cardinality",
                        "missing: the host then delivers one event per invocation (`one`); set `many` for batches or `one` to say so",
                    )),
                }
                BindingKind::EventHubTrigger(EventHubTriggerOptions {
                    event_hub_name: Some(props.required_string("eventHubName")?),
                    connection: props.string("connection")?,
                    consumer_group: props.string("consumerGroup")?,
                    cardinality,
                })
            }
            "eventHub" => {
                allow(&["eventHubName", "connection"], &EVENT_HUBS_RENAMED)?;
                BindingKind::EventHub {
                    event_hub_name: Some(props.required_string("eventHubName")?),
                    connection: props.string("connection")?,
                }
            }
            "timerTrigger" => {
                allow(&["schedule", "runOnStartup", "useMonitor"], &[])?;
                let text = props.required_string("schedule")?;
                let schedule = TimerSchedule::parse(&text)
                    .map_err(|message| props.error("schedule", message))?;
                BindingKind::TimerTrigger {
                    schedule,
                    run_on_startup: props.bool("runOnStartup")?.unwrap_or(false),
                    use_monitor: props.bool("useMonitor")?,
                }
            }
            "webPubSub" => {
                allow(&["hub", "connection"], &[])?;
                BindingKind::WebPubSub {
                    hub: Some(props.required_string("hub")?),
                    connection: props.string("connection")?,
                }
            }
            _ => {
                allow(&["hub", "userId", "clientProtocol", "connection"], &[])?;
                BindingKind::WebPubSubConnection {
                    hub: Some(props.required_string("hub")?),
                    user_id: props.string("userId")?,
                    client_protocol: props.string("clientProtocol")?,
                    connection: props.string("connection")?,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Binding, FieldError> {
        Binding::parse(&value, "bindings[0]", "F", &mut Vec::new())
    }

    #[test]
    fn unknown_type_names_the_field() {
        let error = parse(json!({"type":"queueTrigger","name":"q","direction":"in"})).unwrap_err();
        assert_eq!(error.field, "bindings[0].type");
        assert!(error.message.contains("queueTrigger"));
    }

    #[test]
    fn bad_option_type_names_the_field() {
        let error = parse(json!({"type":"cosmosDBTrigger","name":"d","direction":"in",
            "databaseName":"db","containerName":"c","maxItemsPerInvocation":"many"}))
        .unwrap_err();
        assert_eq!(error.field, "bindings[0].maxItemsPerInvocation");
        assert!(error.message.contains("invalid type"), "{}", error.message);
    }

    #[test]
    fn properties_match_without_case_and_v3_names_are_refused() {
        let binding = parse(json!({"Type":"cosmosDB","Name":"d","Direction":"out",
            "DatabaseName":"db","CONTAINERNAME":"c"}))
        .unwrap();
        assert!(
            matches!(binding.kind, BindingKind::CosmosDb { container_name: Some(ref c), .. } if c == "c")
        );
        let error = parse(json!({"type":"cosmosDBTrigger","name":"d","direction":"in",
            "databaseName":"db","collectionName":"c"}))
        .unwrap_err();
        assert_eq!(error.field, "bindings[0].collectionName");
        assert!(
            error.message.contains("use `containerName`"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("cosmosDBTrigger binding `d`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn cosmos_inputs_read_one_document_or_run_a_query() {
        let input = |extra: Value| {
            let mut value = json!({"type":"cosmosDB","name":"doc","direction":"in",
                "databaseName":"db","containerName":"c"});
            if let (Some(map), Value::Object(extra)) = (value.as_object_mut(), extra) {
                map.extend(extra);
            }
            parse(value)
        };
        let point = input(json!({"id":"{id}","partitionKey":"{pk}"})).unwrap();
        assert!(matches!(
            point.kind,
            BindingKind::CosmosDb { id: Some(ref id), partition_key: Some(ref pk), .. }
                if id == "{id}" && pk == "{pk}"
        ));
        assert!(input(json!({"sqlQuery":"SELECT * FROM c"})).is_ok());
        let both = input(json!({"id":"{id}","sqlQuery":"SELECT * FROM c"})).unwrap_err();
        assert_eq!(both.field, "bindings[0].sqlQuery");
        assert_eq!(input(json!({})).unwrap_err().field, "bindings[0].id");
        let output = parse(json!({"type":"cosmosDB","name":"doc","direction":"out",
            "databaseName":"db","containerName":"c","id":"{id}"}))
        .unwrap_err();
        assert_eq!(output.field, "bindings[0].id");
        let v3 = parse(json!({"type":"cosmosDB","name":"doc","direction":"out",
            "databaseName":"db","containerName":"c","collectionThroughput":400}))
        .unwrap_err();
        assert!(
            v3.message.contains("use `containerThroughput`"),
            "{}",
            v3.message
        );
    }

    #[test]
    fn missing_cardinality_is_a_warning() {
        let mut warnings = Vec::new();
        Binding::parse(
            &json!({"type":"eventHubTrigger","name":"e","direction":"in","eventHubName":"h"}),
            "bindings[0]",
            "F",
            &mut warnings,
        )
        .unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].field, "bindings[0].cardinality");
    }

    #[test]
    fn settings_are_listed() {
        let binding = parse(json!({"type":"cosmosDBTrigger","name":"d","direction":"in",
            "databaseName":"db","containerName":"c","connection":"Cosmos","leaseConnection":"Leases"}))
        .unwrap();
        assert_eq!(
            binding.kind.setting_names(),
            vec![("connection", "Cosmos"), ("leaseConnection", "Leases")]
        );
    }
}
