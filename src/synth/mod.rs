//! Synthetic trace generators that need no model: synthetic NoC traffic and
//! collectives, written through the streaming trace sink.

pub mod traffic;

use crate::chip::{Chip, NocTopology, SystemTopology};
use crate::dtype::Dtype;
use crate::ids::TileId;
use crate::isa::{Instr, SramAddr, Tag, Token};
use crate::trace::{Header, Sink};
use crate::units::{Bytes, Cycles};
use std::io;

/// A generated trace: its header and each tile's instructions.
pub type Generated = (Header, Vec<(TileId, Vec<Instr>)>);

/// Writes a header and per-tile streams to `sink`.
pub fn write(sink: &mut dyn Sink, header: &Header, streams: &[(TileId, Vec<Instr>)]) -> io::Result<()> {
    sink.header(header)?;
    for (t, s) in streams {
        if s.is_empty() {
            continue;
        }
        sink.tile(*t)?;
        for i in s {
            sink.instr(i)?;
        }
    }
    Ok(())
}

/// The NoC grid width of a chip, for patterns defined on a grid.
pub fn grid_x(chip: &Chip) -> Option<u32> {
    match chip.noc.topology {
        NocTopology::Mesh { x, .. } | NocTopology::Torus { x, .. } => Some(x),
        _ => None,
    }
}

/// Checks, before generating anything, that `tiles` drawing at every one of
/// `cycles` stays within `MAX_TRAFFIC_SLOTS`, and that the packets expected
/// at `rate` fit the memory budget (arch/limits.md).
pub fn traffic_budget(tiles: u32, cycles: u64, rate: f64, packet_flits: u64) -> Result<(), String> {
    let slots = tiles as u128 * cycles as u128;
    if slots > crate::limits::MAX_TRAFFIC_SLOTS {
        return Err(format!(
            "--cycles {cycles} on {tiles} tiles is {slots} injection slots, more than the 2^32 allowed \
             (arch/limits.md)"
        ));
    }
    if rate.is_finite() && rate > 0.0 {
        let expected = slots as f64 * (rate / packet_flits.max(1) as f64).min(1.0);
        // A packet is two packed events (Traffic::events), with room for
        // the vectors' growth.
        crate::limits::check_memory("this traffic trace", (expected * 32.0) as u128)?;
    }
    Ok(())
}

/// Synthetic traffic as a trace: each tile issues its sends at their
/// creation cycles and posts the receive of each packet sent to it at the
/// packet's creation cycle.
///
/// What is held until the trace is written is two `u64`s per packet (a
/// send at its source, a receive at its destination), not instructions:
/// 16 bytes a packet, about a tenth of the instruction form. The
/// instructions are made as they are written ([`Traffic::write`]).
pub struct Traffic {
    pub header: Header,
    /// Bytes per packet.
    bytes: u64,
    /// Each tile's events, sorted, each packed as
    /// `(cycle * 2 + is_send) * tiles + peer`: the order is (cycle,
    /// receives before sends, peer), and `tiles x cycles <= 2^32` (the
    /// traffic limit) keeps the packing within 34 bits.
    events: Vec<Vec<u64>>,
}

impl Traffic {
    /// Tile `t`'s instructions, in order, to `emit`.
    fn tile_stream<E>(&self, t: usize, mut emit: impl FnMut(Instr) -> Result<(), E>) -> Result<(), E> {
        let ev = &self.events[t];
        if ev.is_empty() {
            return Ok(());
        }
        let tiles = self.events.len() as u64;
        let bytes = Bytes(self.bytes);
        let mut last = 0;
        for &key in ev {
            let (slot, peer) = (key / tiles, TileId((key % tiles) as u32));
            let (at, send) = (slot / 2, slot % 2 == 1);
            if at > last {
                emit(Instr::Delay { cycles: Cycles(at - last) })?;
                last = at;
            }
            emit(if send {
                Instr::Send { tok: Token(0), to: peer, tag: Tag(0), sram: SramAddr(0), bytes }
            } else {
                Instr::Recv { tok: Token(1), from: peer, tag: Tag(0), sram: SramAddr(0), bytes }
            })?;
        }
        emit(Instr::Wait { tok: Token(0) })?;
        emit(Instr::Wait { tok: Token(1) })
    }

    /// Writes the trace to `sink`, making each tile's instructions as it goes.
    pub fn write(&self, sink: &mut dyn Sink) -> io::Result<()> {
        sink.header(&self.header)?;
        for t in 0..self.events.len() {
            if !self.events[t].is_empty() {
                sink.tile(TileId(t as u32))?;
                self.tile_stream(t, |i| sink.instr(&i))?;
            }
        }
        Ok(())
    }

    /// The trace as instructions held in memory (for simulating without a file).
    pub fn into_generated(self) -> Generated {
        let streams = (0..self.events.len())
            .map(|t| {
                let mut s = Vec::new();
                let Ok(()) = self.tile_stream(t, |i| {
                    s.push(i);
                    Ok::<(), std::convert::Infallible>(())
                });
                (TileId(t as u32), s)
            })
            .collect();
        (self.header, streams)
    }
}

pub fn traffic_trace(
    chip: &Chip,
    pattern: traffic::Pattern,
    rate: f64,
    packet_flits: u64,
    flit_bytes: u64,
    cycles: u64,
    seed: u64,
) -> Result<Traffic, String> {
    let tiles = chip.total_tiles();
    let bytes = packet_flits
        .checked_mul(flit_bytes)
        .ok_or_else(|| format!("--packet-flits {packet_flits} x --flit-bytes {flit_bytes} overflows 64 bits"))?;
    traffic_budget(tiles, cycles, rate, packet_flits)?;
    if bytes > chip.tile.sram.0 {
        return Err(format!("a {bytes}-byte packet does not fit the tile SRAM ({})", chip.tile.sram));
    }
    // Every tile's events in time order: its sends at their creation
    // cycles, and a receive for each packet sent to it, posted at the
    // packet's creation cycle (before it can arrive), so the receives
    // outstanding at once are those of packets in flight, not of the run.
    let n = tiles as u64;
    let mut events: Vec<Vec<u64>> = vec![Vec::new(); tiles as usize];
    let grid = if chip.system.chips == 1 { grid_x(chip) } else { None };
    traffic::for_each_packet(tiles, grid, pattern, rate, packet_flits, cycles, seed, |at, src, dst| {
        events[dst.index()].push(at * 2 * n + src.0 as u64);
        events[src.index()].push((at * 2 + 1) * n + dst.0 as u64);
    })?;
    // Receives before sends in a cycle; per source, creation order (the
    // order a FIFO of one source and tag matches them in).
    for ev in &mut events {
        ev.sort_unstable();
        ev.shrink_to_fit();
    }
    let pat = format!("{pattern:?}").to_lowercase();
    let header = Header {
        chip: chip.name.clone(),
        tiles,
        model: String::new(),
        workload: format!(
            "traffic pattern={pat} rate={rate} packet_flits={packet_flits} flit_bytes={flit_bytes} cycles={cycles} seed={seed}"
        ),
        tokens: 0.0,
        users: 0,
        groups: Vec::new(),
        measure: Some((cycles / 5, cycles.max(1))),
    };
    Ok(Traffic { header, bytes, events })
}

/// The participants of a system-level collective: one tile per chip (the
/// gateway tile) when there are several chips, else every tile of the chip.
pub fn participants(chip: &Chip) -> Vec<TileId> {
    if chip.system.chips > 1 {
        (0..chip.system.chips).map(|c| TileId(c * chip.tiles_per_chip() + chip.system.gateway)).collect()
    } else {
        (0..chip.tiles_per_chip()).map(TileId).collect()
    }
}

/// The grid the 2-D algorithm uses: the system torus, or the chip's grid.
pub fn collective_grid(chip: &Chip) -> Option<(u32, u32)> {
    if chip.system.chips > 1 {
        match chip.system.topology {
            SystemTopology::Torus { x, y } => Some((x, y)),
            _ => None,
        }
    } else {
        match chip.noc.topology {
            NocTopology::Mesh { x, y } | NocTopology::Torus { x, y } => Some((x, y)),
            _ => None,
        }
    }
}

/// An all-reduce of `bytes` (fp16 elements) as a trace.
pub fn allreduce_trace(chip: &Chip, alg_name: &str, bytes: u64) -> Result<Generated, String> {
    let alg = match alg_name {
        "ring" => crate::collective::Algorithm::Ring,
        "recursive-doubling" => crate::collective::Algorithm::RecursiveDoubling,
        "2d" => {
            let (x, y) =
                collective_grid(chip).ok_or("the 2d algorithm needs a grid: a torus system, or a mesh/torus chip")?;
            crate::collective::Algorithm::TwoD { x, y }
        }
        other => {
            return Err(format!("unknown all-reduce algorithm `{other}` (expected ring, recursive-doubling or 2d)"));
        }
    };
    let tiles = participants(chip);
    let p = tiles.len() as u64;
    let chunk = if let crate::collective::Algorithm::RecursiveDoubling = alg { bytes } else { bytes.div_ceil(p) };
    // Chunks travel in slices (collective::SLICE); one must fit the SRAM.
    let slice = chunk.div_ceil(chunk.div_ceil(crate::collective::SLICE).clamp(1, crate::collective::MAX_SLICES));
    if slice > chip.tile.sram.0 {
        return Err(format!("a {slice}-byte slice does not fit the tile SRAM ({})", chip.tile.sram));
    }
    // The chip's collective library: its fixed costs, and only the
    // algorithms it runs.
    let step = chip.software.step(alg.kind()).ok_or_else(|| {
        let runs: Vec<&str> = chip.software.collective_step.iter().map(|(k, _)| k.name()).collect();
        format!(
            "`{}`'s collective library runs {} (software.collective_step), not {}",
            chip.name,
            runs.join(", "),
            alg.name()
        )
    })?;
    let mut streams = Vec::new();
    let r = crate::collective::Resources {
        send_token: 0,
        recv_token: 1,
        tag_base: 0,
        sram: 0,
        dtype: Dtype::Fp16,
        call: chip.software.collective_call,
        step,
        slice_token: 2,
    };
    crate::collective::all_reduce(&tiles, bytes, alg, r, &mut streams)?;
    let header = Header {
        chip: chip.name.clone(),
        tiles: chip.total_tiles(),
        model: String::new(),
        workload: format!("allreduce algorithm={} bytes={bytes} participants={p}", alg.name()),
        tokens: 0.0,
        users: 0,
        groups: Vec::new(),
        measure: None,
    };
    Ok((header, tiles.into_iter().zip(streams).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::shipped::{self, Kind};

    /// The packed events give exactly the streams of sorting (cycle,
    /// receive-before-send, peer) tuples and making instructions from them.
    #[test]
    fn packed_traffic_makes_the_tuple_order_streams() {
        let chip = crate::config::chip::load_str("mini-mesh", shipped::get(Kind::Chip, "mini-mesh").unwrap()).unwrap();
        for pattern in ["uniform", "transpose", "hotspot"] {
            let pattern = traffic::Pattern::parse(pattern).unwrap();
            let (_, streams) = traffic_trace(&chip, pattern, 0.3, 2, 16, 500, 7).unwrap().into_generated();
            let tiles = chip.total_tiles();
            let mut events: Vec<Vec<(u64, bool, TileId)>> = vec![Vec::new(); tiles as usize];
            traffic::for_each_packet(tiles, grid_x(&chip), pattern, 0.3, 2, 500, 7, |at, src, dst| {
                events[dst.index()].push((at, false, src));
                events[src.index()].push((at, true, dst));
            })
            .unwrap();
            let bytes = Bytes(32);
            for (t, ev) in events.iter_mut().enumerate() {
                ev.sort();
                let mut want = Vec::new();
                let mut last = 0;
                for &(at, send, peer) in ev.iter() {
                    if at > last {
                        want.push(Instr::Delay { cycles: Cycles(at - last) });
                        last = at;
                    }
                    want.push(if send {
                        Instr::Send { tok: Token(0), to: peer, tag: Tag(0), sram: SramAddr(0), bytes }
                    } else {
                        Instr::Recv { tok: Token(1), from: peer, tag: Tag(0), sram: SramAddr(0), bytes }
                    });
                }
                if !want.is_empty() {
                    want.push(Instr::Wait { tok: Token(0) });
                    want.push(Instr::Wait { tok: Token(1) });
                }
                assert!(ev.len() > 10, "tile {t}: too few packets to test anything");
                assert_eq!(streams[t].1, want, "{pattern:?} tile {t}");
            }
        }
    }
}
