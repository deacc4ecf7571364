//! The leaderboard index: ordered totals per window, kept in memory and fed by the
//! `ReadModels` change feed, so a top-N query is an ordered-set walk rather than a scan.
//!
//! The persisted leaderboard documents (one per user, awards by day) are the source of truth;
//! this index is a cache of them. Each query first reads the change feed from the index's own
//! continuation (usually an empty page), so every instance converges on what the processor
//! wrote, whichever instance wrote it. Windowed totals depend on the day: when the UTC day
//! changes the windows are recomputed from the per-day points.
//!
//! Memory: one shared `Arc<str>` per user id (the map key and the three board entries point at
//! it), the name, and the per-day points as a boxed slice. A first build (or a day roll) fills
//! the user map and then bulk-builds each board from a sorted vector instead of inserting one
//! user at a time. The change feed is read as stored JSON text and each document decoded
//! straight into the few members the index needs ([`ScoreView`]: ids and names borrowed from
//! the text, awards summed per day as they are read), never into a `serde_json::Value`.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::Mutex;

use super::layout::{Pointer, READ_MODELS};
use super::model::{Model, Totals, day_of, totals_of};
use crate::app::domain::leaderboard::Window;
use crate::store::{
    ChangeFeedRequest, ChangeFeedStart, RawChangeFeedPage, RawDocs, Store, StoreError,
};

/// Change-feed page size while catching up.
const PAGE: u32 = 5000;

/// One row of the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Competition rank: equal scores share a rank, the next rank skips (1, 2, 2, 4).
    pub rank: u32,
    pub user_id: String,
    pub user_name: String,
    pub score: i64,
}

/// A user id, shared by the user map and every board.
type UserKey = Arc<str>;

struct UserBoard {
    name: Box<str>,
    /// (UTC day, points), ascending by day.
    days: Box<[(i64, i64)]>,
    totals: Totals,
}

type Board = BTreeSet<(Reverse<i64>, UserKey)>;

#[derive(Default)]
struct State {
    generation: Option<u64>,
    continuation: Option<String>,
    today: i64,
    users: HashMap<UserKey, UserBoard>,
    /// all-time, 7-day, 30-day.
    boards: [Board; 3],
}

fn slot(window: Window) -> usize {
    match window {
        Window::All => 0,
        Window::Days7 => 1,
        Window::Days30 => 2,
    }
}

fn scores(t: &Totals) -> [i64; 3] {
    [t.all, t.days7, t.days30]
}

impl State {
    /// `days`: (UTC day, points), ascending by day.
    fn put(&mut self, user: &str, name: String, days: Vec<(i64, i64)>) {
        let key = self.put_user(user, name, days);
        if let Some(board) = self.users.get(&key) {
            for (set, score) in self.boards.iter_mut().zip(scores(&board.totals)) {
                set.insert((Reverse(score), key.clone()));
            }
        }
    }

    /// Stores the user (taking them off the boards if present) without placing them on the
    /// boards; returns their key.
    fn put_user(&mut self, user: &str, name: String, days: Vec<(i64, i64)>) -> UserKey {
        let totals = totals_of(days.iter().copied(), self.today);
        let key = match self.users.get_key_value(user) {
            Some((key, old)) => {
                let key = key.clone();
                for (set, score) in self.boards.iter_mut().zip(scores(&old.totals)) {
                    set.remove(&(Reverse(score), key.clone()));
                }
                key
            }
            None => UserKey::from(user),
        };
        let board = UserBoard {
            name: name.into_boxed_str(),
            days: days.into_boxed_slice(),
            totals,
        };
        self.users.insert(key.clone(), board);
        key
    }

    /// Rebuilds every board from the user map, sorted in bulk.
    fn rebuild_boards(&mut self) {
        for (index, set) in self.boards.iter_mut().enumerate() {
            let mut entries: Vec<(Reverse<i64>, UserKey)> = self
                .users
                .iter()
                .map(|(key, board)| (Reverse(scores(&board.totals)[index]), key.clone()))
                .collect();
            entries.sort_unstable();
            *set = entries.into_iter().collect();
        }
    }

    fn roll_to(&mut self, today: i64) {
        if today == self.today {
            return;
        }
        self.today = today;
        for board in self.users.values_mut() {
            board.totals = totals_of(board.days.iter().copied(), today);
        }
        self.rebuild_boards();
    }

    fn row(&self, user: &str, window: Window) -> Option<Row> {
        let board = self.users.get(user)?;
        let score = scores(&board.totals)[slot(window)];
        let better = self.boards[slot(window)]
            .range(..(Reverse(score), UserKey::from("")))
            .count();
        Some(Row {
            rank: u32::try_from(better + 1).unwrap_or(u32::MAX),
            user_id: user.to_owned(),
            user_name: board.name.to_string(),
            score,
        })
    }

    fn top(&self, window: Window, n: usize) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::with_capacity(n.min(self.users.len()));
        let mut rank = 0u32;
        for (position, (Reverse(score), user)) in self.boards[slot(window)].iter().enumerate() {
            let tied = rows.last().is_some_and(|last| last.score == *score);
            if rows.len() >= n && !tied {
                break;
            }
            if !tied {
                rank = u32::try_from(position + 1).unwrap_or(u32::MAX);
            }
            let name = self
                .users
                .get(user)
                .map(|b| b.name.to_string())
                .unwrap_or_default();
            rows.push(Row {
                rank,
                user_id: user.to_string(),
                user_name: name,
                score: *score,
            });
        }
        rows
    }
}

/// The shared leaderboard index of one process.
#[derive(Default)]
pub struct Standings {
    state: Mutex<State>,
}

impl std::fmt::Debug for Standings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Standings").finish_non_exhaustive()
    }
}

impl Standings {
    pub fn new() -> Self {
        Self::default()
    }

    /// The first `n` rows of `window` at `now`, plus every row tied with the last one.
    pub async fn top(
        &self,
        store: &Store,
        window: Window,
        n: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<Row>, StoreError> {
        let mut state = self.state.lock().await;
        catch_up(&mut state, store, now).await?;
        Ok(state.top(window, n))
    }

    /// One user's row in `window`, if they have any award.
    pub async fn standing(
        &self,
        store: &Store,
        user: &str,
        window: Window,
        now: DateTime<Utc>,
    ) -> Result<Option<Row>, StoreError> {
        let mut state = self.state.lock().await;
        catch_up(&mut state, store, now).await?;
        Ok(state.row(user, window))
    }

    /// Users on the board.
    pub async fn len(&self) -> usize {
        self.state.lock().await.users.len()
    }

    /// True when nobody is on the board (as of the last query).
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

async fn catch_up(state: &mut State, store: &Store, now: DateTime<Utc>) -> Result<(), StoreError> {
    let generation = Pointer::load(store).await?.of(Model::Leaderboard).active;
    if state.generation != Some(generation) {
        *state = State {
            generation: Some(generation),
            today: day_of(now.timestamp()),
            ..State::default()
        };
    }
    state.roll_to(day_of(now.timestamp()));
    // A first build places users on the boards once, in bulk, at the end.
    let bulk = state.users.is_empty();
    let first = state
        .continuation
        .clone()
        .map_or(ChangeFeedStart::Beginning, ChangeFeedStart::Continuation);
    let mut page = read_page(store, first).await?;
    // The next page is read while this one is absorbed: the store's read (a blocking-pool
    // thread on the embedded backend, the network on Cosmos DB) overlaps the decoding here.
    while !page.items.is_empty() {
        let next = ChangeFeedStart::Continuation(page.continuation.clone());
        let (next, ()) = futures::join!(read_page(store, next), async {
            absorb(state, &page.items, generation, bulk);
        });
        state.continuation = Some(page.continuation);
        page = next?;
    }
    state.continuation = Some(page.continuation);
    if bulk {
        state.rebuild_boards();
    }
    Ok(())
}

async fn read_page(store: &Store, start: ChangeFeedStart) -> Result<RawChangeFeedPage, StoreError> {
    store
        .read_change_feed_raw(READ_MODELS, &ChangeFeedRequest::new(start).max_items(PAGE))
        .await
}

/// What the index reads of a stored leaderboard document (`ScoreDoc` with its envelope):
/// the ids and name in place, the awards already summed per day. Every member is optional so
/// that documents of the other models decode too (and are then skipped by `model`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScoreView<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(rename = "gen", default)]
    generation: Option<u64>,
    #[serde(borrow, default)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_name: Option<Cow<'a, str>>,
    #[serde(default)]
    entries: Option<EntryDays>,
    #[serde(default)]
    settled_days: BTreeMap<i64, i64>,
}

/// Only the members that say what a document is, for one [`ScoreView`] could not read.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(rename = "gen", default)]
    generation: Option<u64>,
}

/// `ScoreDoc::entries` (entry id → (points, award time)) read as (UTC day, points) per entry,
/// without keeping the ids.
struct EntryDays(Vec<(i64, i64)>);

impl<'de> Deserialize<'de> for EntryDays {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = EntryDays;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of ledger entry id to [points, award time]")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntryDays, A::Error> {
                let mut days = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((IgnoredAny, (points, at))) =
                    map.next_entry::<IgnoredAny, (i64, i64)>()?
                {
                    days.push((day_of(at), points));
                }
                Ok(EntryDays(days))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// (UTC day, points) ascending by day, one pair per day: what `ScoreDoc::days` computes.
fn days_of(mut entries: Vec<(i64, i64)>, settled: BTreeMap<i64, i64>) -> Vec<(i64, i64)> {
    entries.extend(settled);
    entries.sort_unstable_by_key(|&(day, _)| day);
    let mut days: Vec<(i64, i64)> = Vec::with_capacity(entries.len());
    for (day, points) in entries {
        match days.last_mut() {
            Some(last) if last.0 == day => last.1 = last.1.saturating_add(points),
            _ => days.push((day, points)),
        }
    }
    days.shrink_to_fit();
    days
}

/// Takes the leaderboard documents of `generation` from one change-feed page into the index.
fn absorb(state: &mut State, items: &RawDocs, generation: u64, bulk: bool) {
    if bulk {
        state.users.reserve(items.len());
    }
    let leaderboard = Model::Leaderboard.name();
    for text in items.iter() {
        let view = match serde_json::from_slice::<ScoreView<'_>>(text) {
            Ok(view) => view,
            Err(e) => {
                let head = serde_json::from_slice::<Head<'_>>(text).ok();
                if head.is_some_and(|h| {
                    h.model.as_deref() == Some(leaderboard) && h.generation == Some(generation)
                }) {
                    tracing::warn!(error = %e, "skipped an unreadable leaderboard document");
                }
                continue;
            }
        };
        if view.model.as_deref() != Some(leaderboard) || view.generation != Some(generation) {
            continue;
        }
        let (Some(user), Some(name), Some(EntryDays(entries))) =
            (view.user_id, view.user_name, view.entries)
        else {
            tracing::warn!("skipped a leaderboard document without userId, userName or entries");
            continue;
        };
        // A player renamed before any award has a document but no place on the board.
        if entries.is_empty() {
            continue;
        }
        let days = days_of(entries, view.settled_days);
        if bulk {
            state.put_user(&user, name.into_owned(), days);
        } else {
            state.put(&user, name.into_owned(), days);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::app::cqrs::layout::stored;
    use crate::app::cqrs::model::{Delivery, ScoreDoc, Update, apply_all};

    #[test]
    fn stored_documents_are_read_as_their_score_doc_says() {
        // Over the dedupe window, so the oldest awards are folded into settled days.
        let awards: Vec<Update> = (0..400)
            .map(|i| Update::Award {
                user: "alice".into(),
                name: "Alice".into(),
                entry: format!("task-{i:04}"),
                points: 1 + i % 5,
                at: 1_700_000_000 + i * 40_000,
            })
            .collect();
        let refs: Vec<&Update> = awards.iter().collect();
        let body = apply_all(&refs, None, Delivery::Live).unwrap().unwrap();
        let score: ScoreDoc = serde_json::from_value(body.clone()).unwrap();
        assert!(!score.settled_days.is_empty());
        let mut docs = RawDocs::default();
        let lb =
            |generation, body| stored(Model::Leaderboard, generation, "lb|g1|0", "alice", body);
        docs.push(&serde_json::to_vec(&lb(1, body.clone())).unwrap());
        // Another generation, another model, and a broken leaderboard document are skipped.
        let other_gen = json!({"userId": "bob", "userName": "Bob", "nameFrom": [0, ""],
            "entries": {"t": [5, 1_700_000_000]}});
        docs.push(&serde_json::to_vec(&lb(2, other_gen)).unwrap());
        let stats = stored(
            Model::Stats,
            1,
            "stats|g1|0",
            "carol",
            json!({"userId": "carol", "userName": null}),
        );
        docs.push(&serde_json::to_vec(&stats).unwrap());
        docs.push(&serde_json::to_vec(&lb(1, json!({"userId": "dave", "entries": 3}))).unwrap());
        let mut state = State {
            today: day_of(1_700_000_000 + 400 * 40_000),
            ..State::default()
        };
        absorb(&mut state, &docs, 1, true);
        state.rebuild_boards();
        assert_eq!(state.users.len(), 1);
        let board = &state.users["alice"];
        let expected: Vec<(i64, i64)> = score.days().into_iter().collect();
        assert_eq!(board.days.as_ref(), expected.as_slice());
        assert_eq!(board.totals, score.totals(state.today));
        assert_eq!(&*board.name, "Alice");
    }

    #[test]
    fn ranks_ties_and_windows() {
        let mut state = State {
            today: 100,
            ..State::default()
        };
        state.put("a", "A".into(), vec![(100, 6)]);
        state.put("b", "B".into(), vec![(99, 4)]);
        state.put("c", "C".into(), vec![(50, 4)]);
        state.put("d", "D".into(), vec![(100, 2)]);
        let summary = |rows: Vec<Row>| -> Vec<(u32, String, i64)> {
            rows.into_iter()
                .map(|r| (r.rank, r.user_id, r.score))
                .collect()
        };
        assert_eq!(
            summary(state.top(Window::All, 2)),
            [(1, "a".into(), 6), (2, "b".into(), 4), (2, "c".into(), 4)]
        );
        assert_eq!(
            summary(state.top(Window::Days7, 10)),
            [
                (1, "a".into(), 6),
                (2, "b".into(), 4),
                (3, "d".into(), 2),
                (4, "c".into(), 0)
            ]
        );
        assert_eq!(state.row("d", Window::All).unwrap().rank, 4);
        state.put("d", "D2".into(), vec![(100, 9)]);
        assert_eq!(state.row("d", Window::All).unwrap().rank, 1);
        assert_eq!(state.users.len(), 4);
        state.roll_to(106);
        assert_eq!(summary(state.top(Window::Days7, 1)), [(1, "d".into(), 9)]);
        state.roll_to(107);
        assert_eq!(state.row("d", Window::Days7).unwrap().score, 0);
        assert_eq!(state.row("d", Window::All).unwrap().score, 9);
    }
}
