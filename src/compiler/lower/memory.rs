//! The memory strategy (HBM chips): activations in HBM, operations separated by barriers.

use super::*;

impl Emitter<'_, '_> {
    // ----- Memory strategy (HBM chips) ------------------------------------

    pub(super) fn op_memory(&mut self, op: &Op, id: u32) {
        match op {
            Op::Gemm(g) => self.gemm_memory(g, id),
            Op::Attention(a) => {
                // Query blocks whose queries and outputs fit the X and C
                // buffers, one after another, each streaming the KV again
                // (FlashAttention's outer loop; prefill: many query tokens).
                let per_token = self.act(a.heads_per_group * a.q_width.max(a.out_width)).max(1);
                let fit = (self.c.sram.x_size.min(self.c.sram.c_size) / per_token).max(1);
                let blocks = a.q_tokens.div_ceil(fit);
                for i in 0..blocks {
                    let q = part(i, a.q_tokens, blocks);
                    self.attention_memory(&AttnOp { q_tokens: q.end - q.start, ..a.clone() }, id);
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
            Op::Argmax { rows } => {
                // Each tile's winners (value and index) go to the leader.
                self.barrier();
                if self.c.plan.tp > 1 && self.local == 0 {
                    self.collective(8 * rows, id, 0);
                }
                self.barrier();
            }
        }
    }

    /// A software pipeline over `chunks` chunks: `issue(j)` loads chunk j into
    /// stream slot j % SLOTS (token TOK_BUF[slot]) SLOTS-1 chunks ahead of
    /// `compute(j)`, which runs once its slot's loads are in.
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
        // Addresses follow a blocked layout, so every chunk is the address
        // range of its own data: A by blocks of rows, each stored along the
        // reduction (element (r, k) of the block at start * K + k * mb + r);
        // W by blocks of columns, each stored along the reduction.
        if a_once {
            let a_at = act_base + g.a_region + self.act(rows.start * g.k + red.start * mb);
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
                let a_at = act_base + g.a_region + e.act(rows.start * g.k + (red.start + kr.start) * mb);
                e.push(Instr::Load { tok, mem: Self::hbm(a_at), sram: SramAddr(buf), bytes: Bytes(e.act(mb * kc)) });
                wbuf += e.act(mb * kc);
            }
            let w_at = g.w_offset + e.c.wbytes(cols.start * g.k + (red.start + kr.start) * nb);
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

    /// Attention with queries and outputs in HBM: each item loads its
    /// pair's queries, the leaders store the pair's output.
    fn attention_memory(&mut self, a: &AttnOp, id: u32) {
        let q_elems = a.q_tokens * a.heads_per_group * a.q_width;
        let q_bytes = self.act(q_elems);
        let out_elems = a.q_tokens * a.heads_per_group * a.out_width;
        let out_bytes = self.act(out_elems);
        let (items, leaders) = self.attend(a, id, |e, user, group, tok| {
            let qa = e.act_base() + e.act((user * a.groups + group) * q_elems);
            e.push(Instr::Load { tok, mem: Self::hbm(qa), sram: SramAddr(e.c.sram.x), bytes: Bytes(q_bytes) });
        });
        for (user, group, _) in items.iter().take(leaders) {
            let oa = self.act_base() + self.act((user * a.groups + group) * out_elems);
            self.push(Instr::Store {
                tok: Token(TOK_STORE),
                mem: Self::hbm(oa),
                sram: SramAddr(self.c.sram.c),
                bytes: Bytes(out_bytes),
            });
        }
        if leaders > 0 {
            self.push(Instr::Wait { tok: Token(TOK_STORE) });
        }
        self.barrier();
    }
}
