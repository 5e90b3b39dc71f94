//! A serving system ready to run: its pools (one system serving
//! everything, or a prefill and a decode system), each with a step-time
//! oracle, a KV capacity, batch limits and the chips it is charged for;
//! the checks a request stream must pass before it runs; and the summary
//! of a run.

use super::engine::{self, Link, Outcome, PoolRun, Role};
use super::grid::{self, BuildStats, GridSpec, Target};
use super::kv::{self, Capacity, KvCache};
use super::metrics::{self, PoolSummary, RequestRecord, Slo, Summary};
use super::oracle::StepTime;
use super::request::Request;
use super::sched::{DecodeOnly, Limits, Policy, Queue, Vllm};
use super::{ServeError, cache::StepCache};
use crate::chip::Chip;
use crate::compiler::{Phase, Plan, PlanRequest, Workload, plan};
use crate::model::Model;

/// One serving system.
pub struct Pool {
    pub chip: String,
    pub plan: String,
    pub chips_used: u32,
    pub chips_in_system: u32,
    /// Price and power of the chips_used chips and the nodes they occupy
    /// (`chip::Cost::charged`): the chips a plan leaves idle could serve
    /// something else, so they are not charged.
    pub price_usd: Option<f64>,
    pub power_w: Option<f64>,
    pub kv_tokens: u64,
    pub limits: Limits,
    pub oracle: Box<dyn StepTime + Send>,
    /// Chip-link bandwidth out of the used chips together, per direction,
    /// and the latency of one link: what a KV transfer to or from this
    /// system crosses.
    pub link_bytes_per_second: f64,
    pub link_latency_seconds: f64,
    /// The capacity computation, when the pool was built from a chip.
    pub capacity: Option<Capacity>,
}

impl Pool {
    /// A pool with a given oracle and capacity, charged nothing (tests,
    /// what-ifs).
    pub fn synthetic(name: &str, oracle: Box<dyn StepTime + Send>, kv_tokens: u64, limits: Limits) -> Pool {
        Pool {
            chip: name.to_string(),
            plan: "synthetic".into(),
            chips_used: 1,
            chips_in_system: 1,
            price_usd: None,
            power_w: None,
            kv_tokens,
            limits,
            oracle,
            link_bytes_per_second: 0.0,
            link_latency_seconds: 0.0,
            capacity: None,
        }
    }
}

/// One system serving everything, or a prefill and a decode system.
pub enum Pools {
    Unified(Box<Pool>),
    Disaggregated { prefill: Box<Pool>, decode: Box<Pool> },
}

pub struct Setup {
    pub model: String,
    /// The scheduler of a unified pool (a disaggregated system's prefill
    /// pool batches whole prompts, its decode pool decodes continuously).
    pub policy: Policy,
    /// Tokens per KV page.
    pub block_tokens: u64,
    /// KV bytes of one token, all layers (the KV transfer's size).
    pub kv_bytes_per_token: f64,
    pub pools: Pools,
}

/// A chip config, the model and the plan flags: what a real pool is built from.
#[derive(Clone, Copy, Debug)]
pub struct System<'a> {
    pub model: &'a Model,
    pub chip: &'a Chip,
    /// Data types (phase, batch and lengths are set per step).
    pub workload: &'a Workload,
    pub request: &'a PlanRequest,
    pub full_depth: bool,
}

/// The largest steps a pool's scheduler can ask for, given the requests.
pub fn grid_spec(role: Role, policy: Policy, limits: &Limits, requests: &[Request]) -> GridSpec {
    let longest = requests.iter().map(Request::final_context).max().unwrap_or(1);
    let decode = GridSpec {
        max_users: limits.max_batch.min(requests.len() as u64).max(1),
        max_context: longest,
        max_prefill_tokens: 1,
        max_prefill_context: 0,
    };
    let chunked = role == Role::Unified && policy == Policy::Sarathi;
    let prefill = GridSpec {
        max_users: 1,
        max_context: 0,
        max_prefill_tokens: limits.token_budget,
        max_prefill_context: if chunked { longest } else { 0 },
    };
    match role {
        Role::Unified => GridSpec {
            max_prefill_tokens: prefill.max_prefill_tokens,
            max_prefill_context: prefill.max_prefill_context,
            ..decode
        },
        Role::Prefill => prefill,
        Role::Decode => decode,
    }
}

/// The largest pass a pool's steps make (the tile buffers of SRAM-only
/// chips grow with it): a prefill of the most tokens a step can carry.
pub fn largest_pass(sys: &System<'_>, spec: &GridSpec) -> Workload {
    Workload {
        phase: Phase::Prefill,
        batch: 1,
        context: 0,
        prompt: spec.max_prefill_tokens.max(spec.max_users).max(1),
        spec: 1,
        ..sys.workload.clone()
    }
}

/// The plan a serving system runs: the compiler's choice (or the flags')
/// for the largest pass with the longest request's cache, so that at least
/// one request and every step fit; the KV cache gets the rest of the
/// memory. A model that does not fit gets the compiler's message.
pub fn serving_plan(sys: &System<'_>, spec: &GridSpec) -> Result<Plan, ServeError> {
    let mut w = largest_pass(sys, spec);
    w.context = spec.max_context.saturating_sub(w.prompt);
    Ok(plan::choose(sys.model, &w, sys.chip, sys.request)?)
}

/// A pool on a real chip serving `requests` in `role`: its plan, KV
/// capacity, cost share, and a step-time oracle simulated on the grid the
/// scheduler can need (`grid_spec`, `grid::build`). The requests are
/// checked against the capacity and the token budget before anything is
/// simulated.
#[allow(clippy::too_many_arguments)]
pub fn real_pool(
    sys: &System<'_>,
    role: Role,
    policy: Policy,
    limits: Limits,
    block_tokens: u64,
    requests: &[Request],
    cache: &mut StepCache,
    jobs: usize,
    progress: impl FnMut(usize, usize),
) -> Result<(Pool, BuildStats), ServeError> {
    if role != Role::Unified && sys.chip.totals().chip_link_bandwidth <= 0.0 {
        return Err(no_links(&sys.chip.name));
    }
    let spec = grid_spec(role, policy, &limits, requests);
    let plan = serving_plan(sys, &spec)?;
    let cap = kv::capacity(sys.model, sys.chip, sys.workload, &largest_pass(sys, &spec), &plan);
    let regions = if plan.regions > 1 { format!(" regions={}", plan.regions) } else { String::new() };
    let plan_text = format!(
        "tp={} pp={}{regions} ep={} x{} replica(s), weights in {}, {} strategy",
        plan.tp,
        plan.pp,
        plan.ep,
        cap.replicas,
        plan.home.name(),
        plan.strategy.name()
    );
    check_requests(role, policy, &sys.chip.name, &plan_text, cap.tokens, limits, block_tokens, requests)?;
    let target =
        Target { model: sys.model, chip: sys.chip, plan: &plan, workload: sys.workload, full_depth: sys.full_depth };
    let (oracle, stats) = grid::build(&target, &spec, cache, jobs, progress)?;
    let chips = sys.chip.system.chips;
    let used = (cap.replicas * plan.chips_per_replica()).min(chips);
    let t = sys.chip.totals();
    let sys_spec = &sys.chip.system;
    let pool = Pool {
        chip: sys.chip.name.clone(),
        plan: plan_text,
        chips_used: used,
        chips_in_system: chips,
        price_usd: sys.chip.cost.charged(used).price_usd,
        power_w: sys.chip.cost.charged(used).power_w,
        kv_tokens: cap.tokens,
        limits,
        oracle: Box::new(oracle),
        link_bytes_per_second: t.chip_link_bandwidth * used as f64,
        link_latency_seconds: (sys_spec.link_latency.0 + sys_spec.switch_latency.0) as f64 / sys.chip.clock_hz,
        capacity: Some(cap),
    };
    Ok((pool, stats))
}

/// Checks every request can be served at all by a pool in `role`: it fits
/// the KV cache alone, and a whole-prompt scheduler can prefill it (or
/// recompute it after a preemption) within the token budget.
#[allow(clippy::too_many_arguments)]
pub fn check_requests(
    role: Role,
    policy: Policy,
    chip: &str,
    plan: &str,
    kv_tokens: u64,
    l: Limits,
    block_tokens: u64,
    requests: &[Request],
) -> Result<(), ServeError> {
    let kv = KvCache::with_tokens(kv_tokens, block_tokens);
    if l.max_batch == 0 || l.token_budget == 0 {
        return Err(ServeError::Usage("--max-batch and --token-budget must be at least 1".into()));
    }
    let whole = role == Role::Prefill || (role == Role::Unified && policy.whole_prompts());
    for r in requests {
        // A prefill pool holds a prompt (or a recompute) until its KV has
        // left; the others hold the whole request.
        let tokens = if role == Role::Prefill { r.final_context() - 1 } else { r.final_context() };
        if kv.pages_for(tokens) > kv.pages {
            return Err(ServeError::Input {
                at: r.origin(),
                message: format!(
                    "{} prompt + {} output tokens need {} tokens of KV cache, but `{chip}` ({plan}) holds {} \
                     ({} pages of {} tokens); shorter requests, more chips or a narrower --kv-dtype would fit",
                    r.prompt_tokens,
                    r.output_tokens,
                    tokens,
                    kv.pages * kv.block_tokens,
                    kv.pages,
                    kv.block_tokens,
                ),
            });
        }
        if whole && r.final_context() - 1 > l.token_budget {
            return Err(ServeError::Input {
                at: r.origin(),
                message: format!(
                    "{} prompt + {} output tokens: the {} prefills a prompt, or a preempted request's recompute \
                     (up to {} tokens), in one step, but --token-budget is {}; raise it or use --scheduler sarathi \
                     (chunked prefill)",
                    r.prompt_tokens,
                    r.output_tokens,
                    if role == Role::Prefill {
                        "disaggregated prefill pool".to_string()
                    } else {
                        format!("{} scheduler", policy.name())
                    },
                    r.final_context() - 1,
                    l.token_budget
                ),
            });
        }
    }
    Ok(())
}

/// A disaggregated pool on a system without chip links.
fn no_links(chip: &str) -> ServeError {
    ServeError::NotImplemented(format!(
        "a KV transfer needs chip links to carry it, and `{chip}` has none in its config (a single-chip \
         system): use a multi-chip system for each pool"
    ))
}

impl Setup {
    /// The scheduler(s), as the summary names them.
    pub fn scheduler_name(&self) -> String {
        match self.pools {
            Pools::Unified(_) => self.policy.name().to_string(),
            Pools::Disaggregated { .. } => "disaggregated (vllm prefill, continuous decode)".into(),
        }
    }

    fn pool_list(&self) -> Vec<(Role, &Pool)> {
        match &self.pools {
            Pools::Unified(p) => vec![(Role::Unified, &**p)],
            Pools::Disaggregated { prefill, decode } => vec![(Role::Prefill, &**prefill), (Role::Decode, &**decode)],
        }
    }

    fn link(&self) -> Result<Option<Link>, ServeError> {
        let Pools::Disaggregated { prefill, decode } = &self.pools else { return Ok(None) };
        let bw = prefill.link_bytes_per_second.min(decode.link_bytes_per_second);
        if bw.is_nan() || bw <= 0.0 {
            let none = if prefill.link_bytes_per_second > 0.0 { &decode.chip } else { &prefill.chip };
            return Err(no_links(none));
        }
        Ok(Some(Link {
            bytes_per_second: bw,
            latency_seconds: prefill.link_latency_seconds.max(decode.link_latency_seconds),
            bytes_per_token: self.kv_bytes_per_token,
        }))
    }

    /// Checks the requests are in arrival order and every one can be
    /// served (`check_requests`) by each pool.
    pub fn validate(&self, requests: &[Request]) -> Result<(), ServeError> {
        if requests.windows(2).any(|w| w[1].arrival_seconds < w[0].arrival_seconds) {
            return Err(ServeError::Uncovered("requests out of arrival order".into()));
        }
        for (role, p) in self.pool_list() {
            check_requests(role, self.policy, &p.chip, &p.plan, p.kv_tokens, p.limits, self.block_tokens, requests)?;
        }
        Ok(())
    }

    /// Runs `requests` (in arrival order) through the system.
    pub fn run(&self, requests: &[Request], keep_steps: bool) -> Result<Outcome, ServeError> {
        self.validate(requests)?;
        let link = self.link()?;
        let pools = self
            .pool_list()
            .into_iter()
            .map(|(role, p)| PoolRun {
                role,
                oracle: &*p.oracle,
                queue: Queue::new(KvCache::with_tokens(p.kv_tokens, self.block_tokens), p.limits),
                scheduler: match role {
                    Role::Unified => self.policy.build(),
                    Role::Prefill => Box::new(Vllm::prefill_only()),
                    Role::Decode => Box::new(DecodeOnly),
                },
            })
            .collect();
        engine::run(requests, pools, link, keep_steps)
    }

    /// Per-request records and the summary of a run.
    pub fn summary(&self, requests: &[Request], outcome: &Outcome, slo: Slo) -> (Vec<RequestRecord>, Summary) {
        let recs = metrics::records(requests, outcome, &slo);
        let pools = self
            .pool_list()
            .into_iter()
            .zip(&outcome.pools)
            .map(|((_, p), stats)| PoolSummary {
                chip: p.chip.clone(),
                plan: p.plan.clone(),
                chips_used: p.chips_used,
                chips_in_system: p.chips_in_system,
                price_usd_charged: p.price_usd,
                power_w_charged: p.power_w,
                kv_capacity_tokens: p.kv_tokens,
                stats: stats.clone(),
            })
            .collect();
        let summary = Summary::new(&self.model, &self.scheduler_name(), pools, &recs, outcome, slo);
        (recs, summary)
    }
}
