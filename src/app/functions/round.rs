//! Rounds: each UTC hour is one round.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;

/// One round: `[start, end)` on whole UTC hours. `roundId` is `YYYYMMDDHH` (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Round {
    pub round_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub start_unix: i64,
    pub end_unix: i64,
}

impl Round {
    /// The round that contains `at`.
    pub fn containing(at: DateTime<Utc>) -> Self {
        let start = at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at);
        let end = start + TimeDelta::hours(1);
        Self {
            round_id: start.format("%Y%m%d%H").to_string(),
            start,
            end,
            start_unix: start.timestamp(),
            end_unix: end.timestamp(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_utc_hours() {
        let at = DateTime::parse_from_rfc3339("2024-05-14T15:59:59.999+05:30")
            .unwrap()
            .with_timezone(&Utc);
        let round = Round::containing(at);
        assert_eq!(round.round_id, "2024051410");
        assert_eq!(round.start.to_rfc3339(), "2024-05-14T10:00:00+00:00");
        assert_eq!(round.end_unix - round.start_unix, 3600);
    }
}
