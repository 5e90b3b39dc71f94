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
    let report = match &a.timeline {
        Some(t) => tilesim::api::run_timeline(&a.trace, Some(&chip), &set, t, a.timeline_window.as_deref())
            .map(|(r, w)| (r, w.warning)),
        None => tilesim::api::run(&a.trace, Some(&chip), &set, None).map(|r| (r, None)),
    };
    bar.finish_and_clear();
    let (report, warning) = report?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&report).expect("report serialises")))?;
    } else {
        super::out(&report.table())?;
    }
    Ok(ExitCode::SUCCESS)
}
