//! The KV cache of a serving system: how many tokens it holds (what the
//! weights leave of each chip's memory under the plan, from the compiler's
//! own capacity and byte counts) and a page allocator over it.

use crate::chip::Chip;
use crate::compiler::analytic::{chip_kv_bytes, chip_weight_bytes};
use crate::compiler::plan::{self, Home, Plan};
use crate::compiler::{Phase, Workload, regions};
use crate::model::Model;

/// Pages of `block_tokens` tokens; a request holds whole pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvCache {
    pub block_tokens: u64,
    pub pages: u64,
    used: u64,
    peak: u64,
}

impl KvCache {
    pub fn new(pages: u64, block_tokens: u64) -> KvCache {
        KvCache { block_tokens: block_tokens.max(1), pages, used: 0, peak: 0 }
    }
    /// A cache of `tokens` tokens, in whole pages.
    pub fn with_tokens(tokens: u64, block_tokens: u64) -> KvCache {
        KvCache::new(tokens / block_tokens.max(1), block_tokens)
    }
    pub fn pages_for(&self, tokens: u64) -> u64 {
        tokens.div_ceil(self.block_tokens)
    }
    pub fn used(&self) -> u64 {
        self.used
    }
    pub fn peak(&self) -> u64 {
        self.peak
    }
    pub fn free(&self) -> u64 {
        self.pages - self.used
    }
    /// Takes `n` pages if there are that many free.
    pub fn alloc(&mut self, n: u64) -> bool {
        if n > self.free() {
            return false;
        }
        self.used += n;
        self.peak = self.peak.max(self.used);
        true
    }
    pub fn release(&mut self, n: u64) {
        debug_assert!(n <= self.used, "releasing {n} of {} pages", self.used);
        self.used -= n.min(self.used);
    }
}

/// How many tokens of KV cache a serving system holds, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Capacity {
    /// Tokens, all replicas together.
    pub tokens: u64,
    /// Where the cache lives (HBM, 3D-DRAM, SRAM).
    pub memory: &'static str,
    /// Bytes one chip (or, with the tiled strategy, one region) of the
    /// fullest stage has for weights and cache.
    pub chip_bytes: f64,
    /// Of those, weights.
    pub weight_bytes: f64,
    /// KV bytes of one token on that chip (its layers, its share of heads).
    pub chip_bytes_per_token: f64,
    /// KV bytes of one token over the whole model (all layers and heads):
    /// what a disaggregated system moves per prompt token.
    pub bytes_per_token: f64,
    /// Independent replicas of the plan.
    pub replicas: u32,
}

/// The KV capacity of `plan` on `chip`: on each chip of each pipeline
/// stage, the memory the plan has (HBM, vaults, or SRAM less the buffers
/// of the largest pass, `largest`) less the stage's weights, over the
/// stage's KV bytes per token; the fullest stage sets the capacity, and
/// every replica has its own. `w` gives the data types.
pub fn capacity(model: &Model, chip: &Chip, w: &Workload, largest: &Workload, plan: &Plan) -> Capacity {
    let per_token = Workload { phase: Phase::Decode, batch: 1, context: 0, spec: 1, ..w.clone() };
    let buffers = plan::buffer_bytes(model, largest, chip, plan.tp, 1);
    let have = plan::capacity(chip, buffers);
    let replicas = (chip.system.chips / plan.chips_per_replica().max(1)).max(1);
    let mut tokens = u64::MAX;
    let mut worst = (0.0, 0.0);
    // A stage is a chip's stage, or with the tiled strategy one of its
    // regions, holding its layers on its share of the chip's tiles (the
    // smallest region's share, as the compiler checks the fit).
    let region_share = if plan.regions > 1 {
        regions::smallest(chip, plan.regions) as f64 / chip.tiles_per_chip() as f64
    } else {
        1.0
    };
    let have_stage = have * region_share;
    for (s, layers) in plan.stages.iter().enumerate() {
        let n = layers.end - layers.start;
        let weights = chip_weight_bytes(model, w, plan.tp, n, s == 0, s + 1 == plan.stages.len());
        let kv = chip_kv_bytes(model, &per_token, plan.tp, 1, n);
        let t = if kv > 0.0 { ((have_stage - weights).max(0.0) / kv).floor() as u64 } else { u64::MAX };
        if t < tokens {
            tokens = t;
            worst = (weights, kv);
        }
    }
    Capacity {
        tokens: tokens.saturating_mul(replicas as u64),
        memory: Home::of(chip).name(),
        chip_bytes: have_stage,
        weight_bytes: worst.0,
        chip_bytes_per_token: worst.1,
        bytes_per_token: chip_kv_bytes(model, &per_token, 1, 1, model.layers),
        replicas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_up_and_never_overflow() {
        let mut kv = KvCache::new(10, 16);
        assert_eq!(kv.pages_for(0), 0);
        assert_eq!(kv.pages_for(16), 1);
        assert_eq!(kv.pages_for(17), 2);
        assert!(kv.alloc(7));
        assert!(!kv.alloc(4));
        assert!(kv.alloc(3));
        assert_eq!(kv.free(), 0);
        kv.release(5);
        assert_eq!((kv.used(), kv.peak()), (5, 10));
        assert_eq!(KvCache::with_tokens(100, 16).pages, 6);
    }
}
