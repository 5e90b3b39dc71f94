//! The tiled strategy (arch/compiler.md, "Tiled"): activations stay spread
//! over a region's grid of tiles, weights stay where they are.
//!
//! A region is `rows` x `cols` tiles. The hidden state lives on the home
//! row, split over the columns. A matrix whose input is the hidden state
//! (QKV, gate/up, router, LM head) splits its reduction over the columns
//! and its outputs over the rows: each home-row tile multicasts its slice
//! down its column, every tile multiplies its weight block, and the partial
//! sums are reduced along each row into the home column. A matrix whose
//! input is an inner activation (attention output, FFN intermediate: on
//! the home column) is laid the other way: multicast along rows, reduced
//! down columns, landing on the home row as the hidden state again. So no
//! operation needs a transpose or a root tile. Reductions are chains from
//! both ends of a line toward the home tile; RMSNorm's sum of squares rides
//! in the same messages (its scale is applied after the multiply).
//!
//! Attention puts KV groups on rows (a group per row, or a band of rows
//! per group) and positions on columns; each tile attends its position
//! block, and the partial results are reduced along rows into the home
//! column, exactly where the output projection takes its input.

use super::*;
use crate::compiler::regions::{self, Region};

/// Message tags of the tiled strategy: `TAG_BASE + 16 * op id + kind`.
const TAG_BASE: u32 = 1 << 20;
const TAG_INPUT: u32 = 0;
const TAG_REDUCE: u32 = 1;
const TAG_QUERY: u32 = 2;
const TAG_ATTN: u32 = 3;
const TAG_SCATTER: u32 = 4;
const TAG_IDS: u32 = 5;
const TAG_WINNERS: u32 = 6;

/// Largest message of a reduction chain: longer partial sums go in pieces,
/// so the chain pipelines instead of storing and forwarding whole vectors.
const CHAIN_PIECE: u64 = 64 << 10;

/// Where a tile sits: its region and its row and column in it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Place {
    pub(super) region: u32,
    pub(super) row: u32,
    pub(super) col: u32,
}

/// The regions of a chip and the tile groups the multicasts use, as local
/// tile indices (the header repeats them for every chip in use).
pub(super) struct Layout {
    pub(super) regions: Vec<Region>,
    pub(super) place: Vec<Place>,
    pub(super) groups: Vec<Vec<u32>>,
    /// Per region: the group of its first row, of its first column, of its
    /// first attention band (bands only when there are fewer KV groups than
    /// rows).
    row_group: Vec<u32>,
    col_group: Vec<u32>,
    band_group: Vec<Option<u32>>,
    kv_groups: u64,
}

/// Rows of band `g` when `groups` KV groups share `rows` rows.
fn band(g: u64, groups: u64, rows: u64) -> Range<u64> {
    part(g, rows, groups)
}

/// The KV group whose band holds row `i` (fewer groups than rows): the
/// last band starting at or before `i` (band g starts at floor(g rows /
/// groups), which is <= i exactly when g < (i + 1) groups / rows; no band
/// is empty). In closed form: a search over the groups, for every row of
/// every tile, made compiling a 256x256 grid take seconds.
fn band_of(i: u64, groups: u64, rows: u64) -> u64 {
    ((i + 1) * groups - 1) / rows
}

impl Lay {
    /// The most elements any row of `rows` holds (`rows` of every row, in
    /// closed form: a part of `total` over `parts` is floor or ceil of
    /// total / parts, and within a band the smallest band splits finest).
    fn widest_row(&self, rows: u32) -> u64 {
        let (g, per, r) = (self.groups, self.per, rows as u64);
        if r == 0 {
            0
        } else if g >= r {
            g.div_ceil(r) * per
        } else {
            per.div_ceil(r / g)
        }
    }

    /// The elements of the row-split dimension row `i` of `rows` holds.
    fn rows(&self, i: u32, rows: u32) -> Range<u64> {
        let (g, per, r, i) = (self.groups, self.per, rows as u64, i as u64);
        if g >= r {
            let p = part(i, g, r);
            p.start * per..p.end * per
        } else {
            let gi = band_of(i, g, r);
            let b = band(gi, g, r);
            let sub = part(i - b.start, per, b.end - b.start);
            gi * per + sub.start..gi * per + sub.end
        }
    }
}

impl Layout {
    pub(super) fn new(c: &Compiled<'_>) -> Layout {
        let regions = regions::layout(c.chip, c.plan.regions);
        let mut place = vec![Place::default(); c.tiles as usize];
        let mut groups = Vec::new();
        let (mut row_group, mut col_group, mut band_group) = (Vec::new(), Vec::new(), Vec::new());
        let kv_groups = c.model.kv_heads / c.plan.tp as u64;
        for (k, r) in regions.iter().enumerate() {
            for row in 0..r.rows {
                for col in 0..r.cols {
                    place[r.at(row, col) as usize] = Place { region: k as u32, row, col };
                }
            }
            row_group.push(groups.len() as u32);
            for row in 0..r.rows {
                groups.push((0..r.cols).map(|col| r.at(row, col)).collect());
            }
            col_group.push(groups.len() as u32);
            for col in 0..r.cols {
                groups.push((0..r.rows).map(|row| r.at(row, col)).collect());
            }
            if kv_groups < r.rows as u64 {
                band_group.push(Some(groups.len() as u32));
                for g in 0..kv_groups {
                    let rows = band(g, kv_groups, r.rows as u64);
                    groups.push(rows.flat_map(|row| (0..r.cols).map(move |col| r.at(row as u32, col))).collect());
                }
            } else {
                band_group.push(None);
            }
        }
        Layout { regions, place, groups, row_group, col_group, band_group, kv_groups }
    }

    /// The tile leading region `k`: its home tile.
    pub(super) fn leader(&self, k: u32) -> u32 {
        let r = &self.regions[k as usize];
        r.at(r.home_row(), r.home_col())
    }

    /// The KV groups row `i` of a region of `rows` attends, and how many
    /// position blocks each of them is split into, with this row's first.
    fn attn_rows(&self, i: u32, rows: u32, cols: u32) -> (Range<u64>, u64, u64) {
        let (g, r, i) = (self.kv_groups, rows as u64, i as u64);
        if g >= r {
            (part(i, g, r), cols as u64, 0)
        } else {
            let gi = band_of(i, g, r);
            let b = band(gi, g, r);
            (gi..gi + 1, (b.end - b.start) * cols as u64, (i - b.start) * cols as u64)
        }
    }
}

/// What a tile does in one GEMM: its reduction and output ranges, the
/// line its input is multicast along, and the line its partial sums are
/// reduced along.
struct GemmRole {
    red: Range<u64>,
    out: Range<u64>,
    /// Tiles of the input line (in order), this tile's index, the source's.
    input: (Vec<u32>, usize, usize, u32),
    /// Tiles of the reduction line, this tile's index, the landing index,
    /// and which of them hold partial sums.
    reduce: (Vec<u32>, usize, usize, Vec<bool>),
}

impl Compiled<'_> {
    fn grid(&self) -> &Layout {
        self.tiled.as_ref().expect("tiled layout")
    }

    /// The role of the tile at (row, col) of `r` in GEMM `g`.
    fn gemm_role(&self, r: &Region, k: u32, row: u32, col: u32, g: &GemmOp) -> GemmRole {
        let lay = &g.lay;
        let layout = self.grid();
        let (hr, hc) = (r.home_row(), r.home_col());
        if lay.from_hidden {
            // Reduction over columns, outputs over rows.
            let red = part(col as u64, g.k, r.cols as u64);
            let out = lay.rows(row, r.rows);
            let column: Vec<u32> = (0..r.rows).map(|i| r.at(i, col)).collect();
            let line: Vec<u32> = (0..r.cols).map(|j| r.at(row, j)).collect();
            let holds = (0..r.cols).map(|j| !part(j as u64, g.k, r.cols as u64).is_empty()).collect();
            GemmRole {
                red,
                out,
                input: (column, row as usize, hr as usize, layout.col_group[k as usize] + col),
                reduce: (line, col as usize, hc as usize, holds),
            }
        } else {
            // Reduction over rows, outputs over columns.
            let red = lay.rows(row, r.rows);
            let out = part(col as u64, g.n, r.cols as u64);
            let line: Vec<u32> = (0..r.cols).map(|j| r.at(row, j)).collect();
            let column: Vec<u32> = (0..r.rows).map(|i| r.at(i, col)).collect();
            let holds = (0..r.rows).map(|i| !lay.rows(i, r.rows).is_empty()).collect();
            GemmRole {
                red,
                out,
                input: (line, col as usize, hc as usize, layout.row_group[k as usize] + row),
                reduce: (column, row as usize, hr as usize, holds),
            }
        }
    }

    /// Resident bytes of the tile `local` for a pass of `stage`: its weight
    /// block of every GEMM and the KV of its attention blocks, for every
    /// layer of the stage (nothing when the tile's region runs another
    /// stage).
    pub(super) fn resident_bytes_tiled(&self, t: &Layout, ops: &PassOps, stage: u32, local: u32) -> u64 {
        let p = t.place[local as usize];
        if stage % self.plan.regions != p.region {
            return 0;
        }
        let r = &t.regions[p.region as usize];
        let block = |g: &GemmOp| {
            let role = self.gemm_role(r, p.region, p.row, p.col, g);
            self.wbytes((role.red.end - role.red.start) * (role.out.end - role.out.start))
        };
        let mut total = 0;
        for (layers, layer) in &ops.segments {
            let mut per_layer = 0;
            for op in layer {
                match op {
                    Op::Gemm(g) => per_layer += block(g),
                    Op::Attention(a) => {
                        let (groups, blocks, first) = t.attn_rows(p.row, r.rows, r.cols);
                        let pos = part(first + p.col as u64, a.positions, blocks);
                        let kv = self.model.kv_group_bytes(self.workload.kv, pos.end - pos.start);
                        per_layer += kv * a.users * (groups.end - groups.start);
                    }
                    _ => {}
                }
            }
            total += per_layer * layers;
        }
        for op in ops.pre.iter().chain(&ops.post) {
            if let Op::Gemm(g) = op {
                total += block(g);
            }
        }
        total
    }
}

impl<'c> Emitter<'c, '_> {
    fn place(&self) -> Place {
        self.c.grid().place[self.local as usize]
    }

    /// This tile's region, borrowed from the compiled layout rather than
    /// from the emitter (which the caller goes on to write to): a clone per
    /// operation and tile copied the region's tile list, quadratic in the
    /// tiles (70% of compiling a 256x256 grid).
    fn region(&self) -> &'c Region {
        let c: &'c Compiled<'_> = self.c;
        &c.grid().regions[self.place().region as usize]
    }

    /// Header group `g` (an index within one chip) on this tile's chip.
    fn chip_group(&self, g: u32) -> Group {
        Group(self.at.chip * self.c.grid().groups.len() as u32 + g)
    }

    fn here(&self, local: u32) -> TileId {
        self.tile(self.at.chip, local)
    }

    fn tag(id: u32, kind: u32) -> Tag {
        Tag(TAG_BASE + 16 * id + kind)
    }

    pub(super) fn op_tiled(&mut self, op: &Op, id: u32) {
        let p = self.place();
        let r = self.region();
        let on_home_row = p.row == r.home_row();
        let slice = part(p.col as u64, self.c.model.hidden, r.cols as u64);
        let tokens = self.tokens;
        match op {
            Op::Gemm(g) => self.gemm_tiled(g, id),
            Op::Attention(a) => self.attention_tiled(a, id),
            Op::AllReduce { .. } => {
                if on_home_row && !slice.is_empty() {
                    // A buffer-full at a time (prefill).
                    let n = tokens * (slice.end - slice.start);
                    let per = (self.c.sram.x_size / self.act(1).max(1)).max(1);
                    for piece in pieces(0..n, per) {
                        let m = piece.end - piece.start;
                        self.collective(self.act(m), id, self.local);
                        self.push(Instr::Vec { op: VecOp::Add, n: Count(m), dtype: self.c.act });
                    }
                }
            }
            Op::Combine { parts, .. } => {
                if on_home_row && !slice.is_empty() && *parts > 1 {
                    let n = tokens * (slice.end - slice.start) * (parts - 1);
                    self.push(Instr::Vec { op: VecOp::Add, n: Count(n), dtype: self.c.act });
                }
            }
            Op::Embed { bytes } => {
                if !on_home_row {
                    return;
                }
                // The sampled token ids reach the home row from the leader.
                let ids = Bytes(4 * tokens);
                let leader = r.at(r.home_row(), r.home_col());
                let sram = SramAddr(self.c.sram.x);
                if r.cols > 1 {
                    let tag = Self::tag(id, TAG_IDS);
                    if self.local == leader {
                        let group = self.chip_group(self.c.grid().row_group[p.region as usize] + p.row);
                        self.push(Instr::Mcast { tok: Token(TOK_SEND), group, tag, sram, bytes: ids });
                        self.push(Instr::Wait { tok: Token(TOK_SEND) });
                    } else {
                        let from = self.here(leader);
                        self.push(Instr::Recv { tok: Token(TOK_RECV), from, tag, sram, bytes: ids });
                        self.push(Instr::Wait { tok: Token(TOK_RECV) });
                    }
                }
                // Each home-row tile fetches its columns of the embedding rows.
                let mine = part(p.col as u64, *bytes, r.cols as u64);
                let n = (mine.end - mine.start).min(self.c.sram.x_size);
                if n > 0 {
                    let mem = match self.c.plan.home {
                        Home::Sram => Loc::Sram { tile: self.here(self.local), addr: 0 },
                        Home::Vault => Loc::Dram { tile: None, addr: 0 },
                        Home::Hbm => Loc::Hbm { addr: 0 },
                    };
                    self.push(Instr::Load { tok: Token(TOK_BUF[0]), mem, sram, bytes: Bytes(n) });
                    self.push(Instr::Wait { tok: Token(TOK_BUF[0]) });
                }
            }
            Op::StageSend { .. } | Op::StageRecv { .. } => {
                if on_home_row {
                    self.stage_transfer_tiled(matches!(op, Op::StageSend { .. }), r, p.col);
                }
            }
            Op::Argmax { rows } => self.argmax_tiled(r, *rows, id),
        }
    }

    /// This tile's part in GEMM `g`: receive its input slice (or multicast
    /// it, on the line's source), multiply its weight block, and reduce the
    /// partial sums along the other dimension; the landing tile applies the
    /// epilogue.
    fn gemm_tiled(&mut self, g: &GemmOp, id: u32) {
        let p = self.place();
        let r = self.region();
        let role = self.c.gemm_role(r, p.region, p.row, p.col, g);
        // Rows (tokens) a piece at a time when the input slices would not
        // fit the input buffer (long prefills): every piece streams the
        // weights again, so pieces are as large as the buffer allows.
        let split_rows = g.lay.widest_row(r.rows);
        let widest_in = if g.lay.from_hidden { g.k.div_ceil(r.cols as u64) } else { split_rows };
        let max_rows = (self.c.sram.x_size / self.act(widest_in).max(1)).max(1);
        for rows in pieces(0..g.m, max_rows) {
            self.gemm_tiled_rows(g, id, &role, rows.end - rows.start);
        }
    }

    /// `rows` rows of GEMM `g` on this tile (its `role`): the input slice,
    /// then the output block in column sub-blocks whose partial sums fit the
    /// output buffer (each reads its own weights, so nothing is read twice).
    fn gemm_tiled_rows(&mut self, g: &GemmOp, id: u32, role: &GemmRole, rows: u64) {
        let (kb, nb) = (role.red.end - role.red.start, role.out.end - role.out.start);
        let norm = if g.norm_input { 4 * rows } else { 0 };
        let act = self.c.act;

        // Input: multicast along the input line from its source.
        let (line, me, src, group) = &role.input;
        if kb > 0 && line.len() > 1 {
            let bytes = Bytes(self.act(rows * kb) + norm);
            let (tag, sram) = (Self::tag(id, TAG_INPUT), SramAddr(self.c.sram.x));
            if me == src {
                if g.norm_input {
                    self.push(Instr::Vec { op: VecOp::RmsNorm, n: Count(rows * kb), dtype: act });
                }
                let group = self.chip_group(*group);
                self.push(Instr::Mcast { tok: Token(TOK_SEND), group, tag, sram, bytes });
                self.push(Instr::Wait { tok: Token(TOK_SEND) });
            } else {
                let from = self.here(line[*src]);
                self.push(Instr::Recv { tok: Token(TOK_RECV), from, tag, sram, bytes });
                self.push(Instr::Wait { tok: Token(TOK_RECV) });
            }
        } else if kb > 0 && g.norm_input {
            self.push(Instr::Vec { op: VecOp::RmsNorm, n: Count(rows * kb), dtype: act });
        }
        if nb == 0 {
            return;
        }
        let max_cols = (self.c.sram.c_size / (self.act(rows) + 4).max(1)).max(1);
        for cols in pieces(0..nb, max_cols) {
            let sub = cols.end - cols.start;
            if kb > 0 {
                self.weight_block(g, role, rows, cols.start, sub);
            }
            // Partial sums along the reduction line into its landing tile.
            let (line, me, land, holds) = &role.reduce;
            let bytes = self.act(rows * sub) + norm;
            self.chain_reduce(line, *me, *land, holds, bytes, rows * sub, Self::tag(id, TAG_REDUCE));
            if me == land {
                let out = if g.halves { sub / 2 } else { sub };
                if g.norm_input {
                    self.push(Instr::Vec { op: VecOp::Mul, n: Count(rows * sub), dtype: act });
                }
                for &v in &g.epilogue {
                    self.push(Instr::Vec { op: v, n: Count(rows * sub), dtype: act });
                }
                if g.residual {
                    self.push(Instr::Vec { op: VecOp::Add, n: Count(rows * out), dtype: act });
                }
            }
        }
    }

    /// Multiplies `rows` rows of the input slice by `cols` columns of this
    /// tile's weight block from column `first`: resident, or streamed from
    /// the vault or HBM through the stream slots.
    fn weight_block(&mut self, g: &GemmOp, role: &GemmRole, rows: u64, first: u64, cols: u64) {
        let kb = role.red.end - role.red.start;
        let dtype = self.c.workload.weights;
        if self.c.plan.home == Home::Sram {
            self.push(Instr::Gemm { m: Count(rows), n: Count(cols), k: Count(kb), dtype });
            return;
        }
        let nb = role.out.end - role.out.start;
        let per_row = self.c.wbytes(cols).max(1);
        let chunk = (self.c.sram.stream_size / per_row).clamp(1, kb);
        let chunks = kb.div_ceil(chunk);
        let base = match self.c.plan.home {
            Home::Hbm => g.w_offset + self.c.wbytes(role.out.start * g.k + role.red.start * nb + first * kb),
            _ => g.w_offset / self.c.tiles as u64 + self.c.wbytes(first * kb),
        };
        let issue = |e: &mut Self, j: u64| {
            let kr = part(j, kb, chunks);
            let slot = (j % SLOTS as u64) as usize;
            let addr = base + e.c.wbytes(kr.start * cols);
            let mem = match e.c.plan.home {
                Home::Hbm => Loc::Hbm { addr },
                _ => Loc::Dram { tile: None, addr },
            };
            e.push(Instr::Load {
                tok: Token(TOK_BUF[slot]),
                mem,
                sram: SramAddr(e.c.sram.stream[slot]),
                bytes: Bytes(e.c.wbytes((kr.end - kr.start) * cols)),
            });
        };
        self.pipelined(chunks, issue, |e, j| {
            let kr = part(j, kb, chunks);
            e.push(Instr::Gemm { m: Count(rows), n: Count(cols), k: Count(kr.end - kr.start), dtype });
        });
    }

    /// Sums partial vectors of `bytes` (`elems` elements) held by the tiles
    /// of `line` marked in `holds` into `line[land]`: two chains, from each
    /// end toward the landing tile, each tile adding what it receives to its
    /// own partial before passing it on, in pieces of at most `CHAIN_PIECE`
    /// so the chain pipelines. This tile is `line[me]`.
    #[allow(clippy::too_many_arguments)]
    fn chain_reduce(&mut self, line: &[u32], me: usize, land: usize, holds: &[bool], bytes: u64, elems: u64, tag: Tag) {
        if !holds[me] && me != land {
            return;
        }
        let members: Vec<usize> = (0..line.len()).filter(|&k| holds[k] || k == land).collect();
        let at = members.iter().position(|&k| k == me).expect("a member");
        let home = members.iter().position(|&k| k == land).expect("the landing tile is a member");
        // Upstream neighbours (farther from the landing tile) and the next one.
        let mut from = Vec::new();
        if at <= home && at > 0 {
            from.push(members[at - 1]);
        }
        if at >= home && at + 1 < members.len() {
            from.push(members[at + 1]);
        }
        let to = match at.cmp(&home) {
            std::cmp::Ordering::Less => Some(members[at + 1]),
            std::cmp::Ordering::Greater => Some(members[at - 1]),
            std::cmp::Ordering::Equal => None,
        };
        if from.is_empty() && to.is_none() {
            return;
        }
        let pieces = bytes.div_ceil(CHAIN_PIECE).max(1);
        for k in 0..pieces {
            let b = part(k, bytes, pieces);
            let e = part(k, elems, pieces);
            let n = b.end - b.start;
            for &f in &from {
                let from = self.here(line[f]);
                let sram = SramAddr(self.c.sram.x + b.start);
                self.push(Instr::Recv { tok: Token(TOK_RECV), from, tag, sram, bytes: Bytes(n) });
            }
            if !from.is_empty() {
                self.push(Instr::Wait { tok: Token(TOK_RECV) });
                let add = (e.end - e.start) * from.len() as u64;
                self.push(Instr::Vec { op: VecOp::Add, n: Count(add), dtype: self.c.act });
            }
            if let Some(t) = to {
                let to = self.here(line[t]);
                let sram = SramAddr(self.c.sram.c + b.start);
                self.push(Instr::Send { tok: Token(TOK_SEND), to, tag, sram, bytes: Bytes(n) });
            }
        }
        if to.is_some() {
            self.push(Instr::Wait { tok: Token(TOK_SEND) });
        }
    }

    /// Attention: the queries of this row's KV groups reach every tile of
    /// the row (or band) from the home column, each tile attends its block
    /// of positions, and the partial results are reduced along the row into
    /// the home column (then shared out over a band's rows).
    fn attention_tiled(&mut self, a: &AttnOp, id: u32) {
        // Query tokens a block at a time, so the queries and the partial
        // outputs fit the buffers (prefill); each block reads the KV again
        // (FlashAttention's outer loop).
        let r = self.region();
        let kv_groups = self.c.grid().kv_groups;
        let hd = self.c.model.head_dim;
        let qkv = Lay { from_hidden: true, groups: kv_groups, per: (a.heads_per_group + 2) * hd };
        let held = qkv.widest_row(r.rows);
        let width = kv_groups.div_ceil(r.rows as u64) * a.heads_per_group * hd;
        let per_token = self.act(a.users * held.max(width)).max(1);
        let fit = (self.c.sram.x_size.min(self.c.sram.c_size) / per_token).max(1);
        for q in pieces(0..a.q_tokens, fit) {
            self.attention_tiled_block(&AttnOp { q_tokens: q.end - q.start, ..a.clone() }, id);
        }
    }

    fn attention_tiled_block(&mut self, a: &AttnOp, id: u32) {
        let p = self.place();
        let r = self.region();
        let layout = self.c.grid();
        let (groups, blocks, first) = layout.attn_rows(p.row, r.rows, r.cols);
        let hd = self.c.model.head_dim;
        let tokens = a.users * a.q_tokens;
        let per_q = (a.heads_per_group + 2) * hd;
        let hc = r.home_col();
        let qkv = Lay { from_hidden: true, groups: layout.kv_groups, per: per_q };
        let out = Lay { from_hidden: false, groups: layout.kv_groups, per: a.heads_per_group * hd };
        let band_rows: Range<u64> = match layout.band_group[p.region as usize] {
            Some(_) => band(groups.start, layout.kv_groups, r.rows as u64),
            None => p.row as u64..p.row as u64 + 1,
        };
        let group = match layout.band_group[p.region as usize] {
            Some(b) => b + groups.start as u32,
            None => layout.row_group[p.region as usize] + p.row,
        };
        let members = (band_rows.end - band_rows.start) * r.cols as u64;

        // Queries (with the new K and V) from each home-column tile of the band.
        if members > 1 {
            let tag = Self::tag(id, TAG_QUERY);
            let sram = SramAddr(self.c.sram.x);
            for i in band_rows.clone() {
                let held = qkv.rows(i as u32, r.rows);
                let bytes = Bytes(self.act(tokens * (held.end - held.start)));
                if bytes.0 == 0 {
                    continue;
                }
                let src = r.at(i as u32, hc);
                if src == self.local {
                    let g = self.chip_group(group);
                    self.push(Instr::Mcast { tok: Token(TOK_SEND), group: g, tag, sram, bytes });
                } else {
                    let from = self.here(src);
                    self.push(Instr::Recv { tok: Token(TOK_RECV), from, tag, sram, bytes });
                }
            }
            self.push(Instr::Wait { tok: Token(TOK_RECV) });
            self.push(Instr::Wait { tok: Token(TOK_SEND) });
        }

        // This tile's block of positions of every (user, group) of the row.
        let block = part(first + p.col as u64, a.positions, blocks);
        let mut items = Vec::new();
        if !block.is_empty() {
            for g in groups.clone() {
                for u in 0..a.users {
                    items.push((u, g, block.clone()));
                }
            }
        }
        self.attend_items(a, &items, |_, _, _, _| {});

        // Partial results along the row into the home column.
        let width = (groups.end - groups.start) * a.heads_per_group * hd;
        let holds: Vec<bool> = (0..r.cols).map(|j| !part(first + j as u64, a.positions, blocks).is_empty()).collect();
        let line: Vec<u32> = (0..r.cols).map(|j| r.at(p.row, j)).collect();
        let bytes = self.act(tokens * width);
        self.chain_reduce(&line, p.col as usize, hc as usize, &holds, bytes, tokens * width, Self::tag(id, TAG_ATTN));

        // A band's rows each keep their share of the group's output.
        if band_rows.end - band_rows.start > 1 && p.col == hc {
            let tag = Self::tag(id, TAG_SCATTER);
            for i in band_rows.clone().filter(|&i| i != p.row as u64) {
                let share = out.rows(i as u32, r.rows);
                let n = self.act(tokens * (share.end - share.start));
                if n > 0 {
                    let to = self.here(r.at(i as u32, hc));
                    let sram = SramAddr(self.c.sram.c);
                    self.push(Instr::Send { tok: Token(TOK_SEND), to, tag, sram, bytes: Bytes(n) });
                }
            }
            let mine = out.rows(p.row, r.rows);
            let n = tokens * (mine.end - mine.start);
            if n > 0 {
                for i in band_rows.filter(|&i| i != p.row as u64) {
                    let from = self.here(r.at(i as u32, hc));
                    let sram = SramAddr(self.c.sram.x);
                    self.push(Instr::Recv { tok: Token(TOK_RECV), from, tag, sram, bytes: Bytes(self.act(n)) });
                }
                self.push(Instr::Wait { tok: Token(TOK_RECV) });
                let adds = n * (members / r.cols as u64 - 1);
                self.push(Instr::Vec { op: VecOp::Add, n: Count(adds), dtype: self.c.act });
            }
            self.push(Instr::Wait { tok: Token(TOK_SEND) });
        }
    }

    /// The LM head's winners (value and index per row of logits) along the
    /// home column into the leader, then across the tensor-parallel chips.
    fn argmax_tiled(&mut self, r: &Region, rows: u64, id: u32) {
        let p = self.place();
        let hc = r.home_col();
        if p.col != hc {
            return;
        }
        let column: Vec<u32> = (0..r.rows).map(|i| r.at(i, hc)).collect();
        let holds = vec![true; r.rows as usize];
        self.chain_reduce(
            &column,
            p.row as usize,
            r.home_row() as usize,
            &holds,
            8 * rows,
            2 * rows,
            Self::tag(id, TAG_WINNERS),
        );
        if p.row == r.home_row() && self.c.plan.tp > 1 {
            self.collective(8 * rows, id, self.local);
        }
    }

    /// The hidden state to the next stage's home row (or from the previous
    /// one), slice by slice: each slice goes to the tiles whose slices it
    /// overlaps (regions of different widths slice it differently).
    fn stage_transfer_tiled(&mut self, send: bool, r: &Region, col: u32) {
        let regions = self.c.plan.regions;
        let peer_stage = if send { self.gstage + 1 } else { self.gstage - 1 };
        let chip = self.c.plan.chip(self.at.replica, peer_stage / regions, self.at.rank);
        let peer = &self.c.grid().regions[(peer_stage % regions) as usize];
        let hidden = self.c.model.hidden;
        let mine = part(col as u64, hidden, r.cols as u64);
        let mut any = false;
        for j in 0..peer.cols {
            let theirs = part(j as u64, hidden, peer.cols as u64);
            let overlap = mine.start.max(theirs.start)..mine.end.min(theirs.end);
            if overlap.is_empty() {
                continue;
            }
            let total = self.act(self.tokens * (overlap.end - overlap.start));
            let other = TileId(chip * self.c.tiles + peer.at(peer.home_row(), j));
            let sram = SramAddr(self.c.sram.x);
            // A buffer-full at a time (prefill).
            for piece in pieces(0..total, self.c.sram.x_size) {
                let bytes = Bytes(piece.end - piece.start);
                if send {
                    self.push(Instr::Send { tok: Token(TOK_SEND), to: other, tag: TAG_STAGE, sram, bytes });
                } else {
                    self.push(Instr::Recv { tok: Token(TOK_RECV), from: other, tag: TAG_STAGE, sram, bytes });
                }
                any = true;
            }
        }
        if any {
            self.push(Instr::Wait { tok: Token(if send { TOK_SEND } else { TOK_RECV }) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed forms against the searches they replace.
    #[test]
    fn bands_and_widest_rows_in_closed_form() {
        for rows in 1..=40u64 {
            for groups in 1..rows {
                for i in 0..rows {
                    let searched = (0..groups).find(|&g| band(g, groups, rows).contains(&i)).unwrap();
                    assert_eq!(band_of(i, groups, rows), searched, "row {i}, {groups} groups, {rows} rows");
                }
            }
            for groups in 1..=50u64 {
                for per in [1, 2, 3, 7, 64, 128, 1000] {
                    let lay = Lay { from_hidden: true, groups, per };
                    let widest = (0..rows as u32).map(|i| lay.rows(i, rows as u32)).map(|x| x.end - x.start).max();
                    assert_eq!(lay.widest_row(rows as u32), widest.unwrap(), "{groups} x {per} over {rows} rows");
                }
            }
        }
    }
}
