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
//! user at a time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::layout::{Pointer, READ_MODELS};
use super::model::{Model, ScoreDoc, Totals, day_of, totals_of};
use crate::app::domain::leaderboard::Window;
use crate::store::{ChangeFeedPage, ChangeFeedRequest, ChangeFeedStart, Store, StoreError};

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
    fn put(&mut self, user: &str, name: String, days: BTreeMap<i64, i64>) {
        let key = self.put_user(user, name, days);
        if let Some(board) = self.users.get(&key) {
            for (set, score) in self.boards.iter_mut().zip(scores(&board.totals)) {
                set.insert((Reverse(score), key.clone()));
            }
        }
    }

    /// Stores the user (taking them off the boards if present) without placing them on the
    /// boards; returns their key.
    fn put_user(&mut self, user: &str, name: String, days: BTreeMap<i64, i64>) -> UserKey {
        let totals = totals_of(&days, self.today);
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
            days: days.into_iter().collect(),
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
            let days: BTreeMap<i64, i64> = board.days.iter().copied().collect();
            board.totals = totals_of(&days, today);
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

async fn read_page(store: &Store, start: ChangeFeedStart) -> Result<ChangeFeedPage, StoreError> {
    store
        .read_change_feed(READ_MODELS, &ChangeFeedRequest::new(start).max_items(PAGE))
        .await
}

/// Takes the leaderboard documents of `generation` from one change-feed page into the index.
fn absorb(state: &mut State, items: &[serde_json::Value], generation: u64, bulk: bool) {
    for doc in items {
        let is_score = doc.get("model").and_then(|m| m.as_str()) == Some(Model::Leaderboard.name())
            && doc.get("gen").and_then(|g| g.as_u64()) == Some(generation);
        if !is_score {
            continue;
        }
        // The document's own members (`userId`, `entries`, …) are read in place; its
        // envelope members are not fields of `ScoreDoc` and are skipped.
        match ScoreDoc::deserialize(doc) {
            // A player renamed before any award has a document but no place on the board.
            Ok(score) if score.entries.is_empty() => {}
            Ok(score) => {
                let days = score.days();
                if bulk {
                    state.put_user(&score.user_id, score.user_name, days);
                } else {
                    state.put(&score.user_id, score.user_name, days);
                }
            }
            Err(e) => tracing::warn!(error = %e, "skipped an unreadable leaderboard document"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_ties_and_windows() {
        let mut state = State {
            today: 100,
            ..State::default()
        };
        state.put("a", "A".into(), BTreeMap::from([(100, 6)]));
        state.put("b", "B".into(), BTreeMap::from([(99, 4)]));
        state.put("c", "C".into(), BTreeMap::from([(50, 4)]));
        state.put("d", "D".into(), BTreeMap::from([(100, 2)]));
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
        state.put("d", "D2".into(), BTreeMap::from([(100, 9)]));
        assert_eq!(state.row("d", Window::All).unwrap().rank, 1);
        assert_eq!(state.users.len(), 4);
        state.roll_to(106);
        assert_eq!(summary(state.top(Window::Days7, 1)), [(1, "d".into(), 9)]);
        state.roll_to(107);
        assert_eq!(state.row("d", Window::Days7).unwrap().score, 0);
        assert_eq!(state.row("d", Window::All).unwrap().score, 9);
    }
}
