//! A case's snapshot: a few lines of text, `KEY VALUE` each, that say what
//! ran and what it took — small, stable and easy to read in a diff — and
//! how two snapshots compare, exactly or with a tolerance on the time.

use super::suite::{Case, Input};
use crate::compiler::{self, CompileError, Phase, Plan, Workload};
use crate::report::run::RunReport;
use crate::sim::{self, SimError};
use crate::trace::{Trace, TraceError};
use std::fmt::Write;

/// The snapshot format's version, the value of its first line. Bump it when
/// the lines change meaning, so every stored snapshot shows as changed.
pub const FORMAT_VERSION: u32 = 1;

/// The first key of every snapshot.
pub const MAGIC: &str = "tilesim-snapshot";

/// The keys that `--tolerance` lets move: the simulated time.
pub const TOLERANT: [&str; 2] = ["cycles", "seconds"];

/// Why a case has no snapshot.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("internal error (a bug; please report it): {0}")]
    Panic(String),
}

/// Runs a case — compiles its model and simulates the trace, or simulates
/// its trace file — and returns its snapshot.
pub fn take(case: &Case) -> Result<String, CaseError> {
    match &case.input {
        Input::Model { model, workload, request } => {
            sim::budget::check_before_compile(&model.name, &case.chip)?;
            let c = compiler::compile(model, &case.chip, workload, request)?;
            let trace = c.trace();
            let stats = sim::simulate(&case.chip, &trace, &Default::default())?;
            let report = RunReport::new(&case.chip, &trace, &stats);
            Ok(render(case, &report, Some(&c.plan)))
        }
        Input::Trace { path, .. } => {
            let trace = Trace::load(path)?;
            let stats = sim::simulate(&case.chip, &trace, &Default::default())?;
            let report = RunReport::new(&case.chip, &trace, &stats);
            Ok(render(case, &report, None))
        }
    }
}

/// The snapshot text of `case` from its run's report (and the plan, when
/// the case was compiled).
pub fn render(case: &Case, r: &RunReport, plan: Option<&Plan>) -> String {
    let mut s = String::new();
    put(&mut s, MAGIC, FORMAT_VERSION);
    put(&mut s, "case", &case.name);
    put(&mut s, "chip", &case.chip.name);
    for o in &case.set {
        put(&mut s, "set", o);
    }
    match &case.input {
        Input::Model { model, workload, .. } => {
            put(&mut s, "model", &model.name);
            put(&mut s, "workload", workload_line(workload));
        }
        Input::Trace { shown, .. } => {
            put(&mut s, "trace", shown);
            if !r.model.is_empty() {
                put(&mut s, "model", &r.model);
            }
            if !r.workload_text.is_empty() {
                put(&mut s, "workload", &r.workload_text);
            }
        }
    }
    if let Some(p) = plan {
        put(&mut s, "plan", p.describe());
        put(&mut s, "chips-used", p.dp * p.chips_per_replica());
    }
    s.push('\n');
    put(&mut s, "cycles", r.cycles);
    put(&mut s, "seconds", sig6(r.seconds));
    put(&mut s, "tokens", sig6(r.tokens));
    put(&mut s, "users", r.users);
    put(&mut s, "bound", &r.bound);
    s.push('\n');
    let b = &r.bytes;
    put(&mut s, "bytes.memory-read", b.memory_read);
    put(&mut s, "bytes.memory-write", b.memory_write);
    put(&mut s, "bytes.kv-read", b.kv_read);
    put(&mut s, "bytes.sram", b.sram);
    put(&mut s, "bytes.noc", b.noc);
    put(&mut s, "bytes.chip-links", b.links);
    put(&mut s, "bytes.messages", b.messages);
    s
}

/// One `KEY VALUE` line, the values aligned.
fn put(s: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(s, "{key:<20}{value}");
}

/// The workload as the suite spells it, only the keys its phase uses.
fn workload_line(w: &Workload) -> String {
    let common =
        format!("kv-keep={} weights-dtype={} kv-dtype={} act-dtype={}", sig6(w.kv_keep), w.weights, w.kv, w.act);
    match w.phase {
        Phase::Decode => format!(
            "decode batch={} context={} spec={} accept-rate={} {common}",
            w.batch,
            w.context,
            w.spec,
            sig6(w.accept_rate)
        ),
        Phase::Prefill => format!("prefill batch={} prompt={} context={} {common}", w.batch, w.prompt, w.context),
    }
}

/// `v` to six significant digits, written the shortest way that reads
/// back to that (`2.952`, `0.000123457`, `1`).
pub fn sig6(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let rounded: f64 = format!("{v:.5e}").parse().expect("a formatted float parses");
    rounded.to_string()
}

/// The value of the first line with `key`.
pub fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| match split(l) {
        (k, v) if k == key => Some(v),
        _ => None,
    })
}

/// The simulated cycles a snapshot records.
pub fn cycles(text: &str) -> Option<u64> {
    value(text, "cycles")?.parse().ok()
}

/// A line's key and value.
fn split(line: &str) -> (&str, &str) {
    match line.split_once(' ') {
        Some((k, v)) => (k, v.trim_start()),
        None => (line, ""),
    }
}

/// How a new snapshot compares with the accepted one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Line for line the same (line endings aside).
    Same,
    /// Only `cycles` and `seconds` differ, each by at most the tolerance.
    WithinTolerance,
    Changed,
}

/// Compares `new` with the accepted `old`. `tolerance` is a percentage:
/// with it, lines `cycles` and `seconds` may each differ from the accepted
/// value by at most that share of it; every other line must be the same.
pub fn compare(old: &str, new: &str, tolerance: f64) -> Verdict {
    if old.lines().eq(new.lines()) {
        return Verdict::Same;
    }
    if tolerance <= 0.0 || old.lines().count() != new.lines().count() {
        return Verdict::Changed;
    }
    for (a, b) in old.lines().zip(new.lines()) {
        if a == b {
            continue;
        }
        let ((ka, va), (kb, vb)) = (split(a), split(b));
        if ka != kb || !TOLERANT.contains(&ka) {
            return Verdict::Changed;
        }
        match (va.parse::<f64>(), vb.parse::<f64>()) {
            (Ok(x), Ok(y)) if within(x, y, tolerance) => {}
            _ => return Verdict::Changed,
        }
    }
    Verdict::WithinTolerance
}

/// Whether `new` is within `pct` percent of `old`.
fn within(old: f64, new: f64, pct: f64) -> bool {
    if old == new {
        return true;
    }
    old != 0.0 && ((new - old) / old).abs() * 100.0 <= pct * (1.0 + 1e-12)
}

/// The relative move from `old` to `new`, as `+1.23%`; `n/a` from zero.
pub fn percent(old: u64, new: u64) -> String {
    if old == 0 {
        return "n/a".into();
    }
    format!("{:+.2}%", (new as f64 - old as f64) / old as f64 * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(cycles: u64, seconds: f64, noc: u64) -> String {
        format!(
            "{MAGIC:<20}1\ncase                x\n\ncycles              {cycles}\nseconds             {}\n\nbytes.noc           \
             {noc}\n",
            sig6(seconds)
        )
    }

    #[test]
    fn six_significant_digits() {
        assert_eq!(sig6(1.0), "1");
        assert_eq!(sig6(2.9520000000000004), "2.952");
        assert_eq!(sig6(0.000123456789), "0.000123457");
        assert_eq!(sig6(123456789.0), "123457000");
    }

    #[test]
    fn tolerance_covers_cycles_and_seconds_only() {
        let old = snap(100_000, 1e-4, 7);
        assert_eq!(compare(&old, &old, 0.0), Verdict::Same);
        assert_eq!(compare(&old, &old.replace('\n', "\r\n"), 0.0), Verdict::Same);
        let half = snap(100_500, 1.005e-4, 7);
        assert_eq!(compare(&old, &half, 0.0), Verdict::Changed);
        assert_eq!(compare(&old, &half, 1.0), Verdict::WithinTolerance);
        assert_eq!(compare(&old, &half, 0.5), Verdict::WithinTolerance);
        assert_eq!(compare(&old, &half, 0.4), Verdict::Changed);
        let five = snap(105_000, 1.05e-4, 7);
        assert_eq!(compare(&old, &five, 1.0), Verdict::Changed);
        assert_eq!(compare(&old, &snap(95_000, 0.95e-4, 7), 5.0), Verdict::WithinTolerance);
        // Any other line must match, however large the tolerance.
        assert_eq!(compare(&old, &snap(100_000, 1e-4, 8), 100.0), Verdict::Changed);
        // Seconds moving with the cycles still (a new clock) is caught.
        assert_eq!(compare(&old, &snap(100_000, 2e-4, 7), 1.0), Verdict::Changed);
    }

    #[test]
    fn values_and_percentages() {
        let s = snap(1234, 1e-6, 0);
        assert_eq!(cycles(&s), Some(1234));
        assert_eq!(value(&s, "case"), Some("x"));
        assert_eq!(percent(1000, 1003), "+0.30%");
        assert_eq!(percent(1000, 950), "-5.00%");
        assert_eq!(percent(0, 5), "n/a");
    }
}
