//! The tiled strategy (arch/compiler.md, "Tiled"): what the mapping moves
//! over the NoC against its closed form, the chips it is chosen for, and a
//! sweep of topologies and plans that must compile, add up to the model and
//! run without a deadlock or an unmatched message.

mod common;

use common::{chip, decode, model};
use tilesim::chip::Chip;
use tilesim::compiler::{self, PlanRequest, Strategy, Workload, analytic, regions};
use tilesim::model::Model;
use tilesim::roofline::TraceTotals;
use tilesim::sim::network::LinkClass;

/// NoC bytes one decode step of `m` should move under the tiled strategy
/// on one region of `rows` x `cols` tiles, per token in the step, from the
/// formula of arch/compiler.md ("Tiled: traffic"): every matrix multicasts
/// its input along one grid dimension (a line of L tiles: 2L - 1 links: the
/// injection, L - 1 router links, L - 1 ejections) and reduces its outputs
/// along the other (L - 1 chain hops of 3 links: injection, router link,
/// ejection); attention multicasts each row's Q, K and V along the row and
/// reduces its output along it.
fn tiled_noc_bytes_per_token(m: &Model, act: f64, rows: f64, cols: f64) -> f64 {
    let (h, q, kv, f) = (m.hidden as f64, m.q_dim() as f64, m.kv_dim() as f64, m.ffn as f64);
    let qkv = q + 2.0 * kv;
    let down_cols = |len: f64| 2.0 * len - 1.0;
    let chain = |len: f64| 3.0 * (len - 1.0);
    let layer = down_cols(rows) * h + chain(cols) * qkv // QKV: hidden down columns, outputs along rows
        + down_cols(cols) * qkv + chain(cols) * q // attention: Q/K/V along rows, output along rows
        + down_cols(cols) * q + chain(rows) * h // O: along rows, down columns
        + down_cols(rows) * h + chain(cols) * 2.0 * f // gate/up
        + down_cols(cols) * f + chain(rows) * h; // down
    let head = down_cols(rows) * h + chain(cols) * m.vocab as f64;
    act * (m.layers as f64 * layer + head)
}

/// The case: llama-3-8b decode at batch 1 on one WSE-3 wafer.
#[test]
fn wafer_decode_moves_what_the_formula_says_and_no_injection_link_binds() {
    let (m, c) = (model("llama-3-8b"), chip("cerebras-wse3"));
    let w = Workload { context: 1024, ..decode(&m) };
    let req = PlanRequest { steps: Some(1), ..Default::default() };
    let compiled = compiler::compile(&m, &c, &w, &req).expect("compiles");
    assert_eq!(compiled.plan.strategy, Strategy::Tiled, "the wafer's default strategy");
    let trace = compiled.trace();
    let stats = tilesim::sim::simulate(&c, &trace, &Default::default()).expect("runs");
    let tokens = trace.header.tokens;
    let noc = stats.bytes.noc as f64 / tokens;

    // At least 10x below the root strategy's 23.9 GiB per token.
    let root_strategy = 23.9 * (1u64 << 30) as f64;
    assert!(noc * 10.0 <= root_strategy, "NoC bytes per token {noc:.3e}: not 10x below {root_strategy:.3e}");

    // Within 20% of the formula, region by region (every region runs a
    // share of the layers; the formula is per layer).
    let rs = regions::layout(&c, compiled.plan.regions);
    let layers_per_region = m.layers as f64 / rs.len() as f64;
    let mut want = 0.0;
    for r in &rs {
        let mut one = m.clone();
        one.layers = 1;
        let per_layer = tiled_noc_bytes_per_token(&one, 2.0, r.rows as f64, r.cols as f64)
            - tiled_noc_bytes_per_token(&Model { layers: 0, ..one.clone() }, 2.0, r.rows as f64, r.cols as f64);
        want += per_layer * layers_per_region;
    }
    let last = rs.last().expect("a region");
    want += tiled_noc_bytes_per_token(&Model { layers: 0, ..m.clone() }, 2.0, last.rows as f64, last.cols as f64);
    let err = (noc - want) / want;
    eprintln!(
        "llama-3-8b on cerebras-wse3 ({} regions): NoC {:.1} MiB/token, formula {:.1} MiB ({:+.1}%)",
        rs.len(),
        noc / (1 << 20) as f64,
        want / (1 << 20) as f64,
        100.0 * err
    );
    assert!(err.abs() <= 0.20, "simulated NoC bytes {noc:.3e} vs formula {want:.3e} ({:+.1}%)", 100.0 * err);

    // The busiest link is not a tile's injection link.
    let busiest = (0..stats.links.len()).max_by_key(|&l| stats.link_state[l].busy_ticks).expect("links");
    assert_ne!(stats.links[busiest].class, LinkClass::Inject, "busiest link is an injection link");
}

#[test]
fn sram_3d_dram_wafer_and_grid_hbm_chips_default_to_tiled_gpus_to_memory() {
    for (name, want) in [
        ("mesh-3ddram", Strategy::Tiled),
        ("wormhole-t3000", Strategy::Tiled),
        ("groq-576", Strategy::Tiled),
        ("cerebras-cs3x4", Strategy::Tiled),
        ("h100", Strategy::Memory),
        ("dgx-h100", Strategy::Memory),
    ] {
        let (got, why) = Strategy::default_for(&chip(name));
        assert_eq!(got, want, "{name}: {why}");
    }
}

/// A small model every test chip holds.
fn tiny(kv_heads: u64, experts: u64) -> Model {
    let text = format!(
        "name = \"tiny\"\ndescription = \"test\"\nlayers = 4\nhidden = 512\nheads = 8\nkv_heads = {kv_heads}\n\
         head_dim = 64\nffn = 1024\nvocab = 1000\nexperts = {experts}\ntop_k = {}\ndtype = \"fp16\"\n\
         tied_embeddings = false\n",
        experts.min(2)
    );
    tilesim::config::model::load_str("tiny.toml", &text).expect("tiny model")
}

fn test_chip(name: &str) -> Chip {
    let path = format!("{}/tests/chips/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("test chip");
    tilesim::config::chip::load_str(&path, &text).expect("loads")
}

/// Meshes, tori, a crossbar and multi-chip rings, switches and tori, with
/// tensor, pipeline and expert parallelism, regions, several users,
/// speculative decoding, GQA with fewer KV groups than rows and prefill:
/// every trace adds up to the model and runs to the end.
#[test]
fn tiled_traces_add_up_and_run_on_every_topology_and_plan() {
    let chips: Vec<Chip> = vec![
        chip("mesh8x8"),
        chip("torus8x8"),
        chip("groq-lpu"),
        chip("mini-mesh"),
        test_chip("ar-ring"),
        test_chip("ar-switch"),
        test_chip("ar-torus"),
    ];
    let mut runs = 0;
    for c in &chips {
        for (m, plans) in [
            (tiny(8, 1), vec![(None, None, None, None), (None, None, Some(2), None), (None, Some(2), None, Some(2))]),
            (tiny(2, 1), vec![(None, None, None, None), (Some(2), None, None, None)]),
            (tiny(2, 4), vec![(None, None, None, None), (Some(2), None, None, Some(2))]),
        ] {
            for (tp, pp, regions, ep) in plans {
                for w in [
                    Workload { context: 256, ..decode(&m) },
                    Workload { batch: 3, spec: 2, context: 100, ..decode(&m) },
                    Workload { phase: compiler::Phase::Prefill, prompt: 40, context: 0, batch: 2, ..decode(&m) },
                ] {
                    let req =
                        PlanRequest { tp, pp, ep, regions, strategy: Some(Strategy::Tiled), ..Default::default() };
                    let tag = format!(
                        "{} kv_heads={} experts={} on {} {req:?} {:?}",
                        m.name, m.kv_heads, m.experts, c.name, w.phase
                    );
                    let compiled = match compiler::compile(&m, c, &w, &req) {
                        Ok(x) => x,
                        // A plan this system cannot hold (more chips than it has, a
                        // region count its grid does not split into).
                        Err(compiler::CompileError::Plan(_) | compiler::CompileError::DoesNotFit(_)) => continue,
                        Err(e) => panic!("{tag}: {e}"),
                    };
                    let trace = compiled.trace();
                    let t = TraceTotals::of(c, &trace);
                    let want = analytic::for_plan(&m, &w, &compiled.plan);
                    let close = |got: f64, want: f64| (got - want).abs() <= 0.005 * want.max(1.0);
                    assert!(close(t.weight_bytes as f64, want.weight_bytes), "{tag}: weight bytes");
                    assert!(close(t.macs as f64, want.macs), "{tag}: MACs");
                    tilesim::sim::simulate(c, &trace, &Default::default()).unwrap_or_else(|e| panic!("{tag}: {e}"));
                    runs += 1;
                }
            }
        }
    }
    assert!(runs >= 60, "only {runs} plans ran");
}
