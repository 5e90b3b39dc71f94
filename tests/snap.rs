//! `tilesim snap` end to end (arch/snap.md): new cases, `--accept`, all
//! matching, a changed config named with its old and new cycles, a new
//! case, `--tolerance`, review from standard input, stale and orphaned
//! snapshots, a case that cannot run, JUnit read by a real XML parser,
//! snapshots byte-identical across runs and `--jobs`, the example suite
//! still matching its accepted snapshots, and malformed suites (golden
//! errors, as `tests/errors.rs`).
//!
//! Cases are one layer of Llama-2-7B at a short context on small chips,
//! so each run takes a fraction of a second. No assertion names a cycle
//! count: the numbers come from the snapshots the runs write.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tilesim::config::shipped::{self, Kind};

/// A case of one layer at 128 tokens of context.
fn case(name: &str, chip: &str, extra: &str) -> String {
    format!(
        "[[case]]\nname = \"{name}\"\nmodel = \"llama-2-7b\"\nchip = \"{chip}\"\nlayers = 1\ncontext = 128\n{extra}\n"
    )
}

/// A suite in its own temporary directory, run from there as
/// `tilesim snap suite.toml`.
struct Suite {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Suite {
    fn new(text: &str) -> Suite {
        let s = Suite { dir: tempfile::tempdir().expect("a temporary directory") };
        s.write("suite.toml", text);
        s
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path(rel)).ok()
    }

    /// The accepted snapshot of case `name`.
    fn snap(&self, name: &str) -> Option<String> {
        self.read(&format!("suite.snapshots/{name}.snap"))
    }

    /// The snapshot of `name` waiting for review.
    fn pending(&self, name: &str) -> Option<String> {
        self.read(&format!("suite.snapshots/{name}.snap.new"))
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, None)
    }

    fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tilesim"));
        cmd.arg("snap").arg("suite.toml").args(args).current_dir(self.dir.path());
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run tilesim");
        if let Some(text) = input {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let (code, stdout, stderr) = common::text(&out);
        assert!(!stderr.contains("panicked"), "{stderr}");
        Run { code, stdout, stderr }
    }

    /// Runs `--accept` and checks it succeeds.
    fn accept(&self) {
        let r = self.run(&["--accept"]);
        assert_eq!(r.code, 0, "--accept:\n{}\n{}", r.stdout, r.stderr);
    }
}

impl Run {
    /// The table line of case `name`, its words.
    fn line(&self, name: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.len() >= 2 && w[1] == name)
            .unwrap_or_else(|| panic!("no line for {name} in:\n{}", self.stdout))
    }

    fn status(&self, name: &str) -> String {
        self.line(name)[0].to_string()
    }
}

fn cycles(snapshot: &str) -> u64 {
    tilesim::snap::snapshot::cycles(snapshot).expect("a cycles line")
}

/// A snapshot with its `cycles` and `seconds` lines divided by `by`.
fn scaled(snapshot: &str, by: f64) -> String {
    let mut out = String::new();
    for line in snapshot.lines() {
        let (key, value) = line.split_once(' ').map_or((line, ""), |(k, v)| (k, v.trim()));
        let line = match key {
            "cycles" => format!("{key:<20}{}", (value.parse::<f64>().unwrap() / by).round()),
            "seconds" => format!("{key:<20}{}", tilesim::snap::snapshot::sig6(value.parse::<f64>().unwrap() / by)),
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The first child element of `node` named `tag`.
fn child<'a, 'input>(node: roxmltree::Node<'a, 'input>, tag: &str) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|n| n.has_tag_name(tag))
}

fn two_cases() -> String {
    case("mesh", "mini-mesh", "") + &case("h100", "h100", "")
}

#[test]
fn new_cases_then_accept_then_everything_matches() {
    let s = Suite::new(&two_cases());
    let r = s.run(&[]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    for name in ["mesh", "h100"] {
        assert_eq!(r.status(name), "new");
        let new = s.pending(name).expect("NAME.snap.new written");
        assert!(new.starts_with("tilesim-snapshot    1\n"), "{new}");
        assert_eq!(r.line(name)[2], cycles(&new).to_string());
        assert!(s.snap(name).is_none());
    }
    assert!(r.stderr.contains("2 of 2 cases differ") && r.stderr.contains("--review"), "{}", r.stderr);

    let a = s.run(&["--accept"]);
    assert_eq!(a.code, 0, "{}\n{}", a.stdout, a.stderr);
    assert_eq!(a.status("mesh"), "accepted");
    for name in ["mesh", "h100"] {
        assert!(s.snap(name).is_some() && s.pending(name).is_none());
    }

    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!((r.status("mesh"), r.status("h100")), ("ok".into(), "ok".into()));
    assert!(r.stdout.contains("2 cases in ") && r.stdout.contains(": 2 ok\n"), "{}", r.stdout);
    assert!(!r.stdout.contains("---"), "no diff when all match:\n{}", r.stdout);
}

#[test]
fn a_changed_config_names_the_case_with_old_and_new_cycles() {
    // The design's own chip config, by path: edited, its cycles move.
    let chip = shipped::get(Kind::Chip, "mini-mesh").unwrap();
    let s = Suite::new(&(case("mine", "chips/mine.toml", "") + &case("h100", "h100", "")));
    s.write("chips/mine.toml", chip);
    s.accept();
    let before = s.snap("mine").unwrap();

    s.write("chips/mine.toml", &chip.replace("bandwidth = \"256 GB/s\"", "bandwidth = \"64 GB/s\""));
    let r = s.run(&[]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.status("h100"), "ok");
    assert_eq!(r.status("mine"), "changed");
    let after = s.pending("mine").expect("NAME.snap.new written");
    let (old, new) = (cycles(&before), cycles(&after));
    assert!(new > old, "a quarter of the HBM bandwidth is slower: {old} -> {new}");
    let pct = format!("(+{:.2}%)", (new as f64 - old as f64) / old as f64 * 100.0);
    assert_eq!(r.line("mine")[2..], [old.to_string(), "->".into(), new.to_string(), "cycles".into(), pct]);
    // The unified diff, and the accepted snapshot left alone.
    assert!(r.stdout.contains("--- mine.snap\n+++ mine.snap.new\n@@"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("\n-cycles              {old}\n")), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("\n+cycles              {new}\n")), "{}", r.stdout);
    assert_eq!(s.snap("mine").unwrap(), before);
    assert!(r.stderr.contains("1 of 2 cases differ"), "{}", r.stderr);

    // Putting the config back makes the stale NAME.snap.new go away.
    s.write("chips/mine.toml", chip);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(s.pending("mine").is_none());
}

#[test]
fn a_new_case_is_written_as_snap_new() {
    let s = Suite::new(&case("mesh", "mini-mesh", ""));
    s.accept();
    let accepted = s.snap("mesh").unwrap();
    s.write("suite.toml", &(case("mesh", "mini-mesh", "") + &case("mesh-batch4", "mini-mesh", "batch = 4")));
    let r = s.run(&[]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert_eq!((r.status("mesh"), r.status("mesh-batch4")), ("ok".into(), "new".into()));
    let new = s.pending("mesh-batch4").expect("NAME.snap.new");
    assert!(new.contains("workload            decode batch=4 context=128 "), "{new}");
    assert!(s.snap("mesh-batch4").is_none() && s.pending("mesh").is_none());
    assert_eq!(s.snap("mesh").unwrap(), accepted);
    // The whole new snapshot is shown, as additions.
    assert!(r.stdout.contains("+++ mesh-batch4.snap.new\n@@ -0,0 +1,"), "{}", r.stdout);

    s.accept();
    assert_eq!(s.run(&[]).code, 0);
}

#[test]
fn tolerance_accepts_a_half_percent_move_and_rejects_five() {
    let s = Suite::new(&case("mesh", "mini-mesh", ""));
    s.accept();
    let now = s.snap("mesh").unwrap();
    let snap_path = "suite.snapshots/mesh.snap";

    // The accepted snapshot 0.5% faster than this run: a 0.5% move.
    let half = scaled(&now, 1.005);
    s.write(snap_path, &half);
    let r = s.run(&["--tolerance", "1"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.status("mesh"), "ok~");
    assert!(r.stdout.contains("(+0.50%), within 1%"), "{}", r.stdout);
    assert_eq!(s.read(snap_path).unwrap(), half, "a tolerated move keeps the accepted snapshot");
    assert!(s.pending("mesh").is_none());
    assert_eq!(s.run(&["--tolerance", "0.4%"]).code, 4);
    assert_eq!(s.run(&[]).code, 4, "no tolerance: exact");

    // A 5% move is refused at 1%.
    s.write(snap_path, &scaled(&now, 1.05));
    let r = s.run(&["--tolerance", "1"]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.status("mesh"), "changed");
    assert!(r.stdout.contains("(+5.00%)"), "{}", r.stdout);

    // Only the time may move: a changed byte count fails at any tolerance.
    let bytes = now.replace("bytes.chip-links    0", "bytes.chip-links    1");
    assert_ne!(bytes, now);
    s.write(snap_path, &bytes);
    assert_eq!(s.run(&["--tolerance", "100"]).code, 4);

    let r = s.run(&["--tolerance", "fast"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("expected a percentage"), "{}", r.stderr);
}

#[test]
fn review_from_stdin_accepts_rejects_and_skips() {
    let s = Suite::new(&(case("a", "mini-mesh", "") + &case("b", "mini-mesh", "batch = 2") + &case("c", "h100", "")));
    // An unknown answer is asked again; then accept, reject, skip.
    let r = s.run_with_input(&["--review-stdin"], Some("x\na\nr\ns\n"));
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("[1/3] new a:") && r.stdout.contains("[3/3] new c:"), "{}", r.stdout);
    assert!(r.stdout.contains("`x`? a: accept"), "{}", r.stdout);
    assert!(s.snap("a").is_some() && s.pending("a").is_none(), "accepted");
    assert!(s.snap("b").is_none() && s.pending("b").is_none(), "rejected");
    assert!(s.snap("c").is_none() && s.pending("c").is_some(), "skipped");
    assert!(r.stdout.contains("1 accepted, 1 rejected") || r.stdout.contains("1 new, 1 accepted, 1 rejected"));

    // Accepting the rest; the end of the input skips what is left.
    let r = s.run_with_input(&["--review-stdin"], Some("a\n"));
    assert_eq!(r.code, 4, "b is still new: {}", r.stdout);
    assert!(s.snap("b").is_some(), "b was first in line");
    assert!(r.stdout.contains("end of input"), "{}", r.stdout);
    let r = s.run_with_input(&["--review-stdin"], Some("a\n"));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // --review needs a terminal; a CI job must not wait on it.
    let r = s.run(&["--review"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--review-stdin"), "{}", r.stderr);
}

#[test]
fn stale_pending_and_orphaned_snapshots() {
    let s = Suite::new(&two_cases());
    s.accept();
    // `h100` leaves the suite; a stale `mesh.snap.new` and one of a case
    // that never existed are lying around.
    s.write("suite.toml", &case("mesh", "mini-mesh", ""));
    s.write("suite.snapshots/mesh.snap.new", "stale\n");
    s.write("suite.snapshots/gone.snap.new", "stale\n");
    s.write("suite.snapshots/notes.txt", "kept\n");
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(s.pending("mesh").is_none() && s.pending("gone").is_none());
    assert!(s.snap("h100").is_some(), "an orphan is only reported");
    assert!(r.stdout.contains("no longer in the suite: h100.snap"), "{}", r.stdout);
    let r = s.run(&["--accept"]);
    assert_eq!(r.code, 0);
    assert!(s.snap("h100").is_none(), "--accept deletes it");
    assert!(s.snap("mesh").is_some() && s.read("suite.snapshots/notes.txt").is_some());
}

#[test]
fn junit_has_a_testcase_per_case_and_the_diffs() {
    let s = Suite::new(&(case("same", "mini-mesh", "") + &case("moved", "h100", "")));
    s.accept();
    let suite = case("same", "mini-mesh", "")
        + &case("moved", "h100", "set = { \"hbm.bandwidth\" = \"1 TB/s\" }")
        + &case("fresh", "mini-mesh", "batch = 2")
        // The whole 70B model cannot fit 16 GiB: the case cannot run.
        + "[[case]]\nname = \"too-big\"\nmodel = \"llama-2-70b\"\nchip = \"mini-mesh\"\n";
    s.write("suite.toml", &suite);
    // A JUnit file that cannot be written: exit 1, after the run.
    let r = s.run(&["--junit", "no-such-dir/report.xml"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("cannot write no-such-dir/report.xml"), "{}", r.stderr);
    let r = s.run(&["--junit", "report.xml", "--jobs", "2"]);
    // A case that cannot run wins over changes: exit 2, every case reported.
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.status("too-big"), "error");
    assert!(r.stderr.contains("1 of 4 cases could not run"), "{}", r.stderr);
    assert_eq!((r.status("same"), r.status("moved"), r.status("fresh")), ("ok".into(), "changed".into(), "new".into()));

    let xml = s.read("report.xml").expect("the JUnit file");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suite_el = root.children().find(|n| n.has_tag_name("testsuite")).expect("a testsuite");
    assert_eq!(suite_el.attribute("name"), Some("suite.toml"));
    assert_eq!(
        (suite_el.attribute("tests"), suite_el.attribute("failures"), suite_el.attribute("errors")),
        (Some("4"), Some("2"), Some("1"))
    );
    let cases: Vec<_> = suite_el.children().filter(|n| n.has_tag_name("testcase")).collect();
    let names: Vec<_> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert_eq!(names, ["same", "moved", "fresh", "too-big"]);
    assert!(child(cases[0], "failure").is_none() && child(cases[0], "error").is_none());
    let moved = child(cases[1], "failure").expect("a failure for the changed case");
    let (old, new) = (cycles(&s.snap("moved").unwrap()), cycles(&s.pending("moved").unwrap()));
    assert!(moved.attribute("message").unwrap().starts_with(&format!("changed: {old} -> {new} cycles")));
    let diff = moved.text().unwrap();
    assert!(diff.contains("+set                 hbm.bandwidth=1 TB/s"), "{diff}");
    assert!(diff.contains(&format!("-cycles              {old}")), "{diff}");
    let fresh = child(cases[2], "failure").expect("a failure for the new case");
    assert_eq!(fresh.attribute("type"), Some("new"));
    assert!(fresh.text().unwrap().contains("+++ fresh.snap.new"));
    let error = child(cases[3], "error").expect("an error for the case that cannot run");
    assert!(error.attribute("message").unwrap().contains("does not fit"), "{:?}", error.attribute("message"));
}

#[test]
fn snapshots_are_byte_identical_across_runs_and_jobs() {
    let suite = two_cases()
        + &case("prefill", "h100", "phase = \"prefill\"\nprompt = 64")
        + &case("spec", "mini-mesh", "spec = 4\naccept-rate = 0.6\nkv-keep = 0.5")
        + "[[case]]\nname = \"trace\"\ntrace = \"trace.trace\"\nchip = \"mini-mesh\"\n";
    let trace =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/llama-2-7b-1layer-mini-mesh.trace"))
            .unwrap();
    let names = ["mesh", "h100", "prefill", "spec", "trace"];
    let run = |jobs: &str| {
        let s = Suite::new(&suite);
        s.write("trace.trace", &trace);
        let r = s.run(&["--jobs", jobs]);
        assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
        let first: Vec<String> = names.iter().map(|n| s.pending(n).unwrap()).collect();
        let again = s.run(&["--jobs", jobs]);
        assert_eq!(again.stdout.lines().nth(1), r.stdout.lines().nth(1));
        let second: Vec<String> = names.iter().map(|n| s.pending(n).unwrap()).collect();
        assert_eq!(first, second, "two runs with --jobs {jobs}");
        first
    };
    let one = run("1");
    let three = run("3");
    assert_eq!(one, three, "--jobs 1 and --jobs 3");
    assert!(one[4].contains("trace               trace.trace\n"), "{}", one[4]);
    assert!(one[2].contains("prefill batch=1 prompt=64 context=128 "), "{}", one[2]);
}

#[test]
fn the_example_suite_matches_its_accepted_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_tilesim"))
        .args(["snap", "examples/snap/suite.toml", "--jobs", "2"])
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (code, stdout, stderr) = common::text(&out);
    assert!(
        code == 0,
        "examples/snap/suite.toml no longer matches its snapshots (exit {code}). If the change is \
         intended, review and accept it:\n    cargo run --release -- snap examples/snap/suite.toml --review \
         (or --accept)\n\n{stdout}\n{stderr}"
    );
}

/// Malformed suites, each in `tests/snap/errors/`, run from the crate root
/// as `tilesim snap tests/snap/errors/NAME.toml`: exit 2, nothing on
/// stdout, no snapshot directory, an `error: FILE:LINE:COL` message (in
/// the suite, or in the config it names), snapshotted with insta
/// (`tests/snapshots/snap__malformed@NAME.toml.snap`).
#[test]
fn malformed() {
    /// Fixtures whose error has no line, or names another file.
    const NO_LINE: &[(&str, &str)] = &[("no-cases.toml", "an empty suite has no line to point at")];
    const ELSEWHERE: &[(&str, &str)] = &[("bad-chip-file.toml", "tests/errors/chip-unknown-field.toml:")];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap();
    let mut problems = Vec::new();
    let mut seen = 0;
    insta::glob!("snap/errors/*.toml", |path| {
        seen += 1;
        let rel = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let out = Command::new(env!("CARGO_BIN_EXE_tilesim"))
            .args(["snap", &rel])
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (code, stdout, stderr) = common::text(&out);
        let mut fail = |m: String| problems.push(format!("{rel}: {m}\n--- stderr ---\n{stderr}"));
        if code != 2 {
            fail(format!("exit status {code}, expected 2"));
        }
        if stderr.contains("panicked") {
            fail("panicked".into());
        }
        if !stdout.is_empty() {
            fail(format!("printed on stdout: {stdout}"));
        }
        if tilesim::snap::snapshot_dir(path).exists() {
            fail("created the snapshot directory".into());
        }
        let file = ELSEWHERE.iter().find(|(f, _)| *f == name).map_or(format!("{rel}:"), |(_, other)| other.to_string());
        let located = stderr
            .strip_prefix(&format!("error: {file}"))
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        match (NO_LINE.iter().any(|(f, _)| *f == name), located) {
            (false, false) => fail(format!("the error does not start `error: {file}LINE`")),
            (true, true) => fail("now has a line; remove it from NO_LINE".into()),
            (true, false) if !stderr.starts_with(&format!("error: {rel}: ")) => fail("does not name the file".into()),
            _ => {}
        }
        insta::assert_snapshot!(format!("exit status: {code}\n{stderr}"));
    });
    assert!(seen >= 20, "only {seen} fixtures");
    assert!(problems.is_empty(), "{} fixture(s) failed:\n\n{}", problems.len(), problems.join("\n\n"));
}

/// An accepted snapshot's path that is a directory is bad input (exit 2,
/// "cannot read"), not an output that could not be written (exit 1).
#[test]
fn a_directory_where_a_snapshot_belongs_is_bad_input() {
    let s = Suite::new(&case("mesh", "mini-mesh", ""));
    std::fs::create_dir_all(s.path("suite.snapshots/mesh.snap")).unwrap();
    let r = s.run(&[]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("cannot read") && r.stderr.contains("mesh.snap"), "{}", r.stderr);
}
