//! Issue 11, honest reports: price and power charged for the chips a plan
//! uses; every shipped config priced or saying why not.

mod common;

use common::{chip, decode, model, run};
use tilesim::compiler::PlanRequest;
use tilesim::config::shipped::CHIPS;
use tilesim::report::compare::Row;

/// Configs that are network or teaching references, not parts anyone
/// prices: each says so in a `# [cost]: none` comment instead.
const UNPRICED: [&str; 5] = ["booksim-mesh8x8", "booksim-torus8x8", "mesh8x8", "torus8x8", "mini-mesh"];

#[test]
fn every_shipped_config_has_a_price_and_a_power_or_says_why_not() {
    for (stem, text) in CHIPS {
        let c = chip(stem);
        if UNPRICED.contains(stem) {
            assert!(c.cost.chip_price_usd.is_none() && c.cost.chip_power_w.is_none(), "{stem}");
            assert!(text.contains("# [cost]: none."), "{stem}: an unpriced config must say why");
            continue;
        }
        assert!(c.cost.chip_price_usd.is_some_and(|p| p > 0.0), "{stem}: no chip_price_usd");
        assert!(c.cost.chip_power_w.is_some_and(|p| p > 0.0), "{stem}: no chip_power");
        // Every figure carries a comment: a citation or an estimate's derivation.
        let cost = &text[text.find("[cost]").expect("a [cost] table")..];
        let cost = cost[6..].split("\n[").next().unwrap();
        assert!(cost.contains('#'), "{stem}: [cost] without a source or derivation");
    }
}

#[test]
fn charged_is_the_chips_used_and_the_nodes_they_occupy() {
    let c = chip("dgx-h100");
    let k = &c.cost;
    let (p, w) = (k.chip_price_usd.unwrap(), k.chip_power_w.unwrap());
    let all = k.charged(8);
    assert_eq!((all.chips_charged, all.nodes_charged), (8, 1));
    assert_eq!(all.price_usd, Some(8.0 * p + k.node_price_usd));
    assert_eq!(all.price_usd, k.price_usd, "the whole system is what eight GPUs and their node cost");
    assert_eq!(all.power_w, Some(8.0 * w + k.node_power_w));
    let two = k.charged(2);
    assert_eq!((two.chips_charged, two.nodes_charged), (2, 1));
    assert_eq!(two.price_usd, Some(2.0 * p + k.node_price_usd));

    let g = chip("groq-576");
    let used = g.cost.charged(328);
    assert_eq!(used.nodes_charged, 41, "328 chips fill 41 nodes of 8");
    let expect = 328.0 * g.cost.chip_price_usd.unwrap() + 41.0 * g.cost.node_price_usd;
    assert_eq!(used.price_usd, Some(expect));
    assert!(used.price_usd < g.cost.price_usd);
}

#[test]
fn compare_charges_the_plans_chips_not_the_system() {
    let m = model("llama-2-70b");
    let mut w = decode(&m);
    w.weights = tilesim::dtype::Dtype::Fp8;
    for name in ["groq-576", "cerebras-cs3x4"] {
        let c = chip(name);
        let row = Row::planned(&m, &c, &w, &PlanRequest::default()).unwrap();
        assert!(row.chips_used < c.system.chips, "{name}: the plan uses {} chips", row.chips_used);
        assert_eq!(row.cost, c.cost.charged(row.chips_used), "{name}");
        assert!(row.cost.price_usd.unwrap() < c.cost.price_usd.unwrap(), "{name}");
        assert!(row.cost.power_w.unwrap() < c.cost.power_w.unwrap(), "{name}");
    }
}

#[test]
fn run_charges_the_chips_its_trace_ran_on() {
    let m = model("llama-2-7b").first_layers(1).unwrap();
    let c = chip("dgx-h100");
    let mut w = decode(&m);
    w.context = 128;
    let r = run(&m, &c, &w, &PlanRequest { tp: Some(2), ..Default::default() });
    assert_eq!((r.cost.chips_charged, r.cost.nodes_charged), (2, 1));
    assert_eq!(r.cost.price_usd, c.cost.charged(2).price_usd);
    // Per joule from the energy model (arch/energy.md), of the same chips
    // and node: static power of 2 GPUs and 1 node at least, the power
    // charged (their TDP and the node's) at most.
    let e = r.energy.as_ref().expect("an [energy] section");
    let tpj = r.cost.tokens_per_joule.expect("a per-joule figure");
    assert_eq!(Some(tpj), e.tokens_per_joule);
    let static_w = 2.0 * c.energy.as_ref().unwrap().chip_static_w + c.energy.as_ref().unwrap().node_static_w;
    assert!((e.joules.static_ - static_w * r.seconds).abs() < 1e-9 * e.joules.static_);
    assert_eq!(e.charged_power_w, c.cost.charged(2).power_w);
    assert!(tpj >= r.tokens_per_second / c.cost.charged(2).power_w.unwrap(), "average power under the power charged");
    assert!(tpj < r.tokens_per_second / static_w, "more than static power");
}

#[test]
fn a_whole_system_price_is_refused_naming_the_per_chip_fields() {
    let text = tilesim::config::shipped::get(tilesim::config::shipped::Kind::Chip, "h100").unwrap();
    let old = text.replace("chip_price_usd = 27500", "price_usd = 27500");
    let e = tilesim::config::chip::load_str("h100.toml", &old).unwrap_err().to_string();
    assert!(e.contains("h100.toml:") && e.contains("chip_price_usd"), "{e}");
}

#[test]
fn run_and_compare_print_the_same_floor() {
    let m = model("llama-2-7b").first_layers(2).unwrap();
    for (name, req) in [
        ("dgx-h100", PlanRequest { tp: Some(2), ..Default::default() }),
        ("groq-576", PlanRequest::default()),
        ("mini-mesh", PlanRequest::default()),
    ] {
        let c = chip(name);
        let mut w = decode(&m);
        w.context = 128;
        let row = Row::planned(&m, &c, &w, &req).unwrap();
        let r = run(&m, &c, &w, &req);
        let f = r.floor.as_ref().unwrap_or_else(|| panic!("{name}: {:?}", r.floor_unavailable));
        assert_eq!(f, &row.floor, "{name}");
        assert!(r.seconds >= f.seconds, "{name}: simulated {} beats the floor {}", r.seconds, f.seconds);
        assert_eq!(f.seconds, f.throughput_seconds.max(f.latency_seconds));
    }
}

#[test]
fn on_groq_576_the_latency_floor_is_the_larger() {
    let m = model("llama-2-70b");
    let mut w = decode(&m);
    w.weights = tilesim::dtype::Dtype::Fp8;
    let c = chip("groq-576");
    let row = Row::planned(&m, &c, &w, &PlanRequest::default()).unwrap();
    let f = &row.floor;
    assert_eq!(f.bound, "latency");
    assert!(f.latency_seconds > f.throughput_seconds);
    // The chain: pp - 1 hand-offs per step plus one back between steps,
    // and two all-reduces per layer per step.
    let plan = tilesim::compiler::plan::choose(&m, &w, &c, &PlanRequest::default()).unwrap();
    let pp = plan.pp as u64;
    assert_eq!(f.latency.stage_handoffs, (pp - 1) * plan.steps + plan.steps - 1);
    assert_eq!(f.latency.all_reduces, 2 * m.layers * plan.steps);
}

#[test]
fn a_synthetic_trace_says_why_it_has_no_floor() {
    let c = chip("booksim-mesh8x8");
    let t = tilesim::trace::Trace::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/traces/uniform-r0.1-p4-booksim-mesh8x8.trace"
    )))
    .unwrap();
    let s = tilesim::sim::simulate(&c, &t, &Default::default()).unwrap();
    let r = tilesim::report::run::RunReport::new(&c, &t, &s);
    assert!(r.floor.is_none() && r.over_floor.is_none());
    assert!(r.floor_unavailable.as_deref().unwrap().contains("synthetic"), "{:?}", r.floor_unavailable);
}

#[test]
fn a_described_workload_reads_back() {
    let m = model("llama-3-8b");
    let mut w = decode(&m);
    w.batch = 8;
    w.accept_rate = 0.75;
    w.act = tilesim::dtype::Dtype::Bf16;
    let back = tilesim::floor::parse_workload(&w.describe()).unwrap();
    assert_eq!(back.describe(), w.describe());
    assert!(tilesim::floor::parse_workload("decode batch=x").is_err());
}

/// A trace compiled from a model config that is not shipped (a Hugging Face
/// config.json here) has no floor in `run` unless `--model` gives the
/// config; then it is the floor `compare` prints. A config of another
/// model is refused before the run.
#[test]
fn run_rebuilds_the_floor_of_a_model_from_a_file_given_with_model() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("mistral.tbin");
    let t = trace.to_str().unwrap();
    let config = "tests/data/hf/mistral-7b-v0.1/config.json";
    let compile = ["compile", "--model", config, "--chip", "mini-mesh", "--layers", "2", "--context", "128", "-o", t];
    assert!(common::tilesim(&compile).status.success());
    let json = |args: &[&str]| {
        let out = common::tilesim(args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };

    let without = json(&["run", t, "--json"]);
    assert!(without["floor"].is_null());
    let why = without["floor_unavailable"].as_str().unwrap();
    assert!(why.contains("not a shipped model") && why.contains("--model"), "{why}");

    let with = json(&["run", t, "--model", config, "--json"]);
    let m = tilesim::api::load_model(&format!("{}/{config}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let m = m.first_layers(2).unwrap();
    let mut w = decode(&m);
    w.context = 128;
    let row = Row::planned(&m, &chip("mini-mesh"), &w, &PlanRequest::default()).unwrap();
    assert_eq!(with["floor"]["seconds"].as_f64(), Some(row.floor.seconds), "{}", with["floor"]);
    assert_eq!(with["cycles"], without["cycles"], "the model only rebuilds the floor");

    let wrong = common::tilesim(&["run", t, "--model", "llama-2-7b"]);
    assert_eq!(wrong.status.code(), Some(2));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("--model gives `llama-2-7b`, but the trace is of `mistral-7b-v0.1`"), "{err}");
}
