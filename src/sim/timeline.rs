//! Optional timeline capture for Chrome trace-event / Perfetto output:
//! instruction spans on each tile's units, DMA and network operations, and
//! binned utilisation of the busiest links. Large runs stay usable: only a
//! sample of tiles is recorded, spans stop at a cap, and link activity is
//! kept as a fixed number of time bins; `notes` says what was left out.

use super::network::{LinkClass, Network};
use crate::ids::{LinkId, TileId};
use crate::trace::Pos;
use crate::units::{Cycle, FRAC};

#[derive(Clone, Debug)]
pub struct TimelineOptions {
    /// Most tiles to record (evenly sampled beyond this).
    pub max_tiles: usize,
    /// Most spans to keep.
    pub max_spans: usize,
    /// Link tracks to emit (the busiest).
    pub max_links: usize,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        TimelineOptions { max_tiles: 64, max_spans: 400_000, max_links: 16 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Track {
    Matrix(TileId),
    Vector(TileId),
    Dma(TileId),
    Net(TileId),
}

#[derive(Clone, Debug)]
pub struct Span {
    pub track: Track,
    pub name: &'static str,
    pub start: Cycle,
    pub end: Cycle,
    pub pos: Pos,
}

const BINS: usize = 256;

#[derive(Clone, Debug)]
pub struct Timeline {
    pub opts: TimelineOptions,
    pub spans: Vec<Span>,
    sampled: Vec<bool>,
    dropped: u64,
    /// Links whose activity is binned (index into `bins`).
    tracked: Vec<Option<u32>>,
    bins: Vec<Vec<u64>>,
    /// Busy time of every DRAM channel, binned like the links.
    channel_bins: Vec<Vec<u64>>,
    /// Width of a bin in ticks.
    bin_ticks: u64,
    pub notes: Vec<String>,
    /// Binned link utilisation chosen for output: (link, class, from, to, busy fraction per bin).
    pub link_tracks: Vec<(LinkId, LinkClass, String, Vec<f64>)>,
    /// Binned utilisation of the busiest DRAM channels: (name, busy fraction per bin).
    pub channel_tracks: Vec<(String, Vec<f64>)>,
    pub bin_cycles: f64,
}

impl Timeline {
    pub fn new(opts: TimelineOptions, tiles: usize, net: &Network, channels: usize) -> Timeline {
        let stride = tiles.div_ceil(opts.max_tiles.max(1)).max(1);
        let sampled = (0..tiles).map(|t| t % stride == 0).collect();
        let mut notes = Vec::new();
        if stride > 1 {
            notes.push(format!("{tiles} tiles: recording every {stride}th tile"));
        }
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
            spans: Vec::new(),
            sampled,
            dropped: 0,
            tracked,
            bins: vec![Vec::new(); n as usize],
            channel_bins: vec![Vec::new(); channels],
            bin_ticks: 64 * FRAC,
            notes,
            link_tracks: Vec::new(),
            channel_tracks: Vec::new(),
            bin_cycles: 64.0,
        }
    }

    pub fn span(&mut self, track: Track, name: &'static str, start: Cycle, end: Cycle, pos: Pos) {
        let tile = match track {
            Track::Matrix(t) | Track::Vector(t) | Track::Dma(t) | Track::Net(t) => t,
        };
        if !self.sampled[tile.index()] {
            return;
        }
        if self.spans.len() >= self.opts.max_spans {
            self.dropped += 1;
            return;
        }
        self.spans.push(Span { track, name, start, end, pos });
    }

    /// Records link `l` busy over [start, end) ticks.
    pub fn link_busy(&mut self, l: LinkId, start: u64, end: u64) {
        if let Some(i) = self.tracked[l.index()] {
            self.add(false, i as usize, start, end);
        }
    }

    /// Records DRAM channel `c` busy over [start, end) ticks.
    pub fn channel_busy(&mut self, c: usize, start: u64, end: u64) {
        self.add(true, c, start, end);
    }

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

    pub fn finish(&mut self, net: &Network, _end: Cycle) {
        if self.dropped > 0 {
            self.notes.push(format!("span cap {} reached: {} later spans dropped", self.opts.max_spans, self.dropped));
        }
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
        self.bin_cycles = w / FRAC as f64;
        for (_, l) in busiest {
            let link = &net.links[l];
            let i = self.tracked[l].expect("tracked") as usize;
            let util = self.bins[i].iter().map(|&b| b as f64 / w).collect();
            let name = format!("{:?} link {} ({} -> {})", link.class, l, link.from.0, link.to.0);
            self.link_tracks.push((LinkId(l as u32), link.class, name, util));
        }
        self.bins.clear();
        let mut channels: Vec<(u64, usize)> =
            self.channel_bins.iter().enumerate().map(|(c, b)| (b.iter().sum::<u64>(), c)).filter(|x| x.0 > 0).collect();
        channels.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        channels.truncate(self.opts.max_links);
        for (_, c) in channels {
            let util = self.channel_bins[c].iter().map(|&b| b as f64 / w).collect();
            self.channel_tracks.push((format!("DRAM channel {c}"), util));
        }
        self.channel_bins.clear();
    }
}
