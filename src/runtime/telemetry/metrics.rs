//! The app's OpenTelemetry instruments, recorded only while a meter provider exports (see
//! [`super::init`]); otherwise every call returns at once.
//!
//! - `faas.invocations` / `faas.errors` (counters) and `faas.invoke_duration` (histogram, s)
//!   per `faas.name`, `faas.trigger` (the binding type) and `cosmospark.outcome`;
//! - `cosmospark.trigger.lag` (histogram, s): how old the oldest item of a triggered batch was
//!   when its invocation started (change-feed document `_ts`, Event Hubs enqueued time, Event
//!   Grid event time) — what the handler can see in Azure as well as locally;
//! - `cosmospark.webpubsub.connections` (up-down counter) and
//!   `cosmospark.webpubsub.messages` (counter) per hub.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};

use super::SCOPE;

static ENABLED: AtomicBool = AtomicBool::new(false);

struct Instruments {
    invocations: Counter<u64>,
    errors: Counter<u64>,
    duration: Histogram<f64>,
    lag: Histogram<f64>,
    connections: UpDownCounter<i64>,
    messages: Counter<u64>,
}

fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = opentelemetry::global::meter(SCOPE);
        Instruments {
            invocations: meter
                .u64_counter("faas.invocations")
                .with_description("Invocations per function")
                .build(),
            errors: meter
                .u64_counter("faas.errors")
                .with_description("Failed invocations per function")
                .build(),
            duration: meter
                .f64_histogram("faas.invoke_duration")
                .with_unit("s")
                .with_description("Invocation duration")
                .build(),
            lag: meter
                .f64_histogram("cosmospark.trigger.lag")
                .with_unit("s")
                .with_description(
                    "Age of the oldest item of a triggered batch when its invocation started",
                )
                .build(),
            connections: meter
                .i64_up_down_counter("cosmospark.webpubsub.connections")
                .with_description("Connected Web PubSub clients")
                .build(),
            messages: meter
                .u64_counter("cosmospark.webpubsub.messages")
                .with_description("Web PubSub messages sent to clients")
                .build(),
        }
    })
}

/// Called once a meter provider is installed.
pub(super) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether metrics are recorded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The attribute sets of one function (see [`super::invocation::labels`], which builds them
/// once per function): recording then allocates nothing.
#[derive(Debug)]
pub struct FunctionAttributes {
    succeeded: [KeyValue; 3],
    failed: [KeyValue; 3],
    lag: [KeyValue; 2],
}

impl FunctionAttributes {
    pub(super) fn new(function: &'static str, trigger: &'static str) -> Self {
        let name = KeyValue::new("faas.name", function);
        let trigger = KeyValue::new("faas.trigger", trigger);
        Self {
            succeeded: [
                name.clone(),
                trigger.clone(),
                KeyValue::new("cosmospark.outcome", "Succeeded"),
            ],
            failed: [
                name.clone(),
                trigger.clone(),
                KeyValue::new("cosmospark.outcome", "Failed"),
            ],
            lag: [name, trigger],
        }
    }
}

/// One finished invocation of the function `attributes` describe.
pub fn invocation(attributes: &FunctionAttributes, succeeded: bool, duration: Duration) {
    if !enabled() {
        return;
    }
    let attributes = if succeeded {
        &attributes.succeeded
    } else {
        &attributes.failed
    };
    let instruments = instruments();
    instruments.invocations.add(1, attributes);
    if !succeeded {
        instruments.errors.add(1, attributes);
    }
    instruments
        .duration
        .record(duration.as_secs_f64(), attributes);
}

/// The age of the oldest item of a batch the function `attributes` describe was triggered with.
pub fn trigger_lag(attributes: &FunctionAttributes, lag: Duration) {
    if !enabled() {
        return;
    }
    instruments().lag.record(lag.as_secs_f64(), &attributes.lag);
}

/// A Web PubSub client connected (`+1`) or left (`-1`) hub `hub`.
pub fn hub_connections(hub: &str, delta: i64) {
    if !enabled() {
        return;
    }
    instruments()
        .connections
        .add(delta, &[KeyValue::new("cosmospark.hub", hub.to_owned())]);
}

/// `count` messages sent to clients of hub `hub`.
pub fn hub_messages(hub: &str, count: u64) {
    if !enabled() || count == 0 {
        return;
    }
    instruments()
        .messages
        .add(count, &[KeyValue::new("cosmospark.hub", hub.to_owned())]);
}
