//! The layer as operations with every decision made: GEMM partitions,
//! attention splits, collectives — planned once per (stage, micro-batch
//! size, expert group) and shared by every strategy.

use super::*;

/// Where a GEMM's output goes and what happens to it on the way.
#[derive(Clone, Debug)]
pub(super) struct GemmOp {
    pub(super) m: u64,
    pub(super) n: u64,
    pub(super) k: u64,
    pub(super) p: Partition,
    /// Reduction rows per streamed chunk (Memory strategy and vaults).
    pub(super) chunk: u64,
    /// Rows and columns of a tile's block computed at a time (Memory
    /// strategy): the whole block unless its output would overflow the C
    /// buffer (prefill), then the sub-blocks that re-read the least.
    pub(super) row_block: u64,
    pub(super) col_block: u64,
    /// Vector ops on the tile's output block, per output element.
    pub(super) epilogue: Vec<VecOp>,
    /// RMSNorm of the input rows before the multiply.
    pub(super) norm_input: bool,
    /// Output columns kept per computed column (1/2 after silu_mul).
    pub(super) halves: bool,
    /// Memory strategy: add the residual (load and add) before storing.
    pub(super) residual: bool,
    /// Vector ops at the root after the gather (Root strategy), elements.
    pub(super) root_epilogue: Vec<(VecOp, u64)>,
    /// Offsets in the HBM activation region of input and output.
    pub(super) a_region: u64,
    pub(super) out_region: u64,
    /// Offset of this GEMM's weights in the weight store.
    pub(super) w_offset: u64,
    /// How the tiled strategy lays the matrix over a region.
    pub(super) lay: Lay,
}

/// How the tiled strategy lays a matrix over a region's rows x columns
/// (arch/compiler.md, "Tiled").
#[derive(Clone, Copy, Debug)]
pub(super) struct Lay {
    /// The input is the hidden state, which lives on the home row: the
    /// reduction splits over columns (inputs multicast down them), the
    /// outputs over rows (partial sums reduced along rows to the home
    /// column). Otherwise the input lives on the home column: reduction over
    /// rows, outputs over columns, landing on the home row.
    pub(super) from_hidden: bool,
    /// The dimension split over rows (outputs, or the reduction) is
    /// `groups` groups of `per` elements: rows take whole groups, or share
    /// one when there are fewer groups than rows (KV heads, gate/up pairs).
    pub(super) groups: u64,
    pub(super) per: u64,
}

#[derive(Clone, Debug)]
pub(super) struct AttnOp {
    pub(super) users: u64,
    pub(super) q_tokens: u64,
    pub(super) heads_per_group: u64,
    pub(super) groups: u64,
    /// Blocks each (user, group) pair's positions split into.
    pub(super) blocks: u64,
    pub(super) positions: u64,
    pub(super) read_positions: u64,
    /// Elements per head of a query token's input (head_dim, or for MLA
    /// the absorbed query: kv_lora_rank + qk_rope_head_dim) and output
    /// (head_dim, or the latent: kv_lora_rank).
    pub(super) q_width: u64,
    pub(super) out_width: u64,
    /// MLA: one `mla` instruction over (latent, rope) per item instead of `attn`.
    pub(super) latent: Option<(u64, u64)>,
}

#[derive(Clone, Debug)]
pub(super) enum Op {
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
pub(super) struct PassOps {
    pub(super) pre: Vec<Op>,
    /// Runs of identical layers, in order: (layers, the operations of one).
    /// One run, except in a stage holding an MoE model's dense layers and
    /// some of its expert layers.
    pub(super) segments: Vec<(u64, Vec<Op>)>,
    pub(super) post: Vec<Op>,
}

impl Compiled<'_> {
    pub(super) fn gemm_costs(&self) -> gemm::Costs {
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
            self.act.bits().div_ceil(8),
            self.workload.weights.bits().div_ceil(8),
        )
    }

    pub(super) fn gemm(&self, m: u64, n: u64, k: u64) -> GemmOp {
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
            lay: Lay { from_hidden: true, groups: n, per: 1 },
        }
    }

    /// Sub-blocks (rows, columns) of a tile's GEMM block whose output fits
    /// the C buffer. Each row sub-block streams the block's W again and each
    /// column sub-block its A, so of the shapes that fit, the one moving the
    /// fewest bytes: column blocks when A is small (short prompts), row
    /// blocks when W is (long prompts, narrow shards).
    pub(super) fn sub_blocks(&self, b: gemm::Blocks) -> (u64, u64) {
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

    pub(super) fn pass_ops(&self, stage: u32, users: u64, group: u32) -> PassOps {
        let (m, w) = (self.model, self.workload);
        let tp = self.plan.tp as u64;
        let tokens = users * w.tokens_per_user();
        let hidden_bytes = self.abytes(tokens * m.hidden);
        let first = stage == 0;
        let last = stage + 1 == self.plan.total_stages();
        let (q_l, kv_l) = (m.q_dim() / tp, m.kv_dim() / tp);
        let mut region = 0u64;
        let mut next_region = |bytes: u64| {
            region += bytes.next_multiple_of(4096);
            region - bytes.next_multiple_of(4096)
        };
        let x_region = next_region(hidden_bytes);
        // Widths of the attention block's activations (MLA: its latents,
        // absorbed queries and outputs; the plan keeps tp = 1).
        let (qkv_w, att_w) = match m.mla {
            None => (q_l + 2 * kv_l, q_l),
            Some(a) => {
                let lat = a.kv_lora_rank;
                let w = [
                    a.q_lora_rank.unwrap_or(m.q_dim()) + lat + a.qk_rope_head_dim,
                    m.q_dim(),
                    m.heads * (lat + a.qk_rope_head_dim),
                    m.heads * a.v_head_dim,
                ]
                .into_iter()
                .max()
                .unwrap_or(0);
                (w, w)
            }
        };
        let qkv_region = next_region(self.abytes(tokens * qkv_w));
        let att_region = next_region(self.abytes(tokens * att_w));
        let h_region = next_region(hidden_bytes);
        let part_region = next_region(hidden_bytes);
        let mut w_offset = 0u64;
        let mut weights = |bytes: u64| {
            w_offset += bytes;
            w_offset - bytes
        };

        // Attention block.
        let mut attn = Vec::new();
        match m.mla {
            None => {
                let mut qkv = self.gemm(tokens, q_l + 2 * kv_l, m.hidden);
                qkv.norm_input = true;
                qkv.epilogue.push(VecOp::Rope);
                qkv.root_epilogue = vec![(VecOp::RmsNorm, tokens * m.hidden), (VecOp::Rope, tokens * (q_l + kv_l))];
                qkv.a_region = x_region;
                qkv.out_region = qkv_region;
                qkv.w_offset = weights(self.wbytes(m.hidden * (q_l + 2 * kv_l)));
                // Tiled: each row holds whole KV groups' Q, K and V (or a share of one).
                let kv_groups = m.kv_heads / tp;
                let hpg = m.heads / m.kv_heads;
                qkv.lay = Lay { from_hidden: true, groups: kv_groups, per: (hpg + 2) * m.head_dim };
                attn.push(Op::Gemm(qkv));
                attn.push(Op::Attention(self.attention(users)));
                let mut o = self.gemm(tokens, m.hidden, q_l);
                o.a_region = att_region;
                o.out_region = if tp > 1 { part_region } else { h_region };
                o.residual = tp == 1;
                o.w_offset = weights(self.wbytes(q_l * m.hidden));
                o.lay = Lay { from_hidden: false, groups: kv_groups, per: hpg * m.head_dim };
                if tp == 1 {
                    o.root_epilogue = vec![(VecOp::Add, tokens * m.hidden)];
                }
                attn.push(Op::Gemm(o));
            }
            Some(a) => {
                // Multi-head latent attention, weight-absorbed (arch/compiler.md,
                // "Multi-head latent attention"); the plan keeps tp = 1.
                let (lat, rope, nope, v) = (a.kv_lora_rank, a.qk_rope_head_dim, a.qk_nope_head_dim, a.v_head_dim);
                let heads = m.heads;
                let mut gemm = |this: &Self, n: u64, k: u64, a_region: u64, out_region: u64| {
                    let mut g = this.gemm(tokens, n, k);
                    g.a_region = a_region;
                    g.out_region = out_region;
                    g.w_offset = weights(this.wbytes(k * n));
                    g
                };
                // Down-projections from the normed hidden state in one GEMM:
                // the query latent (or the whole query without q_lora_rank),
                // the KV latent and the RoPE key (the new cache entry).
                let q_first = a.q_lora_rank.unwrap_or(m.q_dim());
                let mut down = gemm(self, q_first + lat + rope, m.hidden, x_region, qkv_region);
                down.norm_input = true;
                if a.q_lora_rank.is_some() {
                    // The latents' RMSNorms.
                    down.epilogue.push(VecOp::RmsNorm);
                }
                down.epilogue.push(VecOp::Rope);
                attn.push(Op::Gemm(down));
                if let Some(r) = a.q_lora_rank {
                    let mut up = gemm(self, m.q_dim(), r, qkv_region, att_region);
                    up.epilogue.push(VecOp::Rope);
                    attn.push(Op::Gemm(up));
                }
                // W_UK absorbed into the query: each head's no-RoPE query
                // times its nope x latent block (a batched GEMM over heads).
                attn.push(Op::Gemm(gemm(self, heads * lat, nope, att_region, qkv_region)));
                attn.push(Op::Attention(self.attention(users)));
                // W_UV absorbed into the output: each head's latent output
                // times its latent x v block.
                attn.push(Op::Gemm(gemm(self, heads * v, lat, att_region, qkv_region)));
                let mut o = gemm(self, m.hidden, heads * v, qkv_region, h_region);
                o.residual = true;
                o.root_epilogue = vec![(VecOp::Add, tokens * m.hidden)];
                attn.push(Op::Gemm(o));
            }
        }
        if tp > 1 {
            attn.push(Op::AllReduce { bytes: hidden_bytes });
        }

        // FFN block: one dense FFN of `inner` columns over the tp chips, or
        // routed experts (with their shared experts, a dense FFN every token
        // takes, split over the tp chips like a dense layer).
        let ffn_chips = if m.experts > 1 { tp / self.plan.ep as u64 } else { tp };
        let ffn_l = m.ffn / ffn_chips;
        let widest = ffn_l.max(m.shared_experts * m.shared_ffn / tp).max(m.dense_ffn / tp);
        let f_region = next_region(self.abytes(tokens * widest));
        let ffn = |this: &Self, rows: u64, inner: u64, w: &mut dyn FnMut(u64) -> u64| -> Vec<Op> {
            let mut gu = this.gemm(rows, 2 * inner, m.hidden);
            gu.norm_input = true;
            gu.epilogue.push(VecOp::SiluMul);
            gu.halves = true;
            gu.root_epilogue = vec![(VecOp::RmsNorm, rows * m.hidden)];
            gu.a_region = h_region;
            gu.out_region = f_region;
            gu.w_offset = w(this.wbytes(m.hidden * 2 * inner));
            // Tiled: gate and up columns in pairs, so a row applies SiLU-mul
            // to its own outputs and hands the down projection its rows.
            gu.lay = Lay { from_hidden: true, groups: inner, per: 2 };
            let mut down = this.gemm(rows, m.hidden, inner);
            down.a_region = f_region;
            down.out_region = if tp > 1 { part_region } else { x_region };
            down.w_offset = w(this.wbytes(inner * m.hidden));
            down.lay = Lay { from_hidden: false, groups: inner, per: 1 };
            vec![Op::Gemm(gu), Op::Gemm(down)]
        };
        let dense = |inner: u64, w: &mut dyn FnMut(u64) -> u64| {
            let mut ops = ffn(self, tokens, inner, w);
            if let (true, Some(Op::Gemm(d))) = (tp == 1, ops.last_mut()) {
                d.residual = true;
                d.root_epilogue = vec![(VecOp::Add, tokens * m.hidden)];
            }
            ops
        };
        let mut dense_layer = attn.clone();
        let mut moe_layer = attn;
        if m.experts == 1 {
            dense_layer.extend(dense(ffn_l, &mut weights));
        } else {
            if m.dense_layers > 0 {
                dense_layer.extend(dense(m.dense_ffn / tp, &mut weights));
            }
            let mut router = self.gemm(tokens, m.experts, m.hidden);
            router.norm_input = true;
            router.epilogue.push(VecOp::TopK);
            router.a_region = h_region;
            router.out_region = part_region;
            router.w_offset = weights(self.wbytes(m.hidden * m.experts));
            moe_layer.push(Op::Gemm(router));
            // Shared experts: every token, as one FFN of their inner sizes together.
            let mut active = 0;
            if m.shared_experts > 0 {
                active += 1;
                moe_layer.extend(ffn(self, tokens, m.shared_experts * m.shared_ffn / tp, &mut weights));
            }
            // Tokens per expert of this chip's expert group.
            let counts = expert_tokens(m, tokens, self.plan.ep as u64, group as u64);
            for c in counts.into_iter().filter(|&c| c > 0) {
                active += 1;
                moe_layer.extend(ffn(self, c, ffn_l, &mut weights));
            }
            moe_layer.push(Op::Combine { bytes: hidden_bytes, parts: active });
        }
        for ops in [&mut dense_layer, &mut moe_layer] {
            if tp > 1 {
                ops.push(Op::AllReduce { bytes: hidden_bytes });
            }
        }
        let range = self.plan.stages[stage as usize].clone();
        let dense_n = if m.experts == 1 { range.end - range.start } else { m.dense_in(range.clone()) };
        let moe_n = range.end - range.start - dense_n;
        let segments: Vec<(u64, Vec<Op>)> =
            [(dense_n, dense_layer), (moe_n, moe_layer)].into_iter().filter(|(n, _)| *n > 0).collect();

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
        PassOps { pre, segments, post }
    }

    pub(super) fn attention(&self, users: u64) -> AttnOp {
        let (m, w) = (self.model, self.workload);
        let tp = self.plan.tp as u64;
        let groups = m.kv_groups() / tp;
        let pairs = users * groups;
        let positions = w.attn_positions();
        let blocks =
            if pairs >= self.tiles as u64 { 1 } else { (self.tiles as u64 / pairs).clamp(1, positions.max(1)) };
        AttnOp {
            users,
            q_tokens: w.tokens_per_user(),
            heads_per_group: m.heads_per_group(),
            groups,
            blocks,
            positions,
            read_positions: w.kv_read_positions(),
            q_width: m.mla.map_or(m.head_dim, |a| a.kv_lora_rank + a.qk_rope_head_dim),
            out_width: m.mla.map_or(m.head_dim, |a| a.kv_lora_rank),
            latent: m.mla.map(|a| (a.kv_lora_rank, a.qk_rope_head_dim)),
        }
    }
}

/// Tokens each of expert group `group`'s experts receives, in expert order.
pub(super) fn expert_tokens(m: &Model, tokens: u64, ep: u64, group: u64) -> Vec<u64> {
    let mut counts = vec![0u64; m.experts as usize];
    for t in 0..tokens {
        for e in experts_of(m, t) {
            counts[e as usize] += 1;
        }
    }
    counts.into_iter().enumerate().filter(|(e, _)| *e as u64 % ep == group).map(|(_, c)| c).collect()
}
