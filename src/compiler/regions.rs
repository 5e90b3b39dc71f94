//! Regions of a chip for the tiled strategy (arch/compiler.md, "Tiled"):
//! the chip's tiles cut into `regions` rectangles, each a pipeline stage
//! holding a slice of the layers, consecutive regions side by side so a
//! token streams through the chip. Inside a region the tiles form a
//! logical grid of rows x columns over which every matrix is laid.
//!
//! Also the estimate the plan uses to pick the number of regions: more
//! regions mean shorter multicast and reduction lines (less latency per
//! operation) but fewer tiles, so less memory bandwidth, per layer; with
//! several micro-batches in flight the regions work at once.

use crate::chip::{Chip, Memory, NocTopology};
use crate::model::Model;

/// One region: `rows` x `cols` tiles, `tiles[row * cols + col]` the local
/// index of the tile at that place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub rows: u32,
    pub cols: u32,
    pub tiles: Vec<u32>,
}

impl Region {
    /// Local tile at (row, col).
    pub fn at(&self, row: u32, col: u32) -> u32 {
        self.tiles[(row * self.cols + col) as usize]
    }
    /// The row the hidden state lives on (outputs of row-broadcast
    /// operations land here) and the column of the other orientation.
    pub fn home_row(&self) -> u32 {
        self.rows / 2
    }
    pub fn home_col(&self) -> u32 {
        self.cols / 2
    }
    pub fn len(&self) -> u32 {
        self.rows * self.cols
    }
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

/// Balanced split of `total` into `parts`: the range of part `i`.
fn part(i: u32, total: u32, parts: u32) -> std::ops::Range<u32> {
    let (i, total, parts) = (i as u64, total as u64, parts as u64);
    (i * total / parts) as u32..((i + 1) * total / parts) as u32
}

/// How `regions` regions tile a grid of `x` by `y`: (across, down), the
/// factorisation whose regions are closest to square; `None` when no
/// factorisation fits the grid.
fn grid_split(x: u32, y: u32, regions: u32) -> Option<(u32, u32)> {
    (1..=regions)
        .filter(|rx| regions.is_multiple_of(*rx))
        .map(|rx| (rx, regions / rx))
        .filter(|&(rx, ry)| rx <= x && ry <= y)
        .min_by(|a, b| {
            let skew = |(rx, ry): (u32, u32)| {
                let (w, h) = (x as f64 / rx as f64, y as f64 / ry as f64);
                (w / h).max(h / w)
            };
            skew(*a).total_cmp(&skew(*b))
        })
}

/// Rows and columns of a logical grid over `n` tiles that are not laid out
/// in a grid (crossbar, ring, fat-tree): the factorisation closest to
/// square, wider than tall.
fn logical_grid(n: u32) -> (u32, u32) {
    let mut best = (1, n);
    for rows in 1..=n {
        if rows * rows > n {
            break;
        }
        if n.is_multiple_of(rows) {
            best = (rows, n / rows);
        }
    }
    best
}

/// The most regions a chip can be cut into (each at least `MIN_TILES`).
pub const MIN_TILES: u32 = 4;

/// Whether the chip can be cut into `regions` regions.
pub fn feasible(chip: &Chip, regions: u32) -> bool {
    if regions == 0 || regions > chip.tiles_per_chip() / MIN_TILES.min(chip.tiles_per_chip()) {
        return regions == 1;
    }
    match chip.noc.topology {
        NocTopology::Mesh { x, y } | NocTopology::Torus { x, y } => grid_split(x, y, regions).is_some(),
        _ => true,
    }
}

/// Tiles of the smallest of `regions` regions of the chip.
pub fn smallest(chip: &Chip, regions: u32) -> u32 {
    layout(chip, regions).iter().map(Region::len).min().unwrap_or(0)
}

/// The regions of a chip, in pipeline order: snake order over a grid of
/// regions on meshes and tori (consecutive regions share an edge),
/// consecutive index ranges elsewhere. `feasible(chip, regions)` must hold.
pub fn layout(chip: &Chip, regions: u32) -> Vec<Region> {
    match chip.noc.topology {
        NocTopology::Mesh { x, y } | NocTopology::Torus { x, y } => {
            let (rx, ry) = grid_split(x, y, regions).expect("feasible region count");
            let mut out = Vec::new();
            for j in 0..ry {
                for k in 0..rx {
                    let i = if j % 2 == 0 { k } else { rx - 1 - k };
                    let (xs, ys) = (part(i, x, rx), part(j, y, ry));
                    let tiles = ys.clone().flat_map(|ty| xs.clone().map(move |tx| ty * x + tx)).collect();
                    out.push(Region { rows: ys.len() as u32, cols: xs.len() as u32, tiles });
                }
            }
            out
        }
        _ => {
            let n = chip.tiles_per_chip();
            (0..regions)
                .map(|k| {
                    let r = part(k, n, regions);
                    let (rows, cols) = logical_grid(r.len() as u32);
                    Region { rows, cols, tiles: r.collect() }
                })
                .collect()
        }
    }
}

/// Inputs of the region estimate.
pub struct Estimate<'a> {
    pub chip: &'a Chip,
    pub model: &'a Model,
    /// Weight and KV-cache bytes per element.
    pub weight_bytes: f64,
    pub kv_bytes: f64,
    /// Tensor-parallel degree (each chip holds 1/tp of every layer).
    pub tp: u32,
    /// Layers of the fullest chip stage.
    pub layers: u64,
    /// Tokens per user per pass and attended positions per user.
    pub tokens_per_user: u64,
    pub positions: u64,
    /// Users of a replica and chip stages of the plan.
    pub users: u64,
    pub pp: u32,
}

impl Estimate<'_> {
    /// Estimated cycles of one step with `regions` regions per chip: every
    /// micro-batch through every stage, the stages pipelined.
    pub fn cycles(&self, regions: u32) -> f64 {
        let chip = self.chip;
        let m = self.model;
        let stages = (self.pp * regions) as u64;
        let micro = if stages > 1 { stages.min(self.users).max(1) } else { 1 };
        let users = self.users.div_ceil(micro);
        let tokens = (users * self.tokens_per_user) as f64;
        let tiles = (chip.tiles_per_chip() / regions).max(1) as f64;
        let line = tiles.sqrt();
        let noc = &chip.noc;
        let hop = (noc.router.0 + noc.link.0) as f64;
        let step = hop + (noc.inject.0 + noc.eject.0 + chip.tile.vector_latency.0) as f64;
        // A multicast reaches the far half of a line; a reduction chain
        // walks it, one add per tile.
        let latency = line / 2.0 * hop + line / 2.0 * step;
        let per_tile_bw = match &chip.memory {
            Memory::SramOnly => chip.tile.sram_bw.0,
            Memory::Dram3d { dram, .. } => dram.channel_bw.0 * dram.channels as f64,
            Memory::Hbm { dram, .. } => {
                let hbm = dram.channel_bw.0 * dram.channels as f64;
                noc.link_bw.0.min(hbm / tiles)
            }
        };
        let macs = chip.tile.macs.iter().map(|&(_, m)| m).min().unwrap_or(1) as f64;
        let tp = self.tp as f64;
        let gemm = |k: u64, n: u64| {
            let w = k as f64 * n as f64 / tp;
            let data = w * self.weight_bytes / tiles / per_tile_bw;
            let compute = w * tokens / tiles / macs;
            latency + data.max(compute)
        };
        let kv = self.positions as f64 * users as f64 * m.kv_elements_per_position() as f64 / tp * self.kv_bytes;
        let attention = latency + kv / tiles / per_tile_bw;
        let layer = gemm(m.hidden, m.q_dim() + 2 * m.kv_dim())
            + attention
            + gemm(m.q_dim(), m.hidden)
            + gemm(m.hidden, 2 * (m.ffn * m.top_k.max(1) + m.shared_experts * m.shared_ffn))
            + gemm(m.ffn * m.top_k.max(1) + m.shared_experts * m.shared_ffn, m.hidden);
        let stage = layer * (self.layers as f64 / regions as f64).ceil();
        (stages + micro - 1) as f64 * stage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_splits_are_as_square_as_the_grid_allows() {
        assert_eq!(grid_split(48, 48, 4), Some((2, 2)));
        assert_eq!(grid_split(48, 48, 6), Some((2, 3)));
        assert_eq!(grid_split(16, 16, 1), Some((1, 1)));
        assert_eq!(grid_split(4, 4, 7), None);
        assert_eq!(logical_grid(20), (4, 5));
        assert_eq!(logical_grid(7), (1, 7));
    }
}
