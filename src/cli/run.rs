//! `tilesim run`: simulate a trace, or synthetic traffic (`--traffic`), and
//! report.

use super::{CliError, RunArgs};
use std::process::ExitCode;

pub fn run(a: &RunArgs) -> Result<ExitCode, CliError> {
    let set = a.set.overrides()?;
    let report = match (&a.traffic, &a.trace) {
        (Some(pattern), None) => {
            let traffic = a.traffic_args.options(pattern)?;
            let Some(chip) = &a.chip else {
                return Err(CliError::Usage("--traffic needs --chip".into()));
            };
            let bar = super::progress::delayed(
                None,
                &format!("{{spinner}} simulating {pattern} traffic on {chip} {{elapsed}}"),
            );
            if a.model.is_some() {
                return Err(CliError::Usage("--model goes with a compiled trace, not --traffic".into()));
            }
            let (timeline, window) = (a.timeline.as_deref(), a.timeline_window.as_deref());
            let mode =
                if a.packets { tilesim::api::TrafficMode::Packets } else { tilesim::api::TrafficMode::Instructions };
            let r = tilesim::api::run_traffic(&traffic, mode, chip, &set, timeline, window)
                .map(|(r, w)| (r, w.and_then(|w| w.warning)));
            bar.finish_and_clear();
            r
        }
        (None, Some(trace)) => {
            let model = a.model.as_deref();
            let chip = match &a.chip {
                Some(c) => c.clone(),
                None => tilesim::api::chip_of_trace(trace)?,
            };
            let bar = super::progress::delayed(
                None,
                &format!("{{spinner}} simulating {} on {chip} {{elapsed}}", trace.display()),
            );
            let r = match &a.timeline {
                Some(t) => tilesim::api::run_timeline(trace, Some(&chip), &set, t, a.timeline_window.as_deref(), model)
                    .map(|(r, w)| (r, w.warning)),
                None => tilesim::api::run(trace, Some(&chip), &set, None, model).map(|r| (r, None)),
            };
            bar.finish_and_clear();
            r
        }
        (Some(_), Some(_)) => return Err(CliError::Usage("give a trace or --traffic, not both".into())),
        (None, None) => return Err(CliError::Usage("give a trace to run, or --traffic PATTERN".into())),
    };
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
