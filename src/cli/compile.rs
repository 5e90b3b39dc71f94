//! `tilesim compile`, `roofline` and `compare`: the flags, then
//! `tilesim::api`, then the table or JSON.

use super::{CliError, CompareArgs, CompileArgs, RooflineArgs};
use std::process::ExitCode;
use tilesim::report::compare::Status;

pub fn compile(a: &CompileArgs) -> Result<ExitCode, CliError> {
    let c = tilesim::api::compile(&a.model, &a.chip, &a.set.overrides()?, &a.workload.options(), &a.output)?;
    eprintln!("compiled {} -> {}", c.description, c.output);
    Ok(ExitCode::SUCCESS)
}

pub fn roofline(a: &RooflineArgs) -> Result<ExitCode, CliError> {
    let one = tilesim::api::roofline_report(&a.model, &a.chip, &a.set.overrides()?, &a.workload.options())?;
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&one).expect("serialises")))?;
    } else if let Some(row) = one.rows.first().and_then(|e| e.row()) {
        super::out(&row.floor_table())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Compares the chips; one that cannot run the workload is a row saying
/// why. Exit 0 when at least one chip ran, else 2 after the table.
pub fn compare(a: &CompareArgs) -> Result<ExitCode, CliError> {
    let set = a.set.overrides()?;
    let bar = super::progress::delayed(Some(0), "{elapsed_precise} [{bar:40}] {pos}/{len} chips");
    let cmp = tilesim::api::compare(&a.model, &a.chips, &set, &a.workload.options(), |p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    });
    bar.finish_and_clear();
    let cmp = cmp?;
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&cmp).expect("serialises")))?;
    } else {
        super::out(&cmp.table())?;
    }
    let count = |s: Status| cmp.rows.iter().filter(|e| e.status() == s).count();
    if count(Status::Ok) == 0 {
        return Err(CliError::NoneRan {
            total: cmp.rows.len(),
            fit: count(Status::DoesNotFit),
            failed: count(Status::Error),
        });
    }
    Ok(ExitCode::SUCCESS)
}
