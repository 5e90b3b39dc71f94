//! Closed-form totals of one pass of a model over a workload: weight bytes,
//! KV bytes and multiply-accumulates, straight from the model shape. The
//! roofline command prints them; tests check every compiled trace adds up
//! to them.

use super::workload::Workload;
use crate::model::Model;

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

/// One pass of `users` users through `layers` layers, with the LM head
/// when `last` (the embedding lookup is not a matrix operand).
pub fn pass(m: &Model, w: &Workload, users: u64, layers: u64, last: bool) -> Totals {
    let wsize = w.weights.bits() as f64 / 8.0;
    let kvsize = w.kv.bits() as f64 / 8.0;
    let tokens = users * w.tokens_per_user();
    let (l, t, u) = (layers as f64, tokens as f64, users as f64);
    let experts = active_experts(m, tokens) as f64;
    let per_token_experts = m.top_k.min(m.experts) as f64;
    let layer_weights = m.attn_params() as f64 + experts * m.expert_params() as f64 + m.router_params() as f64;
    let layer_macs =
        t * (m.attn_params() as f64 + per_token_experts * m.expert_params() as f64 + m.router_params() as f64);
    let attn_macs =
        u * 2.0 * w.tokens_per_user() as f64 * m.heads as f64 * w.attn_positions() as f64 * m.head_dim as f64;
    let kv_pos = 2.0 * m.kv_dim() as f64 * kvsize;
    let mut out = Totals {
        weight_bytes: l * layer_weights * wsize,
        kv_bytes: l * u * w.attn_positions() as f64 * kv_pos,
        kv_read_bytes: l * u * w.kv_read_positions() as f64 * kv_pos,
        kv_write_bytes: l * u * w.tokens_per_user() as f64 * kv_pos,
        macs: l * (layer_macs + attn_macs),
        attn_macs: l * attn_macs,
    };
    if last {
        out.weight_bytes += (m.vocab * m.hidden) as f64 * wsize;
        out.macs += u * w.logits_per_user() as f64 * (m.vocab * m.hidden) as f64;
    }
    out
}

/// Bytes of weights one chip of a `tp`-way group holds for `layers`
/// layers (plus embedding and head when it holds them).
pub fn chip_weight_bytes(m: &Model, w: &Workload, tp: u32, layers: u64, first: bool, last: bool) -> f64 {
    let wsize = w.weights.bits() as f64 / 8.0;
    let mut p = layers as f64 * m.layer_params() as f64;
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
    let kvsize = w.kv.bits() as f64 / 8.0;
    let positions = (w.context + w.tokens_per_user()) as f64;
    layers as f64 * users as f64 * positions * 2.0 * m.kv_dim() as f64 * kvsize / tp as f64
}

/// Closed-form totals of a whole compiled trace: every replica, micro-batch,
/// stage and step of `plan`.
pub fn for_plan(m: &Model, w: &Workload, plan: &super::Plan) -> Totals {
    let mut t = Totals::default();
    for r in 0..plan.dp {
        for users in plan.micro_batches(r) {
            for (s, layers) in plan.stages.iter().enumerate() {
                t += pass(m, w, users, layers.end - layers.start, s + 1 == plan.stages.len());
            }
        }
    }
    t.scaled(plan.steps as f64)
}
