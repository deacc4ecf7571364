//! Replaying a dead letter: Event Grid events are re-enqueued for their subscription, Event
//! Hubs events are appended to their hub again, and a change-feed batch is handed to its
//! function again (re-writing old document versions could overwrite newer data). The dead
//! letter is removed only when the replay succeeded.

use serde_json::Value;

use super::dead_letter::{DeadLetter, DeadLetterError, DeadLetterKind, DeadLetters};
use super::envelope::{self, Envelope};
use super::event_grid::TopicError;
use super::event_hubs::{HubError, OutgoingEvent};
use super::invoke::{InvokeError, Invoker};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    #[error("replay to Event Grid failed: {0}")]
    Topic(#[from] TopicError),
    #[error("replay to Event Hubs failed: {0}")]
    Hub(#[from] HubError),
    #[error("replay to `{function}` failed: {source}")]
    Invoke {
        function: String,
        source: InvokeError,
    },
    #[error("dead letter `{0}` has a malformed payload")]
    Payload(String),
}

/// Replays one dead letter and removes it on success.
pub async fn replay(
    letter: &DeadLetter,
    invoker: &Invoker,
    dead_letters: &DeadLetters,
) -> Result<(), ReplayError> {
    let sinks = invoker.sinks();
    match letter.kind {
        DeadLetterKind::EventGrid => {
            sinks
                .topic
                .redeliver(&letter.source, letter.payload.clone())
                .await?;
        }
        DeadLetterKind::EventHubs => {
            let Value::Array(items) = &letter.payload else {
                return Err(ReplayError::Payload(letter.id.clone()));
            };
            let events = items
                .iter()
                .map(|item| OutgoingEvent {
                    body: item["body"].as_str().unwrap_or_default().to_owned(),
                    partition_key: item["partitionKey"].as_str().map(str::to_owned),
                    properties: item["properties"].as_object().cloned().unwrap_or_default(),
                })
                .collect();
            sinks.hubs.send(&letter.source, events).await?;
        }
        DeadLetterKind::CosmosDb => {
            let Value::Array(documents) = &letter.payload else {
                return Err(ReplayError::Payload(letter.id.clone()));
            };
            let binding = invoker
                .manifest()
                .function(&letter.function)
                .and_then(|f| f.trigger())
                .map_or_else(|| "documents".to_owned(), |t| t.name.clone());
            let envelope = Envelope::new(&letter.function)
                .with_data(&binding, envelope::cosmos_documents(documents));
            invoker
                .invoke(&letter.function, envelope, None)
                .await
                .map_err(|source| ReplayError::Invoke {
                    function: letter.function.clone(),
                    source,
                })?;
        }
    }
    dead_letters.remove(&letter.id)?;
    tracing::info!(id = %letter.id, "dead letter replayed");
    Ok(())
}
