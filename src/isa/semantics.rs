//! What each instruction does, in one place: the work of compute
//! instructions and the effect every instruction has when a tile issues
//! it. The simulator (`Sim::issue`), the trace checkers and the roofline's
//! totals all read instructions through `Instr::effect`, so none of them
//! matches on opcodes and a new instruction is described here once, beside
//! its row in the table (`instructions!`).

use super::{Count, Flags, Group, Instr, Loc, SramAddr, Tag, Token};
use crate::dtype::Dtype;
use crate::ids::TileId;
use crate::units::{Bytes, Cycles};

/// The work of a compute instruction, independent of the tile it runs on.
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
    /// Weight bytes read by the matrix unit (the W operand of a GEMM).
    pub weight_bytes: u64,
}

/// Which compute unit an instruction occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComputeUnit {
    /// The matrix unit, at the MAC rate of `Compute::dtype`.
    Matrix,
    /// The vector lanes.
    Vector,
}

/// Direction of a DMA transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Memory into this tile's SRAM.
    Load,
    /// This tile's SRAM into memory.
    Store,
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    Tile(TileId),
    /// Every member of a header group but the sender, in one traversal.
    Group(Group),
}

/// What issuing an instruction does: a closed set every consumer matches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    /// Asynchronous copy between SRAM and a memory location.
    Dma { dir: Dir, tok: Token, mem: Loc, sram: SramAddr, bytes: Bytes },
    /// Asynchronous message out of this tile's SRAM.
    Send { tok: Token, to: Dest, tag: Tag, sram: SramAddr, bytes: Bytes },
    /// Asynchronous receive of the next matching message into SRAM.
    Recv { tok: Token, from: TileId, tag: Tag, sram: SramAddr, bytes: Bytes },
    /// Work on a compute unit; issue resumes when it is done.
    Compute { unit: ComputeUnit, work: Work, dtype: Dtype },
    /// Hold issue until the token has nothing outstanding.
    Wait(Token),
    /// Hold issue until every member of the group has arrived.
    Barrier(Group),
    /// Hold issue for a fixed time.
    Delay(Cycles),
    /// Open a loop body repeated `count` times.
    LoopOpen(Count),
    /// Close the innermost loop body.
    LoopClose,
}

impl Effect {
    /// The token an asynchronous operation (or a wait) uses.
    pub fn token(&self) -> Option<Token> {
        match *self {
            Effect::Dma { tok, .. } | Effect::Send { tok, .. } | Effect::Recv { tok, .. } | Effect::Wait(tok) => {
                Some(tok)
            }
            Effect::Compute { .. }
            | Effect::Barrier(_)
            | Effect::Delay(_)
            | Effect::LoopOpen(_)
            | Effect::LoopClose => None,
        }
    }

    /// The SRAM range of this tile the instruction reads or writes (not
    /// counting compute operands, which carry no addresses).
    pub fn sram_range(&self) -> Option<(SramAddr, Bytes)> {
        match *self {
            Effect::Dma { sram, bytes, .. } | Effect::Send { sram, bytes, .. } | Effect::Recv { sram, bytes, .. } => {
                Some((sram, bytes))
            }
            _ => None,
        }
    }
}

/// Every product of a compute instruction's operands (MACs, vector
/// operations) stays below this, so sums over many instructions fit 64-bit
/// counters (`limits::MAX_WORK`).
const WORK_LIMIT: u64 = crate::limits::MAX_WORK as u64;
/// Bytes a compute instruction may touch: `WORK_LIMIT` elements of the
/// widest type (8 bytes).
const WORK_BYTES_LIMIT: u64 = WORK_LIMIT * 8;

impl Instr {
    /// What issuing this instruction does.
    pub fn effect(&self) -> Effect {
        match *self {
            Instr::Load { tok, mem, sram, bytes } => Effect::Dma { dir: Dir::Load, tok, mem, sram, bytes },
            Instr::Store { tok, mem, sram, bytes } => Effect::Dma { dir: Dir::Store, tok, mem, sram, bytes },
            Instr::Wait { tok } => Effect::Wait(tok),
            Instr::Gemm { m, n, k, dtype } => {
                let (m, n, k) = (m.0, n.0, k.0);
                let operands = product(&[m, k]).saturating_add(product(&[k, n])).saturating_add(product(&[m, n]));
                let work = Work {
                    macs: product(&[m, n, k]),
                    vector_ops: 0,
                    sram_bytes: dtype.bytes(operands),
                    kv_bytes: 0,
                    weight_bytes: dtype.bytes(product(&[k, n])),
                };
                Effect::Compute { unit: ComputeUnit::Matrix, work, dtype }
            }
            Instr::Attn { q, ctx, heads, kv_heads, hd, dtype } => {
                let (q, ctx, heads, kv_heads, hd) = (q.0, ctx.0, heads.0, kv_heads.0, hd.0);
                let kv = dtype.bytes(product(&[2, ctx, kv_heads, hd]));
                let work = Work {
                    macs: product(&[2, q, heads, ctx, hd]),
                    // Softmax over every score: max, subtract, exp, sum, divide.
                    vector_ops: product(&[5, q, heads, ctx]),
                    sram_bytes: kv.saturating_add(dtype.bytes(product(&[2, q, heads, hd]))),
                    kv_bytes: kv,
                    weight_bytes: 0,
                };
                Effect::Compute { unit: ComputeUnit::Matrix, work, dtype }
            }
            Instr::Mla { q, ctx, heads, latent, rope, dtype } => {
                let (q, ctx, heads, latent, rope) = (q.0, ctx.0, heads.0, latent.0, rope.0);
                let width = latent.saturating_add(rope);
                let kv = dtype.bytes(product(&[ctx, width]));
                // Queries in (latent + rope per head), outputs out (latent per head).
                let qo = product(&[q, heads, width.saturating_add(latent)]);
                let work = Work {
                    macs: product(&[q, heads, ctx, latent.saturating_mul(2).saturating_add(rope)]),
                    // Softmax over every score: max, subtract, exp, sum, divide.
                    vector_ops: product(&[5, q, heads, ctx]),
                    sram_bytes: kv.saturating_add(dtype.bytes(qo)),
                    kv_bytes: kv,
                    weight_bytes: 0,
                };
                Effect::Compute { unit: ComputeUnit::Matrix, work, dtype }
            }
            Instr::Vec { op, n, dtype } => {
                let n = n.0;
                let outputs = if op.reduces() { 0 } else { n };
                let work = Work {
                    macs: 0,
                    vector_ops: product(&[n, op.ops_per_element()]),
                    sram_bytes: dtype.bytes(product(&[n, op.inputs()]).saturating_add(outputs)),
                    kv_bytes: 0,
                    weight_bytes: 0,
                };
                Effect::Compute { unit: ComputeUnit::Vector, work, dtype }
            }
            Instr::Send { tok, to, tag, sram, bytes } => Effect::Send { tok, to: Dest::Tile(to), tag, sram, bytes },
            Instr::Recv { tok, from, tag, sram, bytes } => Effect::Recv { tok, from, tag, sram, bytes },
            Instr::Barrier { group } => Effect::Barrier(group),
            Instr::Delay { cycles } => Effect::Delay(cycles),
            Instr::Loop { count } => Effect::LoopOpen(count),
            Instr::EndLoop {} => Effect::LoopClose,
            Instr::Mcast { tok, group, tag, sram, bytes } => {
                Effect::Send { tok, to: Dest::Group(group), tag, sram, bytes }
            }
        }
    }

    /// The work of a compute instruction (`None` for the others).
    pub fn work(&self) -> Option<Work> {
        match self.effect() {
            Effect::Compute { work, .. } => Some(work),
            _ => None,
        }
    }

    /// Checks that the work of a compute instruction fits 64-bit counters
    /// with room to sum many instructions: MACs and vector operations below
    /// 2^56, bytes below 2^59 (2^56 elements of the widest type). The sums
    /// over a run are bounded before it starts (`sim::budget`,
    /// `limits::MAX_RUN_WORK` and `MAX_RUN_BYTES`).
    pub fn check_work(&self) -> Result<(), String> {
        if let Instr::Attn { heads, kv_heads, .. } = *self
            && (kv_heads.0 == 0 || !heads.0.is_multiple_of(kv_heads.0))
        {
            return Err(format!(
                "`attn` needs kv_heads >= 1 dividing heads ({}), found kv_heads={}",
                heads.0, kv_heads.0
            ));
        }
        let Some(w) = self.work() else { return Ok(()) };
        let figures = [
            ("MACs", w.macs, WORK_LIMIT, "2^56"),
            ("vector operations", w.vector_ops, WORK_LIMIT, "2^56"),
            ("SRAM-port bytes", w.sram_bytes, WORK_BYTES_LIMIT, "2^59"),
            ("weight bytes", w.weight_bytes, WORK_BYTES_LIMIT, "2^59"),
        ];
        match figures.iter().find(|(_, v, limit, _)| *v >= *limit) {
            Some((what, v, _, bound)) => Err(format!(
                "`{}` asks for {} {what}, more than the {bound} a trace may ask",
                self.opcode().mnemonic(),
                if *v == u64::MAX { "more than 2^64".to_string() } else { v.to_string() }
            )),
            None => Ok(()),
        }
    }
}

/// The product of `factors`, saturating at `u64::MAX` (so an absurd
/// instruction is caught by `check_work`, never wrapped).
fn product(factors: &[u64]) -> u64 {
    factors.iter().try_fold(1u64, |acc, &f| acc.checked_mul(f)).unwrap_or(u64::MAX)
}

/// How many times each instruction of one stream runs, loops multiplied
/// out, for instructions read in stream order (saturating: the checker
/// bounds the loop product at 2^32). One per stream.
#[derive(Clone, Debug, Default)]
pub struct Repeats {
    open: Vec<u64>,
}

impl Repeats {
    /// Runs of `i`, the next instruction of the stream.
    pub fn next(&mut self, i: &Instr) -> u64 {
        let m = self.open.last().copied().unwrap_or(1);
        // The ISA table's flags say whether the effect can be a loop's: the
        // other instructions (nearly all) need not build it.
        if !i.opcode().flags().intersects(Flags::LOOP_OPEN | Flags::LOOP_CLOSE) {
            return m;
        }
        match i.effect() {
            Effect::LoopOpen(count) => self.open.push(m.saturating_mul(count.0)),
            // Runs once per iteration of its loop.
            Effect::LoopClose => {
                self.open.pop();
            }
            _ => {}
        }
        m
    }
}
