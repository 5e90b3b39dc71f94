//! Whole-model simulation speed: `cargo bench` (release build). Prints wall
//! time, events per second and simulated cycles per second for the DESIGN
//! targets; arch/performance.md records the figures. Not a test: timings
//! depend on the machine.

use std::time::Instant;
use tilesim::chip::Chip;
use tilesim::compiler::{self, PlanRequest, Workload};
use tilesim::config::shipped::{self, Kind};
use tilesim::dtype::Dtype;
use tilesim::model::Model;
use tilesim::trace::Trace;

fn chip(name: &str) -> Chip {
    tilesim::config::chip::load_str(name, shipped::get(Kind::Chip, name).unwrap()).unwrap()
}

fn model(name: &str) -> Model {
    tilesim::config::model::load_str(name, shipped::get(Kind::Model, name).unwrap()).unwrap()
}

fn decode(d: Dtype) -> Workload {
    Workload::decode(d)
}

fn case(label: &str, m: &Model, c: &Chip, w: &Workload, req: &PlanRequest, target_s: f64) {
    let t0 = Instant::now();
    let comp = compiler::compile(m, c, w, req).unwrap();
    let trace = comp.trace();
    let compile_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let stats = tilesim::sim::simulate(c, &trace, &Default::default()).unwrap();
    let sim_s = t1.elapsed().as_secs_f64();
    println!(
        "{label:<44} compile {compile_s:>6.2} s  simulate {sim_s:>7.2} s (target {target_s} s)  {:>6.1} M events/s  {} events",
        stats.events as f64 / sim_s / 1e6,
        stats.events
    );
}

fn main() {
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let m70 = model("llama-2-70b");
    if run("dgx-h100") {
        let req = PlanRequest { tp: Some(8), ..Default::default() };
        case("llama-2-70b decode, dgx-h100 (tp=8)", &m70, &chip("dgx-h100"), &decode(Dtype::Fp16), &req, 0.5);
    }
    if run("groq-576") {
        case(
            "llama-2-70b decode int8, groq-576",
            &m70,
            &chip("groq-576"),
            &decode(Dtype::Int8),
            &Default::default(),
            3.0,
        );
    }
    if run("cerebras-cs3x4") {
        case(
            "llama-2-70b decode, cerebras-cs3x4",
            &m70,
            &chip("cerebras-cs3x4"),
            &decode(Dtype::Fp16),
            &Default::default(),
            30.0,
        );
    }
    if run("booksim") {
        // BookSim2 simulates 6,114 cycles of this load in 0.505 s (12,100 cycles/s).
        let c = chip("booksim-mesh8x8");
        let (h, streams) =
            tilesim::synth::traffic_trace(&c, tilesim::synth::traffic::Pattern::Uniform, 0.1, 1, 16, 100_000, 0)
                .unwrap();
        let trace = Trace::from_streams(h, streams, "uniform 0.1");
        let t1 = Instant::now();
        let stats = tilesim::sim::simulate(&c, &trace, &Default::default()).unwrap();
        let s = t1.elapsed().as_secs_f64();
        let cps = stats.cycles.0 as f64 / s;
        println!(
            "{:<44} simulate {s:>7.2} s  {:>10.0} cycles/s = {:>5.1}x BookSim2 (target 50x)  {:>6.1} M events/s",
            "8x8 mesh uniform 1-flit at 0.1",
            cps,
            cps / 12_100.0,
            stats.events as f64 / s / 1e6
        );
    }
}
