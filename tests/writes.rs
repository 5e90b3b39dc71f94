//! Writes never destroy anything, and inputs come from pipes.
//!
//! - an output that is an input (same path, or the same file under another
//!   name) is refused with exit 2 and the input is left as it was;
//! - an output that is a symlink is written through to its target;
//! - a character device (`/dev/null`) is written in place, never replaced;
//! - SIGINT or SIGTERM during a write leaves no temporary file, and a
//!   temporary file left by a killed process is swept by the next write;
//! - `-`, `/dev/stdin` and pipes work for traces and configs.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TRACE: &str = include_str!("../traces/allreduce-ring-1mib-dgx-h100.trace");
const CHIP: &str = include_str!("../configs/chips/mini-mesh.toml");

fn tilesim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tilesim")).args(args).current_dir(dir).output().expect("run tilesim")
}

fn with_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tilesim"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut i = child.stdin.take().unwrap();
    let bytes = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = i.write_all(&bytes);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chip.toml"), CHIP).unwrap();
    std::fs::write(dir.path().join("t.trace"), TRACE).unwrap();
    dir
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect()
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(d.join("in.csv"), "a,b\n1,2\n2,3\n").unwrap();
    std::fs::hard_link(d.join("chip.toml"), d.join("alias.toml")).unwrap();
    let cases: &[&[&str]] = &[
        &["run", "t.trace", "--chip", "chip.toml", "--timeline", "chip.toml"],
        &["run", "t.trace", "--chip", "chip.toml", "--timeline", "./t.trace"],
        &["run", "t.trace", "--chip", "chip.toml", "--timeline", "alias.toml"],
        &["plot", "in.csv", "--x", "a", "--y", "b", "-o", "in.csv"],
        &["sweep", "--model", "llama-2-7b", "--chip", "chip.toml", "--layers", "1", "--floor-only", "-o", "chip.toml"],
        &["convert", "t.trace", "-o", "t.trace"],
        &["compile", "--model", "llama-2-7b", "--chip", "chip.toml", "--layers", "1", "-o", "alias.toml"],
        &["gen", "allreduce", "--chip", "chip.toml", "--algorithm", "ring", "--bytes", "4096", "-o", "chip.toml"],
    ];
    for args in cases {
        let o = tilesim(d, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("would destroy the input"), "{args:?}: {}", stderr(&o));
        assert_eq!(std::fs::read_to_string(d.join("chip.toml")).unwrap(), CHIP, "{args:?}");
        assert_eq!(std::fs::read_to_string(d.join("t.trace")).unwrap(), TRACE, "{args:?}");
    }
    assert_eq!(std::fs::read_to_string(d.join("in.csv")).unwrap(), "a,b\n1,2\n2,3\n");
    assert!(leftovers(d).is_empty());
}

#[test]
fn outputs_write_through_symlinks_and_into_devices() {
    let dir = setup();
    let d = dir.path();
    std::fs::create_dir(d.join("real")).unwrap();
    std::os::unix::fs::symlink("real/out.tbin", d.join("link.tbin")).unwrap();
    let o = tilesim(d, &["convert", "t.trace", "-o", "link.tbin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(d.join("link.tbin")).unwrap().file_type().is_symlink());
    assert!(std::fs::read(d.join("real/out.tbin")).unwrap().starts_with(b"TSIMBIN"));
    assert!(leftovers(d).is_empty() && leftovers(&d.join("real")).is_empty());

    // /dev/null stays a character device whoever runs this (root included).
    use std::os::unix::fs::FileTypeExt;
    for args in [
        &["convert", "t.trace", "-o", "/dev/null"][..],
        &["run", "t.trace", "--chip", "dgx-h100", "--timeline", "/dev/null"],
        &["gen", "allreduce", "--chip", "chip.toml", "--algorithm", "ring", "--bytes", "4096", "-o", "/dev/null"],
    ] {
        let o = tilesim(d, args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    }
    // `-` is standard output; a directory is refused.
    let o = tilesim(d, &["convert", "t.trace", "-o", "-"]);
    assert!(o.status.success() && o.stdout.starts_with(b"tilesim-trace 2"), "{}", stderr(&o));
    let o = tilesim(d, &["convert", "t.trace", "-o", "real"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("directory"), "{}", stderr(&o));
}

/// Starts `convert - -o out.trace`, feeds it a header and part of a body,
/// waits for its temporary file, and sends `signal`.
fn interrupted(signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tilesim"))
        .args(["convert", "-", "-o", "out.trace"])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The whole trace, with standard input left open: convert has created
    // its output and waits for more.
    input.write_all(TRACE.as_bytes()).unwrap();
    input.flush().unwrap();
    let start = Instant::now();
    while leftovers(d).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    drop(input);
    assert!(!status.success());
    assert!(leftovers(d).is_empty(), "left behind: {:?}", leftovers(d));
    assert!(!d.join("out.trace").exists());
}

#[test]
fn sigterm_during_a_write_leaves_no_temporary_file() {
    interrupted(libc::SIGTERM);
}

#[test]
fn sigint_during_a_write_leaves_no_temporary_file() {
    interrupted(libc::SIGINT);
}

#[test]
fn a_killed_writers_temporary_file_is_swept_by_the_next_write() {
    let dir = setup();
    let d = dir.path();
    // The pid of a process that has exited.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let stale = d.join(format!(".out.tbin.tmp{pid}.AbCdEf"));
    std::fs::write(&stale, "half a trace").unwrap();
    let o = tilesim(d, &["convert", "t.trace", "-o", "out.tbin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale.exists());
    assert!(leftovers(d).is_empty());
}

#[test]
fn traces_and_configs_come_from_pipes() {
    let dir = setup();
    let d = dir.path();
    for arg in ["-", "/dev/stdin"] {
        let o = with_stdin(d, &["check", arg], TRACE.as_bytes());
        assert!(o.status.success(), "check {arg}: {}", stderr(&o));
        let o = with_stdin(d, &["check", arg], CHIP.as_bytes());
        assert!(o.status.success(), "check {arg} (a config): {}", stderr(&o));
    }
    // Binary through a pipe, and `run -`.
    let o = tilesim(d, &["convert", "t.trace", "-o", "t.tbin"]);
    assert!(o.status.success());
    let bin = std::fs::read(d.join("t.tbin")).unwrap();
    let o = with_stdin(d, &["check", "/dev/stdin"], &bin);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = with_stdin(d, &["run", "-", "--chip", "dgx-h100", "--json"], &bin);
    assert!(o.status.success(), "{}", stderr(&o));
    // A chip from standard input.
    let o = with_stdin(d, &["characterize", "--chip", "-"], CHIP.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    // Standard input is one input: two `-` are refused.
    let o = with_stdin(d, &["run", "-", "--chip", "-"], &bin);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Process substitution hands over /dev/fd/N.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!("\"{}\" check <(cat t.tbin) <(cat t.trace)", env!("CARGO_BIN_EXE_tilesim")))
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}
