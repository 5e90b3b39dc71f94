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
/// small (groq-576's 70B step held 9 MB less than at 1 << 16, in the same
/// time, when a bucket was 128 bytes).
const PURGE_FLOOR: usize = 1 << 12;

/// No overflow queue.
const NONE: u32 = u32::MAX;

/// A FIFO whose first item is stored inline: most queues never hold more
/// than one, and then need nothing else. The rest, if any, are in an
/// overflow queue of the `Mailboxes` (`more`), so a table bucket is the key
/// and two words (24 bytes for the engine's), not a `VecDeque` besides:
/// the buckets are what a match misses in the cache.
struct Queue<M> {
    first: Option<M>,
    /// Index of the overflow queue holding the items after `first`
    /// (`NONE`: there are none).
    more: u32,
}

impl<M> Default for Queue<M> {
    fn default() -> Self {
        Queue { first: None, more: NONE }
    }
}

impl<M> Queue<M> {
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

pub struct Mailboxes<K, M> {
    queues: FxHashMap<K, Queue<M>>,
    /// Queues in `queues` that are empty.
    empty: usize,
    /// The items after the first of queues that hold several; a queue's
    /// overflow is freed (kept for reuse, empty) when it empties.
    overflow: Vec<VecDeque<M>>,
    free: Vec<u32>,
}

impl<K: Copy + Eq + Hash + Ord, M> Mailboxes<K, M> {
    pub fn new() -> Self {
        Mailboxes { queues: FxHashMap::default(), empty: 0, overflow: Vec::new(), free: Vec::new() }
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
        if q.first.as_ref().is_some_and(&wanted) {
            let m = q.first.take();
            if q.more != NONE {
                let rest = &mut self.overflow[q.more as usize];
                q.first = rest.pop_front();
                if rest.is_empty() {
                    self.free.push(q.more);
                    q.more = NONE;
                }
            }
            if q.is_empty() {
                self.empty += 1;
                self.purge();
            }
            return m;
        }
        if q.first.is_none() {
            q.first = Some(item());
            return None;
        }
        if q.more == NONE {
            q.more = match self.free.pop() {
                Some(i) => i,
                None => {
                    self.overflow.push(VecDeque::new());
                    u32::try_from(self.overflow.len() - 1).expect("fewer than 2^32 queues hold several items")
                }
            };
        }
        self.overflow[q.more as usize].push_back(item());
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
            self.queues.iter().filter(|(_, q)| !q.is_empty()).map(|(&k, q)| (k, self.items(q))).collect();
        all.sort_unstable_by_key(|&(k, _)| k);
        all
    }

    /// `q`'s items in order.
    fn items<'a>(&'a self, q: &'a Queue<M>) -> Vec<&'a M> {
        let rest = (q.more != NONE).then(|| self.overflow[q.more as usize].iter());
        q.first.iter().chain(rest.into_iter().flatten()).collect()
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

    /// Random traffic on a few keys, queues often several deep, against a
    /// map of plain FIFOs: the same answers and the same listing.
    #[test]
    fn matches_plain_fifos() {
        use std::collections::BTreeMap;
        let mut rng = crate::rng::Rng::new(11);
        let mut m: Mailboxes<u32, i64> = Mailboxes::new();
        let mut reference: BTreeMap<u32, VecDeque<i64>> = BTreeMap::new();
        for n in 1..20_000i64 {
            let key = rng.below(6) as u32;
            // Mostly one side at a time, so queues grow and shrink.
            let positive = (n / 50) % 2 == 0 || rng.below(4) == 0;
            let item = if positive { n } else { -n };
            let wanted = move |x: &i64| (*x > 0) != positive;
            let want = {
                let q = reference.entry(key).or_default();
                if q.front().is_some_and(wanted) {
                    q.pop_front()
                } else {
                    q.push_back(item);
                    None
                }
            };
            assert_eq!(m.take_or_push(key, wanted, || item), want, "step {n}");
        }
        let listed: Vec<(u32, Vec<i64>)> =
            m.sorted().into_iter().map(|(k, q)| (k, q.into_iter().copied().collect())).collect();
        let expected: Vec<(u32, Vec<i64>)> =
            reference.into_iter().filter(|(_, q)| !q.is_empty()).map(|(k, q)| (k, q.into())).collect();
        assert_eq!(listed, expected);
    }
}
