//! The app's OpenTelemetry instruments, recorded only while a meter provider exports (see
//! [`super::init`]); otherwise every call returns at once.
//!
//! - `faas.invocations` / `faas.errors` (counters) and `faas.invoke_duration` (histogram, s)
//!   per `faas.name`, `faas.trigger` (the binding type) and `cosmospark.outcome`. The counters
//!   are observed at each collection from per-function atomics, so an invocation pays one
//!   SDK measurement (the histogram's attribute-set lookup) rather than two;
//! - `cosmospark.trigger.lag` (histogram, s): how old the oldest item of a triggered batch was
//!   when its invocation started (change-feed document `_ts`, Event Hubs enqueued time, Event
//!   Grid event time) — what the handler can see in Azure as well as locally;
//! - `cosmospark.webpubsub.connections` (up-down counter) and
//!   `cosmospark.webpubsub.messages` (counter) per hub.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, ObservableCounter, UpDownCounter};

use super::SCOPE;
use super::invocation::each_function;

static ENABLED: AtomicBool = AtomicBool::new(false);

struct Instruments {
    _invocations: ObservableCounter<u64>,
    _errors: ObservableCounter<u64>,
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
            _invocations: meter
                .u64_observable_counter("faas.invocations")
                .with_description("Invocations per function")
                .with_callback(|observer| {
                    each_function(|function| {
                        for (count, attributes) in function.counts() {
                            observer.observe(count, attributes);
                        }
                    });
                })
                .build(),
            _errors: meter
                .u64_observable_counter("faas.errors")
                .with_description("Failed invocations per function")
                .with_callback(|observer| {
                    each_function(|function| {
                        let failed = function.failed_count.load(Ordering::Relaxed);
                        if failed > 0 {
                            observer.observe(failed, &function.failed);
                        }
                    });
                })
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

/// The attribute sets and invocation counts of one function (see
/// [`super::invocation::labels`], which builds them once per function; the counters read
/// them all through [`each_function`]): recording then allocates nothing.
#[derive(Debug)]
pub struct FunctionAttributes {
    succeeded: [KeyValue; 3],
    failed: [KeyValue; 3],
    lag: [KeyValue; 2],
    succeeded_count: AtomicU64,
    failed_count: AtomicU64,
}

impl FunctionAttributes {
    /// Each outcome's invocation count with its attributes (outcomes not seen yet left out).
    fn counts(&self) -> impl Iterator<Item = (u64, &[KeyValue])> {
        [
            (&self.succeeded_count, &self.succeeded),
            (&self.failed_count, &self.failed),
        ]
        .into_iter()
        .map(|(count, attributes)| (count.load(Ordering::Relaxed), attributes.as_slice()))
        .filter(|(count, _)| *count > 0)
    }

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
            succeeded_count: AtomicU64::new(0),
            failed_count: AtomicU64::new(0),
        }
    }
}

/// One finished invocation of the function `attributes` describe.
pub fn invocation(attributes: &FunctionAttributes, succeeded: bool, duration: Duration) {
    if !enabled() {
        return;
    }
    let (count, attributes) = if succeeded {
        (&attributes.succeeded_count, &attributes.succeeded)
    } else {
        (&attributes.failed_count, &attributes.failed)
    };
    count.fetch_add(1, Ordering::Relaxed);
    instruments()
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
