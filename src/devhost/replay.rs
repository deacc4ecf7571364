//! Replaying a dead letter: Event Grid events are re-enqueued for their subscription (under a
//! delivery id derived from the dead letter, so a repeated replay cannot enqueue it twice),
//! Event Hubs events and the app's own dead letters are appended to their hub again, and a
//! change-feed document or a timer run is handed to its function again (re-writing old
//! document versions could overwrite newer data); a document an app function set aside is
//! read again and its current version handed to that function. The replay first claims the dead letter, so
//! two concurrent replays send it once; it is removed only when the replay succeeded and put
//! back when it failed.

use serde_json::{Map, Value};

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
    #[error(
        "dead letter `{id}`: document `{document}` no longer exists in `{container}`; discard the dead letter"
    )]
    Gone {
        id: String,
        container: String,
        document: String,
    },
    #[error("dead letter `{id}`: cannot read its document again: {source}")]
    Store {
        id: String,
        source: crate::store::StoreError,
    },
}

/// What a successful replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replayed {
    /// Sent again and removed from the dead letters.
    Sent,
    /// Sent again, but the app set the event aside again meanwhile: it is listed anew.
    SentAndFailedAgain,
}

/// Replays dead letter `id` once: claims it, sends it, removes it on success, puts it back
/// on failure.
pub async fn replay(
    id: &str,
    invoker: &Invoker,
    dead_letters: &DeadLetters,
) -> Result<Replayed, ReplayError> {
    let claim = dead_letters.claim(id).await?;
    match send(&claim.letter, invoker).await {
        Ok(()) => {
            let removed = claim.done().await?;
            tracing::info!(id, "dead letter replayed");
            Ok(if removed {
                Replayed::Sent
            } else {
                Replayed::SentAndFailedAgain
            })
        }
        Err(error) => {
            if let Err(release) = claim.release().await {
                tracing::error!(id, error = %release, "cannot put the dead letter back");
            }
            Err(error)
        }
    }
}

async fn send(letter: &DeadLetter, invoker: &Invoker) -> Result<(), ReplayError> {
    let sinks = invoker.sinks();
    let malformed = || ReplayError::Payload(letter.id.clone());
    match letter.kind {
        DeadLetterKind::EventGrid => {
            sinks
                .topic
                .redeliver(&letter.source, letter.payload.clone(), &letter.id)
                .await?;
        }
        DeadLetterKind::EventHubs => {
            let Value::Array(items) = &letter.payload else {
                return Err(malformed());
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
        DeadLetterKind::App => {
            let Value::String(body) = &letter.payload else {
                return Err(malformed());
            };
            let event = OutgoingEvent {
                body: body.clone(),
                partition_key: None,
                properties: Map::new(),
            };
            sinks.hubs.send(&letter.source, vec![event]).await?;
        }
        DeadLetterKind::CosmosDb => {
            let Value::Array(documents) = &letter.payload else {
                return Err(malformed());
            };
            let data = envelope::cosmos_documents(documents);
            invoke(letter, invoker, "documents", data).await?;
        }
        DeadLetterKind::Document => {
            let document = current_document(letter, invoker).await?;
            let data = envelope::cosmos_documents(&[document]);
            invoke(letter, invoker, "documents", data).await?;
        }
        DeadLetterKind::Timer => {
            invoke(letter, invoker, "timer", letter.payload.clone()).await?;
        }
    }
    Ok(())
}

/// The current version of the document a [`DeadLetterKind::Document`] letter names.
async fn current_document(letter: &DeadLetter, invoker: &Invoker) -> Result<Value, ReplayError> {
    let malformed = || ReplayError::Payload(letter.id.clone());
    let payload = &letter.payload;
    let container = payload["container"].as_str().ok_or_else(malformed)?;
    let id = payload["id"].as_str().ok_or_else(malformed)?;
    let pk = crate::store::PartitionKey::new(payload["partitionKey"].clone())
        .map_err(|_| malformed())?;
    let read = invoker.sinks().store.read(container, &pk, id).await;
    match read {
        Ok(Some(document)) => Ok(document),
        Ok(None) => Err(ReplayError::Gone {
            id: letter.id.clone(),
            container: container.to_owned(),
            document: id.to_owned(),
        }),
        Err(source) => Err(ReplayError::Store {
            id: letter.id.clone(),
            source,
        }),
    }
}

/// Invokes the dead letter's function with `data` bound to its trigger.
async fn invoke(
    letter: &DeadLetter,
    invoker: &Invoker,
    default_binding: &str,
    data: Value,
) -> Result<(), ReplayError> {
    let binding = invoker
        .manifest()
        .function(&letter.function)
        .and_then(|f| f.trigger())
        .map_or_else(|| default_binding.to_owned(), |t| t.name.clone());
    let envelope = Envelope::new(&letter.function).with_data(&binding, data);
    invoker
        .invoke(&letter.function, envelope, None)
        .await
        .map_err(|source| ReplayError::Invoke {
            function: letter.function.clone(),
            source,
        })?;
    Ok(())
}
