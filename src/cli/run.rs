//! `tilesim run`: simulate a trace and report.

use super::{CliError, RunArgs};
use std::process::ExitCode;

pub fn run(a: &RunArgs) -> Result<ExitCode, CliError> {
    let set = a.set.overrides()?;
    let chip = match &a.chip {
        Some(c) => c.clone(),
        None => tilesim::api::chip_of_trace(&a.trace)?,
    };
    let bar =
        super::progress::delayed(None, &format!("{{spinner}} simulating {} on {chip} {{elapsed}}", a.trace.display()));
    let report = tilesim::api::run(&a.trace, Some(&chip), &set, a.timeline.as_deref());
    bar.finish_and_clear();
    let report = report?;
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&report).expect("report serialises")))?;
    } else {
        super::out(&report.table())?;
    }
    Ok(ExitCode::SUCCESS)
}
