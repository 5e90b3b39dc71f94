//! `tilesim snap` (arch/snap.md): runs a suite's cases with a progress bar
//! on stderr, compares each snapshot with the accepted one, prints the
//! verdicts, the cycle moves and the diffs, writes JUnit, and walks a
//! review. Exit 0 when every case matches, 4 when any is new or changed,
//! 2 when the suite is bad or a case cannot run.

use super::CliError;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use tilesim::fileio::AtomicFile;
use tilesim::snap::{self, Outcome, Report, Settings, Status, Store};

#[derive(Args, Debug)]
pub struct SnapArgs {
    /// The suite: a TOML file of `[[case]]` tables (arch/snap.md). Snapshots live in
    /// SUITE.snapshots/ beside it.
    pub suite: PathBuf,
    /// Accept every new and changed snapshot (write it as NAME.snap), and delete the
    /// snapshots of cases no longer in the suite.
    #[arg(long, conflicts_with_all = ["review", "review_stdin"])]
    pub accept: bool,
    /// Walk through each new and changed snapshot on the terminal: accept, reject or skip.
    #[arg(long, conflicts_with = "review_stdin")]
    pub review: bool,
    /// As --review, reading the answers from standard input, one a line (a, r, s or q), even
    /// when it is not a terminal (for scripts).
    #[arg(long)]
    pub review_stdin: bool,
    /// Let `cycles` and `seconds` each move by up to PCT percent of the accepted value (every
    /// other line must still match); the accepted snapshot is kept.
    #[arg(long, value_name = "PCT", value_parser = parse_tolerance)]
    pub tolerance: Option<f64>,
    /// Worker threads (default: the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Also write a JUnit XML report here: one testcase per case.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

fn parse_tolerance(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("expected a percentage such as 0.5 or 2%, found `{s}`"))?;
    if v.is_finite() && v >= 0.0 { Ok(v) } else { Err(format!("must be a percentage of 0 or more, found `{s}`")) }
}

impl From<snap::SuiteError> for CliError {
    fn from(e: snap::SuiteError) -> Self {
        match e {
            snap::SuiteError::Config(e) => CliError::Config(e),
            snap::SuiteError::Trace(e) => CliError::Trace(e),
        }
    }
}

impl From<snap::StoreError> for CliError {
    fn from(e: snap::StoreError) -> Self {
        let path = e.path.display().to_string();
        if e.reading {
            // Bad input (exit 2): say so rather than "cannot write".
            return CliError::Usage(format!("cannot read {path}: {}", e.source));
        }
        CliError::Output { path, message: e.source.to_string() }
    }
}

pub fn run(a: &SnapArgs) -> Result<ExitCode, CliError> {
    if a.review && !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "--review asks on a terminal, and standard input is not one: use --review-stdin to read the answers \
             from it, or --accept"
                .into(),
        ));
    }
    let suite = snap::load(&a.suite)?;
    let store = Store::new(snap::snapshot_dir(&a.suite));
    let jobs = match a.jobs {
        Some(j) => j as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let total = suite.cases.len();
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target).with_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} cases, {eta} left")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let start = Instant::now();
    let runs = snap::run(&suite, jobs, |done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    let settings = Settings { tolerance: a.tolerance.unwrap_or(0.0), accept: a.accept };
    let mut report = snap::settle(&suite, runs, &store, &settings)?;
    // The run's time, without the time a review waits for answers.
    let seconds = start.elapsed().as_secs_f64();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let reviewing = a.review || a.review_stdin;

    super::out(&table(&suite.file, &store, &report, settings.tolerance))?;
    // A review shows each diff as it asks.
    super::out(&details(&report, !reviewing, color))?;
    if reviewing {
        review(&mut report, &store, &mut std::io::stdin().lock(), color)?;
    }
    super::out(&summary(&report, &store, &a.suite, seconds))?;

    if let Some(path) = &a.junit {
        let err = |e: std::io::Error| CliError::Output { path: path.display().to_string(), message: e.to_string() };
        let mut f = AtomicFile::create(path).map_err(err)?;
        snap::junit::write(&mut f, &suite.file, &report, seconds).map_err(err)?;
        f.commit().map_err(err)?;
    }

    let failed = report.count(Status::Error);
    if failed > 0 {
        return Err(CliError::CasesFailed { count: failed, total });
    }
    let differ = report.outcomes.iter().filter(|o| !o.status.passed()).count();
    if differ > 0 {
        return Err(CliError::SnapshotsChanged { count: differ, total, suite: a.suite.display().to_string() });
    }
    Ok(ExitCode::SUCCESS)
}

/// The header and one line per case.
fn table(file: &str, store: &Store, r: &Report, tolerance: f64) -> String {
    let mut s = String::new();
    let n = r.outcomes.len();
    let _ = writeln!(s, "snap {file}: {n} case{}, snapshots in {}", plural(n), store.dir().display());
    let width = r.outcomes.iter().map(|o| o.name.len()).max().unwrap_or(0).min(40);
    for o in &r.outcomes {
        let what = match o.status {
            Status::Error => o.error.as_deref().and_then(|e| e.lines().next()).unwrap_or("").to_string(),
            Status::WithinTolerance => format!("{}, within {tolerance}%", o.cycles_line()),
            _ => o.cycles_line(),
        };
        let _ = writeln!(s, "  {:<9}{:<width$}  {what}", o.status.name(), o.name);
    }
    s
}

/// The diff of every new, changed or accepted case (when `diffs`), and
/// the whole message of every case that could not run.
fn details(r: &Report, diffs: bool, color: bool) -> String {
    let mut s = String::new();
    for o in &r.outcomes {
        match o.status {
            Status::Changed | Status::New | Status::Accepted if diffs => {
                let _ = writeln!(s, "\n{} {}: {}", o.status.name(), o.name, o.cycles_line());
                s.push_str(&paint(&diff_of(o), color));
            }
            Status::Error => {
                let _ = writeln!(s, "\nerror {}: {}", o.name, o.error.as_deref().unwrap_or(""));
            }
            _ => {}
        }
    }
    s
}

fn diff_of(o: &Outcome) -> String {
    snap::diff::unified(o.old.as_deref().unwrap_or(""), o.new.as_deref().unwrap_or(""), &o.name)
}

/// The closing lines: counts, where the pending snapshots are, orphans.
fn summary(r: &Report, store: &Store, suite: &Path, seconds: f64) -> String {
    let mut s = String::new();
    let n = r.outcomes.len();
    let mut parts = vec![format!("{} ok", r.count(Status::Match))];
    for st in [Status::WithinTolerance, Status::Changed, Status::New, Status::Accepted, Status::Rejected, Status::Error]
    {
        let c = r.count(st);
        if c > 0 {
            let label = if st == Status::WithinTolerance { "within tolerance" } else { st.name() };
            parts.push(format!("{c} {label}"));
        }
    }
    let _ = writeln!(s, "\n{n} case{} in {seconds:.1} s: {}", plural(n), parts.join(", "));
    let pending = r.outcomes.iter().filter(|o| o.status.pending()).count();
    if pending > 0 {
        let _ = writeln!(
            s,
            "{pending} new or changed snapshot{} written as NAME.snap.new in {}",
            plural(pending),
            store.dir().display()
        );
    }
    if !r.orphans.is_empty() {
        let names = r.orphans.iter().map(|o| format!("{o}.snap")).collect::<Vec<_>>().join(", ");
        if r.orphans_removed {
            let _ = writeln!(s, "deleted the snapshots of cases no longer in the suite: {names}");
        } else {
            let _ = writeln!(
                s,
                "snapshots of cases no longer in the suite: {names} (`tilesim snap {} --accept` deletes them)",
                suite.display()
            );
        }
    }
    s
}

/// Asks about each new or changed case in suite order: `a` accepts
/// (`NAME.snap.new` becomes `NAME.snap`), `r` rejects (deletes
/// `NAME.snap.new`), `s` skips (leaves it), `q` skips the rest; so does
/// the end of the input.
fn review(r: &mut Report, store: &Store, input: &mut dyn BufRead, color: bool) -> Result<(), CliError> {
    let todo: Vec<usize> = (0..r.outcomes.len()).filter(|&i| r.outcomes[i].status.pending()).collect();
    let n = todo.len();
    for (k, &i) in todo.iter().enumerate() {
        let o = &mut r.outcomes[i];
        super::out(&format!("\n[{}/{n}] {} {}: {}\n", k + 1, o.status.name(), o.name, o.cycles_line()))?;
        super::out(&paint(&diff_of(o), color))?;
        loop {
            super::out("accept, reject or skip? [a/r/s, q: skip the rest] ")?;
            let mut line = String::new();
            let read = input
                .read_line(&mut line)
                .map_err(|e| CliError::Output { path: "standard input".into(), message: e.to_string() })?;
            match line.trim() {
                _ if read == 0 => {
                    super::out("\n(end of input: the rest are skipped)\n")?;
                    return Ok(());
                }
                "a" | "accept" => {
                    store.promote(&o.name)?;
                    o.status = Status::Accepted;
                    break;
                }
                "r" | "reject" => {
                    store.discard(&o.name)?;
                    o.status = Status::Rejected;
                    break;
                }
                "s" | "skip" => break,
                "q" | "quit" => return Ok(()),
                other => super::out(&format!(
                    "`{other}`? a: accept (NAME.snap.new becomes NAME.snap), r: reject (delete NAME.snap.new), \
                     s: skip (keep it for later), q: skip this and the rest\n"
                ))?,
            }
        }
    }
    Ok(())
}

/// Colours a unified diff for a terminal: removals red, additions green,
/// hunk headers cyan.
fn paint(diff: &str, color: bool) -> String {
    if !color {
        return diff.to_string();
    }
    let mut s = String::new();
    for line in diff.lines() {
        let code = if line.starts_with("+++") || line.starts_with("---") {
            "1"
        } else if line.starts_with('+') {
            "32"
        } else if line.starts_with('-') {
            "31"
        } else if line.starts_with("@@") {
            "36"
        } else {
            ""
        };
        if code.is_empty() {
            let _ = writeln!(s, "{line}");
        } else {
            let _ = writeln!(s, "\x1b[{code}m{line}\x1b[0m");
        }
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
