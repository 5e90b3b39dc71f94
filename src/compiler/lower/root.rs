//! The root strategy: activations at a root tile, broadcast down and reduced up trees.

use super::*;

impl Emitter<'_, '_> {
    // ----- Root strategy (SRAM-only and 3D-DRAM chips) --------------------

    pub(super) fn op_root(&mut self, op: &Op, id: u32) {
        match op {
            Op::Gemm(g) => self.gemm_root(g, id),
            Op::Attention(a) => self.attention_root(a, id),
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
            Op::Argmax { rows } => {
                if self.pos == 0 && self.c.plan.tp > 1 {
                    self.collective(8 * rows, id, self.c.root);
                }
            }
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

    /// Attention with queries broadcast from the root and each pair's
    /// output sent back to it.
    fn attention_root(&mut self, a: &AttnOp, id: u32) {
        let hd = self.c.model.head_dim;
        let q_bytes = self.act(a.q_tokens * a.heads_per_group * hd);
        // Queries for every local head reach every tile down the tree.
        let all_q = self.act(a.users * a.q_tokens * a.heads_per_group * a.groups * hd);
        self.broadcast_tree(self.pos, self.c.tiles, 0, all_q.min(self.c.sram.x_size), id);
        let (_, leaders) = self.attend(a, id, |_, _, _, _| {});
        if self.pos != 0 {
            let root = self.local_at_pos(0);
            for _ in 0..leaders {
                self.push(Instr::Send {
                    tok: Token(TOK_SEND),
                    to: root,
                    tag: Tag(id * 4 + 3),
                    sram: SramAddr(self.c.sram.c),
                    bytes: Bytes(q_bytes),
                });
            }
            if leaders > 0 {
                self.push(Instr::Wait { tok: Token(TOK_SEND) });
            }
            return;
        }
        // The root gathers every pair's output from the block leaders.
        let mut any = false;
        for p in 1..self.c.tiles {
            let leads = self.c.attn_leads(a, p, self.c.attn_items(a, p).len());
            for _ in 0..leads {
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
}
