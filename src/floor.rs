//! The one analytic floor of a model, workload and plan on a chip: what no
//! schedule of the plan can beat. `run`, `roofline`, `compare` and `sweep`
//! all print this floor (arch/timing.md, "The floor").
//!
//! Two bounds, the larger named:
//! - **throughput**: the bytes the step must read (weights and KV, from
//!   the memory the weights live in) over that memory's bandwidth, and the
//!   FLOPs over peak, for the chips the plan can keep busy at once;
//! - **latency**: the dependent chain a token must cross, counted with zero
//!   work: every pipeline hand-off between chips, and every tensor-parallel
//!   all-reduce at the fewest sequential link hops any algorithm the chip's
//!   collective library runs needs, each hop at least one chip-link latency
//!   plus the library's fixed costs.
//!
//! Not in the latency chain (so the floor stays a floor, if a loose one):
//! on-chip NoC hops, pipeline latencies of the units, kernel launch gaps.

use crate::chip::{Chip, CollectiveKind, Memory, SystemTopology};
use crate::compiler::analytic::{self, Totals};
use crate::compiler::{Phase, Plan, PlanRequest, Strategy, Workload};
use crate::model::Model;
use serde::Serialize;

/// The floor, in seconds, for the whole trace (every step, replica and
/// micro-batch of the plan).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Floor {
    /// The larger of `throughput_seconds` and `latency_seconds`.
    pub seconds: f64,
    /// What sets it: `memory`, `compute` or `latency`.
    pub bound: &'static str,
    /// The larger of `memory_seconds` and `compute_seconds`.
    pub throughput_seconds: f64,
    /// Weight and KV bytes over the bandwidth of the busy chips' memory
    /// (SRAM on SRAM-only chips).
    pub memory_seconds: f64,
    /// FLOPs over the busy chips' peak for the weights' type.
    pub compute_seconds: f64,
    /// The dependent chain of hops a token crosses, at zero work.
    pub latency_seconds: f64,
    pub latency: LatencyChain,
    /// Chips the plan keeps busy at once (pipeline stages idle while fewer
    /// micro-batches than stages are in flight).
    pub busy_chips: f64,
}

/// The parts of the latency floor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyChain {
    /// Chip-to-chip pipeline hand-offs on the chain (stage to stage, and
    /// the last stage's token back to the first between steps).
    pub stage_handoffs: u64,
    /// Their share of the floor, seconds.
    pub stage_handoff_seconds: f64,
    /// Tensor-parallel all-reduces on the chain (two per layer).
    pub all_reduces: u64,
    /// Sequential link hops of each, under the algorithm with the fewest.
    pub hops_per_all_reduce: u64,
    /// That algorithm, when there are all-reduces.
    pub all_reduce_algorithm: Option<&'static str>,
    /// Their share of the floor (hops at the link latency plus the
    /// library's call and step costs), seconds.
    pub all_reduce_seconds: f64,
}

/// Fewest sequential steps of an all-reduce over `p` chips under
/// `kind` (arch/timing.md; Thakur, Rabenseifner and Gropp 2005), or
/// `None` when `kind` does not apply to `p` on `topology`.
fn all_reduce_steps(kind: CollectiveKind, p: u32, topology: SystemTopology) -> Option<u64> {
    let p64 = p as u64;
    match kind {
        CollectiveKind::Ring => Some(2 * (p64 - 1)),
        CollectiveKind::RecursiveDoubling => p.is_power_of_two().then(|| p.trailing_zeros() as u64),
        CollectiveKind::TwoD => match topology {
            SystemTopology::Dragonfly { group_size } if p > group_size && p.is_multiple_of(group_size) => {
                Some(2 * (group_size as u64 + (p / group_size) as u64 - 2))
            }
            _ => None,
        },
    }
}

/// The floor of `plan` for `w` on `chip`.
pub fn of(model: &Model, chip: &Chip, w: &Workload, plan: &Plan) -> Floor {
    let t = analytic::for_plan(model, w, plan);
    let (memory_seconds, compute_seconds, busy) = throughput(chip, w, plan, &t);
    let latency = latency(chip, plan);
    let latency_seconds = latency.stage_handoff_seconds + latency.all_reduce_seconds;
    let throughput_seconds = memory_seconds.max(compute_seconds);
    let throughput_bound = if memory_seconds >= compute_seconds { "memory" } else { "compute" };
    let (seconds, bound) = if latency_seconds > throughput_seconds {
        (latency_seconds, "latency")
    } else {
        (throughput_seconds, throughput_bound)
    };
    Floor {
        seconds,
        bound,
        throughput_seconds,
        memory_seconds,
        compute_seconds,
        latency_seconds,
        latency,
        busy_chips: busy,
    }
}

/// Bytes over the memory the weights are read from, FLOPs over peak, for
/// the chips the plan can keep busy at once: (memory, compute, busy chips).
fn throughput(chip: &Chip, w: &Workload, plan: &Plan, t: &Totals) -> (f64, f64, f64) {
    let per_chip = chip.totals();
    let used = (plan.dp * plan.chips_per_replica()) as f64;
    // A pipeline's stages work at once only on different micro-batches:
    // with fewer in flight than stages (one user over pp = 8), only that
    // share of the chips can be busy at any moment.
    let in_flight = plan.micro_batches(0).len().max(1) as f64;
    let busy = used * (in_flight / plan.pp as f64).min(1.0);
    let chips = chip.system.chips as f64;
    let (mem_bytes, mem_bw) = match chip.memory {
        Memory::SramOnly => (t.weight_bytes + t.kv_bytes, per_chip.sram_bandwidth / chips * busy),
        _ => (t.weight_bytes + t.kv_read_bytes + t.kv_write_bytes, per_chip.memory_bandwidth / chips * busy),
    };
    let peak = chip.tile.macs_per_cycle(w.weights).unwrap_or(1) as f64
        * 2.0
        * chip.clock_hz
        * chip.tiles_per_chip() as f64
        * busy;
    (mem_bytes / mem_bw, t.flops() / peak, busy)
}

/// The chain of chip-link hops one token crosses, with zero work.
fn latency(chip: &Chip, plan: &Plan) -> LatencyChain {
    let hz = chip.clock_hz;
    let link = chip.system.link_latency.0 as f64 / hz;
    // Stage to stage within a step; the last stage's token back to the
    // first between steps (the compiler's feedback transfer).
    let per_step = (plan.pp as u64).saturating_sub(1);
    let feedback = if plan.pp > 1 { plan.steps.saturating_sub(1) } else { 0 };
    let stage_handoffs = per_step * plan.steps + feedback;
    // Two all-reduces per layer on every tensor-parallel chip group: after
    // the attention output projection and after the FFN down projection.
    let layers: u64 = plan.stages.iter().map(|s| s.end - s.start).sum();
    let all_reduces = if plan.tp > 1 { 2 * layers * plan.steps } else { 0 };
    let sw = &chip.software;
    let best = if plan.tp > 1 {
        CollectiveKind::ALL
            .into_iter()
            .filter_map(|k| {
                let step = sw.step(k)?;
                let hops = all_reduce_steps(k, plan.tp, chip.system.topology)?;
                let secs = sw.collective_call.0 as f64 / hz + hops as f64 * (link + step.0 as f64 / hz);
                Some((k, hops, secs))
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
    } else {
        None
    };
    let (algorithm, hops, per) = best.map_or((None, 0, 0.0), |(k, h, s)| (Some(k.name()), h, s));
    LatencyChain {
        stage_handoffs,
        stage_handoff_seconds: stage_handoffs as f64 * link,
        all_reduces,
        hops_per_all_reduce: hops,
        all_reduce_algorithm: algorithm,
        all_reduce_seconds: all_reduces as f64 * per,
    }
}

/// The model, workload and plan a compiled trace's header names, rebuilt
/// so `run` can print the same floor as `compare`: the model must be a
/// shipped one (`NAME` or `NAME[N-layers]`), the workload and plan as the
/// compiler writes them (`<workload> plan: <plan>`). `Err` says why not
/// (a synthetic trace, a model from a file).
pub fn rebuild(chip: &Chip, model_name: &str, header_workload: &str) -> Result<(Model, Workload, Plan), String> {
    if model_name.is_empty() {
        return Err("the trace names no model (a synthetic trace)".into());
    }
    let (base, layers) = match model_name.split_once('[') {
        Some((b, rest)) => {
            let n = rest.strip_suffix("-layers]").and_then(|n| n.parse::<u64>().ok());
            (b, Some(n.ok_or_else(|| format!("model `{model_name}`: not NAME[N-layers]"))?))
        }
        None => (model_name, None),
    };
    let text = crate::config::shipped::get(crate::config::shipped::Kind::Model, base)
        .ok_or_else(|| format!("model `{base}` is not a shipped model"))?;
    let mut model = crate::config::model::load_str(base, text).map_err(|e| e.to_string())?;
    if let Some(l) = layers {
        model = model.first_layers(l)?;
    }
    let (wtext, ptext) =
        header_workload.split_once(" plan: ").ok_or("the trace's workload line has no `plan:` (not compiled)")?;
    let w = parse_workload(wtext)?;
    let req = parse_plan_request(ptext)?;
    let plan = crate::compiler::plan::choose(&model, &w, chip, &req).map_err(|e| e.to_string())?;
    // Traces compiled before strategies were named end at the home; the
    // floor does not depend on the strategy.
    let described = plan.describe();
    let same = described == ptext || (!ptext.contains("; ") && described.split("; ").next() == Some(ptext));
    if !same {
        return Err(format!("the plan rebuilt on this chip ({}) differs from the trace's ({ptext})", plan.describe()));
    }
    Ok((model, w, plan))
}

/// `key=value` pairs of a described line.
fn pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split([' ', ';']).filter_map(|p| p.split_once('='))
}

/// The inverse of `Workload::describe`.
pub fn parse_workload(s: &str) -> Result<Workload, String> {
    let phase = match s.split(' ').next() {
        Some("decode") => Phase::Decode,
        Some("prefill") => Phase::Prefill,
        _ => return Err(format!("workload `{s}`: not decode or prefill")),
    };
    let mut w = Workload::decode(crate::dtype::Dtype::Fp16);
    w.phase = phase;
    w.context = 0;
    let num = |k: &str, v: &str| v.parse::<f64>().map_err(|_| format!("workload `{s}`: {k}={v} is not a number"));
    for (k, v) in pairs(s) {
        match k {
            "batch" => w.batch = num(k, v)? as u64,
            "context" => w.context = num(k, v)? as u64,
            "prompt" => w.prompt = num(k, v)? as u64,
            "spec" => w.spec = num(k, v)? as u64,
            "accept" => w.accept_rate = num(k, v)?,
            "kv_keep" => w.kv_keep = num(k, v)?,
            "weights" => w.weights = v.parse()?,
            "kv" => w.kv = v.parse()?,
            "act" => w.act = v.parse()?,
            _ => return Err(format!("workload `{s}`: unknown key `{k}`")),
        }
    }
    if w.describe() != s {
        return Err(format!("workload `{s}` does not read back the same"));
    }
    Ok(w)
}

/// The plan request that reproduces a described plan.
fn parse_plan_request(s: &str) -> Result<PlanRequest, String> {
    let mut r = PlanRequest::default();
    let num = |k: &str, v: &str| v.parse::<u64>().map_err(|_| format!("plan `{s}`: {k}={v} is not a number"));
    for (k, v) in pairs(s) {
        match k {
            "tp" => r.tp = Some(num(k, v)? as u32),
            "pp" => r.pp = Some(num(k, v)? as u32),
            "ep" => r.ep = Some(num(k, v)? as u32),
            "regions" => r.regions = Some(num(k, v)? as u32),
            "steps" => r.steps = Some(num(k, v)?),
            "dp" => {}
            _ => return Err(format!("plan `{s}`: unknown key `{k}`")),
        }
    }
    let strategy = s.rsplit_once("; ").and_then(|(_, t)| t.strip_suffix(" strategy"));
    r.strategy = strategy.and_then(Strategy::parse);
    Ok(r)
}
