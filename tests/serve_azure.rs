//! `cosmospark serve` under the Azure platform's environment: every required app setting
//! missing or malformed stops start-up with its name and where it comes from, before any port
//! is bound; the embedded store needs an explicit, warned-about opt-in; locally nothing changes.
//!
//! The test holds the port it gives `serve`: a `serve` that got past its checks fails with
//! "cannot bind", one that stopped at them never tried.

use std::net::TcpListener;
use std::process::Command;

const REQUIRED: [(&str, &str); 6] = [
    (
        "CosmosDBConnection__accountEndpoint",
        "https://acct.documents.azure.com:443/",
    ),
    (
        "EventGridConnection__topicEndpointUri",
        "https://topic.westeurope-1.eventgrid.azure.net/api/events",
    ),
    (
        "EventHubConnection__fullyQualifiedNamespace",
        "ns.servicebus.windows.net",
    ),
    (
        "WebPubSubConnection__serviceUri",
        "https://wps.webpubsub.azure.com",
    ),
    (
        "AzureMaps__ClientId",
        "0b5d4d8e-7c8f-4a57-9b1e-3a0f2f6d9c11",
    ),
    ("AZURE_CLIENT_ID", "5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"),
];

const FLEX: (&str, &str) = ("WEBSITE_SKU", "FlexConsumption");

struct Outcome {
    success: bool,
    stderr: String,
}

/// Runs `serve` with only `env` (plus the port of a listener this test holds).
fn serve(env: &[(&str, &str)]) -> Outcome {
    let held = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = held.local_addr().expect("address").port().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_cosmospark"))
        .arg("serve")
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", &port)
        .env("Store__Dir", dir.path().join("store"))
        .envs(env.iter().copied())
        .output()
        .expect("run cosmospark serve");
    drop(held);
    Outcome {
        success: output.status.success(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn assert_stopped_before_binding(outcome: &Outcome) {
    assert!(!outcome.success, "serve must fail:\n{}", outcome.stderr);
    assert!(
        !outcome.stderr.contains("cannot bind"),
        "serve tried to bind before refusing:\n{}",
        outcome.stderr
    );
}

fn assert_got_past_the_checks(outcome: &Outcome) {
    assert!(!outcome.success);
    assert!(
        outcome.stderr.contains("cannot bind 127.0.0.1:"),
        "serve should have reached the bind:\n{}",
        outcome.stderr
    );
}

#[test]
fn each_missing_required_setting_stops_start_up_by_name() {
    for (missing, _) in REQUIRED {
        let mut env: Vec<(&str, &str)> = REQUIRED
            .iter()
            .copied()
            .filter(|(name, _)| *name != missing)
            .collect();
        env.push(FLEX);
        let outcome = serve(&env);
        assert_stopped_before_binding(&outcome);
        assert!(
            outcome.stderr.contains(&format!("`{missing}` is missing")),
            "{missing}:\n{}",
            outcome.stderr
        );
        assert!(
            outcome.stderr.contains("provided by Bicep output"),
            "{}",
            outcome.stderr
        );
        assert!(outcome.stderr.contains("WEBSITE_SKU"), "{}", outcome.stderr);
    }
}

#[test]
fn every_missing_setting_is_named_at_once() {
    let outcome = serve(&[("WEBSITE_INSTANCE_ID", "0123abcd")]);
    assert_stopped_before_binding(&outcome);
    for (name, _) in REQUIRED {
        assert!(outcome.stderr.contains(name), "{name}:\n{}", outcome.stderr);
    }
    assert!(
        outcome.stderr.contains("6 missing or malformed"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn malformed_settings_are_named_with_the_reason() {
    let cases = [
        (
            "EventHubConnection__fullyQualifiedNamespace",
            "sb://ns.servicebus.windows.net/",
            "not a host name",
        ),
        (
            "CosmosDBConnection__accountEndpoint",
            "http://acct.documents.azure.com/",
            "not an https URL",
        ),
        ("AzureMaps__ClientId", "maps-key-123", "not a GUID"),
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=oops",
            "not an Application Insights connection string",
        ),
    ];
    for (name, value, reason) in cases {
        let mut env: Vec<(&str, &str)> = REQUIRED
            .iter()
            .copied()
            .filter(|(n, _)| *n != name)
            .collect();
        env.push((name, value));
        env.push(("WEBSITE_SITE_NAME", "func-cosmospark"));
        let outcome = serve(&env);
        assert_stopped_before_binding(&outcome);
        assert!(
            outcome.stderr.contains(name) && outcome.stderr.contains(reason),
            "{name}:\n{}",
            outcome.stderr
        );
    }
}

#[test]
fn with_every_setting_azure_start_up_proceeds() {
    let mut env = REQUIRED.to_vec();
    env.push(FLEX);
    assert_got_past_the_checks(&serve(&env));
}

#[test]
fn the_embedded_store_needs_an_explicit_opt_in_that_warns_at_start() {
    let mut env: Vec<(&str, &str)> = REQUIRED[1..].to_vec();
    env.push(FLEX);
    let refused = serve(&env);
    assert_stopped_before_binding(&refused);
    assert!(
        refused
            .stderr
            .contains("CosmosDBConnection__accountEndpoint")
    );

    env.push(("Store__AllowEmbeddedInAzure", "true"));
    let allowed = serve(&env);
    assert_got_past_the_checks(&allowed);
    assert!(
        allowed.stderr.contains("WARN") && allowed.stderr.contains("embedded store is in use"),
        "{}",
        allowed.stderr
    );
}

#[test]
fn locally_and_under_core_tools_nothing_is_required() {
    assert_got_past_the_checks(&serve(&[]));
    // Any container runtime may set CONTAINER_NAME; it alone does not mean Azure.
    assert_got_past_the_checks(&serve(&[("CONTAINER_NAME", "devbox")]));
    assert_got_past_the_checks(&serve(&[FLEX, ("FUNCTIONS_CORETOOLS_ENVIRONMENT", "true")]));
}
