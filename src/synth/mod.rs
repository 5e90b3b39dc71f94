//! Synthetic trace generators that need no model: synthetic NoC traffic and
//! collectives, written through the streaming trace sink.

pub mod stream;
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
/// `cycles` stays within `MAX_TRAFFIC_SLOTS` (arch/limits.md).
pub fn traffic_slots(tiles: u32, cycles: u64) -> Result<(), String> {
    let slots = tiles as u128 * cycles as u128;
    if slots > crate::limits::MAX_TRAFFIC_SLOTS {
        return Err(format!(
            "--cycles {cycles} on {tiles} tiles is {slots} injection slots, more than the 2^32 allowed \
             (arch/limits.md)"
        ));
    }
    Ok(())
}

/// Checks, before generating anything, that `tiles` drawing at every one of
/// `cycles` stays within `MAX_TRAFFIC_SLOTS`, and that the packets expected
/// at `rate` fit the memory budget when the whole run's are held (a trace
/// written by `gen traffic`; arch/limits.md).
pub fn traffic_budget(tiles: u32, cycles: u64, rate: f64, packet_flits: u64) -> Result<(), String> {
    traffic_slots(tiles, cycles)?;
    if rate.is_finite() && rate > 0.0 {
        let slots = tiles as u128 * cycles as u128;
        let expected = slots as f64 * (rate / packet_flits.max(1) as f64).min(1.0);
        // A packet is two packed events (Traffic::events), with room for
        // the vectors' growth.
        crate::limits::check_memory("this traffic trace", (expected * 32.0) as u128)?;
    }
    Ok(())
}

/// A run of synthetic traffic, its parameters checked against the chip:
/// what `gen traffic` writes and `run --traffic` simulates. It holds no
/// packet; [`Traffic::generate`] makes them all, `stream::TrafficStream` a
/// chunk of cycles at a time, both from [`TrafficSpec::source`].
#[derive(Clone, Debug)]
pub struct TrafficSpec {
    pub header: Header,
    pub pattern: traffic::Pattern,
    pub rate: f64,
    pub packet_flits: u64,
    pub flit_bytes: u64,
    pub cycles: u64,
    pub seed: u64,
    /// Bytes per packet.
    pub bytes: u64,
    /// Every source's generator at cycle 0.
    source: traffic::PacketSource,
}

impl TrafficSpec {
    /// Checks the parameters (sizes at least 1, the packet within 64 bits
    /// and the tile SRAM, `tiles x cycles` within the traffic limit, the
    /// rate in range, a pattern the chip's tiles can have) before anything
    /// is generated.
    pub fn new(
        chip: &Chip,
        pattern: traffic::Pattern,
        rate: f64,
        packet_flits: u64,
        flit_bytes: u64,
        cycles: u64,
        seed: u64,
    ) -> Result<TrafficSpec, String> {
        if packet_flits == 0 || flit_bytes == 0 || cycles == 0 {
            return Err("--packet-flits, --flit-bytes and --cycles must be at least 1".into());
        }
        let tiles = chip.total_tiles();
        let bytes = packet_flits
            .checked_mul(flit_bytes)
            .ok_or_else(|| format!("--packet-flits {packet_flits} x --flit-bytes {flit_bytes} overflows 64 bits"))?;
        traffic_slots(tiles, cycles)?;
        if bytes > chip.tile.sram.0 {
            return Err(format!("a {bytes}-byte packet does not fit the tile SRAM ({})", chip.tile.sram));
        }
        let grid = if chip.system.chips == 1 { grid_x(chip) } else { None };
        let source = traffic::PacketSource::new(tiles, grid, pattern, rate, packet_flits, cycles, seed)?;
        let pat = format!("{pattern:?}").to_lowercase();
        let header = Header {
            chip: chip.name.clone(),
            tiles,
            model: String::new(),
            workload: format!(
                "traffic pattern={pat} rate={rate} packet_flits={packet_flits} flit_bytes={flit_bytes} \
                 cycles={cycles} seed={seed}"
            ),
            tokens: 0.0,
            users: 0,
            groups: Vec::new(),
            measure: Some((cycles / 5, cycles.max(1))),
        };
        Ok(TrafficSpec { header, pattern, rate, packet_flits, flit_bytes, cycles, seed, bytes, source })
    }

    /// The packet generator, at cycle 0.
    pub fn source(&self) -> traffic::PacketSource {
        self.source.clone()
    }

    /// What names the run where a trace file's name would be (a report's
    /// `trace`): `traffic:PATTERN rate=R packet_flits=F flit_bytes=B
    /// cycles=N seed=S`.
    pub fn name(&self) -> String {
        let w = &self.header.workload;
        format!("traffic:{}", w.strip_prefix("traffic pattern=").unwrap_or(w))
    }
}

/// Adds the packets `(src, dst)` created at cycle `at`, in source order
/// (`PacketSource::advance`), to their tiles' packed events: a receive at
/// each `dst`, then a send at each `src`, each packed as
/// `(at * 2 + is_send) * tiles + peer`. Receives first (each source sends
/// at most one packet a cycle), so each tile's events are in key order when
/// cycles come in order, and need no sort.
pub(crate) fn push_cycle(events: &mut [Vec<u64>], at: u64, packets: &[(TileId, TileId)]) {
    let n = events.len() as u64;
    for &(src, dst) in packets {
        events[dst.index()].push(at * 2 * n + src.0 as u64);
    }
    for &(src, dst) in packets {
        events[src.index()].push((at * 2 + 1) * n + dst.0 as u64);
    }
}

/// Makes one tile's instructions from its packed events, taken in sorted
/// order: a `delay` up to each new cycle, then the event's `send` (token 0)
/// or `recv` (token 1); after the last, `wait` on both tokens. The one
/// implementation of "events to instructions", for the file writer
/// ([`Traffic::write`]) and the lazy source (`stream::TrafficStream`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TileMaker {
    /// The cycle of the last event made.
    last: u64,
}

impl TileMaker {
    /// The instructions of event `key` (packed for `tiles` tiles, packets
    /// of `bytes`), to `emit`.
    pub fn event<E>(
        &mut self,
        key: u64,
        tiles: u64,
        bytes: Bytes,
        emit: &mut impl FnMut(Instr) -> Result<(), E>,
    ) -> Result<(), E> {
        let (slot, peer) = (key / tiles, TileId((key % tiles) as u32));
        let (at, send) = (slot / 2, slot % 2 == 1);
        if at > self.last {
            emit(Instr::Delay { cycles: Cycles(at - self.last) })?;
            self.last = at;
        }
        emit(if send {
            Instr::Send { tok: Token(0), to: peer, tag: Tag(0), sram: SramAddr(0), bytes }
        } else {
            Instr::Recv { tok: Token(1), from: peer, tag: Tag(0), sram: SramAddr(0), bytes }
        })
    }

    /// The end of a stream that had events.
    pub fn end<E>(emit: &mut impl FnMut(Instr) -> Result<(), E>) -> Result<(), E> {
        emit(Instr::Wait { tok: Token(0) })?;
        emit(Instr::Wait { tok: Token(1) })
    }
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
    /// Every packet of the run `spec`, held (after the memory check of
    /// `traffic_budget`).
    pub fn generate(spec: &TrafficSpec) -> Result<Traffic, String> {
        let tiles = spec.header.tiles;
        traffic_budget(tiles, spec.cycles, spec.rate, spec.packet_flits)?;
        // Every tile's events in time order: its sends at their creation
        // cycles, and a receive for each packet sent to it, posted at the
        // packet's creation cycle (before it can arrive), so the receives
        // outstanding at once are those of packets in flight, not of the run.
        let mut events: Vec<Vec<u64>> = vec![Vec::new(); tiles as usize];
        spec.source().advance(spec.cycles, |at, packets| push_cycle(&mut events, at, packets));
        // Receives before sends in a cycle; per source, creation order (the
        // order a FIFO of one source and tag matches them in): `push_cycle`
        // appends in that order.
        for ev in &mut events {
            debug_assert!(ev.is_sorted(), "push_cycle keeps key order");
            ev.shrink_to_fit();
        }
        Ok(Traffic { header: spec.header.clone(), bytes: spec.bytes, events })
    }

    /// Tile `t`'s instructions, in order, to `emit`.
    fn tile_stream<E>(&self, t: usize, mut emit: impl FnMut(Instr) -> Result<(), E>) -> Result<(), E> {
        let ev = &self.events[t];
        if ev.is_empty() {
            return Ok(());
        }
        let tiles = self.events.len() as u64;
        let mut maker = TileMaker::default();
        for &key in ev {
            maker.event(key, tiles, Bytes(self.bytes), &mut emit)?;
        }
        TileMaker::end(&mut emit)
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

/// Synthetic traffic held whole: [`TrafficSpec::new`] then
/// [`Traffic::generate`].
pub fn traffic_trace(
    chip: &Chip,
    pattern: traffic::Pattern,
    rate: f64,
    packet_flits: u64,
    flit_bytes: u64,
    cycles: u64,
    seed: u64,
) -> Result<Traffic, String> {
    Traffic::generate(&TrafficSpec::new(chip, pattern, rate, packet_flits, flit_bytes, cycles, seed)?)
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
            let mut source = traffic::PacketSource::new(tiles, grid_x(&chip), pattern, 0.3, 2, 500, 7).unwrap();
            source.advance(500, |at, packets| {
                for &(src, dst) in packets {
                    events[dst.index()].push((at, false, src));
                    events[src.index()].push((at, true, dst));
                }
            });
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
