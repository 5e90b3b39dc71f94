//! DRAM channels with an open-page bank/row-buffer model, used for HBM
//! pseudo-channels and 3D-DRAM vault channels alike.
//!
//! Timing contract (arch/timing.md, "DRAM"): an access of a contiguous
//! channel-local byte range arrives at the channel after the controller
//! latency. Its first row is a hit (the bank has it open: CL), a miss (bank
//! closed: tRCD + CL) or a conflict (another row open: tRP + tRCD + CL),
//! and an activation waits for the bank (tRC since its last activation) and
//! the channel's activation budget (one per max(tRRD, tFAW/4)). Data then
//! occupies the channel's bus for bytes / bandwidth, the bandwidth derated
//! by refresh (1 - tRFC/tREFI); every further row the range crosses needs
//! one more activation, overlapped with data on other banks but never
//! faster than the activation budget. Streaming therefore runs at the
//! refresh-derated peak and scattered small accesses are limited by
//! activations.

use crate::chip::DramSpec;
use crate::units::{Tick, ticks_of};

/// Per-channel counters.
#[derive(Clone, Debug, Default)]
pub struct ChannelStats {
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub row_hits: u64,
    pub row_misses: u64,
    pub row_conflicts: u64,
    pub busy_ticks: u64,
}

#[derive(Clone, Debug)]
pub struct Channel {
    bus_free: Tick,
    act_free: Tick,
    /// Per bank, together (one cache line holds several banks' state).
    banks: Box<[Bank]>,
    pub stats: ChannelStats,
}

/// One bank: its open row (`CLOSED` if none) and the instant it may next
/// activate.
#[derive(Clone, Copy, Debug)]
struct Bank {
    open: u64,
    ready: Tick,
}

const CLOSED: u64 = u64::MAX;

/// Timing of one channel, durations in ticks, precomputed from a `DramSpec`.
#[derive(Clone, Debug)]
pub struct ChannelTiming {
    /// Ticks per byte in 16.16 fixed point (exact enough, and no float in
    /// the hot path).
    ticks_per_byte_fp: u64,
    cl: u64,
    trcd: u64,
    trp: u64,
    trc: u64,
    act_interval: u64,
    row: u64,
    banks: u64,
    /// log2 of row and banks when they are powers of two (the usual case),
    /// so the hot path shifts instead of dividing.
    row_shift: Option<u32>,
    bank_shift: Option<u32>,
}

impl ChannelTiming {
    #[inline]
    fn row_of(&self, addr: u64) -> u64 {
        match self.row_shift {
            Some(s) => addr >> s,
            None => addr / self.row,
        }
    }
    /// (bank, row id within the bank) of channel row `r`.
    #[inline]
    fn bank_row(&self, r: u64) -> (usize, u64) {
        match self.bank_shift {
            Some(s) => ((r & (self.banks - 1)) as usize, r >> s),
            None => ((r % self.banks) as usize, r / self.banks),
        }
    }
}

impl ChannelTiming {
    pub fn new(spec: &DramSpec) -> Self {
        let t = &spec.timing;
        let tick = ticks_of;
        let refresh = 1.0 - t.trfc / t.trefi;
        ChannelTiming {
            ticks_per_byte_fp: ticks_of(65536.0 / (spec.channel_bw.0 * refresh)),
            cl: tick(t.cl),
            trcd: tick(t.trcd),
            trp: tick(t.trp),
            trc: tick(t.trc),
            act_interval: tick(t.trrd.max(t.tfaw / 4.0)),
            row: spec.row.0,
            banks: spec.banks as u64,
            row_shift: spec.row.0.is_power_of_two().then(|| spec.row.0.trailing_zeros()),
            bank_shift: (spec.banks as u64).is_power_of_two().then(|| spec.banks.trailing_zeros()),
        }
    }
}

/// Result of one channel access: when its first and last bytes move.
#[derive(Clone, Copy, Debug)]
pub struct Served {
    pub first: Tick,
    pub last: Tick,
}

impl Channel {
    pub fn new(banks: u32) -> Self {
        Channel {
            bus_free: Tick::ZERO,
            act_free: Tick::ZERO,
            banks: vec![Bank { open: CLOSED, ready: Tick::ZERO }; banks as usize].into_boxed_slice(),
            stats: ChannelStats::default(),
        }
    }

    /// Serves `bytes` (> 0) at channel-local address `addr`, arriving at
    /// `at`.
    pub fn access(&mut self, tm: &ChannelTiming, at: Tick, addr: u64, bytes: u64, write: bool) -> Served {
        let mut shape = Shape::default();
        shape.set(tm, addr, bytes);
        self.apply(tm, at, &shape, write)
    }

    /// Serves the range `shape` describes, arriving at `at` (as `access`).
    #[inline(always)]
    pub fn apply(&mut self, tm: &ChannelTiming, at: Tick, shape: &Shape, write: bool) -> Served {
        let extra = shape.extra;
        let b0 = &mut self.banks[shape.bank];
        let (ready, acts) = if b0.open == shape.row_id {
            self.stats.row_hits += 1;
            (at + tm.cl, extra)
        } else {
            // A conflict first precharges the open row (once the bank's last
            // activation has run tRC); precharges of different banks overlap,
            // only activations share the channel's budget.
            let pre = if b0.open == CLOSED {
                self.stats.row_misses += 1;
                0
            } else {
                self.stats.row_conflicts += 1;
                tm.trp
            };
            let act = (at.max(b0.ready) + pre).max(self.act_free);
            b0.ready = act + tm.trc;
            self.act_free = act + tm.act_interval;
            (act + tm.trcd + tm.cl, extra + 1)
        };
        // Rows after the first are misses on other banks: each needs an
        // activation, overlapped with data but bounded by the activation budget.
        self.stats.row_misses += extra;
        let start = ready.max(self.bus_free);
        let end = start + shape.dur;
        if extra == 0 {
            // One row: it stays open in its bank.
            b0.open = shape.row_id;
        } else {
            if acts > 0 {
                self.act_free = self.act_free.max(start) + shape.acts;
            }
            // The last `banks` rows crossed stay open in their banks; all
            // but the first were activated once the data started.
            if shape.first_kept {
                self.banks[shape.bank].open = shape.row_id;
            }
            let ready = start + tm.trc;
            for &(b, id) in &shape.later {
                let b = &mut self.banks[b];
                b.open = id;
                b.ready = b.ready.max(ready);
            }
        }
        self.bus_free = end;
        self.stats.busy_ticks = self.stats.busy_ticks.saturating_add(shape.dur);
        if write {
            self.stats.bytes_written += shape.bytes;
        } else {
            self.stats.bytes_read += shape.bytes;
        }
        Served { first: start, last: end }
    }
}

/// What an access of a channel-local range does to a channel's rows and
/// banks, whatever the channel's state: computed once and applied to every
/// channel that gets the same range (most channels of one HBM stack do).
#[derive(Clone, Debug, Default)]
pub struct Shape {
    addr: u64,
    /// 0 until set (no access is empty).
    bytes: u64,
    /// Bank and row id of the first row.
    bank: usize,
    row_id: u64,
    /// Rows after the first.
    extra: u64,
    /// Bus ticks: the data, or the activations of the rows after the
    /// first if those take longer.
    dur: u64,
    /// Activation budget the rows after the first use.
    acts: u64,
    /// Whether the first row is among the last `banks` rows crossed (which
    /// stay open), and (bank, row id) of the others among them: consecutive
    /// rows, so at most one per bank.
    first_kept: bool,
    later: Vec<(usize, u64)>,
}

impl Shape {
    /// Describes [addr, addr + bytes) (bytes > 0); nothing to do if it
    /// already does.
    #[inline(always)]
    pub fn set(&mut self, tm: &ChannelTiming, addr: u64, bytes: u64) {
        if self.addr == addr && self.bytes == bytes {
            return;
        }
        let first_row = tm.row_of(addr);
        let last_row = tm.row_of(addr + bytes - 1);
        let rows = last_row - first_row + 1;
        (self.bank, self.row_id) = tm.bank_row(first_row);
        self.addr = addr;
        self.bytes = bytes;
        self.extra = rows - 1;
        // In 128 bits, saturating: a slow channel (1/1024 B/cycle is 2^36
        // in 16.16 ticks per byte) given a long range (up to 2^36 bytes)
        // overflows 64; time past the run's bound ends it (src/units.rs).
        let data = u64::try_from((bytes as u128 * tm.ticks_per_byte_fp as u128).div_ceil(1 << 16)).unwrap_or(u64::MAX);
        self.acts = self.extra.saturating_mul(tm.act_interval);
        self.dur = data.max(self.acts);
        let keep = rows.min(tm.banks);
        let lo = last_row + 1 - keep;
        self.first_kept = lo == first_row;
        self.later.clear();
        self.later.extend((lo.max(first_row + 1)..=last_row).map(|r| tm.bank_row(r)));
    }
}

/// Splits the byte range [addr, addr + bytes) interleaved over `channels`
/// channels in granules of `interleave` bytes and calls `f(channel,
/// channel-local address, bytes)` for each channel it touches, in channel
/// order starting from the first granule's channel.
pub fn split_interleaved(addr: u64, bytes: u64, interleave: u64, channels: u64, f: impl FnMut(u64, u64, u64)) {
    split_interleaved_only(addr, bytes, interleave, channels, None, f)
}

/// As `split_interleaved`, restricted to channels c with c % step ==
/// residue when `only` is `Some((step, residue))` (`step` divides
/// `channels`): one HBM stack's channels.
#[inline]
pub fn split_interleaved_only(
    addr: u64,
    bytes: u64,
    interleave: u64,
    channels: u64,
    only: Option<(u64, u64)>,
    mut f: impl FnMut(u64, u64, u64),
) {
    if bytes == 0 {
        return;
    }
    // Granule g goes to channel g % C at channel-local granule g / C. The
    // range's granules g0..=g1 give channel (g0 + k) % C, k < C, either
    // q or q + 1 of them; only the first and last granule are partial.
    let end = addr + bytes - 1;
    let (g0, g1) = (addr / interleave, end / interleave);
    let total = g1 - g0 + 1;
    let (q, r) = (total / channels, total % channels);
    let (row0, c0) = (g0 / channels, g0 % channels);
    let last_k = (total - 1) % channels;
    let head = addr % interleave;
    let tail = interleave - 1 - end % interleave;
    let (first_k, step) = match only {
        Some((step, residue)) => ((residue + step - c0 % step) % step, step),
        None => (0, 1),
    };
    let mut k = first_k;
    while k < total.min(channels) {
        let wrapped = c0 + k >= channels;
        let c = if wrapped { c0 + k - channels } else { c0 + k };
        let count = q + u64::from(k < r);
        let h = if k == 0 { head } else { 0 };
        let t = if k == last_k { tail } else { 0 };
        let local = (row0 + u64::from(wrapped)) * interleave + h;
        f(c, local, count * interleave - h - t);
        k += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::DramTiming;
    use crate::units::{Bytes, BytesPerCycle, Cycles, cycles_of};

    fn spec() -> DramSpec {
        DramSpec {
            channels: 1,
            channel_bw: BytesPerCycle(32.0),
            banks: 16,
            row: Bytes(1024),
            interleave: Bytes(256),
            controller: Cycles(0),
            timing: DramTiming {
                cl: 14.0,
                trcd: 19.0,
                trp: 16.0,
                tras: 28.0,
                trc: 45.0,
                tfaw: 16.0,
                trrd: 2.0,
                trfc: 0.0,
                trefi: 3900.0,
            },
        }
    }

    #[test]
    fn split_covers_range_exactly() {
        let mut total = 0;
        let mut seen = [0u64; 4];
        split_interleaved(100, 5000, 256, 4, |c, _, b| {
            total += b;
            seen[c as usize] += b;
        });
        assert_eq!(total, 5000);
        // Granules 0..=19 over 4 channels: channel 0 gets 0,4,..,16 less the
        // 100-byte head; channel 3 ends with granule 19, cut at byte 5099.
        assert_eq!(seen[0], 5 * 256 - 100);
        assert_eq!(seen[3], 4 * 256 + (5099 % 256 + 1));
    }

    #[test]
    fn split_restricted_to_a_residue_class() {
        let mut all = Vec::new();
        split_interleaved(300, 20_000, 256, 12, |c, l, b| all.push((c, l, b)));
        for r in 0..3 {
            let mut some = Vec::new();
            split_interleaved_only(300, 20_000, 256, 12, Some((3, r)), |c, l, b| some.push((c, l, b)));
            let want: Vec<_> = all.iter().copied().filter(|x| x.0 % 3 == r).collect();
            assert_eq!(some, want);
        }
    }

    /// The slowest channel a config may have (1/1024 B/cycle) given the
    /// longest transfer (2^36 bytes): 2^56 ticks of data, whose 16.16
    /// product overflowed 64 bits (a panic in debug builds).
    #[test]
    fn the_longest_transfer_on_the_slowest_channel() {
        let s = DramSpec { channel_bw: BytesPerCycle(1.0 / 1024.0), ..spec() };
        let tm = ChannelTiming::new(&s);
        let r = Channel::new(s.banks).access(&tm, Tick::ZERO, 0, 1 << 36, false);
        let data = (r.last.0 - r.first.0) as f64;
        assert!((data / (1u64 << 56) as f64 - 1.0).abs() < 1e-6, "{data}");
    }

    #[test]
    fn streaming_reaches_peak_scattered_does_not() {
        let s = spec();
        let tm = ChannelTiming::new(&s);
        let mut ch = Channel::new(s.banks);
        let n = 1 << 20;
        let r = ch.access(&tm, Tick::ZERO, 0, n, false);
        let eff = n as f64 / 32.0 / cycles_of(r.last.0 - r.first.0);
        assert!(eff > 0.99, "streaming efficiency {eff}");
        // 64-byte reads to rows far apart: each needs an activation.
        let mut ch = Channel::new(s.banks);
        let mut end = Tick::ZERO;
        for i in 0..1000u64 {
            end = ch.access(&tm, Tick::ZERO, (i * 7919 % 4096) * 1024 * 16 + 64, 64, false).last;
        }
        let eff = 1000.0 * 64.0 / 32.0 / cycles_of(end.0);
        assert!(eff < 0.6, "scattered efficiency {eff}");
    }

    /// The channel before its banks' state was merged and single-row
    /// accesses took a shortcut, kept as the reference the property test
    /// compares with.
    struct OldChannel {
        bus_free: u64,
        act_free: u64,
        open_row: Vec<u64>,
        bank_ready: Vec<u64>,
        stats: ChannelStats,
    }

    impl OldChannel {
        pub fn new(banks: u32) -> Self {
            OldChannel {
                bus_free: 0,
                act_free: 0,
                open_row: vec![CLOSED; banks as usize],
                bank_ready: vec![0; banks as usize],
                stats: ChannelStats::default(),
            }
        }

        /// Serves `bytes` (> 0) at channel-local address `addr`, arriving at
        /// `at` ticks.
        pub fn access(&mut self, tm: &ChannelTiming, at: u64, addr: u64, bytes: u64, write: bool) -> Served {
            let first_row = tm.row_of(addr);
            let last_row = tm.row_of(addr + bytes - 1);
            let rows = last_row - first_row + 1;
            let (bank, row_id) = tm.bank_row(first_row);
            let open = self.open_row[bank];
            let (ready, acts) = if open == row_id {
                self.stats.row_hits += 1;
                (at + tm.cl, rows - 1)
            } else {
                // A conflict first precharges the open row (once the bank's last
                // activation has run tRC); precharges of different banks overlap,
                // only activations share the channel's budget.
                let pre = if open == CLOSED {
                    self.stats.row_misses += 1;
                    0
                } else {
                    self.stats.row_conflicts += 1;
                    tm.trp
                };
                let act = (at.max(self.bank_ready[bank]) + pre).max(self.act_free);
                self.bank_ready[bank] = act + tm.trc;
                self.act_free = act + tm.act_interval;
                (act + tm.trcd + tm.cl, rows)
            };
            // Rows after the first are misses on other banks: each needs an
            // activation, overlapped with data but bounded by the activation budget.
            let extra = rows - 1;
            self.stats.row_misses += extra;
            let start = ready.max(self.bus_free);
            let data = (bytes * tm.ticks_per_byte_fp).div_ceil(1 << 16);
            let dur = data.max(extra * tm.act_interval);
            let end = start + dur;
            if acts > 0 && extra > 0 {
                self.act_free = self.act_free.max(start) + extra * tm.act_interval;
            }
            // The last `banks` rows crossed stay open in their banks.
            let keep = rows.min(tm.banks);
            for r in last_row + 1 - keep..=last_row {
                let (b, id) = tm.bank_row(r);
                self.open_row[b] = id;
                if r != first_row {
                    self.bank_ready[b] = self.bank_ready[b].max(start + tm.trc);
                }
            }
            self.bus_free = end;
            self.stats.busy_ticks += dur;
            if write {
                self.stats.bytes_written += bytes;
            } else {
                self.stats.bytes_read += bytes;
            }
            Served { first: Tick(start), last: Tick(end) }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Random accesses (hits, misses, conflicts, multi-row ranges, more
        /// rows than banks) give the same ticks and counters as the
        /// reference, whether each builds its own `Shape` (`access`) or
        /// reuses one across accesses of the same range (`apply`, as the
        /// channels of a stack do).
        #[test]
        fn same_as_reference(
            banks in proptest::sample::select(vec![4u32, 16, 6]),
            row in proptest::sample::select(vec![1024u64, 2048, 1000]),
            ops in proptest::collection::vec(
                (0u64..200_000, 1u64..40_000, 0u64..3_000_000, proptest::bool::ANY, proptest::bool::ANY),
                1..100,
            ),
        ) {
            let mut s = spec();
            s.banks = banks;
            s.row = Bytes(row);
            let tm = ChannelTiming::new(&s);
            let (mut new, mut old, mut reused) = (Channel::new(banks), OldChannel::new(banks), Channel::new(banks));
            let mut shape = Shape::default();
            let (mut at, mut prev) = (0, (0, 1));
            for (addr, bytes, dt, write, again) in ops {
                at += dt;
                // Half the accesses repeat the previous range.
                let (addr, bytes) = if again { prev } else { (addr, bytes) };
                prev = (addr, bytes);
                let (a, b) = (new.access(&tm, Tick(at), addr, bytes, write), old.access(&tm, at, addr, bytes, write));
                proptest::prop_assert_eq!((a.first, a.last), (b.first, b.last));
                shape.set(&tm, addr, bytes);
                let c = reused.apply(&tm, Tick(at), &shape, write);
                proptest::prop_assert_eq!((c.first, c.last), (b.first, b.last));
                proptest::prop_assert_eq!((reused.bus_free.0, reused.act_free.0), (old.bus_free, old.act_free));
                proptest::prop_assert_eq!((new.bus_free.0, new.act_free.0), (old.bus_free, old.act_free));
                let banks: Vec<_> = new.banks.iter().map(|b| (b.open, b.ready.0)).collect();
                let theirs: Vec<_> = old.open_row.iter().copied().zip(old.bank_ready.iter().copied()).collect();
                proptest::prop_assert_eq!(banks, theirs);
                proptest::prop_assert_eq!(format!("{:?}", new.stats), format!("{:?}", old.stats));
            }
        }
    }
}
