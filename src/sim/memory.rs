//! The memory behind `hbm:` and `dram:` locations, one variant per kind of
//! chip memory, so that each handler matches the kind it serves and finds
//! everything that kind has (channels, timing, cache) without `Option`s.
//!
//! Contract: a trace is checked against its chip before it runs
//! (`trace::against`), so `hbm:` locations occur only with `Hbm` and
//! `dram:` locations only with `Vaults`; the engine's handlers do nothing
//! for a kind that cannot occur rather than panic.
//!
//! Timing is the channels' (src/sim/dram.rs) and the cache's
//! (src/sim/cache.rs); this module only routes an access to its channels.

use super::cache::Cache;
use super::dram::{Channel, ChannelStats, ChannelTiming, Shape, split_interleaved, split_interleaved_only};
use super::timeline::Timeline;
use crate::chip::{Chip, DramSpec, Memory};
use crate::units::{Cycle, Cycles, Tick};

/// The memory of a system (every chip).
pub(super) enum MemSystem {
    /// Tile SRAM only: no channels.
    SramOnly,
    /// HBM stacks per chip, optionally behind a cache.
    Hbm(Hbm),
    /// A DRAM vault under every tile.
    Vaults(Dram),
}

/// HBM: `stacks` stacks per chip; channel c of a chip belongs to stack
/// c mod stacks.
pub(super) struct Hbm {
    pub stacks: u32,
    /// The channels, `dram.group` per chip.
    pub dram: Dram,
    /// The cache in front of the stacks (`[hbm.cache]`), if any.
    pub cache: Option<HbmCache>,
}

/// A cache in front of HBM and its hit latency.
pub(super) struct HbmCache {
    pub cache: Cache,
    pub hit: Cycles,
}

/// DRAM channels in groups of `group` (one chip's HBM, one tile's vault),
/// interleaved within a group in granules of `interleave` bytes.
pub(super) struct Dram {
    pub group: u32,
    pub interleave: u64,
    /// Memory controller and PHY latency.
    pub controller: Cycles,
    timing: ChannelTiming,
    channels: Vec<Channel>,
    /// Scratch: the range the last channel got, kept while the next
    /// channels get the same one.
    shape: Shape,
}

impl Dram {
    fn new(spec: &DramSpec, groups: u32) -> Dram {
        Dram {
            group: spec.channels,
            interleave: spec.interleave.0,
            controller: spec.controller,
            timing: ChannelTiming::new(spec),
            channels: (0..spec.channels as usize * groups as usize).map(|_| Channel::new(spec.banks)).collect(),
            shape: Shape::default(),
        }
    }

    /// Serves [addr, addr + bytes) interleaved over group `group`'s
    /// channels (only those in residue class `only`: one HBM stack), every
    /// access arriving at `now`, marking each channel's busy time on the
    /// timeline. Returns the bytes served and the instants the first and
    /// last of them move (`Tick::NEVER`, `Tick::ZERO` if none).
    #[allow(clippy::too_many_arguments)]
    pub fn serve(
        &mut self,
        group: u32,
        only: Option<(u64, u64)>,
        now: Cycle,
        addr: u64,
        bytes: u64,
        write: bool,
        timeline: &mut Option<Timeline<'_>>,
    ) -> (u64, Tick, Tick) {
        let base = group as usize * self.group as usize;
        let (tm, chans, shape) = (&self.timing, &mut self.channels, &mut self.shape);
        let at = Tick::of(now);
        let (mut served, mut first, mut last) = (0, Tick::NEVER, Tick::ZERO);
        split_interleaved_only(addr, bytes, self.interleave, self.group as u64, only, |c, local, b| {
            let i = base + c as usize;
            shape.set(tm, local, b);
            let r = chans[i].apply(tm, at, shape, write);
            if let Some(tl) = timeline.as_mut() {
                tl.channel_busy(i, r.first, r.last);
            }
            served += b;
            first = first.min(r.first);
            last = last.max(r.last);
        });
        (served, first, last)
    }
}

impl Hbm {
    /// Which stacks a contiguous range touches, as a bit set (stacks are at
    /// most 64, checked when the chip is derived).
    pub fn stacks_touched(&self, addr: u64, bytes: u64) -> u64 {
        let stacks = self.stacks as u64;
        let g0 = addr / self.dram.interleave;
        let granules = (addr + bytes - 1) / self.dram.interleave - g0 + 1;
        let c0 = g0 % self.dram.group as u64;
        (0..granules.min(stacks)).fold(0, |set, k| set | 1 << ((c0 + k) % stacks))
    }

    /// The bytes of [addr, addr + bytes) each stack holds.
    pub fn per_stack(&self, addr: u64, bytes: u64) -> Vec<u64> {
        let stacks = self.stacks as u64;
        let mut per_stack = vec![0u64; self.stacks as usize];
        split_interleaved(addr, bytes, self.dram.interleave, self.dram.group as u64, |c, _, b| {
            per_stack[(c % stacks) as usize] += b;
        });
        per_stack
    }
}

impl MemSystem {
    pub fn new(chip: &Chip) -> MemSystem {
        match &chip.memory {
            Memory::SramOnly => MemSystem::SramOnly,
            Memory::Hbm { stacks, dram, cache, .. } => MemSystem::Hbm(Hbm {
                stacks: *stacks,
                dram: Dram::new(dram, chip.system.chips),
                cache: cache.as_ref().map(|c| HbmCache {
                    cache: Cache::new(chip.system.chips, *stacks, dram.interleave.0, c.capacity.0),
                    hit: c.hit,
                }),
            }),
            Memory::Dram3d { dram, .. } => MemSystem::Vaults(Dram::new(dram, chip.total_tiles())),
        }
    }

    /// The memory controller latency (none without DRAM).
    pub fn controller(&self) -> Cycles {
        match self {
            MemSystem::SramOnly => Cycles::ZERO,
            MemSystem::Hbm(h) => h.dram.controller,
            MemSystem::Vaults(d) => d.controller,
        }
    }

    /// Whether HBM loads go through a cache.
    pub fn has_cache(&self) -> bool {
        matches!(self, MemSystem::Hbm(Hbm { cache: Some(_), .. }))
    }

    /// The number of DRAM channels of the system.
    pub fn channel_count(&self) -> usize {
        match self {
            MemSystem::SramOnly => 0,
            MemSystem::Hbm(h) => h.dram.channels.len(),
            MemSystem::Vaults(d) => d.channels.len(),
        }
    }

    /// Every channel's counters, in channel order.
    pub fn into_channel_stats(self) -> Vec<ChannelStats> {
        match self {
            MemSystem::SramOnly => Vec::new(),
            MemSystem::Hbm(Hbm { dram, .. }) | MemSystem::Vaults(dram) => {
                dram.channels.into_iter().map(|c| c.stats).collect()
            }
        }
    }
}
