//! What every JSON report shares (arch/report-schema.md): the schema
//! version, and the workload and plan as objects, not free text.

use crate::compiler::{Plan, Workload};
use serde::Serialize;

/// Bumped when a key of any JSON report is renamed, removed or changes
/// meaning or unit (adding a key does not bump it).
pub const SCHEMA_VERSION: u32 = 2;

/// A workload, defaults filled in.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadJson {
    /// `decode` or `prefill`.
    pub phase: &'static str,
    pub batch: u64,
    /// Tokens of context each user already has (decode), or before the
    /// prompt (prefill).
    pub context: u64,
    /// Prompt tokens per user (prefill).
    pub prompt: u64,
    /// Tokens verified per step (speculative decoding; 1 without).
    pub spec: u64,
    pub accept_rate: f64,
    /// Share of KV positions attention reads (1: dense).
    pub kv_keep: f64,
    pub weights_dtype: String,
    pub kv_dtype: String,
    pub act_dtype: String,
    /// The same, on one line, as the trace header writes it.
    pub description: String,
}

impl WorkloadJson {
    pub fn of(w: &Workload) -> WorkloadJson {
        WorkloadJson {
            phase: w.phase.name(),
            batch: w.batch,
            context: w.context,
            prompt: w.prompt,
            spec: w.spec,
            accept_rate: w.accept_rate,
            kv_keep: w.kv_keep,
            weights_dtype: w.weights.name().to_string(),
            kv_dtype: w.kv.name().to_string(),
            act_dtype: w.act.name().to_string(),
            description: w.describe(),
        }
    }
}

/// A parallel plan.
#[derive(Clone, Debug, Serialize)]
pub struct PlanJson {
    pub tp: u32,
    pub pp: u32,
    /// Pipeline regions per chip (tiled strategy; 1 otherwise).
    pub regions: u32,
    pub ep: u32,
    pub dp: u32,
    /// Decode steps (or prefill passes) in the trace.
    pub steps: u64,
    /// Chips the plan uses (all replicas).
    pub chips_used: u32,
    /// Where the weights live: `HBM`, `3D-DRAM` or `SRAM`.
    pub weights_in: &'static str,
    /// How activations move: `memory`, `root` or `tiled`.
    pub strategy: &'static str,
    pub strategy_reason: String,
    /// The same, on one line, as the trace header writes it.
    pub description: String,
}

impl PlanJson {
    pub fn of(p: &Plan) -> PlanJson {
        PlanJson {
            tp: p.tp,
            pp: p.pp,
            regions: p.regions,
            ep: p.ep,
            dp: p.dp,
            steps: p.steps,
            chips_used: p.dp * p.chips_per_replica(),
            weights_in: p.home.name(),
            strategy: p.strategy.name(),
            strategy_reason: p.strategy_reason.clone(),
            description: p.describe(),
        }
    }
}
