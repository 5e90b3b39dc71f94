//! `tilesim check`: validate configs and traces, reporting every failure.

use super::CliError;
use std::io::Read;
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
                eprintln!("error: {}", tilesim::limits::cap_message(&e.to_string()));
            }
        }
    }
    if failed > 0 {
        return Err(CliError::CheckFailed { count: failed, total: files.len() });
    }
    Ok(ExitCode::SUCCESS)
}

/// What a file to check holds.
enum Input {
    Config(String),
    Trace(Box<dyn Read + Send>),
}

/// Opens `path` once and decides from its name, else its first bytes,
/// whether it is a config or a trace (so `-`, `/dev/stdin` and pipes work:
/// the bytes sniffed are handed on, nothing is reopened).
fn sniff(path: &Path) -> Result<Input, CliError> {
    let name = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "toml" {
        return Ok(Input::Config(config::read(path)?));
    }
    let io_err = |e: std::io::Error| TraceError::new(Location::file(&name), TraceErrorKind::Io(e.to_string()));
    let mut f = tilesim::fileio::open_input(path).map_err(io_err)?;
    let mut head = vec![0u8; 4096];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e).into()),
        }
    }
    head.truncate(n);
    let whole: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(head.clone()).chain(f));
    if ext == "trace" || ext == "tbin" || looks_like_trace(&head) || !looks_like_toml(&head) {
        return Ok(Input::Trace(whole));
    }
    Ok(Input::Config(config::read_from(&name, whole)?))
}

fn looks_like_trace(head: &[u8]) -> bool {
    if head.starts_with(&trace::BINARY_MAGIC[..7]) {
        return true;
    }
    let text = String::from_utf8_lossy(head);
    let first = text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).find(|l| !l.is_empty());
    first.is_some_and(|l| l.split_whitespace().next() == Some(trace::TEXT_MAGIC))
}

/// A first line that is a TOML table header or `key = value`.
fn looks_like_toml(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let first = text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).find(|l| !l.is_empty());
    first.is_some_and(|l| {
        l.starts_with('[')
            || l.split_once('=').is_some_and(|(k, _)| {
                let k = k.trim();
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c))
            })
    })
}

fn check_one(path: &Path, verbose: bool, forced_chip: Option<&Chip>) -> Result<String, CliError> {
    let name = path.display().to_string();
    let input = sniff(path)?;
    if let Input::Config(text) = input {
        match config::detect_kind(&text) {
            Some(Kind::Chip) => {
                let c = chip_cfg::load_str(&name, &text)?;
                Ok(summary(describe::chip_line(&c), verbose.then(|| describe::chip_totals(&c))))
            }
            Some(Kind::Model) => {
                let m = model_cfg::load_str(&name, &text)?;
                Ok(summary(describe::model_line(&m), verbose.then(|| describe::model_totals(&m))))
            }
            // Not valid TOML or nested too deep (report that, at its line
            // and column, as every config read does), or neither kind.
            None => match config::parse_toml::<toml::Table>(&name, &text) {
                Err(e) => Err(e.into()),
                Ok(_) => Err(config::ConfigError {
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
        let Input::Trace(f) = input else { unreachable!("configs are handled above") };
        // As `run` will: a binary trace file read lazily, else held whole.
        check_trace(&name, f, forced_chip, tilesim::trace::lazy::applies(path))
    }
}

/// A one-line summary, with the detailed totals below it when asked for.
fn summary(line: String, totals: Option<String>) -> String {
    match totals {
        Some(t) => format!("{line}\n{t}"),
        None => line,
    }
}

fn check_trace(
    name: &str,
    f: Box<dyn Read + Send>,
    forced_chip: Option<&Chip>,
    lazy: bool,
) -> Result<String, CliError> {
    let mut src = trace::open_reader(name, f)?;
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
    // What `run` refuses before it starts, counted in the same pass: the
    // run's events, work and bytes (sim::budget).
    let mut events = chip.map(tilesim::sim::budget::Events::new);
    let checker = trace::check(src.as_mut(), |item, pos| match item {
        Item::Tile(t) => current = *t,
        Item::Instr(i) => {
            if let (Some(c), None) = (chip, &bad)
                && let Err(m) = against::check_instr(c, current, i)
            {
                bad = Some((pos, format!("tile {current}: {m}")));
            }
            if let Some(e) = events.as_mut() {
                e.add(current, i);
            }
        }
    })?;
    if let Some((pos, m)) = bad {
        return Err(TraceError::new(src.location(pos), TraceErrorKind::AgainstChip(m)).into());
    }
    if let (Some(c), Some(e)) = (chip, events) {
        use tilesim::sim::budget;
        let held = if lazy { checker.streams as u128 * budget::LAZY_WINDOW } else { checker.instructions as u128 };
        e.check_run(c, &header, held, budget::Subject::Trace)
            .map_err(|m| TraceError::new(tilesim::diag::Location::file(name), TraceErrorKind::AgainstChip(m)))?;
    }
    Ok(format!(
        "trace for {}{}: {} tile streams, {} instructions",
        header.chip,
        if chip.is_some() { "" } else { " (chip not shipped: checked structure only)" },
        checker.streams,
        checker.instructions
    ))
}
