//! Simulation speed and memory side by side with BookSim2: `cargo bench`
//! (release build). Machines differ and are noisy, so every time is stated
//! as a ratio to one run of BookSim2 (its `mesh88_0.1.cfg`, about 6,100
//! simulated cycles), run interleaved with tilesim in this one process:
//! BookSim2 before every case, the unit being the mean of its runs (each
//! line as it runs uses the runs so far; a summary at the end puts every
//! case against the mean of all of them).
//!
//! Each case runs the `tilesim` binary as a child process, as a user would,
//! and reads its peak RSS from `wait4`. Not a test: the figures depend on
//! the machine; arch/performance.md records them.
//!
//! Usage: `cargo bench --bench simulate [-- NAME...]` runs the cases whose
//! label contains one of the NAMEs (default: all but `long`). BookSim2 is
//! found at `$TILESIM_BOOKSIM2` (a directory holding `booksim` and
//! `mesh88_0.1.cfg`), default `../shared/tools/booksim2` (or
//! `../../shared/tools/booksim2`, from a worktree); without it, the
//! ratios are skipped with a note and raw seconds are printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const TILESIM: &str = env!("CARGO_BIN_EXE_tilesim");

/// Wall seconds, peak RSS (bytes) and standard output of a child process.
struct Ran {
    seconds: f64,
    rss: u64,
    stdout: String,
}

fn spawn(cmd: &mut Command) -> Ran {
    let t = Instant::now();
    // Reaped by `wait4` below, which also gives its peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start the child");
    let pid = child.id() as libc::pid_t;
    let out = {
        use std::io::Read;
        let mut s = String::new();
        child.stdout.expect("piped").read_to_string(&mut s).expect("read its output");
        s
    };
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; `pid` is our child,
    // not yet reaped (std's `Child` is not waited on).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let seconds = t.elapsed().as_secs_f64();
    // BookSim2 exits 255 after a successful run (its main returns -1).
    let code = libc::WEXITSTATUS(status);
    assert!(code == 0 || code == 255, "{cmd:?} exited {code}");
    Ran { seconds, rss: usage.ru_maxrss as u64 * 1024, stdout: out }
}

fn tilesim(args: &[&str]) -> Ran {
    spawn(Command::new(TILESIM).args(args))
}

/// BookSim2's directory, if present: `$TILESIM_BOOKSIM2`, else
/// `../shared/tools/booksim2` beside the checkout, or two levels up (a
/// worktree under `wt/`).
fn booksim_dir() -> Option<PathBuf> {
    let ok = |dir: &Path| dir.join("booksim").is_file() && dir.join("mesh88_0.1.cfg").is_file();
    if let Some(dir) = std::env::var_os("TILESIM_BOOKSIM2") {
        let dir = PathBuf::from(dir);
        return ok(&dir).then_some(dir);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../shared/tools/booksim2", "../../shared/tools/booksim2"].iter().map(|d| root.join(d)).find(|d| ok(d))
}

/// BookSim2 runs: wall seconds of each, and the cycles it simulated.
struct Unit {
    dir: Option<PathBuf>,
    runs: Vec<f64>,
    cycles: f64,
    /// Every case: its label, wall seconds, and simulated cycles for a NoC
    /// run (a speed in cycles/s) or `None` for a decode step (a time), for
    /// the summary against the mean of all BookSim2 runs.
    results: Vec<(String, f64, Option<u64>)>,
}

impl Unit {
    /// One more BookSim2 run (between tilesim cases).
    fn sample(&mut self) {
        let Some(dir) = &self.dir else { return };
        let r = spawn(Command::new(dir.join("booksim")).arg(dir.join("mesh88_0.1.cfg")).current_dir(dir));
        self.runs.push(r.seconds);
        if let Some(c) = r.stdout.lines().find_map(|l| l.strip_prefix("Time taken is ")) {
            self.cycles = c.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0.0);
        }
    }
    fn seconds(&self) -> Option<f64> {
        (!self.runs.is_empty()).then(|| self.runs.iter().sum::<f64>() / self.runs.len() as f64)
    }
    /// `s` in BookSim2 runs, or seconds when BookSim2 is absent.
    fn ratio(&self, s: f64) -> String {
        match self.seconds() {
            Some(u) => format!("{:>6.2} BookSim2 runs", s / u),
            None => format!("{s:>6.2} s"),
        }
    }
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

/// The number at `key` of a `run --json` report: a top-level key, or a
/// JSON pointer (`/noc/packet_latency_mean_cycles`).
fn field(report: &str, key: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(report).expect("a JSON report");
    let x = if key.starts_with('/') { v.pointer(key) } else { v.get(key) };
    x.and_then(|x| x.as_f64()).unwrap_or_else(|| panic!("no `{key}` in the report"))
}

/// A synthetic NoC run: `gen traffic` (not timed) then `run` of its trace,
/// the same traffic by `run --traffic` (no trace file) and by `run
/// --traffic --packets` (no instructions), each on its own line; the first
/// two must agree on cycles and events.
fn noc(unit: &mut Unit, dir: &Path, rate: &str, cycles: u64) {
    let trace = dir.join(format!("uniform-{rate}-{cycles}.tbin"));
    let t = trace.to_str().unwrap();
    let cyc = cycles.to_string();
    let traffic = ["--chip", "booksim-mesh8x8", "--rate", rate, "--cycles", &cyc];
    tilesim(&[&["gen", "traffic", "--pattern", "uniform", "-o", t], &traffic[..]].concat());
    unit.sample();
    let file = tilesim(&["run", t, "--chip", "booksim-mesh8x8", "--json"]);
    noc_line(unit, &format!("8x8 mesh uniform 1-flit at {rate}, {cycles} cycles:"), cycles, &file);
    unit.sample();
    let direct = tilesim(&[&["run", "--traffic", "uniform", "--json"], &traffic[..]].concat());
    noc_line(unit, "  the same, run --traffic (no trace file):", cycles, &direct);
    for key in ["cycles", "events"] {
        assert_eq!(field(&file.stdout, key), field(&direct.stdout, key), "run --traffic and run of the trace: {key}");
    }
    unit.sample();
    let packets = tilesim(&[&["run", "--traffic", "uniform", "--packets", "--json"], &traffic[..]].concat());
    noc_line(unit, "  the same, run --traffic --packets:", cycles, &packets);
    let latency = |r: &Ran| field(&r.stdout, "/noc/packet_latency_mean_cycles");
    println!("{:<46} mean packet latency {:.3} cycles (instructions {:.3})", "", latency(&packets), latency(&direct));
}

/// One NoC run's line: time, speed against BookSim2's (its runs so far),
/// peak RSS, events/s.
fn noc_line(unit: &mut Unit, label: &str, cycles: u64, r: &Ran) {
    unit.results.push((label.trim().to_string(), r.seconds, Some(cycles)));
    let events = field(&r.stdout, "events");
    let cps = cycles as f64 / r.seconds;
    let speed = match unit.seconds() {
        Some(u) => format!("{:>6.1}x BookSim2's cycles/s", cps / (unit.cycles / u)),
        None => format!("{cps:>8.0} cycles/s"),
    };
    println!(
        "{label:<46} {:>6.2} s  {speed}  peak RSS {:>7.1} MB  {:>5.1} M events/s",
        r.seconds,
        mb(r.rss),
        events / r.seconds / 1e6
    );
}

/// A compiled decode step: `compile` (not timed) then `run` alone.
fn decode(unit: &mut Unit, dir: &Path, label: &str, chip: &str, extra: &[&str]) {
    let trace = dir.join(format!("{label}.tbin"));
    let t = trace.to_str().unwrap();
    let mut args = vec!["compile", "--model", "llama-2-70b", "--chip", chip, "--context", "4096", "-o", t];
    args.extend_from_slice(extra);
    tilesim(&args);
    unit.sample();
    let r = tilesim(&["run", t, "--chip", chip, "--json"]);
    let events = field(&r.stdout, "events");
    unit.results.push((label.to_string(), r.seconds, None));
    println!(
        "{label:<46} {}  ({:>7.2} s)  peak RSS {:>7.1} MB  {:>5.1} M events/s  {events:.0} events",
        unit.ratio(r.seconds),
        r.seconds,
        mb(r.rss),
        events / r.seconds / 1e6
    );
}

fn main() {
    let names: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run = |label: &str| {
        if names.is_empty() { !label.contains("long") } else { names.iter().any(|n| label.contains(n.as_str())) }
    };
    let mut unit = Unit { dir: booksim_dir(), runs: Vec::new(), cycles: 0.0, results: Vec::new() };
    if unit.dir.is_none() {
        println!("BookSim2 not found (set TILESIM_BOOKSIM2): times in seconds, no ratios");
    }
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    unit.sample();
    if run("noc") {
        noc(&mut unit, dir, "0.1", 100_000);
        noc(&mut unit, dir, "0.3", 100_000);
    }
    if run("long") {
        noc(&mut unit, dir, "0.1", 1_000_000);
        noc(&mut unit, dir, "0.3", 1_000_000);
    }
    if run("dgx-h100") {
        decode(&mut unit, dir, "llama-2-70b decode, dgx-h100", "dgx-h100", &[]);
    }
    if run("groq-576") {
        decode(
            &mut unit,
            dir,
            "llama-2-70b decode int8, groq-576",
            "groq-576",
            &["--weights-dtype", "int8", "--kv-dtype", "int8"],
        );
    }
    if run("cerebras") {
        decode(&mut unit, dir, "llama-2-70b decode, cerebras-cs3x4", "cerebras-cs3x4", &[]);
        // 32 users at 4096 context need fp8 weights and KV to fit the
        // wafers' SRAM (fp16 needs 42 GiB per chip of 36.5).
        decode(
            &mut unit,
            dir,
            "llama-2-70b decode fp8, cerebras-cs3x4 batch 32",
            "cerebras-cs3x4",
            &["--batch", "32", "--weights-dtype", "fp8", "--kv-dtype", "fp8"],
        );
    }
    if let Some(u) = unit.seconds() {
        println!(
            "unit: BookSim2 mesh88_0.1.cfg, {:.0} cycles, mean of {} runs {u:.2} s ({:.0} cycles/s)",
            unit.cycles,
            unit.runs.len(),
            unit.cycles / u
        );
        // The lines above use the BookSim2 runs made before each case; on a
        // noisy machine the mean of all of them is the steadier unit.
        println!("every case against that mean:");
        for (label, s, cycles) in &unit.results {
            match cycles {
                Some(c) => println!("  {label:<46} {:>6.1}x BookSim2's cycles/s", *c as f64 / s / (unit.cycles / u)),
                None => println!("  {label:<46} {:>6.2} BookSim2 runs", s / u),
            }
        }
    }
}
