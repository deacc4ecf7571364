//! The Event Hubs relays: one `cosmosDBTrigger` per write container the read models need,
//! publishing each change as a [`DomainEvent`](crate::app::cqrs::event::DomainEvent) on the
//! `eventHub` output `events` (hub `cosmospark-events`). They use their own lease prefixes, so
//! they read the change feed independently of the Event Grid relays.

use serde_json::{Map, Value};

use crate::app::cqrs::event::{COMMANDS, relay_event};
use crate::app::domain::documents::containers;
use crate::runtime::outputs::{EventHubEvents, Outputs};
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

pub fn function(name: &'static str, container: &'static str) -> Function {
    Function::trigger(
        name,
        "documents",
        move |batch: CosmosDocuments<Map<String, Value>>, context: Context| async move {
            relay(container, batch, context)
        },
    )
    .output::<EventHubEvents>("events")
}

fn relay(
    container: &str,
    batch: CosmosDocuments<Map<String, Value>>,
    context: Context,
) -> Result<Outputs, FunctionError> {
    // The relay's own context (the next hop's parent), else the host's.
    let traceparent = telemetry::current_traceparent().or(context.traceparent);
    let mut events = Vec::with_capacity(batch.documents.len());
    for document in batch.documents {
        match relay_event(container, document, traceparent.as_deref()) {
            Ok(Some(event)) => events.push(serde_json::to_value(event)?),
            Ok(None) => {}
            Err(error) => tracing::warn!(container, %error, "skipped a change"),
        }
    }
    tracing::info!(
        container,
        count = events.len(),
        "relayed changes to the read side"
    );
    Ok(Outputs::new().set("events", EventHubEvents(events)))
}
