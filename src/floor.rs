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
//!   On the tiled strategy, also the on-chip NoC messages of every
//!   operation's multicast and reduction chain through its region, each at
//!   its zero-load head latency.
//!
//! Not in the latency chain (so the floor stays a floor, if a loose one):
//! the on-chip hops of the memory and root strategies, serialization,
//! pipeline latencies of the units, kernel launch gaps.

use crate::chip::{Chip, CollectiveKind, Memory, NocSpec, NocTopology, SystemTopology};
use crate::compiler::analytic::{self, Totals};
use crate::compiler::regions::{self, Region};
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
    /// Chips' worth of tiles the plan keeps busy at once (pipeline stages
    /// and tiled regions idle while fewer micro-batches than stages are in
    /// flight). HBM, shared by a chip's regions, serves at the rate of every
    /// chip with a busy region.
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
    /// On-chip NoC messages on the chain (tiled strategy: each operation's
    /// multicast and the steps of its reduction chain; 0 otherwise).
    pub noc_messages: u64,
    /// Router-to-router links those messages cross.
    pub noc_links: u64,
    /// Their share of the floor (each message's injection, ejection and
    /// routers, each link's wire), seconds.
    pub noc_seconds: f64,
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
    let latency_seconds = latency.stage_handoff_seconds + latency.all_reduce_seconds + latency.noc_seconds;
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
    // The same holds for the regions of the tiled strategy: a region's
    // layers run on its own tiles, so one user on 16 regions keeps a
    // sixteenth of the chip's tiles (their MACs, SRAM and vaults) busy;
    // only a shared memory (HBM) can serve one region at the chip's rate.
    let in_flight = plan.micro_batches(0).len().max(1) as f64;
    let busy = used * (in_flight / plan.pp as f64).min(1.0);
    let busy_tiles = used * (in_flight / plan.total_stages() as f64).min(1.0);
    let chips = chip.system.chips as f64;
    let (mem_bytes, mem_bw) = match chip.memory {
        Memory::SramOnly => (t.weight_bytes + t.kv_bytes, per_chip.sram_bandwidth / chips * busy_tiles),
        Memory::Hbm { .. } => {
            (t.weight_bytes + t.kv_read_bytes + t.kv_write_bytes, per_chip.memory_bandwidth / chips * busy)
        }
        Memory::Dram3d { .. } => {
            (t.weight_bytes + t.kv_read_bytes + t.kv_write_bytes, per_chip.memory_bandwidth / chips * busy_tiles)
        }
    };
    let peak = chip.tile.macs_per_cycle(w.weights).unwrap_or(1) as f64
        * 2.0
        * chip.clock_hz
        * chip.tiles_per_chip() as f64
        * busy_tiles;
    (mem_bytes / mem_bw, t.flops() / peak, busy_tiles)
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
    let noc = match plan.strategy {
        Strategy::Tiled => tiled_chain(chip, plan),
        Strategy::Memory | Strategy::Root => NocPath::default(),
    };
    LatencyChain {
        stage_handoffs,
        stage_handoff_seconds: stage_handoffs as f64 * link,
        all_reduces,
        hops_per_all_reduce: hops,
        all_reduce_algorithm: algorithm,
        all_reduce_seconds: all_reduces as f64 * per,
        noc_messages: noc.messages,
        noc_links: noc.links,
        noc_seconds: noc.cycles(&chip.noc) as f64 / hz,
    }
}

/// NoC messages in sequence, and the router-to-router links they cross.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct NocPath {
    messages: u64,
    links: u64,
}

impl NocPath {
    fn then(self, o: NocPath) -> NocPath {
        NocPath { messages: self.messages + o.messages, links: self.links + o.links }
    }
    fn times(self, n: u64) -> NocPath {
        NocPath { messages: self.messages * n, links: self.links * n }
    }
    /// Zero-load head latency of the messages one after another: each
    /// message's injection and ejection and its routers (one more than the
    /// links it crosses), each link's wire (`Network::zero_load`).
    fn cycles(self, noc: &NocSpec) -> u64 {
        self.messages * (noc.inject.0 + noc.eject.0 + noc.router.0) + self.links * (noc.router.0 + noc.link.0)
    }
}

/// One message from tile `a` to tile `b` of a chip (none to itself), at
/// the fewest router-to-router links of the topology (a crossbar's or a
/// fat-tree's switch counted as one router and no link: a lower bound).
fn message(topology: NocTopology, a: u32, b: u32) -> NocPath {
    if a == b {
        return NocPath::default();
    }
    let d = |p: u32, q: u32| p.abs_diff(q) as u64;
    let wrap = |p: u32, q: u32, n: u32| d(p, q).min(n as u64 - d(p, q));
    let links = match topology {
        NocTopology::Mesh { x, .. } => d(a % x, b % x) + d(a / x, b / x),
        NocTopology::Torus { x, y } => wrap(a % x, b % x, x) + wrap(a / x, b / x, y),
        NocTopology::Ring { n } => wrap(a, b, n),
        NocTopology::Crossbar { .. } | NocTopology::FatTree { .. } => 0,
    };
    NocPath { messages: 1, links }
}

/// How one operation of the tiled strategy moves through a region
/// (arch/compiler.md, "Tiled").
#[derive(Clone, Copy)]
enum TiledOp {
    /// Input on the home row, multicast down every column; partial sums
    /// chained along each row to the home column (QKV, gate/up, LM head).
    FromHidden,
    /// Q, K and V multicast along each row from the home column; partial
    /// outputs chained back along the row.
    Attention,
    /// Input on the home column, multicast along every row; partial sums
    /// chained down each column to the home row (O, down).
    ToHidden,
}

/// The slowest path of `op` through `region`: to every tile the
/// multicast's message, then from it each step of the reduction chain to
/// the line's home tile (a chain step waits for the step before it).
/// Linear in the region's tiles.
fn op_chain(topology: NocTopology, noc: &NocSpec, region: &Region, op: TiledOp) -> NocPath {
    let (hr, hc) = (region.home_row(), region.home_col());
    let at = |i: u32, j: u32| region.at(i, j);
    // The chain from each position of a line of `n` tiles to its home
    // `h`, built outward from the home (a step adds one message).
    let chains = |n: u32, h: u32, tile: &dyn Fn(u32) -> u32| {
        let mut c = vec![NocPath::default(); n as usize];
        for k in (0..h).rev() {
            c[k as usize] = message(topology, tile(k), tile(k + 1)).then(c[k as usize + 1]);
        }
        for k in h + 1..n {
            c[k as usize] = message(topology, tile(k), tile(k - 1)).then(c[k as usize - 1]);
        }
        c
    };
    let mut worst = NocPath::default();
    let mut consider = |p: NocPath| {
        if p.cycles(noc) > worst.cycles(noc) {
            worst = p;
        }
    };
    match op {
        TiledOp::FromHidden | TiledOp::Attention => {
            for i in 0..region.rows {
                let row = chains(region.cols, hc, &|k| at(i, k));
                for j in 0..region.cols {
                    let from = if let TiledOp::FromHidden = op { at(hr, j) } else { at(i, hc) };
                    consider(message(topology, from, at(i, j)).then(row[j as usize]));
                }
            }
        }
        TiledOp::ToHidden => {
            for j in 0..region.cols {
                let col = chains(region.rows, hr, &|k| at(k, j));
                for i in 0..region.rows {
                    consider(message(topology, at(i, hc), at(i, j)).then(col[i as usize]));
                }
            }
        }
    }
    worst
}

/// The NoC messages one token's step crosses on the tiled strategy, times
/// the steps: per layer QKV, attention, O, gate/up and down through its
/// region, the LM head on the last, and one message between consecutive
/// regions of a chip (their tiles differ; a crossing to another chip is a
/// stage hand-off).
fn tiled_chain(chip: &Chip, plan: &Plan) -> NocPath {
    let topology = chip.noc.topology;
    let layout = regions::layout(chip, plan.regions);
    let layer_of = |r: &Region| {
        [TiledOp::FromHidden, TiledOp::Attention, TiledOp::ToHidden, TiledOp::FromHidden, TiledOp::ToHidden]
            .into_iter()
            .fold(NocPath::default(), |p, op| p.then(op_chain(topology, &chip.noc, r, op)))
    };
    let per_layer: Vec<NocPath> = layout.iter().map(layer_of).collect();
    let mut step = NocPath::default();
    let last = plan.stages.len().saturating_sub(1);
    for (s, layers) in plan.stages.iter().enumerate() {
        let r = s % plan.regions as usize;
        step = step.then(per_layer[r].times(layers.end - layers.start));
        if s == last {
            step = step.then(op_chain(topology, &chip.noc, &layout[r], TiledOp::FromHidden));
        } else if r + 1 < plan.regions as usize {
            step = step.then(NocPath { messages: 1, links: 0 });
        }
    }
    step.times(plan.steps)
}

/// The model a trace header's model name is of: `NAME` of `NAME` or
/// `NAME[N-layers]` (a slice of its first layers).
fn base_model(model_name: &str) -> &str {
    model_name.split_once('[').map_or(model_name, |(b, _)| b)
}

/// Whether `given` (`run --model`) is the model the trace header's
/// `model_name` is of; `Err` says which each is.
pub fn check_given(model_name: &str, given: &Model) -> Result<(), String> {
    match base_model(model_name) {
        base if base == given.name => Ok(()),
        "" => Err(format!("--model gives `{}`, but the trace names no model (a synthetic trace)", given.name)),
        base => Err(format!("--model gives `{}`, but the trace is of `{base}`", given.name)),
    }
}

/// The model, workload and plan a compiled trace's header names, rebuilt
/// so `run` can print the same floor as `compare`: the model is `given`
/// (`run --model`, for a model from a file), which must carry the name the
/// header does, else a shipped one by that name (`NAME` or
/// `NAME[N-layers]`); the workload and plan as the compiler writes them
/// (`<workload> plan: <plan>`). `Err` says why not (a synthetic trace, a
/// model from a file not given, another model given).
pub fn rebuild(
    chip: &Chip,
    model_name: &str,
    header_workload: &str,
    given: Option<&Model>,
) -> Result<(Model, Workload, Plan), String> {
    if model_name.is_empty() {
        return Err("the trace names no model (a synthetic trace)".into());
    }
    let base = base_model(model_name);
    let layers = match model_name.split_once('[') {
        Some((_, rest)) => {
            let n = rest.strip_suffix("-layers]").and_then(|n| n.parse::<u64>().ok());
            Some(n.ok_or_else(|| format!("model `{model_name}`: not NAME[N-layers]"))?)
        }
        None => None,
    };
    let mut model = match given {
        Some(m) => {
            check_given(model_name, m)?;
            m.clone()
        }
        None => {
            let text = crate::config::shipped::get(crate::config::shipped::Kind::Model, base)
                .ok_or_else(|| format!("model `{base}` is not a shipped model (give its config with --model)"))?;
            crate::config::model::load_str(base, text).map_err(|e| e.to_string())?
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Bytes, BytesPerCycle, Cycles};

    fn noc(x: u32, y: u32) -> NocSpec {
        NocSpec {
            topology: NocTopology::Mesh { x, y },
            link_bw: BytesPerCycle(1.0),
            router: Cycles(1),
            link: Cycles(1),
            inject: Cycles(1),
            eject: Cycles(1),
            packet: Bytes(64),
            vcs: None,
            credit: Cycles(1),
        }
    }

    /// A 3 x 4 region filling a 4 x 3 mesh, home (1, 2); a message over d
    /// links costs 3 + 2d cycles.
    #[test]
    fn tiled_operations_take_their_slowest_tiles_path() {
        let n = noc(4, 3);
        let region = Region { rows: 3, cols: 4, tiles: (0..12).collect() };
        let chain = |op| op_chain(n.topology, &n, &region, op);
        // Down one row (5), then from column 0 two chain steps (5 + 5).
        assert_eq!(chain(TiledOp::FromHidden), NocPath { messages: 3, links: 3 });
        assert_eq!(chain(TiledOp::FromHidden).cycles(&n), 15);
        // Along the row to column 0 (7), back in two steps (10).
        assert_eq!(chain(TiledOp::Attention), NocPath { messages: 3, links: 4 });
        assert_eq!(chain(TiledOp::Attention).cycles(&n), 17);
        // Along the row to column 0 (7), one step up the column (5).
        assert_eq!(chain(TiledOp::ToHidden), NocPath { messages: 2, links: 3 });
        assert_eq!(chain(TiledOp::ToHidden).cycles(&n), 12);
    }

    #[test]
    fn torus_and_ring_messages_take_the_short_way_round() {
        assert_eq!(message(NocTopology::Torus { x: 8, y: 8 }, 0, 7).links, 1);
        assert_eq!(message(NocTopology::Torus { x: 8, y: 8 }, 0, 63).links, 2);
        assert_eq!(message(NocTopology::Mesh { x: 8, y: 8 }, 0, 63).links, 14);
        assert_eq!(message(NocTopology::Ring { n: 10 }, 1, 9).links, 2);
        assert_eq!(message(NocTopology::Crossbar { n: 10 }, 1, 9), NocPath { messages: 1, links: 0 });
        assert_eq!(message(NocTopology::Mesh { x: 8, y: 8 }, 5, 5), NocPath::default());
    }
}
