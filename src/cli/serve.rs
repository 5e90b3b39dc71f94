//! `tilesim serve` (arch/serve.md): a stream of requests on one serving
//! system (or a prefill and a decode system), step times from the
//! simulator's grid, memoised in a cache file; the summary as a table or
//! JSON, per-request CSV, a Perfetto timeline; or, with `--sweep-rate`, the
//! highest rate meeting the SLOs per chip and per-user speed target.

use super::CliError;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tilesim::compiler::{PlanRequest, Workload};
use tilesim::fileio::{self, AtomicFile};
use tilesim::limits;
use tilesim::model::Model;
use tilesim::serve::cache::StepCache;
use tilesim::serve::engine::Role;
use tilesim::serve::frontier::{self, Search};
use tilesim::serve::metrics::{self, Slo};
use tilesim::serve::sched::Limits;
use tilesim::serve::setup::{self, Pools, System};
use tilesim::serve::{Arrivals, Generator, Lengths, Policy, Request, ServeError, Setup, request, timeline};
use tilesim::units::human_bytes;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(long)]
    pub model: String,
    /// The serving system (shipped name or path); repeat with --sweep-rate for one frontier line per chip.
    #[arg(long = "chip")]
    pub chips: Vec<String>,
    /// Disaggregated serving: the system that prefills prompts (with --decode-chips).
    #[arg(long)]
    pub prefill_chips: Option<String>,
    /// Disaggregated serving: the system that decodes (with --prefill-chips).
    #[arg(long)]
    pub decode_chips: Option<String>,
    /// Mean arrival rate, requests per second (synthetic requests).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Request trace (CSV: arrival time, prompt tokens, output tokens; arch/serve.md).
    #[arg(long, conflicts_with = "rate")]
    pub trace: Option<PathBuf>,
    /// Requests to generate (default 1000), or the first N rows of --trace.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Prompt tokens: N, uniform:LO:HI or lognormal:MEAN:SIGMA[:MAX].
    #[arg(long, default_value = "512")]
    pub prompt: String,
    /// Output tokens: N, uniform:LO:HI or lognormal:MEAN:SIGMA[:MAX].
    #[arg(long, default_value = "128")]
    pub output: String,
    /// Arrival process: poisson, constant or gamma:CV.
    #[arg(long, default_value = "poisson")]
    pub arrival: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// vllm (continuous batching, prefill first), sarathi (chunked prefill, decode first) or static.
    #[arg(long, default_value = "vllm")]
    pub scheduler: String,
    /// Requests running at once.
    #[arg(long, default_value_t = 256)]
    pub max_batch: u64,
    /// Tokens per step (default: vllm and static max(2048, longest request), sarathi 512).
    #[arg(long)]
    pub token_budget: Option<u64>,
    /// Tokens per KV-cache page.
    #[arg(long, default_value_t = 16)]
    pub block_size: u64,
    /// Time-to-first-token SLO, milliseconds.
    #[arg(long, value_name = "MS")]
    pub slo_ttft: Option<f64>,
    /// Time-per-output-token SLO, milliseconds (with --sweep-rate: a comma list, one frontier point each).
    #[arg(long, value_name = "MS", value_delimiter = ',')]
    pub slo_tpot: Vec<f64>,
    /// Find, for each chip and TPOT target, the highest rate meeting the SLOs (CSV rows).
    #[arg(long)]
    pub sweep_rate: bool,
    /// With --sweep-rate: share of requests that must meet both SLOs.
    #[arg(long, default_value_t = 0.9, requires = "sweep_rate")]
    pub attainment: f64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Per-request CSV (with --sweep-rate: the frontier CSV), written atomically.
    #[arg(short = 'o', long = "csv", value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Perfetto (Chrome trace-event JSON) timeline of the batch steps.
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    #[command(flatten)]
    pub plan: super::PlanArgs,
    /// Step-time cache file (default: $XDG_CACHE_HOME/tilesim/step-times, else ~/.cache/tilesim/step-times).
    #[arg(long, conflicts_with = "no_cache")]
    pub cache: Option<PathBuf>,
    /// Neither read nor write the step-time cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Simulate every layer of each grid point (slow) instead of extrapolating from 1 and 2 layers per stage.
    #[arg(long)]
    pub full_depth: bool,
    /// Worker threads for the step grid and the rate search (default: the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
}

/// The TPOT targets of a frontier when none are given, milliseconds.
const DEFAULT_TPOTS_MS: [f64; 8] = [5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0];

fn usage(m: impl Into<String>) -> CliError {
    CliError::Usage(m.into())
}

fn ms(flag: &str, v: f64) -> Result<f64, CliError> {
    if v.is_finite() && v > 0.0 {
        Ok(v / 1000.0)
    } else {
        Err(usage(format!("{flag} must be a positive number of milliseconds, found {v}")))
    }
}

fn parse<T: std::str::FromStr<Err = String>>(flag: &str, s: &str) -> Result<T, CliError> {
    s.parse().map_err(|e: String| usage(format!("{flag}: {e}")))
}

/// The default cache file.
fn default_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("tilesim").join("step-times"))
}

/// Reads the cache (none if the file does not exist); warnings on stderr.
fn read_cache(path: &Path) -> Result<StepCache, CliError> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let (cache, warnings) = StepCache::parse(&name, &text)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            Ok(cache)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StepCache::new()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            eprintln!("warning: {name}: not text; the step-time cache is rebuilt");
            Ok(StepCache::new())
        }
        Err(e) => Err(usage(format!("{name}: cannot read the step-time cache: {e}"))),
    }
}

/// Writes the cache back atomically, merged with what another run may have
/// added meanwhile. A cache that cannot be written costs only time later:
/// a warning, not a failure.
fn save_cache(path: &Path, mut cache: StepCache) {
    if cache.added() == 0 {
        return;
    }
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok((other, _)) = StepCache::parse(&path.display().to_string(), &text)
    {
        cache.merge(other);
    }
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = AtomicFile::create(path)?;
        cache.write(&mut f)?;
        f.commit()
    };
    if let Err(e) = write() {
        eprintln!("warning: cannot write the step-time cache {}: {e}", path.display());
    }
}

fn bar(len: u64, what: String) -> ProgressBar {
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    ProgressBar::with_draw_target(Some(len), target).with_prefix(what).with_style(
        ProgressStyle::with_template("{prefix} {elapsed_precise} [{bar:30}] {pos}/{len}, {eta} left")
            .expect("a valid template")
            .progress_chars("=> "),
    )
}

/// Writes `f`'s output to `path` (`-`: standard output) through
/// `fileio::create`: atomically for a regular file, in place for a device.
fn write_file(path: &Path, f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), CliError> {
    let err = |e: std::io::Error| CliError::Output { path: path.display().to_string(), message: e.to_string() };
    let mut file = fileio::create(path).map_err(err)?;
    f(&mut file).map_err(err)?;
    file.commit().map_err(err)
}

/// Refuses an output file that is one of the inputs (the trace, the step
/// cache), before anything runs.
fn check_outputs(a: &ServeArgs, cache: Option<&Path>) -> Result<(), CliError> {
    let inputs: Vec<&Path> = a.trace.as_deref().into_iter().chain(cache).collect();
    for out in [a.csv.as_deref(), a.timeline.as_deref()].into_iter().flatten() {
        fileio::check_not_input(out, &inputs).map_err(CliError::Usage)?;
    }
    Ok(())
}

/// Bytes one request costs in memory while it is simulated (the request,
/// its scheduler state, its record and the engine's events), for the
/// `--max-memory` estimate.
const BYTES_PER_REQUEST: u128 = 512;

struct Common {
    model: Model,
    workload: Workload,
    request: PlanRequest,
    policy: Policy,
    jobs: usize,
}

fn common(a: &ServeArgs) -> Result<Common, CliError> {
    let model = tilesim::api::load_model(&a.model)?;
    let model = match a.plan.layers {
        Some(l) => model.first_layers(l).map_err(CliError::Usage)?,
        None => model,
    };
    let spec = a.plan.dtypes()?;
    let workload = spec.resolve(&model).map_err(CliError::Usage)?;
    let jobs = match a.jobs {
        Some(j) => j as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok(Common { model, workload, request: a.plan.request()?, policy: parse("--scheduler", &a.scheduler)?, jobs })
}

/// The requests: the trace's, or generated at `rate`.
fn requests(a: &ServeArgs, rate: f64) -> Result<(Vec<Request>, Option<Generator>), CliError> {
    if let Some(path) = &a.trace {
        let name = path.display().to_string();
        let limit = limits::MAX_CSV_BYTES;
        let bytes = fileio::read_limited(path, limit)
            .map_err(|e| usage(format!("{name}: cannot read: {e}")))?
            .ok_or_else(|| usage(format!("{name}: larger than {} (arch/limits.md)", human_bytes(limit as f64))))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            usage(format!("{name}:{line}: not UTF-8 text (a CSV of arrival time, prompt and output tokens)"))
        })?;
        let reqs = request::parse_trace(&name, &text, a.requests)?;
        limits::check_memory("serving these requests", reqs.len() as u128 * BYTES_PER_REQUEST)
            .map_err(CliError::Usage)?;
        return Ok((reqs, None));
    }
    let g = Generator {
        arrivals: parse::<Arrivals>("--arrival", &a.arrival)?,
        rate,
        prompt: parse::<Lengths>("--prompt", &a.prompt)?,
        output: parse::<Lengths>("--output", &a.output)?,
        seed: a.seed,
    };
    let n = a.requests.unwrap_or(1000);
    if n == 0 {
        return Err(usage("--requests must be at least 1"));
    }
    limits::check_memory(&format!("--requests {n}"), n as u128 * BYTES_PER_REQUEST).map_err(CliError::Usage)?;
    Ok((g.generate(n)?, Some(g)))
}

/// A serving system, or why it cannot serve these requests (the model or
/// a request does not fit, a grid point failed).
type Built = Result<Setup, ServeError>;

/// Builds the serving system(s): one per --chip, or the disaggregated pair.
/// A bad flag or config is the outer error; a system that cannot serve is
/// its own entry's.
fn setups(
    a: &ServeArgs,
    c: &Common,
    reqs: &[Request],
    cache: &mut StepCache,
) -> Result<Vec<(String, Built)>, CliError> {
    let longest = reqs.iter().map(Request::final_context).max().unwrap_or(1);
    let block = a.block_size;
    if block == 0 {
        return Err(usage("--block-size must be at least 1 token"));
    }
    // A page holds part of one request's context: no more tokens than a
    // request may have (arch/limits.md).
    if block > limits::MAX_REQUEST_TOKENS {
        return Err(usage(format!(
            "--block-size must be at most {} tokens (a request's most; arch/limits.md), found {block}",
            limits::MAX_REQUEST_TOKENS
        )));
    }
    if a.max_batch == 0 {
        return Err(usage("--max-batch must be at least 1"));
    }
    type PoolResult = Result<Result<setup::Pool, ServeError>, CliError>;
    let pool = |chip_arg: &str, role: Role, policy: Policy, cache: &mut StepCache| -> PoolResult {
        let chip = super::load_chip(chip_arg)?;
        let limits =
            Limits { max_batch: a.max_batch, token_budget: a.token_budget.unwrap_or(policy.default_budget(longest)) };
        if limits.token_budget == 0 {
            return Err(usage("--token-budget must be at least 1"));
        }
        // A step is one pass: its tokens are bounded as --batch x tokens
        // per user are (arch/limits.md).
        if let Some(b) = a.token_budget.filter(|&b| b > tilesim::limits::MAX_TOKENS_PER_PASS) {
            return Err(usage(format!(
                "--token-budget must be at most {} tokens per step (arch/limits.md), found {b}",
                tilesim::limits::MAX_TOKENS_PER_PASS
            )));
        }
        let sys = System {
            model: &c.model,
            chip: &chip,
            workload: &c.workload,
            request: &c.request,
            full_depth: a.full_depth,
        };
        let pb = bar(0, format!("step times on {}", chip.name));
        let built = setup::real_pool(&sys, role, policy, limits, block, reqs, cache, c.jobs, |done, total| {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        });
        pb.finish_and_clear();
        let (p, stats) = match built {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        eprintln!(
            "{}: {} step-time grid points, each at {:?} of {} layers: {} simulations in {:.1} s, {} from the cache",
            chip.name, stats.nodes, stats.depths, c.model.layers, stats.simulated, stats.seconds, stats.from_cache
        );
        Ok(Ok(p))
    };
    let kv_bytes_per_token = tilesim::compiler::analytic::chip_kv_bytes(
        &c.model,
        &Workload { context: 0, spec: 1, batch: 1, ..c.workload.clone() },
        1,
        1,
        c.model.layers,
    );
    let make =
        |pools| Setup { model: c.model.name.clone(), policy: c.policy, block_tokens: block, kv_bytes_per_token, pools };
    match (&a.prefill_chips, &a.decode_chips) {
        (Some(p), Some(d)) => {
            if !a.chips.is_empty() {
                return Err(usage(
                    "--chip is for one system serving everything; with --prefill-chips and --decode-chips leave it out",
                ));
            }
            if c.policy != Policy::Vllm {
                return Err(CliError::Serve(ServeError::NotImplemented(format!(
                    "--scheduler {} with disaggregation: the prefill pool batches whole prompts (vllm) and the decode \
                     pool decodes continuously",
                    c.policy.name()
                ))));
            }
            let prefill = pool(p, Role::Prefill, Policy::Vllm, cache)?;
            let decode = pool(d, Role::Decode, Policy::Vllm, cache)?;
            let built = prefill.and_then(|prefill| {
                decode.map(|decode| make(Pools::Disaggregated { prefill: Box::new(prefill), decode: Box::new(decode) }))
            });
            Ok(vec![(format!("{p}>{d}"), built)])
        }
        (None, None) => {
            if a.chips.is_empty() {
                return Err(usage("give --chip (or --prefill-chips and --decode-chips)"));
            }
            if a.chips.len() > 1 && !a.sweep_rate {
                return Err(usage("one --chip per run (several only with --sweep-rate)"));
            }
            a.chips
                .iter()
                .map(|ch| {
                    Ok((
                        ch.clone(),
                        pool(ch, Role::Unified, c.policy, cache)?.map(|p| make(Pools::Unified(Box::new(p)))),
                    ))
                })
                .collect()
        }
        _ => Err(usage("--prefill-chips and --decode-chips go together")),
    }
}

pub fn run(a: &ServeArgs) -> Result<ExitCode, CliError> {
    let c = common(a)?;
    let slo = Slo {
        ttft_seconds: a.slo_ttft.map(|v| ms("--slo-ttft", v)).transpose()?,
        tpot_seconds: match a.slo_tpot.as_slice() {
            [] => None,
            [v] => Some(ms("--slo-tpot", *v)?),
            _ if a.sweep_rate => None,
            _ => return Err(usage("--slo-tpot takes one value (a list only with --sweep-rate)")),
        },
    };
    if a.sweep_rate {
        return sweep_rate(a, &c, slo);
    }
    let rate = match (a.rate, &a.trace) {
        (Some(r), None) => r,
        (None, Some(_)) => 0.0,
        _ => return Err(usage("give --rate R (synthetic requests) or --trace FILE")),
    };
    let cache_path = if a.no_cache { None } else { a.cache.clone().or_else(default_cache) };
    check_outputs(a, cache_path.as_deref())?;
    let (reqs, _) = requests(a, rate)?;
    let mut cache = match &cache_path {
        Some(p) => read_cache(p)?,
        None => StepCache::new(),
    };
    let built = setups(a, &c, &reqs, &mut cache);
    if let Some(p) = &cache_path {
        save_cache(p, cache);
    }
    let (_, setup) = built?.pop().expect("one system");
    let setup = setup?;
    let outcome = setup.run(&reqs, a.timeline.is_some())?;
    let (recs, summary) = setup.summary(&reqs, &outcome, slo);
    if let Some(path) = &a.csv {
        write_file(path, |w| metrics::write_requests_csv(w, &recs))?;
    }
    if let Some(path) = &a.timeline {
        let names: Vec<String> = summary.pools.iter().map(|p| format!("{} pool: {}", p.stats.role, p.chip)).collect();
        write_file(path, |w| timeline::write_chrome(w, &outcome, &names))?;
    }
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&summary).expect("serialises")))?;
    } else {
        super::out(&summary.table())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn sweep_rate(a: &ServeArgs, c: &Common, slo: Slo) -> Result<ExitCode, CliError> {
    if a.trace.is_some() || a.rate.is_some() {
        return Err(usage("--sweep-rate searches the rate of synthetic requests: leave out --rate and --trace"));
    }
    if a.timeline.is_some() || a.json {
        return Err(usage("--sweep-rate writes frontier rows (CSV); --timeline and --json are for single runs"));
    }
    if !(a.attainment > 0.0 && a.attainment <= 1.0) {
        return Err(usage(format!("--attainment must be in (0, 1], found {}", a.attainment)));
    }
    let tpots: Vec<f64> = if a.slo_tpot.is_empty() {
        DEFAULT_TPOTS_MS.iter().map(|v| v / 1000.0).collect()
    } else {
        a.slo_tpot.iter().map(|&v| ms("--slo-tpot", v)).collect::<Result<_, _>>()?
    };
    let cache_path = if a.no_cache { None } else { a.cache.clone().or_else(default_cache) };
    check_outputs(a, cache_path.as_deref())?;
    let (reqs, generator) = requests(a, 1.0)?;
    let generator = generator.expect("synthetic requests");
    let mut cache = match &cache_path {
        Some(p) => read_cache(p)?,
        None => StepCache::new(),
    };
    let built = setups(a, c, &reqs, &mut cache);
    if let Some(p) = &cache_path {
        save_cache(p, cache);
    }
    let systems = built?;
    for (chip, s) in &systems {
        if let Err(e) = s {
            eprintln!("{chip}: cannot serve these requests: {e}");
        }
    }
    let search = Search {
        generator,
        requests: reqs.len() as u64,
        slo_ttft_seconds: slo.ttft_seconds,
        attainment: a.attainment,
        tolerance: 0.02,
    };
    let refs: Vec<(String, &Setup)> =
        systems.iter().filter_map(|(n, s)| s.as_ref().ok().map(|s| (n.clone(), s))).collect();
    let start = std::time::Instant::now();
    let pb = bar((refs.len() * tpots.len()) as u64, "rate search".into());
    let mut found =
        frontier::search_all(&refs, &tpots, &search, c.jobs, |done, _| pb.set_position(done as u64)).into_iter();
    pb.finish_and_clear();
    // Every system's rows in --chip order, a system that cannot serve as
    // error rows.
    let mut rows = Vec::new();
    for (chip, s) in &systems {
        for &t in &tpots {
            rows.push(match s {
                Ok(_) => found.next().expect("a row per system and target"),
                Err(e) => frontier::FrontierRow::failed(chip, &search, t, &e.to_string()),
            });
        }
    }
    let write = |w: &mut dyn Write| -> std::io::Result<()> {
        frontier::write_csv_header(w)?;
        for r in &rows {
            r.write_csv(w)?;
        }
        Ok(())
    };
    match &a.csv {
        Some(path) => write_file(path, write)?,
        None => {
            let mut text = Vec::new();
            write(&mut text).expect("writes to memory");
            super::out(&String::from_utf8(text).expect("UTF-8"))?;
        }
    }
    let failed = rows.iter().filter(|r| r.status == "error").count();
    let unreachable = rows.iter().filter(|r| r.status == "unreachable").count();
    let unbounded = rows.iter().filter(|r| r.status == "unbounded").count();
    let unbounded_note = if unbounded > 0 {
        format!(
            ", {unbounded} unbounded (the SLOs hold with every request arriving at once: give --slo-ttft or more \
             --requests)"
        )
    } else {
        String::new()
    };
    eprintln!(
        "searched {} frontier points ({} runs of {} requests) in {:.1} s: {} ok, {unreachable} unreachable{unbounded_note}, {failed} error -> {}",
        rows.len(),
        rows.iter().map(|r| r.runs).sum::<u32>(),
        reqs.len(),
        start.elapsed().as_secs_f64(),
        rows.len() - failed - unreachable - unbounded,
        a.csv.as_ref().map_or("standard output".into(), |p| p.display().to_string())
    );
    Ok(ExitCode::SUCCESS)
}
