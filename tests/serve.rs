//! `tilesim serve` on the real simulator (arch/serve.md): the grid oracle
//! against direct simulation off its nodes and at full depth, TTFT and
//! TPOT at low load equal to one simulated step, a KV cache of ten
//! requests, the same bytes for any --jobs, the step-time cache, the rate
//! search, disaggregation, and bad input (exit 2, located, no output file).
//! Scheduler and queueing logic against closed forms is in
//! src/serve/tests.rs. Everything here runs one layer of llama-2-7b on
//! small chips, to stay fast in the debug test profile.

mod common;

use common::{chip, model, text, tilesim};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tilesim::compiler::{Phase, PlanRequest, WorkloadSpec};
use tilesim::serve::cache::StepCache;
use tilesim::serve::engine::Role;
use tilesim::serve::grid::{self, GridSpec, Point, Target};
use tilesim::serve::metrics::Slo;
use tilesim::serve::sched::Limits;
use tilesim::serve::setup::{self, Pools, Setup, System};
use tilesim::serve::{Arrivals, Generator, Lengths, Policy};

/// A directory for this test binary's files, and one step-time cache
/// shared by the CLI tests (they reuse each other's grids).
fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory")).path()
}

fn file(name: &str) -> PathBuf {
    dir().join(name)
}

fn cache() -> String {
    file("step-times").display().to_string()
}

/// Runs `tilesim serve ARGS` that must succeed; (stdout, stderr).
fn serve(args: &[&str]) -> (String, String) {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let (code, out, err) = text(&tilesim(&all));
    assert_eq!(code, 0, "{all:?}: {err}");
    (out, err)
}

fn failing(args: &[&str]) -> (i32, String) {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let (code, _, err) = text(&tilesim(&all));
    (code, err)
}

/// A top-level number of a JSON summary.
fn json_num(json: &str, key: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    v[key].as_f64().unwrap_or_else(|| panic!("no number {key} in {json}"))
}

/// A number of the summary's first pool.
fn pool_num(json: &str, key: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    v["pools"][0][key].as_f64().unwrap_or_else(|| panic!("no number pools[0].{key} in {json}"))
}

/// The test system tests/chips/serve-kv.toml.
fn serve_kv() -> tilesim::chip::Chip {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/chips/serve-kv.toml");
    tilesim::config::chip::load_str(path, &std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write(name: &str, text: &str) -> String {
    let p = file(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const SMALL: &[&str] = &["--model", "llama-2-7b", "--layers", "1", "--chip", "mini-mesh"];

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

#[test]
fn interpolation_off_the_grid_is_within_3_percent_of_direct_simulation() {
    let m = model("llama-2-7b").first_layers(1).unwrap();
    let c = chip("mini-mesh");
    let w = WorkloadSpec::default().resolve(&m).unwrap();
    let sys = System { model: &m, chip: &c, workload: &w, request: &PlanRequest::default(), full_depth: false };
    let spec = GridSpec { max_users: 8, max_context: 1024, max_prefill_tokens: 256, max_prefill_context: 512 };
    let plan = setup::serving_plan(&sys, &spec).unwrap();
    let target = Target { model: &m, chip: &c, plan: &plan, workload: &w, full_depth: false };
    let (oracle, stats) = grid::build(&target, &spec, &mut StepCache::new(), 2, |_, _| {}).unwrap();
    assert!(stats.nodes >= 4 * 3 + 6 * 2, "{stats:?}");
    let direct =
        |phase, size, context| target.simulate(&Point { phase, size, context, layers: 1 }).unwrap().expect("fits");
    let mut worst: f64 = 0.0;
    for (n, ctx) in [(3, 300), (6, 800), (7, 100), (5, 1000)] {
        let (got, want) = (oracle.decode_seconds(n as f64, ctx as f64).unwrap(), direct(Phase::Decode, n, ctx));
        worst = worst.max((got / want - 1.0).abs());
        assert!((got / want - 1.0).abs() < 0.03, "decode {n} users at {ctx}: {got} interpolated, {want} simulated");
    }
    for (t, ctx) in [(48, 0), (100, 300), (200, 100)] {
        let (got, want) = (oracle.prefill_seconds(t as f64, ctx as f64).unwrap(), direct(Phase::Prefill, t, ctx));
        worst = worst.max((got / want - 1.0).abs());
        assert!((got / want - 1.0).abs() < 0.03, "prefill {t} after {ctx}: {got} interpolated, {want} simulated");
    }
    eprintln!("worst interpolation error {:.2}%", 100.0 * worst);
    // At a node, the oracle is the simulation.
    assert_eq!(oracle.decode_seconds(4.0, 512.0).unwrap(), direct(Phase::Decode, 4, 512));
}

#[test]
fn depth_extrapolation_matches_a_full_depth_simulation() {
    // Four layers, extrapolated from one and two.
    let m = model("llama-2-7b").first_layers(4).unwrap();
    let c = chip("mini-mesh");
    let w = WorkloadSpec::default().resolve(&m).unwrap();
    let sys = System { model: &m, chip: &c, workload: &w, request: &PlanRequest::default(), full_depth: false };
    let spec = GridSpec { max_users: 2, max_context: 512, max_prefill_tokens: 16, max_prefill_context: 0 };
    let plan = setup::serving_plan(&sys, &spec).unwrap();
    let target = Target { model: &m, chip: &c, plan: &plan, workload: &w, full_depth: false };
    assert_eq!(target.depths(), vec![1, 2]);
    let (oracle, _) = grid::build(&target, &spec, &mut StepCache::new(), 2, |_, _| {}).unwrap();
    for (phase, size, ctx) in [(Phase::Decode, 2, 512), (Phase::Prefill, 16, 0)] {
        let full = target.simulate(&Point { phase, size, context: ctx, layers: 4 }).unwrap().unwrap();
        let got = match phase {
            Phase::Decode => oracle.decode_seconds(size as f64, ctx as f64).unwrap(),
            Phase::Prefill => oracle.prefill_seconds(size as f64, ctx as f64).unwrap(),
        };
        assert!((got / full - 1.0).abs() < 0.01, "{phase:?} {size}: extrapolated {got}, full depth {full}");
    }
}

/// A grid node the chip cannot hold at full depth is missing, even where
/// the one-layer slice the grid simulates for it fits the plan's check but
/// not the lowering's memory layout (a layer's KV cache past its region
/// of HBM): it was an error that ended the whole study (`serve --prompt
/// 100000` on h100, after 38 s of grid).
#[test]
fn a_node_that_does_not_fit_at_full_depth_is_missing_whatever_its_slice_does() {
    let m = model("llama-2-7b").first_layers(4).unwrap();
    // serve-kv with 2 GiB of HBM a chip: a layer's weights are 202 MB a
    // chip at tp 2, its KV cache 8 KiB a token.
    let mut c = serve_kv();
    let tilesim::chip::Memory::Hbm { capacity, .. } = &mut c.memory else { panic!("serve-kv has HBM") };
    *capacity = tilesim::units::Bytes(2 << 30);
    let w = WorkloadSpec::default().resolve(&m).unwrap();
    let request = PlanRequest { tp: Some(2), ..Default::default() };
    let sys = System { model: &m, chip: &c, workload: &w, request: &request, full_depth: false };
    let spec = GridSpec { max_users: 64, max_context: 3150, max_prefill_tokens: 16, max_prefill_context: 0 };
    let plan = setup::serving_plan(&sys, &spec).unwrap();
    let target = Target { model: &m, chip: &c, plan: &plan, workload: &w, full_depth: false };
    assert_eq!(target.depths(), vec![1, 2]);
    // 64 users at 3,150 tokens: 1.54 GiB of one layer's KV cache a chip,
    // which one layer's plan fits in 2 GiB but the layout (KV from a
    // quarter of HBM up) does not; four layers need 7.3 GiB.
    let big = |layers| Point { phase: Phase::Decode, size: 64, context: 3150, layers };
    assert_eq!(target.simulate(&big(1)).unwrap(), None);
    assert_eq!(target.simulate(&big(2)).unwrap(), None);
    assert!(target.fit_error(&big(4)).contains("does not fit"), "{}", target.fit_error(&big(4)));
    // A node that fits at full depth still simulates.
    let small = Point { phase: Phase::Decode, size: 2, context: 512, layers: 1 };
    assert!(target.simulate(&small).unwrap().is_some());
}

#[test]
fn far_below_capacity_ttft_is_one_simulated_prefill_and_tpot_one_decode_step() {
    let m = model("llama-2-7b").first_layers(1).unwrap();
    let c = chip("mini-mesh");
    let w = WorkloadSpec::default().resolve(&m).unwrap();
    let sys = System { model: &m, chip: &c, workload: &w, request: &PlanRequest::default(), full_depth: false };
    // One request every 10 s, 128-token prompts (a node of the prefill
    // axis), 16 tokens out.
    let reqs = Generator {
        arrivals: Arrivals::Gamma { cv: 0.0 },
        rate: 0.1,
        prompt: Lengths::Fixed(128),
        output: Lengths::Fixed(16),
        seed: 0,
    }
    .generate(5)
    .unwrap();
    let limits = Limits { max_batch: 8, token_budget: 256 };
    let (pool, _) =
        setup::real_pool(&sys, Role::Unified, Policy::Vllm, limits, 16, &reqs, &mut StepCache::new(), 2, |_, _| {})
            .unwrap();
    let plan = setup::serving_plan(&sys, &setup::grid_spec(Role::Unified, Policy::Vllm, &limits, &reqs)).unwrap();
    let target = Target { model: &m, chip: &c, plan: &plan, workload: &w, full_depth: false };
    let prefill = target.simulate(&Point { phase: Phase::Prefill, size: 128, context: 0, layers: 1 }).unwrap().unwrap();
    let setup = Setup {
        model: m.name.clone(),
        policy: Policy::Vllm,
        block_tokens: 16,
        kv_bytes_per_token: 0.0,
        pools: Pools::Unified(Box::new(pool)),
    };
    let Pools::Unified(p) = &setup.pools else { unreachable!() };
    let oracle = &p.oracle;
    // The decode steps read 128..142 cached tokens.
    let decode: f64 = (128..143)
        .map(|ctx| {
            oracle
                .step_seconds(&tilesim::serve::Step {
                    decode_users: 1,
                    decode_context: ctx as f64,
                    ..Default::default()
                })
                .unwrap()
        })
        .sum::<f64>()
        / 15.0;
    // At a decode node the oracle is the simulation.
    let one = target.simulate(&Point { phase: Phase::Decode, size: 1, context: 0, layers: 1 }).unwrap().unwrap();
    assert_eq!(oracle.step_seconds(&tilesim::serve::Step { decode_users: 1, ..Default::default() }).unwrap(), one);
    let out = setup.run(&reqs, false).unwrap();
    let (recs, _) = setup.summary(&reqs, &out, Slo::default());
    for r in recs {
        assert!((r.ttft_seconds / prefill - 1.0).abs() < 1e-9, "TTFT {} vs one prefill {prefill}", r.ttft_seconds);
        let tpot = r.tpot_seconds.unwrap();
        assert!((tpot / decode - 1.0).abs() < 1e-9, "TPOT {tpot} vs one decode step {decode}");
    }
}

#[test]
fn a_kv_cache_of_ten_requests_makes_the_eleventh_wait_or_preempt() {
    let chip_args = ["--model", "llama-2-7b", "--layers", "1", "--chip", "tests/chips/serve-kv.toml", "--tp", "2"];
    let cache = cache();
    let run = |scheduler: &str, trace: &str| -> String {
        let args = with(
            &chip_args,
            &["--trace", trace, "--scheduler", scheduler, "--token-budget", "128", "--cache", &cache, "--json"],
        );
        serve(&args).0
    };
    // The cache the command will find: the plan for the largest step (a
    // 128-token prefill) and what its weights leave of 452 MiB a chip.
    let (m, c) = (model("llama-2-7b").first_layers(1).unwrap(), serve_kv());
    let w = WorkloadSpec::default().resolve(&m).unwrap();
    let sys = System {
        model: &m,
        chip: &c,
        workload: &w,
        request: &PlanRequest { tp: Some(2), ..Default::default() },
        full_depth: false,
    };
    let spec = GridSpec { max_users: 11, max_context: 128, max_prefill_tokens: 128, max_prefill_context: 0 };
    let plan = setup::serving_plan(&sys, &spec).unwrap();
    let cap = tilesim::serve::kv::capacity(&m, &c, &w, &setup::largest_pass(&sys, &spec), &plan);
    let pages = cap.tokens / 16;
    assert!((50..=80).contains(&pages), "{pages} pages");
    // Requests of exactly a tenth of the cache, in whole 16-token pages.
    let per = pages / 10 * 16;
    let eleven = |name: &str, prompt: u64| {
        let mut t = String::from("arrival_seconds,prompt_tokens,output_tokens\n");
        for _ in 0..11 {
            t.push_str(&format!("0,{prompt},{}\n", per - prompt));
        }
        write(name, &t)
    };
    // Whole requests reserved: the 11th waits; nothing is preempted.
    let json = run("static", &eleven("static.csv", per - 8));
    assert_eq!((json_num(&json, "requests_delayed_by_kv"), json_num(&json, "preemptions")), (1.0, 0.0));
    assert_eq!(pool_num(&json, "kv_pages") as u64, pages);
    // The cost of the 2 chips the plan uses, of the system's 3.
    assert_eq!((pool_num(&json, "chips_used"), pool_num(&json, "chips_in_system")), (2.0, 3.0));
    assert_eq!(json_num(&json, "price_usd_charged"), 20000.0);
    // vLLM reserves prompts: prompts that fill the cache make the 11th wait ...
    let json = run("vllm", &eleven("full-prompts.csv", per - 8));
    assert_eq!((json_num(&json, "requests_delayed_by_kv"), json_num(&json, "preemptions")), (1.0, 0.0));
    // ... and half-size prompts all get in, then preempt as they grow.
    let json = run("vllm", &eleven("half-prompts.csv", per / 2));
    assert!(json_num(&json, "preemptions") >= 1.0, "{json}");
    assert_eq!(json_num(&json, "requests"), 11.0);
}

#[test]
fn output_is_the_same_for_any_jobs_and_the_cache_changes_nothing_but_time() {
    let base = with(
        SMALL,
        &[
            "--rate",
            "30",
            "--requests",
            "40",
            "--prompt",
            "uniform:16:96",
            "--output",
            "lognormal:12:0.5",
            "--seed",
            "3",
        ],
    );
    let base = with(&base, &["--max-batch", "4", "--token-budget", "128", "--scheduler", "sarathi"]);
    let (csv1, csv2, csv3) = (file("jobs1.csv"), file("jobs2.csv"), file("cached.csv"));
    let (csv1, csv2, csv3) = (csv1.to_str().unwrap(), csv2.to_str().unwrap(), csv3.to_str().unwrap());
    let own_cache = file("own-cache");
    let own_cache = own_cache.to_str().unwrap();
    // One thread, simulating into an empty cache; two threads, no cache.
    let (a, err1) = serve(&with(&base, &["--cache", own_cache, "--jobs", "1", "--json", "-o", csv1]));
    let (b, _) = serve(&with(&base, &["--no-cache", "--jobs", "2", "--json", "-o", csv2]));
    assert_eq!(a, b);
    assert_eq!(std::fs::read(csv1).unwrap(), std::fs::read(csv2).unwrap());
    // The second run with the cache simulates nothing and says the same.
    let (c, err2) = serve(&with(&base, &["--cache", own_cache, "--json", "-o", csv3]));
    assert!(err1.contains(" 0 from the cache") && err2.contains(": 0 simulations"), "{err1}\n{err2}");
    assert_eq!(a, c);
    assert_eq!(std::fs::read(csv1).unwrap(), std::fs::read(csv3).unwrap());
    let text = std::fs::read_to_string(own_cache).unwrap();
    assert!(text.starts_with("tilesim-step-cache 1 source="), "{text}");
    // A cache from another build is dropped with a warning and rewritten
    // (a one-request run with a tiny grid).
    let stale = write("stale-cache", "tilesim-step-cache 1 source=0000\ndecode x\t1.0\n");
    let one = write("one.csv", "arrival_seconds,prompt_tokens,output_tokens\n0,4,2\n");
    let (_, err) = serve(&with(SMALL, &["--trace", &one, "--token-budget", "16", "--cache", &stale]));
    assert!(err.contains("warning:") && err.contains("another build"), "{err}");
    assert!(std::fs::read_to_string(&stale).unwrap().contains(&format!("source={}", tilesim::serve::cache::SOURCE)));
    // The per-request CSV: a header and one row per request.
    let csv = std::fs::read_to_string(csv1).unwrap();
    assert!(csv.starts_with("id,arrival_seconds,prompt_tokens,output_tokens,first_token_seconds"), "{csv}");
    assert_eq!(csv.lines().count(), 41);
    for key in [
        "\"schema_version\": 1",
        "\"ttft_seconds\"",
        "\"p99\"",
        "\"tpot_seconds\"",
        "\"tokens_per_second\"",
        "\"goodput_requests_per_second\"",
        "\"preemptions\"",
    ] {
        assert!(a.contains(key), "{key} missing from {a}");
    }
}

#[test]
fn a_timeline_opens_as_chrome_trace_json() {
    let tl = file("timeline.json");
    let cache = cache();
    serve(&with(
        SMALL,
        &[
            "--rate",
            "50",
            "--requests",
            "10",
            "--prompt",
            "32",
            "--output",
            "8",
            "--max-batch",
            "8",
            "--token-budget",
            "64",
            "--cache",
            &cache,
            "--timeline",
            tl.to_str().unwrap(),
        ],
    ));
    let text = std::fs::read_to_string(&tl).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let events = v["traceEvents"].as_array().unwrap();
    assert!(events.iter().any(|e| e["ph"] == "X" && e["name"].as_str().unwrap().starts_with("prefill")));
    assert!(events.iter().any(|e| e["ph"] == "X" && e["name"].as_str().unwrap().starts_with("decode")));
    assert!(events.iter().any(|e| e["ph"] == "C" && e["name"] == "KV pages used"));
}

#[test]
fn sweep_rate_finds_a_frontier_that_plot_draws() {
    let csv = file("frontier.csv");
    let svg = file("frontier.svg");
    let cache = cache();
    let (_, err) = serve(
        &with(
            SMALL,
            &[
                "--sweep-rate",
                "--requests",
                "60",
                "--prompt",
                "32",
                "--output",
                "8",
                "--max-batch",
                "8",
                "--token-budget",
                "64",
            ],
        )
        .into_iter()
        .chain(["--slo-ttft", "200", "--slo-tpot", "1,30,60", "--cache", &cache, "-o", csv.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    assert!(err.contains("searched 3 frontier points"), "{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), tilesim::serve::frontier::COLUMNS.join(","));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.iter().map(|r| r[1]).collect::<Vec<_>>(), ["unreachable", "ok", "ok"], "{text}");
    let rate = |r: &Vec<&str>| r[5].parse::<f64>().unwrap();
    assert!(rate(&rows[2]) >= rate(&rows[1]) && rate(&rows[1]) > 0.0, "{text}");
    let (code, _, err) = text_of(&[
        "plot",
        csv.to_str().unwrap(),
        "--x",
        "target_tokens_per_second_per_user",
        "--y",
        "tokens_per_second",
        "--series",
        "chip",
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
}

fn text_of(args: &[&str]) -> (i32, String, String) {
    text(&tilesim(args))
}

#[test]
fn disaggregated_pools_move_the_kv_over_the_chip_links() {
    let trace = write("disagg.csv", "arrival_seconds,prompt_tokens,output_tokens\n0,64,8\n0.5,64,8\n1,96,4\n");
    let cache = cache();
    let (json, _) = serve(&[
        "--model",
        "llama-2-7b",
        "--layers",
        "1",
        "--prefill-chips",
        "tests/chips/serve-kv.toml",
        "--decode-chips",
        "tests/chips/serve-kv.toml",
        "--tp",
        "2",
        "--token-budget",
        "128",
        "--trace",
        &trace,
        "--cache",
        &cache,
        "--json",
    ]);
    assert_eq!(json_num(&json, "kv_transfers"), 3.0);
    // KV of 64 + 64 + 96 tokens: 1 layer x K and V x 4096 x 2 bytes each.
    assert_eq!(json_num(&json, "kv_transfer_bytes"), 224.0 * 16384.0);
    assert_eq!(json_num(&json, "chips_used"), 4.0);
    // A single-chip system has no links to carry the KV.
    let (code, err) = failing(&[
        "--model",
        "llama-2-7b",
        "--layers",
        "1",
        "--prefill-chips",
        "mini-mesh",
        "--decode-chips",
        "mini-mesh",
        "--trace",
        &trace,
        "--cache",
        &cache,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not implemented") && err.contains("chip links"), "{err}");
}

#[test]
fn bad_input_exits_2_with_a_located_message_and_no_output_file() {
    let out = file("never.csv");
    let out_s = out.to_str().unwrap();
    let bad = write("bad.csv", "arrival_seconds,prompt_tokens,output_tokens\n0,10,5\n1,ten,5\n");
    let (code, err) = failing(&with(SMALL, &["--trace", &bad, "--no-cache", "-o", out_s]));
    assert_eq!(code, 2);
    assert!(err.contains("bad.csv:3: prompt_tokens: expected a whole number of tokens, found `ten`"), "{err}");
    let foreign = write("notes.txt", "my notes\n");
    let (code, err) = failing(&with(SMALL, &["--rate", "1", "--cache", &foreign, "-o", out_s]));
    assert_eq!(code, 2);
    assert!(err.contains("notes.txt:1: not a tilesim step-time cache"), "{err}");
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "my notes\n");
    for (args, what) in [
        (vec!["--rate", "1", "--prompt", "uniform:9:3"], "--prompt: `uniform:9:3`"),
        (vec!["--rate", "1", "--arrival", "weibull"], "--arrival"),
        (vec!["--rate", "1", "--scheduler", "fifo"], "unknown scheduler `fifo`"),
        (vec!["--rate", "0"], "--rate must be a positive"),
        (vec!["--rate", "1", "--slo-tpot", "0"], "--slo-tpot must be a positive"),
        (vec!["--rate", "1", "--prompt", "4000", "--token-budget", "1000"], "--token-budget is 1000"),
        (vec![], "give --rate R"),
        // Only a rate search has an attainment target: not silently ignored.
        (vec!["--rate", "1", "--attainment", "0.5"], "--sweep-rate"),
    ] {
        let (code, err) = failing(&with(&with(SMALL, &args), &["--no-cache", "-o", out_s]));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(what), "{args:?}: {err}");
    }
    let (code, _) = failing(&["--model", "llama-2-7b", "--chip", "mini-mesh", "--rate", "1", "--trace", &bad]);
    assert_eq!(code, 2);
    // A trace that is not text, an output that is an input, too many
    // requests for the memory budget: refused before anything runs.
    let binary = file("binary.csv");
    std::fs::write(&binary, b"arrival_seconds,prompt_tokens,output_tokens\n0,10,5\n\xff\xfe,1,1\n").unwrap();
    let (code, err) = failing(&with(SMALL, &["--trace", binary.to_str().unwrap(), "--no-cache", "-o", out_s]));
    assert_eq!(code, 2);
    assert!(err.contains("binary.csv:3: not UTF-8 text"), "{err}");
    let good = write("good.csv", "arrival_seconds,prompt_tokens,output_tokens\n0,10,5\n");
    let (code, err) = failing(&with(SMALL, &["--trace", &good, "--no-cache", "-o", &good]));
    assert_eq!(code, 2);
    assert!(err.contains("is the input"), "{err}");
    assert_eq!(std::fs::read_to_string(&good).unwrap(), "arrival_seconds,prompt_tokens,output_tokens\n0,10,5\n");
    let (code, err) = failing(&with(SMALL, &["--rate", "1", "--requests", "100000000000", "--no-cache", "-o", out_s]));
    assert_eq!(code, 2);
    assert!(err.contains("--requests 100000000000 needs about"), "{err}");
    assert!(!out.exists(), "no output file after an error");
}
