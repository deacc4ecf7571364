//! The platform's own backlog as OpenTelemetry metrics, when `dev` exports them: observable
//! gauges on the runtime's meter provider, read from the [`TriggerLag`] sampler's latest
//! sample at each collection (never an extra backlog read).
//!
//! - `cosmospark.trigger.backlog` (`{item}`): changes, deliveries or events not yet handled;
//! - `cosmospark.trigger.backlog.age` (s): how long the oldest of them has waited (0 when none);
//!
//! both per `faas.name` (the triggered function), `faas.trigger` (its binding type) and
//! `cosmospark.source` (the container, event hub or Event Grid subscription). The handler's
//! own `cosmospark.trigger.lag` is what an invocation saw; these are what is still waiting.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, ObservableGauge};

use super::TriggerLag;
use crate::devhost::backlog::{TriggerBacklog, TriggerKind};
use crate::runtime::telemetry::{SCOPE, metrics};

/// The registered gauges; they report for as long as the meter provider runs.
pub struct BacklogGauges {
    _pending: ObservableGauge<u64>,
    _age: ObservableGauge<f64>,
}

/// Registers the gauges over `lag` when metrics are exported (None otherwise).
pub fn register(lag: &TriggerLag) -> Option<BacklogGauges> {
    if !metrics::enabled() {
        return None;
    }
    let meter = opentelemetry::global::meter(SCOPE);
    let pending_lag = lag.clone();
    let pending = meter
        .u64_observable_gauge("cosmospark.trigger.backlog")
        .with_unit("{item}")
        .with_description(
            "Items each trigger has not handled yet, as dev's backlog sampler read them",
        )
        .with_callback(move |observer| {
            observe(&pending_lag, observer, |trigger| trigger.pending);
        })
        .build();
    let age_lag = lag.clone();
    let age = meter
        .f64_observable_gauge("cosmospark.trigger.backlog.age")
        .with_unit("s")
        .with_description("How long each trigger's oldest unhandled item has waited")
        .with_callback(move |observer| {
            observe(&age_lag, observer, |trigger| {
                trigger
                    .oldest_pending_age
                    .map_or(0.0, |age| age.as_secs_f64())
            });
        })
        .build();
    Some(BacklogGauges {
        _pending: pending,
        _age: age,
    })
}

fn observe<T>(
    lag: &TriggerLag,
    observer: &dyn AsyncInstrument<T>,
    value: impl Fn(&TriggerBacklog) -> T,
) {
    let Some(snapshot) = lag.latest() else {
        return;
    };
    for trigger in &snapshot.triggers {
        observer.observe(value(trigger), &attributes(trigger));
    }
}

fn attributes(trigger: &TriggerBacklog) -> [KeyValue; 3] {
    [
        KeyValue::new("faas.name", trigger.trigger.clone()),
        KeyValue::new("faas.trigger", binding_type(trigger.kind)),
        KeyValue::new("cosmospark.source", trigger.source.clone()),
    ]
}

/// The function.json type of a trigger kind (the same value the handler's metrics carry).
fn binding_type(kind: TriggerKind) -> &'static str {
    match kind {
        TriggerKind::CosmosDb => "cosmosDBTrigger",
        TriggerKind::EventGrid => "eventGridTrigger",
        TriggerKind::EventHubs => "eventHubTrigger",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_registered_without_metric_export() {
        // No meter provider is installed in unit tests.
        assert!(register(&TriggerLag::default()).is_none());
    }

    #[test]
    fn attributes_name_the_function_its_binding_and_its_source() {
        let trigger = TriggerBacklog {
            trigger: "CommandsToEventHub".into(),
            kind: TriggerKind::CosmosDb,
            source: "Commands".into(),
            pending: 3,
            oldest_pending_age: None,
        };
        let [name, kind, source] = attributes(&trigger);
        assert_eq!(name.value.as_str(), "CommandsToEventHub");
        assert_eq!(kind.value.as_str(), "cosmosDBTrigger");
        assert_eq!(source.value.as_str(), "Commands");
    }
}
