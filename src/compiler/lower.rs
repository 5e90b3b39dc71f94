//! Lowering: the layer as operations with every decision made (`Op`), then
//! each tile's instruction stream generated on demand from them, so a trace
//! is written one tile at a time.
//!
//! Two ways to hold activations, chosen by where the weights live
//! (arch/compiler.md, "Activations"):
//! - HBM chips keep activations in HBM, like GPU kernels: each operation's
//!   tiles load their input blocks and weight blocks from HBM, store their
//!   outputs back, and a barrier over the chip's tiles separates operations.
//! - SRAM-only and 3D-DRAM chips keep activations at a root tile: each
//!   operation broadcasts its input down a tree of tiles, the tiles compute
//!   on weights resident in their SRAM (or streamed from their own vault),
//!   partial sums are reduced up trees and the results sent to the root.

use super::CompileError;
use super::analytic::experts_of;
use super::gemm::{self, Partition};
use super::plan::{Home, Plan};
use super::tree;
use super::workload::Workload;
use crate::chip::SystemTopology;
use crate::chip::{Chip, Memory};
use crate::collective::{self, Algorithm, Resources};
use crate::dtype::Dtype;
use crate::ids::TileId;
use crate::isa::{Count, Group, Instr, Loc, SramAddr, Tag, Token, VecOp};
use crate::model::Model;
use crate::trace::{Header, Sink};
use crate::units::{Bytes, human_bytes};
use std::io;
use std::ops::Range;

// Token numbers (per tile): one per stream slot, then messages and stores.
const SLOTS: usize = 4;
const TOK_BUF: [u32; SLOTS] = [0, 1, 2, 3];
const TOK_SEND: u32 = 8;
const TOK_RECV: u32 = 9;
const TOK_STORE: u32 = 10;

// Message tags: sampled tokens fed back to the first stage, activations
// between stages; operation `id`s (>= 100) tag their own trees as
// 4*id + k and collectives from 1000 + 64*id.
const TAG_FEEDBACK: Tag = Tag(1);
const TAG_STAGE: Tag = Tag(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    /// Activations in HBM, barriers between operations.
    Memory,
    /// Activations at the chip's root tile, trees between operations.
    Root,
}

/// Balanced split of `total` into `parts`: the range of part `i`.
fn part(i: u64, total: u64, parts: u64) -> Range<u64> {
    i * total / parts..(i + 1) * total / parts
}

/// `r` cut into the fewest equal pieces of at most `max` (> 0) each; an
/// empty range gives no pieces.
fn pieces(r: Range<u64>, max: u64) -> impl Iterator<Item = Range<u64>> {
    let len = r.end - r.start;
    let n = len.div_ceil(max.max(1));
    (0..n).map(move |i| {
        let p = part(i, len, n);
        r.start + p.start..r.start + p.end
    })
}

/// Where a GEMM's output goes and what happens to it on the way.
#[derive(Clone, Debug)]
struct GemmOp {
    m: u64,
    n: u64,
    k: u64,
    p: Partition,
    /// Reduction rows per streamed chunk (Memory strategy and vaults).
    chunk: u64,
    /// Rows and columns of a tile's block computed at a time (Memory
    /// strategy): the whole block unless its output would overflow the C
    /// buffer (prefill), then the sub-blocks that re-read the least.
    row_block: u64,
    col_block: u64,
    /// Vector ops on the tile's output block, per output element.
    epilogue: Vec<VecOp>,
    /// RMSNorm of the input rows before the multiply.
    norm_input: bool,
    /// Output columns kept per computed column (1/2 after silu_mul).
    halves: bool,
    /// Memory strategy: add the residual (load and add) before storing.
    residual: bool,
    /// Vector ops at the root after the gather (Root strategy), elements.
    root_epilogue: Vec<(VecOp, u64)>,
    /// Offsets in the HBM activation region of input and output.
    a_region: u64,
    out_region: u64,
    /// Offset of this GEMM's weights in the weight store.
    w_offset: u64,
}

#[derive(Clone, Debug)]
struct AttnOp {
    users: u64,
    q_tokens: u64,
    heads_per_group: u64,
    groups: u64,
    /// Blocks each (user, group) pair's positions split into.
    blocks: u64,
    positions: u64,
    read_positions: u64,
}

#[derive(Clone, Debug)]
enum Op {
    Gemm(GemmOp),
    Attention(AttnOp),
    /// Sum partial results over the tensor-parallel chips (then add the residual).
    AllReduce {
        bytes: u64,
    },
    /// MoE: add the experts' outputs per token (Memory strategy: shard-wise).
    Combine {
        bytes: u64,
        parts: u64,
    },
    /// Embedding rows for the pass's tokens.
    Embed {
        bytes: u64,
    },
    /// Pipeline: activations to the next stage / from the previous one.
    StageSend {
        bytes: u64,
    },
    StageRecv {
        bytes: u64,
    },
    /// Argmax over each tile's logits block and the gather of the winners.
    Argmax {
        rows: u64,
    },
}

/// The operations of one pass for one pipeline stage and micro-batch size.
#[derive(Clone, Debug)]
struct PassOps {
    pre: Vec<Op>,
    layer: Vec<Op>,
    post: Vec<Op>,
    layers: u64,
}

/// A compiled model: the plan, the header and everything needed to
/// generate each tile's instructions.
pub struct Compiled<'a> {
    pub model: &'a Model,
    pub chip: &'a Chip,
    pub workload: &'a Workload,
    pub plan: Plan,
    pub header: Header,
    strategy: Strategy,
    tiles: u32,
    root: u32,
    act: Dtype,
    /// (stage, users, expert group) -> ops.
    passes: Vec<((u32, u64, u32), PassOps)>,
    /// Barrier group of each chip in use.
    chip_group: Vec<Option<u32>>,
    /// Tile (local index) at each position; position 0 is the root.
    order: Vec<u32>,
    /// Position of each local tile.
    rank: Vec<u32>,
    sram: SramLayout,
}

/// Byte offsets of each tile's SRAM buffers.
#[derive(Clone, Copy, Debug, Default)]
struct SramLayout {
    /// Output block / gather buffer.
    c: u64,
    c_size: u64,
    /// Incoming activations, partial sums, queries.
    x: u64,
    x_size: u64,
    /// Stream slots for A and W chunks (or KV blocks), loaded SLOTS-1 ahead.
    stream: [u64; SLOTS],
    stream_size: u64,
}

impl<'a> Compiled<'a> {
    pub fn new(model: &'a Model, chip: &'a Chip, workload: &'a Workload, plan: Plan) -> Result<Self, CompileError> {
        let strategy = if plan.home == Home::Hbm { Strategy::Memory } else { Strategy::Root };
        let tiles = chip.tiles_per_chip();
        let order = order(chip);
        let mut rank = vec![0; tiles as usize];
        for (p, &l) in order.iter().enumerate() {
            rank[l as usize] = p as u32;
        }
        let root = order[0];
        let mut c = Compiled {
            model,
            chip,
            workload,
            plan,
            header: Header::default(),
            strategy,
            tiles,
            root,
            act: workload.act,
            passes: Vec::new(),
            chip_group: Vec::new(),
            order,
            rank,
            sram: SramLayout::default(),
        };
        c.layout()?;
        c.plan_passes();
        c.check_resident_fit()?;
        c.header = c.make_header();
        Ok(c)
    }

    fn wbytes(&self, n: u64) -> u64 {
        self.workload.weights.bytes(n)
    }
    fn abytes(&self, n: u64) -> u64 {
        self.act.bytes(n)
    }

    /// SRAM buffers: a quarter for outputs, a quarter for incoming data, the
    /// rest stream slots; on SRAM-only chips the buffers take the share the
    /// plan kept for them and weights sit below.
    fn layout(&mut self) -> Result<(), CompileError> {
        let s = self.chip.tile.sram.0;
        let buffers = self.plan.buffer_bytes.min(s);
        let base = s - buffers;
        let q = buffers / 4;
        let slot = 2 * q / SLOTS as u64;
        self.sram = SramLayout {
            c: base,
            c_size: q,
            x: base + q,
            x_size: q,
            stream: std::array::from_fn(|i| base + 2 * q + i as u64 * slot),
            stream_size: slot,
        };
        if q < 256 {
            return Err(CompileError::DoesNotFit(format!(
                "tile SRAM of `{}` ({}) leaves too little for buffers",
                self.chip.name, self.chip.tile.sram
            )));
        }
        Ok(())
    }

    fn gemm_costs(&self) -> gemm::Costs {
        let hz = self.chip.clock_hz;
        let (bw, acts_from_memory, fixed) = match &self.chip.memory {
            Memory::Hbm { .. } => {
                (self.chip.totals().memory_bandwidth / hz / self.chip.system.chips as f64 * 0.9, true, false)
            }
            Memory::Dram3d { dram, .. } => (dram.channel_bw.0 * dram.channels as f64 * self.tiles as f64, false, true),
            Memory::SramOnly => (self.chip.tile.sram_bw.0 * self.tiles as f64, false, true),
        };
        // The output block gets the C buffer; A and W chunks share a stream slot.
        gemm::costs(
            self.chip,
            bw,
            acts_from_memory,
            fixed,
            self.sram.c_size,
            self.sram.stream_size / 2,
            2,
            self.workload.weights.bits().div_ceil(8),
        )
    }

    fn gemm(&self, m: u64, n: u64, k: u64) -> GemmOp {
        let costs = self.gemm_costs();
        let p = gemm::choose(m, n, k, &costs);
        let b = gemm::blocks(m, n, k, p);
        let (row_block, col_block) = self.sub_blocks(b);
        // Rows per chunk so an A chunk and a W chunk fill a stream slot.
        let per_row = (self.abytes(row_block) + self.wbytes(col_block)).max(1);
        let chunk = (self.sram.stream_size / per_row).clamp(1, b.k.max(1));
        GemmOp {
            m,
            n,
            k,
            p,
            chunk,
            row_block,
            col_block,
            epilogue: Vec::new(),
            norm_input: false,
            halves: false,
            residual: false,
            root_epilogue: Vec::new(),
            a_region: 0,
            out_region: 0,
            w_offset: 0,
        }
    }

    /// Sub-blocks (rows, columns) of a tile's GEMM block whose output fits
    /// the C buffer. Each row sub-block streams the block's W again and each
    /// column sub-block its A, so of the shapes that fit, the one moving the
    /// fewest bytes: column blocks when A is small (short prompts), row
    /// blocks when W is (long prompts, narrow shards).
    fn sub_blocks(&self, b: gemm::Blocks) -> (u64, u64) {
        let (m, n) = (b.m.max(1), b.n.max(1));
        let c = self.sram.c_size;
        if self.abytes(m * n) <= c {
            return (m, n);
        }
        let (a, w) = (self.abytes(m * b.k), self.wbytes(b.k * n));
        let mut best = (u64::MAX, 1, 1);
        let mut rows = m;
        loop {
            let cols = (c / self.abytes(rows).max(1)).min(n);
            if cols > 0 {
                let traffic = w * m.div_ceil(rows) + a * n.div_ceil(cols);
                if traffic < best.0 {
                    best = (traffic, rows, cols);
                }
            }
            if rows == 1 {
                break;
            }
            rows = rows.div_ceil(2);
        }
        (best.1, best.2)
    }

    /// Plans the operations of each (stage, micro-batch size).
    fn plan_passes(&mut self) {
        let mut sizes: Vec<u64> = Vec::new();
        for r in 0..self.plan.dp {
            for u in self.plan.micro_batches(r) {
                if !sizes.contains(&u) {
                    sizes.push(u);
                }
            }
        }
        let mut passes = Vec::new();
        for s in 0..self.plan.pp {
            for &u in &sizes {
                for g in 0..self.expert_groups() {
                    passes.push(((s, u, g), self.pass_ops(s, u, g)));
                }
            }
        }
        self.passes = passes;
    }

    /// Expert groups: chips of a tensor-parallel group that hold the same experts.
    fn expert_groups(&self) -> u32 {
        if self.model.experts > 1 { self.plan.ep } else { 1 }
    }

    /// Expert group of tensor rank `rank`.
    fn expert_group(&self, rank: u32) -> u32 {
        rank / (self.plan.tp / self.expert_groups())
    }

    fn pass_ops(&self, stage: u32, users: u64, group: u32) -> PassOps {
        let (m, w) = (self.model, self.workload);
        let tp = self.plan.tp as u64;
        let tokens = users * w.tokens_per_user();
        let hidden_bytes = self.abytes(tokens * m.hidden);
        let first = stage == 0;
        let last = stage + 1 == self.plan.pp;
        let mut layer = Vec::new();
        let (q_l, kv_l) = (m.q_dim() / tp, m.kv_dim() / tp);
        let mut region = 0u64;
        let mut next_region = |bytes: u64| {
            region += bytes.next_multiple_of(4096);
            region - bytes.next_multiple_of(4096)
        };
        let x_region = next_region(hidden_bytes);
        let qkv_region = next_region(self.abytes(tokens * (q_l + 2 * kv_l)));
        let att_region = next_region(self.abytes(tokens * q_l));
        let h_region = next_region(hidden_bytes);
        let part_region = next_region(hidden_bytes);
        let mut w_offset = 0u64;
        let mut weights = |bytes: u64| {
            w_offset += bytes;
            w_offset - bytes
        };

        // Attention block.
        let mut qkv = self.gemm(tokens, q_l + 2 * kv_l, m.hidden);
        qkv.norm_input = true;
        qkv.epilogue.push(VecOp::Rope);
        qkv.root_epilogue = vec![(VecOp::RmsNorm, tokens * m.hidden), (VecOp::Rope, tokens * (q_l + kv_l))];
        qkv.a_region = x_region;
        qkv.out_region = qkv_region;
        qkv.w_offset = weights(self.wbytes(m.hidden * (q_l + 2 * kv_l)));
        layer.push(Op::Gemm(qkv));
        layer.push(Op::Attention(self.attention(users)));
        let mut o = self.gemm(tokens, m.hidden, q_l);
        o.a_region = att_region;
        o.out_region = if tp > 1 { part_region } else { h_region };
        o.residual = tp == 1;
        o.w_offset = weights(self.wbytes(q_l * m.hidden));
        if tp == 1 {
            o.root_epilogue = vec![(VecOp::Add, tokens * m.hidden)];
        }
        layer.push(Op::Gemm(o));
        if tp > 1 {
            layer.push(Op::AllReduce { bytes: hidden_bytes });
        }

        // FFN block: dense, or routed experts.
        let ffn_chips = if m.experts > 1 { tp / self.plan.ep as u64 } else { tp };
        let ffn_l = m.ffn / ffn_chips;
        let f_region = next_region(self.abytes(tokens * ffn_l));
        let ffn = |this: &Self, rows: u64, w: &mut dyn FnMut(u64) -> u64| -> Vec<Op> {
            let mut gu = this.gemm(rows, 2 * ffn_l, m.hidden);
            gu.norm_input = true;
            gu.epilogue.push(VecOp::SiluMul);
            gu.halves = true;
            gu.root_epilogue = vec![(VecOp::RmsNorm, rows * m.hidden)];
            gu.a_region = h_region;
            gu.out_region = f_region;
            gu.w_offset = w(this.wbytes(m.hidden * 2 * ffn_l));
            let mut down = this.gemm(rows, m.hidden, ffn_l);
            down.a_region = f_region;
            down.out_region = if tp > 1 { part_region } else { x_region };
            down.w_offset = w(this.wbytes(ffn_l * m.hidden));
            vec![Op::Gemm(gu), Op::Gemm(down)]
        };
        if m.experts == 1 {
            let mut ops = ffn(self, tokens, &mut weights);
            if let (true, Some(Op::Gemm(d))) = (tp == 1, ops.last_mut()) {
                d.residual = true;
                d.root_epilogue = vec![(VecOp::Add, tokens * m.hidden)];
            }
            layer.extend(ops);
        } else {
            let mut router = self.gemm(tokens, m.experts, m.hidden);
            router.norm_input = true;
            router.epilogue.push(VecOp::TopK);
            router.a_region = h_region;
            router.out_region = part_region;
            router.w_offset = weights(self.wbytes(m.hidden * m.experts));
            layer.push(Op::Gemm(router));
            // Tokens per expert of this chip's expert group.
            let counts = expert_tokens(m, tokens, self.plan.ep as u64, group as u64);
            let mut active = 0;
            for c in counts.into_iter().filter(|&c| c > 0) {
                active += 1;
                layer.extend(ffn(self, c, &mut weights));
            }
            layer.push(Op::Combine { bytes: hidden_bytes, parts: active });
        }
        if tp > 1 {
            layer.push(Op::AllReduce { bytes: hidden_bytes });
        }

        let mut pre = Vec::new();
        let mut post = Vec::new();
        if first {
            pre.push(Op::Embed { bytes: self.wbytes(tokens * m.hidden) });
        } else {
            pre.push(Op::StageRecv { bytes: hidden_bytes });
        }
        if last {
            let rows = users * w.logits_per_user();
            let mut head = self.gemm(rows, m.vocab / tp, m.hidden);
            head.norm_input = true;
            head.root_epilogue = vec![(VecOp::RmsNorm, rows * m.hidden)];
            head.epilogue.push(VecOp::Max);
            head.a_region = x_region;
            head.out_region = part_region;
            head.w_offset = weights(0);
            post.push(Op::Gemm(head));
            post.push(Op::Argmax { rows });
        } else {
            post.push(Op::StageSend { bytes: hidden_bytes });
        }
        let layers = self.plan.stages[stage as usize].end - self.plan.stages[stage as usize].start;
        PassOps { pre, layer, post, layers }
    }

    fn attention(&self, users: u64) -> AttnOp {
        let (m, w) = (self.model, self.workload);
        let tp = self.plan.tp as u64;
        let groups = m.kv_heads / tp;
        let pairs = users * groups;
        let positions = w.attn_positions();
        let blocks =
            if pairs >= self.tiles as u64 { 1 } else { (self.tiles as u64 / pairs).clamp(1, positions.max(1)) };
        AttnOp {
            users,
            q_tokens: w.tokens_per_user(),
            heads_per_group: m.heads / m.kv_heads,
            groups,
            blocks,
            positions,
            read_positions: w.kv_read_positions(),
        }
    }

    /// On SRAM-only chips every tile must hold its share of the weights and
    /// KV cache beside its buffers.
    fn check_resident_fit(&self) -> Result<(), CompileError> {
        if self.plan.home != Home::Sram {
            return Ok(());
        }
        let mut worst = (0u64, 0u32, 0u32);
        for ((stage, _, _), ops) in &self.passes {
            for pos in 0..self.tiles {
                let b = self.resident_bytes(ops, pos);
                if b > worst.0 {
                    worst = (b, *stage, pos);
                }
            }
        }
        let room = self.sram.c;
        if worst.0 > room {
            return Err(CompileError::DoesNotFit(format!(
                "the weights and KV cache of stage {} give one tile of `{}` {} to hold, but a tile has {} of SRAM beside its buffers ({} in all); \
                 use more chips (--pp), a narrower --weights-dtype or fewer users",
                worst.1,
                self.chip.name,
                human_bytes(worst.0 as f64),
                human_bytes(room as f64),
                self.chip.tile.sram
            )));
        }
        Ok(())
    }

    /// Resident bytes (weights of every layer in the stage and the KV of
    /// the tile's attention blocks) at position `pos`.
    fn resident_bytes(&self, ops: &PassOps, pos: u32) -> u64 {
        let mut per_layer = 0;
        for op in &ops.layer {
            match op {
                Op::Gemm(g) => per_layer += self.w_block(g, pos),
                Op::Attention(a) => {
                    let kv = self.workload.kv;
                    for item in self.attn_items(a, pos) {
                        per_layer += kv.bytes(2 * self.model.head_dim * (item.2.end - item.2.start));
                    }
                }
                _ => {}
            }
        }
        let mut total = per_layer * ops.layers;
        for op in ops.pre.iter().chain(&ops.post) {
            if let Op::Gemm(g) = op {
                total += self.w_block(g, pos);
            }
        }
        total
    }

    /// Weight bytes of a GEMM's block at position `pos`.
    fn w_block(&self, g: &GemmOp, pos: u32) -> u64 {
        match self.block(g, pos) {
            Some((_, n, k)) => self.wbytes((n.end - n.start) * (k.end - k.start)),
            None => 0,
        }
    }

    /// The (rows, columns, reduction) ranges of position `pos` in a GEMM,
    /// or `None` for a tile the GEMM does not use.
    fn block(&self, g: &GemmOp, pos: u32) -> Option<(Range<u64>, Range<u64>, Range<u64>)> {
        let p = g.p;
        if pos >= p.tiles() {
            return None;
        }
        let (pm, pn, pk) = (p.pm as u64, p.pn as u64, p.pk as u64);
        let pos = pos as u64;
        let (a, b, c) = (pos / (pn * pk), (pos / pk) % pn, pos % pk);
        let r = (part(a, g.m, pm), part(b, g.n, pn), part(c, g.k, pk));
        if r.0.is_empty() || r.1.is_empty() || r.2.is_empty() { None } else { Some(r) }
    }

    /// Attention items (user, group, position range) at position `pos`.
    fn attn_items(&self, a: &AttnOp, pos: u32) -> Vec<(u64, u64, Range<u64>)> {
        let pairs = a.users * a.groups;
        let p = self.tiles as u64;
        let pos = pos as u64;
        let mut out = Vec::new();
        if a.blocks > 1 || pairs <= p {
            let pair = pos / a.blocks;
            if pair < pairs {
                let b = pos % a.blocks;
                out.push((pair / a.groups, pair % a.groups, part(b, a.positions, a.blocks)));
            }
        } else {
            let mut pair = pos;
            while pair < pairs {
                out.push((pair / a.groups, pair % a.groups, 0..a.positions));
                pair += p;
            }
        }
        out
    }

    fn make_header(&mut self) -> Header {
        let chips = self.chip.system.chips;
        let p = self.tiles;
        let used = self.plan.dp * self.plan.chips_per_replica();
        let mut groups = Vec::new();
        self.chip_group = vec![None; chips as usize];
        if self.strategy == Strategy::Memory {
            for c in 0..used {
                self.chip_group[c as usize] = Some(groups.len() as u32);
                groups.push((c * p..(c + 1) * p).map(TileId).collect());
            }
        }
        let w = self.workload;
        let produced = w.produced_per_user() * w.batch as f64 * self.plan.steps as f64;
        Header {
            chip: self.chip.name.clone(),
            tiles: self.chip.total_tiles(),
            model: self.model.name.clone(),
            workload: format!("{} plan: {}", w.describe(), self.plan.describe()),
            tokens: produced,
            users: w.batch,
            groups,
            measure: None,
        }
    }

    /// Writes the whole trace, generating one tile's stream at a time.
    pub fn write(&self, sink: &mut dyn Sink) -> io::Result<()> {
        sink.header(&self.header)?;
        for t in 0..self.chip.total_tiles() {
            let prog = self.program(TileId(t));
            if prog.is_empty() {
                continue;
            }
            sink.tile(TileId(t))?;
            for i in &prog {
                sink.instr(i)?;
            }
        }
        Ok(())
    }

    /// The whole trace in memory (for comparisons and tests; `write`
    /// streams instead).
    pub fn trace(&self) -> crate::trace::Trace {
        let programs =
            (0..self.chip.total_tiles()).map(|t| crate::trace::Program::from_instrs(self.program(TileId(t)))).collect();
        crate::trace::Trace::from_programs(
            self.header.clone(),
            programs,
            &format!("<{} on {}>", self.model.name, self.chip.name),
        )
    }

    /// Generates every tile's stream once and checks it against the chip
    /// (SRAM ranges, memory ranges, data types), so a mapping that would
    /// need more buffer than a tile has fails here, with what it needed,
    /// instead of producing a trace the simulator rejects. Chips of one
    /// role (same stage and rank) run the same stream, so one replica is
    /// enough.
    pub fn check_against_chip(&self) -> Result<(), CompileError> {
        for t in 0..self.plan.chips_per_replica() * self.tiles {
            for i in self.program(TileId(t)) {
                if let Err(m) = crate::trace::against::check_instr(self.chip, TileId(t), &i) {
                    return Err(CompileError::Unsupported(format!(
                        "{} ({}) on `{}`: tile {t} would need {m}. The lowering does not yet split this much work \
                         per tile into steps (chunked prefill, query blocking); use a shorter --prompt, fewer users \
                         or more chips",
                        self.model.name,
                        self.workload.describe(),
                        self.chip.name,
                    )));
                }
            }
        }
        Ok(())
    }

    /// The instruction stream of `tile` (empty for an unused tile).
    pub fn program(&self, tile: TileId) -> Vec<Instr> {
        let chip = tile.0 / self.tiles;
        let local = tile.0 % self.tiles;
        let per = self.plan.chips_per_replica();
        if chip >= per * self.plan.dp {
            return Vec::new();
        }
        let at = ChipAt { chip, replica: chip / per, stage: (chip % per) / self.plan.tp, rank: chip % self.plan.tp };
        let pos = self.pos_of(local);
        let mut e = Emitter { c: self, at, local, pos, out: Vec::new() };
        e.program();
        e.out
    }

    fn pos_of(&self, local: u32) -> u32 {
        self.rank[local as usize]
    }
    fn local_of(&self, pos: u32) -> u32 {
        self.order[pos as usize]
    }

    fn pass(&self, stage: u32, users: u64, group: u32) -> &PassOps {
        let key = (stage, users, group);
        &self.passes.iter().find(|(k, _)| *k == key).expect("every pass is planned").1
    }

    /// One-line summary of the plan and mapping.
    pub fn describe(&self) -> String {
        format!(
            "{} on {}: {}; activations {}",
            self.model.name,
            self.chip.name,
            self.plan.describe(),
            match self.strategy {
                Strategy::Memory => "in HBM (barriers between operations)",
                Strategy::Root => "at each chip's root tile (tree broadcast and reduction)",
            }
        )
    }
}

/// Tiles in tree order: along a Z-order (Morton) curve on mesh and torus
/// chips, so consecutive positions are neighbours and every subtree of a
/// broadcast or reduction covers a compact patch; index order elsewhere.
fn order(chip: &Chip) -> Vec<u32> {
    use crate::chip::NocTopology;
    match chip.noc.topology {
        NocTopology::Mesh { x, y } | NocTopology::Torus { x, y } => {
            let side = x.max(y).next_power_of_two() as u64;
            let mut cells: Vec<(u64, u32)> = Vec::with_capacity((x * y) as usize);
            for j in 0..y {
                for i in 0..x {
                    cells.push((morton(i as u64, j as u64, side), j * x + i));
                }
            }
            cells.sort_unstable();
            cells.into_iter().map(|(_, t)| t).collect()
        }
        _ => (0..chip.tiles_per_chip()).collect(),
    }
}

/// Interleaves the bits of x and y.
fn morton(x: u64, y: u64, side: u64) -> u64 {
    let mut key = 0;
    let mut bit = 0;
    let mut s = side;
    while s > 1 {
        key |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1);
        bit += 1;
        s >>= 1;
    }
    key
}

/// Tokens each of expert group `group`'s experts receives, in expert order.
fn expert_tokens(m: &Model, tokens: u64, ep: u64, group: u64) -> Vec<u64> {
    let mut counts = vec![0u64; m.experts as usize];
    for t in 0..tokens {
        for e in experts_of(m, t) {
            counts[e as usize] += 1;
        }
    }
    counts.into_iter().enumerate().filter(|(e, _)| *e as u64 % ep == group).map(|(_, c)| c).collect()
}

#[derive(Clone, Copy, Debug)]
struct ChipAt {
    chip: u32,
    replica: u32,
    stage: u32,
    rank: u32,
}

/// Generates one tile's instructions.
struct Emitter<'c, 'a> {
    c: &'c Compiled<'a>,
    at: ChipAt,
    local: u32,
    /// Position relative to the chip root (Root strategy) or the local index.
    pos: u32,
    out: Vec<Instr>,
}

impl Emitter<'_, '_> {
    fn push(&mut self, i: Instr) {
        self.out.push(i);
    }

    fn looped(&mut self, count: u64, f: impl FnOnce(&mut Self)) {
        match count {
            0 => {}
            1 => f(self),
            n => {
                self.push(Instr::Loop { count: Count(n) });
                f(self);
                self.push(Instr::EndLoop {});
            }
        }
    }

    fn tile(&self, chip: u32, local: u32) -> TileId {
        TileId(chip * self.c.tiles + local)
    }

    fn is_leader(&self) -> bool {
        self.local == self.c.root
    }

    fn program(&mut self) {
        let plan = &self.c.plan;
        let mbs = plan.micro_batches(self.at.replica);
        // Runs of equal micro-batch sizes become loops.
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for u in mbs {
            match runs.last_mut() {
                Some((v, n)) if *v == u => *n += 1,
                _ => runs.push((u, 1)),
            }
        }
        let steps = plan.steps;
        let (first, last) = (self.at.stage == 0, self.at.stage + 1 == plan.pp);
        let step = |e: &mut Self, recv_fb: bool, send_fb: bool| {
            for &(users, n) in &runs {
                e.looped(n, |e| {
                    if recv_fb {
                        e.feedback(users, false);
                    }
                    e.pass(users);
                    if send_fb {
                        e.feedback(users, true);
                    }
                });
            }
        };
        if plan.pp == 1 {
            self.looped(steps, |e| step(e, false, false));
        } else if first {
            step(self, false, false);
            self.looped(steps - 1, |e| step(e, true, false));
        } else if last {
            self.looped(steps - 1, |e| step(e, false, true));
            step(self, false, false);
        } else {
            self.looped(steps, |e| step(e, false, false));
        }
    }

    /// The sampled tokens of a micro-batch, from the last stage back to the
    /// first (the next step's input).
    fn feedback(&mut self, users: u64, send: bool) {
        if !self.is_leader() {
            return;
        }
        let plan = &self.c.plan;
        let bytes = 4 * users * self.c.workload.tokens_per_user();
        let peer_stage = if send { 0 } else { plan.pp - 1 };
        let peer = self.tile(plan.chip(self.at.replica, peer_stage, self.at.rank), self.c.root);
        let tag = TAG_FEEDBACK;
        let sram = SramAddr(self.c.sram.x);
        if send {
            self.push(Instr::Send { tok: Token(TOK_SEND), to: peer, tag, sram, bytes: Bytes(bytes) });
            self.push(Instr::Wait { tok: Token(TOK_SEND) });
        } else {
            self.push(Instr::Recv { tok: Token(TOK_RECV), from: peer, tag, sram, bytes: Bytes(bytes) });
            self.push(Instr::Wait { tok: Token(TOK_RECV) });
        }
    }

    fn pass(&mut self, users: u64) {
        let ops = self.c.pass(self.at.stage, users, self.c.expert_group(self.at.rank)).clone();
        for (i, op) in ops.pre.iter().enumerate() {
            self.op(op, 100 + i as u32);
        }
        self.looped(ops.layers, |e| {
            for (i, op) in ops.layer.iter().enumerate() {
                e.op(op, 200 + i as u32);
            }
        });
        for (i, op) in ops.post.iter().enumerate() {
            self.op(op, 300 + i as u32);
        }
    }

    fn op(&mut self, op: &Op, id: u32) {
        match self.c.strategy {
            Strategy::Memory => self.op_memory(op, id),
            Strategy::Root => self.op_root(op, id),
        }
    }

    fn barrier(&mut self) {
        if let Some(g) = self.c.chip_group[self.at.chip as usize] {
            self.push(Instr::Barrier { group: Group(g) });
        }
    }

    fn act(&self, n: u64) -> u64 {
        self.c.abytes(n)
    }

    fn hbm(addr: u64) -> Loc {
        Loc::Hbm { addr }
    }

    /// Where this chip keeps weights: base addresses by home.
    fn weight_loc(&self, offset: u64) -> Loc {
        match self.c.plan.home {
            Home::Hbm => Loc::Hbm { addr: offset },
            Home::Vault => Loc::Dram { tile: None, addr: offset },
            Home::Sram => Loc::Sram { tile: self.tile(self.at.chip, self.local), addr: offset },
        }
    }

    /// HBM activation region base: above the weights and KV cache.
    fn act_base(&self) -> u64 {
        match &self.c.chip.memory {
            Memory::Hbm { capacity, .. } => capacity.0 / 2,
            _ => 0,
        }
    }

    // ----- Memory strategy (HBM chips) ------------------------------------

    fn op_memory(&mut self, op: &Op, id: u32) {
        match op {
            Op::Gemm(g) => self.gemm_memory(g, id),
            Op::Attention(a) => {
                // Query blocks whose queries and outputs fit the X and C
                // buffers, one after another, each streaming the KV again
                // (FlashAttention's outer loop; prefill: many query tokens).
                let per_token = self.act(a.heads_per_group * self.c.model.head_dim).max(1);
                let fit = (self.c.sram.x_size.min(self.c.sram.c_size) / per_token).max(1);
                let blocks = a.q_tokens.div_ceil(fit);
                for i in 0..blocks {
                    let q = part(i, a.q_tokens, blocks);
                    self.attention(&AttnOp { q_tokens: q.end - q.start, ..a.clone() }, id);
                }
            }
            Op::AllReduce { bytes } => self.allreduce_memory(*bytes, id, true),
            Op::Combine { bytes, parts } => {
                // Every tile adds the experts' outputs for its shard, a
                // buffer-full at a time.
                let whole = part(self.local as u64, *bytes, self.c.tiles as u64);
                for shard in pieces(whole, self.c.sram.x_size) {
                    let n = shard.end - shard.start;
                    if n == 0 || *parts <= 1 {
                        continue;
                    }
                    let base = self.act_base();
                    for j in 0..*parts {
                        let sram = SramAddr(self.c.sram.x);
                        self.push(Instr::Load {
                            tok: Token(TOK_BUF[0]),
                            mem: Self::hbm(base + j * bytes + shard.start),
                            sram,
                            bytes: Bytes(n),
                        });
                    }
                    self.push(Instr::Wait { tok: Token(TOK_BUF[0]) });
                    self.push(Instr::Vec { op: VecOp::Add, n: Count(n / 2 * (parts - 1)), dtype: self.c.act });
                    self.push(Instr::Store {
                        tok: Token(TOK_STORE),
                        mem: Self::hbm(base + shard.start),
                        sram: SramAddr(self.c.sram.x),
                        bytes: Bytes(n),
                    });
                    self.push(Instr::Wait { tok: Token(TOK_STORE) });
                }
                self.barrier();
            }
            Op::Embed { bytes } => {
                let shard = part(self.local as u64, *bytes, self.c.tiles as u64);
                let n = shard.end - shard.start;
                if n > 0 {
                    let sram = SramAddr(self.c.sram.x);
                    self.push(Instr::Load {
                        tok: Token(TOK_BUF[0]),
                        mem: self.weight_loc(shard.start),
                        sram,
                        bytes: Bytes(n.min(self.c.sram.x_size)),
                    });
                    self.push(Instr::Wait { tok: Token(TOK_BUF[0]) });
                    self.push(Instr::Store {
                        tok: Token(TOK_STORE),
                        mem: Self::hbm(self.act_base() + shard.start),
                        sram,
                        bytes: Bytes(n.min(self.c.sram.x_size)),
                    });
                    self.push(Instr::Wait { tok: Token(TOK_STORE) });
                }
                self.barrier();
            }
            Op::StageSend { bytes } | Op::StageRecv { bytes } => {
                let send = matches!(op, Op::StageSend { .. });
                let channels = self.channels(*bytes);
                if self.local < channels {
                    let shard = part(self.local as u64, *bytes, channels as u64);
                    let n = shard.end - shard.start;
                    let sram = SramAddr(self.c.sram.x);
                    let mem = Self::hbm(self.act_base() + shard.start);
                    if send {
                        self.push(Instr::Load { tok: Token(TOK_BUF[0]), mem, sram, bytes: Bytes(n) });
                        self.push(Instr::Wait { tok: Token(TOK_BUF[0]) });
                        self.stage_transfer(true, self.local, n);
                    } else {
                        self.stage_transfer(false, self.local, n);
                        self.push(Instr::Store { tok: Token(TOK_STORE), mem, sram, bytes: Bytes(n) });
                        self.push(Instr::Wait { tok: Token(TOK_STORE) });
                    }
                }
                self.barrier();
            }
            Op::Argmax { rows } => self.argmax(*rows, id),
        }
    }

    /// A software pipeline over `chunks` chunks: `issue(j)` loads chunk j into
    /// stream slot j % SLOTS (token TOK_BUF[slot]) SLOTS-1 chunks ahead of
    /// `compute(j)`, which runs once its slot's loads are in.
    fn pipelined(
        &mut self,
        chunks: u64,
        mut issue: impl FnMut(&mut Self, u64),
        mut compute: impl FnMut(&mut Self, u64),
    ) {
        let ahead = SLOTS as u64 - 1;
        for j in 0..chunks.min(ahead) {
            issue(self, j);
        }
        for j in 0..chunks {
            if j + ahead < chunks {
                issue(self, j + ahead);
            }
            self.push(Instr::Wait { tok: Token(TOK_BUF[(j % SLOTS as u64) as usize]) });
            compute(self, j);
        }
    }

    /// Sends `bytes` from the input buffer to tile `local` of the same rank
    /// in the next stage, or receives them from the previous stage.
    fn stage_transfer(&mut self, send: bool, local: u32, bytes: u64) {
        let stage = if send { self.at.stage + 1 } else { self.at.stage - 1 };
        let peer = self.tile(self.c.plan.chip(self.at.replica, stage, self.at.rank), local);
        let (sram, bytes) = (SramAddr(self.c.sram.x), Bytes(bytes));
        if send {
            self.push(Instr::Send { tok: Token(TOK_SEND), to: peer, tag: TAG_STAGE, sram, bytes });
            self.push(Instr::Wait { tok: Token(TOK_SEND) });
        } else {
            self.push(Instr::Recv { tok: Token(TOK_RECV), from: peer, tag: TAG_STAGE, sram, bytes });
            self.push(Instr::Wait { tok: Token(TOK_RECV) });
        }
    }

    /// Tiles sharing a transfer of `bytes`: one per 64 KiB, at most every tile.
    fn channels(&self, bytes: u64) -> u32 {
        (bytes / (64 << 10)).clamp(1, self.c.tiles as u64) as u32
    }

    fn gemm_memory(&mut self, g: &GemmOp, id: u32) {
        if let Some((rows, cols, red)) = self.c.block(g, self.pos) {
            // Sub-blocks whose output fits the C buffer, one after another
            // (prefill: many rows; `sub_blocks`).
            for r in pieces(rows, g.row_block) {
                for c in pieces(cols.clone(), g.col_block) {
                    self.gemm_memory_block(g, id, r.clone(), c, red.clone());
                }
            }
        }
        self.barrier();
    }

    /// Rows `rows` of this tile's block of `g`: stream A and W over the
    /// reduction, add split-k partial sums, write the output.
    fn gemm_memory_block(&mut self, g: &GemmOp, id: u32, rows: Range<u64>, cols: Range<u64>, red: Range<u64>) {
        let (mb, nb, kb) = (rows.end - rows.start, cols.end - cols.start, red.end - red.start);
        let act_base = self.act_base();
        // The whole input block in one load when it fits the input buffer
        // (decode: a few rows); otherwise A travels with each W chunk.
        let a_once = self.act(mb * kb) <= self.c.sram.x_size;
        let chunk = if a_once { (self.c.sram.stream_size / self.c.wbytes(nb).max(1)).clamp(1, kb) } else { g.chunk };
        let chunks = kb.div_ceil(chunk);
        if a_once {
            let a_at = act_base + g.a_region + self.act(rows.start * g.k + red.start);
            let mem = Self::hbm(a_at);
            self.push(Instr::Load {
                tok: Token(TOK_BUF[0]),
                mem,
                sram: SramAddr(self.c.sram.x),
                bytes: Bytes(self.act(mb * kb)),
            });
        }
        let issue = |e: &mut Self, j: u64| {
            let kr = part(j, kb, chunks);
            let kc = kr.end - kr.start;
            let slot = (j % SLOTS as u64) as usize;
            let tok = Token(TOK_BUF[slot]);
            let buf = e.c.sram.stream[slot];
            let mut wbuf = buf;
            if !a_once {
                let a_at = act_base + g.a_region + e.act(rows.start * g.k + red.start + kr.start);
                e.push(Instr::Load { tok, mem: Self::hbm(a_at), sram: SramAddr(buf), bytes: Bytes(e.act(mb * kc)) });
                wbuf += e.act(mb * kc);
            }
            let w_at = g.w_offset + e.c.wbytes(cols.start * g.k + red.start + kr.start);
            e.push(Instr::Load {
                tok,
                mem: e.weight_loc(w_at),
                sram: SramAddr(wbuf),
                bytes: Bytes(e.c.wbytes(kc * nb)),
            });
        };
        self.pipelined(chunks, issue, |e, j| {
            let kr = part(j, kb, chunks);
            if g.norm_input {
                e.push(Instr::Vec { op: VecOp::RmsNorm, n: Count(mb * (kr.end - kr.start)), dtype: e.c.act });
            }
            e.push(Instr::Gemm {
                m: Count(mb),
                n: Count(nb),
                k: Count(kr.end - kr.start),
                dtype: e.c.workload.weights,
            });
        });
        // Split-k: add partial sums up the reduction tree of this column group.
        let out_cols = if g.halves { nb / 2 } else { nb };
        let c_bytes = self.act(mb * nb);
        let pk = g.p.pk;
        let idx = self.pos % pk;
        let group_base = self.pos - idx;
        self.reduce_tree(idx, pk, group_base, c_bytes, mb * nb, id, |e, p| e.local_at_pos(p));
        if idx == 0 {
            for &v in &g.epilogue {
                self.push(Instr::Vec { op: v, n: Count(mb * nb), dtype: self.c.act });
            }
            let out = act_base + g.out_region + self.act(rows.start * g.n + cols.start);
            if g.residual {
                self.push(Instr::Load {
                    tok: Token(TOK_BUF[0]),
                    mem: Self::hbm(out),
                    sram: SramAddr(self.c.sram.x),
                    bytes: Bytes(self.act(mb * out_cols)),
                });
                self.push(Instr::Wait { tok: Token(TOK_BUF[0]) });
                self.push(Instr::Vec { op: VecOp::Add, n: Count(mb * out_cols), dtype: self.c.act });
            }
            self.push(Instr::Store {
                tok: Token(TOK_STORE),
                mem: Self::hbm(out),
                sram: SramAddr(self.c.sram.c),
                bytes: Bytes(self.act(mb * out_cols)),
            });
            self.push(Instr::Wait { tok: Token(TOK_STORE) });
        }
    }

    fn local_at_pos(&self, pos: u32) -> TileId {
        self.tile(self.at.chip, self.c.local_of(pos))
    }

    /// Sum `elems` partial values (`bytes`) over `n` members of a tree whose
    /// member i sits at position `base + i`; this tile is member `idx`.
    #[allow(clippy::too_many_arguments)]
    fn reduce_tree(
        &mut self,
        idx: u32,
        n: u32,
        base: u32,
        bytes: u64,
        elems: u64,
        id: u32,
        tile_of: impl Fn(&Self, u32) -> TileId,
    ) {
        if n <= 1 {
            return;
        }
        let tag = Tag(id * 4 + 1);
        let (parent, kids) = tree::links(idx, n);
        for &k in &kids {
            let from = tile_of(self, base + k);
            self.push(Instr::Recv {
                tok: Token(TOK_RECV),
                from,
                tag,
                sram: SramAddr(self.c.sram.x),
                bytes: Bytes(bytes),
            });
        }
        if !kids.is_empty() {
            self.push(Instr::Wait { tok: Token(TOK_RECV) });
            self.push(Instr::Vec { op: VecOp::Add, n: Count(elems * kids.len() as u64), dtype: self.c.act });
        }
        if let Some(p) = parent {
            let to = tile_of(self, base + p);
            self.push(Instr::Send {
                tok: Token(TOK_SEND),
                to,
                tag,
                sram: SramAddr(self.c.sram.c),
                bytes: Bytes(bytes),
            });
            self.push(Instr::Wait { tok: Token(TOK_SEND) });
        }
    }

    /// Broadcast `bytes` from member 0 down a tree of `n` members at
    /// positions `base..base+n`; this tile is member `idx`.
    fn broadcast_tree(&mut self, idx: u32, n: u32, base: u32, bytes: u64, id: u32) {
        if n <= 1 {
            return;
        }
        let tag = Tag(id * 4 + 2);
        let sram = SramAddr(self.c.sram.x);
        let (parent, kids) = tree::links(idx, n);
        if let Some(p) = parent {
            let from = self.local_at_pos(base + p);
            self.push(Instr::Recv { tok: Token(TOK_RECV), from, tag, sram, bytes: Bytes(bytes) });
            self.push(Instr::Wait { tok: Token(TOK_RECV) });
        }
        for &k in &kids {
            let to = self.local_at_pos(base + k);
            self.push(Instr::Send { tok: Token(TOK_SEND), to, tag, sram, bytes: Bytes(bytes) });
        }
        if !kids.is_empty() {
            self.push(Instr::Wait { tok: Token(TOK_SEND) });
        }
    }

    /// Attention: this tile's (user, KV group, block) items, then the
    /// split-k combination of each pair's blocks.
    fn attention(&mut self, a: &AttnOp, id: u32) {
        let (m, w) = (self.c.model, self.c.workload);
        let hd = m.head_dim;
        let q_bytes = self.act(a.q_tokens * a.heads_per_group * hd);
        let out_elems = a.q_tokens * a.heads_per_group * hd;
        if self.c.strategy == Strategy::Root {
            // Queries for every local head reach every tile down the tree.
            let all_q = self.act(a.users * a.q_tokens * a.heads_per_group * a.groups * hd);
            self.broadcast_tree(self.pos, self.c.tiles, 0, all_q.min(self.c.sram.x_size), id);
        }
        let items = self.c.attn_items(a, self.pos);
        let kv_base = match &self.c.chip.memory {
            Memory::Hbm { capacity, .. } => capacity.0 / 4,
            Memory::Dram3d { capacity_per_tile, .. } => capacity_per_tile.0 / 2,
            Memory::SramOnly => 0,
        };
        for (n, (user, group, range)) in items.iter().enumerate() {
            let tok = Token(TOK_BUF[n % SLOTS]);
            let buf = self.c.sram.stream[n % SLOTS];
            if self.c.strategy == Strategy::Memory {
                let qa = self.act_base() + self.act((user * a.groups + group) * a.q_tokens * a.heads_per_group * hd);
                self.push(Instr::Load {
                    tok,
                    mem: Self::hbm(qa),
                    sram: SramAddr(self.c.sram.x),
                    bytes: Bytes(q_bytes),
                });
            }
            let read = range.start.min(a.read_positions)..range.end.min(a.read_positions);
            let kv_bytes = w.kv.bytes(2 * hd * (read.end - read.start));
            if kv_bytes > 0 && self.c.plan.home != Home::Sram {
                // HBM holds every pair's cache; a vault only the blocks of its tile.
                let pair_base = if self.c.plan.home == Home::Hbm {
                    (user * a.groups + group) * (w.context + a.q_tokens)
                } else {
                    0
                };
                let addr = kv_base + w.kv.bytes(2 * hd * (pair_base + read.start));
                let mem = match self.c.plan.home {
                    Home::Hbm => Loc::Hbm { addr },
                    _ => Loc::Dram { tile: None, addr },
                };
                // KV blocks stream through the stream buffers, a buffer-load at a time.
                let pieces = kv_bytes.div_ceil(self.c.sram.stream_size).max(1);
                for piece in 0..pieces {
                    let r = part(piece, kv_bytes, pieces);
                    self.push(Instr::Load { tok, mem, sram: SramAddr(buf), bytes: Bytes(r.end - r.start) });
                }
            }
            self.push(Instr::Wait { tok });
            self.push(Instr::Attn {
                q: Count(a.q_tokens),
                ctx: Count(range.end - range.start),
                heads: Count(a.heads_per_group),
                kv_heads: Count(1),
                hd: Count(hd),
                dtype: w.kv,
            });
        }
        // Combine the blocks of each pair: member b of the pair's blocks.
        let single = items.len() == 1 && a.blocks > 1;
        let idx = self.pos % a.blocks as u32;
        let base = self.pos - idx;
        if single {
            self.reduce_tree(idx, a.blocks as u32, base, q_bytes, out_elems, id, |e, p| e.local_at_pos(p));
        }
        let leaders = if a.blocks > 1 { if idx == 0 { items.len() } else { 0 } } else { items.len() };
        for (user, group, _) in items.iter().take(leaders) {
            match self.c.strategy {
                Strategy::Memory => {
                    let oa = self.act_base() + self.act((user * a.groups + group) * out_elems);
                    self.push(Instr::Store {
                        tok: Token(TOK_STORE),
                        mem: Self::hbm(oa),
                        sram: SramAddr(self.c.sram.c),
                        bytes: Bytes(q_bytes),
                    });
                }
                Strategy::Root => {
                    if self.pos != 0 {
                        let root = self.local_at_pos(0);
                        self.push(Instr::Send {
                            tok: Token(TOK_SEND),
                            to: root,
                            tag: Tag(id * 4 + 3),
                            sram: SramAddr(self.c.sram.c),
                            bytes: Bytes(q_bytes),
                        });
                    }
                }
            }
        }
        if leaders > 0 {
            match self.c.strategy {
                Strategy::Memory => self.push(Instr::Wait { tok: Token(TOK_STORE) }),
                Strategy::Root if self.pos != 0 => self.push(Instr::Wait { tok: Token(TOK_SEND) }),
                Strategy::Root => {}
            }
        }
        match self.c.strategy {
            Strategy::Memory => self.barrier(),
            Strategy::Root if self.pos == 0 => {
                // The root gathers every pair's output from the block leaders.
                let mut any = false;
                for p in 1..self.c.tiles {
                    let n_lead = {
                        let it = self.c.attn_items(a, p);
                        let bidx = p % a.blocks as u32;
                        if a.blocks > 1 { if bidx == 0 { it.len() } else { 0 } } else { it.len() }
                    };
                    for _ in 0..n_lead {
                        let from = self.local_at_pos(p);
                        self.push(Instr::Recv {
                            tok: Token(TOK_RECV),
                            from,
                            tag: Tag(id * 4 + 3),
                            sram: SramAddr(self.c.sram.c),
                            bytes: Bytes(q_bytes),
                        });
                        any = true;
                    }
                }
                if any {
                    self.push(Instr::Wait { tok: Token(TOK_RECV) });
                }
            }
            Strategy::Root => {}
        }
    }

    /// The tensor-parallel all-reduce of `bytes` of partial sums, split
    /// over channels (tiles) that each reduce a shard with the same tile of
    /// the other chips; then the residual is added.
    fn allreduce_memory(&mut self, bytes: u64, id: u32, residual: bool) {
        let channels = self.channels(bytes);
        // Each of `channels` tiles all-reduces its shard, a buffer-full at a time.
        let whole = if self.local < channels { part(self.local as u64, bytes, channels as u64) } else { 0..0 };
        for shard in pieces(whole, self.c.sram.x_size.min(self.c.sram.c_size)) {
            let n = shard.end - shard.start;
            let sram = SramAddr(self.c.sram.x);
            let base = self.act_base();
            self.push(Instr::Load {
                tok: Token(TOK_BUF[0]),
                mem: Self::hbm(base + shard.start),
                sram,
                bytes: Bytes(n),
            });
            self.push(Instr::Wait { tok: Token(TOK_BUF[0]) });
            self.collective(n, id, self.local);
            if residual {
                self.push(Instr::Load {
                    tok: Token(TOK_BUF[0]),
                    mem: Self::hbm(base + bytes + shard.start),
                    sram: SramAddr(self.c.sram.c),
                    bytes: Bytes(n),
                });
                self.push(Instr::Wait { tok: Token(TOK_BUF[0]) });
                self.push(Instr::Vec { op: VecOp::Add, n: Count(n / 2), dtype: self.c.act });
            }
            self.push(Instr::Store {
                tok: Token(TOK_STORE),
                mem: Self::hbm(base + shard.start),
                sram,
                bytes: Bytes(n),
            });
            self.push(Instr::Wait { tok: Token(TOK_STORE) });
        }
        self.barrier();
    }

    /// This tile's part in an all-reduce of `bytes` with tile `local` of
    /// every chip in its tensor-parallel group.
    fn collective(&mut self, bytes: u64, id: u32, local: u32) {
        let plan = &self.c.plan;
        let tp = plan.tp;
        let tiles: Vec<TileId> =
            (0..tp).map(|j| self.tile(plan.chip(self.at.replica, self.at.stage, j), local)).collect();
        let alg = self.algorithm(bytes);
        let r = Resources {
            send_token: TOK_SEND,
            recv_token: TOK_RECV,
            tag_base: id * 64 + 1000,
            sram: self.c.sram.x,
            dtype: self.c.act,
        };
        let mut streams = Vec::new();
        collective::all_reduce(&tiles, bytes, alg, r, &mut streams).expect("algorithm chosen for the group");
        let mine = std::mem::take(&mut streams[self.at.rank as usize]);
        self.out.extend(mine);
    }

    /// The all-reduce algorithm the topology favours for `bytes`.
    fn algorithm(&self, bytes: u64) -> Algorithm {
        let tp = self.c.plan.tp;
        let small = bytes <= 64 << 10 && tp.is_power_of_two();
        match self.c.chip.system.topology {
            SystemTopology::Switch | SystemTopology::FullyConnected if small => Algorithm::RecursiveDoubling,
            SystemTopology::Dragonfly { group_size } if tp > group_size && tp.is_multiple_of(group_size) => {
                Algorithm::TwoD { x: group_size, y: tp / group_size }
            }
            SystemTopology::Dragonfly { .. } if small => Algorithm::RecursiveDoubling,
            _ => Algorithm::Ring,
        }
    }

    /// Argmax: each tile's winners (value and index) go to the leader.
    fn argmax(&mut self, rows: u64, id: u32) {
        let bytes = 8 * rows;
        match self.c.strategy {
            Strategy::Memory => {
                self.barrier();
                if self.c.plan.tp > 1 && self.local == 0 {
                    self.collective(bytes, id, 0);
                }
                self.barrier();
            }
            Strategy::Root => {
                if self.pos == 0 && self.c.plan.tp > 1 {
                    self.collective(bytes, id, self.c.root);
                }
            }
        }
    }

    // ----- Root strategy (SRAM-only and 3D-DRAM chips) --------------------

    fn op_root(&mut self, op: &Op, id: u32) {
        match op {
            Op::Gemm(g) => self.gemm_root(g, id),
            Op::Attention(a) => self.attention(a, id),
            Op::AllReduce { bytes } => {
                if self.pos == 0 {
                    self.collective(*bytes, id, self.c.root);
                    self.push(Instr::Vec { op: VecOp::Add, n: Count(bytes / 2), dtype: self.c.act });
                }
            }
            Op::Combine { bytes, parts } => {
                if self.pos == 0 && *parts > 1 {
                    self.push(Instr::Vec { op: VecOp::Add, n: Count(bytes / 2 * (parts - 1)), dtype: self.c.act });
                }
            }
            Op::Embed { bytes } => {
                if self.pos == 0 {
                    // Rows live spread over the chip; fetch from the tile holding them.
                    let owner = self.tile(self.at.chip, (self.c.root + 1) % self.c.tiles);
                    let mem = match self.c.plan.home {
                        Home::Vault => Loc::Dram { tile: Some(owner), addr: 0 },
                        _ => Loc::Sram { tile: owner, addr: 0 },
                    };
                    let n = (*bytes).min(self.c.sram.x_size);
                    self.push(Instr::Load {
                        tok: Token(TOK_BUF[0]),
                        mem,
                        sram: SramAddr(self.c.sram.x),
                        bytes: Bytes(n),
                    });
                    self.push(Instr::Wait { tok: Token(TOK_BUF[0]) });
                }
            }
            Op::StageSend { bytes } | Op::StageRecv { bytes } => {
                if self.pos == 0 {
                    let send = matches!(op, Op::StageSend { .. });
                    self.stage_transfer(send, self.c.root, (*bytes).min(self.c.sram.x_size));
                }
            }
            Op::Argmax { rows } => self.argmax(*rows, id),
        }
    }

    fn gemm_root(&mut self, g: &GemmOp, id: u32) {
        let used = g.p.tiles();
        let a_bytes = self.act(g.m * g.k).min(self.c.sram.x_size);
        if self.pos == 0 {
            for &(v, n) in g.root_epilogue.iter().filter(|(v, _)| *v == VecOp::RmsNorm) {
                self.push(Instr::Vec { op: v, n: Count(n), dtype: self.c.act });
            }
        }
        // The input reaches every tile the GEMM uses.
        if self.pos < used.max(1) {
            self.broadcast_tree(self.pos, used, 0, a_bytes, id);
        }
        let block = self.c.block(g, self.pos);
        if let Some((rows, cols, red)) = &block {
            let (mb, nb, kb) = (rows.end - rows.start, cols.end - cols.start, red.end - red.start);
            if self.c.plan.home == Home::Vault {
                let chunks = kb.div_ceil(g.chunk);
                let issue = |e: &mut Self, j: u64| {
                    let kr = part(j, kb, chunks);
                    let slot = (j % SLOTS as u64) as usize;
                    let w_at = g.w_offset / e.c.tiles as u64 + e.c.wbytes(red.start + kr.start) * nb;
                    let (tok, buf) = (Token(TOK_BUF[slot]), SramAddr(e.c.sram.stream[slot]));
                    e.push(Instr::Load {
                        tok,
                        mem: e.weight_loc(w_at),
                        sram: buf,
                        bytes: Bytes(e.c.wbytes((kr.end - kr.start) * nb)),
                    });
                };
                self.pipelined(chunks, issue, |e, j| {
                    let kr = part(j, kb, chunks);
                    let k = Count(kr.end - kr.start);
                    e.push(Instr::Gemm { m: Count(mb), n: Count(nb), k, dtype: e.c.workload.weights });
                });
            } else {
                self.push(Instr::Gemm { m: Count(mb), n: Count(nb), k: Count(kb), dtype: self.c.workload.weights });
            }
            let pk = g.p.pk;
            let idx = self.pos % pk;
            let base = self.pos - idx;
            self.reduce_tree(idx, pk, base, self.act(mb * nb), mb * nb, id, |e, p| e.local_at_pos(p));
            if idx == 0 {
                for &v in &g.epilogue {
                    self.push(Instr::Vec { op: v, n: Count(mb * nb), dtype: self.c.act });
                }
                if self.pos != 0 {
                    let out = if g.halves { nb / 2 } else { nb };
                    let root = self.local_at_pos(0);
                    self.push(Instr::Send {
                        tok: Token(TOK_SEND),
                        to: root,
                        tag: Tag(id * 4 + 3),
                        sram: SramAddr(self.c.sram.c),
                        bytes: Bytes(self.act(mb * out)),
                    });
                    self.push(Instr::Wait { tok: Token(TOK_SEND) });
                }
            }
        }
        if self.pos == 0 {
            // Gather the column groups' blocks.
            let mut any = false;
            for p in (g.p.pk..used).step_by(g.p.pk as usize) {
                if let Some((rows, cols, _)) = self.c.block(g, p) {
                    let (mb, nb) = (rows.end - rows.start, cols.end - cols.start);
                    let out = if g.halves { nb / 2 } else { nb };
                    let from = self.local_at_pos(p);
                    self.push(Instr::Recv {
                        tok: Token(TOK_RECV),
                        from,
                        tag: Tag(id * 4 + 3),
                        sram: SramAddr(self.c.sram.c),
                        bytes: Bytes(self.act(mb * out)),
                    });
                    any = true;
                }
            }
            if any {
                self.push(Instr::Wait { tok: Token(TOK_RECV) });
            }
            for &(v, n) in g.root_epilogue.iter().filter(|(v, _)| *v != VecOp::RmsNorm) {
                self.push(Instr::Vec { op: v, n: Count(n), dtype: self.c.act });
            }
        }
    }
}
