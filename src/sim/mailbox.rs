//! Per-key FIFO queues that exist only while they hold something: the
//! engine's receive matching (`Mail` by receiver, sender and tag).
//!
//! Contract: `take_or_push` is the only way in; a queue emptied by it is
//! dropped from the map at once (its storage kept for the next key), so
//! the map holds the keys with mail waiting, not every key ever used. A
//! compiled model's tags name its operations, so keeping empty queues grew
//! the map with the trace (and hashing slowed with it).

use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::hash::Hash;

pub struct Mailboxes<K, M> {
    queues: FxHashMap<K, VecDeque<M>>,
    /// Emptied queues, reused so a new key allocates nothing.
    spare: Vec<VecDeque<M>>,
}

impl<K: Copy + Eq + Hash + Ord, M> Mailboxes<K, M> {
    pub fn new() -> Self {
        Mailboxes { queues: FxHashMap::default(), spare: Vec::new() }
    }

    /// If the front of `key`'s queue is what `wanted` accepts, removes and
    /// returns it; otherwise queues `item` at the back and returns `None`.
    pub fn take_or_push(&mut self, key: K, wanted: impl Fn(&M) -> bool, item: M) -> Option<M> {
        match self.queues.get_mut(&key) {
            Some(q) if q.front().is_some_and(&wanted) => {
                let m = q.pop_front();
                if q.is_empty() {
                    let q = self.queues.remove(&key).expect("the queue just popped");
                    self.spare.push(q);
                }
                m
            }
            Some(q) => {
                q.push_back(item);
                None
            }
            None => {
                let mut q = self.spare.pop().unwrap_or_default();
                q.push_back(item);
                self.queues.insert(key, q);
                None
            }
        }
    }

    /// Every non-empty queue, keys in ascending order (for reports).
    pub fn sorted(&self) -> Vec<(K, &VecDeque<M>)> {
        let mut all: Vec<_> = self.queues.iter().map(|(&k, q)| (k, q)).collect();
        all.sort_unstable_by_key(|&(k, _)| k);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_match_in_order_and_vanish_when_empty() {
        let mut m: Mailboxes<u32, i32> = Mailboxes::new();
        let pos = |x: &i32| *x > 0;
        // Two negatives wait; a positive asking finds them in order.
        assert_eq!(m.take_or_push(7, pos, -1), None);
        assert_eq!(m.take_or_push(7, pos, -2), None);
        let neg = |x: &i32| *x < 0;
        assert_eq!(m.take_or_push(7, neg, 5), Some(-1));
        assert_eq!(m.take_or_push(7, neg, 6), Some(-2));
        assert!(m.sorted().is_empty(), "an emptied queue is gone");
        assert_eq!(m.take_or_push(3, neg, 9), None);
        assert_eq!(m.take_or_push(1, neg, 8), None);
        let keys: Vec<u32> = m.sorted().iter().map(|&(k, _)| k).collect();
        assert_eq!(keys, vec![1, 3]);
    }
}
