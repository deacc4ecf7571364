//! Leaderboard over the score ledger: totals per user in a time window, competition ranking.
//!
//! The original summed raw entries in the browser, always all-time (§4.5, §11.3 item 33).
//! Here the result is a function of the *set* of entries keyed by id: order and duplicates do
//! not change it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::documents::LedgerEntry;
use super::values::{DisplayName, UserId, ValueError};

/// Which entries count, by award time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Window {
    #[serde(rename = "7d")]
    Days7,
    #[serde(rename = "30d")]
    Days30,
    #[serde(rename = "all")]
    All,
}

impl Window {
    /// Parses the `window` query value: `7d`, `30d` or `all` (also `7`, `30`, `7-days`, `alltime`).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "7d" | "7" | "7-days" | "7days" => Ok(Self::Days7),
            "30d" | "30" | "30-days" | "30days" => Ok(Self::Days30),
            "all" | "all-time" | "alltime" | "" => Ok(Self::All),
            _ => Err(ValueError::Malformed {
                field: "window",
                expected: "one of 7d, 30d, all",
                value: raw.to_owned(),
            }),
        }
    }

    /// The earliest award time that counts at `now` (`None`: everything counts).
    pub fn since(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Days7 => Some(now - Duration::days(7)),
            Self::Days30 => Some(now - Duration::days(30)),
            Self::All => None,
        }
    }
}

/// One row of the board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    /// Competition rank: equal scores share a rank, the next rank skips (1, 2, 2, 4).
    pub rank: u32,
    pub user_id: UserId,
    pub user_name: DisplayName,
    pub score: i64,
}

/// Ranked totals of every user with any entry; entries outside `window` add nothing, so users
/// without recent points are listed with 0. Ties are listed by user id.
pub fn standings<'a>(
    entries: impl IntoIterator<Item = &'a LedgerEntry>,
    window: Window,
    now: DateTime<Utc>,
) -> Vec<Standing> {
    // Duplicates by id: keep one deterministic representative, whatever the order.
    let mut by_id: HashMap<&str, &LedgerEntry> = HashMap::new();
    for e in entries {
        by_id
            .entry(e.id.as_str())
            .and_modify(|kept| {
                if representative_key(e) > representative_key(kept) {
                    *kept = e;
                }
            })
            .or_insert(e);
    }
    let since = window.since(now);
    // user id → (score, (time, entry id) of the newest entry, name from that entry)
    type Acc<'e> = (i64, (Option<DateTime<Utc>>, &'e str), &'e DisplayName);
    let mut totals: BTreeMap<&UserId, Acc> = BTreeMap::new();
    for e in by_id.values() {
        let counts = match (since, e.time()) {
            (None, _) => true,
            (Some(since), Some(t)) => t >= since && t <= now,
            (Some(_), None) => false,
        };
        let add = if counts { e.score } else { 0 };
        let stamp = (e.time(), e.id.as_str());
        let acc = totals.entry(&e.user.id).or_insert((0, stamp, &e.user.name));
        acc.0 = acc.0.saturating_add(add);
        if stamp >= acc.1 {
            acc.1 = stamp;
            acc.2 = &e.user.name;
        }
    }
    let mut rows: Vec<(i64, &UserId, &DisplayName)> = totals
        .into_iter()
        .map(|(id, (score, _, name))| (score, id, name))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut out = Vec::with_capacity(rows.len());
    let mut rank = 0u32;
    let mut previous: Option<i64> = None;
    for (position, (score, id, name)) in rows.into_iter().enumerate() {
        if previous != Some(score) {
            rank = u32::try_from(position + 1).unwrap_or(u32::MAX);
            previous = Some(score);
        }
        out.push(Standing {
            rank,
            user_id: id.clone(),
            user_name: name.clone(),
            score,
        });
    }
    out
}

/// Largest accepted `top` query value.
pub const MAX_TOP: usize = 1000;

/// Parses the `top` query value: a whole number 1..=[`MAX_TOP`]; absent means [`MAX_TOP`].
pub fn parse_top(raw: Option<&str>) -> Result<usize, ValueError> {
    let Some(raw) = raw else {
        return Ok(MAX_TOP);
    };
    let n: usize = raw.trim().parse().map_err(|_| ValueError::NotANumber {
        field: "top",
        value: raw.to_owned(),
    })?;
    if (1..=MAX_TOP).contains(&n) {
        Ok(n)
    } else {
        Err(ValueError::OutOfRange {
            field: "top",
            min: 1.0,
            max: MAX_TOP as f64,
            value: n as f64,
        })
    }
}

/// The first `n` rows (at most `n`): a tie at the cut is broken by user id, the order of
/// [`standings`]; tied rows keep their shared rank.
pub fn top(standings: &[Standing], n: usize) -> &[Standing] {
    &standings[..n.min(standings.len())]
}

/// The row of one user, if they are on the board.
pub fn standing_of<'a>(standings: &'a [Standing], user: &UserId) -> Option<&'a Standing> {
    standings.iter().find(|s| s.user_id == *user)
}

fn representative_key(e: &LedgerEntry) -> (Option<DateTime<Utc>>, i64, &str, &str) {
    (e.time(), e.score, e.user.id.as_str(), e.user.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn entry(id: &str, user: &str, score: i64, days_ago: i64) -> LedgerEntry {
        let at = now() - Duration::days(days_ago);
        serde_json::from_value(json!({
            "id": id, "user": {"id": user, "name": user.to_uppercase()},
            "task": {"id": ""}, "score": score, "awardedAt": at.timestamp()
        }))
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T16:00:00Z".parse().unwrap()
    }

    fn summary(rows: &[Standing]) -> Vec<(u32, &str, i64)> {
        rows.iter()
            .map(|s| (s.rank, s.user_id.as_str(), s.score))
            .collect()
    }

    #[test]
    fn competition_ranking_with_ties() {
        let entries = [
            entry("1", "a", 6, 0),
            entry("2", "b", 4, 0),
            entry("3", "c", 4, 0),
            entry("4", "d", 2, 0),
            entry("5", "a", 0, 0),
        ];
        let rows = standings(&entries, Window::All, now());
        assert_eq!(
            summary(&rows),
            [(1, "a", 6), (2, "b", 4), (2, "c", 4), (4, "d", 2)]
        );
        assert_eq!(rows[0].user_name.as_str(), "A");
        assert_eq!(
            summary(top(&rows, 2)),
            [(1, "a", 6), (2, "b", 4)],
            "at most n rows; the tie at the cut goes by user id and keeps its rank"
        );
        assert_eq!(top(&rows, 1).len(), 1);
        assert_eq!(top(&rows, 0).len(), 0);
        assert_eq!(top(&rows, 10).len(), 4);
        assert_eq!(
            standing_of(&rows, &UserId::parse("d").unwrap())
                .unwrap()
                .rank,
            4
        );
    }

    #[test]
    fn windows_filter_by_award_time() {
        let entries = [
            entry("1", "a", 6, 40),
            entry("2", "a", 2, 10),
            entry("3", "b", 4, 1),
            entry("4", "c", 0, 100),
        ];
        assert_eq!(
            summary(&standings(&entries, Window::All, now())),
            [(1, "a", 8), (2, "b", 4), (3, "c", 0)]
        );
        assert_eq!(
            summary(&standings(&entries, Window::Days30, now())),
            [(1, "b", 4), (2, "a", 2), (3, "c", 0)]
        );
        assert_eq!(
            summary(&standings(&entries, Window::Days7, now())),
            [(1, "b", 4), (2, "a", 0), (2, "c", 0)]
        );
    }

    #[test]
    fn top_parsing() {
        assert_eq!(parse_top(None), Ok(MAX_TOP));
        assert_eq!(parse_top(Some(" 10 ")), Ok(10));
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert_eq!(parse_top(Some(bad)).unwrap_err().field(), "top", "{bad}");
        }
    }

    #[test]
    fn window_parsing() {
        assert_eq!(Window::parse("7d"), Ok(Window::Days7));
        assert_eq!(Window::parse("30-days"), Ok(Window::Days30));
        assert_eq!(Window::parse("ALL"), Ok(Window::All));
        assert_eq!(Window::parse("week").unwrap_err().field(), "window");
        assert_eq!(serde_json::to_value(Window::Days30).unwrap(), json!("30d"));
    }

    proptest! {
        #[test]
        fn order_and_duplicates_do_not_matter(
            raw in proptest::collection::vec((0u8..6, 0i64..7, 0i64..60), 0..40),
            dup in proptest::collection::vec(0usize..40, 0..20),
            window in prop_oneof![Just(Window::All), Just(Window::Days7), Just(Window::Days30)],
        ) {
            let entries: Vec<_> = raw.iter().enumerate()
                .map(|(i, (u, s, d))| entry(&format!("e{i}"), &format!("u{u}"), *s, *d))
                .collect();
            let mut shuffled = entries.clone();
            shuffled.reverse();
            for d in &dup {
                if !entries.is_empty() { shuffled.push(entries[d % entries.len()].clone()); }
            }
            let a = standings(&entries, window, now());
            let b = standings(&shuffled, window, now());
            prop_assert_eq!(&a, &b);
            // Ranks are competition ranks.
            for (i, row) in a.iter().enumerate() {
                let better = a.iter().filter(|r| r.score > row.score).count();
                prop_assert_eq!(row.rank as usize, better + 1);
                if i > 0 { prop_assert!(a[i - 1].score >= row.score); }
            }
        }
    }
}
