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
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&report).expect("report serialises")))?;
    } else {
        super::out(&report.table())?;
    }
    Ok(ExitCode::SUCCESS)
}
