//! Helpers shared by the integration tests: shipped configs and workloads.
#![allow(dead_code)]

use std::process::{Command, Output};
use tilesim::chip::Chip;
use tilesim::compiler::{self, PlanRequest, Workload};
use tilesim::config::shipped::{self, Kind};
use tilesim::model::Model;
use tilesim::report::run::RunReport;
use tilesim::trace::Trace;

pub fn chip(name: &str) -> Chip {
    let text = shipped::get(Kind::Chip, name).unwrap_or_else(|| panic!("no shipped chip {name}"));
    tilesim::config::chip::load_str(name, text).expect("shipped chip loads")
}

pub fn model(name: &str) -> Model {
    let text = shipped::get(Kind::Model, name).unwrap_or_else(|| panic!("no shipped model {name}"));
    tilesim::config::model::load_str(name, text).expect("shipped model loads")
}

/// The CLI's default workload: one decode step, batch 1, 4096 context.
pub fn decode(m: &Model) -> Workload {
    Workload::decode(m.dtype)
}

/// Compiles and simulates; returns the report.
pub fn run(m: &Model, c: &Chip, w: &Workload, req: &PlanRequest) -> RunReport {
    let compiled = compiler::compile(m, c, w, req).unwrap_or_else(|e| panic!("{} on {}: {e}", m.name, c.name));
    let trace: Trace = compiled.trace();
    let stats = tilesim::sim::simulate(c, &trace, &Default::default())
        .unwrap_or_else(|e| panic!("{} on {}: {e}", m.name, c.name));
    RunReport::new(c, &trace, &stats)
}

/// Runs the `tilesim` binary from the repository root.
pub fn tilesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tilesim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run tilesim")
}

/// (exit status, stdout, stderr) of a run.
pub fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}
