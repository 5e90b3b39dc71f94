//! `tilesim serve` benchmarks and measurements (release build; figures go
//! to arch/performance.md and arch/serve.md). Not a test: timings depend
//! on the machine.
//!
//! ```text
//! cargo bench --bench serve                         # 10,000 llama-2-70b requests on dgx-h100, cold then warm cache
//! cargo bench --bench serve -- interpolation CHIP.. # grid interpolation vs direct simulation off the nodes
//! cargo bench --bench serve -- depth CHIP..         # 1-and-2-layer extrapolation vs full-depth simulation
//! ```
//! `--int8` runs llama-2-70b with int8 weights and KV (as arch/claims.md
//! does for the SRAM chips).

use std::time::Instant;
use tilesim::chip::Chip;
use tilesim::compiler::{Phase, PlanRequest, WorkloadSpec};
use tilesim::config::shipped::{self, Kind};
use tilesim::dtype::Dtype;
use tilesim::model::Model;
use tilesim::serve::cache::StepCache;
use tilesim::serve::engine::Role;
use tilesim::serve::grid::{self, GridSpec, Point, Target};
use tilesim::serve::metrics::Slo;
use tilesim::serve::sched::Limits;
use tilesim::serve::setup::{self, Pools, Setup, System};
use tilesim::serve::{Arrivals, Generator, Lengths, Policy, Request};

fn chip(name: &str) -> Chip {
    tilesim::config::chip::load_str(name, shipped::get(Kind::Chip, name).expect("a shipped chip")).unwrap()
}

fn model(name: &str) -> Model {
    tilesim::config::model::load_str(name, shipped::get(Kind::Model, name).unwrap()).unwrap()
}

fn requests() -> Vec<Request> {
    Generator {
        arrivals: Arrivals::Poisson,
        rate: 10.0,
        prompt: Lengths::LogNormal { mean: 512.0, sigma: 0.6, max: 2048 },
        output: Lengths::LogNormal { mean: 128.0, sigma: 0.6, max: 512 },
        seed: 0,
    }
    .generate(10_000)
    .unwrap()
}

fn jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One serving run as `tilesim serve` does it: the cache read from
/// `path`, the grid built (simulating what is missing), the cache written
/// back, the requests run. Returns (seconds building, seconds running,
/// simulations).
fn serve_once(
    m: &Model,
    c: &Chip,
    w: &tilesim::compiler::Workload,
    reqs: &[Request],
    path: &std::path::Path,
) -> (f64, f64, usize) {
    let t0 = Instant::now();
    let mut cache = match std::fs::read_to_string(path) {
        Ok(text) => StepCache::parse("bench", &text).unwrap().0,
        Err(_) => StepCache::new(),
    };
    let limits = Limits {
        max_batch: 256,
        token_budget: Policy::Vllm.default_budget(reqs.iter().map(Request::final_context).max().unwrap()),
    };
    let sys = System { model: m, chip: c, workload: w, request: &PlanRequest::default(), full_depth: false };
    let (pool, stats) =
        setup::real_pool(&sys, Role::Unified, Policy::Vllm, limits, 16, reqs, &mut cache, jobs(), |_, _| {}).unwrap();
    let mut out = Vec::new();
    cache.write(&mut out).unwrap();
    std::fs::write(path, out).unwrap();
    let built = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let setup = Setup {
        model: m.name.clone(),
        policy: Policy::Vllm,
        block_tokens: 16,
        kv_bytes_per_token: 0.0,
        pools: Pools::Unified(Box::new(pool)),
    };
    let outcome = setup.run(reqs, false).unwrap();
    let (_, sum) = setup.summary(reqs, &outcome, Slo::default());
    let ran = t1.elapsed().as_secs_f64();
    println!(
        "  {} requests: {:.0} tokens/s, TTFT p50 {:.1} ms, TPOT p50 {:.2} ms, mean decode batch {:.1}, {} steps",
        sum.requests,
        sum.tokens_per_second,
        sum.ttft_seconds.p50 * 1e3,
        sum.tpot_seconds.p50 * 1e3,
        sum.pools[0].stats.mean_decode_batch,
        sum.pools[0].stats.steps
    );
    (built, ran, stats.simulated)
}

fn throughput(int8: bool) {
    let m = model("llama-2-70b");
    let c = chip("dgx-h100");
    let w = workload(&m, int8);
    let reqs = requests();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("step-times");
    println!(
        "10,000 llama-2-70b requests on dgx-h100 (vllm, Poisson 10/s, prompts ~512, outputs ~128), {} jobs",
        jobs()
    );
    let (b1, r1, n1) = serve_once(&m, &c, &w, &reqs, &path);
    println!("  cold cache: grid {b1:.1} s ({n1} simulations), run {r1:.2} s, total {:.1} s", b1 + r1);
    let (b2, r2, n2) = serve_once(&m, &c, &w, &reqs, &path);
    println!("  warm cache: grid {b2:.3} s ({n2} simulations), run {r2:.2} s, total {:.2} s", b2 + r2);
    println!("  second run {:.0}x faster", (b1 + r1) / (b2 + r2));
}

fn workload(m: &Model, int8: bool) -> tilesim::compiler::Workload {
    let spec = if int8 {
        WorkloadSpec { weights: Some(Dtype::Int8), kv: Some(Dtype::Int8), ..Default::default() }
    } else {
        WorkloadSpec::default()
    };
    spec.resolve(m).unwrap()
}

/// The grid measured: users and contexts up to those of the throughput
/// benchmark, with a chunked-prefill context axis. `SERVE_BENCH_GRID=U,C`
/// measures a smaller grid (users up to U, contexts and prefill tokens up
/// to C, prefill without context) where a full one would take too long;
/// off-grid points outside it are skipped.
fn spec() -> GridSpec {
    match std::env::var("SERVE_BENCH_GRID").ok().and_then(|v| {
        let (u, c) = v.split_once(',')?;
        Some((u.trim().parse().ok()?, c.trim().parse().ok()?))
    }) {
        Some((users, context)) => {
            GridSpec { max_users: users, max_context: context, max_prefill_tokens: context, max_prefill_context: 0 }
        }
        None => GridSpec { max_users: 256, max_context: 2560, max_prefill_tokens: 2560, max_prefill_context: 2560 },
    }
}

const DECODE_OFF: [(u64, u64); 7] = [(3, 300), (12, 1500), (24, 700), (48, 2200), (96, 1000), (160, 2400), (200, 2500)];
const PREFILL_OFF: [(u64, u64); 6] = [(100, 0), (700, 0), (1500, 0), (2300, 0), (300, 1000), (600, 2000)];

fn interpolation(names: &[String], int8: bool) {
    let m = model("llama-2-70b");
    let w = workload(&m, int8);
    for name in names {
        let c = chip(name);
        let sys = System { model: &m, chip: &c, workload: &w, request: &PlanRequest::default(), full_depth: false };
        let spec = spec();
        let plan = match setup::serving_plan(&sys, &spec) {
            Ok(p) => p,
            Err(e) => {
                println!("{name}: {e}");
                continue;
            }
        };
        let target = Target { model: &m, chip: &c, plan: &plan, workload: &w, full_depth: false };
        let t0 = Instant::now();
        // TILESIM_BENCH_CACHE: a step-time cache file to reuse between runs.
        let path = std::env::var_os("TILESIM_BENCH_CACHE");
        let mut cache = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map_or_else(StepCache::new, |t| StepCache::parse("cache", &t).unwrap().0);
        let (oracle, stats) = grid::build(&target, &spec, &mut cache, jobs(), |_, _| {}).unwrap();
        if let Some(p) = &path {
            let mut out = Vec::new();
            cache.write(&mut out).unwrap();
            std::fs::write(p, out).unwrap();
        }
        println!("  decode rows {:?}\n  prefill rows {:?}", oracle.decode.rows, oracle.prefill.rows);
        println!(
            "{name} ({}): {} nodes, {} simulations ({} from the cache) at depths {:?} in {:.0} s",
            plan.describe(),
            stats.nodes,
            stats.simulated,
            stats.from_cache,
            stats.depths,
            t0.elapsed().as_secs_f64()
        );
        let direct = |phase, size, context| -> f64 {
            let depths = target.depths();
            let t: Vec<f64> = depths
                .iter()
                .map(|&layers| target.simulate(&Point { phase, size, context, layers }).unwrap().expect("fits"))
                .collect();
            match (depths.as_slice(), t.as_slice()) {
                ([_], [t]) => *t,
                ([d1, d2], [t1, t2]) => t1 + (t2 - t1) * (m.layers - d1) as f64 / (d2 - d1) as f64,
                _ => unreachable!(),
            }
        };
        // The fixed points, then random ones (seed 1): decode anywhere,
        // prefill without context anywhere, prefill chunks (up to 512
        // tokens) after up to 2,048 cached.
        let mut rng = tilesim::rng::Rng::new(1);
        let mut decode: Vec<(u64, u64)> = DECODE_OFF.to_vec();
        let mut prefill: Vec<(u64, u64)> = PREFILL_OFF.to_vec();
        for _ in 0..8 {
            decode.push((1 + rng.below(spec.max_users), rng.below(spec.max_context + 1)));
            prefill.push((1 + rng.below(spec.max_prefill_tokens), 0));
            prefill.push((1 + rng.below(512), rng.below(2049)));
        }
        decode.retain(|&(n, ctx)| n <= spec.max_users && ctx <= spec.max_context);
        prefill.retain(|&(t, ctx)| t <= spec.max_prefill_tokens && ctx <= spec.max_prefill_context);
        let mut errors = Vec::new();
        for (n, ctx) in decode {
            let (got, want) = (oracle.decode_seconds(n as f64, ctx as f64).unwrap(), direct(Phase::Decode, n, ctx));
            errors.push((got / want - 1.0).abs());
            println!(
                "  decode  {n:>4} users at {ctx:>4}: interpolated {:>9.3} ms, simulated {:>9.3} ms, {:+.2}%",
                got * 1e3,
                want * 1e3,
                100.0 * (got / want - 1.0)
            );
        }
        for (t, ctx) in prefill {
            let (got, want) = (oracle.prefill_seconds(t as f64, ctx as f64).unwrap(), direct(Phase::Prefill, t, ctx));
            errors.push((got / want - 1.0).abs());
            println!(
                "  prefill {t:>4} tokens after {ctx:>4}: interpolated {:>9.3} ms, simulated {:>9.3} ms, {:+.2}%",
                got * 1e3,
                want * 1e3,
                100.0 * (got / want - 1.0)
            );
        }
        let worst = errors.iter().fold(0.0f64, |a, &b| a.max(b));
        let mean = errors.iter().sum::<f64>() / errors.len() as f64;
        let over = errors.iter().filter(|&&e| e > 0.03).count();
        println!("  mean |error| {:.2}%, {over} of {} points over 3%", 100.0 * mean, errors.len());
        println!("  worst {:.2}%", 100.0 * worst);
    }
}

fn depth(names: &[String], int8: bool) {
    let m = model("llama-2-70b");
    let w = workload(&m, int8);
    for name in names {
        let c = chip(name);
        let sys = System { model: &m, chip: &c, workload: &w, request: &PlanRequest::default(), full_depth: false };
        let plan = setup::serving_plan(&sys, &spec()).unwrap();
        let target = Target { model: &m, chip: &c, plan: &plan, workload: &w, full_depth: false };
        let depths = target.depths();
        println!("{name} ({}): depths {depths:?} of {}", plan.describe(), m.layers);
        for (phase, size, ctx) in [(Phase::Decode, 1, 1024), (Phase::Decode, 32, 2048), (Phase::Prefill, 512, 0)] {
            let t: Vec<f64> = depths
                .iter()
                .map(|&layers| target.simulate(&Point { phase, size, context: ctx, layers }).unwrap().unwrap())
                .collect();
            let got = if let ([d1, d2], [t1, t2]) = (depths.as_slice(), t.as_slice()) {
                t1 + (t2 - t1) * (m.layers - d1) as f64 / (d2 - d1) as f64
            } else {
                t[0]
            };
            let t0 = Instant::now();
            let full = target.simulate(&Point { phase, size, context: ctx, layers: m.layers }).unwrap().unwrap();
            println!(
                "  {} {size} at {ctx}: extrapolated {:.3} ms, full depth {:.3} ms ({:.0} s to simulate), {:+.2}%",
                phase.name(),
                got * 1e3,
                full * 1e3,
                t0.elapsed().as_secs_f64(),
                100.0 * (got / full - 1.0)
            );
        }
    }
}

/// The shape of a row, simulated densely on one layer (exploration).
fn scan(names: &[String], int8: bool) {
    let m = model("llama-2-70b");
    let w = workload(&m, int8);
    for name in names {
        let c = chip(name);
        let sys = System { model: &m, chip: &c, workload: &w, request: &PlanRequest::default(), full_depth: false };
        let plan = setup::serving_plan(&sys, &spec()).unwrap();
        let target = Target { model: &m, chip: &c, plan: &plan, workload: &w, full_depth: false };
        let l = target.depths()[0];
        // SCAN="prefill CONTEXT FROM TO STEP" or "decode CONTEXT FROM TO STEP".
        let spec = std::env::var("SCAN").unwrap_or_else(|_| "prefill 0 128 2560 128".into());
        let v: Vec<&str> = spec.split_whitespace().collect();
        let phase = if v[0] == "decode" { Phase::Decode } else { Phase::Prefill };
        let n: Vec<u64> = v[1..].iter().map(|x| x.parse().unwrap()).collect();
        let mut x = n[1];
        while x <= n[2] {
            let s = target.simulate(&Point { phase, size: x, context: n[0], layers: l }).unwrap().unwrap();
            println!("{name} {} {x:>5} at {}: {:.4} ms ({:.3} us per unit)", v[0], n[0], s * 1e3, s * 1e6 / x as f64);
            x += n[3];
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--") || a == "--int8").collect();
    let int8 = args.iter().any(|a| a == "--int8");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--int8").cloned().collect();
    match rest.first().map(String::as_str) {
        Some("interpolation") => interpolation(&rest[1..], int8),
        Some("depth") => depth(&rest[1..], int8),
        Some("scan") => scan(&rest[1..], int8),
        _ => throughput(int8),
    }
}
