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
    pub timeline: Option<super::timeline::Timeline>,
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
