//! Closed-form totals of one pass of a model over a workload: weight bytes,
//! KV bytes and multiply-accumulates, straight from the model shape. The
//! roofline command prints them; tests check every compiled trace adds up
//! to them.

use super::workload::Workload;
use crate::model::Model;
use std::ops::Range;

/// Work of a pass, summed over every chip.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Totals {
    /// Weight bytes the matrix units read: attention projections, the active
    /// experts (each once), the router and the LM head. Norm weights and the
    /// embedding rows looked up are not matrix operands (and are < 0.01%).
    pub weight_bytes: f64,
    /// KV bytes attention reads (positions attended x K and V x layers).
    pub kv_bytes: f64,
    /// KV bytes read from the cache in memory (positions kept by sparsity).
    pub kv_read_bytes: f64,
    /// KV bytes written for the new tokens.
    pub kv_write_bytes: f64,
    /// Multiply-accumulates of matrices and attention.
    pub macs: f64,
    /// Of those, attention (scores and context).
    pub attn_macs: f64,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.weight_bytes += o.weight_bytes;
        self.kv_bytes += o.kv_bytes;
        self.kv_read_bytes += o.kv_read_bytes;
        self.kv_write_bytes += o.kv_write_bytes;
        self.macs += o.macs;
        self.attn_macs += o.attn_macs;
    }
}

impl Totals {
    pub fn scaled(self, f: f64) -> Totals {
        Totals {
            weight_bytes: self.weight_bytes * f,
            kv_bytes: self.kv_bytes * f,
            kv_read_bytes: self.kv_read_bytes * f,
            kv_write_bytes: self.kv_write_bytes * f,
            macs: self.macs * f,
            attn_macs: self.attn_macs * f,
        }
    }
    pub fn flops(&self) -> f64 {
        2.0 * self.macs
    }
}

/// Experts a pass of `tokens` touches per layer. Routing is deterministic:
/// token t goes to experts (t*top_k + j) mod experts, j < top_k, so the
/// touched set is min(experts, tokens*top_k) and every token reaches top_k
/// distinct experts.
pub fn active_experts(m: &Model, tokens: u64) -> u64 {
    if m.experts == 1 { 1 } else { m.experts.min(tokens * m.top_k) }
}

/// Experts token `t` is routed to.
pub fn experts_of(m: &Model, t: u64) -> impl Iterator<Item = u64> + '_ {
    (0..m.top_k.min(m.experts)).map(move |j| (t * m.top_k + j) % m.experts)
}

/// One pass of `users` users through layers `layers`, with the LM head
/// when `last` (the embedding lookup is not a matrix operand). A layer with
/// experts reads the routed experts the pass touches, each once, and its
/// shared experts; a dense layer (of a dense model, or before an MoE
/// model's expert layers) its one FFN. MLA attention is counted in the
/// weight-absorbed form the compiler lowers (arch/compiler.md, "Multi-head
/// latent attention"): the weights are the published projections, each
/// read once and multiplied once per token.
pub fn pass(m: &Model, w: &Workload, users: u64, layers: Range<u64>, last: bool) -> Totals {
    let wsize = w.weights.bits() as f64 / 8.0;
    let tokens = users * w.tokens_per_user();
    let (t, u) = (tokens as f64, users as f64);
    let count = (layers.end - layers.start) as f64;
    let dense = m.dense_in(layers.clone()) as f64;
    let moe = count - dense;
    // Per dense and per expert layer: weights read, MACs of the matrices.
    let (dense_w, moe_w) = if m.experts > 1 {
        let experts = active_experts(m, tokens) as f64;
        let moe_layer = m.attn_params() as f64
            + experts * m.expert_params() as f64
            + (m.shared_params() + m.router_params()) as f64;
        ((m.attn_params() + m.dense_ffn_params()) as f64, moe_layer)
    } else {
        let layer = (m.attn_params() + m.expert_params()) as f64;
        (layer, layer)
    };
    // MACs of the matrices: every active parameter once per token (layer 0
    // stands for the dense layers, layer `dense_layers` for the others).
    let matrix_macs = |l: u64| t * m.active_matrix_params_at(l) as f64;
    let attn_macs = u * w.tokens_per_user() as f64 * w.attn_positions() as f64 * m.attn_macs_per_position() as f64;
    let kv = |positions: u64| m.kv_bytes(w.kv, 1, users as f64 * positions as f64);
    let l = count;
    let mut out = Totals {
        weight_bytes: (dense * dense_w + moe * moe_w) * wsize,
        kv_bytes: l * kv(w.attn_positions()),
        kv_read_bytes: l * kv(w.kv_read_positions()),
        kv_write_bytes: l * kv(w.tokens_per_user()),
        macs: dense * matrix_macs(0) + moe * matrix_macs(m.dense_layers) + l * attn_macs,
        attn_macs: l * attn_macs,
    };
    if last {
        out.weight_bytes += (m.vocab * m.hidden) as f64 * wsize;
        out.macs += u * w.logits_per_user() as f64 * (m.vocab * m.hidden) as f64;
    }
    out
}

/// Bytes of weights one chip of a `tp`-way group holds for `layers`
/// layers (plus embedding and head when it holds them). The first stage's
/// layers start at layer 0; another stage's are counted as expert layers
/// (the larger kind), a bound for models with dense layers first —
/// `chip_weight_bytes_of` takes the exact range.
pub fn chip_weight_bytes(m: &Model, w: &Workload, tp: u32, layers: u64, first: bool, last: bool) -> f64 {
    let start = if first { 0 } else { m.dense_layers };
    chip_weight_bytes_of(m, w, tp, start..start + layers, first, last)
}

/// Bytes of weights one chip of a `tp`-way group holds for layers
/// `layers` (plus embedding and head when it holds them).
pub fn chip_weight_bytes_of(m: &Model, w: &Workload, tp: u32, layers: Range<u64>, first: bool, last: bool) -> f64 {
    let wsize = w.weights.bits() as f64 / 8.0;
    let mut p = m.layers_params(layers) as f64;
    if first {
        p += m.embedding_params() as f64;
    }
    if last {
        p += (m.lm_head_params() + m.hidden) as f64;
        if m.tied_embeddings && !first {
            p += m.embedding_params() as f64;
        }
    }
    p * wsize / tp as f64
}

/// KV-cache bytes one chip of a `tp`-way group holds for `users` users over
/// `layers` layers (context plus the new tokens).
pub fn chip_kv_bytes(m: &Model, w: &Workload, tp: u32, users: u64, layers: u64) -> f64 {
    let positions = (w.context + w.tokens_per_user()) as f64;
    m.kv_bytes(w.kv, layers, users as f64 * positions) / tp as f64
}

/// Closed-form totals of a whole compiled trace: every replica, micro-batch,
/// stage and step of `plan`.
pub fn for_plan(m: &Model, w: &Workload, plan: &super::Plan) -> Totals {
    let mut t = Totals::default();
    for r in 0..plan.dp {
        for users in plan.micro_batches(r) {
            for (s, layers) in plan.stages.iter().enumerate() {
                t += pass(m, w, users, layers.clone(), s + 1 == plan.stages.len());
            }
        }
    }
    t.scaled(plan.steps as f64)
}
