//! Rounds: the game runs in UTC hours; each hour is one round with its own tasks.
//!
//! Fixes the original's client-side hour window (local minutes + current seconds, off by 30 min
//! in half-hour time zones): the server owns round boundaries, clients only name them.

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};

/// Why a round id or a client-supplied round window was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoundError {
    #[error("roundId must be a UTC hour written YYYYMMDDHH, e.g. \"2026112416\" (got {0:?})")]
    BadId(String),
    #[error("{field} must be a unix timestamp in seconds or milliseconds (got {value:?})")]
    BadTimestamp { field: &'static str, value: String },
    #[error("starttimestamp and endtimestamp must use the same unit (seconds or milliseconds)")]
    MixedUnits,
    #[error(
        "starttimestamp..endtimestamp ({start}..{end}, seconds) is not a round: send the round's \
         start and end, or a one-hour window around now"
    )]
    NotARound { start: i64, end: i64 },
}

/// The id of a round: its UTC start hour, `YYYYMMDDHH` (sorts in time order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoundId(String);

impl RoundId {
    pub fn parse(raw: &str) -> Result<Self, RoundError> {
        Round::from_id_str(raw).map(|r| r.id())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RoundId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for RoundId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RoundId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// One UTC hour: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Round {
    start: DateTime<Utc>,
}

impl Round {
    pub const SECONDS: i64 = 3600;

    /// The round `instant` falls in.
    pub fn containing(instant: DateTime<Utc>) -> Self {
        let start_secs = instant.timestamp().div_euclid(Self::SECONDS) * Self::SECONDS;
        Self {
            start: Utc.timestamp_opt(start_secs, 0).single().unwrap_or(instant),
        }
    }

    pub fn from_id(id: &RoundId) -> Self {
        // A RoundId only exists after parsing, so this cannot fail; fall back to the epoch hour.
        Self::from_id_str(id.as_str()).unwrap_or(Self {
            start: DateTime::UNIX_EPOCH,
        })
    }

    fn from_id_str(raw: &str) -> Result<Self, RoundError> {
        let bad = || RoundError::BadId(raw.to_owned());
        if raw.len() != 10 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let field = |range: std::ops::Range<usize>| raw[range].parse::<u32>().map_err(|_| bad());
        let year = i32::try_from(field(0..4)?).map_err(|_| bad())?;
        let start = Utc
            .with_ymd_and_hms(year, field(4..6)?, field(6..8)?, field(8..10)?, 0, 0)
            .single()
            .ok_or_else(bad)?;
        Ok(Self { start })
    }

    pub fn id(&self) -> RoundId {
        let s = self.start;
        RoundId(format!(
            "{:04}{:02}{:02}{:02}",
            s.year(),
            s.month(),
            s.day(),
            s.hour()
        ))
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The first instant after the round (exclusive bound).
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::seconds(Self::SECONDS)
    }

    pub fn next(&self) -> Self {
        Self { start: self.end() }
    }

    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start <= instant && instant < self.end()
    }

    /// Resolves the `{starttimestamp}/{endtimestamp}` route values to a round.
    ///
    /// Both values are unix timestamps in the same unit: seconds (what the original UI sends)
    /// or milliseconds (values above 10^11). Accepted windows:
    /// - exactly a round's `start..end` → that round (past rounds included);
    /// - any one-hour window containing `now` → the round containing `now`. This is what the
    ///   original UI sends: its window starts at the top of the *local* hour plus the current
    ///   seconds, so it is misaligned with UTC hours in half-hour time zones.
    ///
    /// Everything else is rejected, so a client cannot stretch a window to claim another round.
    pub fn from_window(start: &str, end: &str, now: DateTime<Utc>) -> Result<Self, RoundError> {
        let (start, start_ms) = timestamp(start, "starttimestamp")?;
        let (end, end_ms) = timestamp(end, "endtimestamp")?;
        if start_ms != end_ms {
            return Err(RoundError::MixedUnits);
        }
        let exact = Self::containing(DateTime::from_timestamp(start, 0).unwrap_or(now));
        if exact.start.timestamp() == start && exact.end().timestamp() == end {
            return Ok(exact);
        }
        let now_secs = now.timestamp();
        if end - start == Self::SECONDS && start <= now_secs && now_secs < end {
            return Ok(Self::containing(now));
        }
        Err(RoundError::NotARound { start, end })
    }
}

/// The body of `GET /api/round`: the current round and the next, in unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundInfo {
    pub round_id: RoundId,
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end (= the next round's start).
    pub end: i64,
    pub next_round_id: RoundId,
    /// Whole seconds until `end`, rounded up (1..=3600).
    pub seconds_remaining: i64,
}

impl RoundInfo {
    pub fn at(now: DateTime<Utc>) -> Self {
        let round = Round::containing(now);
        let remaining_ms = (round.end() - now).num_milliseconds();
        Self {
            round_id: round.id(),
            start: round.start().timestamp(),
            end: round.end().timestamp(),
            next_round_id: round.next().id(),
            seconds_remaining: (remaining_ms + 999) / 1000,
        }
    }
}

/// Parses a route timestamp; returns seconds and whether it was written in milliseconds.
fn timestamp(raw: &str, field: &'static str) -> Result<(i64, bool), RoundError> {
    let bad = || RoundError::BadTimestamp {
        field,
        value: raw.to_owned(),
    };
    let value: i64 = raw.trim().parse().map_err(|_| bad())?;
    // Later than 1970 and before year 9999, in either unit.
    const MAX_SECONDS: i64 = 253_402_300_799;
    const MS_THRESHOLD: i64 = 100_000_000_000;
    match value {
        v if v < 0 => Err(bad()),
        v if v < MS_THRESHOLD => Ok((v, false)),
        v if v % 1000 == 0 && v / 1000 <= MAX_SECONDS => Ok((v / 1000, true)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn containing_truncates_to_the_utc_hour() {
        let r = Round::containing(at("2026-11-24T16:59:59.999Z"));
        assert_eq!(r.start(), at("2026-11-24T16:00:00Z"));
        assert_eq!(r.end(), at("2026-11-24T17:00:00Z"));
        assert_eq!(r.id().as_str(), "2026112416");
        assert_eq!(r.next().id().as_str(), "2026112417");
        assert!(r.contains(at("2026-11-24T16:00:00Z")));
        assert!(!r.contains(at("2026-11-24T17:00:00Z")));
    }

    #[test]
    fn round_ids_parse_and_reject() {
        let id = RoundId::parse("2026123123").unwrap();
        assert_eq!(Round::from_id(&id).next().id().as_str(), "2027010100");
        for bad in [
            "2026123124",
            "202612312",
            "2026-12-31",
            "2026023012",
            "abcdefghij",
        ] {
            assert!(
                matches!(RoundId::parse(bad), Err(RoundError::BadId(_))),
                "{bad}"
            );
        }
        let err = serde_json::from_str::<RoundId>("\"x\"").unwrap_err();
        assert!(err.to_string().contains("roundId"));
    }

    #[test]
    fn round_info_for_the_api() {
        let info = RoundInfo::at(at("2026-11-24T16:59:59.500Z"));
        assert_eq!(info.round_id.as_str(), "2026112416");
        assert_eq!(info.next_round_id.as_str(), "2026112417");
        assert_eq!(info.end - info.start, 3600);
        assert_eq!(info.seconds_remaining, 1);
        assert_eq!(
            RoundInfo::at(at("2026-11-24T16:00:00Z")).seconds_remaining,
            3600
        );
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["roundId"], "2026112416");
        assert_eq!(v["secondsRemaining"], 1);
    }

    #[test]
    fn exact_windows_in_seconds_or_milliseconds() {
        let now = at("2026-11-24T16:20:00Z");
        let r = Round::from_window("1764000000", "1764003600", now).unwrap();
        assert_eq!(r.start().timestamp(), 1_764_000_000);
        let ms = Round::from_window("1764000000000", "1764003600000", now).unwrap();
        assert_eq!(ms, r);
    }

    #[test]
    fn original_ui_window_from_a_half_hour_time_zone() {
        // India (UTC+5:30) at 16:20:17 UTC = 21:50:17 local: window 21:00:17..22:00:17 local.
        let now = at("2026-11-24T16:20:17Z");
        let start = at("2026-11-24T15:30:17Z").timestamp().to_string();
        let end = at("2026-11-24T16:30:17Z").timestamp().to_string();
        let r = Round::from_window(&start, &end, now).unwrap();
        assert_eq!(r, Round::containing(now));
    }

    #[test]
    fn rejects_bad_windows_with_field_names() {
        let now = at("2026-11-24T16:20:00Z");
        let e = Round::from_window("abc", "1764003600", now).unwrap_err();
        assert!(e.to_string().contains("starttimestamp"));
        let e = Round::from_window("1764000000", "-1", now).unwrap_err();
        assert!(e.to_string().contains("endtimestamp"));
        assert_eq!(
            Round::from_window("1764000000", "1764003600000", now),
            Err(RoundError::MixedUnits)
        );
        // Two hours wide, or an hour window that does not contain now.
        assert!(Round::from_window("1764000000", "1764007200", now).is_err());
        assert!(Round::from_window("1763990000", "1763993600", now).is_err());
        // Milliseconds that are not whole seconds.
        assert!(Round::from_window("1764000000001", "1764003600000", now).is_err());
    }

    proptest! {
        #[test]
        fn every_instant_is_in_its_round(secs in 0i64..4_102_444_800, nanos in 0u32..1_000_000_000) {
            let t = Utc.timestamp_opt(secs, nanos).unwrap();
            let r = Round::containing(t);
            prop_assert!(r.contains(t));
            prop_assert_eq!(r.end() - r.start(), chrono::Duration::hours(1));
            prop_assert_eq!(Round::from_id(&RoundId::parse(r.id().as_str()).unwrap()), r);
            prop_assert_eq!(Round::containing(r.end()), r.next());
        }

        #[test]
        fn exact_window_resolves_any_round(hours in 0i64..1_000_000, now_secs in 0i64..4_102_444_800) {
            let start = hours * 3600;
            let now = Utc.timestamp_opt(now_secs, 0).unwrap();
            let r = Round::from_window(&start.to_string(), &(start + 3600).to_string(), now).unwrap();
            prop_assert_eq!(r.start().timestamp(), start);
        }
    }
}
