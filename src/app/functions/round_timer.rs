//! `RoundTimer` — at the top of every UTC hour, tells every client a new round started.

use chrono::Utc;
use serde::Serialize;

use super::HUB;
use super::round::Round;
use crate::runtime::outputs::{Outputs, WebPubSubAction, WebPubSubActions};
use crate::runtime::protocol::decode::parse_timestamp;
use crate::runtime::triggers::TimerInfo;
use crate::runtime::{Context, Function, FunctionError};

#[derive(Serialize)]
struct RoundStartedEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    round: &'a Round,
}

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
    let round = Round::containing(now);
    tracing::info!(round = %round.round_id, past_due = timer.is_past_due, hub = HUB, "round started");
    let event = RoundStartedEvent {
        kind: "RoundStartedEvent",
        round: &round,
    };
    let action = WebPubSubAction::send_to_all_json(&event)?;
    Ok(Outputs::new().set("actions", WebPubSubActions(vec![action])))
}
