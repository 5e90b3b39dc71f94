//! Per-key FIFO queues: the engine's receive matching (`Mail` by
//! receiver, sender and tag).
//!
//! Contract: `take_or_push` is the only way in. Queues emptied by it stay
//! in the map (a synthetic-traffic run reuses its few keys for every
//! packet, and removing and re-inserting them cost more than the match)
//! until the emptied ones outnumber `PURGE_FLOOR` and four times the
//! others; then they are all dropped at once. A compiled model's tags name
//! its operations, so without the purge the map grew with the trace.

use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::hash::Hash;

/// Emptied queues kept before a purge is considered: the keys of an 8x8
/// mesh's uniform traffic (64 x 64) fit, so that run never purges (at
/// 1 << 10 it churned, and was slower), and a compiled model's table stays
/// small (a bucket is 128 bytes with the inline item; groq-576's 70B step
/// holds 9 MB less than at 1 << 16, in the same time).
const PURGE_FLOOR: usize = 1 << 12;

/// A FIFO whose first item is stored inline: most queues never hold more
/// than one, and then need no allocation.
struct Queue<M> {
    first: Option<M>,
    rest: VecDeque<M>,
}

impl<M> Default for Queue<M> {
    fn default() -> Self {
        Queue { first: None, rest: VecDeque::new() }
    }
}

impl<M> Queue<M> {
    fn front(&self) -> Option<&M> {
        self.first.as_ref()
    }
    fn pop_front(&mut self) -> Option<M> {
        let m = self.first.take();
        self.first = self.rest.pop_front();
        m
    }
    fn push_back(&mut self, m: M) {
        if self.first.is_none() {
            self.first = Some(m);
        } else {
            self.rest.push_back(m);
        }
    }
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }
    fn iter(&self) -> impl Iterator<Item = &M> {
        self.first.iter().chain(self.rest.iter())
    }
}

pub struct Mailboxes<K, M> {
    queues: FxHashMap<K, Queue<M>>,
    /// Queues in `queues` that are empty.
    empty: usize,
}

impl<K: Copy + Eq + Hash + Ord, M> Mailboxes<K, M> {
    pub fn new() -> Self {
        Mailboxes { queues: FxHashMap::default(), empty: 0 }
    }

    /// If the front of `key`'s queue is what `wanted` accepts, removes and
    /// returns it; otherwise queues `item()` at the back and returns `None`.
    pub fn take_or_push(&mut self, key: K, wanted: impl Fn(&M) -> bool, item: impl FnOnce() -> M) -> Option<M> {
        let q = match self.queues.entry(key) {
            Entry::Occupied(e) => {
                let q = e.into_mut();
                if q.is_empty() {
                    // An emptied queue used again.
                    self.empty -= 1;
                }
                q
            }
            Entry::Vacant(e) => e.insert(Queue::default()),
        };
        if q.front().is_some_and(&wanted) {
            let m = q.pop_front();
            if q.is_empty() {
                self.empty += 1;
                self.purge();
            }
            return m;
        }
        q.push_back(item());
        None
    }

    fn purge(&mut self) {
        let full = self.queues.len() - self.empty;
        if self.empty > PURGE_FLOOR && self.empty > 4 * full {
            self.queues.retain(|_, q| !q.is_empty());
            self.empty = 0;
        }
    }

    /// Every non-empty queue's items in order, keys ascending (for reports).
    pub fn sorted(&self) -> Vec<(K, Vec<&M>)> {
        let mut all: Vec<_> =
            self.queues.iter().filter(|(_, q)| !q.is_empty()).map(|(&k, q)| (k, q.iter().collect())).collect();
        all.sort_unstable_by_key(|&(k, _)| k);
        all
    }

    /// Queues held, empty ones included (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.queues.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_match_in_order() {
        let mut m: Mailboxes<u32, i32> = Mailboxes::new();
        let pos = |x: &i32| *x > 0;
        // Two negatives wait; a positive asking finds them in order.
        assert_eq!(m.take_or_push(7, pos, || -1), None);
        assert_eq!(m.take_or_push(7, pos, || -2), None);
        let neg = |x: &i32| *x < 0;
        assert_eq!(m.take_or_push(7, neg, || 5), Some(-1));
        assert_eq!(m.take_or_push(7, neg, || 6), Some(-2));
        assert!(m.sorted().is_empty(), "an emptied queue is not listed");
        assert_eq!(m.take_or_push(3, neg, || 9), None);
        assert_eq!(m.take_or_push(1, neg, || 8), None);
        let keys: Vec<u32> = m.sorted().iter().map(|&(k, _)| k).collect();
        assert_eq!(keys, vec![1, 3]);
    }

    #[test]
    fn emptied_queues_are_purged_once_they_dominate() {
        let mut m: Mailboxes<u32, i32> = Mailboxes::new();
        let neg = |x: &i32| *x < 0;
        let pos = |x: &i32| *x > 0;
        for k in 0..(PURGE_FLOOR as u32 + 10) {
            assert_eq!(m.take_or_push(k, pos, || -1), None);
            assert_eq!(m.take_or_push(k, neg, || 1), Some(-1));
        }
        assert!(m.held() < 20, "held {} after the purge", m.held());
        // A key reused while its queue is empty is counted right.
        assert_eq!(m.take_or_push(3, pos, || -1), None);
        assert_eq!(m.take_or_push(3, neg, || 1), Some(-1));
        assert_eq!(m.take_or_push(3, pos, || -2), None);
        assert_eq!(m.sorted().len(), 1);
    }
}
