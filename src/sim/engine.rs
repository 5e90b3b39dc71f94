//! The simulation loop and its event handlers.

use super::code::Code;
use super::cost;
use super::event::EventQueue;
use super::hist::Histogram;
use super::mailbox::Mailboxes;
use super::mcast;
use super::memory::{HbmCache, MemSystem};
use super::network::{End, Network, Path, Vc, VcGrant};
use super::slab::Slab;
use super::stats::{
    Blocked, ByteCounts, Chain, CriticalPath, PathClass, RunStats, SimError, StuckTile, TileStats, WaitKind,
};
use super::timeline::{Lane, SpanSink, Timeline, TimelineOptions, Track};
use crate::chip::Chip;
use crate::dtype::Dtype;
use crate::hint;
use crate::ids::{ArrivalId, ChipId, LinkId, MessageId, OpId, PacketId, TileId};
use crate::isa::{ComputeUnit, Dest, Dir, Effect, Instr, Loc, Space, Work};
use crate::trace::lazy::{Lazy, ScanError};
use crate::trace::{Header, Pos, Trace, against};
use crate::units::{BandwidthServer, Bytes, Cycle, Cycles, Tick};
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Everything that can happen, in one closed set.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// A tile may issue its next instructions.
    Issue(TileId),
    /// A packet's head reaches the next link of its route.
    Hop(PacketId),
    /// A message's last byte has been delivered.
    Delivered(MessageId),
    /// A multicast's last byte has reached destination `.1` (its index).
    DeliveredTo(MessageId, u32),
    /// A DMA request reaches the vault or SRAM that serves it.
    MemArrive(OpId),
    /// A load request, or store data, reaches HBM stack `.1`'s channels.
    StackArrive(OpId, u32),
    /// One part of an operation is done (data landed in SRAM, written to memory).
    PartDone(OpId),
    /// The packets a `PacketFeed` creates in this cycle enter the network.
    Inject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Load,
    Store,
    Send,
    Recv,
}

/// Where and when an instruction issues.
#[derive(Clone, Copy, Debug)]
struct At {
    tile: TileId,
    now: Cycle,
    pos: Pos,
}

/// An asynchronous operation in flight.
#[derive(Clone, Debug)]
struct Op {
    tile: TileId,
    token: u32,
    kind: OpKind,
    mem: Loc,
    bytes: u64,
    pos: Pos,
    parts: u32,
    issued: Cycle,
    peer: TileId,
    tag: u32,
    /// The loop iterations it was issued in (HBM accesses on a chip with a
    /// cache: `loop_context`).
    ctx: u64,
    /// Critical path: the chain it continues (its tile's at issue; a
    /// receive's, the later of that and its message's once matched).
    cp: Chain,
    /// Critical path: cycles its last part spent on chip-to-chip links (sends).
    links: u32,
    /// Timeline: its track among the tile's DMA engines or message lanes.
    lane: u32,
}

/// The fields of an operation that memory handlers read (a copy, without
/// its critical-path chain).
#[derive(Clone, Copy)]
struct Brief {
    tile: TileId,
    kind: OpKind,
    mem: Loc,
    bytes: u64,
    issued: Cycle,
    ctx: u64,
}

impl Op {
    fn brief(&self) -> Brief {
        Brief { tile: self.tile, kind: self.kind, mem: self.mem, bytes: self.bytes, issued: self.issued, ctx: self.ctx }
    }
}

/// What happens when a message has been delivered.
#[derive(Clone, Copy, Debug)]
enum OnDelivery {
    /// Data for load `op` has reached its tile: write it into SRAM.
    LoadData(OpId),
    /// Store data has reached HBM stack `stack`: write it to that stack's channels.
    StoreAtStack(OpId, u32),
    /// Store data has reached a remote tile's vault or SRAM.
    StoreAtTile(OpId),
    /// A send's message has arrived at its destination.
    Send(OpId),
    /// A packet of a `PacketFeed` has reached tile `.0`.
    Packet(TileId),
}

/// The links a packet crosses (each packet holds its own, so a hop reads
/// its link without going through the message).
enum Route {
    /// One destination: the links in order (shared by every message
    /// between the same two ends).
    Path(Path),
    /// A multicast: the union of the routes to every destination.
    Tree(Rc<mcast::Tree>),
}

struct Msg {
    /// Packets still to arrive (a unicast; a multicast counts per
    /// destination, in `mcast`).
    packets_left: u32,
    created: Cycle,
    done: OnDelivery,
    /// Load data: when the last packet so far has been written into SRAM.
    written: Cycle,
    /// Cycles its last packet spent on chip-to-chip links, for the
    /// critical path.
    links: u32,
    /// A multicast's destinations (`None` for a unicast): boxed, so the
    /// messages every load, store and send makes stay small.
    mcast: Option<Box<McastMsg>>,
}

/// What a multicast message tracks per destination.
struct McastMsg {
    tree: Rc<mcast::Tree>,
    /// Packets still to arrive at each destination.
    dest_left: Vec<u32>,
    /// Destinations still to be reached.
    dests_left: u32,
    /// Cycles the last packet to each destination spent on chip-to-chip
    /// links (allocated once one is non-zero), for the critical path.
    dest_links: Vec<u32>,
}

struct Packet {
    msg: MessageId,
    /// At most `noc.packet` (16 MiB, `limits::MAX_PACKET_BYTES`).
    bytes: u32,
    /// Index of the link it is at: in the message's path, or its tree node.
    hop: u32,
    /// Cycles spent so far on chip-to-chip links (saturating), for the
    /// critical path.
    links: u32,
    route: Route,
    /// Earliest instant the tail can reach the current link.
    tail_in: Tick,
    /// The virtual channel it holds in the router it is in (`noc.vcs`).
    held: Option<Vc>,
    /// A VC of its next port handed to it while it waited (`take_vc`), and
    /// the tick that VC frees (meaningful only with `grant`). Here rather
    /// than in a map by packet: every hop with VCs looked the map up.
    grant: Option<Vc>,
    grant_at: Tick,
}

impl Packet {
    fn new(msg: MessageId, route: Route, bytes: u64, hop: u32, tail_in: Tick, links: u32) -> Packet {
        let bytes = u32::try_from(bytes).expect("a packet is at most noc.packet (16 MiB)");
        Packet { msg, bytes, hop, links, route, tail_in, held: None, grant: None, grant_at: Tick::ZERO }
    }
}

/// A receive queue entry for one (destination, source, tag): a handle, so
/// a receiver's queues stay small (its block of them is what a match misses
/// in the cache).
#[derive(Clone, Copy)]
enum Mail {
    Arrived(ArrivalId),
    Posted(OpId),
}

/// A message that arrived before a receive was posted for it.
struct Arrival {
    bytes: u64,
    send_pos: Pos,
    from_tile: TileId,
    /// The send's critical path to its arrival.
    chain: Chain,
}

/// From this many tiles on, the event loop prefetches the state of the
/// next events' tiles and operations (`Sim::prefetch`): the tiles' state
/// (`TileState`, `TileStats`, a trace section and its window, ~450 bytes a
/// tile) then outgrows a core's L2 of 1 MiB, and an event on a tile not
/// touched for a while missed the cache on each. Below it the state stays
/// in cache and the look-ahead only costs instructions (+15% on an 8x8
/// mesh's `--packets` run, prefetching for every event). Results never
/// depend on it.
const PREFETCH_TILES: usize = 2048;

struct TileState {
    pc: usize,
    /// Open loops: (first instruction of the body, iterations left, count).
    loops: Vec<(usize, u64, u64)>,
    /// Operations in flight per token, and their kind (for time
    /// accounting), together: a completion reads both from one line.
    tokens: Vec<Token>,
    blocked: Blocked,
    block_start: Cycle,
    /// Where it blocked (a barrier), for the timeline.
    block_pos: Pos,
    dma_busy: u32,
    sram: BandwidthServer,
    /// The critical path to where the tile is (its end is the cycle it
    /// issues at).
    cp: Chain,
    /// The paths this tile last sent on (`Sim::path`).
    recent: RecentPaths,
}

/// A token's operations in flight and the kind of the last one issued.
#[derive(Clone, Copy)]
struct Token {
    count: u32,
    kind: WaitKind,
}

/// Paths a tile keeps (`RecentPaths`): in groq-576's 70B step 2 found 55%
/// of its paths, 4 found 83%; in cerebras-cs3x4's, 2 found 99%.
const RECENT: usize = 4;

/// The last `RECENT` paths a tile sent on, by destination tile, most
/// recently used first. A tile of a compiled model sends to a few peers
/// over and over, and its state is in cache when it issues; on systems
/// whose paths are hashed (`PathCache`) the map's probe missed the cache
/// (8.6% of cerebras-cs3x4's batch-32 step in `perf`).
#[derive(Default)]
struct RecentPaths([Option<(TileId, Path)>; RECENT]);

impl RecentPaths {
    fn get(&mut self, to: TileId) -> Option<Path> {
        let i = self.0.iter().position(|e| e.as_ref().is_some_and(|(t, _)| *t == to))?;
        self.0[..=i].rotate_right(1);
        self.0[0].as_ref().map(|(_, p)| Rc::clone(p))
    }
    fn put(&mut self, to: TileId, p: &Path) {
        self.0.rotate_right(1);
        self.0[0] = Some((to, Rc::clone(p)));
    }
}

struct GroupState {
    arrived: u32,
    latency: Cycles,
}

struct Sim<'a> {
    chip: &'a Chip,
    code: Code<'a>,
    q: EventQueue<Event>,
    net: Network,
    mem: MemSystem,
    tiles: Vec<TileState>,
    stats: Vec<TileStats>,
    ops: Slab<OpId, Op>,
    msgs: Slab<MessageId, Msg>,
    pkts: Slab<PacketId, Packet>,
    /// Messages waiting for a receive, and receives waiting for a message,
    /// by (receiver, sender, tag).
    mail: Mailboxes<Mail>,
    arrivals: Slab<ArrivalId, Arrival>,
    /// Multicast trees by (sender, group), built on first use.
    trees: FxHashMap<(u32, u32), Rc<mcast::Tree>>,
    /// Unicast paths by their ends, built on first use.
    paths: PathCache,
    groups: Vec<GroupState>,
    /// Zero-load request latency from a chip-local tile to each HBM stack.
    stack_latency: Vec<Cycles>,
    bytes: ByteCounts,
    message_latency: Histogram,
    window: (Cycle, Cycle),
    window_latency: Histogram,
    window_bytes: u64,
    timeline: Option<Timeline<'a>>,
    /// Packets injected with no instructions (`simulate_packets`).
    feed: Option<Feed<'a>>,
    /// The latest-ending chain so far: the critical path once the run is over.
    last: CriticalPath,
    error: Option<SimError>,
    /// Whether the event loop prefetches (`PREFETCH_TILES`).
    prefetch: bool,
}

/// Packets made with no instruction stream (`run --traffic --packets`):
/// BookSim2's own model. Each packet is whole at its source tile in the
/// cycle it is created (no SRAM read, no send or receive instruction) and
/// is counted when its last byte reaches its destination tile.
pub trait PacketFeed {
    /// Bytes of every packet.
    fn bytes(&self) -> u64;
    /// Appends the packets of the next cycles as (cycle, source,
    /// destination), in (cycle, source) order and each cycle whole, after
    /// any appended before; false when injection is over (nothing appended).
    fn refill(&mut self, out: &mut VecDeque<(u64, TileId, TileId)>) -> bool;
}

/// A `PacketFeed` and the packets it made that have not entered yet.
struct Feed<'a> {
    src: &'a mut dyn PacketFeed,
    pending: VecDeque<(u64, TileId, TileId)>,
}

impl Feed<'_> {
    /// The next cycle that creates packets, if any.
    fn next_cycle(&mut self) -> Option<u64> {
        while self.pending.is_empty() {
            if !self.src.refill(&mut self.pending) {
                return None;
            }
        }
        self.pending.front().map(|p| p.0)
    }
}

/// Options of one run.
#[derive(Default)]
pub struct Options<'s> {
    /// Record a timeline, streaming its spans into the sink as they happen.
    pub timeline: Option<(TimelineOptions, &'s RefCell<dyn SpanSink + 's>)>,
    /// Whether the event loop prefetches for the next events: `None`
    /// decides by the system's size (`PREFETCH_TILES`). A hint: the results
    /// are the same either way (tests/lazy.rs runs both).
    pub prefetch: Option<bool>,
}

/// Runs `trace` on `chip`.
pub fn simulate<'a>(chip: &'a Chip, trace: &'a Trace, opts: &Options<'a>) -> Result<RunStats, SimError> {
    against::check_header(chip, &trace.header)
        .map_err(|m| SimError::Mismatch(crate::diag::Location::file(&trace.file), m))?;
    super::budget::check(chip, trace).map_err(|m| SimError::Mismatch(crate::diag::Location::file(&trace.file), m))?;
    // Chip-dependent checks up front, so a bad instruction fails before any time passes.
    for (t, p) in trace.programs.iter().enumerate() {
        for (i, instr) in p.instrs.iter().enumerate() {
            if let Err(m) = against::check_instr(chip, TileId(t as u32), instr) {
                return Err(SimError::Instr { at: trace.location(p.pos[i]), tile: t as u32, message: m });
            }
        }
    }
    let mut sim = Sim::new(chip, Code::Held(trace), opts);
    sim.run()?;
    sim.finish()
}

/// Checks the binary trace at `path` for a run on `chip` — the trace
/// checker, the chip-dependent checks of every instruction and the run's
/// budget — reading it once and holding nothing of it, and shows `visit`
/// every instruction with its tile, each tile's stream in order (the
/// report's totals: `roofline::scan`). `simulate_lazy` then runs it.
pub fn scan(chip: &Chip, path: &std::path::Path, mut visit: impl FnMut(TileId, &Instr)) -> Result<Lazy, SimError> {
    // The header first: a trace for another chip is told so, not refused
    // for its first instruction.
    let src = crate::trace::open(path).map_err(|e| SimError::Mismatch(e.loc.clone(), e.kind.to_string()))?;
    against::check_header(chip, src.header())
        .map_err(|m| SimError::Mismatch(crate::diag::Location::file(path.display().to_string()), m))?;
    drop(src);
    let mut events = super::budget::Events::new(chip);
    let file = path.display().to_string();
    let r = Lazy::scan(path, |t, i, pos| {
        visit(t, i);
        events.add(t, i);
        against::check_instr(chip, t, i).map_err(|m| (t, pos, m))
    });
    let lazy = match r {
        Ok(l) => l,
        Err(ScanError::Trace(e)) => return Err(SimError::Mismatch(e.loc.clone(), e.kind.to_string())),
        Err(ScanError::Refused((t, pos, message))) => {
            return Err(SimError::Instr { at: crate::diag::Location::byte(&file, pos), tile: t.0, message });
        }
    };
    let loc = || crate::diag::Location::file(&lazy.file);
    let streams = (0..lazy.header.tiles).filter(|&t| lazy.has_stream(TileId(t))).count() as u128;
    events
        .check_run(chip, &lazy.header, streams * super::budget::LAZY_WINDOW, super::budget::Subject::Trace)
        .map_err(|m| SimError::Mismatch(loc(), m))?;
    Ok(lazy)
}

/// Unicast paths kept at most (a 64x64-tile chip's every pair is 16 M:
/// beyond this, the cache starts afresh rather than grow).
const MAX_PATHS: usize = 1 << 16;

/// Unicast paths built on first use and kept. In a system of at most
/// `MAX_PATHS` pairs of ends (tiles and HBM stacks: 256 ends), a path is
/// one indexed read of a table (64 KB for 8x8 tiles); in bigger systems
/// they are looked up by hash, at most `MAX_PATHS` of them, then the map
/// starts afresh. The table replaced the hash for the 8x8 mesh's uniform
/// traffic, where probing the map for a random pair of tiles missed the
/// cache (~14% of a `--packets` run in `perf`), and for dgx-h100's loads
/// from its stacks (4.2% of its 70B decode step).
struct PathCache {
    tiles: usize,
    stacks: usize,
    /// Tiles and stacks.
    ends: usize,
    /// `pairs[end(from) * ends + end(to)]`, ends numbered tiles first, then
    /// each chip's stacks; empty when there are more pairs than
    /// `MAX_PATHS`.
    pairs: Vec<Option<Path>>,
    map: FxHashMap<(End, End), Path>,
}

impl PathCache {
    /// The cache of a system of `tiles` tiles and `stacks` HBM stacks per
    /// chip over `chips` chips.
    fn new(tiles: usize, stacks: usize, chips: usize) -> PathCache {
        let ends = tiles.saturating_add(stacks.saturating_mul(chips));
        let pairs = ends.saturating_mul(ends);
        let pairs = if pairs <= MAX_PATHS { vec![None; pairs] } else { Vec::new() };
        PathCache { tiles, stacks, ends, pairs, map: FxHashMap::default() }
    }

    /// `e`'s number among the ends.
    fn end(&self, e: End) -> usize {
        match e {
            End::Tile(t) => t.index(),
            End::Stack { chip, stack } => self.tiles + chip.index() * self.stacks + stack as usize,
        }
    }

    /// Whether paths are hashed (not in `pairs`).
    fn hashed(&self) -> bool {
        self.pairs.is_empty()
    }

    fn get(&mut self, net: &Network, from: End, to: End) -> Path {
        if !self.pairs.is_empty() {
            let i = self.end(from) * self.ends + self.end(to);
            let slot = &mut self.pairs[i];
            return Rc::clone(slot.get_or_insert_with(|| net.path(from, to)));
        }
        if let Some(p) = self.map.get(&(from, to)) {
            return Rc::clone(p);
        }
        if self.map.len() >= MAX_PATHS {
            self.map.clear();
        }
        let p = net.path(from, to);
        self.map.insert((from, to), Rc::clone(&p));
        p
    }
}

/// Runs a trace checked by `scan`.
pub fn simulate_lazy<'a>(chip: &'a Chip, lazy: &'a mut Lazy, opts: &Options<'a>) -> Result<RunStats, SimError> {
    let mut sim = Sim::new(chip, Code::Lazy(lazy), opts);
    sim.run()?;
    sim.finish()
}

/// Runs the packets of `feed` with no instructions (`run --traffic
/// --packets`): `header` describes the run (tiles, statistics window) and
/// `name` names it. Each packet enters its source's link in the cycle it is
/// created, in the order the feed gives; every tile is otherwise idle.
/// Checked before the run (the header, the budget), as `simulate_source`.
pub fn simulate_packets<'a>(
    chip: &'a Chip,
    header: &'a Header,
    name: &'a str,
    feed: &'a mut dyn PacketFeed,
    opts: &Options<'a>,
) -> Result<RunStats, SimError> {
    let mut sim = Sim::new(chip, Code::Empty(header, name), opts);
    sim.feed = Some(Feed { src: feed, pending: VecDeque::new() });
    sim.run()?;
    sim.finish()
}

/// Runs instructions made on demand by `source` (`run --traffic`), checked
/// before the run as `scan` checks a file.
pub fn simulate_source<'a>(
    chip: &'a Chip,
    source: &'a mut dyn super::code::InstrSource,
    opts: &Options<'a>,
) -> Result<RunStats, SimError> {
    let mut sim = Sim::new(chip, Code::Source(source), opts);
    sim.run()?;
    sim.finish()
}

impl<'a> Sim<'a> {
    fn new(chip: &'a Chip, code: Code<'a>, opts: &Options<'a>) -> Sim<'a> {
        let net = Network::new(chip);
        let n = chip.total_tiles() as usize;
        let mem = MemSystem::new(chip);
        let tiles = (0..n)
            .map(|_| TileState {
                pc: 0,
                loops: Vec::new(),
                tokens: Vec::new(),
                blocked: Blocked::No,
                block_start: Cycle::ZERO,
                block_pos: 0,
                dma_busy: 0,
                sram: BandwidthServer::new(chip.tile.sram_bw),
                cp: Chain::default(),
                recent: RecentPaths::default(),
            })
            .collect();
        let stacks = match &mem {
            MemSystem::Hbm(hbm) => hbm.stacks as usize,
            MemSystem::SramOnly | MemSystem::Vaults(_) => 0,
        };
        let mut buf = Vec::new();
        let mut stack_latency = Vec::new();
        if let MemSystem::Hbm(hbm) = &mem {
            for t in 0..chip.tiles_per_chip() {
                for s in 0..hbm.stacks {
                    net.route(End::Tile(TileId(t)), End::Stack { chip: ChipId(0), stack: s }, &mut buf);
                    stack_latency.push(net.zero_load(buf.iter().copied(), 0));
                }
            }
        }
        // Barrier latency: gather to the first member and release back, at zero load.
        let groups = code
            .header()
            .groups
            .iter()
            .map(|members| {
                let root = members[0];
                let mut worst = Cycles::ZERO;
                for &m in members {
                    net.route(End::Tile(m), End::Tile(root), &mut buf);
                    worst = worst.max(net.zero_load(buf.iter().copied(), 0));
                }
                GroupState { arrived: 0, latency: Cycles(2 * worst.0) }
            })
            .collect();
        let timeline =
            opts.timeline.as_ref().map(|(o, sink)| Timeline::new(o.clone(), sink, n, &net, mem.channel_count()));
        Sim {
            chip,
            code,
            q: EventQueue::new(),
            net,
            mem,
            tiles,
            stats: vec![TileStats::default(); n],
            ops: Slab::default(),
            msgs: Slab::default(),
            pkts: Slab::default(),
            mail: Mailboxes::new(n),
            arrivals: Slab::default(),
            trees: FxHashMap::default(),
            paths: PathCache::new(n, stacks, chip.system.chips as usize),
            groups,
            stack_latency,
            bytes: ByteCounts::default(),
            message_latency: Histogram::default(),
            window: (Cycle::ZERO, Cycle(u64::MAX)),
            window_latency: Histogram::default(),
            window_bytes: 0,
            timeline,
            feed: None,
            last: CriticalPath::default(),
            error: None,
            prefetch: opts.prefetch.unwrap_or(n >= PREFETCH_TILES),
        }
    }

    fn run(&mut self) -> Result<(), SimError> {
        self.window = synthetic_window(self.code.header());
        for t in 0..self.tiles.len() {
            if self.code.has_stream(TileId(t as u32)) {
                self.q.schedule(Cycle::ZERO, Event::Issue(TileId(t as u32)));
            } else {
                self.tiles[t].blocked = Blocked::Done;
            }
        }
        if let Some(at) = self.feed.as_mut().and_then(Feed::next_cycle) {
            self.q.schedule(Cycle(at), Event::Inject);
        }
        while let Some((now, ev)) = self.q.pop() {
            if self.prefetch {
                self.prefetch();
            }
            match ev {
                Event::Issue(t) => self.issue(t, now),
                Event::Hop(p) => self.hop(p, now),
                Event::Delivered(m) => self.delivered(m, now),
                Event::DeliveredTo(m, d) => self.delivered_to(m, d, now),
                Event::MemArrive(op) => self.mem_arrive(op, now),
                Event::StackArrive(op, stack) => self.stack_arrive(op, stack, now),
                Event::PartDone(op) => self.part_done(op, now),
                Event::Inject => self.inject(now),
            }
            if let Some(e) = self.error.take() {
                return Err(e);
            }
        }
        if let Some(f) = self.q.fault() {
            return Err(f.into());
        }
        if let Some(at) = self.q.beyond() {
            let file = crate::diag::Location::file(self.code.location(Pos::default()).file);
            return Err(SimError::TooLong { file, now: self.q.now(), at });
        }
        self.check_stuck()
    }

    /// Prefetches for the next two events, in two stages: the slots of the
    /// event after next, and what the next one's slots (prefetched one
    /// event ago) point to.
    #[inline(never)]
    fn prefetch(&self) {
        let (next, after) = self.q.peek_near();
        if let Some(e) = after {
            self.warm(e);
        }
        if let Some(e) = next {
            self.warm_deep(e);
        }
    }

    /// Prefetches the state event `e` will read first, while the event
    /// before it is handled (a hint: results do not depend on it).
    #[inline(always)]
    fn warm(&self, e: Event) {
        match e {
            Event::Issue(t) => {
                if let (Some(ts), Some(st)) = (self.tiles.get(t.index()), self.stats.get(t.index())) {
                    hint::prefetch_all(ts);
                    hint::prefetch_all(st);
                }
                self.code.prefetch(t);
            }
            Event::MemArrive(op) | Event::StackArrive(op, _) | Event::PartDone(op) => self.ops.prefetch(op),
            // Packets and messages live briefly in slabs that reuse the
            // slot freed last: their slots are in the cache already.
            Event::Hop(_) | Event::Delivered(_) | Event::DeliveredTo(..) | Event::Inject => {}
        }
    }

    /// The second stage of `warm`: what the slots it prefetched point to
    /// (the instruction in the tile's window, an operation's tile).
    #[inline(always)]
    fn warm_deep(&self, e: Event) {
        let tile = match e {
            Event::Issue(t) => {
                if let Some(ts) = self.tiles.get(t.index()) {
                    self.code.prefetch_instr(t, ts.pc);
                }
                return;
            }
            Event::MemArrive(op) | Event::StackArrive(op, _) | Event::PartDone(op) => match self.ops.peek(op) {
                Some(o) => o.tile,
                None => return,
            },
            Event::Hop(_) | Event::Delivered(_) | Event::DeliveredTo(..) | Event::Inject => return,
        };
        if let Some(ts) = self.tiles.get(tile.index()) {
            hint::prefetch_all(ts);
        }
    }

    // ----- issue -------------------------------------------------------

    /// Wakes blocked tile `t`: what it waited for ended now, at the end
    /// of critical path `chain`, which it continues.
    fn wake(&mut self, t: TileId, now: Cycle, kind: WaitKind, chain: Chain) {
        let ts = &mut self.tiles[t.index()];
        let waited = now.since(ts.block_start).0;
        self.stats[t.index()].waits[kind.index()] += waited;
        ts.blocked = Blocked::No;
        ts.cp = chain;
        self.q.schedule(now, Event::Issue(t));
    }

    /// Something of tile `t` ended at the end of `chain`: the run's
    /// critical path if nothing ends later.
    #[inline]
    fn ended(&mut self, t: TileId, chain: Chain) {
        if chain.end >= self.last.chain.end {
            self.last = CriticalPath { chain, tile: t.0 };
        }
    }

    fn token_slot(ts: &mut TileState, tok: u32) -> usize {
        let i = tok as usize;
        if ts.tokens.len() <= i {
            ts.tokens.resize(i + 1, Token { count: 0, kind: WaitKind::Memory });
        }
        i
    }

    fn issue(&mut self, t: TileId, now: Cycle) {
        let ti = t.index();
        self.tiles[ti].blocked = Blocked::No;
        debug_assert_eq!(self.tiles[ti].cp.end, now.0, "tile {t}'s critical path ends where it issues");
        // Nothing before the outermost open loop (else before the next
        // instruction) is fetched again.
        let ts = &self.tiles[ti];
        let keep = ts.loops.first().map_or(ts.pc, |l| l.0 - 1);
        self.code.retire(t, keep);
        loop {
            let pc = self.tiles[ti].pc;
            let (instr, pos) = match self.code.fetch(t, pc) {
                Ok(Some(i)) => i,
                Ok(None) => {
                    self.tiles[ti].blocked = Blocked::Done;
                    self.stats[ti].finished = now;
                    let cp = self.tiles[ti].cp;
                    self.ended(t, cp);
                    return;
                }
                Err(e) => {
                    self.error.get_or_insert(e);
                    self.tiles[ti].blocked = Blocked::Done;
                    return;
                }
            };
            self.stats[ti].instructions += 1;
            match instr.effect() {
                Effect::Dma { dir, tok, mem, bytes, .. } => {
                    if self.tiles[ti].dma_busy >= self.chip.tile.dma_engines {
                        self.stats[ti].instructions -= 1;
                        let ts = &mut self.tiles[ti];
                        ts.blocked = Blocked::Dma;
                        ts.block_start = now;
                        return;
                    }
                    let kind = match dir {
                        Dir::Load => OpKind::Load,
                        Dir::Store => OpKind::Store,
                    };
                    self.start_dma(At { tile: t, now, pos }, kind, tok.0, mem, bytes.0);
                }
                Effect::Send { tok, to: Dest::Tile(to), tag, bytes, .. } => {
                    self.start_msg(At { tile: t, now, pos }, OpKind::Send, tok.0, to, tag.0, bytes.0);
                }
                Effect::Send { tok, to: Dest::Group(group), tag, bytes, .. } => {
                    self.start_mcast(At { tile: t, now, pos }, tok.0, group.0, tag.0, bytes.0);
                }
                Effect::Recv { tok, from, tag, bytes, .. } => {
                    self.start_msg(At { tile: t, now, pos }, OpKind::Recv, tok.0, from, tag.0, bytes.0);
                }
                Effect::Wait(tok) => {
                    let ts = &mut self.tiles[ti];
                    let i = Self::token_slot(ts, tok.0);
                    if ts.tokens[i].count > 0 {
                        ts.blocked = Blocked::Token(tok.0);
                        ts.block_start = now;
                        return;
                    }
                }
                Effect::Compute { unit, work, dtype } => {
                    let end = self.compute(t, now, unit, &work, dtype, &instr, pos);
                    self.tiles[ti].pc += 1;
                    self.tiles[ti].blocked = Blocked::Busy;
                    self.q.schedule(end, Event::Issue(t));
                    return;
                }
                Effect::Delay(cycles) => {
                    self.tiles[ti].pc += 1;
                    if cycles.0 > 0 {
                        self.stats[ti].waits[WaitKind::Overhead.index()] += cycles.0;
                        self.tiles[ti].cp.add(PathClass::Software, cycles.0);
                        if let Some(tl) = &mut self.timeline {
                            tl.span(Track::Wait(t), "delay", now, now + cycles, pos, 0);
                        }
                        self.tiles[ti].blocked = Blocked::Busy;
                        self.q.schedule(now + cycles, Event::Issue(t));
                        return;
                    }
                    continue;
                }
                Effect::Barrier(group) => {
                    self.tiles[ti].pc += 1;
                    let ts = &mut self.tiles[ti];
                    ts.blocked = Blocked::Barrier(group.0);
                    ts.block_start = now;
                    ts.block_pos = pos;
                    let g = &mut self.groups[group.0 as usize];
                    g.arrived += 1;
                    let members = &self.code.header().groups[group.0 as usize];
                    if g.arrived as usize == members.len() {
                        g.arrived = 0;
                        let at = now + g.latency;
                        // The last to arrive (this tile) sets the release.
                        let mut chain = self.tiles[ti].cp;
                        chain.add(PathClass::Sync, g.latency.0);
                        for &m in members {
                            self.tiles[m.index()].cp = chain;
                            if let Some(tl) = &mut self.timeline {
                                let ms = &self.tiles[m.index()];
                                tl.span(Track::Wait(m), "barrier", ms.block_start, at, ms.block_pos, 0);
                            }
                            let waited = at.since(self.tiles[m.index()].block_start).0;
                            self.stats[m.index()].waits[WaitKind::Sync.index()] += waited;
                            self.tiles[m.index()].blocked = Blocked::Busy;
                            self.q.schedule(at, Event::Issue(m));
                        }
                    }
                    return;
                }
                Effect::LoopOpen(count) => {
                    self.tiles[ti].loops.push((pc + 1, count.0, count.0));
                }
                Effect::LoopClose => {
                    let ts = &mut self.tiles[ti];
                    let top = ts.loops.last_mut().expect("checker guarantees balanced loops");
                    top.1 -= 1;
                    if top.1 > 0 {
                        ts.pc = top.0;
                        continue;
                    }
                    ts.loops.pop();
                }
            }
            self.tiles[ti].pc += 1;
        }
    }

    /// Starts a compute instruction; returns when issue may continue.
    #[allow(clippy::too_many_arguments)]
    fn compute(
        &mut self,
        t: TileId,
        now: Cycle,
        unit: ComputeUnit,
        w: &Work,
        dtype: Dtype,
        instr: &Instr,
        pos: Pos,
    ) -> Cycle {
        let tile = &self.chip.tile;
        let busy = cost::unit_cycles(tile, dtype, w);
        let ts = &mut self.tiles[t.index()];
        let (_, port_end) = ts.sram.reserve(now, Bytes(w.sram_bytes));
        let lat = cost::latency(tile, unit);
        let end = (now + busy).max(port_end) + lat;
        // Critical path: the units' time and latency; the SRAM port's when
        // it held the instruction longer.
        ts.cp.add(PathClass::Compute, busy.0 + lat.0);
        ts.cp.add(PathClass::Sram, port_end.since(now + busy).0);
        let st = &mut self.stats[t.index()];
        st.compute_cycles += (end - now).0;
        st.macs += w.macs;
        st.flops += 2 * w.macs + w.vector_ops;
        st.vector_ops += w.vector_ops;
        match unit {
            ComputeUnit::Vector => st.vector_busy += busy.0,
            ComputeUnit::Matrix => st.matrix_busy += busy.0,
        }
        self.bytes.sram += w.sram_bytes;
        self.bytes.kv_read += w.kv_bytes;
        if let Some(tl) = &mut self.timeline {
            let track = match unit {
                ComputeUnit::Vector => Track::Vector(t),
                ComputeUnit::Matrix => Track::Matrix(t),
            };
            tl.span(track, instr.opcode().mnemonic(), now, end, pos, 0);
        }
        end
    }

    // ----- asynchronous operations ------------------------------------

    fn new_op(&mut self, at: At, tok: u32, kind: OpKind, mem: Loc, bytes: u64) -> OpId {
        let At { tile: t, now, pos } = at;
        let ts = &mut self.tiles[t.index()];
        let i = Self::token_slot(ts, tok);
        let waits = match kind {
            OpKind::Load | OpKind::Store => WaitKind::Memory,
            OpKind::Send | OpKind::Recv => WaitKind::Network,
        };
        ts.tokens[i] = Token { count: ts.tokens[i].count + 1, kind: waits };
        let cp = ts.cp;
        let lane = match &mut self.timeline {
            Some(tl) => tl.open(lane_of(kind), t),
            None => 0,
        };
        self.ops.insert(Op {
            tile: t,
            token: tok,
            kind,
            mem,
            bytes,
            pos,
            parts: 1,
            issued: now,
            peer: t,
            tag: 0,
            ctx: 0,
            cp,
            links: 0,
            lane,
        })
    }

    fn start_dma(&mut self, at: At, kind: OpKind, tok: u32, mem: Loc, bytes: u64) {
        let (t, now) = (at.tile, at.now);
        self.tiles[t.index()].dma_busy += 1;
        let op = self.new_op(at, tok, kind, mem, bytes);
        let st = &mut self.stats[t.index()];
        if kind == OpKind::Load {
            st.loads += 1;
        } else {
            st.stores += 1;
        }
        if bytes == 0 {
            self.q.schedule(now, Event::PartDone(op));
            return;
        }
        let controller = self.mem.controller();
        let owner = mem.tile().unwrap_or(t);
        if self.mem.has_cache() && mem.space() == Space::Hbm {
            self.ops.get_mut(op).ctx = self.loop_context(t);
        }
        // `hbm:` locations occur only on HBM chips (src/sim/memory.rs).
        match (kind, mem.space(), &self.mem) {
            (OpKind::Load, Space::Hbm, MemSystem::Hbm(hbm)) => {
                // The request reaches each stack it touches after that
                // stack's own path latency; channels are booked only then.
                // With a cache it arrives at the stack's slice, which passes
                // misses on to the controller (`stack_arrive`).
                let local = t.0 % self.chip.tiles_per_chip();
                let stacks = hbm.stacks;
                let touched = hbm.stacks_touched(mem.addr(), bytes);
                let to_stack = if hbm.cache.is_some() { Cycles::ZERO } else { controller };
                self.ops.get_mut(op).parts = touched.count_ones();
                for s in (0..stacks).filter(|&s| touched >> s & 1 == 1) {
                    let lat = self.stack_latency[(local * stacks + s) as usize];
                    self.q.schedule(now + lat + to_stack, Event::StackArrive(op, s));
                }
            }
            (OpKind::Load, _, _) if owner == t => {
                // Own vault (or own SRAM: a local copy).
                let extra = if mem.space() == Space::Dram { controller } else { Cycles::ZERO };
                self.q.schedule(now + extra, Event::MemArrive(op));
            }
            (OpKind::Load, _, _) => {
                let path = self.path(End::Tile(t), End::Tile(owner));
                let req = self.net.zero_load(path.iter().map(|s| s.link()), 0);
                let extra = if mem.space() == Space::Dram { controller } else { Cycles::ZERO };
                self.q.schedule(now + req + extra, Event::MemArrive(op));
            }
            (_, Space::Hbm, MemSystem::Hbm(hbm)) => {
                // Read SRAM, then one message per stack with that stack's bytes.
                let per_stack = hbm.per_stack(mem.addr(), bytes);
                let (ps, pe) = self.tiles[t.index()].sram.reserve(now, Bytes(bytes));
                let chip = self.net.chip_of(t);
                let parts = per_stack.iter().filter(|&&b| b > 0).count() as u32;
                self.ops.get_mut(op).parts = parts;
                for (s, &b) in per_stack.iter().enumerate() {
                    if b > 0 {
                        let to = End::Stack { chip, stack: s as u32 };
                        self.send_message(End::Tile(t), to, b, ps, pe, now, OnDelivery::StoreAtStack(op, s as u32));
                    }
                }
            }
            (_, _, _) if owner == t => {
                let (_, pe) = self.tiles[t.index()].sram.reserve(now, Bytes(bytes));
                let extra = if mem.space() == Space::Dram { controller } else { Cycles::ZERO };
                self.q.schedule(pe + extra, Event::MemArrive(op));
            }
            (_, _, _) => {
                let (ps, pe) = self.tiles[t.index()].sram.reserve(now, Bytes(bytes));
                self.send_message(End::Tile(t), End::Tile(owner), bytes, ps, pe, now, OnDelivery::StoreAtTile(op));
            }
        }
    }

    /// The iterations of the loops tile `t` is in, as one number (0 outside
    /// loops): the HBM cache keeps data of different iterations apart
    /// (src/sim/cache.rs). Tiles running the same loop nest in step agree.
    fn loop_context(&self, t: TileId) -> u64 {
        self.tiles[t.index()].loops.iter().fold(0u64, |h, &(_, left, count)| {
            // SplitMix64's finaliser over (depth hash, iteration).
            let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_add(count - left);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    }

    /// An HBM request (load) or store data reaches stack `stack`: its
    /// channels, or with a cache, a load reaches the stack's cache slice.
    fn stack_arrive(&mut self, op: OpId, stack: u32, now: Cycle) {
        let o = self.ops.get(op).brief();
        let chip = self.net.chip_of(o.tile);
        // Only HBM chips have `hbm:` accesses (src/sim/memory.rs).
        let MemSystem::Hbm(hbm) = &mut self.mem else { return };
        let only = Some((hbm.stacks as u64, stack as u64));
        let (addr, len) = (o.mem.addr(), o.bytes);
        let slice = (chip.0 * hbm.stacks + stack) as usize;
        if o.kind != OpKind::Load {
            let (served, _, last) = hbm.dram.serve(chip.0, only, now, addr, len, true, &mut self.timeline);
            self.bytes.memory_write += served;
            // Write-through: the stored range is resident from now.
            if let Some(HbmCache { cache, .. }) = &mut hbm.cache {
                cache.write(slice, stack, o.ctx, addr, len, Tick::of(now));
            }
            self.q.schedule(last.ceil(), Event::PartDone(op));
            return;
        }
        let (bytes, first, last) = match &mut hbm.cache {
            None => {
                let (served, first, last) = hbm.dram.serve(chip.0, only, now, addr, len, false, &mut self.timeline);
                self.bytes.memory_read += served;
                (served, first.ceil(), last.ceil())
            }
            Some(HbmCache { cache, hit }) => {
                // Hits leave the slice a hit latency from now (or when their
                // fill completes); misses reach the channels a controller
                // latency from now, each part's first and last tick rounded
                // up to a cycle. One message carries both.
                let look = cache.access(slice, stack, o.ctx, addr, len, Tick::of(now), hit.ticks());
                let at = now + hbm.dram.controller;
                let (mut bytes, mut first, mut last) = (look.hit_bytes, look.hit_first, look.hit_last);
                for &(a, n) in &cache.missing {
                    let (b, f, l) = hbm.dram.serve(chip.0, only, at, a, n, false, &mut self.timeline);
                    self.bytes.memory_read += b;
                    if b > 0 {
                        bytes += b;
                        first = first.min(Tick::of(f.ceil()));
                        last = last.max(Tick::of(l.ceil()));
                    }
                }
                self.bytes.cache_read += look.hit_bytes;
                // Resident once its last part is in.
                cache.filled(slice, o.ctx, addr + len, last);
                (bytes, first.ceil(), last.ceil())
            }
        };
        let from = End::Stack { chip, stack };
        self.send_message(from, End::Tile(o.tile), bytes, first, last, o.issued, OnDelivery::LoadData(op));
    }

    /// Serves [addr, addr+bytes) from tile `owner`'s vault, arriving now:
    /// when its first and last bytes move.
    fn serve_vault(&mut self, owner: TileId, now: Cycle, addr: u64, bytes: u64, write: bool) -> (Cycle, Cycle) {
        // Only chips with vaults have `dram:` accesses (src/sim/memory.rs).
        let MemSystem::Vaults(dram) = &mut self.mem else { return (now, now) };
        let (served, first, last) = dram.serve(owner.0, None, now, addr, bytes, write, &mut self.timeline);
        if write {
            self.bytes.memory_write += served;
        } else {
            self.bytes.memory_read += served;
        }
        (first.ceil(), last.ceil())
    }

    fn mem_arrive(&mut self, op: OpId, now: Cycle) {
        let o = self.ops.get(op).brief();
        let owner = o.mem.tile().unwrap_or(o.tile);
        match (o.kind, o.mem.space()) {
            (OpKind::Load, space) => {
                // Data at the owner: from its vault or its SRAM port.
                let (first, last) = match space {
                    Space::Dram => self.serve_vault(owner, now, o.mem.addr(), o.bytes, false),
                    _ => self.tiles[owner.index()].sram.reserve(now, Bytes(o.bytes)),
                };
                if owner == o.tile {
                    // Local: write into own SRAM as the data arrives.
                    let (_, pe) = self.tiles[o.tile.index()].sram.reserve(first, Bytes(o.bytes));
                    self.q.schedule(pe.max(last), Event::PartDone(op));
                } else {
                    self.send_message(
                        End::Tile(owner),
                        End::Tile(o.tile),
                        o.bytes,
                        first,
                        last,
                        o.issued,
                        OnDelivery::LoadData(op),
                    );
                }
            }
            (_, Space::Dram) => {
                // Store data at the owner's vault.
                let (_, last) = self.serve_vault(owner, now, o.mem.addr(), o.bytes, true);
                self.q.schedule(last, Event::PartDone(op));
            }
            (_, _) => {
                // Store into SRAM (own tile: a local copy).
                let (_, pe) = self.tiles[owner.index()].sram.reserve(now, Bytes(o.bytes));
                self.q.schedule(pe, Event::PartDone(op));
            }
        }
    }

    fn part_done(&mut self, op: OpId, now: Cycle) {
        let o = self.ops.get_mut(op);
        o.parts -= 1;
        if o.parts > 0 {
            return;
        }
        let o = self.ops.remove(op);
        let ti = o.tile.index();
        if let Some(tl) = &mut self.timeline {
            let name = match o.kind {
                OpKind::Load => "load",
                OpKind::Store => "store",
                OpKind::Send => "send",
                OpKind::Recv => "recv",
            };
            let kind = lane_of(o.kind);
            tl.close(kind, o.tile, o.lane);
            let track = match kind {
                Lane::Dma => Track::Dma(o.tile, o.lane),
                Lane::Net => Track::Net(o.tile, o.lane),
            };
            tl.span(track, name, o.issued, now, o.pos, o.bytes);
        }
        // Critical path: the chain it continued, and its own time.
        let mut chain = o.cp;
        match o.kind {
            OpKind::Load | OpKind::Store => chain.extend_to(PathClass::Memory, now),
            OpKind::Send => {
                chain.add(PathClass::Links, (o.links as u64).min(now.0.saturating_sub(chain.end)));
                chain.extend_to(PathClass::Noc, now);
            }
            OpKind::Recv => chain.extend_to(PathClass::Noc, now),
        }
        self.ended(o.tile, chain);
        let ts = &mut self.tiles[ti];
        if matches!(o.kind, OpKind::Load | OpKind::Store) {
            ts.dma_busy -= 1;
            if ts.blocked == Blocked::Dma {
                self.wake(o.tile, now, WaitKind::Memory, chain);
            }
        }
        let ts = &mut self.tiles[ti];
        let i = o.token as usize;
        let tok = &mut ts.tokens[i];
        tok.count -= 1;
        if tok.count == 0 && ts.blocked == Blocked::Token(o.token) {
            let kind = tok.kind;
            self.wake(o.tile, now, kind, chain);
        }
    }

    // ----- messages ----------------------------------------------------

    fn start_msg(&mut self, at: At, kind: OpKind, tok: u32, peer: TileId, tag: u32, bytes: u64) {
        let (t, now) = (at.tile, at.now);
        let op = self.new_op(at, tok, kind, Loc::Sram { tile: peer, addr: 0 }, bytes);
        let o = self.ops.get_mut(op);
        o.peer = peer;
        o.tag = tag;
        if kind == OpKind::Send {
            self.stats[t.index()].sends += 1;
            self.bytes.messages += bytes;
            let (ps, pe) = self.tiles[t.index()].sram.reserve(now, Bytes(bytes));
            self.send_message(End::Tile(t), End::Tile(peer), bytes, ps, pe, now, OnDelivery::Send(op));
            return;
        }
        self.stats[t.index()].recvs += 1;
        let arrived = |m: &Mail| matches!(m, Mail::Arrived(_));
        if let Some(Mail::Arrived(a)) = self.mail.take_or_push((t.0, peer.0, tag), arrived, || Mail::Posted(op)) {
            let Arrival { bytes: got, send_pos, from_tile, chain } = self.arrivals.remove(a);
            self.match_recv(op, got, send_pos, from_tile, now, chain);
        }
    }

    /// A multicast of `bytes` from the issuing tile to every other member
    /// of `group`: one message along the union of the routes, done when
    /// every member has it all.
    fn start_mcast(&mut self, at: At, tok: u32, group: u32, tag: u32, bytes: u64) {
        let (t, now) = (at.tile, at.now);
        let tree = match self.trees.get(&(t.0, group)) {
            Some(tree) => Rc::clone(tree),
            None => {
                let members = &self.code.header().groups[group as usize];
                let tree = Rc::new(mcast::Tree::build(&self.net, t, members));
                self.trees.insert((t.0, group), Rc::clone(&tree));
                tree
            }
        };
        let op = self.new_op(at, tok, OpKind::Send, Loc::Sram { tile: t, addr: 0 }, bytes);
        let o = self.ops.get_mut(op);
        o.tag = tag;
        o.parts = tree.tiles.len() as u32;
        self.stats[t.index()].sends += 1;
        self.bytes.messages += bytes;
        let (first, last) = self.tiles[t.index()].sram.reserve(now, Bytes(bytes));
        let psize = self.chip.noc.packet.0.max(1);
        let n = bytes.div_ceil(psize).max(1);
        let msg = self.msgs.insert(Msg {
            packets_left: 0,
            created: now,
            done: OnDelivery::Send(op),
            written: Cycle::ZERO,
            links: 0,
            mcast: Some(Box::new(McastMsg {
                tree: Rc::clone(&tree),
                dest_left: vec![n as u32; tree.tiles.len()],
                dests_left: tree.tiles.len() as u32,
                dest_links: Vec::new(),
            })),
        });
        let span = last.since(first).0;
        for k in 0..n {
            let b = if k + 1 == n { bytes - psize * (n - 1) } else { psize };
            let head = first + Cycles(span * k / n);
            let tail_in = Tick::of(first + Cycles(span * (k + 1) / n));
            for &r in &tree.roots {
                let route = Route::Tree(Rc::clone(&tree));
                let p = self.pkts.insert(Packet::new(msg, route, b, r, tail_in, 0));
                self.q.schedule(head, Event::Hop(p));
            }
        }
    }

    /// Completes receive `op` with a message of `got` bytes whose send's
    /// critical path to its arrival is `sent`.
    fn match_recv(&mut self, op: OpId, got: u64, send_pos: Pos, from: TileId, now: Cycle, sent: Chain) {
        let o = self.ops.get_mut(op);
        // The receive continues whichever came later: its own issue or the message.
        o.cp = o.cp.later(sent);
        let o = self.ops.get(op);
        if o.bytes != got {
            let (tile, pos, want) = (o.tile, o.pos, o.bytes);
            let sender = self.code.location(send_pos);
            self.error = Some(SimError::Instr {
                at: self.code.location(pos),
                tile: tile.0,
                message: format!(
                    "recv expects {want} bytes but the matching send from tile {from} ({sender}) carries {got}"
                ),
            });
            return;
        }
        let (_, pe) = self.tiles[o.tile.index()].sram.reserve(now, Bytes(got));
        self.q.schedule(pe, Event::PartDone(op));
    }

    /// The path between two ends, from the cache or built and kept.
    fn path(&mut self, from: End, to: End) -> Path {
        if let (End::Tile(a), End::Tile(b)) = (from, to)
            && self.paths.hashed()
        {
            let recent = &mut self.tiles[a.index()].recent;
            if let Some(p) = recent.get(b) {
                return p;
            }
            let p = self.paths.get(&self.net, from, to);
            self.tiles[a.index()].recent.put(b, &p);
            return p;
        }
        self.paths.get(&self.net, from, to)
    }

    /// Creates a message whose packets become ready evenly between `first`
    /// and `last` (data streaming out of a memory or SRAM port).
    #[allow(clippy::too_many_arguments)]
    fn send_message(
        &mut self,
        from: End,
        to: End,
        bytes: u64,
        first: Cycle,
        last: Cycle,
        created: Cycle,
        done: OnDelivery,
    ) {
        let route = self.path(from, to);
        let psize = self.chip.noc.packet.0.max(1);
        let n = bytes.div_ceil(psize).max(1);
        let msg = self.msgs.insert(Msg {
            packets_left: n as u32,
            created,
            done,
            written: Cycle::ZERO,
            links: 0,
            mcast: None,
        });
        // Data streams out of its source: a packet's head may leave once its
        // first bytes are there, its tail not before its last bytes are.
        let span = last.since(first).0;
        for k in 0..n {
            let b = if k + 1 == n { bytes - psize * (n - 1) } else { psize };
            let head = first + Cycles(span * k / n);
            let tail_in = Tick::of(first + Cycles(span * (k + 1) / n));
            let route = Route::Path(Rc::clone(&route));
            let p = self.pkts.insert(Packet::new(msg, route, b, 0, tail_in, 0));
            self.q.schedule(head, Event::Hop(p));
        }
    }

    fn hop(&mut self, p: PacketId, now: Cycle) {
        let pk = self.pkts.get(p);
        let (msg, hop, bytes, tail_in, links) = (pk.msg, pk.hop, u64::from(pk.bytes), pk.tail_in, pk.links);
        let (l, deliver) = match &pk.route {
            Route::Path(r) => (r[hop as usize].link(), (hop as usize + 1 == r.len()).then_some(None)),
            Route::Tree(t) => (
                t.links[hop as usize],
                match t.next(hop) {
                    mcast::Next::Deliver(d) => Some(Some(d)),
                    mcast::Next::Children(_) => None,
                },
            ),
        };
        let Some((not_before, next_vc)) = self.take_vc(p, l, now) else { return };
        let (start, tail_out) = self.net.traverse(l, now, not_before, tail_in, bytes);
        // Its tail has now left the router it was in: that port's VC goes
        // back upstream.
        let left = std::mem::replace(&mut self.pkts.get_mut(p).held, next_vc);
        if let Some(vc) = left {
            self.release_vc(vc, tail_out, now);
        }
        if let Some(tl) = &mut self.timeline {
            tl.link_busy(l, Tick(tail_out.0.saturating_sub(self.net.serialization_ticks(l, bytes))), tail_out);
        }
        let on_chip = self.net.on_chip(l);
        if on_chip {
            self.bytes.noc += bytes;
        } else {
            self.bytes.links += bytes;
        }
        let Some(dest) = deliver else {
            let d = self.net.hop_delay(l);
            let tail_in = tail_out + d.ticks();
            // Critical path: from reaching a chip-to-chip link to reaching
            // the next link is time on chip links.
            let links = if on_chip {
                links
            } else {
                links.saturating_add(u32::try_from((start + d).0 - now.0).unwrap_or(u32::MAX))
            };
            let next = match &self.pkts.get(p).route {
                Route::Path(_) => {
                    let pk = self.pkts.get_mut(p);
                    pk.hop += 1;
                    pk.tail_in = tail_in;
                    pk.links = links;
                    self.q.schedule(start + d, Event::Hop(p));
                    return;
                }
                Route::Tree(t) => Rc::clone(t),
            };
            // A multicast branches: the packet goes on along its first
            // child, a copy along each other one.
            let mcast::Next::Children(kids) = next.next(hop) else { unreachable!("a delivering node has no children") };
            for (j, &c) in kids.iter().enumerate() {
                let q = if j == 0 {
                    let pk = self.pkts.get_mut(p);
                    pk.hop = c;
                    pk.tail_in = tail_in;
                    pk.links = links;
                    p
                } else {
                    let route = Route::Tree(Rc::clone(&next));
                    self.pkts.insert(Packet::new(msg, route, bytes, c, tail_in, links))
                };
                self.q.schedule(start + d, Event::Hop(q));
            }
            return;
        };
        let lat = self.net.links[l.index()].latency;
        self.pkts.remove(p);
        let at = tail_out.ceil() + lat;
        // Accepted throughput counts what is ejected inside the window.
        if at >= self.window.0 && at < self.window.1 {
            self.window_bytes += bytes;
        }
        if let Some(d) = dest {
            let Some(m) = self.msgs.get_mut(msg).mcast.as_deref_mut() else {
                unreachable!("only multicasts deliver per destination")
            };
            m.dest_left[d as usize] -= 1;
            if m.dest_left[d as usize] == 0 {
                if links > 0 {
                    let n = m.dest_left.len();
                    m.dest_links.resize(n, 0);
                    m.dest_links[d as usize] = links;
                }
                self.q.schedule(at, Event::DeliveredTo(msg, d));
            }
            return;
        }
        // Load data is written into the tile's SRAM packet by packet.
        if let OnDelivery::LoadData(op) = self.msgs.get(msg).done {
            let t = self.ops.get(op).tile;
            let (_, written) = self.tiles[t.index()].sram.reserve(at, Bytes(bytes));
            let m = self.msgs.get_mut(msg);
            m.written = m.written.max(written);
        }
        let m = self.msgs.get_mut(msg);
        m.packets_left -= 1;
        if m.packets_left == 0 {
            m.links = links;
            self.q.schedule(at, Event::Delivered(msg));
        }
    }

    /// The VC packet `p` needs in the port link `l` leads into (`noc.vcs`):
    /// `Some((not_before tick, the VC))` when it may go now (`None` as the
    /// VC without VCs modelled); `None` when it must wait, in which case it
    /// is queued at the link or scheduled for the cycle its VC frees.
    fn take_vc(&mut self, p: PacketId, l: LinkId, now: Cycle) -> Option<(Tick, Option<Vc>)> {
        // Without VCs this is all a hop pays.
        if !self.net.has_vcs() {
            return Some((Tick::ZERO, None));
        }
        let pk = self.pkts.get_mut(p);
        let grant = match pk.grant.take() {
            Some(vc) => VcGrant::Granted { vc, not_before: pk.grant_at },
            None => {
                let class = match &pk.route {
                    Route::Path(path) => path[pk.hop as usize].class(),
                    Route::Tree(tree) => tree.class[pk.hop as usize],
                };
                self.net.vc_acquire(l, class, p, now)
            }
        };
        match grant {
            VcGrant::Unlimited => Some((Tick::ZERO, None)),
            // A VC that frees in a later cycle: come back then, so the link
            // is booked in the order packets are ready for it, not in the
            // order they asked (the VC stays reserved for this packet).
            VcGrant::Granted { vc, not_before } if not_before.floor() > now => {
                self.grant(p, vc, not_before, not_before.floor());
                None
            }
            VcGrant::Granted { vc, not_before } => Some((not_before, Some(vc))),
            // Queued at the link; `release_vc` hands it a VC later.
            VcGrant::Wait => None,
        }
    }

    /// `vc`'s holder has its tail out of the router at `tail_out` ticks:
    /// free the VC, or hand it to the first packet waiting for that port,
    /// which goes in the cycle the VC frees (rounded down: `traverse`
    /// starts it at the exact tick).
    fn release_vc(&mut self, vc: Vc, tail_out: Tick, now: Cycle) {
        if let Some((w, VcGrant::Granted { vc, not_before })) = self.net.vc_release(vc, tail_out) {
            self.grant(w, vc, not_before, now.max(not_before.floor()));
        }
    }

    /// Hands `vc`, free at `not_before`, to packet `p` for its next hop,
    /// which it makes in cycle `at`.
    fn grant(&mut self, p: PacketId, vc: Vc, not_before: Tick, at: Cycle) {
        let pk = self.pkts.get_mut(p);
        pk.grant = Some(vc);
        pk.grant_at = not_before;
        self.q.schedule(at, Event::Hop(p));
    }

    /// The packets of the feed created in cycle `now` enter their sources'
    /// links, in the feed's order; the next cycle with packets is scheduled
    /// (one event per such cycle, so the order of events does not depend on
    /// how the feed cuts its cycles into refills).
    fn inject(&mut self, now: Cycle) {
        let Some(feed) = self.feed.as_mut() else { unreachable!("inject events come from a feed") };
        let bytes = feed.src.bytes();
        while let Some(feed) = self.feed.as_mut()
            && let Some(&(at, s, d)) = feed.pending.front()
            && at == now.0
        {
            feed.pending.pop_front();
            self.bytes.messages += bytes;
            self.send_message(End::Tile(s), End::Tile(d), bytes, now, now, now, OnDelivery::Packet(d));
        }
        if let Some(at) = self.feed.as_mut().and_then(Feed::next_cycle) {
            self.q.schedule(Cycle(at), Event::Inject);
        }
    }

    /// A packet of the feed created at `created` has reached tile `to`:
    /// its latency is counted, and its path (idle until created, then the
    /// network) may be the run's critical path.
    fn packet_arrived(&mut self, to: TileId, created: Cycle, links: u32, now: Cycle) {
        self.count_latency(created, now);
        let mut chain = Chain::default();
        chain.extend_to(PathClass::Software, created);
        chain.add(PathClass::Links, (links as u64).min(now.0 - created.0));
        chain.extend_to(PathClass::Noc, now);
        self.ended(to, chain);
    }

    /// A message created at `created` has arrived at `now`: its latency
    /// counts, and in the statistics window if it was created inside it.
    fn count_latency(&mut self, created: Cycle, now: Cycle) {
        let lat = now.since(created).0;
        self.message_latency.add(lat);
        if created >= self.window.0 && created < self.window.1 {
            self.window_latency.add(lat);
        }
    }

    fn delivered(&mut self, msg: MessageId, now: Cycle) {
        let m = self.msgs.remove(msg);
        match m.done {
            OnDelivery::LoadData(op) => self.q.schedule(m.written.max(now), Event::PartDone(op)),
            OnDelivery::StoreAtStack(op, stack) => {
                let controller = self.mem.controller();
                self.q.schedule(now + controller, Event::StackArrive(op, stack));
            }
            OnDelivery::StoreAtTile(op) => {
                let controller = self.mem.controller();
                let space = self.ops.get(op).mem.space();
                let extra = if space == Space::Dram { controller } else { Cycles::ZERO };
                self.q.schedule(now + extra, Event::MemArrive(op));
            }
            OnDelivery::Send(op) => {
                let to = self.ops.get(op).peer;
                self.arrive(op, to, m.created, m.links, now);
            }
            OnDelivery::Packet(to) => self.packet_arrived(to, m.created, m.links, now),
        }
    }

    /// A multicast has fully reached destination `d`.
    fn delivered_to(&mut self, msg: MessageId, d: u32, now: Cycle) {
        let m = self.msgs.get_mut(msg);
        let (created, done) = (m.created, m.done);
        let Some(mc) = m.mcast.as_deref_mut() else { unreachable!("only multicasts deliver per destination") };
        mc.dests_left -= 1;
        let links = mc.dest_links.get(d as usize).copied().unwrap_or(0);
        let to = mc.tree.tiles[d as usize];
        if mc.dests_left == 0 {
            self.msgs.remove(msg);
        }
        let OnDelivery::Send(op) = done else { unreachable!("a multicast is a send along a tree") };
        self.arrive(op, to, created, links, now);
    }

    /// Send `op`'s message (created at `created`) has fully arrived at tile
    /// `to`: one part of the send is done, and a receive posted there for it
    /// matches (or it waits for one).
    /// `links`: cycles its last packet spent on chip-to-chip links.
    fn arrive(&mut self, op: OpId, to: TileId, created: Cycle, links: u32, now: Cycle) {
        let o = self.ops.get_mut(op);
        o.links = links;
        let (from, tag, bytes, pos) = (o.tile, o.tag, o.bytes, o.pos);
        // The send's critical path to this arrival.
        let mut chain = o.cp;
        chain.add(PathClass::Links, (links as u64).min(now.0.saturating_sub(chain.end)));
        chain.extend_to(PathClass::Noc, now);
        self.count_latency(created, now);
        self.part_done(op, now);
        let posted = |m: &Mail| matches!(m, Mail::Posted(_));
        let arrivals = &mut self.arrivals;
        let mail = || Mail::Arrived(arrivals.insert(Arrival { bytes, send_pos: pos, from_tile: from, chain }));
        if let Some(Mail::Posted(r)) = self.mail.take_or_push((to.0, from.0, tag), posted, mail) {
            self.match_recv(r, bytes, pos, from, now, chain);
        }
    }

    // ----- end of run --------------------------------------------------

    fn check_stuck(&mut self) -> Result<(), SimError> {
        let mut stuck = Vec::new();
        // The instruction each stopped tile is at (a tile at a barrier has
        // already stepped past it).
        let mut at = Vec::new();
        for t in 0..self.tiles.len() {
            let ts = &self.tiles[t];
            if ts.blocked == Blocked::Done {
                continue;
            }
            let pc = if matches!(ts.blocked, Blocked::Barrier(_)) { ts.pc - 1 } else { ts.pc };
            let tile = TileId(t as u32);
            let fetched = match self.code.fetch(tile, pc)? {
                Some(i) => i,
                None => self.code.fetch(tile, pc - 1)?.expect("a stopped tile has issued"),
            };
            at.push((t, fetched));
        }
        for (t, (instr, pos)) in at {
            let ts = &self.tiles[t];
            let reason = match ts.blocked {
                Blocked::Token(tok) => {
                    let pending: Vec<String> = self
                        .ops
                        .iter()
                        .filter(|(_, o)| o.tile.0 == t as u32 && o.token == tok)
                        .take(3)
                        .map(|(_, o)| match o.kind {
                            OpKind::Recv => format!(
                                "recv from tile {} tag {} ({}) has no matching send",
                                o.peer,
                                o.tag,
                                self.code.location(o.pos)
                            ),
                            _ => format!("{:?} at {}", o.kind, self.code.location(o.pos)),
                        })
                        .collect();
                    format!(
                        "waits on token {tok} ({} outstanding: {})",
                        ts.tokens[tok as usize].count,
                        pending.join("; ")
                    )
                }
                Blocked::Barrier(g) => {
                    let members = &self.code.header().groups[g as usize];
                    let missing: Vec<String> = members
                        .iter()
                        .filter(|m| !matches!(self.tiles[m.index()].blocked, Blocked::Barrier(x) if x == g))
                        .take(8)
                        .map(|m| m.0.to_string())
                        .collect();
                    format!("waits at barrier group {g}; never reached by tile(s) {}", missing.join(", "))
                }
                Blocked::Dma => "waits for a free DMA engine".into(),
                other => format!("stopped while {other:?}"),
            };
            stuck.push(StuckTile { tile: t as u32, at: self.code.location(pos), instruction: instr.to_text(), reason });
        }
        let mut orphans = Vec::new();
        for (k, queue) in self.mail.sorted() {
            for m in queue {
                match m {
                    Mail::Arrived(a) => {
                        let a = self.arrivals.get(*a);
                        orphans.push(format!(
                            "send from tile {} to tile {} tag {} ({} bytes, {}) was never received",
                            k.1,
                            k.0,
                            k.2,
                            a.bytes,
                            self.code.location(a.send_pos)
                        ))
                    }
                    Mail::Posted(op) => {
                        let o = self.ops.get(*op);
                        if !stuck.iter().any(|s| s.tile == o.tile.0) {
                            orphans.push(format!(
                                "recv on tile {} from tile {} tag {} ({}) has no matching send",
                                k.0,
                                k.1,
                                k.2,
                                self.code.location(o.pos)
                            ));
                        }
                    }
                }
            }
        }
        let waiting = self.net.vc_waiting();
        if waiting > 0 {
            orphans.push(format!(
                "{waiting} packet(s) wait in routers for a virtual channel that is never freed (noc.vcs)"
            ));
        }
        if stuck.is_empty() && orphans.is_empty() {
            return Ok(());
        }
        Err(SimError::Deadlock { cycle: self.q.now(), stuck, orphans })
    }

    fn finish(self) -> Result<RunStats, SimError> {
        let cycles = self.q.now();
        let mut stats = self.stats;
        for (t, s) in stats.iter_mut().enumerate() {
            s.sram_busy_ticks = self.tiles[t].sram.busy_ticks();
        }
        let window = if self.window.1.0 == u64::MAX { (Cycle::ZERO, cycles) } else { self.window };
        let timeline = self.timeline.map(|tl| tl.finish(&self.net));
        debug_assert_eq!(self.last.chain.end, cycles.0, "the critical path ends with the run");
        Ok(RunStats {
            cycles,
            events: self.q.processed(),
            tiles: stats,
            links: self.net.links.clone(),
            link_state: self.net.state,
            channels: self.mem.into_channel_stats(),
            bytes: self.bytes,
            message_latency: self.message_latency,
            window_latency: self.window_latency,
            window_bytes: self.window_bytes,
            window,
            timeline,
            critical_path: self.last,
        })
    }
}

/// The timeline lanes an operation of `kind` takes.
fn lane_of(kind: OpKind) -> Lane {
    match kind {
        OpKind::Load | OpKind::Store => Lane::Dma,
        OpKind::Send | OpKind::Recv => Lane::Net,
    }
}

/// The statistics window of a synthetic-traffic trace (header `measure`).
fn synthetic_window(header: &Header) -> (Cycle, Cycle) {
    match header.measure {
        Some((a, b)) => (Cycle(a), Cycle(b)),
        None => (Cycle::ZERO, Cycle(u64::MAX)),
    }
}
