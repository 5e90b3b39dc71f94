//! Analytic floors for a trace on a chip: the work each resource class must
//! do (counted from the trace, loops multiplied out) divided by that class's
//! aggregate peak rate. The slowest class is the roofline bound; no schedule
//! can beat it.

use crate::chip::{Chip, Memory};
use crate::isa::{Instr, Space};
use crate::sim::cost;
use crate::trace::Trace;

/// Work in a trace, loops multiplied out.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TraceTotals {
    /// Dynamic instruction count.
    pub instructions: u64,
    pub macs: u64,
    pub flops: u64,
    pub vector_ops: u64,
    /// Matrix/vector unit cycles summed over tiles.
    pub unit_cycles: u64,
    /// SRAM port bytes: compute operands plus DMA and message data.
    pub sram_bytes: u64,
    pub memory_read: u64,
    pub memory_write: u64,
    pub kv_read: u64,
    pub message_bytes: u64,
    pub loads: u64,
    pub stores: u64,
    pub sends: u64,
}

impl TraceTotals {
    pub fn of(chip: &Chip, trace: &Trace) -> TraceTotals {
        let mut t = TraceTotals::default();
        for p in &trace.programs {
            let mut mult: Vec<u64> = vec![1];
            for i in &p.instrs {
                let m = *mult.last().expect("loop stack never empty");
                match i {
                    Instr::Loop { count } => {
                        mult.push(m * count.0);
                        t.instructions += m;
                        continue;
                    }
                    Instr::EndLoop {} => {
                        // Runs once per iteration of its loop.
                        t.instructions += m;
                        mult.pop();
                        continue;
                    }
                    _ => {}
                }
                t.instructions += m;
                if let Some(w) = cost::work(i) {
                    t.macs += m * w.macs;
                    t.flops += m * (2 * w.macs + w.vector_ops);
                    t.vector_ops += m * w.vector_ops;
                    t.unit_cycles += m * cost::unit_cycles(&chip.tile, i, &w).0;
                    t.sram_bytes += m * w.sram_bytes;
                    t.kv_read += m * w.kv_bytes;
                }
                match i {
                    Instr::Load { mem, bytes, .. } => {
                        t.loads += m;
                        t.sram_bytes += m * bytes.0;
                        if matches!(mem.space(), Space::Hbm | Space::Dram) {
                            t.memory_read += m * bytes.0;
                        }
                    }
                    Instr::Store { mem, bytes, .. } => {
                        t.stores += m;
                        t.sram_bytes += m * bytes.0;
                        if matches!(mem.space(), Space::Hbm | Space::Dram) {
                            t.memory_write += m * bytes.0;
                        }
                    }
                    Instr::Send { bytes, .. } => {
                        t.sends += m;
                        t.message_bytes += m * bytes.0;
                        t.sram_bytes += m * bytes.0;
                    }
                    Instr::Recv { bytes, .. } => t.sram_bytes += m * bytes.0,
                    _ => {}
                }
            }
        }
        t
    }
}

/// Floors per resource class, in seconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Roofline {
    pub compute: f64,
    pub sram: f64,
    pub memory: f64,
    /// Busiest on-chip link: its bytes / its bandwidth (routes are fixed by the trace).
    pub noc: f64,
    /// Busiest chip-to-chip link, likewise.
    pub links: f64,
    pub seconds: f64,
    pub bound: &'static str,
}

impl Roofline {
    /// Floors from trace totals and (for links, whose loads depend on
    /// routing) the busiest link's bytes over its bandwidth.
    pub fn new(chip: &Chip, t: &TraceTotals, noc_busiest_cycles: f64, link_busiest_cycles: f64) -> Roofline {
        let hz = chip.clock_hz;
        let tiles = chip.total_tiles() as f64;
        let totals = chip.totals();
        let compute = t.unit_cycles as f64 / tiles / hz;
        let sram = t.sram_bytes as f64 / totals.sram_bandwidth;
        let memory = match chip.memory {
            Memory::SramOnly => 0.0,
            _ => (t.memory_read + t.memory_write) as f64 / totals.memory_bandwidth,
        };
        let noc = noc_busiest_cycles / hz;
        let links = link_busiest_cycles / hz;
        let all = [("compute", compute), ("sram", sram), ("memory", memory), ("noc", noc), ("links", links)];
        let (bound, seconds) = all.iter().copied().fold(("compute", 0.0), |a, b| if b.1 > a.1 { b } else { a });
        Roofline { compute, sram, memory, noc, links, seconds, bound }
    }
}
