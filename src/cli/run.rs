//! `tilesim run`: simulate a trace and report.

use super::{CliError, RunArgs};
use std::process::ExitCode;
use tilesim::fileio::AtomicFile;
use tilesim::report::run::RunReport;
use tilesim::sim::{self, Options, TimelineOptions};
use tilesim::trace::Trace;

pub fn run(a: &RunArgs) -> Result<ExitCode, CliError> {
    let chip = super::load_chip(&a.chip)?;
    let trace = Trace::load(&a.trace)?;
    let opts = Options { timeline: a.timeline.as_ref().map(|_| TimelineOptions::default()) };
    let stats = sim::simulate(&chip, &trace, &opts)?;
    let report = RunReport::new(&chip, &trace, &stats);
    if let (Some(path), Some(tl)) = (&a.timeline, &stats.timeline) {
        let err = |e: std::io::Error| CliError::Output { path: path.display().to_string(), message: e.to_string() };
        let mut f = AtomicFile::create(path).map_err(err)?;
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
