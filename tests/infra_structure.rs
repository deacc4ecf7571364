//! Structural checks across the infrastructure and the app: the Cosmos DB containers come from
//! `infra/cosmos-containers.json`, the Event Grid subscriptions from
//! `infra/eventgrid-subscriptions.json` (both also read by `cosmospark dev`), and every app
//! setting a `functions/*/function.json` names is set on the Function App by `infra/main.bicep`.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;
use support::infra::{BicepFile, function_manifests, read, repo_root, shown, unwrap_expression};

// ---------- infra/cosmos-containers.json ----------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContainerSpec {
    database: String,
    containers: Vec<Container>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Container {
    name: String,
    partition_key: String,
    default_ttl_seconds: Option<i64>,
}

fn container_spec() -> ContainerSpec {
    serde_json::from_str(&read("infra/cosmos-containers.json"))
        .unwrap_or_else(|e| panic!("infra/cosmos-containers.json: {e}"))
}

#[test]
fn container_list_is_well_formed() {
    let spec = container_spec();
    assert_eq!(spec.database, "CosmicDB", "database name");
    let mut seen = BTreeSet::new();
    for c in &spec.containers {
        assert!(
            seen.insert(c.name.as_str()),
            "container `{}` is listed twice",
            c.name
        );
        assert!(
            c.partition_key.starts_with('/') && c.partition_key.len() > 1,
            "container `{}`: partitionKey `{}` must be a path like /id",
            c.name,
            c.partition_key
        );
        if let Some(ttl) = c.default_ttl_seconds {
            assert!(
                ttl == -1 || ttl > 0,
                "container `{}`: defaultTtlSeconds must be null, -1 or positive, not {ttl}",
                c.name
            );
        }
    }
    assert!(
        seen.contains("leases"),
        "the change-feed lease container `leases` is declared"
    );
}

/// Container name -> partition key path, as the Cosmos module declares them.
fn containers_declared_in_bicep() -> BTreeMap<String, String> {
    let file = BicepFile::load_relative("infra/modules/cosmos.bicep");
    let vars: BTreeMap<String, String> = file
        .declarations("variable_declaration")
        .into_iter()
        .filter_map(|d| {
            let name = file.declared_name(d)?;
            let value = d.named_child(d.named_child_count() - 1)?;
            Some((name, file.text(value).to_string()))
        })
        .collect();
    let mut declared = BTreeMap::new();
    for resource in file.declarations("resource_declaration") {
        let is_container = file.resource_type(resource).is_some_and(|t| {
            t.starts_with("Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@")
        });
        if !is_container {
            continue;
        }
        let body = file.body(resource).expect("container resource has a body");
        let properties = file
            .property(body, "properties")
            .expect("container has properties");
        let inner = file
            .property(properties, "resource")
            .expect("container has properties.resource");
        let partition = file
            .property(inner, "partitionKey")
            .expect("container has a partitionKey");
        let paths = file
            .property(partition, "paths")
            .expect("partitionKey has paths");
        let name = file.property(body, "name").expect("container has a name");
        let last = resource
            .named_child(resource.named_child_count() - 1)
            .map(unwrap_expression);
        match last {
            Some(lp) if lp.kind() == "for_statement" => {
                // [for <item> in <var>.containers: {...}] with <var> = loadJsonContent('<file>')
                let item = lp
                    .child_by_field_name("initializer")
                    .map(|n| file.text(n).to_string())
                    .expect("the loop names its item");
                let iterable = file.text(lp.named_child(1).expect("loop has a source"));
                let (var, field) = iterable
                    .split_once('.')
                    .expect("loop source is <var>.<field>");
                let init = vars
                    .get(var)
                    .unwrap_or_else(|| panic!("`{var}` is a variable"));
                let relative = init
                    .strip_prefix("loadJsonContent('")
                    .and_then(|s| s.strip_suffix("')"))
                    .unwrap_or_else(|| {
                        panic!("`{var}` must be loadJsonContent('<file>'), is {init}")
                    });
                assert_eq!(
                    file.text(name),
                    format!("{item}.name"),
                    "container name comes from the list"
                );
                assert_eq!(
                    file.text(paths).split_whitespace().collect::<String>(),
                    format!("[{item}.partitionKey]"),
                    "partition key comes from the list"
                );
                let list_path = repo_root().join("infra/modules").join(relative);
                let json: Value = serde_json::from_str(
                    &std::fs::read_to_string(&list_path).expect("the container list is readable"),
                )
                .expect("the container list is JSON");
                for c in json[field].as_array().expect("the list field is an array") {
                    declared.insert(
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["partitionKey"].as_str().unwrap_or_default().to_string(),
                    );
                }
            }
            _ => {
                let name = file.string_value(name).expect("literal container name");
                let path = paths
                    .named_child(0)
                    .map(unwrap_expression)
                    .and_then(|p| file.string_value(p))
                    .expect("literal partition key path");
                declared.insert(name, path);
            }
        }
    }
    declared
}

#[test]
fn bicep_declares_every_listed_container_with_its_partition_key() {
    let expected: BTreeMap<String, String> = container_spec()
        .containers
        .into_iter()
        .map(|c| (c.name, c.partition_key))
        .collect();
    assert_eq!(containers_declared_in_bicep(), expected);
}

// ---------- infra/eventgrid-subscriptions.json ----------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SubscriptionSpec {
    topic: String,
    subscriptions: Vec<Subscription>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Subscription {
    name: String,
    function: String,
    event_types: Vec<String>,
    schema: String,
    max_delivery_attempts: u32,
    event_time_to_live_minutes: u32,
}

const SCHEMAS: &[&str] = &["EventGridSchema", "CloudEventSchemaV1_0"];

/// Parses and validates the subscriptions file; every problem names the subscription and field.
fn validate_subscriptions(text: &str) -> Result<SubscriptionSpec, Vec<String>> {
    let spec: SubscriptionSpec =
        serde_json::from_str(text).map_err(|e| vec![format!("malformed: {e}")])?;
    let mut problems = Vec::new();
    if spec.topic.is_empty()
        || !spec
            .topic
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        problems.push(format!(
            "topic `{}` must be lowercase letters, digits and hyphens",
            spec.topic
        ));
    }
    if spec.subscriptions.is_empty() {
        problems.push("subscriptions is empty".to_string());
    }
    let mut names = BTreeSet::new();
    for s in &spec.subscriptions {
        if !names.insert(s.name.as_str()) {
            problems.push(format!("duplicate subscription name `{}`", s.name));
        }
        if !(3..=64).contains(&s.name.len())
            || !s
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            problems.push(format!(
                "`{}`: name must be 3-64 letters, digits or hyphens",
                s.name
            ));
        }
        if s.function.is_empty()
            || !s
                .function
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            problems.push(format!(
                "`{}`: function `{}` is not a function folder name",
                s.name, s.function
            ));
        }
        if s.event_types.is_empty() || s.event_types.iter().any(|t| t.trim().is_empty()) {
            problems.push(format!(
                "`{}`: eventTypes must list at least one non-empty type",
                s.name
            ));
        }
        let distinct: BTreeSet<&String> = s.event_types.iter().collect();
        if distinct.len() != s.event_types.len() {
            problems.push(format!("`{}`: eventTypes has duplicates", s.name));
        }
        if !SCHEMAS.contains(&s.schema.as_str()) {
            problems.push(format!(
                "`{}`: schema `{}` is not one of {SCHEMAS:?}",
                s.name, s.schema
            ));
        }
        if !(1..=30).contains(&s.max_delivery_attempts) {
            problems.push(format!("`{}`: maxDeliveryAttempts must be 1-30", s.name));
        }
        if !(1..=1440).contains(&s.event_time_to_live_minutes) {
            problems.push(format!(
                "`{}`: eventTimeToLiveMinutes must be 1-1440",
                s.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(problems)
    }
}

fn subscription_spec() -> SubscriptionSpec {
    validate_subscriptions(&read("infra/eventgrid-subscriptions.json"))
        .unwrap_or_else(|p| panic!("infra/eventgrid-subscriptions.json:\n{}", p.join("\n")))
}

#[test]
fn subscription_file_is_valid() {
    let spec = subscription_spec();
    assert_eq!(spec.topic, "cosmospark");
}

#[test]
fn subscription_validation_rejects_bad_files() {
    let good = r#"{"name":"evgs-a","function":"A","eventTypes":["T"],"schema":"EventGridSchema","maxDeliveryAttempts":30,"eventTimeToLiveMinutes":1440}"#;
    let file = |subs: &str| format!(r#"{{"topic":"cosmospark","subscriptions":[{subs}]}}"#);
    assert!(validate_subscriptions(&file(good)).is_ok());

    let cases = [
        (
            file(&format!("{good},{good}")),
            "duplicate subscription name `evgs-a`",
        ),
        (
            file(&good.replace("EventGridSchema", "CustomSchema")),
            "schema `CustomSchema`",
        ),
        (
            file(&good.replace(r#"["T"]"#, "[]")),
            "eventTypes must list",
        ),
        (file(&good.replace(r#""function":"A","#, "")), "malformed"),
        ("{ not json".to_string(), "malformed"),
    ];
    for (text, expected) in cases {
        let problems = validate_subscriptions(&text).expect_err(expected);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected `{expected}` in {problems:?}"
        );
    }
}

#[test]
fn subscribers_with_a_folder_have_an_event_grid_trigger_and_vice_versa() {
    let spec = subscription_spec();
    let manifests: BTreeMap<String, Value> = function_manifests().into_iter().collect();
    let has_event_grid_trigger = |json: &Value| {
        json["bindings"]
            .as_array()
            .is_some_and(|b| b.iter().any(|b| b["type"] == "eventGridTrigger"))
    };
    for s in &spec.subscriptions {
        // Folders appear as the app grows; until then only the file itself is checked.
        if let Some(json) = manifests.get(&s.function) {
            assert!(
                has_event_grid_trigger(json),
                "functions/{}/function.json has no eventGridTrigger but subscription `{}` targets it",
                s.function,
                s.name
            );
        }
    }
    let subscribed: BTreeSet<&str> = spec
        .subscriptions
        .iter()
        .map(|s| s.function.as_str())
        .collect();
    for (name, json) in &manifests {
        assert!(
            !has_event_grid_trigger(json) || subscribed.contains(name.as_str()),
            "functions/{name} has an eventGridTrigger but no subscription in infra/eventgrid-subscriptions.json"
        );
    }
}

#[test]
fn bicep_generates_subscriptions_from_the_file() {
    let file = BicepFile::load_relative("infra/modules/eventgrid-subscriptions.bicep");
    let text = &file.source;
    assert!(text.contains("loadJsonContent('../eventgrid-subscriptions.json')"));
    let resource = file
        .declarations("resource_declaration")
        .into_iter()
        .find(|r| {
            file.resource_type(*r)
                .is_some_and(|t| t.starts_with("Microsoft.EventGrid/topics/eventSubscriptions@"))
        })
        .expect("an eventSubscriptions resource");
    let body = file.text(resource);
    for mapping in [
        "name: subscription.name",
        "endpointType: 'AzureFunction'",
        "/functions/${subscription.function}",
        "eventDeliverySchema: subscription.schema",
        "includedEventTypes: subscription.eventTypes",
        "maxDeliveryAttempts: subscription.maxDeliveryAttempts",
        "eventTimeToLiveInMinutes: subscription.eventTimeToLiveMinutes",
        "endpointType: 'StorageBlob'",
    ] {
        assert!(
            body.contains(mapping),
            "eventSubscriptions must contain `{mapping}`"
        );
    }
}

// ---------- app settings named by function.json ----------

/// The app settings `infra/main.bicep` puts on the Function App, plus the string values of the
/// plain literal variables (hub names and the like).
struct BicepSettings {
    names: BTreeSet<String>,
    literals: BTreeMap<String, String>,
}

fn bicep_settings() -> BicepSettings {
    let file = BicepFile::load_relative("infra/main.bicep");
    let mut names = BTreeSet::new();
    let mut literals = BTreeMap::new();
    for var in file.declarations("variable_declaration") {
        let Some(name) = file.declared_name(var) else {
            continue;
        };
        let Some(value) = var
            .named_child(var.named_child_count() - 1)
            .map(unwrap_expression)
        else {
            continue;
        };
        if name == "appSettings" {
            names.extend(file.keys(value));
        } else if let Some(literal) = file.string_value(value) {
            literals.insert(name, literal);
        }
    }
    assert!(
        !names.is_empty(),
        "infra/main.bicep defines `var appSettings = {{...}}`"
    );
    BicepSettings { names, literals }
}

/// The endpoint property an identity-based connection needs, by binding type.
fn identity_property(binding_type: &str) -> Option<&'static str> {
    match binding_type {
        "cosmosDBTrigger" | "cosmosDB" => Some("accountEndpoint"),
        "eventHubTrigger" | "eventHub" => Some("fullyQualifiedNamespace"),
        "eventGrid" => Some("topicEndpointUri"),
        "webPubSub" | "webPubSubConnection" | "webPubSubTrigger" | "webPubSubContext" => {
            Some("serviceUri")
        }
        _ => None,
    }
}

/// Everything wrong with the settings and names a set of function.json files needs.
fn binding_problems(
    manifests: &[(String, Value)],
    settings: &BicepSettings,
    containers: &ContainerSpec,
) -> Vec<String> {
    let mut problems = Vec::new();
    let container_names: BTreeSet<&str> = containers
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let literal = |key: &str| settings.literals.get(key).cloned().unwrap_or_default();
    for (function, json) in manifests {
        let Some(bindings) = json["bindings"].as_array() else {
            problems.push(format!("functions/{function}: `bindings` must be an array"));
            continue;
        };
        for binding in bindings {
            let kind = binding["type"].as_str().unwrap_or_default();
            let at = format!(
                "functions/{function} binding `{}` ({kind})",
                binding["name"].as_str().unwrap_or("?")
            );
            if let Some(property) = identity_property(kind) {
                let default = kind
                    .starts_with("webPubSub")
                    .then_some("WebPubSubConnectionString");
                for field in ["connection", "leaseConnection"] {
                    let connection = binding[field].as_str().or(if field == "connection" {
                        default
                    } else {
                        None
                    });
                    let Some(connection) = connection else {
                        if field == "connection" {
                            problems
                                .push(format!("{at}: set `connection` to the app setting prefix"));
                        }
                        continue;
                    };
                    let needed = format!("{connection}__{property}");
                    if !settings.names.contains(&needed) {
                        problems.push(format!(
                            "{at}: `{field}` needs app setting `{needed}` in infra/main.bicep"
                        ));
                    }
                }
            }
            if let Some(setting) = binding["topicEndpointUri"].as_str()
                && !settings.names.contains(setting)
            {
                problems.push(format!("{at}: `topicEndpointUri` names app setting `{setting}`, not set in infra/main.bicep"));
            }
            if binding.get("topicKeySetting").is_some() {
                problems.push(format!(
                    "{at}: `topicKeySetting` uses an access key; use an identity `connection`"
                ));
            }
            if let Some(object) = binding.as_object() {
                for (field, value) in object {
                    let Some(text) = value.as_str() else { continue };
                    if let Some(setting) = text.strip_prefix('%').and_then(|t| t.strip_suffix('%'))
                        && !settings.names.contains(setting)
                    {
                        problems.push(format!("{at}: `{field}` reads app setting `{setting}`, not set in infra/main.bicep"));
                    }
                }
            }
            if kind.starts_with("cosmosDB") {
                if let Some(db) = binding["databaseName"].as_str()
                    && !db.starts_with('%')
                    && db != containers.database
                {
                    problems.push(format!(
                        "{at}: databaseName `{db}` is not `{}`",
                        containers.database
                    ));
                }
                for field in ["containerName", "leaseContainerName"] {
                    if let Some(c) = binding[field].as_str()
                        && !c.starts_with('%')
                        && !container_names.contains(c)
                    {
                        problems.push(format!(
                            "{at}: {field} `{c}` is not in infra/cosmos-containers.json"
                        ));
                    }
                }
                if binding["createLeaseContainerIfNotExists"] == true {
                    problems.push(format!(
                        "{at}: createLeaseContainerIfNotExists needs account keys; declare the lease container instead"
                    ));
                }
            }
            if kind.starts_with("eventHub") {
                if let Some(hub) = binding["eventHubName"].as_str()
                    && !hub.starts_with('%')
                    && hub != literal("eventHubName")
                {
                    problems.push(format!(
                        "{at}: eventHubName `{hub}` is not the provisioned `{}`",
                        literal("eventHubName")
                    ));
                }
                if let Some(group) = binding["consumerGroup"].as_str()
                    && !group.starts_with('%')
                    && group != "$Default"
                    && group != literal("consumerGroupName")
                {
                    problems.push(format!("{at}: consumerGroup `{group}` is not provisioned"));
                }
            }
            if kind.starts_with("webPubSub")
                && let Some(hub) = binding["hub"].as_str()
                && !hub.starts_with('%')
                && hub != literal("hubName")
            {
                problems.push(format!(
                    "{at}: hub `{hub}` is not the provisioned `{}`",
                    literal("hubName")
                ));
            }
        }
    }
    problems
}

#[test]
fn every_setting_the_functions_name_is_set_on_the_function_app() {
    let problems = binding_problems(&function_manifests(), &bicep_settings(), &container_spec());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn realistic_manifests_pass_and_mistakes_are_named() {
    let settings = bicep_settings();
    let containers = container_spec();
    let good = vec![
        (
            "CosmicChatsRelay".to_string(),
            serde_json::json!({"bindings": [
                {"type": "cosmosDBTrigger", "direction": "in", "name": "documents", "connection": "CosmosDBConnection",
                 "databaseName": "CosmicDB", "containerName": "CosmicChats", "leaseContainerName": "leases",
                 "leaseContainerPrefix": "chats-"},
                {"type": "eventGrid", "direction": "out", "name": "outEvents", "connection": "EventGridConnection"},
                {"type": "eventHub", "direction": "out", "name": "stream", "eventHubName": "cosmospark-events",
                 "connection": "EventHubConnection"}
            ]}),
        ),
        (
            "UpdateProcessor".to_string(),
            serde_json::json!({"bindings": [
                {"type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "cosmospark-events",
                 "consumerGroup": "update-processor", "connection": "EventHubConnection", "cardinality": "many"}
            ]}),
        ),
        (
            "MessageSentPush".to_string(),
            serde_json::json!({"bindings": [
                {"type": "eventGridTrigger", "direction": "in", "name": "event"},
                {"type": "webPubSub", "direction": "out", "name": "actions", "hub": "CosmosPark", "connection": "WebPubSubConnection"}
            ]}),
        ),
    ];
    let problems = binding_problems(&good, &settings, &containers);
    assert!(problems.is_empty(), "{problems:?}");

    let bad = vec![(
        "Broken".to_string(),
        serde_json::json!({"bindings": [
            {"type": "cosmosDBTrigger", "direction": "in", "name": "documents", "connection": "CosmicDBIdentity",
             "databaseName": "CosmicDB", "containerName": "CosmicChat", "leaseContainerName": "leasesCosmicChats",
             "createLeaseContainerIfNotExists": true},
            {"type": "eventGrid", "direction": "out", "name": "o", "topicEndpointUri": "EventGridEndpoint", "topicKeySetting": "EventGridKey"},
            {"type": "eventHubTrigger", "direction": "in", "name": "e", "eventHubName": "orders", "connection": "EventHubConnection"},
            {"type": "webPubSub", "direction": "out", "name": "a", "hub": "game"},
            {"type": "timerTrigger", "direction": "in", "name": "t", "schedule": "%TimerSchedule%"}
        ]}),
    )];
    let problems = binding_problems(&bad, &settings, &containers).join("\n");
    for expected in [
        "`CosmicDBIdentity__accountEndpoint`",
        "containerName `CosmicChat`",
        "leaseContainerName `leasesCosmicChats`",
        "createLeaseContainerIfNotExists",
        "app setting `EventGridEndpoint`",
        "topicKeySetting",
        "eventHubName `orders`",
        "`WebPubSubConnectionString__serviceUri`",
        "hub `game`",
        "app setting `TimerSchedule`",
    ] {
        assert!(
            problems.contains(expected),
            "expected {expected} in:\n{problems}"
        );
    }
}

#[test]
fn app_settings_carry_no_secrets() {
    let settings = bicep_settings();
    for name in &settings.names {
        let lower = name.to_ascii_lowercase();
        assert!(
            !(lower.contains("key")
                || lower.contains("secret")
                || lower.contains("password")
                || lower.ends_with("connectionstring")
                    && !lower.starts_with("applicationinsights")),
            "app setting `{name}` looks like a secret; use identity-based settings"
        );
    }
    for path in support::infra::bicep_files() {
        let text = std::fs::read_to_string(&path).expect("Bicep files are readable");
        for forbidden in [
            "listKeys(",
            "listConnectionStrings(",
            "primaryKey",
            "primaryMasterKey",
            "@secure()",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} must not use `{forbidden}`",
                shown(&path)
            );
        }
        for service_with_keys in ["disableLocalAuth: false", "allowSharedKeyAccess: true"] {
            assert!(
                !text.contains(service_with_keys),
                "{} enables key access: `{service_with_keys}`",
                shown(&path)
            );
        }
    }
}

// ---------- the health check ----------

/// The Bicep checks `GET /api/health` through the Static Web App with an availability test
/// (the platform health check is not offered on Flex Consumption, so `healthCheckPath` is
/// absent), the route is anonymous in the SWA config, and the `Health` function serves it.
#[test]
fn the_health_endpoint_is_what_the_availability_test_calls() {
    let module = BicepFile::load_relative("infra/modules/healthcheck.bicep");
    let tests: Vec<_> = module
        .declarations("resource_declaration")
        .into_iter()
        .filter(|d| {
            module
                .resource_type(*d)
                .is_some_and(|t| t.starts_with("Microsoft.Insights/webtests@"))
        })
        .collect();
    assert_eq!(tests.len(), 1, "one availability test");
    let body = module.body(tests[0]).expect("a body");
    assert_eq!(
        module
            .property(body, "kind")
            .and_then(|k| module.string_value(k)),
        Some("standard".to_owned())
    );
    let properties = module.property(body, "properties").expect("properties");
    let request = module.property(properties, "Request").expect("Request");
    let url = module.property(request, "RequestUrl").expect("RequestUrl");
    assert_eq!(
        module.text(url),
        "'https://${siteHostName}${healthPath}'",
        "the test calls the site's health path"
    );
    let rules = module
        .property(properties, "ValidationRules")
        .expect("ValidationRules");
    assert_eq!(
        module
            .property(rules, "ExpectedHttpStatusCode")
            .map(|n| module.text(n).to_owned()),
        Some("200".to_owned())
    );
    let path = module
        .declarations("parameter_declaration")
        .into_iter()
        .find(|p| module.declared_name(*p).as_deref() == Some("healthPath"))
        .expect("param healthPath");
    assert!(
        module.text(path).ends_with("= '/api/health'"),
        "{}",
        module.text(path)
    );

    let main = read("infra/main.bicep");
    assert!(
        main.contains("module healthCheck 'modules/healthcheck.bicep'")
            && main.contains("siteHostName: staticWebApp.outputs.defaultHostname"),
        "infra/main.bicep deploys the availability test against the Static Web App"
    );
    assert!(
        !read("infra/modules/functionapp.bicep").contains("healthCheckPath"),
        "Flex Consumption has no platform health check"
    );

    let swa: Value = serde_json::from_str(&read("web/staticwebapp.config.json")).expect("JSON");
    let route = swa["routes"]
        .as_array()
        .and_then(|routes| routes.iter().find(|r| r["route"] == "/api/health"))
        .expect("a /api/health route before /api/*");
    assert_eq!(route["allowedRoles"], serde_json::json!(["anonymous"]));

    let (_, health) = function_manifests()
        .into_iter()
        .find(|(name, _)| name == "Health")
        .expect("functions/Health");
    let trigger = &health["bindings"][0];
    assert_eq!(
        (&trigger["route"], &trigger["authLevel"]),
        (&Value::from("health"), &Value::from("anonymous"))
    );
}
