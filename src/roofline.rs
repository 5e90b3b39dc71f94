//! Analytic floors for a trace on a chip: the work each resource class must
//! do (counted from the trace, loops multiplied out) divided by that class's
//! aggregate peak rate. The slowest class is the roofline bound; no schedule
//! can beat it.

use crate::chip::Chip;
use crate::ids::TileId;
use crate::isa::{Dir, Effect, Instr, Repeats, Space};
use crate::sim::{self, SimError, cost};
use crate::trace::Trace;
use crate::trace::lazy::Lazy;

/// `sim::scan` of the binary trace at `path` for a run on `chip`, with the
/// work it holds totalled on the way (what a run's report needs).
pub fn scan(chip: &Chip, path: &std::path::Path) -> Result<(Lazy, TraceTotals), SimError> {
    let mut totals = TotalsAcc::new(chip);
    let lazy = sim::scan(chip, path, |t, i| totals.add(t, i))?;
    Ok((lazy, totals.finish()))
}

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
    /// Weight bytes the matrix units read: the W operand (k x n) of every GEMM.
    pub weight_bytes: u64,
    pub message_bytes: u64,
    /// Dynamic count of each opcode, in table order.
    pub per_opcode: Vec<(String, u64)>,
    pub loads: u64,
    pub stores: u64,
    pub sends: u64,
    /// MACs on each matrix path (the type the unit runs them as:
    /// `TileSpec::mac_path`), indexed as `Dtype::ALL`; for the energy model.
    #[serde(skip)]
    pub macs_by_path: [u64; crate::dtype::Dtype::ALL.len()],
}

impl TraceTotals {
    /// MACs per matrix path, in `Dtype::ALL` order, types with none left out.
    pub fn macs_per_path(&self) -> Vec<(crate::dtype::Dtype, u64)> {
        crate::dtype::Dtype::ALL.iter().zip(self.macs_by_path).filter(|(_, n)| *n > 0).map(|(d, n)| (*d, n)).collect()
    }
}

impl TraceTotals {
    pub fn of(chip: &Chip, trace: &Trace) -> TraceTotals {
        let mut acc = TotalsAcc::new(chip);
        for (t, p) in trace.programs.iter().enumerate() {
            for i in &p.instrs {
                acc.add(TileId(t as u32), i);
            }
        }
        acc.finish()
    }
}

/// `TraceTotals` summed one instruction at a time, streams in turn (a
/// trace too long to hold is totalled as it is read).
pub struct TotalsAcc<'a> {
    chip: &'a Chip,
    t: TraceTotals,
    counts: Vec<u64>,
    repeats: Repeats,
    /// The tile whose stream is being added.
    tile: Option<TileId>,
}

impl<'a> TotalsAcc<'a> {
    pub fn new(chip: &'a Chip) -> Self {
        TotalsAcc {
            chip,
            t: TraceTotals::default(),
            counts: vec![0; crate::isa::Opcode::ALL.len()],
            repeats: Repeats::default(),
            tile: None,
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
        let m = self.repeats.next(i);
        let t = &mut self.t;
        t.instructions += m;
        self.counts[i.opcode() as usize] += m;
        match i.effect() {
            Effect::LoopOpen(_) | Effect::LoopClose => {}
            Effect::Compute { work: w, dtype, .. } => {
                t.macs += m * w.macs;
                if w.macs > 0 {
                    let path = self.chip.tile.mac_path(dtype).unwrap_or(dtype);
                    t.macs_by_path[path as usize] += m * w.macs;
                }
                t.flops += m * (2 * w.macs + w.vector_ops);
                t.vector_ops += m * w.vector_ops;
                t.unit_cycles += m * cost::unit_cycles(&self.chip.tile, dtype, &w).0;
                t.sram_bytes += m * w.sram_bytes;
                t.kv_read += m * w.kv_bytes;
                t.weight_bytes += m * w.weight_bytes;
            }
            Effect::Dma { dir, mem, bytes, .. } => {
                t.sram_bytes += m * bytes.0;
                let memory = matches!(mem.space(), Space::Hbm | Space::Dram);
                match dir {
                    Dir::Load => {
                        t.loads += m;
                        if memory {
                            t.memory_read += m * bytes.0;
                        }
                    }
                    Dir::Store => {
                        t.stores += m;
                        if memory {
                            t.memory_write += m * bytes.0;
                        }
                    }
                }
            }
            Effect::Send { bytes, .. } => {
                t.sends += m;
                t.message_bytes += m * bytes.0;
                t.sram_bytes += m * bytes.0;
            }
            Effect::Recv { bytes, .. } => t.sram_bytes += m * bytes.0,
            Effect::Wait(_) | Effect::Barrier(_) | Effect::Delay(_) => {}
        }
    }

    pub fn finish(mut self) -> TraceTotals {
        self.t.per_opcode =
            crate::isa::Opcode::ALL.iter().map(|o| (o.mnemonic().to_string(), self.counts[*o as usize])).collect();
        self.t
    }
}

/// Floors per resource class, in seconds: the work the busiest instance of
/// each class must do at its peak rate. Placement and routes are fixed by
/// the trace, so no schedule of it can beat the largest of these.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Roofline {
    /// Busiest tile's matrix and vector work.
    pub compute: f64,
    /// Busiest tile's SRAM-port bytes at port bandwidth.
    pub sram: f64,
    /// Busiest DRAM channel's bytes at peak channel bandwidth.
    pub memory: f64,
    /// Busiest on-chip link's bytes at its bandwidth.
    pub noc: f64,
    /// Busiest chip-to-chip link's bytes at its bandwidth.
    pub links: f64,
    pub seconds: f64,
    pub bound: &'static str,
}

impl Roofline {
    /// Floors from the busiest instance of each class, in cycles.
    pub fn new(hz: f64, compute: f64, sram: f64, memory: f64, noc: f64, links: f64) -> Roofline {
        let all = [("compute", compute), ("sram", sram), ("memory", memory), ("noc", noc), ("links", links)];
        let (bound, cycles) = all.iter().copied().fold(("compute", 0.0), |a, b| if b.1 > a.1 { b } else { a });
        Roofline {
            compute: compute / hz,
            sram: sram / hz,
            memory: memory / hz,
            noc: noc / hz,
            links: links / hz,
            seconds: cycles / hz,
            bound,
        }
    }
}
