//! The command line end to end: exit statuses and the messages that go
//! with them (2 bad input, 3 deadlock), and the main commands on shipped
//! configs.

mod common;

use common::{text, tilesim};

#[test]
fn a_deadlocked_trace_exits_3_naming_every_blocked_tile() {
    let (code, _, err) = text(&tilesim(&["run", "tests/cli/deadlock.trace", "--chip", "mini-mesh"]));
    assert_eq!(code, 3, "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn a_send_nobody_receives_exits_3_naming_each_message() {
    let (code, _, err) = text(&tilesim(&["run", "tests/cli/unreceived.trace", "--chip", "mini-mesh"]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("send from tile 0 to tile 1 tag 7 (64 bytes"), "{err}");
    assert!(err.contains("send from tile 0 to tile 1 tag 7 (128 bytes"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn every_shipped_config_and_trace_checks() {
    let mut args = vec!["check".to_string()];
    for dir in ["configs/chips", "configs/models", "traces"] {
        let mut files: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
        files.sort();
        args.extend(files);
    }
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let (code, out, err) = text(&tilesim(&refs));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.lines().all(|l| l.starts_with("ok") || l.starts_with("    ")), "{out}");
}

#[test]
fn a_model_that_does_not_fit_exits_2_saying_what_would() {
    let (code, _, err) =
        text(&tilesim(&["compile", "--model", "llama-2-70b", "--chip", "groq-576", "-o", "/tmp/never.trace"]));
    assert_eq!(code, 2);
    assert!(err.contains("does not fit") && err.contains("Would fit"), "{err}");
    assert!(!std::path::Path::new("/tmp/never.trace").exists(), "no output file may be left behind");
}

/// `tilesim compile --model llama-2-7b --chip mini-mesh` with `extra`.
fn compile_7b_on_mini_mesh(extra: &[&str]) -> (i32, String, String) {
    let args = [&["compile", "--model", "llama-2-7b", "--chip", "mini-mesh"][..], extra].concat();
    text(&tilesim(&args))
}

/// A chip the simulator cannot hold is refused before compiling (which
/// grows with the tiles: minutes and gigabytes for a 1024x1024 grid), as
/// `run` would refuse it, and by `compare` before its compile too.
#[test]
fn compiling_for_a_chip_too_big_to_simulate_is_refused_first() {
    let out = std::env::temp_dir().join(format!("tilesim-too-big-{}.tbin", std::process::id()));
    let grid = "noc.grid=[1024, 1024]";
    let (code, _, err) = compile_7b_on_mini_mesh(&["--set", grid, "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("1048576 tiles") && err.contains("--max-memory") && err.contains("refused before compiling"),
        "{err}"
    );
    assert!(!out.exists(), "no output file may be left behind");
    let (code, out, err) = text(&tilesim(&["compare", "--model", "llama-2-7b", "--chip", "mini-mesh", "--set", grid]));
    assert_eq!(code, 2, "{err}");
    assert!(out.contains("<llama-2-7b on mini-mesh>: simulating `mini-mesh` (1048576 tiles"), "{out}\n{err}");
}

/// `check` with a known chip refuses what `run` would refuse before it
/// starts: here the run's bytes (arch/limits.md, "run_bytes").
#[test]
fn check_applies_the_run_budget() {
    let path = std::env::temp_dir().join(format!("tilesim-budget-{}.trace", std::process::id()));
    let body = "loop count=32\nvec op=silu n=9007199254740992 dtype=fp32\nendloop\n";
    std::fs::write(&path, format!("tilesim-trace 2\nchip mini-mesh\ntiles 16\n\ntile 0\n{body}")).unwrap();
    let (code, _, err) = text(&tilesim(&["check", path.to_str().unwrap()]));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"run_bytes\"") && err.contains(path.to_str().unwrap()), "{err}");
}

/// `check` counts the memory `run` would hold for the trace as `run` will
/// read it (a text trace whole, a binary file a window per stream), so the
/// two agree at any `--max-memory`: 30,000 instructions held are about
/// 1.4 MiB on mini-mesh, where `check` used to say ok and `run` refused.
#[test]
fn check_and_run_agree_on_the_memory_of_the_trace_held() {
    let dir = std::env::temp_dir().join(format!("tilesim-held-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text_trace = dir.join("many.trace");
    let body = "delay cycles=1\n".repeat(30_000);
    std::fs::write(&text_trace, format!("tilesim-trace 2\nchip mini-mesh\ntiles 16\n\ntile 0\n{body}")).unwrap();
    let binary = dir.join("many.tbin");
    let (t, b) = (text_trace.to_str().unwrap(), binary.to_str().unwrap());
    assert_eq!(text(&tilesim(&["convert", t, "-o", b])).0, 0);
    for (file, limit, refused) in [(t, "1MiB", true), (t, "8MiB", false), (b, "1MiB", false)] {
        let (check, _, check_err) = text(&tilesim(&["check", file, "--chip", "mini-mesh", "--max-memory", limit]));
        let (run, _, run_err) = text(&tilesim(&["run", file, "--chip", "mini-mesh", "--max-memory", limit]));
        assert_eq!((check, run), if refused { (2, 2) } else { (0, 0) }, "{file} at {limit}: {check_err}\n{run_err}");
        if refused {
            assert!(check_err.contains("more than the limit of 1.00 MiB"), "{check_err}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(text(&tilesim(&["run"])).0, 2);
    assert_eq!(text(&tilesim(&["compile", "--model", "nope", "--chip", "h100", "-o", "x.trace"])).0, 2);
    let (code, _, err) = text(&tilesim(&["sweep", "--batch", "1,2"]));
    assert_eq!(code, 2);
    assert!(err.contains("--model"), "{err}");
}

#[test]
fn compile_then_run_reports_json_with_the_contract_keys() {
    let dir = std::env::temp_dir().join(format!("tilesim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("slice.tbin");
    let t = trace.to_str().unwrap();
    let (code, _, err) = compile_7b_on_mini_mesh(&["--layers", "1", "--context", "128", "-o", t]);
    assert_eq!(code, 0, "{err}");
    let timeline = dir.join("t.json");
    let (code, out, err) =
        text(&tilesim(&["run", t, "--chip", "mini-mesh", "--json", "--timeline", timeline.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in [
        "cycles",
        "seconds",
        "tokens",
        "seconds_per_token",
        "tokens_per_second",
        "tokens_per_second_per_user",
        "floor",
        "over_floor",
        "bound",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for (group, keys) in [
        ("utilization", ["compute", "memory", "noc", "links"]),
        ("bytes", ["memory_read", "memory_write", "noc", "links"]),
    ] {
        for k in keys {
            assert!(v[group].get(k).is_some(), "missing {group}.{k}");
        }
    }
    let tl: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&timeline).unwrap()).unwrap();
    assert!(tl["traceEvents"].as_array().is_some_and(|a| a.len() > 10));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn characterize_prints_simulated_microbenchmarks() {
    let (code, out, err) = text(&tilesim(&["characterize", "--chip", "mini-mesh", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let keys: Vec<&str> = v["figures"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["memory_stream_read", "memory_latency", "noc_latency"]);
    let (code, _, err) = text(&tilesim(&["characterize", "--chip", "no-such-chip"]));
    assert_eq!(code, 2);
    assert!(err.contains("no-such-chip"), "{err}");
}
