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
    mut each: impl FnMut(u64, TileId, TileId),
) -> Result<(), String> {
    if !(rate > 0.0 && rate <= packet_flits as f64) {
        return Err(format!("rate must be in (0, {packet_flits}] flits/node/cycle, found {rate}"));
    }
    let dest = |rng: &mut Rng, s: u32| -> Result<u32, String> {
        Ok(match pattern {
            Pattern::Uniform => rng.below(tiles as u64) as u32,
            Pattern::Transpose => {
                let x = grid_x.filter(|&x| x * x == tiles).ok_or("transpose needs a square grid of tiles")?;
                (s % x) * x + s / x
            }
            Pattern::Bitcomp => {
                if !tiles.is_power_of_two() {
                    return Err("bitcomp needs a power-of-two tile count".into());
                }
                !s & (tiles - 1)
            }
            Pattern::Hotspot => {
                if rng.below(4) == 0 {
                    tiles / 2
                } else {
                    rng.below(tiles as u64) as u32
                }
            }
        })
    };
    let p = rate / packet_flits as f64;
    // One generator per source so a tile's stream does not depend on the others.
    for s in 0..tiles {
        let mut rng = Rng::new(seed.wrapping_mul(0x1000_0000_01b3) ^ s as u64);
        for t in 0..cycles {
            if rng.unit() < p {
                let d = dest(&mut rng, s)?;
                each(t, TileId(s), TileId(d));
            }
        }
    }
    Ok(())
}
