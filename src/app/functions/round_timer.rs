//! `RoundTimer` — at the top of every UTC hour, tells every client a new round started
//! (`RoundStartedEvent` via `sendToAll`).

use chrono::Utc;

use crate::app::domain::realtime::{RealtimeMessage, RoundStartedEvent};
use crate::app::domain::round::Round;
use crate::runtime::outputs::{Outputs, WebPubSubAction, WebPubSubActions};
use crate::runtime::protocol::decode::parse_timestamp;
use crate::runtime::triggers::TimerInfo;
use crate::runtime::{Context, Function, FunctionError};

pub fn function() -> Function {
    Function::trigger("RoundTimer", "timer", round_started).output::<WebPubSubActions>("actions")
}

async fn round_started(timer: TimerInfo, context: Context) -> Result<Outputs, FunctionError> {
    let now = context
        .sys()
        .utc_now
        .as_deref()
        .and_then(parse_timestamp)
        .unwrap_or_else(Utc::now);
    // A timer fired a little early still announces the round it is about to start.
    let round = Round::containing(now + chrono::TimeDelta::seconds(5));
    tracing::info!(round = %round.id(), past_due = timer.is_past_due, "round started");
    let message = RealtimeMessage::RoundStartedEvent(RoundStartedEvent::from_round(round));
    let action = WebPubSubAction::send_to_all_json(&message)?;
    Ok(Outputs::new().set("actions", WebPubSubActions(vec![action])))
}
