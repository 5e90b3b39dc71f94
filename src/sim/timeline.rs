//! Timeline capture for Chrome trace-event / Perfetto output
//! (arch/timeline.md): instruction spans on each tile's units, one track
//! per DMA engine and per message lane, so every track nests (its spans
//! never partly overlap), and binned utilisation of the busiest links and
//! DRAM channels. Spans are handed to a `SpanSink` as they are produced
//! (the Chrome writer streams them to its file), so memory stays flat
//! however long the run. The whole run is recorded unless a window is
//! given; what the window cuts is counted (`Timeline::cut`), never silent.

use super::network::{LinkClass, Network};
use crate::ids::{LinkId, TileId};
use crate::trace::Pos;
use crate::units::{Cycle, Cycles, Tick, cycles_of};
use std::cell::RefCell;
use std::io;

#[derive(Clone, Debug)]
pub struct TimelineOptions {
    /// Record only what overlaps [start, end) cycles, clipped to it;
    /// `None`: the whole run.
    pub window: Option<(Cycle, Cycle)>,
    /// Link and DRAM-channel counter tracks to emit (the busiest).
    pub max_links: usize,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        TimelineOptions { window: None, max_links: 16 }
    }
}

/// A `--timeline-window START:END` as given: each end in cycles (a bare
/// integer) or in time (a number with `ns`, `us`, `ms` or `s`); an empty
/// end is the start or the end of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowSpec {
    pub start: Option<Instant>,
    pub end: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Instant {
    Cycles(u64),
    Seconds(f64),
}

impl WindowSpec {
    pub fn parse(s: &str) -> Result<WindowSpec, String> {
        let Some((a, b)) = s.split_once(':') else {
            return Err(format!("`{s}`: expected START:END (cycles, or a time such as 1.5ms; either may be empty)"));
        };
        let one = |x: &str| -> Result<Option<Instant>, String> {
            let x = x.trim();
            if x.is_empty() {
                return Ok(None);
            }
            if let Ok(c) = x.parse::<u64>() {
                return Ok(Some(Instant::Cycles(c)));
            }
            let split = x.find(|c: char| c.is_ascii_alphabetic() || c == 'µ').unwrap_or(x.len());
            let (num, unit) = x.split_at(split);
            let scale = match unit.trim() {
                "s" => 1.0,
                "ms" => 1e-3,
                "us" | "µs" => 1e-6,
                "ns" => 1e-9,
                "cycles" | "cycle" => {
                    return num
                        .trim()
                        .parse::<u64>()
                        .map(|c| Some(Instant::Cycles(c)))
                        .map_err(|_| format!("`{x}`: a cycle count is a whole number"));
                }
                _ => return Err(format!("`{x}`: give cycles (an integer) or a time with a unit: ns, us, ms, s")),
            };
            match num.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(Instant::Seconds(v * scale))),
                _ => Err(format!("`{x}`: not a non-negative number")),
            }
        };
        let w = WindowSpec { start: one(a)?, end: one(b)? };
        if let (Some(Instant::Cycles(x)), Some(Instant::Cycles(y))) = (w.start, w.end)
            && y <= x
        {
            return Err(format!("`{s}`: the end must be after the start"));
        }
        if let (Some(Instant::Seconds(x)), Some(Instant::Seconds(y))) = (w.start, w.end)
            && y <= x
        {
            return Err(format!("`{s}`: the end must be after the start"));
        }
        Ok(w)
    }

    /// The window in cycles of a `clock_hz` clock: a start rounded down, an
    /// end rounded up.
    pub fn cycles(&self, clock_hz: f64) -> Result<(Cycle, Cycle), String> {
        let at = |i: Option<Instant>, up: bool, default: u64| match i {
            None => default,
            Some(Instant::Cycles(c)) => c,
            Some(Instant::Seconds(s)) => {
                let c = s * clock_hz;
                let c = if up { c.ceil() } else { c.floor() };
                if c >= u64::MAX as f64 { u64::MAX } else { c as u64 }
            }
        };
        let (a, b) = (at(self.start, false, 0), at(self.end, true, u64::MAX));
        if b <= a {
            return Err(format!("the window is empty at this clock ({a}..{b} cycles)"));
        }
        Ok((Cycle(a), Cycle(b)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Track {
    Matrix(TileId),
    Vector(TileId),
    /// DMA engine `.1` of the tile: one load or store at a time.
    Dma(TileId, u32),
    /// Message lane `.1` of the tile: one send or receive at a time (as
    /// many lanes as it has in flight at once).
    Net(TileId, u32),
    /// Delays (software fixed costs) and barrier waits, which hold issue.
    Wait(TileId),
}

impl Track {
    pub fn tile(self) -> TileId {
        match self {
            Track::Matrix(t) | Track::Vector(t) | Track::Dma(t, _) | Track::Net(t, _) | Track::Wait(t) => t,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Span {
    pub track: Track,
    pub name: &'static str,
    pub start: Cycle,
    pub end: Cycle,
    /// The instruction's position in the trace (line or byte).
    pub pos: Pos,
    /// Bytes moved (loads, stores, sends, receives); 0 for compute.
    pub bytes: u64,
}

/// Where spans go as the run produces them. After an error nothing more
/// is sent; the sink keeps the error for its owner to report.
pub trait SpanSink {
    fn span(&mut self, s: &Span) -> io::Result<()>;
}

/// The kinds of asynchronous operation that get lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Dma,
    Net,
}

const BINS: usize = 256;

pub struct Timeline<'a> {
    pub opts: TimelineOptions,
    sink: &'a RefCell<dyn SpanSink + 'a>,
    /// The sink failed: nothing more is sent (the sink has the error).
    failed: bool,
    /// Spans written, left out (wholly outside the window) and clipped to it.
    pub written: u64,
    pub dropped: u64,
    pub clipped: u64,
    /// Per tile, which lanes are in use.
    dma_lanes: Vec<Vec<bool>>,
    net_lanes: Vec<Vec<bool>>,
    /// Links whose activity is binned (index into `bins`).
    tracked: Vec<Option<u32>>,
    bins: Vec<Vec<u64>>,
    /// Busy time of every DRAM channel, binned like the links.
    channel_bins: Vec<Vec<u64>>,
    /// Width of a bin in ticks.
    bin_ticks: u64,
    pub notes: Vec<String>,
    /// Binned link utilisation chosen for output: (link, class, name, busy fraction per bin).
    pub link_tracks: Vec<(LinkId, LinkClass, String, Vec<f64>)>,
    /// Binned utilisation of the busiest DRAM channels: (name, busy fraction per bin).
    pub channel_tracks: Vec<(String, Vec<f64>)>,
    pub bin_cycles: f64,
}

/// What a finished timeline recorded (the sink has the spans).
#[derive(Clone, Debug, Default)]
pub struct TimelineSummary {
    pub window: Option<(Cycle, Cycle)>,
    pub written: u64,
    pub dropped: u64,
    pub clipped: u64,
    pub notes: Vec<String>,
    pub link_tracks: Vec<(LinkId, LinkClass, String, Vec<f64>)>,
    pub channel_tracks: Vec<(String, Vec<f64>)>,
    pub bin_cycles: f64,
}

impl TimelineSummary {
    /// A warning when the window cut anything; `None` when the timeline
    /// holds everything that happened in it.
    pub fn cut_warning(&self) -> Option<String> {
        let (a, b) = self.window?;
        if self.dropped == 0 && self.clipped == 0 {
            return None;
        }
        let end = if b.0 == u64::MAX { "the end".to_string() } else { format!("{}", b.0) };
        Some(format!(
            "timeline window {}..{end} cycles: {} span(s) outside it left out, {} clipped at its edges ({} written)",
            a.0, self.dropped, self.clipped, self.written
        ))
    }
}

impl<'a> Timeline<'a> {
    pub fn new(
        opts: TimelineOptions,
        sink: &'a RefCell<dyn SpanSink + 'a>,
        tiles: usize,
        net: &Network,
        channels: usize,
    ) -> Timeline<'a> {
        let mut notes = Vec::new();
        let many = net.links.len() > 4096;
        if many {
            notes.push(format!("{} links: binning only memory ports and chip links", net.links.len()));
        }
        let mut tracked = Vec::with_capacity(net.links.len());
        let mut n = 0u32;
        for l in &net.links {
            let keep = !many || !matches!(l.class, LinkClass::Noc | LinkClass::Inject | LinkClass::Eject);
            tracked.push(if keep {
                n += 1;
                Some(n - 1)
            } else {
                None
            });
        }
        Timeline {
            opts,
            sink,
            failed: false,
            written: 0,
            dropped: 0,
            clipped: 0,
            dma_lanes: vec![Vec::new(); tiles],
            net_lanes: vec![Vec::new(); tiles],
            tracked,
            bins: vec![Vec::new(); n as usize],
            channel_bins: vec![Vec::new(); channels],
            bin_ticks: Cycles(64).ticks(),
            notes,
            link_tracks: Vec::new(),
            channel_tracks: Vec::new(),
            bin_cycles: 64.0,
        }
    }

    /// A lane of tile `t` for an operation starting now: the lowest free one.
    pub fn open(&mut self, kind: Lane, t: TileId) -> u32 {
        let lanes = match kind {
            Lane::Dma => &mut self.dma_lanes[t.index()],
            Lane::Net => &mut self.net_lanes[t.index()],
        };
        let i = match lanes.iter().position(|busy| !busy) {
            Some(i) => i,
            None => {
                lanes.push(false);
                lanes.len() - 1
            }
        };
        lanes[i] = true;
        i as u32
    }

    /// The operation on lane `lane` of tile `t` is done.
    pub fn close(&mut self, kind: Lane, t: TileId, lane: u32) {
        let lanes = match kind {
            Lane::Dma => &mut self.dma_lanes[t.index()],
            Lane::Net => &mut self.net_lanes[t.index()],
        };
        lanes[lane as usize] = false;
    }

    pub fn span(&mut self, track: Track, name: &'static str, start: Cycle, end: Cycle, pos: Pos, bytes: u64) {
        if self.failed {
            return;
        }
        let (mut start, mut end) = (start, end);
        if let Some((a, b)) = self.opts.window {
            // Inside the window, clipped to it: clipping keeps a track's
            // nesting (the intersection of nested or disjoint intervals with
            // one interval is nested or disjoint).
            let touches = if start == end { start >= a && start < b } else { end > a && start < b };
            if !touches {
                self.dropped += 1;
                return;
            }
            if start < a || end > b {
                self.clipped += 1;
                start = start.max(a);
                end = end.min(b);
            }
        }
        let s = Span { track, name, start, end, pos, bytes };
        match self.sink.borrow_mut().span(&s) {
            Ok(()) => self.written += 1,
            Err(_) => self.failed = true,
        }
    }

    /// Records link `l` busy over [start, end).
    pub fn link_busy(&mut self, l: LinkId, start: Tick, end: Tick) {
        if let Some(i) = self.tracked[l.index()] {
            self.add(false, i as usize, start.0, end.0);
        }
    }

    /// Records DRAM channel `c` busy over [start, end).
    pub fn channel_busy(&mut self, c: usize, start: Tick, end: Tick) {
        self.add(true, c, start.0, end.0);
    }

    /// Adds [start, end) ticks to series `i`'s bins.
    fn add(&mut self, channel: bool, i: usize, start: u64, end: u64) {
        while end > self.bin_ticks * BINS as u64 {
            // Halve the resolution of every series: merge neighbouring bins.
            for b in self.bins.iter_mut().chain(self.channel_bins.iter_mut()) {
                let merged: Vec<u64> = b.chunks(2).map(|c| c.iter().sum()).collect();
                *b = merged;
            }
            self.bin_ticks *= 2;
        }
        let bins = if channel { &mut self.channel_bins[i] } else { &mut self.bins[i] };
        let mut s = start;
        while s < end {
            let k = (s / self.bin_ticks) as usize;
            let bin_end = (k as u64 + 1) * self.bin_ticks;
            let e = end.min(bin_end);
            if bins.len() <= k {
                bins.resize(k + 1, 0);
            }
            bins[k] += e - s;
            s = e;
        }
    }

    /// Chooses the counter tracks and says what was recorded.
    pub fn finish(mut self, net: &Network) -> TimelineSummary {
        let mut busiest: Vec<(u64, usize)> = Vec::new();
        for (l, t) in self.tracked.iter().enumerate() {
            if let Some(i) = t {
                let total: u64 = self.bins[*i as usize].iter().sum();
                if total > 0 {
                    busiest.push((total, l));
                }
            }
        }
        busiest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        busiest.truncate(self.opts.max_links);
        let w = self.bin_ticks as f64;
        self.bin_cycles = cycles_of(self.bin_ticks);
        for (_, l) in busiest {
            let link = &net.links[l];
            let i = self.tracked[l].expect("tracked") as usize;
            let util = self.bins[i].iter().map(|&b| b as f64 / w).collect();
            let name = format!("{:?} link {} ({} -> {})", link.class, l, link.from.0, link.to.0);
            self.link_tracks.push((LinkId(l as u32), link.class, name, util));
        }
        let mut channels: Vec<(u64, usize)> =
            self.channel_bins.iter().enumerate().map(|(c, b)| (b.iter().sum::<u64>(), c)).filter(|x| x.0 > 0).collect();
        channels.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        channels.truncate(self.opts.max_links);
        for (_, c) in channels {
            let util = self.channel_bins[c].iter().map(|&b| b as f64 / w).collect();
            self.channel_tracks.push((format!("DRAM channel {c}"), util));
        }
        TimelineSummary {
            window: self.opts.window,
            written: self.written,
            dropped: self.dropped,
            clipped: self.clipped,
            notes: self.notes,
            link_tracks: self.link_tracks,
            channel_tracks: self.channel_tracks,
            bin_cycles: self.bin_cycles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_in_cycles_and_time() {
        let w = WindowSpec::parse("100:2000").unwrap();
        assert_eq!(w.cycles(1e9).unwrap(), (Cycle(100), Cycle(2000)));
        let w = WindowSpec::parse("1.5us:2ms").unwrap();
        assert_eq!(w.cycles(1e9).unwrap(), (Cycle(1500), Cycle(2_000_000)));
        let w = WindowSpec::parse(":3ms").unwrap();
        assert_eq!(w.cycles(2e9).unwrap(), (Cycle(0), Cycle(6_000_000)));
        let w = WindowSpec::parse("5cycles:").unwrap();
        assert_eq!(w.cycles(1e9).unwrap(), (Cycle(5), Cycle(u64::MAX)));
        for bad in ["100", "5:3", "1ms:1ms", "x:3", "1 hour:", "-1ms:2ms"] {
            assert!(WindowSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(WindowSpec::parse("0.1ns:0.2ns").unwrap().cycles(1e9).is_ok());
    }
}
