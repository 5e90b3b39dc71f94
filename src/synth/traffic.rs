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
    pub const ALL: [Pattern; 4] = [Pattern::Uniform, Pattern::Transpose, Pattern::Bitcomp, Pattern::Hotspot];

    /// The name `--pattern` takes (BookSim's `traffic` for the first three).
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Uniform => "uniform",
            Pattern::Transpose => "transpose",
            Pattern::Bitcomp => "bitcomp",
            Pattern::Hotspot => "hotspot",
        }
    }

    pub fn parse(s: &str) -> Result<Pattern, String> {
        Pattern::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown traffic pattern `{s}` (expected uniform, transpose, bitcomp or hotspot)"))
    }
}

/// Every source's Bernoulli process, advanced over cycles on demand: the
/// one implementation of packet generation, for a whole run at once
/// (`gen traffic`) or a chunk of cycles at a time
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
    /// calling `each(at, packets)` for every cycle that creates packets,
    /// in cycle order, with its packets `(src, dst)` in source order.
    pub fn advance(&mut self, until: u64, mut each: impl FnMut(u64, &[(TileId, TileId)])) {
        let (from, until) = (self.at, until.min(self.cycles));
        if from >= until {
            return;
        }
        let (tiles, x) = (self.tiles, self.grid_x);
        let below = Rng::unit_threshold(self.p);
        let mut packets = Vec::new();
        for t in from..until {
            packets.clear();
            // Sixty-four sources at a time: first every source's draw of
            // whether it creates a packet, without a branch (the draws are
            // independent, so they overlap), then the destinations of those
            // that do, in source order. Each source's generator sees the
            // same draws in the same order as drawing one source at a time.
            for (c, rngs) in self.rngs.chunks_mut(64).enumerate() {
                let mut fire = 0u64;
                for (i, rng) in rngs.iter_mut().enumerate() {
                    fire |= u64::from(rng.next_u64() >> 11 < below) << i;
                }
                while fire != 0 {
                    let i = fire.trailing_zeros() as usize;
                    fire &= fire - 1;
                    let (s, rng) = ((c * 64 + i) as u32, &mut rngs[i]);
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
                    packets.push((TileId(s), TileId(d)));
                }
            }
            if !packets.is_empty() {
                each(t, &packets);
            }
        }
        self.at = until;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packets are those of one generator per source drawn over every
    /// cycle in turn (the loop `gen traffic` ran before generation could be
    /// advanced a chunk at a time; written out here as the reference), in
    /// any chunking.
    #[test]
    fn packets_are_the_per_source_draws_in_any_chunking() {
        for (pattern, tiles, grid) in [
            (Pattern::Uniform, 16, Some(4)),
            (Pattern::Transpose, 16, Some(4)),
            (Pattern::Bitcomp, 32, None),
            (Pattern::Hotspot, 12, None),
            // More sources than one batch of draws (64), and a partial last one.
            (Pattern::Uniform, 200, None),
            (Pattern::Hotspot, 130, None),
        ] {
            let (rate, flits, cycles, seed) = (0.7, 2, 500, 11u64);
            let p = rate / flits as f64;
            let mut want = Vec::new();
            for s in 0..tiles {
                let mut rng = Rng::new(seed.wrapping_mul(0x1000_0000_01b3) ^ s as u64);
                for t in 0..cycles {
                    if rng.unit() < p {
                        let d = match pattern {
                            Pattern::Uniform => rng.below(tiles as u64) as u32,
                            Pattern::Transpose => (s % 4) * 4 + s / 4,
                            Pattern::Bitcomp => !s & (tiles - 1),
                            Pattern::Hotspot if rng.below(4) == 0 => tiles / 2,
                            Pattern::Hotspot => rng.below(tiles as u64) as u32,
                        };
                        want.push((s, t, d));
                    }
                }
            }
            assert!(want.len() > 1000, "{pattern:?}");
            for chunk in [1, 3, 64, 500, 10_000] {
                let mut src = PacketSource::new(tiles, grid, pattern, rate, flits, cycles, seed).unwrap();
                let mut got = Vec::new();
                let mut last = None;
                while !src.done() {
                    let until = src.at() + chunk;
                    src.advance(until, |at, packets| {
                        assert!(last < Some(at), "cycles in order");
                        last = Some(at);
                        assert!(packets.windows(2).all(|w| w[0].0 < w[1].0), "sources in order");
                        got.extend(packets.iter().map(|&(s, d)| (s.0, at, d.0)));
                    });
                }
                got.sort_unstable();
                assert_eq!(got, want, "{pattern:?} in chunks of {chunk}");
            }
        }
    }
}
