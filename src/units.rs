//! Typed quantities used throughout the crate.
//!
//! Time is kept in integer cycles of the system clock. `Cycle` is an instant,
//! `Cycles` a duration; the arithmetic that makes sense is implemented and the
//! rest does not compile (gem5's `Cycles` exists for the same reason).
//!
//! Adding time saturates (at `u64::MAX` cycles or ticks) rather than wrap
//! or, in debug builds, panic: a hostile trace can ask for more simulated
//! time than a `u64` of ticks holds (2^55 MACs on a tile of one MAC a
//! cycle), and the event queue refuses any event past
//! `limits::MAX_SIM_CYCLES`, which a saturated instant always is, as bad
//! input (arch/limits.md, "sim_cycles").

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant: cycles since the start of the simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cycle(pub u64);

/// A duration in cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cycles(pub u64);

impl Cycle {
    pub const ZERO: Cycle = Cycle(0);
    /// Duration from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Cycle) -> Cycles {
        Cycles(self.0.saturating_sub(earlier.0))
    }
}

impl Cycles {
    pub const ZERO: Cycles = Cycles(0);
}

impl Add<Cycles> for Cycle {
    type Output = Cycle;
    fn add(self, d: Cycles) -> Cycle {
        Cycle(self.0.saturating_add(d.0))
    }
}
impl AddAssign<Cycles> for Cycle {
    fn add_assign(&mut self, d: Cycles) {
        self.0 = self.0.saturating_add(d.0);
    }
}
impl Sub for Cycle {
    type Output = Cycles;
    fn sub(self, rhs: Cycle) -> Cycles {
        debug_assert!(self >= rhs, "negative duration {self:?} - {rhs:?}");
        Cycles(self.0 - rhs.0)
    }
}
impl Add for Cycles {
    type Output = Cycles;
    fn add(self, d: Cycles) -> Cycles {
        Cycles(self.0.saturating_add(d.0))
    }
}
impl AddAssign for Cycles {
    fn add_assign(&mut self, d: Cycles) {
        self.0 = self.0.saturating_add(d.0);
    }
}
impl std::iter::Sum for Cycles {
    fn sum<I: Iterator<Item = Cycles>>(iter: I) -> Cycles {
        Cycles(iter.map(|c| c.0).sum())
    }
}
impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}
impl fmt::Display for Cycles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cycles", self.0)
    }
}

/// A byte count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

impl Add for Bytes {
    type Output = Bytes;
    fn add(self, b: Bytes) -> Bytes {
        Bytes(self.0 + b.0)
    }
}
impl AddAssign for Bytes {
    fn add_assign(&mut self, b: Bytes) {
        self.0 += b.0;
    }
}
impl std::iter::Sum for Bytes {
    fn sum<I: Iterator<Item = Bytes>>(iter: I) -> Bytes {
        Bytes(iter.map(|c| c.0).sum())
    }
}
impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human_bytes(self.0 as f64))
    }
}

/// A transfer rate in bytes per cycle of the system clock.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct BytesPerCycle(pub f64);

impl BytesPerCycle {
    /// Cycles needed to move `bytes` at this rate, rounded up.
    pub fn cycles_for(self, bytes: Bytes) -> Cycles {
        Cycles(ceil_u64(bytes.0 as f64 / self.0))
    }
}

/// `x.ceil() as u64` for x >= 0, without the library call `f64::ceil` is
/// on baseline x86-64 (2% of dgx-h100's decode step, whose links move 576
/// bytes a cycle, not a whole number of ticks per byte): the truncation is
/// one instruction, and one more if it fell short. The same value for every
/// x the cast keeps (a NaN or negative x gives 0, a huge one u64::MAX, as
/// the cast does).
#[inline]
pub fn ceil_u64(x: f64) -> u64 {
    let t = x as u64;
    if (t as f64) < x && t < u64::MAX { t + 1 } else { t }
}

/// Sub-cycle resolution used by bandwidth servers so that many small
/// transfers do not accumulate rounding error: 1 cycle = `FRAC` ticks.
const FRAC: u64 = 1 << 10;

/// An instant in ticks, 1/`FRAC` of a cycle: the resolution links, SRAM
/// ports, VCs, DRAM channels and the HBM cache book time in, so that many
/// short transfers do not accumulate rounding (`FRAC` is private to this
/// module: `ticks_of` and `cycles_of` convert durations). Durations in ticks are plain `u64` counts; an
/// instant becomes a `Cycle` only through `ceil` or `floor`, which say
/// which way it rounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tick(pub u64);

impl Tick {
    pub const ZERO: Tick = Tick(0);
    /// Later than any instant a run reaches: "none yet" for a minimum.
    pub const NEVER: Tick = Tick(u64::MAX);

    /// The start of cycle `c`.
    #[inline]
    pub fn of(c: Cycle) -> Tick {
        Tick(c.0.saturating_mul(FRAC))
    }
    /// The first cycle boundary at or after this instant.
    #[inline]
    pub fn ceil(self) -> Cycle {
        Cycle(self.0.div_ceil(FRAC))
    }
    /// The cycle this instant falls in.
    #[inline]
    pub fn floor(self) -> Cycle {
        Cycle(self.0 / FRAC)
    }
}

impl Add<u64> for Tick {
    type Output = Tick;
    #[inline]
    fn add(self, ticks: u64) -> Tick {
        Tick(self.0.saturating_add(ticks))
    }
}

impl Cycles {
    /// This many cycles in ticks.
    #[inline]
    pub fn ticks(self) -> u64 {
        self.0.saturating_mul(FRAC)
    }
}

/// A duration of `cycles` (a timing parameter such as a DRAM tCL) in
/// ticks, rounded to the nearest tick.
pub fn ticks_of(cycles: f64) -> u64 {
    (cycles * FRAC as f64).round() as u64
}

/// A duration in ticks as cycles (for reports: busy fractions).
pub fn cycles_of(ticks: u64) -> f64 {
    ticks as f64 / FRAC as f64
}

/// A rate as ticks (1/`FRAC` cycle) per byte, and the ticks a transfer
/// takes at it: ceil(bytes x ticks per byte). In integers when that is
/// exact (a whole number of ticks per byte and bytes below 2^33, where the
/// f64 product is exact too), since links and SRAM ports ask per packet
/// and f64 `ceil` is a library call on baseline x86-64.
#[derive(Clone, Copy, Debug, Default)]
pub struct TicksPerByte {
    per_byte: f64,
    /// `per_byte` when it is a whole number (at least 1), else 0: 16 bytes
    /// in all, so a link's state with its rate is one cache line.
    whole: u64,
}

impl TicksPerByte {
    pub fn of(rate: BytesPerCycle) -> Self {
        let per_byte = FRAC as f64 / rate.0;
        let whole = per_byte.fract() == 0.0 && per_byte >= 1.0 && per_byte < (1u64 << 20) as f64;
        TicksPerByte { per_byte, whole: if whole { per_byte as u64 } else { 0 } }
    }

    /// Ticks to move `bytes`, rounded up.
    #[inline]
    pub fn ticks(self, bytes: u64) -> u64 {
        if self.whole != 0 && bytes < 1 << 33 { bytes * self.whole } else { ceil_u64(bytes as f64 * self.per_byte) }
    }
}

/// A resource that moves bytes at a fixed rate, one transfer at a time, in
/// the order reservations are made (a link, a DRAM data bus, an SRAM port).
#[derive(Clone, Debug)]
pub struct BandwidthServer {
    rate: TicksPerByte,
    busy_until: Tick,
    busy_ticks: u64,
}

impl BandwidthServer {
    pub fn new(rate: BytesPerCycle) -> Self {
        BandwidthServer { rate: TicksPerByte::of(rate), busy_until: Tick::ZERO, busy_ticks: 0 }
    }
    /// Reserves the server for `bytes`, starting no earlier than `at`.
    /// Returns (start, end) instants, end rounded up to a whole cycle.
    pub fn reserve(&mut self, at: Cycle, bytes: Bytes) -> (Cycle, Cycle) {
        let start = Tick::of(at).max(self.busy_until);
        let dur = self.rate.ticks(bytes.0);
        self.busy_until = start + dur;
        self.busy_ticks = self.busy_ticks.saturating_add(dur);
        (start.ceil(), self.busy_until.ceil())
    }
    /// Total ticks the server has been reserved.
    pub fn busy_ticks(&self) -> u64 {
        self.busy_ticks
    }
    /// Total cycles the server has been reserved.
    pub fn busy_cycles(&self) -> f64 {
        cycles_of(self.busy_ticks)
    }
}

/// A number for a message: as written when it is short (`0`, `0.5`,
/// `27500`), else in exponent form (`1e-300`, not 302 digits).
pub fn short(v: f64) -> String {
    if v == 0.0 || (1e-3..1e15).contains(&v.abs()) { format!("{v}") } else { format!("{v:e}") }
}

/// A value for a message that compares it with a bound: six significant
/// digits, so one just past the bound is told from it (`100.01 GHz` was
/// shown as `1.000e11 Hz` against 100 GHz), and a unit conversion's
/// rounding (1.0000000000000002e30) is not shown. Every bound's message
/// shows its value this way (config checks, serve's arrival span).
pub fn near(v: f64) -> String {
    format!("{v:.5e}").parse().map_or_else(|_| v.to_string(), short)
}

/// "1.5 GiB"-style rendering for reports.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b;
    let mut i = 0;
    while v.abs() >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{v:.0} B") } else { format!("{v:.2} {}", UNITS[i]) }
}

/// "3.35 TB/s"-style rendering (decimal, as vendors quote bandwidth).
pub fn human_rate(bytes_per_s: f64) -> String {
    si(bytes_per_s, "B/s")
}

/// SI-prefixed rendering: 1.98e15 FLOP/s -> "1.98 PFLOP/s".
pub fn si(v: f64, unit: &str) -> String {
    const P: [(&str, f64); 6] = [("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)];
    for (p, s) in P {
        if v.abs() >= s {
            return format!("{:.3} {p}{unit}", v / s);
        }
    }
    format!("{v:.3} {unit}")
}

/// Seconds rendered with a sensible unit.
pub fn human_seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.3} us", s * 1e6)
    } else {
        format!("{:.1} ns", s * 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Time past a `u64` saturates (the event queue then refuses it as
    /// past the longest run) rather than wrap or panic.
    #[test]
    fn time_saturates() {
        assert_eq!(Cycle(u64::MAX - 1) + Cycles(5), Cycle(u64::MAX));
        let mut c = Cycle(u64::MAX - 1);
        c += Cycles(5);
        assert_eq!(c, Cycle(u64::MAX));
        assert_eq!(Cycles(u64::MAX) + Cycles(1), Cycles(u64::MAX));
        assert_eq!(Tick::of(Cycle(1 << 60)), Tick(u64::MAX));
        assert_eq!(Tick(u64::MAX - 1) + 2, Tick(u64::MAX));
        assert_eq!(Cycles(1 << 60).ticks(), u64::MAX);
        assert!(Tick(u64::MAX).ceil().0 > crate::limits::MAX_SIM_CYCLES);
        assert_eq!(Cycle(7) + Cycles(5), Cycle(12));
        assert_eq!(Tick::of(Cycle(3)), Tick(3 << 10));
    }

    #[test]
    fn ceil_u64_is_the_cast_of_ceil() {
        let mut rng = crate::rng::Rng::new(5);
        let mut xs =
            vec![0.0, 0.5, 1.0, 1.0 - f64::EPSILON, 1.0 + f64::EPSILON, 4503599627370495.5, 9007199254740993.0];
        xs.extend([2f64.powi(63), 2f64.powi(64), 1e30, f64::INFINITY, -0.5, -3.0, f64::NAN]);
        for _ in 0..100_000 {
            let bytes = rng.below(1 << 40);
            let rate = 1.0 + rng.below(1 << 20) as f64 / 1024.0;
            xs.push(bytes as f64 * (1024.0 / rate));
            xs.push(bytes as f64 / rate);
        }
        for x in xs {
            assert_eq!(ceil_u64(x), x.ceil() as u64, "{x}");
        }
    }

    #[test]
    fn server_keeps_fractional_time() {
        // 3 bytes/cycle: ten 1-byte transfers take 10/3 cycles, not 10.
        let mut s = BandwidthServer::new(BytesPerCycle(3.0));
        let mut end = Cycle(0);
        for _ in 0..10 {
            end = s.reserve(Cycle(0), Bytes(1)).1;
        }
        assert_eq!(end, Cycle(4));
        assert!((s.busy_cycles() - 10.0 / 3.0).abs() < 0.01);
    }

    #[test]
    fn server_waits_for_arrival() {
        let mut s = BandwidthServer::new(BytesPerCycle(1.0));
        assert_eq!(s.reserve(Cycle(5), Bytes(2)), (Cycle(5), Cycle(7)));
        assert_eq!(s.reserve(Cycle(6), Bytes(2)), (Cycle(7), Cycle(9)));
    }
}
