//! An in-memory index of one subscription's queued Event Grid deliveries ordered by due time,
//! so a dispatcher finds its next due deliveries in O(batch) instead of scanning its queue.
//! The store stays the record: the index is filled from the queue on a dispatcher's first look
//! and kept in step with every enqueue, redelivery and removal of this process (the data
//! directory is locked to one process).
//!
//! Every [`DueIndex::set`] gets a new generation, so a dispatcher that saw an entry can drop it
//! only if nothing set it again since ([`DueIndex::remove_if_unchanged`]): a delivery
//! re-enqueued (same id) after the dispatcher found it missing stays in the index.

use std::collections::{BTreeSet, HashMap, HashSet};

/// Delivery ids by due time (unix ms).
#[derive(Debug, Default)]
pub struct DueIndex {
    by_due: BTreeSet<(i64, String)>,
    /// Each id's due time and the generation of its last `set`.
    due_of: HashMap<String, (i64, u64)>,
    generation: u64,
}

impl DueIndex {
    /// Records that `id` is queued and due at `due`, replacing an earlier due time.
    pub fn set(&mut self, id: &str, due: i64) {
        self.generation += 1;
        if let Some((old, _)) = self.due_of.insert(id.to_owned(), (due, self.generation)) {
            self.by_due.remove(&(old, id.to_owned()));
        }
        self.by_due.insert((due, id.to_owned()));
    }

    /// Records that `id` has left the queue.
    pub fn remove(&mut self, id: &str) {
        if let Some((old, _)) = self.due_of.remove(id) {
            self.by_due.remove(&(old, id.to_owned()));
        }
    }

    /// Removes `id` if it was not set again since [`DueIndex::due`] answered `generation`;
    /// true when removed.
    pub fn remove_if_unchanged(&mut self, id: &str, generation: u64) -> bool {
        match self.due_of.get(id) {
            Some(&(_, current)) if current == generation => {
                self.remove(id);
                true
            }
            _ => false,
        }
    }

    /// Up to `limit` ids due at or before `now` with their generations, earliest first,
    /// skipping `busy` ones, and the earliest due time after `now`.
    pub fn due(
        &self,
        now: i64,
        limit: usize,
        busy: &HashSet<String>,
    ) -> (Vec<(String, u64)>, Option<i64>) {
        let ids = self
            .by_due
            .iter()
            .take_while(|(due, _)| *due <= now)
            .filter(|(_, id)| !busy.contains(id))
            .take(limit)
            .map(|(_, id)| (id.clone(), self.due_of.get(id).map_or(0, |&(_, g)| g)))
            .collect();
        let next = self
            .by_due
            .range((now.saturating_add(1), String::new())..)
            .next()
            .map(|(due, _)| *due);
        (ids, next)
    }

    pub fn len(&self) -> usize {
        self.due_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due_of.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(due: (Vec<(String, u64)>, Option<i64>)) -> (Vec<String>, Option<i64>) {
        (due.0.into_iter().map(|(id, _)| id).collect(), due.1)
    }

    #[test]
    fn orders_by_due_time_and_follows_changes() {
        let mut index = DueIndex::default();
        index.set("c", 30);
        index.set("a", 10);
        index.set("b", 20);
        index.set("d", 50);
        let none = HashSet::new();
        assert_eq!(
            ids(index.due(25, 10, &none)),
            (vec!["a".to_owned(), "b".to_owned()], Some(30))
        );
        let busy: HashSet<String> = ["a".to_owned()].into();
        assert_eq!(
            ids(index.due(40, 1, &busy)),
            (vec!["b".to_owned()], Some(50))
        );
        index.set("a", 60);
        index.remove("b");
        assert_eq!(
            ids(index.due(40, 10, &none)),
            (vec!["c".to_owned()], Some(50))
        );
        assert_eq!(index.len(), 3);
        index.remove("missing");
        assert_eq!(ids(index.due(100, 10, &none)).0, ["c", "d", "a"]);
    }

    #[test]
    fn an_entry_set_again_after_a_look_survives_a_conditional_removal() {
        let mut index = DueIndex::default();
        index.set("a", 10);
        let (seen, _) = index.due(10, 10, &HashSet::new());
        let generation = seen[0].1;
        // Re-enqueued between the look and the removal.
        index.set("a", 12);
        assert!(!index.remove_if_unchanged("a", generation));
        assert_eq!(index.len(), 1);
        let (seen, _) = index.due(12, 10, &HashSet::new());
        assert!(index.remove_if_unchanged("a", seen[0].1));
        assert!(index.is_empty());
    }
}
