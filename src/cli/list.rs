//! `tilesim list` and `tilesim show`.

use super::CliError;
use std::process::ExitCode;
use tilesim::config::shipped::{self, Kind};

pub fn list() -> Result<ExitCode, CliError> {
    for kind in [Kind::Chip, Kind::Model] {
        super::out(&format!("{}s:\n", kind.name()))?;
        for (name, text) in kind.table() {
            let desc = text
                .lines()
                .find_map(|l| l.strip_prefix("description = "))
                .map(|d| d.trim().trim_matches('"'))
                .unwrap_or("");
            super::out(&format!("  {name:<16} {desc}\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(name: &str) -> Result<ExitCode, CliError> {
    for kind in [Kind::Chip, Kind::Model] {
        if let Some(text) = shipped::get(kind, name) {
            super::out(text)?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut all = shipped::names(Kind::Chip);
    all.extend(shipped::names(Kind::Model));
    Err(CliError::Usage(format!("no shipped config named `{name}` (shipped: {})", all.join(", "))))
}
