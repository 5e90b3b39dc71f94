//! How one matrix multiply C[m,n] = A[m,k] W[k,n] spreads over a chip's
//! tiles: a grid of pm x pn x pk tiles, each computing a block of
//! ceil(m/pm) x ceil(n/pn) outputs over ceil(k/pk) of the reduction, with
//! split-k partial sums added up over the pk tiles of a column group.
//!
//! The choice minimises a simple cost estimate (arch/compiler.md, "GEMM
//! partition"): the slowest of weight streaming, activation traffic, the
//! split-k reduction, the matrix units and the SRAM ports, subject to every
//! tile's working set fitting its SRAM. Splitting rows (pm > 1) re-reads
//! the weights, so it is used only when nothing else fits.

use crate::chip::Chip;

/// The tile grid of one GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub pm: u32,
    pub pn: u32,
    pub pk: u32,
}

impl Partition {
    pub fn tiles(&self) -> u32 {
        self.pm * self.pn * self.pk
    }
}

/// What the estimate needs to know about the chip and the data.
#[derive(Clone, Copy, Debug)]
pub struct Costs {
    pub tiles: u32,
    /// Bytes per cycle the chip's weight store delivers in all (HBM, or the
    /// sum of the tiles' vaults or SRAM ports).
    pub weight_bw: f64,
    /// Whether activations are re-read from the weight store (HBM chips keep
    /// activations there) or arrive over the NoC.
    pub acts_from_memory: bool,
    /// Bytes per cycle into one tile (its NoC port).
    pub port_bw: f64,
    pub sram_bw: f64,
    pub macs: f64,
    /// SRAM for a tile's output block.
    pub c_budget: u64,
    /// SRAM for one streamed chunk of A or W.
    pub chunk_budget: u64,
    /// Cycles per split-k reduction level.
    pub hop: f64,
    /// Weights may not be split by rows (they live in one tile's SRAM or vault).
    pub weights_fixed: bool,
    pub act: u64,
    pub weight: u64,
}

/// Per-tile blocks of a partition.
#[derive(Clone, Copy, Debug)]
pub struct Blocks {
    pub m: u64,
    pub n: u64,
    pub k: u64,
}

pub fn blocks(m: u64, n: u64, k: u64, p: Partition) -> Blocks {
    Blocks { m: m.div_ceil(p.pm as u64), n: n.div_ceil(p.pn as u64), k: k.div_ceil(p.pk as u64) }
}

/// Whether a tile's output block fits its buffer and chunks of at least 8
/// reduction rows of A and W fit a stream buffer.
fn fits(b: Blocks, c: &Costs) -> bool {
    let rows = b.k.min(8);
    b.m * b.n * c.act <= c.c_budget && rows * (b.m * c.act).max(b.n * c.weight) <= c.chunk_budget
}

fn estimate(m: u64, n: u64, k: u64, p: Partition, c: &Costs) -> f64 {
    let b = blocks(m, n, k, p);
    let (m_, n_, k_) = (m as f64, n as f64, k as f64);
    let w_bytes = k_ * n_ * c.weight as f64 * p.pm as f64;
    let a_bytes = m_ * k_ * c.act as f64 * p.pn as f64;
    let weights = if c.acts_from_memory { (w_bytes + a_bytes) / c.weight_bw } else { w_bytes / c.weight_bw };
    let per_tile_in = (b.k * b.n * c.weight + b.m * b.k * c.act) as f64 / c.port_bw;
    let compute = (b.m * b.n * b.k) as f64 / c.macs;
    let sram = (b.m * b.k * c.act + b.k * b.n * c.weight + b.m * b.n * c.act) as f64 / c.sram_bw;
    let reduce = if p.pk > 1 {
        let levels = (p.pk as f64).log(4.0).ceil();
        levels * (c.hop + (b.m * b.n * c.act) as f64 * 4.0 / c.port_bw)
    } else {
        0.0
    };
    weights.max(per_tile_in).max(compute).max(sram) + reduce
}

/// The cheapest partition of C[m,n] = A[m,k] W[k,n] over `c.tiles` tiles.
pub fn choose(m: u64, n: u64, k: u64, c: &Costs) -> Partition {
    let mut best: Option<(f64, Partition)> = None;
    let pows = |limit: u64| (0..32).map(|i| 1u64 << i).take_while(move |&v| v <= limit.max(1));
    for pm_try in [false, true] {
        if pm_try && (best.is_some() || c.weights_fixed) {
            break;
        }
        for pm in pows(if pm_try { m } else { 1 }) {
            for pk in pows(k.min(c.tiles as u64)) {
                let rest = c.tiles as u64 / (pm * pk);
                if rest == 0 {
                    continue;
                }
                let pn = rest.min(n);
                let p = Partition { pm: pm as u32, pn: pn as u32, pk: pk as u32 };
                if !fits(blocks(m, n, k, p), c) {
                    continue;
                }
                let t = estimate(m, n, k, p, c);
                if best.is_none_or(|(bt, _)| t < bt * 0.999) {
                    best = Some((t, p));
                }
            }
        }
    }
    // Nothing fits: spread the columns as far as they go (the lowering then
    // streams the smallest chunks it can).
    best.map(|(_, p)| p).unwrap_or_else(|| {
        let pn = (n as u32).clamp(1, c.tiles);
        Partition { pm: 1, pn, pk: (c.tiles / pn).min(k as u32).max(1) }
    })
}

/// Costs for a chip whose weights are read from `weight_bw` bytes/cycle.
#[allow(clippy::too_many_arguments)]
pub fn costs(
    chip: &Chip,
    weight_bw: f64,
    acts_from_memory: bool,
    weights_fixed: bool,
    c_budget: u64,
    chunk_budget: u64,
    act: u64,
    weight: u64,
) -> Costs {
    let hop = chip.noc.router.0 as f64 + chip.noc.link.0 as f64 + chip.noc.inject.0 as f64 + chip.noc.eject.0 as f64;
    Costs {
        tiles: chip.tiles_per_chip(),
        weight_bw,
        acts_from_memory,
        port_bw: chip.noc.link_bw.0,
        sram_bw: chip.tile.sram_bw.0,
        macs: chip.tile.macs.iter().map(|&(_, m)| m).min().unwrap_or(1) as f64,
        c_budget,
        chunk_budget,
        hop: hop * 2.0,
        weights_fixed,
        act,
        weight,
    }
}
