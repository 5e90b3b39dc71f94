//! What a simulation will cost, estimated before anything is allocated or
//! run: the memory of the simulator's structures (per tile, link and DRAM
//! channel) against `limits::max_memory`, and the events of the run
//! (instructions issued, packet hops, DRAM accesses, loops multiplied out)
//! against `limits::MAX_SIM_EVENTS`. A legal but huge config or trace is
//! refused with the estimate and the limit instead of exhausting the
//! machine or running for days (arch/limits.md).

use crate::chip::{Chip, Memory, NocTopology, SystemTopology};
use crate::ids::TileId;
use crate::isa::{Effect, Instr, Loc, Repeats};
use crate::trace::{Header, Trace};

/// Bytes the simulator holds per tile (issue state, statistics, program
/// headers, interface nodes and links), measured with a margin.
const BYTES_PER_TILE: u128 = 1024;
/// Bytes per directed link (the link, its state, adjacency, VC tables).
const BYTES_PER_LINK: u128 = 192;
/// Bytes per DRAM channel, and per bank of one.
const BYTES_PER_CHANNEL: u128 = 128;
const BYTES_PER_BANK: u128 = 32;
pub use crate::limits::BYTES_PER_INSTRUCTION;

/// Directed links of the system's network (an upper bound).
pub fn links(chip: &Chip) -> u128 {
    let tiles = chip.tiles_per_chip() as u128;
    let chips = chip.system.chips as u128;
    let noc = match chip.noc.topology {
        NocTopology::Mesh { .. } | NocTopology::Torus { .. } => 4 * tiles,
        NocTopology::Ring { .. } => 2 * tiles,
        NocTopology::Crossbar { .. } => 0,
        // A tree over n leaves has fewer than 2n switches, each one link pair up.
        NocTopology::FatTree { .. } => 4 * tiles,
    };
    let stacks = match chip.memory {
        Memory::Hbm { stacks, .. } => stacks as u128,
        _ => 0,
    };
    let per_chip = noc + 2 * tiles + 2 * stacks + 4;
    let system = match chip.system.topology {
        SystemTopology::Single => 0,
        SystemTopology::Switch | SystemTopology::Ring => 2 * chips,
        SystemTopology::Torus { .. } => 4 * chips,
        SystemTopology::FullyConnected => chips * chips.saturating_sub(1),
        SystemTopology::Dragonfly { group_size } => {
            let gs = group_size as u128;
            let groups = chips / gs.max(1);
            chips * gs.saturating_sub(1) + groups * groups.saturating_sub(1)
        }
    };
    chips * per_chip + system
}

/// DRAM channels of the system and banks per channel.
fn channels(chip: &Chip) -> (u128, u128) {
    match &chip.memory {
        Memory::SramOnly => (0, 0),
        Memory::Hbm { dram, .. } => (dram.channels as u128 * chip.system.chips as u128, dram.banks as u128),
        Memory::Dram3d { dram, .. } => (dram.channels as u128 * chip.total_tiles() as u128, dram.banks as u128),
    }
}

/// Bytes the simulator's structures for `chip` take, whatever the trace.
pub fn chip_memory(chip: &Chip) -> u128 {
    let (ch, banks) = channels(chip);
    let stack_routes = match chip.memory {
        Memory::Hbm { stacks, .. } => chip.tiles_per_chip() as u128 * stacks as u128 * 8,
        _ => 0,
    };
    chip.total_tiles() as u128 * BYTES_PER_TILE
        + links(chip) * BYTES_PER_LINK
        + ch * (BYTES_PER_CHANNEL + banks * BYTES_PER_BANK)
        + stack_routes
        + vc_memory(chip)
}

/// Bytes of the VC tables (`noc.vcs`): a tick per VC of every router port,
/// a fat tree's wide links as many ports as links they stand for (each
/// level's links, both ways, stand for at most one link per tile).
fn vc_memory(chip: &Chip) -> u128 {
    let Some(vcs) = chip.noc.vcs else { return 0 };
    let wide = match chip.noc.topology {
        NocTopology::FatTree { n, arity } => {
            let (mut levels, mut width) = (0u128, n as u128);
            while width > 1 {
                width = width.div_ceil(arity.max(2) as u128);
                levels += 1;
            }
            2 * n as u128 * levels * chip.system.chips as u128
        }
        _ => 0,
    };
    (links(chip) + wide) * vcs as u128 * 8
}

/// Checks that simulating anything on `chip` fits the memory budget.
pub fn check_chip(chip: &Chip) -> Result<(), String> {
    crate::limits::check_memory(
        &format!(
            "simulating `{}` ({} tiles, {} links, {} DRAM channels)",
            chip.name,
            chip.total_tiles(),
            links(chip),
            channels(chip).0
        ),
        chip_memory(chip),
    )
}

/// `check_chip` before compiling `model` for `chip` to simulate it, as the
/// simulation would refuse it (named as the compiled trace is): compiling
/// grows with the tiles (a 1024x1024 grid took 108 s and wrote 755 MB), so
/// a chip the simulator cannot hold is refused before that work, not after.
pub fn check_before_compile(model: &str, chip: &Chip) -> Result<(), super::SimError> {
    let name = format!("<{model} on {}>", chip.name);
    check_chip(chip).map_err(|m| {
        super::SimError::Mismatch(crate::diag::Location::file(name), format!("{m}; refused before compiling"))
    })
}

/// Most links a packet or barrier message crosses (an upper bound).
pub fn max_hops(chip: &Chip) -> u128 {
    let noc = match chip.noc.topology {
        NocTopology::Mesh { x, y } | NocTopology::Torus { x, y } => x as u128 + y as u128,
        NocTopology::Ring { n } => n as u128 / 2 + 1,
        NocTopology::Crossbar { .. } => 1,
        NocTopology::FatTree { n, arity } => {
            2 * (64 - (n as u64).leading_zeros() as u128) / arity.max(2).ilog2() as u128 + 2
        }
    };
    let chips = chip.system.chips as u128;
    let system = match chip.system.topology {
        SystemTopology::Single => 0,
        SystemTopology::Switch => 2,
        SystemTopology::Ring => chips / 2 + 1,
        SystemTopology::Torus { x, y } => x as u128 + y as u128,
        SystemTopology::FullyConnected => 1,
        SystemTopology::Dragonfly { .. } => 3,
    };
    noc + system + 2
}

/// Events of one run of `trace` on `chip` (loops multiplied out): every
/// instruction issued, every packet times the hops of the longest route,
/// every DRAM channel access, and the set-up routes (HBM stacks, barriers).
/// A load or store is one access per channel it touches (the engine
/// splits it over the channels and serves each part as one access): its
/// granules, at most the channels of one chip (HBM) or vault (3D-DRAM).
pub fn events(chip: &Chip, trace: &Trace) -> u128 {
    counted(chip, trace).total.saturating_add(setup_events(chip, &trace.header))
}

/// Every instruction of `trace` added to an `Events`.
fn counted(chip: &Chip, trace: &Trace) -> Events {
    let mut e = Events::new(chip);
    for (t, p) in trace.programs.iter().enumerate() {
        for i in &p.instrs {
            e.add(TileId(t as u32), i);
        }
    }
    e
}

/// Events of a run's set-up: a route from every tile of a chip to every
/// HBM stack, and from every barrier-group member to its group's first
/// tile.
pub fn setup_events(chip: &Chip, header: &Header) -> u128 {
    let stack_routes = match chip.memory {
        Memory::Hbm { stacks, .. } => chip.tiles_per_chip() as u128 * stacks as u128,
        _ => 0,
    };
    let members: u128 = header.groups.iter().map(|g| g.len() as u128).sum();
    (members + stack_routes) * max_hops(chip)
}

/// `events` counted one instruction at a time, streams in turn.
pub struct Events {
    hops: u128,
    /// u64 divisors: a u128 division is a library call, and this runs once
    /// per instruction of every trace simulated.
    packet: u64,
    granule: u64,
    /// Channels one access can spread over.
    channels: u64,
    repeats: Repeats,
    /// The tile whose stream is being added.
    tile: Option<TileId>,
    pub total: u128,
    /// MACs and vector operations, loops multiplied out.
    pub work: u128,
    /// Bytes the run's counters add up, loops multiplied out: a load's,
    /// store's, send's or multicast's at the SRAM port and on every link of
    /// the longest route, and compute's at its SRAM port.
    pub bytes: u128,
}

impl Events {
    /// Events of the instructions alone (`setup_events` adds the rest).
    pub fn new(chip: &Chip) -> Events {
        Events {
            hops: max_hops(chip),
            packet: chip.noc.packet.0.max(1),
            channels: match &chip.memory {
                Memory::SramOnly => 0,
                Memory::Hbm { dram, .. } | Memory::Dram3d { dram, .. } => dram.channels as u64,
            },
            granule: match &chip.memory {
                Memory::SramOnly => u64::MAX,
                Memory::Hbm { dram, .. } | Memory::Dram3d { dram, .. } => dram.interleave.0.max(1),
            },
            repeats: Repeats::default(),
            tile: None,
            total: 0,
            work: 0,
            bytes: 0,
        }
    }

    /// Adds instruction `i` of tile `t`'s stream, each tile's in order. The
    /// open loops start afresh when the tile changes, so another tile's
    /// instructions must not come inside a loop (a trace's streams come
    /// whole; synthetic traffic, interleaved by chunks, has no loops).
    pub fn add(&mut self, t: TileId, i: &Instr) {
        if self.tile != Some(t) {
            self.tile = Some(t);
            self.repeats = Repeats::default();
        }
        let m = self.repeats.next(i) as u128;
        // From the ISA's own account of what the instruction does: a DMA
        // or a send crosses links (and a DMA from DRAM, channels), compute
        // does its work at the SRAM port, the rest takes one event.
        let transfer = |bytes: u64| (bytes as u128).saturating_mul(1 + self.hops);
        let (per, work, bytes) = match i.effect() {
            Effect::Dma { mem, bytes, .. } => {
                let b = bytes.0;
                let dram =
                    if matches!(mem, Loc::Sram { .. }) { 0 } else { b.div_ceil(self.granule).min(self.channels) };
                (1 + b.div_ceil(self.packet) as u128 * self.hops + dram as u128, 0, transfer(b))
            }
            Effect::Send { bytes, .. } => (1 + bytes.0.div_ceil(self.packet) as u128 * self.hops, 0, transfer(bytes.0)),
            Effect::Compute { work, .. } => (1, work.macs.saturating_add(work.vector_ops), work.sram_bytes as u128),
            _ => (1, 0, 0),
        };
        self.total = self.total.saturating_add(m.saturating_mul(per));
        self.work = self.work.saturating_add(m.saturating_mul(work as u128));
        self.bytes = self.bytes.saturating_add(m.saturating_mul(bytes));
    }

    /// The whole check of a run once every instruction is added: its work
    /// and bytes (`check_totals`), then the memory of the structures and of
    /// `held` instructions held at once, and its events, these and
    /// `setup_events` (`check_parts`). `sim::scan`, a held trace's
    /// `check`, `run --traffic` and `tilesim check --chip` all end here,
    /// so they refuse alike.
    pub fn check_run(&self, chip: &Chip, header: &Header, held: u128, subject: Subject) -> Result<(), String> {
        self.check_totals()?;
        check_parts(chip, held, self.total.saturating_add(setup_events(chip, header)), subject)
    }

    /// Checks the run's work and bytes against `limits::MAX_RUN_WORK` and
    /// `MAX_RUN_BYTES`, which keep the simulator's u64 counters (MACs,
    /// flops, bytes per tile, link and channel, and their sums) from
    /// wrapping.
    pub fn check_totals(&self) -> Result<(), String> {
        use crate::limits::{MAX_RUN_BYTES, MAX_RUN_WORK};
        if self.work > MAX_RUN_WORK {
            return Err(format!(
                "this trace asks for {} MACs and vector operations in all (loops multiplied out), more than the 2^{} \
                 one run may (arch/limits.md, \"run_work\")",
                self.work,
                MAX_RUN_WORK.trailing_zeros()
            ));
        }
        if self.bytes > MAX_RUN_BYTES {
            return Err(format!(
                "this trace moves {} bytes in all (transfers at the SRAM ports and on every link they cross, and \
                 compute at the SRAM ports, loops multiplied out), more than the 2^{} one run may (arch/limits.md, \
                 \"run_bytes\")",
                self.bytes,
                MAX_RUN_BYTES.trailing_zeros()
            ));
        }
        Ok(())
    }
}

/// The whole check before a simulation: memory for the chip's structures
/// and the trace held, and the events of the run.
pub fn check(chip: &Chip, trace: &Trace) -> Result<(), String> {
    counted(chip, trace).check_run(chip, &trace.header, trace.instruction_count() as u128, Subject::Trace)
}

/// Instructions a lazily read stream is expected to hold at once (its
/// window), for the memory budget of a binary trace run from its file.
pub const LAZY_WINDOW: u128 = 1024;

/// What a run simulates, for the words and the advice of a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A trace (file or compiled).
    Trace,
    /// Synthetic traffic made on the fly (`run --traffic`, with or
    /// without `--packets`).
    Traffic,
}

/// `check` of a run of `subject` holding `held` instructions at once and
/// taking `e` events.
pub fn check_parts(chip: &Chip, held: u128, e: u128, subject: Subject) -> Result<(), String> {
    crate::limits::check_memory(
        &format!("simulating `{}` ({} tiles, {} links)", chip.name, chip.total_tiles(), links(chip)),
        chip_memory(chip) + held * BYTES_PER_INSTRUCTION,
    )?;
    if e > crate::limits::MAX_SIM_EVENTS {
        let (what, counted, advice) = match subject {
            Subject::Trace => (
                "this trace",
                "instructions issued, packet hops and DRAM accesses, loops multiplied out",
                "use coarser noc.packet or interleave, fewer loop iterations or a smaller chip",
            ),
            Subject::Traffic => (
                "this traffic",
                "its packets and their hops, and any instructions that make them",
                "use fewer --cycles, a lower --rate or a smaller chip",
            ),
        };
        return Err(format!(
            "simulating {what} on `{}` takes about {e} events ({counted}), more than the 2^33 allowed, days of \
             run time (arch/limits.md); {advice}",
            chip.name
        ));
    }
    Ok(())
}
