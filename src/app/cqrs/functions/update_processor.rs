//! `UpdateProcessor` — the `eventHubTrigger` (cardinality many, consumer group
//! `update-processor`) that projects each batch into the read models, then pushes a
//! `ScoreUpdatedEvent` (all-time total and rank) for every user whose ledger changed.
//!
//! A store failure fails the invocation, so the function's retry policy re-delivers the batch
//! before the checkpoint moves. A poison event never fails the batch: the projector sets it
//! aside alone in `ReadModelDeadLetters` (listed and replayed with the platform's dead letters)
//! and projects the rest.

use crate::app::cqrs::ReadSide;
use crate::app::cqrs::projector::{Incoming, PROCESSOR, project};
use crate::app::domain::leaderboard::Window;
use crate::app::domain::realtime::{RealtimeMessage, ScoreUpdatedEvent};
use crate::app::domain::values::{DisplayName, UserId};
use crate::runtime::outputs::{Outputs, WebPubSubAction, WebPubSubActions};
use crate::runtime::triggers::EventHubBatch;
use crate::runtime::{Context, Function, FunctionError};

pub fn function(read_side: ReadSide) -> Function {
    Function::trigger(PROCESSOR, "events", move |batch, context| {
        let read_side = read_side.clone();
        async move { process(read_side, batch, context).await }
    })
    .output::<WebPubSubActions>("pubsub")
}

async fn process(
    read_side: ReadSide,
    batch: EventHubBatch,
    _context: Context,
) -> Result<Outputs, FunctionError> {
    let store = read_side.store().await?;
    let incoming: Vec<Incoming> = batch
        .events
        .iter()
        .map(|event| Incoming {
            body: event
                .text()
                .map_or_else(|| event.body.to_string(), str::to_owned),
            partition_id: event.partition_id.clone(),
            sequence_number: event.sequence_number,
            enqueued_time: event.enqueued_time,
        })
        .collect();
    let outcome = project(store, &incoming).await?;
    let mut actions = Vec::new();
    let now = read_side.now();
    for user in &outcome.awarded {
        let Some(row) = read_side
            .standings()
            .standing(store, user, Window::All, now)
            .await?
        else {
            continue;
        };
        let (Ok(user_id), Ok(user_name)) = (
            UserId::parse(&row.user_id),
            DisplayName::parse(&row.user_name),
        ) else {
            tracing::warn!(user = %row.user_id, "no score push: stored id or name is not valid");
            continue;
        };
        let message = RealtimeMessage::ScoreUpdatedEvent(ScoreUpdatedEvent {
            user_id,
            user_name,
            score: row.score,
            rank: row.rank,
        });
        actions.push(WebPubSubAction::send_to_all_json(&message)?);
    }
    tracing::info!(
        events = outcome.events,
        dead_lettered = outcome.dead_lettered,
        written = outcome.written,
        pushes = actions.len(),
        "projected a batch"
    );
    Ok(Outputs::new().set("pubsub", WebPubSubActions(actions)))
}
