//! Synthetic traffic simulated with no trace file (`tilesim run
//! --traffic`): every tile's instructions are made as the engine fetches
//! them, from the packets of a chunk of cycles at a time, so memory is flat
//! in simulated time.
//!
//! The packets come from the same [`PacketSource`] as `gen traffic`'s, are
//! packed into the same per-tile events ([`push_cycle`]) and made into
//! instructions by the same [`TileMaker`], so each tile's stream is the one
//! `gen traffic` writes. Each chunk's events come in key order per tile
//! (`push_cycle`), and a chunk's cycles all follow the previous chunk's, so
//! appending chunks gives the whole run's order.
//!
//! A tile's instructions are made only when it fetches past what it holds;
//! if its queue of events is empty and it has events left (counted by
//! [`TrafficStream::scan`]), the next chunk is generated for every tile.
//! Tiles issue at the absolute cycles of their events and nothing in the
//! traffic blocks issue, so they stay near each other in simulated time
//! and the queues hold about a chunk of each tile's events.

use super::traffic::PacketSource;
use super::{TileMaker, TrafficSpec, push_cycle};
use crate::diag::Location;
use crate::ids::TileId;
use crate::isa::Instr;
use crate::sim::{InstrSource, PacketFeed, SimError};
use crate::trace::{Header, Pos};
use crate::units::Bytes;
use std::collections::VecDeque;
use std::convert::Infallible;

/// Packed events a chunk aims at (all tiles together): the chunk is this
/// many events' worth of cycles, within [1, `MAX_CHUNK`].
const CHUNK_EVENTS: f64 = (1 << 17) as f64;
/// Most cycles in one chunk.
pub const MAX_CHUNK: u64 = 4096;

/// Bits of a position that hold the instruction's number in its tile's
/// stream (counted from 1); the tile is above them. A tile's stream has at
/// most `2 x cycles + tiles x cycles + 2 < 2^34` instructions (the traffic
/// limit bounds `tiles x cycles` by 2^32).
pub const POS_BITS: u32 = 36;

/// The position of instruction `i` (from 0) of tile `t`'s stream.
fn pos(t: usize, i: u64) -> Pos {
    (t as u64) << POS_BITS | (i + 1)
}

/// Where the instruction at `pos` is: `NAME, tile T, instruction I`
/// (`I` counted from 1).
pub fn location(name: &str, pos: Pos) -> Location {
    let (t, i) = (pos >> POS_BITS, pos & ((1 << POS_BITS) - 1));
    Location::file(format!("{name}, tile {t}, instruction {i}"))
}

/// The cycles of one chunk for `spec`: about `CHUNK_EVENTS` packed events
/// at its rate, at most `MAX_CHUNK`.
pub fn chunk_cycles(spec: &TrafficSpec) -> u64 {
    let p = (spec.rate / spec.packet_flits as f64).min(1.0);
    let per_cycle = 2.0 * p * spec.header.tiles as f64;
    (CHUNK_EVENTS / per_cycle).clamp(1.0, MAX_CHUNK as f64) as u64
}

/// Instructions a run of `spec` holds at once, for the memory budget: two
/// chunks of packed events (counted as instructions, which are larger),
/// and a few instructions per tile.
pub fn held_estimate(spec: &TrafficSpec) -> u128 {
    let p = (spec.rate / spec.packet_flits as f64).min(1.0);
    let tiles = spec.header.tiles as u128;
    let chunk = 2.0 * p * tiles as f64 * chunk_cycles(spec) as f64;
    2 * chunk.ceil() as u128 + 4 * tiles
}

/// The packets of `chunk` cycles at a time, as each tile's packed events,
/// in key order.
struct Chunks {
    src: PacketSource,
    chunk: u64,
    events: Vec<Vec<u64>>,
}

impl Chunks {
    fn new(spec: &TrafficSpec, chunk: u64) -> Chunks {
        Chunks { src: spec.source(), chunk: chunk.max(1), events: vec![Vec::new(); spec.header.tiles as usize] }
    }

    /// Generates the next chunk into `events`; false when injection is over.
    fn next(&mut self) -> bool {
        if self.src.done() {
            return false;
        }
        for ev in &mut self.events {
            ev.clear();
        }
        let until = self.src.at().saturating_add(self.chunk);
        let events = &mut self.events;
        self.src.advance(until, |at, packets| push_cycle(events, at, packets));
        debug_assert!(self.events.iter().all(|ev| ev.is_sorted()), "push_cycle keeps key order");
        true
    }
}

/// The packets of a synthetic-traffic run with no instructions (`run
/// --traffic --packets`, `sim::simulate_packets`): the same packets as
/// `gen traffic`'s, from the same [`PacketSource`], a chunk of cycles at a
/// time.
pub struct Packets {
    pub header: Header,
    /// What names the run in reports and messages: the traffic's name
    /// ([`TrafficSpec::name`]) with ` packets`.
    pub name: String,
    pub feed: PacketFeeder,
}

/// [`Packets`]' source of packets.
pub struct PacketFeeder {
    src: PacketSource,
    chunk: u64,
    bytes: u64,
}

impl Packets {
    pub fn new(spec: &TrafficSpec) -> Packets {
        Packets {
            header: spec.header.clone(),
            name: format!("{} packets", spec.name()),
            feed: PacketFeeder { src: spec.source(), chunk: chunk_cycles(spec), bytes: spec.bytes },
        }
    }
}

impl PacketFeed for PacketFeeder {
    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn refill(&mut self, out: &mut VecDeque<(u64, TileId, TileId)>) -> bool {
        if self.src.done() {
            return false;
        }
        let until = self.src.at().saturating_add(self.chunk);
        self.src.advance(until, |at, packets| out.extend(packets.iter().map(|&(s, d)| (at, s, d))));
        true
    }
}

/// One tile's part of the stream.
#[derive(Default)]
struct Tile {
    /// Events generated and not yet made into instructions, in order.
    keys: VecDeque<u64>,
    /// Events of the run not yet made into instructions (queued or not
    /// generated yet).
    left: u64,
    /// Whether the stream has any instruction.
    any: bool,
    /// Whether its final waits are made.
    ended: bool,
    maker: TileMaker,
    /// Instructions `base..base + window.len()` of the stream.
    window: VecDeque<Instr>,
    base: usize,
}

/// The instruction streams of a synthetic-traffic run, made on demand.
pub struct TrafficStream {
    pub header: Header,
    /// What names the run in reports and messages ([`TrafficSpec::name`]).
    pub name: String,
    bytes: Bytes,
    chunks: Chunks,
    tiles: Vec<Tile>,
}

impl TrafficStream {
    /// Makes every instruction of the run once, a chunk of `chunk` cycles
    /// at a time, calling `f` on each with its tile and position (tiles in
    /// turn within a chunk; each tile's instructions in order) and holding
    /// nothing, then returns the stream ready to run from the start.
    pub fn scan<E>(
        spec: &TrafficSpec,
        chunk: u64,
        mut f: impl FnMut(TileId, &Instr, Pos) -> Result<(), E>,
    ) -> Result<TrafficStream, E> {
        let n = spec.header.tiles as usize;
        let (tiles, bytes) = (n as u64, Bytes(spec.bytes));
        let mut chunks = Chunks::new(spec, chunk);
        let mut makers = vec![TileMaker::default(); n];
        let mut events = vec![0u64; n];
        let mut made = vec![0u64; n];
        while chunks.next() {
            for (t, ev) in chunks.events.iter().enumerate() {
                let mut emit = |i: Instr| {
                    let p = pos(t, made[t]);
                    made[t] += 1;
                    f(TileId(t as u32), &i, p)
                };
                for &key in ev {
                    makers[t].event(key, tiles, bytes, &mut emit)?;
                }
                events[t] += ev.len() as u64;
            }
        }
        for t in (0..n).filter(|&t| events[t] > 0) {
            let mut emit = |i: Instr| {
                let p = pos(t, made[t]);
                made[t] += 1;
                f(TileId(t as u32), &i, p)
            };
            TileMaker::end(&mut emit)?;
        }
        Ok(TrafficStream::new(spec, chunk, &events))
    }

    /// The stream of `spec` from the start, tile `t` having `events[t]`
    /// packed events in the run (what `scan` counts).
    fn new(spec: &TrafficSpec, chunk: u64, events: &[u64]) -> TrafficStream {
        let tiles = events.iter().map(|&e| Tile { left: e, any: e > 0, ..Tile::default() }).collect();
        TrafficStream {
            header: spec.header.clone(),
            name: spec.name(),
            bytes: Bytes(spec.bytes),
            chunks: Chunks::new(spec, chunk),
            tiles,
        }
    }

    /// Events queued and instructions held now, over all tiles.
    pub fn held(&self) -> usize {
        self.tiles.iter().map(|t| t.keys.len() + t.window.len()).sum()
    }

    /// Generates the next chunk into every tile's queue; false when
    /// injection is over.
    fn generate(&mut self) -> bool {
        if !self.chunks.next() {
            return false;
        }
        for (tile, ev) in self.tiles.iter_mut().zip(&self.chunks.events) {
            tile.keys.extend(ev);
        }
        true
    }

    /// Instruction `pc` of tile `t`; `None` past its end.
    pub fn instr(&mut self, t: TileId, pc: usize) -> Result<Option<Instr>, String> {
        let n = self.tiles.len() as u64;
        loop {
            let tile = &mut self.tiles[t.index()];
            let Some(i) = pc.checked_sub(tile.base) else {
                return Err(format!("tile {t}: instruction {pc} was fetched after it was retired"));
            };
            if let Some(instr) = tile.window.get(i) {
                return Ok(Some(*instr));
            }
            let window = &mut tile.window;
            let mut push = |i: Instr| {
                window.push_back(i);
                Ok::<(), Infallible>(())
            };
            if let Some(key) = tile.keys.pop_front() {
                tile.left -= 1;
                let Ok(()) = tile.maker.event(key, n, self.bytes, &mut push);
            } else if tile.left > 0 {
                if !self.generate() {
                    return Err(format!("tile {t}: the traffic generator ended before the events it counted"));
                }
            } else if tile.any && !tile.ended {
                tile.ended = true;
                let Ok(()) = TileMaker::end(&mut push);
            } else {
                return Ok(None);
            }
        }
    }
}

impl InstrSource for TrafficStream {
    fn header(&self) -> &Header {
        &self.header
    }

    fn has_stream(&self, t: TileId) -> bool {
        self.tiles[t.index()].any
    }

    fn fetch(&mut self, t: TileId, pc: usize) -> Result<Option<(Instr, Pos)>, SimError> {
        match self.instr(t, pc) {
            Ok(i) => Ok(i.map(|i| (i, pos(t.index(), pc as u64)))),
            Err(m) => Err(SimError::Mismatch(Location::file(&self.name), m)),
        }
    }

    fn retire(&mut self, t: TileId, pc: usize) {
        let tile = &mut self.tiles[t.index()];
        while tile.base < pc && tile.window.pop_front().is_some() {
            tile.base += 1;
        }
    }

    fn location(&self, pos: Pos) -> Location {
        location(&self.name, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::shipped::{self, Kind};
    use crate::synth::{Traffic, traffic::Pattern};

    fn chip(name: &str) -> crate::chip::Chip {
        crate::config::chip::load_str(name, shipped::get(Kind::Chip, name).unwrap()).unwrap()
    }

    /// Every tile's stream made in chunks of `chunk` cycles, fetched tile
    /// after tile (the first tile runs ahead of all others: the queues then
    /// hold the rest of the run), with positions.
    fn streams(spec: &TrafficSpec, chunk: u64) -> Vec<Vec<(Instr, Pos)>> {
        let mut scanned = vec![Vec::new(); spec.header.tiles as usize];
        let mut s = TrafficStream::scan(spec, chunk, |t, i, p| {
            scanned[t.index()].push((*i, p));
            Ok::<(), Infallible>(())
        })
        .unwrap();
        let mut fetched = vec![Vec::new(); spec.header.tiles as usize];
        for (t, out) in fetched.iter_mut().enumerate() {
            let t = TileId(t as u32);
            let mut pc = 0;
            while let Some(x) = s.fetch(t, pc).unwrap() {
                out.push(x);
                pc += 1;
                s.retire(t, pc);
            }
            assert_eq!(s.has_stream(t), pc > 0);
        }
        assert_eq!(scanned, fetched, "scan and fetch make different streams (chunk {chunk})");
        fetched
    }

    /// The chunked streams are exactly the held trace's (what `gen traffic`
    /// writes), for chunks of 1 cycle, sizes that do not divide the run,
    /// one longer than the run, and the default.
    #[test]
    fn chunked_streams_equal_the_held_trace() {
        for (name, pattern, rate, flits) in [
            ("mini-mesh", Pattern::Uniform, 0.3, 2),
            ("mini-mesh", Pattern::Transpose, 0.5, 1),
            ("mini-mesh", Pattern::Hotspot, 1.0, 1),
            ("mini-mesh", Pattern::Bitcomp, 0.2, 4),
            ("booksim-mesh8x8", Pattern::Uniform, 0.05, 1),
        ] {
            let c = chip(name);
            let spec = TrafficSpec::new(&c, pattern, rate, flits, 16, 777, 3).unwrap();
            let (_, held) = Traffic::generate(&spec).unwrap().into_generated();
            for chunk in [1, 7, 100, 1000, chunk_cycles(&spec)] {
                let made = streams(&spec, chunk);
                let mut packets = 0;
                for (t, (id, want)) in held.iter().enumerate() {
                    assert_eq!(id.index(), t);
                    let got: Vec<Instr> = made[t].iter().map(|x| x.0).collect();
                    assert_eq!(&got, want, "{name} {pattern:?} chunk {chunk} tile {t}");
                    let at: Vec<Pos> = made[t].iter().map(|x| x.1).collect();
                    let want_at: Vec<Pos> = (0..want.len() as u64).map(|i| pos(t, i)).collect();
                    assert_eq!(at, want_at);
                    packets += want.iter().filter(|i| matches!(i, Instr::Send { .. })).count();
                }
                assert!(packets > 100, "{name} {pattern:?}: too few packets ({packets}) to test anything");
            }
        }
    }

    /// Tiles fetching in step hold about a chunk of events, not the run's.
    #[test]
    fn tiles_in_step_hold_a_chunk() {
        let c = chip("booksim-mesh8x8");
        let spec = TrafficSpec::new(&c, Pattern::Uniform, 0.3, 1, 16, 20_000, 0).unwrap();
        let chunk = 256;
        let mut total = 0u64;
        let mut s = TrafficStream::scan(&spec, chunk, |_, _, _| {
            total += 1;
            Ok::<(), Infallible>(())
        })
        .unwrap();
        let tiles = c.total_tiles() as usize;
        let (mut pcs, mut now, mut done) = (vec![0usize; tiles], vec![0u64; tiles], vec![false; tiles]);
        let mut most = 0;
        // As the engine issues: every tile up to each cycle in turn, a
        // delay taking it to a later cycle.
        let mut clock = 0;
        while done.iter().any(|d| !d) {
            for t in 0..tiles {
                while !done[t] && now[t] <= clock {
                    match s.fetch(TileId(t as u32), pcs[t]).unwrap() {
                        Some((i, _)) => {
                            if let Instr::Delay { cycles } = i {
                                now[t] += cycles.0;
                            }
                            pcs[t] += 1;
                            s.retire(TileId(t as u32), pcs[t]);
                        }
                        None => done[t] = true,
                    }
                    most = most.max(s.held());
                }
            }
            clock += 1;
        }
        let per_chunk = 2.0 * 0.3 * tiles as f64 * chunk as f64;
        assert!(total > 700_000, "{total}");
        assert!((most as f64) < 2.5 * per_chunk, "held {most} events, a chunk is about {per_chunk}");
    }

    #[test]
    fn locations_name_the_tile_and_instruction() {
        assert_eq!(location("traffic:uniform", pos(3, 16)).to_string(), "traffic:uniform, tile 3, instruction 17");
    }
}
