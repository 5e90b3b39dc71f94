//! A last-level cache in front of HBM (`[hbm.cache]`, a GPU's L2): one
//! slice per HBM stack, each caching that stack's share of the address
//! space, least recently used out.
//!
//! Timing contract (arch/timing.md, "HBM cache (L2)"): a load's request
//! reaches each stack's slice; the bytes of the range the slice holds are
//! ready a hit latency later (or when the fill that brought them in
//! completes, if it has not yet: a miss in flight is waited for, not
//! fetched twice), the rest are missing ranges the DRAM channels serve a
//! controller latency later, and the whole range is then resident.
//! Stores write through: they go to the DRAM as before and leave their
//! range resident. Data leaves a slice over the stack's port, which with a
//! cache runs at the cache's bandwidth per stack.
//!
//! Addresses are qualified by the loop iterations of the access
//! (`context`): the compiler emits one layer's instructions inside a
//! `loop` over the layers, so the same address in two iterations stands for
//! two layers' data (arch/isa.md, "loop"); an access hits only data of its
//! own iteration.
//!
//! Tracking is by address range, not by line: each slice keeps disjoint
//! ranges of global addresses, each with the time it was last used and the
//! tick its data is (or will be) there. An access merges its range into one
//! entry; eviction takes bytes from the front of the least recently used
//! entry. So the cost of an access grows with the entries it touches or
//! evicts (and, mildly, with the entries held), never with its bytes, and an
//! access of N bytes counts as N bytes of occupancy whatever its alignment
//! (no line granularity: a partially used line is not charged as a whole).
//! Occupancy counts each slice's own bytes of a range (its interleave
//! granules), so the slices together hold `capacity`.

use crate::units::Tick;
use std::collections::{BTreeMap, VecDeque, btree_map};

/// One resident range of a slice, [start, end); the map key holds `end`.
#[derive(Clone, Copy, Debug)]
struct Entry {
    start: u64,
    /// Last use (a counter: larger is more recent).
    used: u64,
    /// When the data is in the slice.
    ready: Tick,
}

/// Resident ranges by (context, end address), disjoint: those overlapping
/// [a, b) are the first ones keyed past a, up to the first that starts at
/// or after b (one range query). The key is one `u128`, context in the
/// high half (cheaper to compare than a tuple; the same order).
#[derive(Clone, Default)]
struct Entries(BTreeMap<u128, Entry>);

fn key(ctx: u64, end: u64) -> u128 {
    (ctx as u128) << 64 | end as u128
}

impl Entries {
    /// (end, entry) of the entries of `ctx` keyed at or after `end`, in order.
    fn from(&self, ctx: u64, end: u64) -> impl Iterator<Item = (u64, Entry)> + '_ {
        // Open-ended: the search descends once, for the lower bound.
        self.0.range(key(ctx, end)..).take_while(move |&(&k, _)| (k >> 64) as u64 == ctx).map(|(&k, &e)| (k as u64, e))
    }
    fn insert(&mut self, ctx: u64, end: u64, e: Entry) {
        let old = self.0.insert(key(ctx, end), e);
        debug_assert!(old.is_none(), "entries are disjoint");
    }
    fn remove(&mut self, ctx: u64, end: u64) {
        let old = self.0.remove(&key(ctx, end));
        debug_assert!(old.is_some(), "entry to remove");
    }
    fn get_mut(&mut self, ctx: u64, end: u64) -> Option<&mut Entry> {
        self.0.get_mut(&key(ctx, end))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    /// (last use, context, start, end) of every entry.
    fn live(&self) -> impl Iterator<Item = (u64, u64, u64, u64)> + '_ {
        self.0.iter().map(|(&k, e)| (e.used, (k >> 64) as u64, e.start, k as u64))
    }
}

/// How addresses spread over the stacks: stack s holds the granules g of
/// `interleave` bytes with g mod stacks = s.
#[derive(Clone, Copy)]
struct Layout {
    stacks: u64,
    interleave: u64,
}

impl Layout {
    /// Bytes of [0, x) in stack `s`'s granules.
    fn below(self, s: u64, x: u64) -> u64 {
        let period = self.interleave * self.stacks;
        let q = x / period;
        q * self.interleave + (x - q * period).saturating_sub(s * self.interleave).min(self.interleave)
    }

    /// Bytes of [a, b) in stack `s`'s granules.
    fn share(self, s: u64, a: u64, b: u64) -> u64 {
        self.below(s, b) - self.below(s, a)
    }

    /// The smallest x with `below(s, x) >= n`.
    fn at_share(self, s: u64, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let period = self.interleave * self.stacks;
        let (q, r) = ((n - 1) / self.interleave, (n - 1) % self.interleave + 1);
        q * period + s * self.interleave + r
    }
}

#[derive(Default)]
struct Slice {
    entries: Entries,
    /// (last use, context, start, end) in order of use, least recent first:
    /// the entries of that last use within [start, end) (one entry, or the
    /// parts left of one an access split). Items whose entries are gone or
    /// have been used since are stale and skipped (lazy deletion: every
    /// access costs O(1) here).
    lru: VecDeque<(u64, u64, u64, u64)>,
    /// Bytes of this slice's granules held.
    held: u64,
}

/// What a slice had of a range when a request reached it (the missing
/// parts are in `Cache::missing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// This slice's bytes of the range that were resident.
    pub hit_bytes: u64,
    /// Earliest and latest instant at which resident parts are (or will
    /// be) in the slice (`Tick::NEVER`, `Tick::ZERO` without hits).
    pub hit_first: Tick,
    pub hit_last: Tick,
}

/// The cache of every chip of a system: slice `chip * stacks + stack`.
pub struct Cache {
    slices: Vec<Slice>,
    layout: Layout,
    /// Bytes each slice may hold.
    per_slice: u64,
    clock: u64,
    /// The missing parts of the last access, as global address ranges
    /// (start, bytes); reused, so an access allocates nothing.
    pub missing: Vec<(u64, u64)>,
    /// Scratch: (end, entry) of the entries an access replaces or evicts.
    found: Vec<(u64, Entry)>,
}

impl Cache {
    /// A cache of `capacity` bytes per chip over `stacks` stacks whose
    /// channels interleave in granules of `interleave` bytes (stack s holds
    /// granules g with g mod stacks = s), for `chips` chips.
    pub fn new(chips: u32, stacks: u32, interleave: u64, capacity: u64) -> Cache {
        Cache {
            slices: (0..chips * stacks).map(|_| Slice::default()).collect(),
            layout: Layout { stacks: stacks as u64, interleave },
            per_slice: capacity / stacks as u64,
            clock: 0,
            missing: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Bytes of [0, x) in stack `s`'s granules.
    fn below(&self, s: u64, x: u64) -> u64 {
        self.layout.below(s, x)
    }

    /// Bytes of [a, b) in stack `s`'s granules.
    pub fn share(&self, s: u64, a: u64, b: u64) -> u64 {
        self.layout.share(s, a, b)
    }

    /// The smallest x with `below(s, x) >= n`.
    fn at_share(&self, s: u64, n: u64) -> u64 {
        self.layout.at_share(s, n)
    }

    /// Collects into `found` the entries of `slice` in context `ctx`
    /// overlapping [addr, end).
    fn collect_overlapping(&mut self, slice: usize, ctx: u64, addr: u64, end: u64) {
        let mut found = std::mem::take(&mut self.found);
        found.clear();
        found.extend(self.slices[slice].entries.from(ctx, addr + 1).take_while(|(_, e)| e.start < end));
        self.found = found;
    }

    /// A request for [addr, addr + bytes) in context `ctx` reaches slice
    /// `slice` (stack `stack` of its chip) at `now`. Returns what was
    /// resident (ready `hit` ticks after `now` at the earliest), leaves the
    /// missing parts in `self.missing`, and makes the whole range one
    /// resident entry, most recently used, evicting least recently used
    /// bytes beyond the slice's capacity. The caller fetches the missing
    /// parts and reports when they are in with `filled`.
    ///
    /// Entries that keep their key (end address) are changed in place, so
    /// the common cases cost one range query and at most one more lookup:
    /// a range nothing overlaps (one insert), a range that is exactly one
    /// entry (one update), a range inside one entry.
    #[allow(clippy::too_many_arguments)]
    pub fn access(&mut self, slice: usize, stack: u32, ctx: u64, addr: u64, bytes: u64, now: Tick, hit: u64) -> Lookup {
        let s = stack as u64;
        let end = addr + bytes;
        let mut out = Lookup { hit_bytes: 0, hit_first: Tick::NEVER, hit_last: Tick::ZERO };
        self.missing.clear();
        if bytes == 0 {
            return out;
        }
        self.collect_overlapping(slice, ctx, addr, end);
        let found = std::mem::take(&mut self.found);
        let keep = self.per_slice > 0;
        // The entry keyed `end`, if one overlaps: the new entry replaces it
        // in place (it is the last one found).
        let mut reuse = false;
        let mut at = addr;
        for &(e_end, e) in &found {
            let (a, b) = (e.start.max(addr), e_end.min(end));
            if a > at {
                self.missing.push((at, a - at));
            }
            let n = self.share(s, a, b);
            if n > 0 {
                let ready = e.ready.max(now + hit);
                out.hit_bytes += n;
                out.hit_first = out.hit_first.min(ready);
                out.hit_last = out.hit_last.max(ready);
            }
            at = b;
            // The parts outside the range stay: a tail past `end` keeps the
            // entry's key, a head before `addr` is keyed `addr`.
            if e_end > end {
                self.slices[slice].held -= self.share(s, e.start, end);
                if let Some(t) = self.slices[slice].entries.get_mut(ctx, e_end) {
                    t.start = end;
                }
            } else if e_end == end && keep {
                self.slices[slice].held -= self.share(s, e.start, end);
                reuse = true;
            } else {
                self.remove(slice, s, ctx, e_end, e);
            }
            if e.start < addr {
                self.put(slice, s, ctx, addr, Entry { ..e });
            }
        }
        self.found = found;
        if at < end {
            self.missing.push((at, end - at));
        }
        if keep {
            self.clock += 1;
            let used = self.clock;
            let e = Entry { start: addr, used, ready: out.hit_last };
            if reuse {
                self.slices[slice].held += self.share(s, addr, end);
                if let Some(t) = self.slices[slice].entries.get_mut(ctx, end) {
                    *t = e;
                }
            } else {
                self.put(slice, s, ctx, end, e);
            }
            self.slices[slice].lru.push_back((used, ctx, addr, end));
            self.evict(slice, s);
        }
        out
    }

    /// The missing parts of the access of [addr, end) in context `ctx` are
    /// in slice `slice` at `ready`.
    pub fn filled(&mut self, slice: usize, ctx: u64, end: u64, ready: Tick) {
        if let Some(e) = self.slices[slice].entries.get_mut(ctx, end) {
            e.ready = e.ready.max(ready);
        }
    }

    /// A store of [addr, addr + bytes) in context `ctx` reached slice
    /// `slice` (stack `stack`) and is in it at `at` (write-through:
    /// resident, most recently used).
    pub fn write(&mut self, slice: usize, stack: u32, ctx: u64, addr: u64, bytes: u64, at: Tick) {
        self.access(slice, stack, ctx, addr, bytes, at, 0);
        self.filled(slice, ctx, addr + bytes, at);
    }

    /// Adds an entry (its LRU item is the caller's business).
    fn put(&mut self, slice: usize, s: u64, ctx: u64, end: u64, e: Entry) {
        let n = self.share(s, e.start, end);
        let sl = &mut self.slices[slice];
        sl.held += n;
        sl.entries.insert(ctx, end, e);
    }

    /// Removes an entry (its LRU item goes stale).
    fn remove(&mut self, slice: usize, s: u64, ctx: u64, end: u64, e: Entry) {
        self.slices[slice].entries.remove(ctx, end);
        self.slices[slice].held -= self.share(s, e.start, end);
    }

    /// Evicts from the least recently used entries until the slice fits.
    fn evict(&mut self, slice: usize, s: u64) {
        let mut parts = std::mem::take(&mut self.found);
        'items: while self.slices[slice].held > self.per_slice {
            let (used, ctx, start, end) =
                self.slices[slice].lru.pop_front().expect("a slice over capacity holds entries");
            // The usual case: the item's entry, whole (one lookup). The
            // slice is over capacity, so some of it goes.
            let (lay, per_slice) = (self.layout, self.per_slice);
            let sl = &mut self.slices[slice];
            if let btree_map::Entry::Occupied(mut o) = sl.entries.0.entry(key(ctx, end)) {
                let e = *o.get();
                if e.used == used && e.start == start {
                    let over = sl.held - per_slice;
                    let n = lay.share(s, start, end);
                    if n > over {
                        // Keep the tail: drop just enough from the front
                        // (the entry keeps its key); it stays least
                        // recently used.
                        let cut = lay.at_share(s, lay.below(s, start) + over).min(end);
                        if cut < end {
                            sl.held -= lay.share(s, start, cut);
                            o.get_mut().start = cut;
                        } else {
                            sl.held -= n;
                            o.remove();
                        }
                        sl.lru.push_front((used, ctx, cut, end));
                        break 'items;
                    }
                    sl.held -= n;
                    o.remove();
                    continue 'items;
                }
            }
            // The parts left of an entry an access split.
            parts.clear();
            parts.extend(
                self.slices[slice]
                    .entries
                    .from(ctx, start + 1)
                    .take_while(|&(k, _)| k <= end)
                    .filter(|(_, e)| e.used == used),
            );
            for &(e_end, e) in &parts {
                let held = self.slices[slice].held;
                if held <= self.per_slice {
                    self.slices[slice].lru.push_front((used, ctx, e.start, end));
                    break 'items;
                }
                let over = held - self.per_slice;
                if self.share(s, e.start, e_end) > over {
                    // Keep the tail: drop just enough from the front (the
                    // entry keeps its key); it (and any later part) stays
                    // least recently used.
                    let cut = self.at_share(s, self.below(s, e.start) + over).min(e_end);
                    if cut < e_end {
                        self.slices[slice].held -= self.share(s, e.start, cut);
                        if let Some(t) = self.slices[slice].entries.get_mut(ctx, e_end) {
                            t.start = cut;
                        }
                    } else {
                        self.remove(slice, s, ctx, e_end, e);
                    }
                    self.slices[slice].lru.push_front((used, ctx, cut, end));
                    break 'items;
                }
                self.remove(slice, s, ctx, e_end, e);
            }
        }
        self.found = parts;
        // Stale items accumulate while nothing is evicted: compact.
        let sl = &mut self.slices[slice];
        if sl.lru.len() > 64 + 4 * sl.entries.len() {
            let mut live: Vec<_> = sl.entries.live().collect();
            live.sort_unstable();
            sl.lru = live.into();
        }
    }

    /// Bytes slice `slice` holds (for tests).
    pub fn held(&self, slice: usize) -> u64 {
        self.slices[slice].held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The implementation before in-place updates (remove and reinsert of
    /// every entry an access or eviction touches), kept as the reference the
    /// property test below compares with.
    #[allow(dead_code)]
    mod reference {
        use super::super::Lookup;
        use crate::units::Tick;
        use std::collections::{BTreeMap, VecDeque};

        /// One resident range of a slice, [start, end); the map key holds `end`.
        #[derive(Clone, Copy, Debug)]
        struct Entry {
            start: u64,
            /// Last use (a counter: larger is more recent).
            used: u64,
            /// Tick the data is in the slice.
            ready: u64,
        }

        /// Resident ranges by (context, end address), disjoint: those overlapping
        /// [a, b) are the first ones keyed past a, up to the first that starts at
        /// or after b (one range query).
        #[derive(Clone, Default)]
        struct Entries(BTreeMap<(u64, u64), Entry>);

        impl Entries {
            /// (end, entry) of the entries of `ctx` keyed at or after `key`, in order.
            fn from(&self, ctx: u64, key: u64) -> impl Iterator<Item = (u64, Entry)> + '_ {
                // Open-ended: the search descends once, for the lower bound.
                self.0.range((ctx, key)..).take_while(move |(k, _)| k.0 == ctx).map(|(&(_, k), &e)| (k, e))
            }
            fn get(&self, ctx: u64, end: u64) -> Option<Entry> {
                self.0.get(&(ctx, end)).copied()
            }
            fn insert(&mut self, ctx: u64, end: u64, e: Entry) {
                let old = self.0.insert((ctx, end), e);
                debug_assert!(old.is_none(), "entries are disjoint");
            }
            fn remove(&mut self, ctx: u64, end: u64) {
                let old = self.0.remove(&(ctx, end));
                debug_assert!(old.is_some(), "entry to remove");
            }
            fn get_mut(&mut self, ctx: u64, end: u64) -> Option<&mut Entry> {
                self.0.get_mut(&(ctx, end))
            }
            fn len(&self) -> usize {
                self.0.len()
            }
            fn live(&self) -> impl Iterator<Item = (u64, u64, u64, u64)> + '_ {
                self.0.iter().map(|(&(c, k), e)| (e.used, c, e.start, k))
            }
        }

        #[derive(Default)]
        struct Slice {
            entries: Entries,
            /// (last use, context, start, end) in order of use, least recent first:
            /// the entries of that last use within [start, end) (one entry, or the
            /// parts left of one an access split). Items whose entries are gone or
            /// have been used since are stale and skipped (lazy deletion: every
            /// access costs O(1) here).
            lru: VecDeque<(u64, u64, u64, u64)>,
            /// Bytes of this slice's granules held.
            held: u64,
        }

        /// The cache of every chip of a system: slice `chip * stacks + stack`.
        pub struct Cache {
            slices: Vec<Slice>,
            stacks: u64,
            interleave: u64,
            /// Bytes each slice may hold.
            per_slice: u64,
            clock: u64,
            /// The missing parts of the last access, as global address ranges
            /// (start, bytes); reused, so an access allocates nothing.
            pub missing: Vec<(u64, u64)>,
            /// Scratch: (end, entry) of the entries an access replaces or evicts.
            found: Vec<(u64, Entry)>,
        }

        impl Cache {
            /// A cache of `capacity` bytes per chip over `stacks` stacks whose
            /// channels interleave in granules of `interleave` bytes (stack s holds
            /// granules g with g mod stacks = s), for `chips` chips.
            pub fn new(chips: u32, stacks: u32, interleave: u64, capacity: u64) -> Cache {
                Cache {
                    slices: (0..chips * stacks).map(|_| Slice::default()).collect(),
                    stacks: stacks as u64,
                    interleave,
                    per_slice: capacity / stacks as u64,
                    clock: 0,
                    missing: Vec::new(),
                    found: Vec::new(),
                }
            }

            /// Bytes of [0, x) in stack `s`'s granules.
            fn below(&self, s: u64, x: u64) -> u64 {
                let period = self.interleave * self.stacks;
                let q = x / period;
                q * self.interleave + (x - q * period).saturating_sub(s * self.interleave).min(self.interleave)
            }

            /// Bytes of [a, b) in stack `s`'s granules.
            pub fn share(&self, s: u64, a: u64, b: u64) -> u64 {
                self.below(s, b) - self.below(s, a)
            }

            /// The smallest x with `below(s, x) >= n`.
            fn at_share(&self, s: u64, n: u64) -> u64 {
                if n == 0 {
                    return 0;
                }
                let period = self.interleave * self.stacks;
                let (q, r) = ((n - 1) / self.interleave, (n - 1) % self.interleave + 1);
                q * period + s * self.interleave + r
            }

            /// Collects into `found` the entries of `slice` in context `ctx`
            /// overlapping [addr, end).
            fn collect_overlapping(&mut self, slice: usize, ctx: u64, addr: u64, end: u64) {
                let mut found = std::mem::take(&mut self.found);
                found.clear();
                found.extend(self.slices[slice].entries.from(ctx, addr + 1).take_while(|(_, e)| e.start < end));
                self.found = found;
            }

            /// A request for [addr, addr + bytes) in context `ctx` reaches slice
            /// `slice` (stack `stack` of its chip) at tick `now`. Returns what was
            /// resident (ready `hit` ticks after `now` at the earliest), leaves the
            /// missing parts in `self.missing`, and makes the whole range one
            /// resident entry, most recently used, evicting least recently used
            /// bytes beyond the slice's capacity. The caller fetches the missing
            /// parts and reports when they are in with `filled`.
            #[allow(clippy::too_many_arguments)]
            pub fn access(
                &mut self,
                slice: usize,
                stack: u32,
                ctx: u64,
                addr: u64,
                bytes: u64,
                now: u64,
                hit: u64,
            ) -> Lookup {
                let s = stack as u64;
                let end = addr + bytes;
                let mut out = Lookup { hit_bytes: 0, hit_first: Tick::NEVER, hit_last: Tick::ZERO };
                self.missing.clear();
                if bytes == 0 {
                    return out;
                }
                self.collect_overlapping(slice, ctx, addr, end);
                let found = std::mem::take(&mut self.found);
                let mut at = addr;
                for &(e_end, e) in &found {
                    let (a, b) = (e.start.max(addr), e_end.min(end));
                    if a > at {
                        self.missing.push((at, a - at));
                    }
                    let n = self.share(s, a, b);
                    if n > 0 {
                        let ready = e.ready.max(now + hit);
                        out.hit_bytes += n;
                        out.hit_first = out.hit_first.min(Tick(ready));
                        out.hit_last = out.hit_last.max(Tick(ready));
                    }
                    at = b;
                    // Out of the map; the parts outside the range stay.
                    self.remove(slice, s, ctx, e_end, e);
                    if e.start < addr {
                        self.put(slice, s, ctx, addr, Entry { ..e });
                    }
                    if e_end > end {
                        self.put(slice, s, ctx, e_end, Entry { start: end, ..e });
                    }
                }
                self.found = found;
                if at < end {
                    self.missing.push((at, end - at));
                }
                if self.per_slice > 0 {
                    self.clock += 1;
                    let used = self.clock;
                    self.put(slice, s, ctx, end, Entry { start: addr, used, ready: out.hit_last.0 });
                    self.slices[slice].lru.push_back((used, ctx, addr, end));
                    self.evict(slice, s);
                }
                out
            }

            /// The missing parts of the access of [addr, end) in context `ctx` are
            /// in slice `slice` at tick `ready`.
            pub fn filled(&mut self, slice: usize, ctx: u64, end: u64, ready: u64) {
                if let Some(e) = self.slices[slice].entries.get_mut(ctx, end) {
                    e.ready = e.ready.max(ready);
                }
            }

            /// A store of [addr, addr + bytes) in context `ctx` reached slice
            /// `slice` (stack `stack`) and is in it at tick `at` (write-through:
            /// resident, most recently used).
            pub fn write(&mut self, slice: usize, stack: u32, ctx: u64, addr: u64, bytes: u64, at: u64) {
                self.access(slice, stack, ctx, addr, bytes, at, 0);
                self.filled(slice, ctx, addr + bytes, at);
            }

            /// Adds an entry (its LRU item is the caller's business).
            fn put(&mut self, slice: usize, s: u64, ctx: u64, end: u64, e: Entry) {
                let n = self.share(s, e.start, end);
                let sl = &mut self.slices[slice];
                sl.held += n;
                sl.entries.insert(ctx, end, e);
            }

            /// Removes an entry (its LRU item goes stale).
            fn remove(&mut self, slice: usize, s: u64, ctx: u64, end: u64, e: Entry) {
                self.slices[slice].entries.remove(ctx, end);
                self.slices[slice].held -= self.share(s, e.start, end);
            }

            /// Evicts from the least recently used entries until the slice fits.
            fn evict(&mut self, slice: usize, s: u64) {
                let mut parts = std::mem::take(&mut self.found);
                'items: while self.slices[slice].held > self.per_slice {
                    let (used, ctx, start, end) =
                        self.slices[slice].lru.pop_front().expect("a slice over capacity holds entries");
                    parts.clear();
                    match self.slices[slice].entries.get(ctx, end) {
                        // The usual case: the item's entry, whole.
                        Some(e) if e.used == used && e.start == start => parts.push((end, e)),
                        _ => parts.extend(
                            self.slices[slice]
                                .entries
                                .from(ctx, start + 1)
                                .take_while(|&(k, _)| k <= end)
                                .filter(|(_, e)| e.used == used),
                        ),
                    }
                    for &(e_end, e) in &parts {
                        let held = self.slices[slice].held;
                        if held <= self.per_slice {
                            self.slices[slice].lru.push_front((used, ctx, e.start, end));
                            break 'items;
                        }
                        self.remove(slice, s, ctx, e_end, e);
                        let over = held - self.per_slice;
                        if self.share(s, e.start, e_end) > over {
                            // Keep the tail: drop just enough from the front; it
                            // (and any later part) stays least recently used.
                            let cut = self.at_share(s, self.below(s, e.start) + over).min(e_end);
                            if cut < e_end {
                                self.put(slice, s, ctx, e_end, Entry { start: cut, ..e });
                            }
                            self.slices[slice].lru.push_front((used, ctx, cut, end));
                            break 'items;
                        }
                    }
                }
                self.found = parts;
                // Stale items accumulate while nothing is evicted: compact.
                let sl = &mut self.slices[slice];
                if sl.lru.len() > 64 + 4 * sl.entries.len() {
                    let mut live: Vec<_> = sl.entries.live().collect();
                    live.sort_unstable();
                    sl.lru = live.into();
                }
            }

            /// Bytes slice `slice` holds (for tests).
            pub fn held(&self, slice: usize) -> u64 {
                self.slices[slice].held
            }

            /// Live entries of a slice as (context, end, start, used, ready).
            pub fn entries(&self, slice: usize) -> Vec<(u64, u64, u64, u64, u64)> {
                self.slices[slice].entries.0.iter().map(|(&(x, k), e)| (x, k, e.start, e.used, e.ready)).collect()
            }
        }
    }

    #[test]
    fn shares_follow_the_interleave() {
        let c = Cache::new(1, 5, 256, 1 << 20);
        // 10 granules: each stack has 2.
        for s in 0..5 {
            assert_eq!(c.share(s, 0, 2560), 512);
        }
        assert_eq!(c.share(0, 100, 300), 156);
        assert_eq!(c.share(1, 100, 300), 44);
        for s in 0..5 {
            for n in [1, 255, 256, 257, 1000] {
                let x = c.at_share(s, n);
                assert!(c.below(s, x) >= n && c.below(s, x - 1) < n, "s {s} n {n} x {x}");
            }
        }
    }

    /// Looks [addr, addr + bytes) up at `now` without leaving it resident
    /// (on a copy).
    fn look(c: &Cache, ctx: u64, addr: u64, bytes: u64, now: u64) -> (Lookup, Vec<(u64, u64)>) {
        let now = Tick(now);
        let mut probe = Cache {
            slices: c
                .slices
                .iter()
                .map(|sl| Slice { entries: sl.entries.clone(), lru: sl.lru.clone(), held: sl.held })
                .collect(),
            layout: c.layout,
            per_slice: c.per_slice,
            clock: c.clock,
            missing: Vec::new(),
            found: Vec::new(),
        };
        let l = probe.access(0, 0, ctx, addr, bytes, now, 10);
        (l, probe.missing)
    }

    fn fill(c: &mut Cache, addr: u64, bytes: u64, ready: u64) {
        c.access(0, 0, 0, addr, bytes, Tick::ZERO, 10);
        c.filled(0, 0, addr + bytes, Tick(ready));
    }

    #[test]
    fn hits_misses_and_lru() {
        // One stack, 4 KiB: the whole address space is the slice's.
        let mut c = Cache::new(1, 1, 256, 4096);
        let (l, m) = look(&c, 0, 0, 1024, 0);
        assert_eq!((l.hit_bytes, m), (0, vec![(0, 1024)]));
        fill(&mut c, 0, 1024, 500);
        // In flight: ready at 500; later: the hit latency.
        let (l, m) = look(&c, 0, 512, 1024, 100);
        assert_eq!((l.hit_bytes, l.hit_first, m), (512, Tick(500), vec![(1024, 512)]));
        let (l, _) = look(&c, 0, 0, 256, 1000);
        assert_eq!((l.hit_bytes, l.hit_first, l.hit_last), (256, Tick(1010), Tick(1010)));
        fill(&mut c, 512, 1024, 2000);
        assert_eq!(c.held(0), 1536);
        // 3 KiB more: 512 bytes over; the oldest range [0, 512) goes.
        fill(&mut c, 8192, 3072, 3000);
        assert_eq!(c.held(0), 4096);
        let (l, m) = look(&c, 0, 0, 1536, 4000);
        assert_eq!((l.hit_bytes, m), (1024, vec![(0, 512)]));
        // A range larger than the slice keeps its last 4 KiB.
        fill(&mut c, 1 << 20, 10_000, 5000);
        assert_eq!(c.held(0), 4096);
        let (l, m) = look(&c, 0, 1 << 20, 10_000, 6000);
        assert_eq!((l.hit_bytes, m), (4096, vec![(1 << 20, 10_000 - 4096)]));
        // Another loop iteration: the same addresses are other data.
        let (l, m) = look(&c, 7, 1 << 20, 10_000, 6000);
        assert_eq!((l.hit_bytes, m), (0, vec![(1 << 20, 10_000)]));
    }

    #[test]
    fn split_entries_are_evicted_oldest_first() {
        let mut c = Cache::new(1, 1, 256, 4096);
        fill(&mut c, 0, 3072, 0); // oldest
        fill(&mut c, 1024, 512, 0); // splits it: [0, 1024) and [1536, 3072) keep its age
        fill(&mut c, 8192, 1024, 0); // 4096 held
        fill(&mut c, 16384, 2048, 0); // 2048 over: the old parts go, oldest first
        assert_eq!(c.held(0), 4096);
        // [0, 1024) went whole, [1536, 3072) lost its first 1024 bytes; the
        // re-used middle stays.
        let (l, m) = look(&c, 0, 0, 3072, 0);
        assert_eq!((l.hit_bytes, m), (1024, vec![(0, 1024), (1536, 1024)]));
    }

    /// Live entries of a slice as (context, end, start, used, ready).
    fn entries_of(c: &Cache, slice: usize) -> Vec<(u64, u64, u64, u64, u64)> {
        c.slices[slice]
            .entries
            .0
            .iter()
            .map(|(&k, e)| ((k >> 64) as u64, k as u64, e.start, e.used, e.ready.0))
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Random loads, fills and stores on small slices (frequent
        /// overlaps, splits and evictions) give the same lookups, missing
        /// ranges, occupancy and entries as the reference implementation.
        #[test]
        fn same_as_reference(
            stacks in 1u32..4,
            interleave in proptest::sample::select(vec![64u64, 256]),
            capacity in 0u64..20_000,
            ops in proptest::collection::vec(
                (0u8..4, 0u32..4, 0u64..3, 0u64..12_000, 1u64..4_000, 0u64..2_000),
                1..200,
            ),
        ) {
            let mut new = Cache::new(1, stacks, interleave, capacity);
            let mut old = reference::Cache::new(1, stacks, interleave, capacity);
            let mut now = 0;
            for (kind, stack, ctx, addr, bytes, dt) in ops {
                now += dt;
                let stack = stack % stacks;
                let slice = stack as usize;
                match kind {
                    0 => {
                        new.write(slice, stack, ctx, addr, bytes, Tick(now));
                        old.write(slice, stack, ctx, addr, bytes, now);
                    }
                    _ => {
                        let a = new.access(slice, stack, ctx, addr, bytes, Tick(now), 7);
                        let b = old.access(slice, stack, ctx, addr, bytes, now, 7);
                        proptest::prop_assert_eq!(a, b);
                        proptest::prop_assert_eq!(&new.missing, &old.missing);
                        if kind != 1 {
                            new.filled(slice, ctx, addr + bytes, Tick(now + dt * 3));
                            old.filled(slice, ctx, addr + bytes, now + dt * 3);
                        }
                    }
                }
                for sl in 0..stacks as usize {
                    proptest::prop_assert_eq!(new.held(sl), old.held(sl));
                    proptest::prop_assert_eq!(entries_of(&new, sl), old.entries(sl));
                }
            }
        }
    }
}
