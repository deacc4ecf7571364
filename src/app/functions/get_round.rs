//! `GetRound` — `GET /api/round`: the current round and the next, in unix seconds (public).

use axum::Json;

use crate::app::domain::round::RoundInfo;
use crate::app::services::AppServices;
use crate::runtime::Function;

pub fn function(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http("GetRound", &["GET", "HEAD"], "round", move || {
        let now = services.now();
        async move { Json(RoundInfo::at(now)) }
    })
}
