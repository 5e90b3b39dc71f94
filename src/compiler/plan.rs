//! The parallel plan: how many chips share each layer (tensor parallel),
//! how many pipeline stages, how experts spread, how many independent
//! replicas serve the batch; and whether the model fits.

use super::CompileError;
use super::analytic::{chip_kv_bytes, chip_weight_bytes_of};
use super::regions;
use super::workload::Workload;
use crate::chip::{Chip, Memory, NocTopology, SystemTopology};
use crate::dtype::Dtype;
use crate::model::Model;
use crate::units::human_bytes;
use std::ops::Range;

/// Flags that override the default plan.
#[derive(Clone, Debug, Default)]
pub struct PlanRequest {
    pub tp: Option<u32>,
    pub pp: Option<u32>,
    pub ep: Option<u32>,
    pub steps: Option<u64>,
    /// Activation strategy (`--strategy`).
    pub strategy: Option<Strategy>,
    /// Layer regions per chip, tiled strategy only (`--regions`).
    pub regions: Option<u32>,
}

/// How activations are held and moved between operations
/// (arch/compiler.md, "Activations"); one lowering module each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Activations in HBM, barriers between operations (GPU kernels).
    Memory,
    /// Activations at each chip's root tile, trees to and from it.
    Root,
    /// Activations spread over the tile grid: weight-stationary tiled
    /// GEMV/GEMM with multicast along one grid dimension and reductions
    /// along the other; layers in regions of the chip.
    Tiled,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Memory, Strategy::Root, Strategy::Tiled];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Memory => "memory",
            Strategy::Root => "root",
            Strategy::Tiled => "tiled",
        }
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The strategy a chip gets by default, and why.
    pub fn default_for(chip: &Chip) -> (Strategy, &'static str) {
        match (&chip.memory, chip.noc.topology) {
            (Memory::Hbm { .. }, NocTopology::Crossbar { .. } | NocTopology::FatTree { .. }) => {
                (Strategy::Memory, "HBM behind a shared crossbar (a GPU): activations stay in HBM between kernels")
            }
            (Memory::Hbm { .. }, _) => (
                Strategy::Tiled,
                "HBM on a grid of tiles: each tile streams its own weight block, activations stay spread over the grid",
            ),
            (Memory::Dram3d { .. }, _) => (
                Strategy::Tiled,
                "3D-DRAM: each tile streams its weight block from its own vault, activations stay spread over the grid",
            ),
            (Memory::SramOnly, _) => (
                Strategy::Tiled,
                "SRAM only: weights resident in each tile's block, activations spread over the grid (tiled GEMV)",
            ),
        }
    }
}

/// Where the weights and KV cache live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// Streamed from the chip's HBM.
    Hbm,
    /// Streamed from each tile's own stacked DRAM vault.
    Vault,
    /// Resident in tile SRAM.
    Sram,
}

impl Home {
    pub fn of(chip: &Chip) -> Home {
        match chip.memory {
            Memory::SramOnly => Home::Sram,
            Memory::Hbm { .. } => Home::Hbm,
            Memory::Dram3d { .. } => Home::Vault,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Home::Hbm => "HBM",
            Home::Vault => "3D-DRAM",
            Home::Sram => "SRAM",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub tp: u32,
    pub pp: u32,
    pub ep: u32,
    /// Independent replicas, each on its own tp*pp chips.
    pub dp: u32,
    /// Layers of each pipeline stage.
    pub stages: Vec<Range<u64>>,
    /// Users of each replica.
    pub replica_users: Vec<u64>,
    /// Decode steps (or prefill passes) in the trace.
    pub steps: u64,
    pub home: Home,
    /// Bytes of each tile's SRAM kept for buffers (the rest holds resident
    /// weights and KV cache on SRAM-only chips).
    pub buffer_bytes: u64,
    pub strategy: Strategy,
    /// Why the strategy was chosen.
    pub strategy_reason: String,
    /// Pipeline stages within each chip: regions of tiles, each holding a
    /// slice of the chip's layers (tiled strategy; 1 otherwise). `stages`
    /// has `pp * regions` entries; stage s is region s % regions of chip
    /// stage s / regions.
    pub regions: u32,
}

impl Plan {
    pub fn chips_per_replica(&self) -> u32 {
        self.tp * self.pp
    }
    /// Chip of (replica, stage, tensor rank).
    pub fn chip(&self, replica: u32, stage: u32, rank: u32) -> u32 {
        replica * self.chips_per_replica() + stage * self.tp + rank
    }
    /// Pipeline stages in all: chip stages times regions per chip.
    pub fn total_stages(&self) -> u32 {
        self.pp * self.regions
    }
    /// Micro-batches of a replica's users (one per stage, when there are
    /// enough users to fill the pipeline).
    pub fn micro_batches(&self, replica: u32) -> Vec<u64> {
        let users = self.replica_users[replica as usize];
        let stages = self.total_stages() as u64;
        let n = if stages > 1 { stages.min(users) } else { 1 };
        split(users, n)
    }
    pub fn describe(&self) -> String {
        let regions = if self.regions > 1 { format!(" regions={}", self.regions) } else { String::new() };
        format!(
            "tp={} pp={}{regions} ep={} dp={} steps={} weights in {}; {} strategy",
            self.tp,
            self.pp,
            self.ep,
            self.dp,
            self.steps,
            self.home.name(),
            self.strategy.name()
        )
    }
}

/// `total` split into `n` near-equal parts (the first ones larger).
pub fn split(total: u64, n: u64) -> Vec<u64> {
    (0..n).map(|i| total / n + u64::from(i < total % n)).collect()
}

/// Layers per pipeline stage: near-equal, with the larger stages in the
/// middle so the first (embedding) and last (LM head) stages hold fewer.
pub fn stage_layers(layers: u64, pp: u64) -> Vec<u64> {
    let (base, extra) = (layers / pp, layers % pp);
    let start = (pp - extra) / 2;
    (0..pp).map(|i| base + u64::from(i >= start && i < start + extra)).collect()
}

/// SRAM each tile keeps for buffers: four equal buffers (outputs, inputs,
/// two stream buffers), each large enough for the widest activation of the
/// pass, at least 64 KiB, at most a quarter of the SRAM together on
/// SRAM-only chips (all of it elsewhere: weights stream through).
pub fn buffer_bytes(m: &Model, w: &Workload, chip: &Chip, tp: u32, users: u64) -> u64 {
    let sram = chip.tile.sram.0;
    if Home::of(chip) != Home::Sram {
        return sram;
    }
    let tokens = users * w.tokens_per_user();
    let widest = [
        m.hidden,
        m.ffn / tp as u64,
        m.shared_experts * m.shared_ffn / tp as u64,
        m.dense_ffn / tp as u64,
        m.q_dim() / tp as u64 + 2 * m.kv_dim() / tp as u64,
        m.vocab / tp as u64,
    ]
    .into_iter()
    .max()
    .unwrap_or(1);
    let quarter = w.act.bytes(tokens * widest).max(64 << 10);
    (4 * quarter).min(sram / 4)
}

/// Bytes one chip of the plan needs and has, for the fullest stage.
struct Fit {
    need: f64,
    have: f64,
    weights: f64,
    kv: f64,
    /// Bytes of all stages of one tensor-parallel rank together.
    total: f64,
}

/// Bytes one chip has for weights and KV cache: its HBM, its vaults, or its
/// tiles' SRAM less `buffer_bytes` per tile (`tilesim serve` sizes the KV
/// cache from what the weights leave of it).
pub fn capacity(chip: &Chip, buffer_bytes: u64) -> f64 {
    let p = chip.tiles_per_chip() as f64;
    match &chip.memory {
        Memory::Hbm { capacity, .. } => capacity.0 as f64,
        Memory::Dram3d { capacity_per_tile, .. } => capacity_per_tile.0 as f64 * p,
        Memory::SramOnly => chip.tile.sram.0.saturating_sub(buffer_bytes) as f64 * p,
    }
}

fn fit(m: &Model, w: &Workload, chip: &Chip, tp: u32, pp: u32, users: u64) -> Fit {
    let stages = stage_layers(m.layers, pp as u64);
    let buffers = buffer_bytes(m, w, chip, tp, users);
    let mut worst = Fit { need: 0.0, have: capacity(chip, buffers), weights: 0.0, kv: 0.0, total: 0.0 };
    let mut start = 0;
    for (s, &layers) in stages.iter().enumerate() {
        let first = s == 0;
        let last = s + 1 == stages.len();
        let weights = chip_weight_bytes_of(m, w, tp, start..start + layers, first, last);
        start += layers;
        let kv = chip_kv_bytes(m, w, tp, users, layers);
        worst.total += weights + kv;
        if weights + kv > worst.need {
            worst = Fit { need: weights + kv, weights, kv, ..worst };
        }
    }
    worst
}

/// Largest tensor-parallel group the topology serves well.
fn tp_domain(chip: &Chip) -> u32 {
    match chip.system.topology {
        SystemTopology::Single => 1,
        SystemTopology::Dragonfly { group_size } => group_size,
        _ => chip.system.chips,
    }
}

fn check_tp(m: &Model, tp: u32) -> Result<(), String> {
    let t = tp as u64;
    if tp == 0 {
        return Err("--tp must be at least 1".into());
    }
    for (what, v) in [
        ("heads", m.heads),
        ("kv_heads", m.kv_heads),
        ("ffn", m.ffn),
        ("vocab", m.vocab),
        ("shared experts' inner size (shared_experts x shared_ffn)", m.shared_experts * m.shared_ffn),
        ("dense_ffn", m.dense_ffn),
    ] {
        if !v.is_multiple_of(t) {
            return Err(format!("--tp {tp} must divide the model's {what} ({v})"));
        }
    }
    if tp > 1 && m.mla.is_some() {
        return Err(format!(
            "--tp {tp}: multi-head latent attention is not split over chips yet (every chip would need the whole \
             latent KV cache and its down-projection); use --tp 1, with --pp to spread the layers over chips \
             (arch/compiler.md, \"Multi-head latent attention\")"
        ));
    }
    Ok(())
}

/// Chooses the plan: the flags where given; otherwise, when the chip links
/// are fast enough for tensor parallelism, the whole tightly coupled group
/// as tp with the fewest pipeline stages that fit, else the fewest chips
/// the model and KV cache fit on, pipelined. The chips left over serve the
/// batch as independent replicas.
pub fn choose(m: &Model, w: &Workload, chip: &Chip, req: &PlanRequest) -> Result<Plan, CompileError> {
    check_request(m, chip, req)?;
    let chips = chip.system.chips;
    let home = Home::of(chip);
    let (strategy, strategy_reason) = match req.strategy {
        Some(Strategy::Memory) if home != Home::Hbm => {
            return Err(CompileError::Plan(format!(
                "--strategy memory keeps activations in HBM, and `{}` has none (its weights live in {})",
                chip.name,
                home.name()
            )));
        }
        Some(s) => {
            let (d, why) = Strategy::default_for(chip);
            (s, format!("requested with --strategy (the default here is {}: {why})", d.name()))
        }
        None => {
            let (s, why) = Strategy::default_for(chip);
            (s, why.to_string())
        }
    };
    if m.mla.is_some() && strategy != Strategy::Memory {
        return Err(CompileError::Unsupported(format!(
            "{} uses multi-head latent attention, which only the memory strategy lowers (HBM chips behind a \
             crossbar, like `h100` and `dgx-h100`); this plan uses the {} strategy on `{}` \
             (arch/compiler.md, \"Multi-head latent attention\")",
            m.name,
            strategy.name(),
            chip.name
        )));
    }
    if let Some(r) = req.regions {
        if strategy != Strategy::Tiled && r != 1 {
            return Err(CompileError::Plan(format!(
                "--regions applies to the tiled strategy only (this plan uses the {} strategy)",
                strategy.name()
            )));
        }
        if !regions::feasible(chip, r) {
            return Err(CompileError::Plan(format!(
                "--regions {r} does not cut `{}` ({} tiles, {}) into regions of at least {} tiles",
                chip.name,
                chip.tiles_per_chip(),
                chip.noc.topology.name(),
                regions::MIN_TILES
            )));
        }
    }
    let ep = req.ep.unwrap_or(1);
    if ep == 0 || !m.experts.is_multiple_of(ep as u64) {
        return Err(CompileError::Plan(format!("--ep {ep} must divide the model's experts ({})", m.experts)));
    }
    let candidates: Vec<(u32, u32)> = match (req.tp, req.pp) {
        (Some(tp), Some(pp)) => vec![(tp, pp)],
        _ => {
            let mut c = Vec::new();
            let mut tp = 1;
            while tp <= chips {
                if req.tp.is_none_or(|t| t == tp) && (req.tp.is_some() || tp <= tp_domain(chip)) {
                    for pp in 1..=(chips / tp).min(m.layers as u32) {
                        if req.pp.is_none_or(|p| p == pp) {
                            c.push((tp, pp));
                        }
                    }
                }
                tp *= 2;
            }
            if let Some(t) = req.tp.filter(|t| !t.is_power_of_two()) {
                for pp in 1..=(chips / t.max(1)).min(m.layers as u32) {
                    if req.pp.is_none_or(|p| p == pp) {
                        c.push((t, pp));
                    }
                }
            }
            // Tensor parallelism when the chip links are fast enough for it
            // (at least a twentieth of a chip's memory bandwidth: NVLink
            // against HBM is 1/7 to 1/11), else the fewest chips, pipelined.
            let t = chip.totals();
            let per_chip_mem =
                if t.memory_bandwidth > 0.0 { t.memory_bandwidth } else { t.sram_bandwidth } / chips as f64;
            let tp_friendly = t.chip_link_bandwidth >= 0.05 * per_chip_mem;
            if tp_friendly && req.tp.is_none() {
                // Links fast enough for tensor parallelism: use the whole
                // tightly coupled group (a DGX's 8 GPUs), the fewest stages
                // on top; more tp means each user's weights stream from more
                // memories at once.
                let widest = c.iter().map(|&(tp, _)| tp).filter(|&tp| check_tp(m, tp).is_ok()).max().unwrap_or(1);
                c.retain(|&(tp, _)| tp == widest);
                c.sort_by_key(|&(_, pp)| pp);
            } else {
                // Otherwise the fewest chips, pipeline stages before tensor
                // parallelism.
                c.sort_by_key(|&(tp, pp)| (tp * pp, std::cmp::Reverse(pp)));
            }
            c
        }
    };
    let mut last_err = None;
    for &(tp, pp) in &candidates {
        if let Err(e) = check_tp(m, tp) {
            last_err = Some(e);
            continue;
        }
        let used = tp as u64 * pp as u64;
        if used > chips as u64 || used == 0 {
            last_err = Some(format!("tp x pp = {used} does not fit the {chips} chips of `{}`", chip.name));
            continue;
        }
        if pp as u64 > m.layers {
            last_err = Some(format!("--pp {pp} exceeds the model's {} layers", m.layers));
            continue;
        }
        if tp % ep != 0 {
            last_err = Some(format!("--ep {ep} must divide --tp {tp} (experts spread over the tensor-parallel chips)"));
            continue;
        }
        let dp = (chips / (tp * pp)).min(w.batch as u32).max(1);
        let replica_users = split(w.batch, dp as u64);
        let f = fit(m, w, chip, tp, pp, replica_users[0]);
        if f.need > f.have {
            continue;
        }
        let buffer_bytes = buffer_bytes(m, w, chip, tp, replica_users[0]);
        let regions = if strategy == Strategy::Tiled {
            match choose_regions(m, w, chip, tp, pp, replica_users[0], req.regions) {
                Some(r) => r,
                None => {
                    last_err = Some(format!(
                        "--regions {} leaves a region too small for its layers' weights and KV cache",
                        req.regions.unwrap_or(1)
                    ));
                    continue;
                }
            }
        } else {
            1
        };
        let steps = req.steps.unwrap_or(if pp * regions > 1 { 4 } else { 1 });
        if steps == 0 {
            return Err(CompileError::Plan("--steps must be at least 1".into()));
        }
        let mut start = 0;
        let stages = stage_layers(m.layers, (pp * regions) as u64)
            .into_iter()
            .map(|n| {
                start += n;
                start - n..start
            })
            .collect();
        return Ok(Plan {
            tp,
            pp,
            ep,
            dp,
            stages,
            replica_users,
            steps,
            home,
            buffer_bytes,
            strategy,
            strategy_reason,
            regions,
        });
    }
    if let (Some(e), true) = (last_err, req.tp.is_some() || req.pp.is_some()) {
        return Err(CompileError::Plan(e));
    }
    Err(does_not_fit(m, w, chip, req))
}

/// Layer regions per chip for the tiled strategy: `requested` if it fits,
/// else the count the estimate finds fastest among those whose every region
/// holds its layers' weights and KV cache (`regions::Estimate`). `None`
/// when the requested count does not fit.
fn choose_regions(
    m: &Model,
    w: &Workload,
    chip: &Chip,
    tp: u32,
    pp: u32,
    users: u64,
    requested: Option<u32>,
) -> Option<u32> {
    let stages = stage_layers(m.layers, pp as u64);
    let fullest = stages.iter().copied().max().unwrap_or(1);
    let buffers = buffer_bytes(m, w, chip, tp, users);
    let fits = |r: u32| {
        let per_region = capacity(chip, buffers) * regions::smallest(chip, r) as f64 / chip.tiles_per_chip() as f64;
        let layers = stage_layers(m.layers, (pp * r) as u64);
        let last = layers.len() - 1;
        let mut start = 0;
        layers.iter().enumerate().all(|(s, &l)| {
            let weights = chip_weight_bytes_of(m, w, tp, start..start + l, s == 0, s == last);
            start += l;
            weights + chip_kv_bytes(m, w, tp, users, l) <= per_region
        })
    };
    if let Some(r) = requested {
        return fits(r).then_some(r);
    }
    let est = regions::Estimate {
        chip,
        model: m,
        weight_bytes: w.weights.bits() as f64 / 8.0,
        kv_bytes: w.kv.bits() as f64 / 8.0,
        tp,
        layers: fullest,
        tokens_per_user: w.tokens_per_user(),
        positions: w.attn_positions(),
        users,
        pp,
    };
    let mut best = (f64::INFINITY, 1);
    for r in (1..=fullest.min(chip.tiles_per_chip() as u64) as u32).filter(|&r| regions::feasible(chip, r)) {
        if r > 1 && !fits(r) {
            continue;
        }
        let t = est.cycles(r);
        // A clear gain only: more regions also mean more, smaller messages.
        if t < best.0 * 0.97 {
            best = (t, r);
        }
    }
    Some(best.1)
}

/// Checks the requested degrees and steps before any arithmetic uses them:
/// each at least 1 (no division by zero), a degree (and tp x pp) no more
/// than the chips (and pp no more than the layers), steps at most
/// `MAX_STEPS`.
fn check_request(m: &Model, chip: &Chip, req: &PlanRequest) -> Result<(), CompileError> {
    let chips = chip.system.chips;
    let has = |n: u32| format!("the system has {n} chip{} (`{}`)", if n == 1 { "" } else { "s" }, chip.name);
    for (flag, v) in [("--tp", req.tp), ("--pp", req.pp), ("--ep", req.ep)] {
        match v {
            Some(0) => return Err(CompileError::Plan(format!("{flag} must be at least 1, found 0"))),
            // More chips than the system has is a mistake in the request,
            // not a model that does not fit: say so.
            Some(d) if d > chips => {
                return Err(CompileError::Plan(format!("{flag} {d} needs {d} chips, but {}", has(chips))));
            }
            _ => {}
        }
    }
    if let (Some(tp), Some(pp)) = (req.tp, req.pp)
        && tp as u64 * pp as u64 > chips as u64
    {
        return Err(CompileError::Plan(format!(
            "--tp {tp} --pp {pp} needs {} chips, but {}",
            tp as u64 * pp as u64,
            has(chips)
        )));
    }
    if let Some(pp) = req.pp.filter(|&p| p as u64 > m.layers) {
        return Err(CompileError::Plan(format!("--pp {pp} exceeds the model's {} layers", m.layers)));
    }
    match req.steps {
        Some(0) => Err(CompileError::Plan("--steps must be at least 1".into())),
        Some(s) if s > crate::limits::MAX_STEPS => Err(CompileError::Plan(format!(
            "--steps must be at most {} (arch/limits.md), found {s}",
            crate::limits::MAX_STEPS
        ))),
        _ => Ok(()),
    }
}

/// The message for a model that fits no plan: what is needed, what there
/// is, and what would fit.
fn does_not_fit(m: &Model, w: &Workload, chip: &Chip, req: &PlanRequest) -> CompileError {
    let chips = chip.system.chips;
    let tp = req.tp.unwrap_or_else(|| {
        let mut t = tp_domain(chip).min(chips);
        while t > 1 && check_tp(m, t).is_err() {
            t /= 2;
        }
        t.max(1)
    });
    let pp = req.pp.unwrap_or((chips / tp).max(1)).min(m.layers as u32);
    let f = fit(m, w, chip, tp, pp, w.batch);
    let buffers = buffer_bytes(m, w, chip, tp, w.batch);
    let n = (tp as u64 * pp as u64) as f64;
    let total_need = f.total * tp as f64;
    let total_have = f.have * n;
    let medium = Home::of(chip).name();
    let mut msg = format!(
        "{} ({} weights, {} user(s) at {} context) does not fit `{}`: the fullest pipeline stage needs {} per chip \
         ({} of weights + {} of KV cache) but a chip has {} of {medium}{}; across the {} chips used (tp={tp}, pp={pp}) \
         that is {} needed, {} available.",
        m.name,
        w.weights,
        w.batch,
        w.context,
        chip.name,
        human_bytes(f.need),
        human_bytes(f.weights),
        human_bytes(f.kv),
        human_bytes(f.have),
        if Home::of(chip) == Home::Sram {
            format!(" (after {} per tile kept for buffers)", human_bytes(buffers as f64))
        } else {
            String::new()
        },
        tp as u64 * pp as u64,
        human_bytes(total_need),
        human_bytes(total_have),
    );
    let mut ideas = Vec::new();
    // Fewer users or a shorter context, if the weights alone fit.
    if f.weights < f.have {
        let per_user = f.kv / w.batch as f64;
        let users = ((f.have - f.weights) / per_user).floor() as u64;
        if users >= 1 && users < w.batch {
            ideas.push(format!("--batch {users}"));
        }
        let per_pos = f.kv / (w.context + w.tokens_per_user()) as f64;
        let ctx = ((f.have - f.weights) / per_pos).floor() as u64;
        if ctx > w.tokens_per_user() && ctx - w.tokens_per_user() < w.context {
            ideas.push(format!("--context {}", ctx - w.tokens_per_user()));
        }
    }
    for d in [Dtype::Fp8, Dtype::Int8, Dtype::Int4] {
        if d.bits() < w.weights.bits() {
            let w2 = Workload { weights: d, kv: if d.bits() < w.kv.bits() { d } else { w.kv }, ..w.clone() };
            let f2 = fit(m, &w2, chip, tp, pp, w.batch);
            if f2.need <= f2.have {
                ideas.push(format!("--weights-dtype {d} --kv-dtype {} ({} per chip)", w2.kv, human_bytes(f2.need)));
                break;
            }
        }
    }
    let per_chip = f.have;
    let more = (total_need / per_chip).ceil() as u64;
    if more > chips as u64 {
        ideas.push(format!("about {more} chips of this kind"));
    }
    if ideas.is_empty() {
        msg.push_str(" Nothing simple fits: use more chips or a smaller model.");
    } else {
        msg.push_str(&format!(" Would fit: {}.", ideas.join("; or ")));
    }
    CompileError::DoesNotFit(msg)
}
