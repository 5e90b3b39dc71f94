//! Synthetic NoC traffic in BookSim's terms: every tile creates packets by
//! a Bernoulli process at `rate` flits per node per cycle, each packet
//! `packet_flits` flits of `flit_bytes`, for `cycles` cycles.

use crate::ids::TileId;
use crate::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Destination uniform over all tiles, the source included (as BookSim).
    Uniform,
    /// Tile (x, y) sends to (y, x) on a square grid.
    Transpose,
    /// Tile i sends to its bitwise complement (power-of-two tile counts).
    Bitcomp,
    /// A quarter of the packets go to the hotspot (the middle tile), the rest uniform.
    Hotspot,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, String> {
        match s {
            "uniform" => Ok(Pattern::Uniform),
            "transpose" => Ok(Pattern::Transpose),
            "bitcomp" => Ok(Pattern::Bitcomp),
            "hotspot" => Ok(Pattern::Hotspot),
            _ => Err(format!("unknown traffic pattern `{s}` (expected uniform, transpose, bitcomp or hotspot)")),
        }
    }
}

/// Every source's Bernoulli process, advanced over cycles on demand: the
/// one implementation of packet generation, for a whole run at once
/// ([`for_each_packet`], `gen traffic`) or a chunk of cycles at a time
/// (`synth::stream`, `run --traffic`). Each source has its own generator,
/// so a source's packets do not depend on the others' or on how the
/// cycles are cut into chunks.
#[derive(Clone, Debug)]
pub struct PacketSource {
    tiles: u32,
    /// The grid width, for transpose (checked square by `new`).
    grid_x: u32,
    pattern: Pattern,
    /// Packets per source per cycle.
    p: f64,
    rngs: Vec<Rng>,
    /// The next cycle to generate, and the end of injection.
    at: u64,
    cycles: u64,
}

impl PacketSource {
    /// Sources on `tiles` tiles creating `packet_flits`-flit packets at
    /// `rate` flits per node per cycle for `cycles` cycles; refuses a rate
    /// out of range and a pattern the tiles cannot have, before any packet.
    pub fn new(
        tiles: u32,
        grid_x: Option<u32>,
        pattern: Pattern,
        rate: f64,
        packet_flits: u64,
        cycles: u64,
        seed: u64,
    ) -> Result<PacketSource, String> {
        if !(rate > 0.0 && rate <= packet_flits as f64) {
            return Err(format!("rate must be in (0, {packet_flits}] flits/node/cycle, found {rate}"));
        }
        let grid_x = match pattern {
            Pattern::Transpose => grid_x.filter(|&x| x as u64 * x as u64 == tiles as u64).ok_or_else(|| {
                format!("transpose needs a square grid of tiles (a square mesh or torus chip; found {tiles} tiles)")
            })?,
            Pattern::Bitcomp if !tiles.is_power_of_two() => {
                return Err(format!("bitcomp needs a power-of-two tile count, found {tiles}"));
            }
            Pattern::Uniform | Pattern::Bitcomp | Pattern::Hotspot => 0,
        };
        let rngs = (0..tiles).map(|s| Rng::new(seed.wrapping_mul(0x1000_0000_01b3) ^ s as u64)).collect();
        Ok(PacketSource { tiles, grid_x, pattern, p: rate / packet_flits as f64, rngs, at: 0, cycles })
    }

    /// The first cycle not generated yet.
    pub fn at(&self) -> u64 {
        self.at
    }

    /// Whether every cycle of injection has been generated.
    pub fn done(&self) -> bool {
        self.at >= self.cycles
    }

    /// Generates cycles `at()..until` (at most to the end of injection),
    /// calling `each(at, src, dst)` for every packet created in them,
    /// source by source and in creation order per source.
    pub fn advance(&mut self, until: u64, mut each: impl FnMut(u64, TileId, TileId)) {
        let (from, until) = (self.at, until.min(self.cycles));
        if from >= until {
            return;
        }
        let (tiles, x, p) = (self.tiles, self.grid_x, self.p);
        for (s, rng) in (0..tiles).zip(&mut self.rngs) {
            for t in from..until {
                if rng.unit() < p {
                    let d = match self.pattern {
                        Pattern::Uniform => rng.below(tiles as u64) as u32,
                        Pattern::Transpose => (s % x) * x + s / x,
                        Pattern::Bitcomp => !s & (tiles - 1),
                        Pattern::Hotspot => {
                            if rng.below(4) == 0 {
                                tiles / 2
                            } else {
                                rng.below(tiles as u64) as u32
                            }
                        }
                    };
                    each(t, TileId(s), TileId(d));
                }
            }
        }
        self.at = until;
    }
}

/// Calls `each(at, src, dst)` for every packet of a run, source by source
/// and in creation order per source; nothing is held.
#[allow(clippy::too_many_arguments)]
pub fn for_each_packet(
    tiles: u32,
    grid_x: Option<u32>,
    pattern: Pattern,
    rate: f64,
    packet_flits: u64,
    cycles: u64,
    seed: u64,
    each: impl FnMut(u64, TileId, TileId),
) -> Result<(), String> {
    let mut src = PacketSource::new(tiles, grid_x, pattern, rate, packet_flits, cycles, seed)?;
    src.advance(cycles, each);
    Ok(())
}
