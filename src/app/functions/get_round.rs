//! `GetRound` — `GET /api/round`: the current round.

use axum::Json;
use chrono::Utc;

use super::round::Round;
use crate::runtime::Function;

pub fn function() -> Function {
    Function::http("GetRound", &["GET"], "round", get_round)
}

async fn get_round() -> Json<Round> {
    Json(Round::containing(Utc::now()))
}
