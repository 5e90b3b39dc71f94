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
use super::plan::{Home, Plan, Strategy};
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

mod memory;
mod ops;
mod root;
mod tiled;

use ops::{AttnOp, GemmOp, Lay, Op, PassOps};

// Token numbers (per tile): one per stream slot, then messages and stores.
const SLOTS: usize = 4;
const TOK_BUF: [u32; SLOTS] = [0, 1, 2, 3];
const TOK_SEND: u32 = 8;
const TOK_RECV: u32 = 9;
const TOK_STORE: u32 = 10;
/// The collectives' slices beyond the first (collective::MAX_SLICES - 1).
const TOK_SLICE: u32 = 16;

// Message tags: sampled tokens fed back to the first stage, activations
// between stages; operation `id`s (>= 100) tag their own trees as
// 4*id + k and collectives from 1000 + 64*id.
const TAG_FEEDBACK: Tag = Tag(1);
const TAG_STAGE: Tag = Tag(2);

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
    /// The tiled strategy's regions and tile groups.
    tiled: Option<tiled::Layout>,
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
        let strategy = plan.strategy;
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
            tiled: None,
        };
        if strategy == Strategy::Tiled {
            c.tiled = Some(tiled::Layout::new(&c));
        }
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
        // The tiled strategy's largest buffer is its input slice (the other
        // strategies stream their inputs through the stream slots).
        let (x_size, stream) = if self.strategy == Strategy::Tiled { (2 * q, q) } else { (q, 2 * q) };
        let slot = stream / SLOTS as u64;
        self.sram = SramLayout {
            c: base,
            c_size: q,
            x: base + q,
            x_size,
            stream: std::array::from_fn(|i| base + q + x_size + i as u64 * slot),
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
        for s in 0..self.plan.total_stages() {
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

    /// On SRAM-only chips every tile must hold its share of the weights and
    /// KV cache beside its buffers.
    fn check_resident_fit(&self) -> Result<(), CompileError> {
        if self.plan.home != Home::Sram {
            return Ok(());
        }
        let mut worst = (0u64, 0u32, 0u32);
        for ((stage, _, _), ops) in &self.passes {
            for pos in 0..self.tiles {
                let b = match &self.tiled {
                    Some(t) => self.resident_bytes_tiled(t, ops, *stage, pos),
                    None => self.resident_bytes(ops, pos),
                };
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
        let mut total = 0;
        for (layers, layer) in &ops.segments {
            let mut per_layer = 0;
            for op in layer {
                match op {
                    Op::Gemm(g) => per_layer += self.w_block(g, pos),
                    Op::Attention(a) => {
                        for item in self.attn_items(a, pos) {
                            per_layer += self.model.kv_group_bytes(self.workload.kv, item.2.end - item.2.start);
                        }
                    }
                    _ => {}
                }
            }
            total += per_layer * layers;
        }
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

    /// How many of its `items` attention items the tile at `pos` leads:
    /// all of them unless pairs are split into blocks, then the first
    /// block's tile of each pair.
    fn attn_leads(&self, a: &AttnOp, pos: u32, items: usize) -> usize {
        if a.blocks > 1 && !pos.is_multiple_of(a.blocks as u32) { 0 } else { items }
    }

    fn make_header(&mut self) -> Header {
        let chips = self.chip.system.chips;
        let p = self.tiles;
        let used = self.plan.dp * self.plan.chips_per_replica();
        let mut groups = Vec::new();
        self.chip_group = vec![None; chips as usize];
        match self.strategy {
            Strategy::Memory => {
                for c in 0..used {
                    self.chip_group[c as usize] = Some(groups.len() as u32);
                    groups.push((c * p..(c + 1) * p).map(TileId).collect());
                }
            }
            Strategy::Tiled => {
                let layout = self.tiled.as_ref().expect("tiled layout");
                for c in 0..used {
                    groups.extend(layout.groups.iter().map(|g| g.iter().map(|&l| TileId(c * p + l)).collect()));
                }
            }
            Strategy::Root => {}
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
        let region = self.tiled.as_ref().map_or(0, |t| t.place[local as usize].region);
        let gstage = at.stage * self.plan.regions + region;
        let mut e = Emitter { c: self, at, local, pos, gstage, tokens: 0, out: Vec::new() };
        e.program();
        e.out
    }

    /// The tile that leads pipeline stage `gstage` of `replica` on tensor
    /// rank `rank`: the root tile, or a tiled region's home tile.
    fn leader(&self, replica: u32, gstage: u32, rank: u32) -> TileId {
        let regions = self.plan.regions;
        let chip = self.plan.chip(replica, gstage / regions, rank);
        let local = match &self.tiled {
            Some(t) => t.leader(gstage % regions),
            None => self.root,
        };
        TileId(chip * self.tiles + local)
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
                Strategy::Memory => "in HBM (barriers between operations)".to_string(),
                Strategy::Root => "at each chip's root tile (tree broadcast and reduction)".to_string(),
                Strategy::Tiled => format!(
                    "spread over each region's tile grid ({} region(s) per chip; multicast along one grid \
                     dimension, reduction along the other)",
                    self.plan.regions
                ),
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
    /// Pipeline stage of this tile: its chip's stage times the regions per
    /// chip, plus its region (tiled strategy).
    gstage: u32,
    /// Tokens of the micro-batch of the pass being generated.
    tokens: u64,
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

    /// Whether this tile leads its stage (receives the sampled tokens and
    /// sends them on).
    fn is_leader(&self) -> bool {
        self.tile(self.at.chip, self.local) == self.c.leader(self.at.replica, self.gstage, self.at.rank)
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
        let (first, last) = (self.gstage == 0, self.gstage + 1 == plan.total_stages());
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
        if plan.total_stages() == 1 {
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
        let peer_stage = if send { 0 } else { plan.total_stages() - 1 };
        let peer = self.c.leader(self.at.replica, peer_stage, self.at.rank);
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
        self.tokens = users * self.c.workload.tokens_per_user();
        let ops = self.c.pass(self.gstage, users, self.c.expert_group(self.at.rank)).clone();
        for (i, op) in ops.pre.iter().enumerate() {
            self.op(op, 100 + i as u32);
        }
        let mut id = 200;
        for (layers, layer) in &ops.segments {
            self.looped(*layers, |e| {
                for (i, op) in layer.iter().enumerate() {
                    e.op(op, id + i as u32);
                }
            });
            id += layer.len() as u32;
        }
        // The LM head's ids follow the layers' (from 300 as before, later
        // when the layers' operations reach it), so no two operations of a
        // pass share an id and so the tags of their messages.
        let post = id.max(300);
        for (i, op) in ops.post.iter().enumerate() {
            self.op(op, post + i as u32);
        }
    }

    fn op(&mut self, op: &Op, id: u32) {
        match self.c.strategy {
            Strategy::Memory => self.op_memory(op, id),
            Strategy::Root => self.op_root(op, id),
            Strategy::Tiled => self.op_tiled(op, id),
        }
    }

    /// The end of a kernel (memory strategy): a barrier over the chip's
    /// tiles, then the software's gap before the next kernel starts.
    fn barrier(&mut self) {
        if let Some(g) = self.c.chip_group[self.at.chip as usize] {
            self.push(Instr::Barrier { group: Group(g) });
            let launch = self.c.chip.software.kernel_launch;
            if launch.0 > 0 {
                self.push(Instr::Delay { cycles: launch });
            }
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

    /// Attention work of this tile: for each of its (user, KV group,
    /// block) items, then the blocks of a pair split over several tiles
    /// combined up a split-k tree. Returns this tile's items and how many of
    /// them it leads (holds the combined output of). `before` as for
    /// `attend_items`.
    fn attend(
        &mut self,
        a: &AttnOp,
        id: u32,
        before: impl FnMut(&mut Self, u64, u64, Token),
    ) -> (Vec<(u64, u64, Range<u64>)>, usize) {
        let out_elems = a.q_tokens * a.heads_per_group * a.out_width;
        let q_bytes = self.act(out_elems);
        let items = self.c.attn_items(a, self.pos);
        self.attend_items(a, &items, before);
        // Combine the blocks of each pair: member b of the pair's blocks.
        let single = items.len() == 1 && a.blocks > 1;
        let idx = self.pos % a.blocks as u32;
        let base = self.pos - idx;
        if single {
            self.reduce_tree(idx, a.blocks as u32, base, q_bytes, out_elems, id, |e, p| e.local_at_pos(p));
        }
        let leaders = self.c.attn_leads(a, self.pos, items.len());
        (items, leaders)
    }

    /// For each (user, KV group, position range) item: `before(user,
    /// group, token)` (the strategy brings the queries), the block's K and V
    /// from where the cache lives, and one fused `attn`.
    fn attend_items(
        &mut self,
        a: &AttnOp,
        items: &[(u64, u64, Range<u64>)],
        mut before: impl FnMut(&mut Self, u64, u64, Token),
    ) {
        let (m, w) = (self.c.model, self.c.workload);
        let kv_base = match &self.c.chip.memory {
            Memory::Hbm { capacity, .. } => capacity.0 / 4,
            Memory::Dram3d { capacity_per_tile, .. } => capacity_per_tile.0 / 2,
            Memory::SramOnly => 0,
        };
        for (n, (user, group, range)) in items.iter().enumerate() {
            let tok = Token(TOK_BUF[n % SLOTS]);
            let buf = self.c.sram.stream[n % SLOTS];
            before(self, *user, *group, tok);
            let read = range.start.min(a.read_positions)..range.end.min(a.read_positions);
            let kv_bytes = m.kv_group_bytes(w.kv, read.end - read.start);
            if kv_bytes > 0 && self.c.plan.home != Home::Sram {
                // HBM holds every pair's cache; a vault only the blocks of its tile.
                let pair_base = if self.c.plan.home == Home::Hbm {
                    (user * a.groups + group) * (w.context + a.q_tokens)
                } else {
                    0
                };
                let addr = kv_base + m.kv_group_bytes(w.kv, pair_base + read.start);
                // KV blocks stream through the stream buffers, a buffer-load at
                // a time, each piece from its own addresses.
                let pieces = kv_bytes.div_ceil(self.c.sram.stream_size).max(1);
                for piece in 0..pieces {
                    let r = part(piece, kv_bytes, pieces);
                    let mem = match self.c.plan.home {
                        Home::Hbm => Loc::Hbm { addr: addr + r.start },
                        _ => Loc::Dram { tile: None, addr: addr + r.start },
                    };
                    self.push(Instr::Load { tok, mem, sram: SramAddr(buf), bytes: Bytes(r.end - r.start) });
                }
            }
            self.push(Instr::Wait { tok });
            let (q, ctx, heads) = (Count(a.q_tokens), Count(range.end - range.start), Count(a.heads_per_group));
            self.push(match a.latent {
                None => Instr::Attn { q, ctx, heads, kv_heads: Count(1), hd: Count(m.head_dim), dtype: w.kv },
                Some((latent, rope)) => {
                    Instr::Mla { q, ctx, heads, latent: Count(latent), rope: Count(rope), dtype: w.kv }
                }
            });
        }
    }

    /// This tile's part in an all-reduce of `bytes` with tile `local` of
    /// every chip in its tensor-parallel group.
    fn collective(&mut self, bytes: u64, id: u32, local: u32) {
        let plan = &self.c.plan;
        let tp = plan.tp;
        let tiles: Vec<TileId> =
            (0..tp).map(|j| self.tile(plan.chip(self.at.replica, self.at.stage, j), local)).collect();
        let alg = self.algorithm(bytes);
        let sw = &self.c.chip.software;
        let r = Resources {
            send_token: TOK_SEND,
            recv_token: TOK_RECV,
            tag_base: id * 64 + 1000,
            sram: self.c.sram.x,
            dtype: self.c.act,
            call: sw.collective_call,
            step: sw.step(alg.kind()).unwrap_or_default(),
            slice_token: TOK_SLICE,
        };
        let mut streams = Vec::new();
        collective::all_reduce(&tiles, bytes, alg, r, &mut streams).expect("algorithm chosen for the group");
        let mine = std::mem::take(&mut streams[self.at.rank as usize]);
        self.out.extend(mine);
    }

    /// The all-reduce algorithm the topology favours for `bytes`, among
    /// those the chip's collective library runs (`software.collective_step`;
    /// a ring when it lists none that applies).
    fn algorithm(&self, bytes: u64) -> Algorithm {
        let tp = self.c.plan.tp;
        let small = bytes <= 64 << 10 && tp.is_power_of_two();
        let two_d = match self.c.chip.system.topology {
            SystemTopology::Dragonfly { group_size } if tp > group_size && tp.is_multiple_of(group_size) => {
                Some(Algorithm::TwoD { x: group_size, y: tp / group_size })
            }
            _ => None,
        };
        let favoured = match self.c.chip.system.topology {
            SystemTopology::Switch | SystemTopology::FullyConnected if small => Algorithm::RecursiveDoubling,
            SystemTopology::Dragonfly { .. } if two_d.is_some() => two_d.expect("checked"),
            SystemTopology::Dragonfly { .. } if small => Algorithm::RecursiveDoubling,
            _ => Algorithm::Ring,
        };
        let sw = &self.c.chip.software;
        if sw.step(favoured.kind()).is_some() {
            return favoured;
        }
        let runs = |a: Algorithm| sw.step(a.kind()).is_some();
        [two_d, tp.is_power_of_two().then_some(Algorithm::RecursiveDoubling)]
            .into_iter()
            .flatten()
            .find(|&a| runs(a))
            .unwrap_or(Algorithm::Ring)
    }
}
