//! The SDK's standard sampler variables reach the tracer the runtime installs: with
//! `OTEL_TRACES_SAMPLER=parentbased_traceidratio` and a ratio of 0, an invocation that starts a
//! trace is not sampled, while one continuing a sampled `traceparent` still is (the parent
//! decides). The test runs itself again as a child process with the variables set, because the
//! subscriber and the environment are process-wide.

use std::process::Command;

use cosmospark::runtime::telemetry::invocation::{InvocationSpan, labels};
use cosmospark::runtime::telemetry::{self, Config, LogFormat, traceparent_of};
use cosmospark::runtime::triggers::facts::TriggerFacts;

const CHILD: &str = "COSMOSPARK_SAMPLER_TEST_CHILD";
const TEST: &str = "the_sdk_sampler_variables_decide_which_invocations_are_sampled";
const SAMPLED_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn run_child(sampler: &str, ratio: &str) {
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, sampler)
        .env("OTEL_TRACES_SAMPLER", sampler)
        .env("OTEL_TRACES_SAMPLER_ARG", ratio)
        .env_remove(telemetry::OTLP_ENDPOINT_VAR)
        .env_remove(telemetry::APPINSIGHTS_CONNECTION_VAR)
        .output()
        .expect("child test runs");
    assert!(
        output.status.success(),
        "sampler {sampler} {ratio}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_sdk_sampler_variables_decide_which_invocations_are_sampled() {
    let Some(sampler) = std::env::var_os(CHILD) else {
        run_child("parentbased_traceidratio", "0");
        run_child("always_on", "");
        return;
    };
    // JSON logs give spans ids without exporting anything.
    let config = Config {
        log_format: LogFormat::Json,
        ..Config::default()
    };
    let _telemetry = telemetry::init(&config).expect("telemetry");
    let facts = TriggerFacts::default();

    let root = InvocationSpan::start(labels("GetRound", "httpTrigger"), Some("1"), None, &facts);
    let own = traceparent_of(root.span()).expect("the span has ids");
    let expected = if sampler == "always_on" { "-01" } else { "-00" };
    assert!(own.ends_with(expected), "{own} (sampler {sampler:?})");

    let continued = InvocationSpan::start(
        labels("GetRound", "httpTrigger"),
        Some("2"),
        Some(SAMPLED_PARENT),
        &facts,
    );
    let own = traceparent_of(continued.span()).expect("the span has ids");
    assert!(
        own.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && own.ends_with("-01"),
        "{own}"
    );
}
