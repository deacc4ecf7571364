//! The leaderboard index: ordered totals per window, kept in memory and fed by the
//! `ReadModels` change feed, so a top-N query is an ordered-set walk rather than a scan.
//!
//! The persisted leaderboard documents (one per user, awards by day) are the source of truth;
//! this index is a cache of them. Each query first reads the change feed from the index's own
//! continuation (usually an empty page), so every instance converges on what the processor
//! wrote, whichever instance wrote it. Windowed totals depend on the day: when the UTC day
//! changes the windows are recomputed from the per-day points.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Mutex;

use super::layout::{Pointer, READ_MODELS, body};
use super::model::{Model, ScoreDoc, Totals, day_of, totals_of};
use crate::app::domain::leaderboard::Window;
use crate::store::{ChangeFeedRequest, ChangeFeedStart, Store, StoreError};

/// Change-feed page size while catching up.
const PAGE: u32 = 2000;

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

struct UserBoard {
    name: String,
    days: BTreeMap<i64, i64>,
    totals: Totals,
}

type Board = BTreeSet<(Reverse<i64>, String)>;

#[derive(Default)]
struct State {
    generation: Option<u64>,
    continuation: Option<String>,
    today: i64,
    users: HashMap<String, UserBoard>,
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
    fn put(&mut self, user: String, name: String, days: BTreeMap<i64, i64>) {
        let totals = totals_of(&days, self.today);
        if let Some(old) = self.users.get(&user) {
            for (board, score) in self.boards.iter_mut().zip(scores(&old.totals)) {
                board.remove(&(Reverse(score), user.clone()));
            }
        }
        for (board, score) in self.boards.iter_mut().zip(scores(&totals)) {
            board.insert((Reverse(score), user.clone()));
        }
        self.users.insert(user, UserBoard { name, days, totals });
    }

    fn roll_to(&mut self, today: i64) {
        if today == self.today {
            return;
        }
        self.today = today;
        let users = std::mem::take(&mut self.users);
        self.boards = Default::default();
        for (user, board) in users {
            self.put(user, board.name, board.days);
        }
    }

    fn row(&self, user: &str, window: Window) -> Option<Row> {
        let board = self.users.get(user)?;
        let score = scores(&board.totals)[slot(window)];
        let better = self.boards[slot(window)]
            .range(..(Reverse(score), String::new()))
            .count();
        Some(Row {
            rank: u32::try_from(better + 1).unwrap_or(u32::MAX),
            user_id: user.to_owned(),
            user_name: board.name.clone(),
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
                .map(|b| b.name.clone())
                .unwrap_or_default();
            rows.push(Row {
                rank,
                user_id: user.clone(),
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
    loop {
        let start = state
            .continuation
            .clone()
            .map_or(ChangeFeedStart::Beginning, ChangeFeedStart::Continuation);
        let page = store
            .read_change_feed(READ_MODELS, &ChangeFeedRequest::new(start).max_items(PAGE))
            .await?;
        let done = page.items.is_empty();
        for doc in &page.items {
            let is_score = doc.get("model").and_then(|m| m.as_str())
                == Some(Model::Leaderboard.name())
                && doc.get("gen").and_then(|g| g.as_u64()) == Some(generation);
            if !is_score {
                continue;
            }
            match serde_json::from_value::<ScoreDoc>(body(doc)) {
                // A player renamed before any award has a document but no place on the board.
                Ok(score) if score.entries.is_empty() => {}
                Ok(score) => {
                    let days = score.days();
                    state.put(score.user_id, score.user_name, days);
                }
                Err(e) => tracing::warn!(error = %e, "skipped an unreadable leaderboard document"),
            }
        }
        state.continuation = Some(page.continuation);
        if done {
            return Ok(());
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
        state.put("a".into(), "A".into(), BTreeMap::from([(100, 6)]));
        state.put("b".into(), "B".into(), BTreeMap::from([(99, 4)]));
        state.put("c".into(), "C".into(), BTreeMap::from([(50, 4)]));
        state.put("d".into(), "D".into(), BTreeMap::from([(100, 2)]));
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
        state.put("d".into(), "D2".into(), BTreeMap::from([(100, 9)]));
        assert_eq!(state.row("d", Window::All).unwrap().rank, 1);
        assert_eq!(state.users.len(), 4);
        state.roll_to(106);
        assert_eq!(summary(state.top(Window::Days7, 1)), [(1, "d".into(), 9)]);
        state.roll_to(107);
        assert_eq!(state.row("d", Window::Days7).unwrap().score, 0);
        assert_eq!(state.row("d", Window::All).unwrap().score, 9);
    }
}
