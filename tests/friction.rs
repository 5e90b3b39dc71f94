//! The command line's rough edges smoothed (issue 13), one test each:
//! `compare` past a chip that does not fit, `--unset`, too many chips
//! asked for, `run` without `--chip`, sizes with units, list flags with
//! spaces, `compare`'s default chips, and progress only on a terminal.

mod common;

use common::{text, tilesim};

#[test]
fn compare_keeps_going_past_a_chip_that_does_not_fit() {
    // The whole 70B model on one H100 does not fit; the DGX carries on.
    let (code, out, err) = text(&tilesim(&[
        "compare",
        "--model",
        "llama-2-70b",
        "--chip",
        "h100",
        "--chip",
        "dgx-h100",
        "--context",
        "128",
        "--steps",
        "1",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0]["status"], "does-not-fit", "{out}");
    assert_eq!(rows[0]["chip"], "h100");
    assert!(rows[0]["error"].as_str().unwrap().contains("does not fit `h100`"), "{out}");
    assert_eq!(rows[1]["status"], "ok", "{out}");
    assert!(rows[1]["simulated"]["tokens_per_second"].as_f64().unwrap() > 0.0);

    // The table says so too; with no chip that runs, exit 2 after the table.
    let (code, out, err) = text(&tilesim(&["compare", "--model", "llama-2-70b", "--chip", "h100", "--context", "128"]));
    assert_eq!(code, 2, "{err}");
    assert!(out.contains("does-not-fit") && out.contains("Would fit"), "{out}");
    assert!(err.contains("none of the 1 chips could run"), "{err}");
}

#[test]
fn unset_removes_a_key_that_an_override_makes_meaningless() {
    let base = ["roofline", "--model", "llama-2-7b", "--chip", "dgx-h100", "--set", "system.topology=ring"];
    let (code, _, err) = text(&tilesim(&base));
    assert_eq!(code, 2);
    assert!(
        err.contains("`system.switch_latency` is not used except for a switch")
            && err.contains("unset it with `--unset system.switch_latency` or `--set system.switch_latency=`"),
        "{err}"
    );
    for extra in [["--unset", "system.switch_latency"], ["--set", "system.switch_latency="]] {
        let args: Vec<&str> = base.iter().copied().chain(extra).collect();
        let (code, out, err) = text(&tilesim(&args));
        assert_eq!(code, 0, "{extra:?}: {err}");
        assert!(out.contains("dgx-h100"), "{out}");
    }
    // In a sweep too, and the row says what was unset.
    let (code, out, err) = text(&tilesim(&[
        "sweep",
        "--model",
        "llama-2-7b",
        "--chip",
        "dgx-h100",
        "--set",
        "system.topology=ring|fully-connected",
        "--unset",
        "system.switch_latency",
        "--floor-only",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("system.topology=ring;system.switch_latency="), "{out}");
    // A key that is not there cannot be unset.
    let (code, _, err) = text(&tilesim(&["roofline", "--model", "llama-2-7b", "--chip", "h100", "--unset", "nope"]));
    assert_eq!(code, 2);
    assert!(err.contains("`nope` is not in the config, so it cannot be unset"), "{err}");
}

#[test]
fn asking_for_more_chips_than_the_system_has_says_how_many_it_has() {
    for (flags, needs) in
        [(vec!["--tp", "16"], "--tp 16 needs 16 chips"), (vec!["--tp", "4", "--pp", "4"], "needs 16 chips")]
    {
        let mut args = vec!["roofline", "--model", "llama-2-7b", "--chip", "dgx-h100"];
        args.extend(flags);
        let (code, _, err) = text(&tilesim(&args));
        assert_eq!(code, 2);
        assert!(err.contains(needs) && err.contains("the system has 8 chips"), "{err}");
        assert!(!err.contains("does not fit"), "{err}");
    }
}

#[test]
fn run_takes_the_chip_from_the_trace_header() {
    let (code, out, err) = text(&tilesim(&["run", "traces/llama-2-7b-h100.trace", "--json"]));
    assert_eq!(code, 0, "{err}");
    let (_, with, _) = text(&tilesim(&["run", "traces/llama-2-7b-h100.trace", "--chip", "h100", "--json"]));
    assert_eq!(out, with);
    // A chip that is not shipped must be given.
    let dir = std::env::temp_dir().join(format!("tilesim-friction-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t = dir.join("x.trace");
    let body = std::fs::read_to_string("traces/llama-2-7b-h100.trace").unwrap().replacen("chip h100", "chip mine", 1);
    std::fs::write(&t, body).unwrap();
    let (code, _, err) = text(&tilesim(&["run", t.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert!(
        err.contains("compiled for chip `mine`, which is not a shipped config; give its config with --chip"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn size_flags_take_units() {
    let dir = std::env::temp_dir().join(format!("tilesim-sizes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.trace"), dir.join("b.trace"));
    let generate = |bytes: &str, out: &std::path::Path| {
        text(&tilesim(&[
            "gen",
            "allreduce",
            "--chip",
            "dgx-h100",
            "--algorithm",
            "ring",
            "--bytes",
            bytes,
            "-o",
            out.to_str().unwrap(),
        ]))
    };
    assert_eq!(generate("16MiB", &a).0, 0);
    assert_eq!(generate("16777216", &b).0, 0);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let (code, _, err) = generate("16 Mb", &a);
    assert_eq!(code, 2);
    assert!(err.contains("expected a size"), "{err}");
    let (code, _, err) = text(&tilesim(&[
        "gen",
        "traffic",
        "--chip",
        "mini-mesh",
        "--pattern",
        "uniform",
        "--rate",
        "0.1",
        "--cycles",
        "100",
        "--flit-bytes",
        "32 B",
        "-o",
        a.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn list_flags_accept_spaces() {
    let sweep = |batch: &str, phase: &str| {
        text(&tilesim(&[
            "sweep",
            "--model",
            "llama-2-7b, llama-3-8b",
            "--chip",
            "h100",
            "--batch",
            batch,
            "--phase",
            phase,
            "--floor-only",
        ]))
    };
    let (code, spaced, err) = sweep("1, 8", " decode");
    assert_eq!(code, 0, "{err}");
    let (_, plain, _) = sweep("1,8", "decode");
    assert_eq!(spaced, plain);
    assert_eq!(spaced.lines().count(), 5, "{spaced}");
    let (code, _, err) = text(&tilesim(&[
        "compare",
        "--model",
        "llama-2-7b",
        "--chip",
        "mesh-3ddram",
        "--layers",
        "1",
        "--context",
        "64",
        "--strategy",
        "root, tiled",
    ]));
    assert_eq!(code, 0, "{err}");
    // plot's --series too.
    let csv = std::env::temp_dir().join(format!("tilesim-spaces-{}.csv", std::process::id()));
    std::fs::write(&csv, &plain).unwrap();
    let svg = |series: &str| {
        let out = csv.with_extension(format!("{}.svg", series.len()));
        let (code, _, err) = text(&tilesim(&[
            "plot",
            csv.to_str().unwrap(),
            "--x",
            "batch",
            "--y",
            "floor_seconds",
            "--series",
            series,
            "-o",
            out.to_str().unwrap(),
        ]));
        assert_eq!(code, 0, "{err}");
        let s = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(out).ok();
        s
    };
    assert_eq!(svg("model, chip"), svg("model,chip"));
    std::fs::remove_file(csv).ok();
}

#[test]
fn compare_without_chips_runs_the_default_set() {
    let (code, out, err) = text(&tilesim(&[
        "compare",
        "--model",
        "llama-2-7b",
        "--layers",
        "1",
        "--context",
        "64",
        "--steps",
        "1",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let chips: Vec<&str> = v["rows"].as_array().unwrap().iter().map(|r| r["chip"].as_str().unwrap()).collect();
    assert_eq!(chips, tilesim::api::DEFAULT_COMPARE_CHIPS);
    // One SRAM-only, one HBM node, one 3D-DRAM, one wafer.
    let kinds: Vec<&str> = chips
        .iter()
        .map(|c| match common::chip(c).memory {
            tilesim::chip::Memory::SramOnly => "sram",
            tilesim::chip::Memory::Hbm { .. } => "hbm",
            tilesim::chip::Memory::Dram3d { .. } => "3d",
        })
        .collect();
    assert_eq!(kinds, ["sram", "hbm", "3d", "sram"]);
    assert!(common::chip(chips[3]).description.contains("wafer"), "the last is a wafer");
}

#[test]
fn progress_is_silent_when_stderr_is_not_a_terminal() {
    let (code, _, err) = text(&tilesim(&["run", "traces/llama-2-7b-h100.trace"]));
    assert_eq!(code, 0);
    assert_eq!(err, "");
    let (code, _, err) =
        text(&tilesim(&["compare", "--model", "llama-2-7b", "--chip", "h100", "--layers", "1", "--context", "64"]));
    assert_eq!(code, 0);
    assert_eq!(err, "");
}

/// On a terminal (`script` gives the command one), a run longer than the
/// bar's delay draws it on stderr. The delay is set to 0 for the test: a
/// compare that was slow enough on every machine stopped being so once the
/// simulator got faster.
#[test]
fn progress_is_drawn_on_a_terminal_when_the_run_is_long() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed, so no terminal can be made");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_tilesim");
    let cmd = format!(
        "TILESIM_PROGRESS_DELAY_MS=0 {bin} compare --model llama-2-7b --chip mesh-3ddram --chip h100 --context 256 >/dev/null"
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{seen}");
    assert!(seen.contains("chips"), "expected the bar (`N/M chips`) on the terminal, saw: {seen:?}");
}
