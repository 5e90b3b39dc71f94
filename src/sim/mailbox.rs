//! Per-receiver FIFO queues: the engine's receive matching (`Mail` by
//! receiver, sender and tag).
//!
//! Contract: `take_or_push` is the only way in; receivers are numbered
//! below the count `new` was given. A receiver has few queues holding
//! anything at once (at most 4 in cerebras-cs3x4's batch-32 step, 6 in
//! groq-576's, 14 in the 8x8 mesh's uniform traffic; 1 to 3 half the
//! time), so its queues are a short list searched in order: the first
//! `INLINE` in a cache line of their own (the receiver's `Block`), any more
//! in a spill list. A queue emptied by a take leaves the list at once. A
//! hash table of every (receiver, sender, tag) missed the cache twice per
//! match on big systems (its control bytes and its bucket: 16% of
//! cerebras-cs3x4's step in `perf`); a block is one line.

use std::collections::VecDeque;

/// (receiver, sender, tag): what a queue is for.
pub type Key = (u32, u32, u32);

/// Queues a receiver keeps in its block.
const INLINE: usize = 3;

/// No overflow queue.
const NONE: u32 = u32::MAX;

/// One queue: a sender and tag, and a FIFO of items (never empty) whose
/// first item is stored inline: most queues never hold more than one, and
/// then need nothing else. The rest, if any, are in an overflow queue of
/// the `Mailboxes` (`more`).
#[derive(Clone, Copy)]
struct Queue<M> {
    sender: u32,
    tag: u32,
    first: M,
    /// Index of the overflow queue holding the items after `first`
    /// (`NONE`: there are none).
    more: u32,
}

/// A receiver's queues: `len` of them in `inline`, then `spill`'s.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Block<M> {
    inline: [Option<Queue<M>>; INLINE],
    len: u8,
    spilled: bool,
}

/// Where a queue is: in its receiver's block, or in the spill list.
#[derive(Clone, Copy)]
enum At {
    Inline(usize),
    Spill(usize),
}

pub struct Mailboxes<M> {
    blocks: Vec<Block<M>>,
    /// Per receiver, the queues beyond its block's (empty unless
    /// `spilled`).
    spill: Vec<Vec<Queue<M>>>,
    /// The items after the first of queues that hold several; a queue's
    /// overflow is freed (kept for reuse, empty) when it empties.
    overflow: Vec<VecDeque<M>>,
    free: Vec<u32>,
}

impl<M: Copy> Mailboxes<M> {
    /// Mailboxes for receivers 0..receivers.
    pub fn new(receivers: usize) -> Self {
        Mailboxes {
            blocks: vec![Block { inline: [None; INLINE], len: 0, spilled: false }; receivers],
            spill: (0..receivers).map(|_| Vec::new()).collect(),
            overflow: Vec::new(),
            free: Vec::new(),
        }
    }

    /// `receiver`'s queue of (`sender`, `tag`), if it holds anything.
    #[inline]
    fn find(&self, receiver: usize, sender: u32, tag: u32) -> Option<At> {
        let b = &self.blocks[receiver];
        let hit = |q: &Queue<M>| q.sender == sender && q.tag == tag;
        if let Some(i) = b.inline[..b.len as usize].iter().position(|q| q.as_ref().is_some_and(hit)) {
            return Some(At::Inline(i));
        }
        if b.spilled {
            return self.spill[receiver].iter().position(hit).map(At::Spill);
        }
        None
    }

    fn queue(&mut self, receiver: usize, at: At) -> &mut Queue<M> {
        match at {
            At::Inline(i) => self.blocks[receiver].inline[i].as_mut().expect("the first `len` queues are there"),
            At::Spill(i) => &mut self.spill[receiver][i],
        }
    }

    /// If the front of the queue of `key` = (receiver, sender, tag) is what
    /// `wanted` accepts, removes and returns it; otherwise queues `item()`
    /// at the back and returns `None`.
    pub fn take_or_push(&mut self, key: Key, wanted: impl Fn(&M) -> bool, item: impl FnOnce() -> M) -> Option<M> {
        let (r, sender, tag) = (key.0 as usize, key.1, key.2);
        let Some(at) = self.find(r, sender, tag) else {
            self.open(r, Queue { sender, tag, first: item(), more: NONE });
            return None;
        };
        let q = *self.queue(r, at);
        if wanted(&q.first) {
            if q.more == NONE {
                self.close(r, at);
            } else {
                let rest = &mut self.overflow[q.more as usize];
                let next = rest.pop_front().expect("an overflow queue in use holds an item");
                let more = if rest.is_empty() {
                    self.free.push(q.more);
                    NONE
                } else {
                    q.more
                };
                *self.queue(r, at) = Queue { first: next, more, ..q };
            }
            return Some(q.first);
        }
        let more = if q.more == NONE {
            let i = match self.free.pop() {
                Some(i) => i,
                None => {
                    self.overflow.push(VecDeque::new());
                    u32::try_from(self.overflow.len() - 1).expect("fewer than 2^32 queues hold several items")
                }
            };
            self.queue(r, at).more = i;
            i
        } else {
            q.more
        };
        self.overflow[more as usize].push_back(item());
        None
    }

    /// Adds a queue to receiver `r`'s list.
    fn open(&mut self, r: usize, q: Queue<M>) {
        let b = &mut self.blocks[r];
        if (b.len as usize) < INLINE {
            b.inline[b.len as usize] = Some(q);
            b.len += 1;
        } else {
            b.spilled = true;
            self.spill[r].push(q);
        }
    }

    /// Removes the (emptied) queue at `at` from receiver `r`'s list; the
    /// block stays full while the spill list has queues.
    fn close(&mut self, r: usize, at: At) {
        let spill = &mut self.spill[r];
        let b = &mut self.blocks[r];
        match at {
            At::Inline(i) => {
                let last = b.len as usize - 1;
                b.inline[i] = b.inline[last];
                match spill.pop() {
                    Some(q) => b.inline[last] = Some(q),
                    None => {
                        b.inline[last] = None;
                        b.len -= 1;
                    }
                }
            }
            At::Spill(i) => {
                spill.swap_remove(i);
            }
        }
        b.spilled = !spill.is_empty();
    }

    /// Every non-empty queue's items in order, keys (receiver, sender,
    /// tag) ascending (for reports).
    pub fn sorted(&self) -> Vec<(Key, Vec<&M>)> {
        let mut all: Vec<_> = self
            .blocks
            .iter()
            .zip(&self.spill)
            .enumerate()
            .flat_map(|(r, (b, spill))| {
                b.inline[..b.len as usize].iter().flatten().chain(spill).map(move |q| (r as u32, q))
            })
            .map(|(r, q)| ((r, q.sender, q.tag), self.items(q)))
            .collect();
        all.sort_unstable_by_key(|&(k, _)| k);
        all
    }

    /// `q`'s items in order.
    fn items<'a>(&'a self, q: &'a Queue<M>) -> Vec<&'a M> {
        let rest = (q.more != NONE).then(|| self.overflow[q.more as usize].iter());
        std::iter::once(&q.first).chain(rest.into_iter().flatten()).collect()
    }

    /// Queues held (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.blocks.iter().map(|b| b.len as usize).sum::<usize>() + self.spill.iter().map(Vec::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_match_in_order() {
        let mut m: Mailboxes<i32> = Mailboxes::new(8);
        let pos = |x: &i32| *x > 0;
        // Two negatives wait; a positive asking finds them in order.
        assert_eq!(m.take_or_push((7, 0, 0), pos, || -1), None);
        assert_eq!(m.take_or_push((7, 0, 0), pos, || -2), None);
        let neg = |x: &i32| *x < 0;
        assert_eq!(m.take_or_push((7, 0, 0), neg, || 5), Some(-1));
        assert_eq!(m.take_or_push((7, 0, 0), neg, || 6), Some(-2));
        assert!(m.sorted().is_empty(), "an emptied queue is not listed");
        assert_eq!(m.held(), 0, "an emptied queue is dropped");
        assert_eq!(m.take_or_push((3, 0, 0), neg, || 9), None);
        assert_eq!(m.take_or_push((1, 0, 0), neg, || 8), None);
        let keys: Vec<u32> = m.sorted().iter().map(|&(k, _)| k.0).collect();
        assert_eq!(keys, vec![1, 3]);
    }

    /// Random traffic on a few receivers with many senders and tags (so
    /// blocks fill and spill, and queues close from either), queues often
    /// several deep, against a map of plain FIFOs: the same answers and the
    /// same listing.
    #[test]
    fn matches_plain_fifos() {
        use std::collections::BTreeMap;
        let mut rng = crate::rng::Rng::new(11);
        let mut m: Mailboxes<i64> = Mailboxes::new(3);
        let mut reference: BTreeMap<Key, VecDeque<i64>> = BTreeMap::new();
        let mut most = 0;
        for n in 1..40_000i64 {
            let key = (rng.below(3) as u32, rng.below(4) as u32, rng.below(3) as u32);
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
            let live = reference.iter().filter(|(k, q)| k.0 == key.0 && !q.is_empty()).count();
            most = most.max(live);
            assert_eq!(m.held(), reference.values().filter(|q| !q.is_empty()).count(), "step {n}");
        }
        assert!(most > INLINE + 2, "some receiver spilled (at most {most} queues)");
        let listed: Vec<(Key, Vec<i64>)> =
            m.sorted().into_iter().map(|(k, q)| (k, q.into_iter().copied().collect())).collect();
        let expected: Vec<(Key, Vec<i64>)> =
            reference.into_iter().filter(|(_, q)| !q.is_empty()).map(|(k, q)| (k, q.into())).collect();
        assert_eq!(listed, expected);
    }
}
