//! What a simulation produces: counters per tile, link and channel, and
//! the errors that stop a run.

use super::dram::ChannelStats;
use super::hist::Histogram;
use super::network::{Link, LinkState};
use crate::diag::Location;
use crate::units::Cycle;

/// Why a tile was not issuing, for time accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitKind {
    /// Waiting on a token of loads/stores, or for a free DMA engine.
    Memory,
    /// Waiting on a token of sends/receives.
    Network,
    /// At a barrier.
    Sync,
    /// In a `delay` (modelled software overhead).
    Overhead,
}

pub const WAIT_KINDS: [WaitKind; 4] = [WaitKind::Memory, WaitKind::Network, WaitKind::Sync, WaitKind::Overhead];

impl WaitKind {
    pub fn name(self) -> &'static str {
        match self {
            WaitKind::Memory => "memory",
            WaitKind::Network => "network",
            WaitKind::Sync => "sync",
            WaitKind::Overhead => "overhead",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Counters of one tile.
#[derive(Clone, Debug, Default)]
pub struct TileStats {
    pub matrix_busy: u64,
    pub vector_busy: u64,
    /// Cycles issue was held by a compute instruction (units, SRAM port and latency).
    pub compute_cycles: u64,
    pub macs: u64,
    pub flops: u64,
    pub vector_ops: u64,
    pub waits: [u64; 4],
    pub finished: Cycle,
    pub instructions: u64,
    /// Ticks the SRAM port was booked (compute, DMA and messages), set at the end.
    pub sram_busy_ticks: u64,
    pub loads: u64,
    pub stores: u64,
    pub sends: u64,
    pub recvs: u64,
}

/// Bytes moved, by where they went.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ByteCounts {
    /// Bytes read from DRAM (HBM stacks or vaults).
    pub memory_read: u64,
    /// Bytes of HBM loads served by the cache (`[hbm.cache]`) instead of
    /// the DRAM; present in reports only when non-zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_read: u64,
    pub memory_write: u64,
    /// Bytes carried by on-chip links, counted once per link crossed.
    pub noc: u64,
    /// Bytes carried by chip-to-chip links, counted once per link crossed.
    pub links: u64,
    /// Bytes through SRAM ports (compute operands and DMA).
    pub sram: u64,
    /// Payload of messages between tiles (sends).
    pub messages: u64,
    /// KV-cache bytes read by attention instructions.
    pub kv_read: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub struct RunStats {
    pub cycles: Cycle,
    pub events: u64,
    pub tiles: Vec<TileStats>,
    pub links: Vec<Link>,
    pub link_state: Vec<LinkState>,
    pub channels: Vec<ChannelStats>,
    pub bytes: ByteCounts,
    /// Creation (send issue) to delivery of every message between tiles.
    pub message_latency: Histogram,
    /// Messages whose send was issued inside the measurement window of a
    /// synthetic-traffic run, and their latency.
    pub window_latency: Histogram,
    /// Bytes delivered inside the measurement window.
    pub window_bytes: u64,
    /// The window: [start, end) cycles (20% into the injection period to its end).
    pub window: (Cycle, Cycle),
    /// What the timeline recorded (its spans went to the sink).
    pub timeline: Option<super::timeline::TimelineSummary>,
    /// The chain of events that set the finish time (`cycles`), by class.
    pub critical_path: CriticalPath,
}

/// A tile that could not finish.
#[derive(Clone, Debug)]
pub struct StuckTile {
    pub tile: u32,
    pub at: Location,
    pub instruction: String,
    pub reason: String,
}

/// Why a tile is not issuing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    No,
    /// In a compute instruction or delay; an event will wake it.
    Busy,
    Token(u32),
    Dma,
    Barrier(u32),
    Done,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}: {1}")]
    Mismatch(Location, String),
    #[error("{at}: tile {tile}: {message}")]
    Instr { at: Location, tile: u32, message: String },
    #[error("{}", deadlock_message(.cycle, .stuck, .orphans))]
    Deadlock { cycle: Cycle, stuck: Vec<StuckTile>, orphans: Vec<String> },
    /// The run would pass `limits::MAX_SIM_CYCLES`: an event at `at`
    /// (saturated at `u64::MAX` if it overflowed) was due when the run had
    /// reached `now`.
    #[error(
        "{file}: the run passes 2^{} cycles, the most simulated time one run may take (arch/limits.md, \"sim_cycles\"): \
         at cycle {} something was due at cycle {}; the trace's delays, work and transfers add up to more time than that",
        crate::limits::MAX_SIM_CYCLES.trailing_zeros(),
        now.0,
        due(at)
    )]
    TooLong { file: Location, now: Cycle, at: Cycle },
    /// The model scheduled an event in the past (a simulator bug).
    #[error("internal error: {0}")]
    Internal(#[from] super::event::PastEvent),
}

impl SimError {
    pub fn exit_code(&self) -> u8 {
        match self {
            SimError::Deadlock { .. } => 3,
            _ => 2,
        }
    }
}

/// The cycle an event refused as past the longest run was due at (2^64 or
/// later when the arithmetic saturated).
fn due(at: &Cycle) -> String {
    if at.0 == u64::MAX { "2^64 or later".to_string() } else { at.0.to_string() }
}

fn deadlock_message(cycle: &Cycle, stuck: &[StuckTile], orphans: &[String]) -> String {
    let mut s = if stuck.is_empty() {
        format!(
            "the run ended at cycle {} with {} unmatched message(s): every tile finished, but sends and receives do not pair up",
            cycle.0,
            orphans.len()
        )
    } else {
        format!(
            "deadlock at cycle {}: nothing can make progress and work remains ({} tile(s) blocked, {} unmatched message(s))",
            cycle.0,
            stuck.len(),
            orphans.len()
        )
    };
    const SHOW: usize = 20;
    for t in stuck.iter().take(SHOW) {
        s.push_str(&format!("\n  tile {} at {}: `{}`: {}", t.tile, t.at, t.instruction, t.reason));
    }
    if stuck.len() > SHOW {
        s.push_str(&format!("\n  ... and {} more blocked tiles", stuck.len() - SHOW));
    }
    for o in orphans.iter().take(SHOW) {
        s.push_str(&format!("\n  {o}"));
    }
    if orphans.len() > SHOW {
        s.push_str(&format!("\n  ... and {} more unmatched messages", orphans.len() - SHOW));
    }
    s
}

/// What an interval of the critical path was spent on (arch/timing.md,
/// "Critical path").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathClass {
    /// Compute instructions: unit time and pipeline latency.
    Compute,
    /// A compute instruction held past its units' time by the tile's SRAM port.
    Sram,
    /// Loads and stores, issue to completion (DRAM, HBM, a remote SRAM).
    Memory,
    /// Messages between tiles while on chip (source port, NoC, delivery).
    Noc,
    /// Messages while on chip-to-chip links (queueing, serialization, latency).
    Links,
    /// Barrier latency.
    Sync,
    /// `delay`: modelled software fixed costs (launches, collective calls).
    Software,
}

pub const PATH_CLASSES: [PathClass; 7] = [
    PathClass::Compute,
    PathClass::Sram,
    PathClass::Memory,
    PathClass::Noc,
    PathClass::Links,
    PathClass::Sync,
    PathClass::Software,
];

impl PathClass {
    pub fn name(self) -> &'static str {
        match self {
            PathClass::Compute => "compute",
            PathClass::Sram => "sram",
            PathClass::Memory => "memory",
            PathClass::Noc => "noc",
            PathClass::Links => "links",
            PathClass::Sync => "sync",
            PathClass::Software => "software",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The critical path to a point of the run, summed per class: the longest
/// chain of dependent intervals from cycle 0 to `end`. Every interval is
/// attributed to exactly one class, so the classes sum to `end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chain {
    pub end: u64,
    pub by: [u64; 7],
}

impl Chain {
    /// Extends the chain by `cycles` spent on `class`.
    #[inline]
    pub fn add(&mut self, class: PathClass, cycles: u64) {
        self.by[class.index()] += cycles;
        self.end += cycles;
    }

    /// Extends the chain to cycle `to` (no earlier than its end), the gap
    /// spent on `class`.
    #[inline]
    pub fn extend_to(&mut self, class: PathClass, to: Cycle) {
        debug_assert!(to.0 >= self.end, "a chain extends forward: {} -> {}", self.end, to.0);
        self.add(class, to.0.saturating_sub(self.end));
    }

    /// The later of two chains (the one a dependent event waited for).
    #[inline]
    pub fn later(self, other: Chain) -> Chain {
        if other.end > self.end { other } else { self }
    }
}

/// Where the run's critical path ends and what it was spent on.
#[derive(Clone, Debug, Default)]
pub struct CriticalPath {
    pub chain: Chain,
    /// What finished last: the tile whose instruction or operation ended
    /// the run.
    pub tile: u32,
}
