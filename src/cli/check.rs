//! `tilesim check`: validate configs and traces, reporting every failure.

use super::CliError;
use std::path::Path;
use std::process::ExitCode;
use tilesim::chip::Chip;
use tilesim::config::shipped::Kind;
use tilesim::config::{self, chip as chip_cfg, model as model_cfg};
use tilesim::diag::Location;
use tilesim::report::describe;
use tilesim::trace::{self, Item, TraceError, TraceErrorKind, against};

pub fn run(files: &[std::path::PathBuf], verbose: bool, chip: Option<&str>) -> Result<ExitCode, CliError> {
    let forced_chip = match chip {
        Some(c) => Some(super::load_chip(c)?),
        None => None,
    };
    let mut failed = 0;
    for f in files {
        match check_one(f, verbose, forced_chip.as_ref()) {
            Ok(summary) => super::out(&format!("ok    {}  {summary}\n", f.display()))?,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if failed > 0 {
        return Err(CliError::CheckFailed { count: failed, total: files.len() });
    }
    Ok(ExitCode::SUCCESS)
}

fn check_one(path: &Path, verbose: bool, forced_chip: Option<&Chip>) -> Result<String, CliError> {
    let name = path.display().to_string();
    if path.extension().is_some_and(|e| e == "toml") {
        let text = config::read(path)?;
        match config::detect_kind(&text) {
            Some(Kind::Chip) => {
                let c = chip_cfg::load_str(&name, &text)?;
                Ok(summary(describe::chip_line(&c), verbose.then(|| describe::chip_totals(&c))))
            }
            Some(Kind::Model) => {
                let m = model_cfg::load_str(&name, &text)?;
                Ok(summary(describe::model_line(&m), verbose.then(|| describe::model_totals(&m))))
            }
            // Not valid TOML (report the syntax error), or neither kind.
            None => match chip_cfg::load_str(&name, &text) {
                Err(e @ config::ConfigError { kind: config::ConfigErrorKind::Parse(_), .. })
                    if toml::from_str::<toml::Table>(&text).is_err() =>
                {
                    Err(e.into())
                }
                _ => Err(config::ConfigError {
                    loc: Location::file(&name),
                    kind: config::ConfigErrorKind::Parse(
                        "cannot tell whether this is a chip or a model config: its top-level fields match neither \
                         (a chip has clock, [tile], [noc]; a model has layers, hidden, heads)"
                            .into(),
                    ),
                }
                .into()),
            },
        }
    } else {
        check_trace(path, forced_chip)
    }
}

/// A one-line summary, with the detailed totals below it when asked for.
fn summary(line: String, totals: Option<String>) -> String {
    match totals {
        Some(t) => format!("{line}\n{t}"),
        None => line,
    }
}

fn check_trace(path: &Path, forced_chip: Option<&Chip>) -> Result<String, CliError> {
    let mut src = trace::open(path)?;
    let header = src.header().clone();
    let shipped;
    let chip = match forced_chip {
        Some(c) => Some(c),
        None => match tilesim::config::shipped::get(tilesim::config::shipped::Kind::Chip, &header.chip) {
            Some(text) => {
                shipped = chip_cfg::load_str(&header.chip, text)?;
                Some(&shipped)
            }
            None => None,
        },
    };
    if let Some(c) = chip {
        against::check_header(c, &header)
            .map_err(|m| TraceError::new(src.header_location("tiles"), TraceErrorKind::AgainstChip(m)))?;
    }
    let mut current = tilesim::ids::TileId(0);
    let mut bad: Option<(u64, String)> = None;
    let checker = trace::check(src.as_mut(), |item, pos| match item {
        Item::Tile(t) => current = *t,
        Item::Instr(i) => {
            if let (Some(c), None) = (chip, &bad)
                && let Err(m) = against::check_instr(c, current, i)
            {
                bad = Some((pos, format!("tile {current}: {m}")));
            }
        }
    })?;
    if let Some((pos, m)) = bad {
        return Err(TraceError::new(src.location(pos), TraceErrorKind::AgainstChip(m)).into());
    }
    Ok(format!(
        "trace for {}{}: {} tile streams, {} instructions",
        header.chip,
        if chip.is_some() { "" } else { " (chip not shipped: checked structure only)" },
        checker.streams,
        checker.instructions
    ))
}
