//! A binary trace read lazily (`roofline::scan` + `sim::simulate_lazy`, what
//! `tilesim run` does with a `.tbin` on disk) runs exactly as the same trace
//! held in memory: same cycles, same report, same errors; and it holds only
//! a window of each stream.

mod common;

use common::{chip, decode, model};
use std::path::Path;
use tilesim::chip::Chip;
use tilesim::compiler::{self, PlanRequest};
use tilesim::ids::TileId;
use tilesim::isa::Instr;
use tilesim::report::run::RunReport;
use tilesim::sim::{self, Options};
use tilesim::trace::{Format, Trace};

/// Writes `trace` in binary form to `path`.
fn write_binary(trace: &Trace, path: &Path) {
    let mut sink = tilesim::trace::create(path, Format::Binary).unwrap();
    let streams: Vec<(TileId, Vec<Instr>)> =
        trace.programs.iter().enumerate().map(|(t, p)| (TileId(t as u32), p.instrs.clone())).collect();
    tilesim::synth::write(sink.as_mut(), &trace.header, &streams).unwrap();
    sink.finish().unwrap();
}

/// Runs `trace` held and lazily from `path` (`prefetch`: the engine's
/// option, `None` its own rule); both reports as JSON without the file
/// name, and the lazy run's held window.
fn both(c: &Chip, trace: &Trace, path: &Path, prefetch: Option<bool>) -> (String, String, usize) {
    write_binary(trace, path);
    let held = sim::simulate(c, trace, &Options { prefetch, ..Options::default() }).unwrap();
    let held = RunReport::new(c, trace, &held);
    let (mut lazy, totals) = tilesim::roofline::scan(c, path).unwrap();
    let stats = sim::simulate_lazy(c, &mut lazy, &Options { prefetch, ..Options::default() }).unwrap();
    let lazy_report = RunReport::from_totals(c, &lazy.header, &lazy.file, totals, &stats);
    let json = |r: &RunReport| {
        let mut v = serde_json::to_value(r).unwrap();
        v.as_object_mut().unwrap().remove("trace");
        v.to_string()
    };
    (json(&held), json(&lazy_report), lazy.held())
}

/// Also with prefetching forced on and off: it is a hint, and the reports
/// must not move (the engine turns it on by itself only from 2,048 tiles,
/// so of these only groq-576 would exercise it otherwise).
#[test]
fn compiled_traces_with_loops_run_the_same_lazily() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model("llama-2-7b");
    m.layers = 2;
    for name in ["h100", "mini-mesh", "dgx-h100", "groq-576"] {
        let c = chip(name);
        let w = decode(&m);
        let compiled = compiler::compile(&m, &c, &w, &PlanRequest::default()).unwrap();
        let trace = compiled.trace();
        assert!(trace.programs.iter().any(|p| p.instrs.iter().any(|i| matches!(i, Instr::Loop { .. }))));
        let path = dir.path().join(format!("{name}.tbin"));
        let (held, lazy, window) = both(&c, &trace, &path, None);
        assert_eq!(held, lazy, "{name}: lazy and held runs differ");
        assert!(window <= trace.instruction_count(), "{name}");
        let on = both(&c, &trace, &path, Some(true));
        assert_eq!(on, both(&c, &trace, &path, Some(false)), "{name}: prefetching changed a report");
        assert_eq!(on.0, held, "{name}");
    }
}

#[test]
fn synthetic_traffic_runs_the_same_and_holds_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let c = chip("booksim-mesh8x8");
    let pattern = tilesim::synth::traffic::Pattern::parse("uniform").unwrap();
    let (header, streams) = tilesim::synth::traffic_trace(&c, pattern, 0.1, 1, 16, 3000, 0).unwrap().into_generated();
    let trace = Trace::from_streams(header, streams, "traffic");
    let (held, lazy, window) = both(&c, &trace, &dir.path().join("t.tbin"), None);
    assert_eq!(held, lazy);
    // Every stream ran to its end: what is left in the windows is at most
    // the last few instructions of each, not the trace.
    let total = trace.instruction_count();
    assert!(total > 10_000 && window < total / 20, "held {window} of {total} instructions");
}

#[test]
fn a_deadlock_reads_the_same_lazily() {
    let dir = tempfile::tempdir().unwrap();
    let c = chip("mini-mesh");
    let text = "tilesim-trace 2\nchip mini-mesh\ntiles 16\n\ntile 0\nsend tok=0 to=1 tag=0 sram=0x0 bytes=64\nwait tok=0\n\
                recv tok=1 from=2 tag=0 sram=0x0 bytes=64\nwait tok=1\n\ntile 1\nrecv tok=0 from=0 tag=0 sram=0x0 bytes=64\nwait tok=0\n";
    let tpath = dir.path().join("d.trace");
    std::fs::write(&tpath, text).unwrap();
    let trace = Trace::load(&tpath).unwrap();
    let bpath = dir.path().join("d.tbin");
    write_binary(&trace, &bpath);
    let held = Trace::load(&bpath).unwrap();
    let held_err = sim::simulate(&c, &held, &Options::default()).err().expect("deadlock").to_string();
    let (mut lazy, _) = tilesim::roofline::scan(&c, &bpath).unwrap();
    let lazy_err = sim::simulate_lazy(&c, &mut lazy, &Options::default()).err().expect("deadlock").to_string();
    assert!(held_err.contains("recv from tile 2"), "{held_err}");
    assert_eq!(held_err, lazy_err);
}

#[test]
fn a_text_trace_is_not_read_lazily() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.trace");
    std::fs::write(&p, "tilesim-trace 2\nchip mini-mesh\ntiles 16\ntile 0\ndelay cycles=1\n").unwrap();
    let err = tilesim::roofline::scan(&chip("mini-mesh"), &p).err().expect("refused").to_string();
    assert!(err.contains("must be binary"), "{err}");
}
