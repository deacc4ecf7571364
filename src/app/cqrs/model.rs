//! The read models as plain Rust: decoding an event into [`Update`]s, and applying an update
//! to the current body of one read-model document.
//!
//! Every update is idempotent and commutative: the leaderboard keeps awards in a map keyed by
//! ledger entry id, stats keep [`WindowedCount`]s (a count plus a bounded dedupe window of the
//! newest event ids) and a maximum, locations and records keep the value with the highest
//! aggregate version. Applying any duplication or permutation of a history gives the same
//! documents as one in-order pass, as long as no event arrives after more than
//! [`DEDUPE_WINDOW`] newer ones of the same counter (see `docs/cqrs.md`, "Bounded state").

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::event::{DomainEvent, EventType, UnknownType};
use crate::app::domain::documents::{ChatMessage, CosmosUser, LedgerEntry, UserTask};

const DAY_SECONDS: i64 = 86_400;

/// Event ids a [`WindowedCount`] remembers: the newest ones per counter. Bounds a stats
/// document to about 3 × 256 ids (≤ 210 KB even with 255-character ids; Cosmos DB's item
/// limit is 2 MB).
pub const DEDUPE_WINDOW: usize = 256;

/// A read model: rebuilt and versioned (generation) on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Model {
    Leaderboard,
    Stats,
    Countries,
    Records,
}

impl Model {
    pub const ALL: [Model; 4] = [
        Self::Leaderboard,
        Self::Stats,
        Self::Countries,
        Self::Records,
    ];

    /// The name used by `cosmospark rebuild` and in the pointer document.
    pub fn name(self) -> &'static str {
        match self {
            Self::Leaderboard => "leaderboard",
            Self::Stats => "stats",
            Self::Countries => "countries",
            Self::Records => "records",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == raw)
    }

    /// The write containers this model is built from.
    pub fn sources(self) -> &'static [EventType] {
        match self {
            Self::Leaderboard => &[EventType::ScoreAwarded, EventType::UserUpserted],
            Self::Stats => &[
                EventType::UserUpserted,
                EventType::ChatMessageSent,
                EventType::TaskCompleted,
            ],
            Self::Countries => &[EventType::UserUpserted],
            Self::Records => &[EventType::CommandInserted],
        }
    }
}

/// Why an event cannot be projected (it goes to the dead letters).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Poison {
    #[error("body is not a domain event: {0}")]
    Undecodable(String),
    #[error(transparent)]
    UnknownType(#[from] UnknownType),
    #[error("`data` of {event_type} event `{id}` is invalid: {reason}")]
    InvalidData {
        event_type: &'static str,
        id: String,
        reason: String,
    },
}

/// One change to one read-model document.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A ledger entry (leaderboard).
    Award {
        user: String,
        name: String,
        entry: String,
        points: i64,
        at: i64,
    },
    /// The user's current name on the board (leaderboard): a rename reaches the board.
    Renamed {
        user: String,
        name: String,
        version: u64,
    },
    /// The user's name and activity (stats).
    Named {
        user: String,
        name: String,
        version: u64,
        at: i64,
    },
    /// The user's country (users by country).
    Located {
        user: String,
        name: String,
        country: Option<String>,
        version: u64,
    },
    Sent {
        user: String,
        message: String,
        at: i64,
    },
    Received {
        user: String,
        message: String,
        at: i64,
    },
    TaskDone {
        user: String,
        task: String,
        country: Option<String>,
        at: i64,
    },
    /// A seed-API command record.
    Record {
        id: String,
        owner: Option<String>,
        data: Value,
        version: u64,
        at: i64,
    },
}

/// Parses one event body (JSON text).
pub fn decode(body: &str) -> Result<DomainEvent, Poison> {
    serde_json::from_str(body).map_err(|e| Poison::Undecodable(e.to_string()))
}

fn invalid(event: &DomainEvent, kind: EventType, reason: impl ToString) -> Poison {
    Poison::InvalidData {
        event_type: kind.name(),
        id: event.id.clone(),
        reason: reason.to_string(),
    }
}

/// The updates one event makes.
pub fn updates(event: &DomainEvent) -> Result<Vec<Update>, Poison> {
    let kind = EventType::parse(&event.event_type)?;
    let bad = |reason: serde_json::Error| invalid(event, kind, reason);
    let fallback_at = event.time.timestamp();
    Ok(match kind {
        EventType::UserUpserted => {
            let user: CosmosUser = serde_json::from_value(event.data.clone()).map_err(bad)?;
            let id = user.id.as_str().to_owned();
            let name = user.name.as_str().to_owned();
            let country = user
                .address
                .as_ref()
                .and_then(|a| a.country.code.as_ref())
                .map(|c| c.as_str().to_owned());
            vec![
                Update::Renamed {
                    user: id.clone(),
                    name: name.clone(),
                    version: event.version,
                },
                Update::Named {
                    user: id.clone(),
                    name: name.clone(),
                    version: event.version,
                    at: user.updated_at.timestamp().max(user.created_at.timestamp()),
                },
                Update::Located {
                    user: id,
                    name,
                    country,
                    version: event.version,
                },
            ]
        }
        EventType::ChatMessageSent => {
            let message: ChatMessage = serde_json::from_value(event.data.clone()).map_err(bad)?;
            let recipient = message
                .recipient()
                .ok_or_else(|| invalid(event, kind, "no `userDetails` view of the sender"))?;
            vec![
                Update::Sent {
                    user: message.message.sender_id.as_str().to_owned(),
                    message: message.id.clone(),
                    at: message.message.timestamp,
                },
                Update::Received {
                    user: recipient.id.as_str().to_owned(),
                    message: message.id.clone(),
                    at: message.message.timestamp,
                },
            ]
        }
        EventType::TaskCompleted => {
            let task: UserTask = serde_json::from_value(event.data.clone()).map_err(bad)?;
            if !task.is_completed {
                return Ok(Vec::new());
            }
            vec![Update::TaskDone {
                user: task.user_id.as_str().to_owned(),
                task: task.id.as_str().to_owned(),
                country: task.task_detail.country.code.map(|c| c.as_str().to_owned()),
                at: task.completed_at.map_or(fallback_at, |t| t.timestamp()),
            }]
        }
        EventType::ScoreAwarded => {
            let entry: LedgerEntry = serde_json::from_value(event.data.clone()).map_err(bad)?;
            vec![Update::Award {
                user: entry.user.id.as_str().to_owned(),
                name: entry.user.name.as_str().to_owned(),
                at: entry.time().map_or(fallback_at, |t| t.timestamp()),
                points: entry.score,
                entry: entry.id,
            }]
        }
        EventType::CommandInserted => {
            let command: CommandDocument =
                serde_json::from_value(event.data.clone()).map_err(bad)?;
            vec![Update::Record {
                id: event.aggregate_id.clone(),
                owner: command.user_id,
                data: command.data,
                version: event.version,
                at: command.created_at.unwrap_or(fallback_at),
            }]
        }
    })
}

/// A stored seed-API command (`Commands`, partition key `/id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandDocument {
    pub id: String,
    #[serde(rename = "Data")]
    pub data: Value,
    #[serde(default)]
    pub user_id: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request body, to tell a retry from a reused key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hash: Option<String>,
}

/// Leaderboard document: one per user. Bounded like a [`WindowedCount`]: the newest
/// [`DEDUPE_WINDOW`] awards by ledger entry id, older ones folded into points per UTC day, and
/// days more than [`SETTLED_DAYS`] before the newest one folded into a single day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreDoc {
    pub user_id: String,
    pub user_name: String,
    /// (award time, entry id) of the entry the name comes from: the newest one.
    pub name_from: (i64, String),
    /// Version of the profile the name comes from; once set, awards no longer name the user.
    #[serde(default)]
    pub name_version: u64,
    /// Ledger entry id → (points, award time in unix seconds): the newest awards.
    pub entries: BTreeMap<String, (i64, i64)>,
    /// Points per UTC day of the awards folded out of `entries`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settled_days: BTreeMap<i64, i64>,
    /// (award time, entry id) of the newest folded award.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<(i64, String)>,
}

/// Settled days kept apart before the newest day; older ones only count for "all time", so
/// they are folded into one.
pub const SETTLED_DAYS: i64 = 31;

/// Totals of one user at one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub all: i64,
    pub days7: i64,
    pub days30: i64,
}

/// The UTC day number of a unix time.
pub fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY_SECONDS)
}

impl ScoreDoc {
    /// Points per UTC day (days older than every window may be folded into one).
    pub fn days(&self) -> BTreeMap<i64, i64> {
        let mut days = self.settled_days.clone();
        for (points, at) in self.entries.values() {
            *days.entry(day_of(*at)).or_insert(0) += points;
        }
        days
    }

    /// All-time total and the rolling windows ending on `today` (today and the 6 / 29 days before).
    pub fn totals(&self, today: i64) -> Totals {
        totals_of(self.days(), today)
    }
}

impl ScoreDoc {
    /// Folds the oldest awards out of `entries` until it fits the window.
    fn settle(&mut self) {
        while self.entries.len() > DEDUPE_WINDOW {
            let oldest = self
                .entries
                .iter()
                .map(|(id, (points, at))| ((*at, id.clone()), *points))
                .min();
            let Some(((at, id), points)) = oldest else {
                break;
            };
            self.entries.remove(&id);
            *self.settled_days.entry(day_of(at)).or_insert(0) += points;
            self.horizon = Some((at, id));
        }
        self.fold_old_days();
    }

    /// Folds settled days more than [`SETTLED_DAYS`] before the newest day into the latest of
    /// them: outside every window, they only add to the all-time total.
    fn fold_old_days(&mut self) {
        let newest = self
            .entries
            .values()
            .map(|(_, at)| day_of(*at))
            .chain(self.settled_days.keys().copied())
            .max();
        let Some(newest) = newest else {
            return;
        };
        let old: Vec<i64> = self
            .settled_days
            .range(..newest - SETTLED_DAYS)
            .map(|(day, _)| *day)
            .collect();
        if let Some((&into, rest)) = old.split_last() {
            let folded: i64 = rest
                .iter()
                .filter_map(|day| self.settled_days.remove(day))
                .sum();
            *self.settled_days.entry(into).or_insert(0) += folded;
        }
    }
}

/// Window totals from (UTC day, points) pairs.
pub fn totals_of(days: impl IntoIterator<Item = (i64, i64)>, today: i64) -> Totals {
    let mut totals = Totals::default();
    for (day, points) in days {
        totals.all = totals.all.saturating_add(points);
        if day <= today && day > today - 7 {
            totals.days7 = totals.days7.saturating_add(points);
        }
        if day <= today && day > today - 30 {
            totals.days30 = totals.days30.saturating_add(points);
        }
    }
    totals
}

/// Per-user stats document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsDoc {
    pub user_id: String,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub name_version: u64,
    #[serde(default)]
    pub sent: WindowedCount,
    #[serde(default)]
    pub received: WindowedCount,
    #[serde(default)]
    pub tasks: WindowedCount,
    /// Country codes of the users greeted by completed tasks (bounded by ISO 3166).
    #[serde(default)]
    pub countries: BTreeSet<String>,
    #[serde(default)]
    pub last_active: Option<i64>,
}

/// How many distinct events (by time and id) were counted, in bounded space: the newest
/// [`DEDUPE_WINDOW`] are kept by id, so a duplicate among them is recognised; older ones are
/// folded into `settled` and their ids forgotten, and anything at or before `horizon` (the
/// newest folded one) is taken as already counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowedCount {
    /// Events counted whose ids were forgotten.
    #[serde(default)]
    pub settled: u64,
    /// The newest forgotten (time, id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<(i64, String)>,
    /// The newest counted (time, id)s, at most [`DEDUPE_WINDOW`].
    #[serde(default)]
    pub recent: BTreeSet<(i64, String)>,
}

impl WindowedCount {
    /// The number of distinct events counted.
    pub fn len(&self) -> u64 {
        self.settled + self.recent.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts event `id` at time `at` unless it was counted already. Behind the horizon, a
    /// live event is taken as a duplicate and a replayed one as new (see [`Delivery`]).
    pub fn insert(&mut self, at: i64, id: &str, delivery: Delivery) {
        let key = (at, id.to_owned());
        if self.horizon.as_ref().is_some_and(|h| key <= *h) {
            if delivery == Delivery::Replay {
                self.settled += 1;
            }
            return;
        }
        self.recent.insert(key);
        while self.recent.len() > DEDUPE_WINDOW {
            if let Some(oldest) = self.recent.pop_first() {
                self.settled += 1;
                self.horizon = Some(oldest);
            }
        }
    }
}

/// Where updates come from, which decides what a counter does with an event behind its horizon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Delivery {
    /// From the hub: at least once, close to time order. Behind the horizon means "counted".
    #[default]
    Live,
    /// A rebuild's one read of the source change feeds: every document once, but in feed-range
    /// order, not time order. Behind the horizon means "older, not yet counted".
    Replay,
}

/// Where a user is (users by country): one per user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationDoc {
    pub user_id: String,
    pub user_name: String,
    pub country: Option<String>,
    pub version: u64,
}

/// A seed-API record as `GET /api/query/get` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordDoc {
    pub record_id: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub data: Value,
    pub version: u64,
    /// Unix seconds.
    pub created_at: i64,
}

impl Update {
    pub fn model(&self) -> Model {
        match self {
            Self::Award { .. } | Self::Renamed { .. } => Model::Leaderboard,
            Self::Named { .. }
            | Self::Sent { .. }
            | Self::Received { .. }
            | Self::TaskDone { .. } => Model::Stats,
            Self::Located { .. } => Model::Countries,
            Self::Record { .. } => Model::Records,
        }
    }

    /// The read-model document this update changes (a user id or a record id).
    pub fn key(&self) -> &str {
        match self {
            Self::Award { user, .. }
            | Self::Renamed { user, .. }
            | Self::Named { user, .. }
            | Self::Located { user, .. }
            | Self::Sent { user, .. }
            | Self::Received { user, .. }
            | Self::TaskDone { user, .. } => user,
            Self::Record { id, .. } => id,
        }
    }

    /// Applies the update to the document's current body (`None`: absent). Returns the new
    /// body, or `None` when the update changes nothing (a duplicate or a stale version).
    pub fn apply(&self, current: Option<&Value>) -> Result<Option<Value>, serde_json::Error> {
        apply_all(&[self], current, Delivery::Live)
    }

    fn apply_score(&self, doc: &mut ScoreDoc, delivery: Delivery) {
        if let Self::Renamed {
            user,
            name,
            version,
        } = self
        {
            if *version > doc.name_version {
                doc.user_id.clone_from(user);
                doc.user_name.clone_from(name);
                doc.name_version = *version;
            }
            return;
        }
        let Self::Award {
            user,
            name,
            entry,
            points,
            at,
        } = self
        else {
            return;
        };
        doc.user_id.clone_from(user);
        let from = (*at, entry.clone());
        if doc.horizon.as_ref().is_some_and(|h| from <= *h) {
            if delivery == Delivery::Replay {
                *doc.settled_days.entry(day_of(*at)).or_insert(0) += points;
                doc.fold_old_days();
            }
        } else {
            // The same entry id always carries the same award; keep the larger on a conflict
            // so the result does not depend on order.
            let value = (*points, *at);
            let slot = doc.entries.entry(entry.clone()).or_insert(value);
            if value > *slot {
                *slot = value;
            }
            doc.settle();
        }
        if doc.user_name.is_empty() || from > doc.name_from {
            // A profile's name (Renamed) wins over the name an award carried.
            if doc.name_version == 0 {
                doc.user_name.clone_from(name);
            }
            doc.name_from = doc.name_from.clone().max(from);
        }
    }

    fn apply_stats(&self, doc: &mut StatsDoc, delivery: Delivery) {
        doc.user_id = self.key().to_owned();
        let active = |doc: &mut StatsDoc, at: i64| {
            doc.last_active = Some(doc.last_active.map_or(at, |t| t.max(at)));
        };
        match self {
            Self::Named {
                name, version, at, ..
            } => {
                if doc.user_name.is_none() || *version > doc.name_version {
                    doc.user_name = Some(name.clone());
                    doc.name_version = *version;
                }
                active(doc, *at);
            }
            Self::Sent { message, at, .. } => {
                doc.sent.insert(*at, message, delivery);
                active(doc, *at);
            }
            Self::Received { message, at, .. } => {
                doc.received.insert(*at, message, delivery);
            }
            Self::TaskDone {
                task, country, at, ..
            } => {
                doc.tasks.insert(*at, task, delivery);
                if let Some(country) = country {
                    doc.countries.insert(country.clone());
                }
                active(doc, *at);
            }
            _ => {}
        }
    }

    fn apply_location(&self, doc: &mut LocationDoc) {
        let Self::Located {
            user,
            name,
            country,
            version,
        } = self
        else {
            return;
        };
        if doc.user_id.is_empty() || *version > doc.version {
            *doc = LocationDoc {
                user_id: user.clone(),
                user_name: name.clone(),
                country: country.clone(),
                version: *version,
            };
        }
    }

    fn apply_record(&self, current: Option<&Value>) -> Result<Option<Value>, serde_json::Error> {
        let Self::Record {
            id,
            owner,
            data,
            version,
            at,
        } = self
        else {
            return Ok(None);
        };
        if let Some(current) = current {
            let stored: RecordDoc = serde_json::from_value(current.clone())?;
            if stored.version >= *version {
                return Ok(None);
            }
        }
        serde_json::to_value(RecordDoc {
            record_id: id.clone(),
            owner: owner.clone(),
            data: data.clone(),
            version: *version,
            created_at: *at,
        })
        .map(Some)
    }
}

/// Applies `updates` (all for the same document) to its current body, parsing and writing the
/// body once. Returns the new body, or `None` when nothing changed.
pub fn apply_all(
    updates: &[&Update],
    current: Option<&Value>,
    delivery: Delivery,
) -> Result<Option<Value>, serde_json::Error> {
    let Some(first) = updates.first() else {
        return Ok(None);
    };
    match first.model() {
        Model::Leaderboard => change(current, |doc: &mut ScoreDoc| {
            updates.iter().for_each(|u| u.apply_score(doc, delivery))
        }),
        Model::Stats => change(current, |doc: &mut StatsDoc| {
            updates.iter().for_each(|u| u.apply_stats(doc, delivery))
        }),
        Model::Countries => change(current, |doc: &mut LocationDoc| {
            updates.iter().for_each(|u| u.apply_location(doc))
        }),
        Model::Records => {
            let mut body = current.cloned();
            let mut changed = false;
            for update in updates {
                if let Some(next) = update.apply_record(body.as_ref())? {
                    body = Some(next);
                    changed = true;
                }
            }
            Ok(body.filter(|_| changed))
        }
    }
}

/// Reads the typed body (default when absent), lets `edit` change it, and returns the new body
/// when it differs.
fn change<T>(
    current: Option<&Value>,
    edit: impl FnOnce(&mut T),
) -> Result<Option<Value>, serde_json::Error>
where
    T: Default + PartialEq + Clone + Serialize + for<'de> Deserialize<'de>,
{
    let before: Option<T> = current.map(T::deserialize).transpose()?;
    let mut doc = before.clone().unwrap_or_default();
    edit(&mut doc);
    if before.as_ref() == Some(&doc) {
        return Ok(None);
    }
    serde_json::to_value(doc).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn award(entry: &str, points: i64, at: i64) -> Update {
        Update::Award {
            user: "u".into(),
            name: format!("name-{entry}"),
            entry: entry.into(),
            points,
            at,
        }
    }

    #[test]
    fn awards_dedupe_by_entry_and_windows_count_days() {
        let today = 20_000;
        let now = today * DAY_SECONDS + 100;
        let mut body = None;
        for update in [
            award("a", 2, now),
            award("a", 2, now),
            award("b", 4, now - 6 * DAY_SECONDS),
            award("c", 6, now - 7 * DAY_SECONDS),
            award("d", 1, now - 40 * DAY_SECONDS),
        ] {
            if let Some(next) = update.apply(body.as_ref()).unwrap() {
                body = Some(next);
            }
        }
        let doc: ScoreDoc = serde_json::from_value(body.clone().unwrap()).unwrap();
        assert_eq!(
            doc.totals(today),
            Totals {
                all: 13,
                days7: 6,
                days30: 12
            }
        );
        assert_eq!(doc.user_name, "name-a");
        assert_eq!(award("a", 2, now).apply(body.as_ref()).unwrap(), None);
    }

    fn sent(i: usize) -> Update {
        Update::Sent {
            user: "u".into(),
            message: format!("{i:032x}"),
            at: 1_000_000 + i as i64,
        }
    }

    fn stats(updates: &[Update], current: Option<&Value>, delivery: Delivery) -> Option<Value> {
        let refs: Vec<&Update> = updates.iter().collect();
        apply_all(&refs, current, delivery).unwrap()
    }

    #[test]
    fn stats_document_stays_bounded_and_counts_every_message() {
        // Past ~57,500 message ids a document holding every id exceeds Cosmos DB's 2 MB.
        const MESSAGES: usize = 60_000;
        let history: Vec<Update> = (0..MESSAGES).map(sent).collect();
        let body = stats(&history, None, Delivery::Live).unwrap();
        let size = body.to_string().len();
        assert!(size < 64 * 1024, "stats document is {size} bytes");
        let doc: StatsDoc = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(doc.sent.len(), MESSAGES as u64);
        assert_eq!(doc.sent.recent.len(), DEDUPE_WINDOW);
        // Redelivering the newest window, or anything older, changes nothing.
        let redelivered: Vec<Update> = history
            .iter()
            .rev()
            .take(3 * DEDUPE_WINDOW)
            .cloned()
            .collect();
        assert_eq!(stats(&redelivered, Some(&body), Delivery::Live), None);
        // A new message still counts.
        let next = stats(&[sent(MESSAGES)], Some(&body), Delivery::Live).unwrap();
        let doc: StatsDoc = serde_json::from_value(next).unwrap();
        assert_eq!(doc.sent.len(), MESSAGES as u64 + 1);
    }

    #[test]
    fn leaderboard_document_stays_bounded_and_keeps_every_total() {
        let today = 20_000;
        let history: Vec<Update> = (0..20_000i64)
            .map(|i| {
                let at = (today - 400) * DAY_SECONDS + i * 1_728;
                award(&format!("task-{i:08}"), 1 + i % 6, at)
            })
            .collect();
        let mut days = BTreeMap::new();
        for update in &history {
            if let Update::Award { points, at, .. } = update {
                *days.entry(day_of(*at)).or_insert(0) += points;
            }
        }
        let expected = totals_of(days.clone(), today);
        let refs: Vec<&Update> = history.iter().collect();
        let body = apply_all(&refs, None, Delivery::Live).unwrap().unwrap();
        let size = body.to_string().len();
        assert!(size < 64 * 1024, "leaderboard document is {size} bytes");
        let doc: ScoreDoc = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(doc.totals(today), expected);
        assert!(doc.settled_days.len() <= SETTLED_DAYS as usize + 2);
        // Redelivered awards change nothing.
        let again: Vec<&Update> = history.iter().rev().take(1_000).collect();
        assert_eq!(
            apply_all(&again, Some(&body), Delivery::Live).unwrap(),
            None
        );
    }

    #[test]
    fn a_replay_in_feed_range_order_counts_what_arrives_behind_the_horizon() {
        // Four feed ranges read one after another: time order only within each.
        let history: Vec<Update> = (0..2_000).map(sent).collect();
        let by_range: Vec<Update> = (0..4)
            .flat_map(|range| history.iter().skip(range).step_by(4).cloned())
            .collect();
        let replayed = stats(&by_range, None, Delivery::Replay).unwrap();
        let doc: StatsDoc = serde_json::from_value(replayed).unwrap();
        assert_eq!(doc.sent.len(), 2_000);
        let live = stats(&by_range, None, Delivery::Live).unwrap();
        let doc: StatsDoc = serde_json::from_value(live).unwrap();
        assert!(
            doc.sent.len() < 2_000,
            "live delivery takes late events as duplicates"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Exactly-once with bounded state: any shuffle and duplication within a lateness of
        /// fewer than `DEDUPE_WINDOW / 2` events counts every message once.
        #[test]
        fn bounded_lateness_and_duplicates_count_exactly_once(
            n in 1usize..1_500,
            seeds in proptest::collection::vec(proptest::prelude::any::<u64>(), 64),
            duplicates in proptest::collection::vec(0usize..1_500, 0..200),
        ) {
            let block = DEDUPE_WINDOW / 2 - 1;
            let history: Vec<Update> = (0..n).map(sent).collect();
            let mut delivered = Vec::new();
            for (b, chunk) in history.chunks(block).enumerate() {
                let mut chunk: Vec<(u64, Update)> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, u)| (seeds[(b + i) % seeds.len()].rotate_left(i as u32), u.clone()))
                    .collect();
                let start = b * block;
                for d in &duplicates {
                    let i = d % n;
                    if (start..start + block).contains(&i) {
                        chunk.push((seeds[i % seeds.len()], history[i].clone()));
                    }
                }
                chunk.sort_by_key(|(k, _)| *k);
                delivered.extend(chunk.into_iter().map(|(_, u)| u));
            }
            let mut body = None;
            for piece in delivered.chunks(37) {
                if let Some(next) = stats(piece, body.as_ref(), Delivery::Live) {
                    body = Some(next);
                }
            }
            let doc: StatsDoc = serde_json::from_value(body.unwrap()).unwrap();
            proptest::prop_assert_eq!(doc.sent.len(), n as u64);
            proptest::prop_assert!(doc.sent.recent.len() <= DEDUPE_WINDOW);
        }
    }

    #[test]
    fn a_rename_reaches_the_board_in_any_order() {
        let renamed = |name: &str, version| Update::Renamed {
            user: "u".into(),
            name: name.into(),
            version,
        };
        let updates = [
            award("a", 2, 100),
            renamed("Old", 1),
            renamed("New", 2),
            award("b", 1, 200),
        ];
        let fold = |order: &[usize]| {
            let mut body: Option<Value> = None;
            for &i in order {
                if let Some(next) = updates[i].apply(body.as_ref()).unwrap() {
                    body = Some(next);
                }
            }
            serde_json::from_value::<ScoreDoc>(body.unwrap()).unwrap()
        };
        let first = fold(&[0, 1, 2, 3]);
        assert_eq!(first.user_name, "New");
        for order in [[3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]] {
            assert_eq!(fold(&order), first, "{order:?}");
        }
    }

    #[test]
    fn stale_locations_and_records_are_ignored() {
        let located = |country: &str, version| Update::Located {
            user: "u".into(),
            name: "U".into(),
            country: Some(country.into()),
            version,
        };
        let v2 = located("FR", 2).apply(None).unwrap();
        assert_eq!(located("DE", 1).apply(v2.as_ref()).unwrap(), None);
        let record = |version| Update::Record {
            id: "r".into(),
            owner: None,
            data: json!(version),
            version,
            at: 1,
        };
        let r5 = record(5).apply(None).unwrap();
        assert_eq!(record(4).apply(r5.as_ref()).unwrap(), None);
        assert_eq!(record(5).apply(r5.as_ref()).unwrap(), None);
        assert!(record(6).apply(r5.as_ref()).unwrap().is_some());
    }

    #[test]
    fn poison_reasons_name_the_problem() {
        assert!(matches!(decode("not json"), Err(Poison::Undecodable(_))));
        let event = |kind: &str, data: Value| DomainEvent {
            id: "e1".into(),
            event_type: kind.into(),
            subject: "s".into(),
            time: chrono::DateTime::from_timestamp(1, 0).unwrap_or_default(),
            data_version: "1.0".into(),
            aggregate_id: "a".into(),
            version: 1,
            partition_key: "u".into(),
            traceparent: None,
            data,
        };
        assert!(matches!(
            updates(&event("Nope", json!({}))),
            Err(Poison::UnknownType(_))
        ));
        let error = updates(&event(
            "CosmosPark.Leaderboard.ScoreAwarded",
            json!({"id": 3}),
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("CosmosPark.Leaderboard.ScoreAwarded") && error.contains("e1"));
    }
}
