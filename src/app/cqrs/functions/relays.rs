//! The Event Hubs relays: one `cosmosDBTrigger` per write container the read models need,
//! publishing each change as a [`DomainEvent`](crate::app::cqrs::event::DomainEvent) on the
//! `eventHub` output `events` (hub `cosmospark-events`). They use their own lease prefixes, so
//! they read the change feed independently of the Event Grid relays.
//!
//! A relay never fails its batch for a document it can never publish: one that cannot become
//! an event (no string `id`, no version), or whose event is over Event Hubs' size limit, is set
//! aside alone in the relays' dead letters ([`crate::app::relay_dead_letters`]) and the rest is
//! relayed. Failures a retry can fix (the store) still fail the invocation.

use serde_json::{Map, Value};

use crate::app::cqrs::event::{COMMANDS, relay_event};
use crate::app::domain::documents::containers;
use crate::app::relay_dead_letters::{self, SetAside};
use crate::app::services::AppServices;
use crate::runtime::outputs::{EVENT_HUBS_MAX_EVENT_BYTES, EventHubEvents, Outputs};
use crate::runtime::telemetry;
use crate::runtime::triggers::CosmosDocuments;
use crate::runtime::{Context, Function, FunctionError};

/// Function name → relayed container.
pub const RELAYS: [(&str, &str); 5] = [
    ("UsersToEventHub", containers::USERS),
    ("ChatsToEventHub", containers::CHATS),
    ("TasksToEventHub", containers::USER_TASKS),
    ("LeaderboardToEventHub", containers::LEADERBOARDS),
    ("CommandsToEventHub", COMMANDS),
];

/// What the AMQP message around an event body may add (headers, annotations, the trace
/// properties, the batch envelope): a body must leave this much of [`EVENT_HUBS_MAX_EVENT_BYTES`] free.
pub const ENVELOPE_ALLOWANCE: usize = 1024;

pub fn function(services: &AppServices, name: &'static str, container: &'static str) -> Function {
    let services = services.clone();
    Function::trigger(
        name,
        "documents",
        move |batch: CosmosDocuments<Map<String, Value>>, context: Context| {
            let services = services.clone();
            async move {
                // The relay's own context (the next hop's parent), else the host's.
                let traceparent = telemetry::current_traceparent().or(context.traceparent);
                let plan = plan(container, batch.documents, traceparent.as_deref())?;
                if !plan.set_aside.is_empty() {
                    let store = services.store().await?;
                    for entry in &plan.set_aside {
                        relay_dead_letters::set_aside(store, name, container, entry).await?;
                    }
                }
                tracing::info!(
                    container,
                    count = plan.events.len(),
                    set_aside = plan.set_aside.len(),
                    "relayed changes to the read side"
                );
                Ok::<_, FunctionError>(Outputs::new().set("events", EventHubEvents(plan.events)))
            }
        },
    )
    .output::<EventHubEvents>("events")
}

/// What one batch becomes: the event bodies to publish, and the documents set aside.
#[derive(Debug, Default)]
pub struct Plan {
    pub events: Vec<Value>,
    pub set_aside: Vec<SetAside>,
}

/// Each relayable document's event, each document that can never be published set aside with
/// its reason. Events are sent in as many batches as they need, so only a single event over
/// the limit is set aside.
pub fn plan(
    container: &str,
    documents: Vec<Map<String, Value>>,
    traceparent: Option<&str>,
) -> Result<Plan, serde_json::Error> {
    let mut plan = Plan::default();
    let limit = EVENT_HUBS_MAX_EVENT_BYTES - ENVELOPE_ALLOWANCE;
    for document in documents {
        let original = Value::Object(document.clone());
        match relay_event(container, document, traceparent) {
            Ok(Some(event)) => {
                let event = serde_json::to_value(event)?;
                let bytes = serde_json::to_vec(&event)?.len();
                if bytes > limit {
                    plan.set_aside.push(SetAside::of(
                        container,
                        &original,
                        format!(
                            "its event is {bytes} bytes; Event Hubs accepts at most {EVENT_HUBS_MAX_EVENT_BYTES} per event, {ENVELOPE_ALLOWANCE} of them for the message around the body"
                        ),
                    ));
                    continue;
                }
                plan.events.push(event);
            }
            Ok(None) => {}
            Err(error) => {
                plan.set_aside
                    .push(SetAside::of(container, &original, error.to_string()))
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::app::object as map;

    #[test]
    fn an_event_too_large_for_event_hubs_is_set_aside_alone() {
        let big = "x".repeat(EVENT_HUBS_MAX_EVENT_BYTES - ENVELOPE_ALLOWANCE);
        let docs = vec![
            map(json!({"id": "u1", "name": "a", "_lsn": 1, "_etag": "e1"})),
            map(json!({"id": "u2", "name": big, "_lsn": 2, "_etag": "e2"})),
            map(json!({"name": "no id", "_lsn": 3, "_etag": "e3"})),
            map(json!({"id": "u4", "name": "b", "_lsn": 4, "_etag": "e4"})),
        ];
        let plan = plan(containers::USERS, docs, None).unwrap();
        let ids: Vec<&str> = plan
            .events
            .iter()
            .map(|e| e["data"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["u1", "u4"]);
        assert_eq!(plan.set_aside.len(), 2, "{:?}", plan.set_aside);
        let large = &plan.set_aside[0];
        assert_eq!(large.id.as_deref(), Some("u2"));
        assert_eq!(large.partition_key, Some(json!("u2")));
        assert_eq!(large.version.as_deref(), Some("e2"));
        assert!(
            large.reason.contains("Event Hubs accepts at most"),
            "{large:?}"
        );
        assert_eq!(plan.set_aside[1].id, None);
        assert!(
            plan.set_aside[1].reason.contains("id"),
            "{:?}",
            plan.set_aside
        );
    }

    #[test]
    fn events_together_over_the_limit_are_all_relayed() {
        let half = "x".repeat(EVENT_HUBS_MAX_EVENT_BYTES / 2);
        let docs = (0..3)
            .map(|i| map(json!({"id": format!("u{i}"), "name": half.clone(), "_lsn": i + 1})))
            .collect();
        let plan = plan(containers::USERS, docs, None).unwrap();
        assert_eq!(plan.events.len(), 3);
        assert!(plan.set_aside.is_empty());
    }
}
