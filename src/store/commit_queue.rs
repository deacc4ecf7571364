//! Group commit's queue: concurrent writers share one durable commit.
//!
//! A writer pushes its job; the first writer to find no leader becomes the leader and drains
//! the queue group by group, one transaction and one fsync per group. Jobs that arrive while the
//! leader's commit is running wait in the queue and form the next group, so the commit rate stays
//! at the disk's fsync rate while the write rate grows with the number of writers. Every job is
//! answered only after the commit holding it has returned.

use std::sync::Mutex;

struct State<J> {
    pending: Vec<J>,
    leading: bool,
}

/// The queue of jobs waiting for the next commit.
pub(crate) struct CommitQueue<J> {
    state: Mutex<State<J>>,
    max_group: usize,
}

impl<J> CommitQueue<J> {
    /// A queue whose groups hold at most `max_group` jobs.
    pub(crate) fn new(max_group: usize) -> Self {
        Self {
            state: Mutex::new(State {
                pending: Vec::new(),
                leading: false,
            }),
            max_group: max_group.max(1),
        }
    }

    /// Queues `job`. Returns `true` when the caller has become the leader and must call
    /// [`CommitQueue::next_group`] until it returns `None`.
    pub(crate) fn push(&self, job: J) -> bool {
        let mut state = self.lock();
        state.pending.push(job);
        !std::mem::replace(&mut state.leading, true)
    }

    /// The leader's next group, oldest first; `None` (and the leadership released) when the
    /// queue is empty.
    pub(crate) fn next_group(&self) -> Option<Vec<J>> {
        let mut state = self.lock();
        if state.pending.is_empty() {
            state.leading = false;
            return None;
        }
        let rest = if state.pending.len() > self.max_group {
            state.pending.split_off(self.max_group)
        } else {
            Vec::new()
        };
        Some(std::mem::replace(&mut state.pending, rest))
    }

    /// Releases the leadership and drops every queued job (their writers see the leader gone);
    /// called when a leader unwinds, so later writers are not left waiting for it.
    pub(crate) fn abandon(&self) {
        let mut state = self.lock();
        state.pending.clear();
        state.leading = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<J>> {
        // The state is a Vec and a flag, consistent after every statement: a poisoned lock
        // (a panic elsewhere while holding it) leaves nothing half-done.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::CommitQueue;

    #[test]
    fn first_writer_leads_and_later_writers_join_its_next_group() {
        let queue = CommitQueue::new(2);
        assert!(queue.push(1));
        assert!(!queue.push(2));
        assert!(!queue.push(3));
        assert_eq!(queue.next_group(), Some(vec![1, 2]));
        assert!(!queue.push(4));
        assert_eq!(queue.next_group(), Some(vec![3, 4]));
        assert_eq!(queue.next_group(), None);
        assert!(
            queue.push(5),
            "the leadership is free again once the queue drained"
        );
    }

    #[test]
    fn an_abandoned_queue_has_no_leader_and_no_jobs() {
        let queue = CommitQueue::new(8);
        assert!(queue.push(1));
        queue.abandon();
        assert!(queue.push(2));
        assert_eq!(queue.next_group(), Some(vec![2]));
    }
}
