//! The compiler against closed forms and the claims of DESIGN.md: every
//! compiled trace adds up to the model's bytes and MACs; simulated decode
//! sits at or above the analytic floor (close to it on single HBM chips);
//! batching, speculative decoding, sparse KV and MoE move the numbers the
//! way the argument says.

mod common;

use common::{chip, decode, model, run};
use tilesim::compiler::{self, CompileError, PlanRequest, Workload, analytic};
use tilesim::config::shipped::{self, Kind};
use tilesim::dtype::Dtype;
use tilesim::roofline::TraceTotals;

fn close(what: &str, got: f64, want: f64, tol: f64) -> Result<(), String> {
    let err = if want == 0.0 { got.abs() } else { (got - want).abs() / want };
    if err <= tol {
        Ok(())
    } else {
        Err(format!("{what}: trace {got:.6e} vs closed form {want:.6e} ({:.3}% off)", err * 100.0))
    }
}

#[test]
fn every_compiled_trace_adds_up_to_the_model() {
    let mut failures = Vec::new();
    let mut compiled = 0;
    for (mname, _) in shipped::MODELS {
        let m = model(mname);
        for (cname, _) in shipped::CHIPS {
            let c = chip(cname);
            // A short prompt: longer ones are computed in blocks that read
            // weights or KV again (checked by long_prefill_is_split_...).
            for w in [decode(&m), Workload { phase: compiler::Phase::Prefill, context: 0, prompt: 32, ..decode(&m) }] {
                let comp = match compiler::compile(&m, &c, &w, &PlanRequest::default()) {
                    Ok(x) => x,
                    Err(CompileError::DoesNotFit(_)) => continue,
                    Err(e) => {
                        failures.push(format!("{mname} on {cname}: {e}"));
                        continue;
                    }
                };
                compiled += 1;
                let trace = comp.trace();
                let t = TraceTotals::of(&c, &trace);
                let want = analytic::for_plan(&m, &w, &comp.plan);
                compiled_matches(&format!("{mname} on {cname} ({:?})", w.phase), &t, &want, &mut failures);
            }
        }
    }
    assert!(compiled >= 40, "only {compiled} model x chip x phase combinations compiled");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// A Hugging Face config of tests/data/hf, sliced to its first `layers`.
fn imported(name: &str, layers: u64) -> tilesim::model::Model {
    let path = format!("{}/tests/data/hf/{name}/config.json", env!("CARGO_MANIFEST_DIR"));
    let m = tilesim::config::model::load_str(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
    m.first_layers(layers).unwrap()
}

#[test]
fn imported_mla_shared_expert_and_dense_layer_models_add_up_to_the_closed_forms() {
    // Slices holding a dense and an expert layer (DeepSeek-V3's first
    // three are dense), on every shipped chip and on a pipelined and an
    // expert-parallel plan.
    let mut failures = Vec::new();
    let mut compiled = 0;
    let models = [imported("deepseek-v2-lite", 2), imported("deepseek-v3", 4), imported("qwen1.5-moe-a2.7b", 2)];
    let mut cases = Vec::new();
    for m in &models {
        for (cname, _) in shipped::CHIPS {
            cases.push((m, cname.to_string(), PlanRequest::default()));
        }
        cases.push((m, "dgx-h100".to_string(), PlanRequest { pp: Some(2), ..Default::default() }));
    }
    let qwen = &models[2];
    cases.push((qwen, "dgx-h100".to_string(), PlanRequest { tp: Some(4), ep: Some(2), ..Default::default() }));
    for (m, cname, req) in cases {
        let c = chip(&cname);
        // A prompt whose queries fit one query block: MLA's absorbed queries
        // are heads x (kv_lora + rope) wide (147 KiB a token for V3), and each
        // further block reads the cache again (arch/compiler.md, "Blocks
        // larger than the buffers").
        let prompt = if m.mla.is_some() { 2 } else { 32 };
        for w in [
            Workload { context: 512, batch: 8, ..decode(m) },
            Workload { phase: compiler::Phase::Prefill, context: 0, prompt, ..decode(m) },
        ] {
            let comp = match compiler::compile(m, &c, &w, &req) {
                Ok(x) => x,
                Err(CompileError::DoesNotFit(_)) => continue,
                // Documented refusals: MLA off the memory strategy; a prompt
                // too large for mini-mesh's 1 MiB tiles.
                Err(CompileError::Unsupported(e))
                    if e.contains("only the memory strategy lowers") || e.contains("beyond the tile's SRAM") =>
                {
                    continue;
                }
                Err(e) => {
                    failures.push(format!("{} on {cname}: {e}", m.name));
                    continue;
                }
            };
            compiled += 1;
            let t = TraceTotals::of(&c, &comp.trace());
            let mut want = analytic::for_plan(m, &w, &comp.plan);
            // The router runs on every tensor-parallel chip (arch/compiler.md,
            // "What is approximate"): tp - 1 extra copies of its weights and
            // MACs per expert layer and pass. Qwen1.5-MoE's router is 0.14%
            // of a token's active weights, so at tp = 8 this is 1% of the MACs.
            let p = &comp.plan;
            let extra = (p.tp - 1) as f64 * m.router_params() as f64;
            for r in 0..p.dp {
                for users in p.micro_batches(r) {
                    for layers in &p.stages {
                        let moe = (layers.end - layers.start - m.dense_in(layers.clone())) as f64;
                        let tokens = (users * w.tokens_per_user()) as f64;
                        want.weight_bytes += p.steps as f64 * moe * extra * w.weights.bits() as f64 / 8.0;
                        want.macs += p.steps as f64 * moe * extra * tokens;
                    }
                }
            }
            let tag = format!("{} on {cname} ({:?}, {})", m.name, w.phase, comp.plan.describe());
            compiled_matches(&tag, &t, &want, &mut failures);
        }
    }
    assert!(compiled >= 20, "only {compiled} combinations compiled");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// The compiled trace's weight bytes, KV bytes and MACs within 0.5% of
/// the closed forms; a mismatch is pushed to `failures` under `tag`.
fn compiled_matches(tag: &str, t: &TraceTotals, want: &analytic::Totals, failures: &mut Vec<String>) {
    for r in [
        close("weight bytes", t.weight_bytes as f64, want.weight_bytes, 0.005),
        close("KV bytes", t.kv_read as f64, want.kv_bytes, 0.005),
        close("MACs", t.macs as f64, want.macs, 0.005),
    ] {
        if let Err(e) = r {
            failures.push(format!("{tag}: {e}"));
        }
    }
}

#[test]
fn groq_576_needs_8_bit_weights_for_llama_2_70b() {
    let (m, c) = (model("llama-2-70b"), chip("groq-576"));
    let w = decode(&m);
    match compiler::compile(&m, &c, &w, &PlanRequest::default()) {
        Err(CompileError::DoesNotFit(msg)) => {
            for needle in ["needs", "available", "Would fit", "groq-576"] {
                assert!(msg.contains(needle), "message lacks `{needle}`: {msg}");
            }
        }
        Err(e) => panic!("expected a does-not-fit error, got {e}"),
        Ok(_) => panic!("llama-2-70b in fp16 must not fit groq-576"),
    }
    let w8 = Workload { weights: Dtype::Int8, kv: Dtype::Int8, ..w };
    compiler::compile(&m, &c, &w8, &PlanRequest::default()).expect("int8 fits");
}

#[test]
fn mixtral_reads_about_13_of_47_billion_parameters_per_token() {
    let m = model("mixtral-8x7b");
    let w = decode(&m);
    let one = analytic::pass(&m, &w, 1, 0..m.layers, true);
    let active_params = one.weight_bytes / 2.0;
    assert!((active_params / 1e9 - 12.9).abs() < 0.5, "{active_params:e} parameters read at batch 1");
    // The compiled trace reads the same.
    let c = chip("dgx-h100");
    let comp = compiler::compile(&m, &c, &w, &PlanRequest::default()).unwrap();
    let t = TraceTotals::of(&c, &comp.trace());
    let per_step = t.weight_bytes as f64 / comp.plan.steps as f64;
    assert!((per_step / 2.0 / 1e9 - 12.9).abs() < 0.5, "trace reads {per_step:e} bytes");
    assert!((m.params() as f64 / 1e9 - 46.7).abs() < 0.5);
}

#[test]
fn decode_sits_at_or_above_the_floor_and_near_it_on_single_hbm_chips() {
    // Every dense model on every single-chip HBM config, plus a multi-chip
    // and an SRAM-only system for the "never below" half.
    let cases = [
        ("llama-2-7b", "h100", true),
        ("llama-3-8b", "h100", true),
        ("llama-2-7b", "a100", true),
        ("llama-3-8b", "a100", true),
        ("llama-2-7b", "dgx-h100", false),
        ("llama-2-7b", "groq-576", false),
        ("llama-2-7b", "mesh-3ddram", false),
        // Tiled regions on a wafer: the floor counts one region busy and
        // the NoC chain of every operation.
        ("llama-2-7b", "cerebras-wse3", false),
    ];
    let mut failures = Vec::new();
    for (mname, cname, near) in cases {
        let (m, c) = (model(mname), chip(cname));
        let w = decode(&m);
        let req = PlanRequest::default();
        let plan = compiler::plan::choose(&m, &w, &c, &req).unwrap();
        let floor = tilesim::report::compare::Row::floor(&m, &c, &w, &plan);
        let r = run(&m, &c, &w, &req);
        let ratio = r.seconds / floor.floor.seconds;
        // Kernel launch gaps and collective calls are modelled software
        // time (`[software]`), serial with the work on one chip: the
        // hardware part of the step is what must sit near the floor.
        let software = r.seconds * r.time.overhead;
        let hardware = (r.seconds - software) / floor.floor.seconds;
        eprintln!(
            "{mname} on {cname}: simulated {:.3} ms ({:.3} ms software), floor {:.3} ms, {ratio:.3}x ({hardware:.3}x without software)",
            r.seconds * 1e3,
            software * 1e3,
            floor.floor.seconds * 1e3
        );
        if ratio < 1.0 {
            failures.push(format!("{mname} on {cname} beats the floor: {ratio:.3}x"));
        }
        if near && hardware > 1.25 {
            failures.push(format!("{mname} on {cname} is {hardware:.3}x the floor without software gaps (> 1.25x)"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Llama-2-70B's shape with 8 of its 80 layers: the per-layer balance of
/// weights and KV is the model's, and a sweep stays quick.
fn llama70_slice() -> tilesim::model::Model {
    let mut m = model("llama-2-70b");
    m.layers = 8;
    m
}

#[test]
fn batching_raises_throughput_then_flattens_as_kv_grows() {
    let (m, c) = (llama70_slice(), chip("dgx-h100"));
    let req = PlanRequest { tp: Some(8), pp: Some(1), ..Default::default() };
    let batches = [1u64, 8, 32, 128];
    let tps: Vec<f64> = batches
        .iter()
        .map(|&b| {
            let w = Workload { batch: b, ..decode(&m) };
            let r = run(&m, &c, &w, &req);
            eprintln!("batch {b}: {:.1} tokens/s ({:.3} ms/step)", r.tokens_per_second, r.seconds * 1e3);
            r.tokens_per_second
        })
        .collect();
    for i in 1..tps.len() {
        assert!(tps[i] > tps[i - 1], "throughput fell from batch {} to {}: {tps:?}", batches[i - 1], batches[i]);
    }
    let gains: Vec<f64> = (1..tps.len()).map(|i| tps[i] / tps[i - 1] / (batches[i] / batches[i - 1]) as f64).collect();
    for i in 1..gains.len() {
        assert!(gains[i] < gains[i - 1], "per-user gain did not shrink with batch: {gains:?}");
    }
}

#[test]
fn speculative_decoding_gains_less_than_its_length() {
    let (m, c) = (model("llama-2-7b"), chip("h100"));
    let req = PlanRequest::default();
    let one = run(&m, &c, &decode(&m), &req);
    let four = run(&m, &c, &Workload { spec: 4, ..decode(&m) }, &req);
    let gain = four.tokens_per_second / one.tokens_per_second;
    eprintln!("spec 4 vs 1: {gain:.2}x tokens per step-time");
    assert!(gain > 1.0 && gain < 4.0, "gain {gain}");
}

#[test]
fn sparse_kv_cuts_long_context_many_user_steps() {
    let (m, c) = (llama70_slice(), chip("dgx-h100"));
    let req = PlanRequest { tp: Some(8), pp: Some(1), ..Default::default() };
    let w = Workload { batch: 16, context: 32768, ..decode(&m) };
    let full = run(&m, &c, &w, &req);
    let sparse = run(&m, &c, &Workload { kv_keep: 0.25, ..w }, &req);
    eprintln!("kv-keep 1.0: {:.3} ms; 0.25: {:.3} ms", full.seconds * 1e3, sparse.seconds * 1e3);
    assert!(sparse.seconds < 0.75 * full.seconds, "{} vs {}", sparse.seconds, full.seconds);
}

#[test]
fn shipped_models_and_chips_are_known_to_the_fit_check() {
    // Every pair either compiles or says what would fit; never another error.
    for (mname, _) in shipped::MODELS {
        for (cname, _) in shipped::CHIPS {
            let (m, c) = (model(mname), chip(cname));
            match compiler::compile(&m, &c, &decode(&m), &PlanRequest::default()) {
                Ok(_) | Err(CompileError::DoesNotFit(_)) => {}
                Err(e) => panic!("{mname} on {cname}: {e}"),
            }
        }
    }
    let _ = Kind::Chip;
}

#[test]
fn narrower_activations_shrink_the_messages_not_the_weights() {
    // Tensor parallelism over 8 GPUs: the all-reduces carry activations,
    // the HBM reads are weights and KV.
    let (m, c) = (llama70_slice(), chip("dgx-h100"));
    let req = PlanRequest { tp: Some(8), pp: Some(1), ..Default::default() };
    let totals = |act: Dtype| {
        let w = Workload { act, ..decode(&m) };
        let trace = compiler::compile(&m, &c, &w, &req).unwrap().trace();
        TraceTotals::of(&c, &trace)
    };
    let (wide, narrow) = (totals(Dtype::Fp16), totals(Dtype::Fp8));
    eprintln!("messages: fp16 {} B, fp8 {} B", wide.message_bytes, narrow.message_bytes);
    assert!(wide.message_bytes > 0);
    // Half, up to rounding of odd shares to whole bytes.
    let ratio = narrow.message_bytes as f64 / wide.message_bytes as f64;
    assert!((ratio - 0.5).abs() < 1e-3, "fp8 / fp16 message bytes = {ratio}");
    assert_eq!(narrow.weight_bytes, wide.weight_bytes);
    assert_eq!(narrow.kv_read, wide.kv_read);
}

#[test]
fn long_prefill_is_split_to_fit_the_tile_buffers() {
    // A 4096-token prompt gives every GEMM an output block, and attention a
    // query block, larger than a tile's buffers: the HBM mapping computes
    // them in sub-blocks and query blocks, one after another. The work is
    // the model's; the weights are read more than once.
    let prefill =
        |m: &tilesim::model::Model| Workload { phase: compiler::Phase::Prefill, context: 0, prompt: 4096, ..decode(m) };
    for (mname, cname, tp) in [("llama-2-7b", "h100", None), ("llama-2-70b", "dgx-h100", Some(8))] {
        let mut m = model(mname);
        m.layers = 1;
        let (c, w) = (chip(cname), prefill(&m));
        let req = PlanRequest { tp, ..Default::default() };
        let comp = compiler::compile(&m, &c, &w, &req).unwrap_or_else(|e| panic!("{mname} on {cname}: {e}"));
        let trace = comp.trace();
        let t = TraceTotals::of(&c, &trace);
        let want = analytic::for_plan(&m, &w, &comp.plan);
        close("MACs", t.macs as f64, want.macs, 0.005).unwrap();
        assert!(t.weight_bytes as f64 >= want.weight_bytes * 0.995, "{mname}: weights read at least once");
        let r = run(&m, &c, &w, &req);
        eprintln!("{mname} on {cname}, 1 layer, prompt 4096: {:.3} ms, bound {}", r.seconds * 1e3, r.bound);
    }
}

#[test]
fn a_mapping_that_would_overflow_a_tile_is_refused_not_emitted() {
    // The root strategy keeps a pass's activations at a root tile; an
    // 8192-token prompt does not fit there, and the compiler says so
    // instead of writing a trace the simulator would reject. The tiled
    // strategy spreads them over the grid and takes the prompt in blocks.
    let mut m = model("llama-2-7b");
    m.layers = 1;
    let w = Workload { phase: compiler::Phase::Prefill, context: 0, prompt: 8192, ..decode(&m) };
    let groq = chip("groq-576");
    let tiled = compiler::compile(&m, &groq, &w, &PlanRequest::default()).map(|_| ());
    assert!(tiled.is_ok(), "the tiled strategy takes a long prompt: {:?}", tiled.err());
    let root = PlanRequest { strategy: Some(compiler::Strategy::Root), ..Default::default() };
    match compiler::compile(&m, &groq, &w, &root) {
        Err(CompileError::Unsupported(msg)) => {
            assert!(msg.contains("beyond the tile's SRAM") && msg.contains("--prompt"), "{msg}")
        }
        Err(e) => panic!("expected Unsupported, got {e}"),
        Ok(_) => panic!("expected Unsupported, got a trace"),
    }
}

/// Software fixed costs (arch/timing.md): every kernel boundary of the
/// memory strategy is followed by the chip's launch gap, and every
/// collective call pays its call and step costs, as `delay`s the trace
/// shows and `run` reports as overhead. A chip without `[software]` (Groq)
/// gets none.
#[test]
fn kernel_gaps_and_collective_costs_are_delays_in_the_trace() {
    let mut m = model("llama-2-7b");
    m.layers = 1;
    let c = chip("dgx-h100");
    let w = decode(&m);
    let compiled = compiler::compile(&m, &c, &w, &PlanRequest::default()).expect("compiles");
    let sw = &c.software;
    assert!(sw.kernel_launch.0 > 0 && sw.collective_call.0 > 0, "dgx-h100 states its software costs");
    let p = compiled.program(tilesim::ids::TileId(0));
    let barriers = p.iter().filter(|i| matches!(i, tilesim::isa::Instr::Barrier { .. })).count();
    let launches =
        p.iter().filter(|i| matches!(i, tilesim::isa::Instr::Delay { cycles } if *cycles == sw.kernel_launch)).count();
    let calls = p
        .iter()
        .filter(|i| matches!(i, tilesim::isa::Instr::Delay { cycles } if *cycles == sw.collective_call))
        .count();
    assert!(barriers > 0 && launches == barriers, "{barriers} kernel boundaries, {launches} launch gaps");
    assert!(calls >= 2, "tile 0 takes part in the two all-reduces of the layer: {calls} calls");
    let r = run(&m, &c, &w, &PlanRequest::default());
    assert!(r.time.overhead > 0.02, "software shows as overhead: {:.3}", r.time.overhead);

    let groq = chip("groq-576");
    let w8 = compiler::Workload { weights: tilesim::dtype::Dtype::Int8, kv: tilesim::dtype::Dtype::Int8, ..w };
    let compiled = compiler::compile(&m, &groq, &w8, &PlanRequest::default()).expect("compiles");
    let delays = (0..groq.tiles_per_chip())
        .flat_map(|t| compiled.program(tilesim::ids::TileId(t)))
        .filter(|i| matches!(i, tilesim::isa::Instr::Delay { .. }))
        .count();
    assert_eq!(delays, 0, "a statically scheduled chip pays no software cost");
}

/// A type the matrix unit has no path for is refused with the rates the
/// chip has, never run at another type's rate; a config's `runs_as` maps it.
#[test]
fn a_type_without_a_matrix_path_is_refused_naming_the_rates() {
    let m = model("llama-2-7b");
    let w = compiler::Workload { weights: tilesim::dtype::Dtype::Fp8, ..decode(&m) };
    match compiler::compile(&m, &chip("mesh8x8"), &w, &PlanRequest::default()) {
        Err(CompileError::Workload(msg)) => {
            assert!(msg.contains("fp8") && msg.contains("fp16 at 1 MACs/cycle") && msg.contains("runs_as"), "{msg}")
        }
        Err(e) => panic!("expected a workload error, got {e}"),
        Ok(_) => panic!("fp8 on a chip without an fp8 path compiled"),
    }
    // groq-lpu states that fp8 runs on its fp16 path.
    let groq = chip("groq-lpu");
    assert_eq!(groq.tile.mac_path(tilesim::dtype::Dtype::Fp8), Some(tilesim::dtype::Dtype::Fp16));
    assert_eq!(
        groq.tile.macs_per_cycle(tilesim::dtype::Dtype::Fp8),
        groq.tile.macs_per_cycle(tilesim::dtype::Dtype::Fp16)
    );
}
