//! The work one compute instruction does and how long a tile's units take
//! for it, as pure functions of the instruction and the tile. The simulator
//! and the roofline both use these, so they can never disagree about what
//! an instruction costs.

use crate::chip::TileSpec;
use crate::isa::Instr;
use crate::units::Cycles;

/// The work of a compute instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Work {
    /// Multiply-accumulates on the matrix unit.
    pub macs: u64,
    /// Operations on the vector lanes.
    pub vector_ops: u64,
    /// Bytes moved through the SRAM port (operands read, results written).
    pub sram_bytes: u64,
    /// Of those, KV-cache bytes read (attention only).
    pub kv_bytes: u64,
}

/// Checks that the work of `i` fits 64-bit counters (with room to sum
/// many instructions): every product below 2^56.
pub fn checked_work(i: &Instr) -> Result<(), String> {
    const LIMIT: u128 = 1 << 56;
    let products: &[(&str, u128)] = &match *i {
        Instr::Gemm { m, n, k, .. } => {
            [("m*n*k", m.0 as u128 * n.0 as u128 * k.0 as u128), ("k*n", k.0 as u128 * n.0 as u128)]
        }
        Instr::Attn { q, ctx, heads, kv_heads, hd, .. } => [
            ("2*q*heads*ctx*hd", 2 * q.0 as u128 * heads.0 as u128 * ctx.0 as u128 * hd.0 as u128),
            ("2*ctx*kv_heads*hd", 2 * ctx.0 as u128 * kv_heads.0 as u128 * hd.0 as u128),
        ],
        Instr::Vec { n, op, .. } => {
            [("n*ops", n.0 as u128 * op.ops_per_element() as u128), ("n*inputs", n.0 as u128 * 3)]
        }
        _ => return Ok(()),
    };
    match products.iter().find(|(_, v)| *v >= LIMIT) {
        Some((what, v)) => Err(format!(
            "`{}` does {what} = {v} units of work, more than the 2^56 a trace may ask",
            i.opcode().mnemonic()
        )),
        None => Ok(()),
    }
}

/// The work of `i`, or `None` for a non-compute instruction.
pub fn work(i: &Instr) -> Option<Work> {
    match *i {
        Instr::Gemm { m, n, k, dtype } => {
            let (m, n, k) = (m.0, n.0, k.0);
            Some(Work { macs: m * n * k, vector_ops: 0, sram_bytes: dtype.bytes(m * k + k * n + m * n), kv_bytes: 0 })
        }
        Instr::Attn { q, ctx, heads, kv_heads, hd, dtype } => {
            let (q, ctx, heads, kv_heads, hd) = (q.0, ctx.0, heads.0, kv_heads.0, hd.0);
            let kv = dtype.bytes(2 * ctx * kv_heads * hd);
            Some(Work {
                macs: 2 * q * heads * ctx * hd,
                // Softmax over every score: max, subtract, exp, sum, divide.
                vector_ops: 5 * q * heads * ctx,
                sram_bytes: kv + dtype.bytes(2 * q * heads * hd),
                kv_bytes: kv,
            })
        }
        Instr::Vec { op, n, dtype } => {
            let n = n.0;
            let outputs = if op.reduces() { 0 } else { n };
            Some(Work {
                macs: 0,
                vector_ops: n * op.ops_per_element(),
                sram_bytes: dtype.bytes(n * op.inputs() + outputs),
                kv_bytes: 0,
            })
        }
        Instr::Load { .. }
        | Instr::Store { .. }
        | Instr::Wait { .. }
        | Instr::Send { .. }
        | Instr::Recv { .. }
        | Instr::Barrier { .. }
        | Instr::Delay { .. }
        | Instr::Loop { .. }
        | Instr::EndLoop {} => None,
    }
}

/// Cycles the matrix and vector units need for `w` of `i` on `tile`, not
/// counting the SRAM port (shared, so timed by the simulator) or the fixed
/// pipeline latency. Matrix and vector work of one instruction overlap.
pub fn unit_cycles(tile: &TileSpec, i: &Instr, w: &Work) -> Cycles {
    let mac_rate = match i {
        Instr::Gemm { dtype, .. } | Instr::Attn { dtype, .. } => tile.macs_per_cycle(*dtype).unwrap_or(1),
        _ => 1,
    };
    let mac = w.macs.div_ceil(mac_rate);
    let vec = w.vector_ops.div_ceil(tile.vector_lanes);
    Cycles(mac.max(vec))
}

/// Fixed pipeline latency of `i` on `tile`.
pub fn latency(tile: &TileSpec, i: &Instr) -> Cycles {
    match i {
        Instr::Vec { .. } => tile.vector_latency,
        _ => tile.matrix_latency,
    }
}
