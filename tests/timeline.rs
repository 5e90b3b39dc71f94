//! The timeline Perfetto accepts (arch/timeline.md): a checker of the JSON
//! importer's rules, run on the timeline of every shipped trace (whole and
//! windowed); and, where Perfetto's `trace_processor_shell` is installed
//! (on PATH, or named by TRACE_PROCESSOR_SHELL), the file loaded by it with
//! no import error and the slice count expected. Absent, that part is
//! skipped with a message.

mod common;

use common::{text, tilesim};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use tilesim::config::shipped::{self, Kind};
use tilesim::report::timeline::ChromeWriter;
use tilesim::sim::{self, SpanSink, TimelineOptions};
use tilesim::trace::{Format, Trace};
use tilesim::units::Cycle;

/// What a valid document holds.
#[derive(Debug, Default)]
struct Counts {
    /// Complete slices (`X`) and instants (`i`): Perfetto's `slice` rows.
    slices: usize,
    instants: usize,
    threads: usize,
    /// The latest slice end, in ns.
    last_end: i64,
}

/// (pid, tid).
type Thread = (i64, i64);

/// Perfetto's reading of a JSON timestamp in µs: llround(x * 1000) ns.
fn ns(v: &Value) -> Option<i64> {
    v.as_f64().filter(|x| x.is_finite()).map(|x| (x * 1000.0).round() as i64)
}

/// The rules of the Chrome JSON importer that a timeline must keep:
/// required fields on every event; on every thread, complete slices either
/// disjoint or nested (sorted by start, a slice may not end inside one it
/// starts in); `B`/`E` balanced and in order per thread; counters in time
/// order per series; every thread and process with slices named.
fn check(doc: &Value) -> Result<Counts, Vec<String>> {
    let mut errors = Vec::new();
    let Some(events) = doc.get("traceEvents").and_then(Value::as_array) else {
        return Err(vec!["no traceEvents array".into()]);
    };
    // Per (pid, tid): (start, end, event index).
    let mut slices: HashMap<Thread, Vec<(i64, i64, usize)>> = HashMap::new();
    let mut open: HashMap<(i64, i64), Vec<i64>> = HashMap::new();
    let mut last_be: HashMap<(i64, i64), i64> = HashMap::new();
    let mut counters: HashMap<(i64, String), i64> = HashMap::new();
    let (mut thread_names, mut process_names) = (HashSet::new(), HashSet::new());
    let mut c = Counts::default();
    for (i, e) in events.iter().enumerate() {
        let mut bad = |m: String| {
            if errors.len() < 20 {
                errors.push(format!("event {i}: {m}: {e}"));
            }
        };
        let ph = e.get("ph").and_then(Value::as_str).unwrap_or("");
        let name = e.get("name").and_then(Value::as_str);
        let (pid, tid) = (e.get("pid").and_then(Value::as_i64), e.get("tid").and_then(Value::as_i64));
        let ts = e.get("ts").and_then(ns);
        let (Some(name), Some(pid), Some(tid), Some(ts)) = (name, pid, tid, ts) else {
            bad("missing or mistyped ph/name/pid/tid/ts".into());
            continue;
        };
        if ts < 0 || pid < 0 || tid < 0 || pid > u32::MAX as i64 || tid > u32::MAX as i64 {
            bad("negative time, or a pid/tid outside 32 bits".into());
        }
        let key = (pid, tid);
        match ph {
            "X" => {
                let Some(dur) = e.get("dur").and_then(ns).filter(|d| *d >= 0) else {
                    bad("a complete event without a non-negative dur".into());
                    continue;
                };
                // Perfetto adds the converted values.
                slices.entry(key).or_default().push((ts, ts + dur, i));
                c.slices += 1;
                c.last_end = c.last_end.max(ts + dur);
            }
            "B" | "E" => {
                let last = last_be.entry(key).or_insert(ts);
                if ts < *last {
                    bad("B/E out of time order on its thread".into());
                }
                *last = ts;
                let stack = open.entry(key).or_default();
                if ph == "B" {
                    stack.push(ts);
                } else if stack.pop().is_none() {
                    bad("E without a B".into());
                }
            }
            "C" => {
                let last = counters.entry((pid, name.to_string())).or_insert(ts);
                if ts < *last {
                    bad("counter samples out of time order".into());
                }
                *last = ts;
                if e.pointer("/args").and_then(Value::as_object).is_none_or(|a| a.values().any(|v| !v.is_number())) {
                    bad("a counter needs numeric args".into());
                }
            }
            "i" | "I" => c.instants += 1,
            "M" => {
                let named = e.pointer("/args/name").and_then(Value::as_str).is_some();
                match name {
                    "thread_name" if named => {
                        thread_names.insert(key);
                    }
                    "process_name" if named => {
                        process_names.insert(pid);
                    }
                    "thread_name" | "process_name" => bad("a name event without args.name".into()),
                    _ => bad("metadata the importer does not know".into()),
                }
            }
            _ => bad(format!("phase `{ph}` not written by tilesim")),
        }
    }
    for (key, stack) in &open {
        if !stack.is_empty() {
            errors.push(format!("thread {key:?}: {} B without E", stack.len()));
        }
    }
    c.threads = slices.len();
    for (key, v) in &mut slices {
        if !thread_names.contains(key) {
            errors.push(format!("thread {key:?} has slices but no thread_name"));
        }
        if !process_names.contains(&key.0) {
            errors.push(format!("process {} has slices but no process_name", key.0));
        }
        // Sorted by start, longer first: each slice must end within every
        // open slice it starts inside.
        v.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut stack: Vec<(i64, i64, usize)> = Vec::new();
        for &(s, e, i) in v.iter() {
            while stack.last().is_some_and(|top| top.1 <= s) {
                stack.pop();
            }
            if let Some(top) = stack.last()
                && e > top.1
            {
                if errors.len() < 40 {
                    errors.push(format!(
                        "thread {key:?}: event {i} [{s}, {e}) ns partly overlaps event {} [{}, {}) ns",
                        top.2, top.0, top.1
                    ));
                }
                continue;
            }
            stack.push((s, e, i));
        }
    }
    if errors.is_empty() { Ok(c) } else { Err(errors) }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_traces() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(root().join("traces")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

/// Runs `trace` with a timeline (window `window`), returns the document,
/// the run's stats and what the timeline says it wrote.
fn timeline_of(path: &Path, window: Option<(Cycle, Cycle)>) -> (Value, sim::RunStats, Vec<u8>) {
    let trace = Trace::load(path).unwrap_or_else(|e| panic!("{e}"));
    let name = trace.header.chip.clone();
    let chip = tilesim::config::chip::load_str(&name, shipped::get(Kind::Chip, &name).unwrap()).unwrap();
    let writer = RefCell::new(ChromeWriter::new(Vec::new(), &chip, trace.format == Format::Binary));
    let stats = {
        let sink: &RefCell<dyn SpanSink> = &writer;
        let opts =
            sim::Options { timeline: Some((TimelineOptions { window, ..Default::default() }, sink)), prefetch: None };
        sim::simulate(&chip, &trace, &opts).unwrap_or_else(|e| panic!("{e}"))
    };
    let summary = stats.timeline.clone().expect("a timeline was recorded");
    let bytes = writer.into_inner().finish(&chip, &trace.file, stats.cycles, &summary).unwrap();
    let doc: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    (doc, stats, bytes)
}

fn check_or_panic(what: &str, doc: &Value) -> Counts {
    check(doc).unwrap_or_else(|e| panic!("{what}: the timeline breaks the importer's rules:\n{}", e.join("\n")))
}

/// Every shipped trace: the whole run, every operation and every track nested.
#[test]
fn every_shipped_trace_s_timeline_nests_and_covers_the_run() {
    let traces = shipped_traces();
    assert!(traces.len() >= 5, "{traces:?}");
    for path in traces {
        let what = path.display().to_string();
        let (doc, stats, bytes) = timeline_of(&path, None);
        let c = check_or_panic(&what, &doc);
        let other = &doc["otherData"];
        assert_eq!(other["spans"].as_u64(), Some(c.slices as u64), "{what}");
        assert_eq!(other["spans_left_out"], 0, "{what}");
        assert_eq!(other["cycles"].as_u64(), Some(stats.cycles.0), "{what}");
        // Every load, store, send and receive is a slice (and compute more).
        let ops: u64 = stats.tiles.iter().map(|t| t.loads + t.stores + t.sends + t.recvs).sum();
        assert!(c.slices as u64 >= ops, "{what}: {} slices for {ops} operations", c.slices);
        // Nothing after the end; the end marker at it.
        let clock = doc["otherData"]["clock_hz"].as_f64().unwrap();
        let end_ns = (stats.cycles.0 as f64 * 1e9 / clock).round() as i64;
        assert!(c.last_end <= end_ns && c.last_end > 0, "{what}: last slice ends {} ns, the run {end_ns}", c.last_end);
        assert_eq!(c.instants, 1, "{what}");
        perfetto_loads(&what, &bytes, c.slices + c.instants);
    }
}

/// A window keeps what overlaps it, clipped, says what it cut, and still
/// nests.
#[test]
fn a_window_clips_and_counts_what_it_cuts() {
    let path = root().join("traces/allreduce-ring-1mib-dgx-h100.trace");
    let (whole, stats, _) = timeline_of(&path, None);
    let all = check_or_panic("whole", &whole).slices;
    let (a, b) = (Cycle(stats.cycles.0 / 4), Cycle(stats.cycles.0 / 2));
    let (doc, _, _) = timeline_of(&path, Some((a, b)));
    let c = check_or_panic("window", &doc);
    let other = &doc["otherData"];
    let (kept, out) = (other["spans"].as_u64().unwrap(), other["spans_left_out"].as_u64().unwrap());
    assert_eq!(kept as usize, c.slices);
    assert_eq!(kept + out, all as u64, "every span is written or left out");
    assert!(out > 0 && other["spans_clipped"].as_u64().unwrap() > 0, "{other}");
    let clock = other["clock_hz"].as_f64().unwrap();
    let ns = |x: Cycle| (x.0 as f64 * 1e9 / clock).round() as i64;
    for e in doc["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "X") {
        let s = (e["ts"].as_f64().unwrap() * 1000.0).round() as i64;
        let d = (e["dur"].as_f64().unwrap() * 1000.0).round() as i64;
        assert!(s >= ns(a) && s + d <= ns(b), "{e} outside the window");
    }
}

/// The command line: the window's cut is a warning on stderr; a bad
/// window is a usage error; the file is written whole or not at all.
#[test]
fn the_command_line_warns_when_the_window_cuts() {
    let dir = std::env::temp_dir().join(format!("tilesim-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("t.json");
    let o = out.to_str().unwrap();
    let trace = "traces/allreduce-ring-1mib-dgx-h100.trace";
    let (code, _, err) = text(&tilesim(&["run", trace, "--timeline", o]));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    check_or_panic("cli", &serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap());
    let (code, _, err) = text(&tilesim(&["run", trace, "--timeline", o, "--timeline-window", "2us:4us"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: timeline window") && err.contains("left out"), "{err}");
    check_or_panic("cli window", &serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap());
    std::fs::remove_file(&out).unwrap();
    let (code, _, err) = text(&tilesim(&["run", trace, "--timeline", o, "--timeline-window", "4us:2us"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--timeline-window"), "{err}");
    let (code, _, err) = text(&tilesim(&["run", trace, "--timeline-window", "0:100"]));
    assert_eq!(code, 2, "{err}");
    assert!(!out.exists(), "nothing is written by a refused command");
    // A run that fails leaves no file behind.
    let (code, _, _) = text(&tilesim(&["run", trace, "--chip", "h100", "--timeline", o]));
    assert_ne!(code, 0);
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// Checks the timeline file named by TILESIM_TIMELINE, a large run's:
/// `TILESIM_TIMELINE=/tmp/70b.json cargo test --test timeline -- --ignored`.
#[test]
#[ignore]
fn the_file_named_by_tilesim_timeline_nests() {
    let Some(path) = std::env::var_os("TILESIM_TIMELINE") else {
        eprintln!("TILESIM_TIMELINE is not set: nothing to check");
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let what = Path::new(&path).display().to_string();
    let c = check_or_panic(&what, &doc);
    let other = &doc["otherData"];
    assert_eq!(other["spans"].as_u64(), Some(c.slices as u64));
    let end_ns = (other["cycles"].as_f64().unwrap() * 1e9 / other["clock_hz"].as_f64().unwrap()).round() as i64;
    assert!(c.last_end <= end_ns);
    eprintln!(
        "{what}: {} slices on {} threads, every thread nested; last slice ends at {} ns, the run at {end_ns} ns \
         ({} cycles); {} span(s) left out, {} clipped",
        c.slices, c.threads, c.last_end, other["cycles"], other["spans_left_out"], other["spans_clipped"]
    );
    perfetto_loads(&what, &bytes, c.slices + c.instants);
}

/// The importer's own verdict, where Perfetto's trace_processor_shell is
/// installed: no import error and one slice per complete event and instant.
fn perfetto_loads(what: &str, json: &[u8], slices: usize) {
    let shell = std::env::var_os("TRACE_PROCESSOR_SHELL").map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| Path::new(d).join("trace_processor_shell"))
            .find(|p| p.is_file())
    });
    let Some(shell) = shell else {
        eprintln!("{what}: trace_processor_shell not installed (nor TRACE_PROCESSOR_SHELL): Perfetto import skipped");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tilesim-tp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("t.json");
    std::fs::write(&file, json).unwrap();
    let query = |sql: &str| -> String {
        let q = dir.join("q.sql");
        std::fs::write(&q, sql).unwrap();
        let o = std::process::Command::new(&shell).arg("-q").arg(&q).arg(&file).output().unwrap();
        assert!(o.status.success(), "{what}: trace_processor_shell failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let errors = query(
        "select name || ':' || value as e from stats where (severity = 'error' or severity = 'data_loss') and value > 0;",
    );
    let bad: Vec<&str> = errors.lines().skip(1).map(str::trim).filter(|l| !l.is_empty()).collect();
    assert!(bad.is_empty(), "{what}: Perfetto import errors: {bad:?}");
    let count = query("select count(*) as n from slice;");
    let n: usize = count
        .lines()
        .filter_map(|l| l.trim().trim_matches('"').parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("{what}: no count in {count}"));
    assert_eq!(n, slices, "{what}: Perfetto's slice count");
    std::fs::remove_dir_all(&dir).ok();
}
