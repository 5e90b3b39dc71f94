//! How long a tile's compute units take for an instruction's work (the
//! work itself is the ISA's: `Instr::effect`). Pure functions of the work
//! and the tile, shared by the simulator and the roofline so the two can
//! never disagree about what an instruction costs.

use crate::chip::TileSpec;
use crate::dtype::Dtype;
use crate::isa::{ComputeUnit, Work};
use crate::units::Cycles;

/// Cycles the matrix and vector units need for `w` on `tile`, not counting
/// the SRAM port (shared, so timed by the simulator) or the fixed pipeline
/// latency. Matrix and vector work of one instruction overlap; MACs run at
/// the rate of `dtype`.
pub fn unit_cycles(tile: &TileSpec, dtype: Dtype, w: &Work) -> Cycles {
    let mac_rate = if w.macs > 0 { tile.macs_per_cycle(dtype).unwrap_or(1) } else { 1 };
    let mac = w.macs.div_ceil(mac_rate);
    let vec = w.vector_ops.div_ceil(tile.vector_lanes);
    Cycles(mac.max(vec))
}

/// Fixed pipeline latency of work on `unit`.
pub fn latency(tile: &TileSpec, unit: ComputeUnit) -> Cycles {
    match unit {
        ComputeUnit::Vector => tile.vector_latency,
        ComputeUnit::Matrix => tile.matrix_latency,
    }
}
