//! The event queue: events pop in (cycle, insertion sequence) order, so
//! events at the same cycle run in the order they were scheduled and every
//! run of the same inputs is identical.
//!
//! It is a calendar queue: a ring of one-cycle buckets covering the next
//! `RING` cycles, with a bitmap of the occupied ones, and a binary heap for
//! events beyond the ring. When the ring runs dry it jumps to the earliest
//! far event and pulls everything that now falls inside it from the heap,
//! in order.
//!
//! A bucket is a FIFO list threaded through one pool of nodes (head and
//! tail indices in two small arrays): a schedule writes a node just freed
//! (still in cache), where a bucket of its own buffer missed the cache on
//! its header and its buffer (13% of a groq-576 run in `perf`). A pop takes
//! the head of the cursor's bucket and prefetches the next node, so the
//! walk of a bucket scheduled long ago does not wait on each node in turn.
//! Sequence numbers only grow, so each bucket in insertion order is in
//! (cycle, sequence) order.
//!
//! An event before the current cycle is refused (`PastEvent`): every
//! handler schedules at or after the event it is handling, so one in the
//! past is a bug in the model, and moving it to now (as the queue once did)
//! would hide it and change the timing silently. `schedule` records the
//! first refusal (`fault`), which ends the run (`pop` returns `None`) and
//! which the engine reports as an internal error; debug builds also stop
//! at once with an assertion.
//!
//! An event past `limits::MAX_SIM_CYCLES` is refused too, but as bad
//! input, not a bug: a trace's delays and work can add up to more time
//! than a run may simulate (time arithmetic saturates, src/units.rs, so an
//! overflowing instant lands here too). `schedule` records the first
//! (`beyond`), which also ends the run.

use crate::hint::prefetch;
use crate::limits::MAX_SIM_CYCLES;
use crate::units::Cycle;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Cycles the ring covers (at least half of it ahead of the cursor). HBM
/// systems schedule a part's completion when its channels will have served
/// it, often 4k-16k cycles ahead on dgx-h100's 70B decode step (a fifth of
/// its events): at 4,096 those went through the heap, 11% of the run.
const RING: usize = 16384;
const WORDS: usize = RING / 64;
/// No node: the end of a list.
const NIL: u32 = u32::MAX;

struct Entry<E> {
    at: u64,
    seq: u64,
    event: E,
}

/// A bucket's oldest and newest node (`NIL` when empty), together: a
/// schedule and a pop each touch one cache line of the ring.
#[derive(Clone, Copy)]
struct Ends {
    head: u32,
    tail: u32,
}

/// A scheduled event in a bucket's list, or a free node.
struct Node<E> {
    event: E,
    /// The bucket's next event, or the next free node.
    next: u32,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, o: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest pops first.
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// An event scheduled before the current cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an event was scheduled at cycle {at}, before the current cycle {now} (a simulator bug)")]
pub struct PastEvent {
    pub at: Cycle,
    pub now: Cycle,
}

pub struct EventQueue<E> {
    /// Bucket `t % RING`'s oldest and newest node, for t in the window
    /// (`NIL` when empty).
    ends: Vec<Ends>,
    nodes: Vec<Node<E>>,
    /// Nodes free for reuse, most recently freed first.
    free: u32,
    occupied: [u64; WORDS],
    /// The ring covers cycles [window, window + RING).
    window: u64,
    /// Cycle being drained.
    cursor: u64,
    far: BinaryHeap<Entry<E>>,
    seq: u64,
    now: Cycle,
    popped: u64,
    len: usize,
    /// The first event refused for being in the past.
    fault: Option<PastEvent>,
    /// The cycle of the first event refused for being past
    /// `MAX_SIM_CYCLES`.
    beyond: Option<Cycle>,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            ends: vec![Ends { head: NIL, tail: NIL }; RING],
            nodes: Vec::new(),
            free: NIL,
            occupied: [0; WORDS],
            window: 0,
            cursor: 0,
            far: BinaryHeap::new(),
            seq: 0,
            now: Cycle::ZERO,
            popped: 0,
            len: 0,
            fault: None,
            beyond: None,
        }
    }

    /// Appends `event` to the bucket of `at`, a cycle inside the ring.
    #[inline(always)]
    fn push_near(&mut self, at: u64, event: E) {
        let b = (at % RING as u64) as usize;
        let n = if self.free != NIL {
            let n = self.free;
            let node = &mut self.nodes[n as usize];
            self.free = node.next;
            *node = Node { event, next: NIL };
            n
        } else {
            let n = u32::try_from(self.nodes.len()).expect("fewer than 2^32 events in the ring");
            self.nodes.push(Node { event, next: NIL });
            n
        };
        let ends = &mut self.ends[b];
        match ends.tail {
            NIL => {
                ends.head = n;
                self.occupied[b / 64] |= 1 << (b % 64);
            }
            t => self.nodes[t as usize].next = n,
        }
        ends.tail = n;
    }

    /// Removes the oldest event of bucket `b` (not empty).
    #[inline]
    fn pop_bucket(&mut self, b: usize) -> E {
        let ends = &mut self.ends[b];
        let n = ends.head;
        let node = &mut self.nodes[n as usize];
        let (event, next) = (node.event, std::mem::replace(&mut node.next, self.free));
        self.free = n;
        ends.head = next;
        if next == NIL {
            ends.tail = NIL;
            self.occupied[b / 64] &= !(1 << (b % 64));
        } else {
            prefetch(&self.nodes[next as usize]);
        }
        event
    }

    /// Schedules `event` at `at`, which must not be in the past. An event
    /// in the past is refused: it is dropped and recorded as the queue's
    /// `fault`, which ends the run (debug builds assert). An event past
    /// `MAX_SIM_CYCLES` is dropped and recorded as `beyond`, which ends the
    /// run too.
    #[inline(always)]
    pub fn schedule(&mut self, at: Cycle, event: E) {
        if at.0 > MAX_SIM_CYCLES {
            self.beyond.get_or_insert(at);
            return;
        }
        if let Err(e) = self.try_schedule(at, event) {
            debug_assert!(false, "{e}");
            self.fault.get_or_insert(e);
        }
    }

    /// The cycle of the first event refused for being past
    /// `MAX_SIM_CYCLES`, if any.
    pub fn beyond(&self) -> Option<Cycle> {
        self.beyond
    }

    /// Schedules `event` at `at`, or refuses it if `at` is before the
    /// current cycle.
    #[inline(always)]
    pub fn try_schedule(&mut self, at: Cycle, event: E) -> Result<(), PastEvent> {
        if at < self.now {
            return Err(PastEvent { at, now: self.now });
        }
        let at = at.0;
        self.len += 1;
        if at < self.window + RING as u64 {
            self.push_near(at, event);
        } else {
            self.far.push(Entry { at, seq: self.seq, event });
        }
        self.seq += 1;
        Ok(())
    }

    /// The first event refused for being in the past, if any.
    pub fn fault(&self) -> Option<PastEvent> {
        self.fault
    }

    /// The next occupied cycle in [from, window + RING), if any.
    fn next_occupied(&self, from: u64) -> Option<u64> {
        let end = self.window + RING as u64;
        let mut t = from;
        while t < end {
            let b = (t % RING as u64) as usize;
            let word = self.occupied[b / 64] >> (b % 64);
            if word != 0 {
                let step = word.trailing_zeros() as u64;
                let cand = t + step;
                return (cand < end).then_some(cand);
            }
            // Skip to the next word boundary.
            t += 64 - (b % 64) as u64;
        }
        None
    }

    /// Removes the earliest event and advances the clock to it; `None` when
    /// no event is left or one was refused (`fault`, `beyond`).
    #[inline]
    pub fn pop(&mut self) -> Option<(Cycle, E)> {
        if self.fault.is_some() || self.beyond.is_some() {
            return None;
        }
        loop {
            let b = (self.cursor % RING as u64) as usize;
            if self.ends[b].head != NIL {
                let e = self.pop_bucket(b);
                return Some(self.emit(e));
            }
            if self.len == 0 {
                return None;
            }
            if let Some(t) = self.next_occupied(self.cursor + 1) {
                self.cursor = t;
                // Slide the ring forward so new events keep landing in it.
                if t - self.window > RING as u64 / 2 {
                    self.window = t;
                    self.pull_far();
                }
                continue;
            }
            // The ring is empty: jump to the earliest far event.
            let first = self.far.peek().expect("events remain beyond the ring").at;
            self.window = first;
            self.cursor = first;
            self.pull_far();
        }
    }

    /// Moves far events that now fall inside the ring into their buckets.
    /// Those buckets are empty (their cycles were far until now), and the
    /// heap gives the events in order, so buckets stay in sequence order.
    fn pull_far(&mut self) {
        while self.far.peek().is_some_and(|e| e.at < self.window + RING as u64) {
            let e = self.far.pop().expect("peeked");
            self.push_near(e.at, e.event);
        }
    }

    #[inline]
    fn emit(&mut self, e: E) -> (Cycle, E) {
        self.len -= 1;
        self.popped += 1;
        self.now = Cycle(self.cursor);
        (self.now, e)
    }

    /// The two events that pop next, as far as they are in the current
    /// cycle's bucket (`None` past it, even if events remain): a look ahead
    /// for prefetching.
    #[inline(always)]
    pub fn peek_near(&self) -> (Option<E>, Option<E>) {
        let first = self.ends[(self.cursor % RING as u64) as usize].head;
        if first == NIL {
            return (None, None);
        }
        let a = &self.nodes[first as usize];
        let b = (a.next != NIL).then(|| self.nodes[a.next as usize].event);
        (Some(a.event), b)
    }

    pub fn now(&self) -> Cycle {
        self.now
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Events handled so far.
    pub fn processed(&self) -> u64 {
        self.popped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_pop_in_schedule_order() {
        let mut q = EventQueue::new();
        q.schedule(Cycle(5), 'b');
        q.schedule(Cycle(3), 'a');
        q.schedule(Cycle(5), 'c');
        q.schedule(Cycle(5), 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['a', 'b', 'c', 'd']);
        assert_eq!(q.now(), Cycle(5));
    }

    #[test]
    fn an_event_in_the_past_is_refused() {
        let mut q = EventQueue::new();
        q.schedule(Cycle(10), 'a');
        assert_eq!(q.pop(), Some((Cycle(10), 'a')));
        assert_eq!(q.try_schedule(Cycle(9), 'b'), Err(PastEvent { at: Cycle(9), now: Cycle(10) }));
        assert!(q.is_empty(), "a refused event is not queued");
        // Now is not the past.
        assert_eq!(q.try_schedule(Cycle(10), 'c'), Ok(()));
        assert_eq!(q.pop(), Some((Cycle(10), 'c')));
        assert_eq!(q.fault(), None);
    }

    /// Release builds: `schedule` records the refusal and the queue stops.
    #[test]
    #[cfg(not(debug_assertions))]
    fn a_refused_event_stops_the_queue() {
        let mut q = EventQueue::new();
        q.schedule(Cycle(10), 'a');
        assert_eq!(q.pop(), Some((Cycle(10), 'a')));
        q.schedule(Cycle(20), 'b');
        q.schedule(Cycle(3), 'c');
        assert_eq!(q.fault(), Some(PastEvent { at: Cycle(3), now: Cycle(10) }));
        assert_eq!(q.pop(), None);
    }

    /// Debug builds: `schedule` asserts.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "before the current cycle")]
    fn a_refused_event_asserts_in_debug_builds() {
        let mut q = EventQueue::new();
        q.schedule(Cycle(10), 'a');
        q.pop();
        q.schedule(Cycle(3), 'c');
    }

    /// Past `MAX_SIM_CYCLES` is bad input, not a bug: refused in every
    /// build, and the queue stops.
    #[test]
    fn an_event_past_the_longest_run_is_refused() {
        let mut q = EventQueue::new();
        q.schedule(Cycle(MAX_SIM_CYCLES), 'a');
        assert_eq!(q.pop(), Some((Cycle(MAX_SIM_CYCLES), 'a')));
        q.schedule(Cycle(MAX_SIM_CYCLES), 'b');
        q.schedule(Cycle(MAX_SIM_CYCLES + 1), 'c');
        q.schedule(Cycle(u64::MAX), 'd');
        assert_eq!(q.beyond(), Some(Cycle(MAX_SIM_CYCLES + 1)));
        assert_eq!(q.fault(), None);
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn matches_a_sorted_reference_across_the_ring_and_beyond() {
        // Events near and far (beyond the ring), scheduled while popping.
        let mut rng = crate::rng::Rng::new(3);
        let mut q = EventQueue::new();
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let mut seq = 0u64;
        let mut popped = Vec::new();
        for round in 0..2000 {
            let now = q.now().0;
            for _ in 0..rng.below(4) {
                let at = now + if rng.below(3) == 0 { rng.below(100_000) } else { rng.below(50) };
                q.schedule(Cycle(at), seq);
                reference.push((at, seq));
                seq += 1;
            }
            if round % 2 == 0
                && let Some((t, e)) = q.pop()
            {
                popped.push((t.0, e));
            }
        }
        while let Some((t, e)) = q.pop() {
            popped.push((t.0, e));
        }
        // Popping interleaved with scheduling still yields (time, seq) order
        // among events that were pending together; overall times never go back.
        assert!(popped.windows(2).all(|w| w[0].0 <= w[1].0));
        reference.sort();
        let mut got: Vec<(u64, u64)> = popped.clone();
        got.sort();
        assert_eq!(got, reference);
        for w in popped.windows(2) {
            if w[0].0 == w[1].0 {
                assert!(w[0].1 < w[1].1, "same-cycle events out of order: {w:?}");
            }
        }
    }
}
