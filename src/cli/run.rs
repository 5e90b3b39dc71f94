//! `tilesim run`: simulate a trace and report.

use super::{CliError, RunArgs};
use std::process::ExitCode;
use tilesim::report::run::RunReport;
use tilesim::sim::{self, Options, TimelineOptions};
use tilesim::trace::Trace;

pub fn run(a: &RunArgs) -> Result<ExitCode, CliError> {
    let trace_name = a.trace.display().to_string();
    if let Some(path) = &a.timeline {
        super::not_input(path, &[&a.chip, &trace_name])?;
    }
    let chip = super::load_chip(&a.chip)?;
    // A binary trace on disk is read lazily, so memory stays flat however
    // long it is; a text trace, a pipe, or a run drawing a timeline holds
    // the trace.
    if a.timeline.is_none() && is_binary_file(&a.trace) {
        let (mut lazy, totals) = sim::scan(&chip, &a.trace)?;
        let stats = sim::simulate_lazy(&chip, &mut lazy, &Options::default())?;
        let report = RunReport::from_totals(&chip, &lazy.header, &lazy.file, totals, &stats);
        return print(a, &report);
    }
    let trace = Trace::load(&a.trace)?;
    let opts = Options { timeline: a.timeline.as_ref().map(|_| TimelineOptions::default()) };
    let stats = sim::simulate(&chip, &trace, &opts)?;
    let report = RunReport::new(&chip, &trace, &stats);
    if let (Some(path), Some(tl)) = (&a.timeline, &stats.timeline) {
        let err = |e: std::io::Error| super::output_error(path, e);
        let mut f = super::output(path, &[&a.chip, &trace_name])?;
        tilesim::report::timeline::write_chrome(&mut f, &chip, &trace, tl).map_err(err)?;
        f.commit().map_err(err)?;
    }
    print(a, &report)
}

/// A regular file that starts with the binary trace magic.
fn is_binary_file(path: &std::path::Path) -> bool {
    use std::io::Read;
    let magic = tilesim::trace::BINARY_MAGIC;
    let mut head = vec![0; magic.len()];
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok()
        && head == magic
}

fn print(a: &RunArgs, report: &RunReport) -> Result<ExitCode, CliError> {
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(report).expect("report serialises")))?;
    } else {
        super::out(&report.table())?;
    }
    Ok(ExitCode::SUCCESS)
}
