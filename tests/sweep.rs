//! `tilesim sweep` end to end (arch/sweep.md): the rows of a small sweep,
//! the same bytes for any number of workers, shards that add up to the
//! whole, chip overrides, per-point failures as rows, usage errors up front
//! (exit 2, no output file).

mod common;

use common::{text, tilesim};
use std::path::{Path, PathBuf};

/// Runs a sweep that must succeed; returns its standard output.
fn sweep(args: &[&str]) -> String {
    let mut all = vec!["sweep"];
    all.extend_from_slice(args);
    let o = tilesim(&all);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{all:?}: {err}");
    String::from_utf8(o.stdout).expect("UTF-8 output")
}

/// Runs a sweep that must fail; returns (exit code, stdout, stderr).
fn failing(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["sweep"];
    all.extend_from_slice(args);
    text(&tilesim(&all))
}

/// A CSV split into header and records (no field of these sweeps holds a
/// line break).
fn records(csv: &str) -> (&str, Vec<&str>) {
    let mut lines = csv.lines();
    let header = lines.next().expect("a header");
    (header, lines.collect())
}

/// The value of `column` in each record (fields without quotes only).
fn column<'a>(csv: &'a str, column: &str) -> Vec<&'a str> {
    let (header, rows) = records(csv);
    let i = header.split(',').position(|c| c == column).unwrap_or_else(|| panic!("no column {column}"));
    rows.iter().map(|r| r.split(',').nth(i).expect("field")).collect()
}

const SMALL: &[&str] = &[
    "--model",
    "llama-2-7b",
    "--layers",
    "1",
    "--chip",
    "mini-mesh",
    "--chip",
    "h100",
    "--batch",
    "1,4",
    "--context",
    "128",
];

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tilesim-sweep-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_small_sweep_gives_one_row_per_point_in_order() {
    let out = sweep(&with(SMALL, &["--jobs", "2"]));
    insta::assert_snapshot!(out);
    let (header, rows) = records(&out);
    assert_eq!(header.split(',').collect::<Vec<_>>(), tilesim::sweep::COLUMNS);
    assert_eq!(rows.len(), 4);
    assert_eq!(column(&out, "index"), ["0", "1", "2", "3"]);
    assert_eq!(column(&out, "chip"), ["mini-mesh", "mini-mesh", "h100", "h100"]);
    assert_eq!(column(&out, "batch"), ["1", "4", "1", "4"]);
    assert!(column(&out, "status").iter().all(|s| *s == "ok"));
    for s in column(&out, "simulated_seconds") {
        assert!(s.parse::<f64>().unwrap() > 0.0);
    }
}

#[test]
fn any_number_of_workers_writes_the_same_bytes() {
    // Simulated points, and a larger floor-only sweep where rows finish far
    // out of order.
    let one = sweep(&with(SMALL, &["--jobs", "1"]));
    let two = sweep(&with(SMALL, &["--jobs", "2"]));
    assert_eq!(one, two);
    let big = &[
        "--model",
        "llama-2-7b,llama-2-70b",
        "--chip",
        "h100",
        "--chip",
        "dgx-h100",
        "--chip",
        "groq-576",
        "--batch",
        "1,2,4,8,16,32,64",
        "--context",
        "512,4096,32768",
        "--floor-only",
    ];
    let one = sweep(&with(big, &["--jobs", "1"]));
    let three = sweep(&with(big, &["--jobs", "3"]));
    assert_eq!(one, three);
    assert_eq!(records(&one).1.len(), 2 * 3 * 7 * 3);
}

#[test]
fn shards_add_up_to_the_whole_sweep() {
    let whole = sweep(SMALL);
    let (header, all) = records(&whole);
    let mut parts = Vec::new();
    for k in ["0/2", "1/2"] {
        let out = sweep(&with(SMALL, &["--shard", k]));
        let (h, rows) = records(&out);
        assert_eq!(h, header, "every shard writes the header");
        parts.extend(rows.iter().map(|r| r.to_string()));
    }
    let index = |r: &String| r.split(',').next().unwrap().parse::<usize>().unwrap();
    parts.sort_by_key(index);
    assert_eq!(parts, all);
    // More shards than points: the extra ones are just a header.
    assert_eq!(sweep(&with(SMALL, &["--shard", "7/9"])), format!("{header}\n"));
}

#[test]
fn chip_overrides_are_an_axis_and_change_the_results() {
    let out = sweep(&[
        "--model",
        "llama-2-7b",
        "--layers",
        "1",
        "--chip",
        "dgx-h100",
        "--context",
        "128",
        "--set",
        "system.chips=1|2",
        "--set",
        "system.link_bandwidth=450 GB/s|\"900 GB/s\"",
    ]);
    // A value with quotes is quoted in the CSV, its quotes doubled.
    assert_eq!(
        column(&out, "overrides"),
        [
            "system.chips=1;system.link_bandwidth=450 GB/s",
            r#""system.chips=1;system.link_bandwidth=""900 GB/s""""#,
            "system.chips=2;system.link_bandwidth=450 GB/s",
            r#""system.chips=2;system.link_bandwidth=""900 GB/s""""#,
        ]
    );
    assert_eq!(column(&out, "chip"), ["dgx-h100"; 4]);
    assert_eq!(column(&out, "chips_used"), ["1", "1", "2", "2"]);
    let sim: Vec<f64> = column(&out, "simulated_seconds").iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(sim[0], sim[1], "one chip uses no links");
    assert!(sim[2] < sim[0], "two chips in tensor parallel are faster: {sim:?}");
    assert!(sim[3] < sim[2], "faster links shorten the all-reduces: {sim:?}");
}

#[test]
fn a_bad_override_fails_the_whole_sweep_up_front() {
    let dir = temp_dir("bad-key");
    let file = dir.join("out.csv");
    let (code, out, err) =
        failing(&with(SMALL, &["--set", "system.chips=2", "--set", "system.nonsense=1", "-o", file.to_str().unwrap()]));
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    insta::assert_snapshot!(err);
    assert_no_output(&dir, &file);

    let (code, _, err) = failing(&with(SMALL, &["--set", "system.chips=0"]));
    assert_eq!(code, 2);
    assert!(err.contains("configs/chips/mini-mesh.toml with --set system.chips=0"), "{err}");
    let (code, _, err) = failing(&with(SMALL, &["--set", "tile=1"]));
    assert_eq!(code, 2);
    assert!(err.contains("with --set tile=1"), "{err}");
    let (code, _, err) = failing(&with(SMALL, &["--set", "clock.hz=1"]));
    assert_eq!(code, 2);
    assert!(err.contains("`clock` is not a table"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

fn assert_no_output(dir: &Path, file: &Path) {
    assert!(!file.exists(), "no output file after a usage error");
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}

#[test]
fn usage_errors_exit_2_before_any_point_runs() {
    let dir = temp_dir("usage");
    let file = dir.join("out.csv");
    let o = file.to_str().unwrap();
    for (extra, says) in [
        (vec!["--shard", "3/2"], "expected K/N"),
        (vec!["--shard", "0/0"], "expected K/N"),
        (vec!["--shard", "1"], "expected K/N"),
        (vec!["--jobs", "0"], "--jobs"),
        (vec!["--spec", "1,0"], "--spec must be at least 1"),
        (vec!["--kv-keep", "1,1.5"], "--kv-keep must be in (0, 1]"),
        (vec!["--kv-dtype", "fp16,fp7"], "--kv-dtype"),
        (vec!["--phase", "decode,prefill", "--spec", "1,4"], "--spec applies to decode"),
        (vec!["--tp", "0"], "--tp must be at least 1"),
        (vec!["--set", "system.chips"], "expected KEY=V1|V2"),
        (vec!["--set", "system.chips=1", "--set", "system.chips=2"], "given twice"),
        (vec!["--model", "nope"], "unknown model"),
    ] {
        let (code, _, err) = failing(&with(SMALL, &[extra.as_slice(), &["-o", o]].concat()));
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert_no_output(&dir, &file);
    }
    let (code, _, err) = failing(&["--model", "llama-2-7b", "--layers", "99", "--chip", "h100", "-o", o]);
    assert_eq!(code, 2, "{err}");
    assert_no_output(&dir, &file);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_point_that_does_not_fit_is_a_row_and_the_sweep_goes_on() {
    for mode in [&["--floor-only"][..], &[]] {
        let out =
            sweep(&with(&["--model", "llama-2-70b", "--chip", "groq-lpu", "--chip", "h100", "--batch", "1"], mode));
        let (_, rows) = records(&out);
        assert_eq!(rows.len(), 2);
        for r in rows {
            assert!(r.contains(",does-not-fit,\"llama-2-70b (fp16 weights"), "{r}");
            assert!(r.ends_with(",,,,,,,,,,"), "no figures for a point that did not run: {r}");
        }
    }
    // Mixed: only the point that does not fit says so.
    let out = sweep(&["--model", "llama-2-7b", "--chip", "groq-lpu", "--chip", "h100", "--floor-only"]);
    assert_eq!(column(&out, "status"), ["does-not-fit", "ok"]);
}

#[test]
fn floor_only_rows_have_no_simulated_figures() {
    let out = sweep(&with(SMALL, &["--floor-only"]));
    for c in [
        "simulated_seconds",
        "over_floor",
        "bound",
        "seconds_per_token",
        "tokens_per_second",
        "tokens_per_second_per_user",
        "tokens_per_second_per_kusd",
        "tokens_per_joule",
    ] {
        assert!(column(&out, c).iter().all(|v| v.is_empty()), "{c}: {out}");
    }
    // The floor is the same one the full sweep reports.
    assert_eq!(column(&out, "floor_seconds"), column(&sweep(SMALL), "floor_seconds"));
    assert!(column(&out, "floor_seconds").iter().all(|v| v.parse::<f64>().unwrap() > 0.0));
}

#[test]
fn json_lines_carry_the_same_keys_and_values() {
    let csv = sweep(SMALL);
    let json = sweep(&with(SMALL, &["--format", "json"]));
    let lines: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    for (v, index) in lines.iter().zip(column(&csv, "index")) {
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut want = tilesim::sweep::COLUMNS.to_vec();
        want.sort();
        let mut got = keys.clone();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(v["index"].as_u64().unwrap().to_string(), index);
        assert!(v["error"].is_null());
    }
    let sim: Vec<f64> = column(&csv, "simulated_seconds").iter().map(|s| s.parse().unwrap()).collect();
    let from_json: Vec<f64> = lines.iter().map(|v| v["simulated_seconds"].as_f64().unwrap()).collect();
    assert_eq!(sim, from_json, "CSV numbers round-trip exactly");
}

#[test]
fn the_output_file_holds_exactly_what_stdout_would() {
    let dir = temp_dir("file");
    let file = dir.join("rows.csv");
    let o = tilesim(&[&["sweep"], SMALL, &["--floor-only", "-o", file.to_str().unwrap()]].concat());
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), sweep(&with(SMALL, &["--floor-only"])));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    std::fs::remove_dir_all(&dir).ok();
}

// ----- tilesim plot -------------------------------------------------------------

/// Runs `tilesim plot` on `csv`; returns (exit code, stderr, the SVG if written).
fn plot(csv: &str, args: &[&str]) -> (i32, String, Option<String>) {
    // Tests run in parallel threads of one process: one folder per call.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = temp_dir(&format!("plot{}", CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let input = dir.join("in.csv");
    std::fs::write(&input, csv).unwrap();
    let out = dir.join("out.svg");
    let mut all = vec!["plot", input.to_str().unwrap(), "-o", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = tilesim(&all);
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into(), std::fs::read_to_string(&out).ok())
}

#[test]
fn a_sweep_plots_one_line_per_series() {
    let csv = sweep(&with(SMALL, &["--floor-only"]));
    let (code, err, svg) = plot(&csv, &["--x", "batch", "--y", "floor_seconds", "--series", "chip", "--log-x"]);
    assert_eq!(code, 0, "{err}");
    let svg = svg.expect("an SVG");
    assert_eq!(svg.matches("<polyline").count(), 2, "one line per chip");
    assert_eq!(svg.matches("<circle").count(), 4, "one marker per row");
    insta::assert_snapshot!(svg);
}

#[test]
fn plot_errors_name_the_column_or_the_rows() {
    let csv = sweep(&with(SMALL, &["--floor-only"]));
    let (code, err, svg) = plot(&csv, &["--x", "batch", "--y", "tokens_per_sec"]);
    assert_eq!(code, 2);
    assert!(svg.is_none());
    assert!(err.contains("no column `tokens_per_sec`; the columns are: index, model, chip"), "{err}");
    // Without --series the two chips' points collide at each batch.
    let (code, err, _) = plot(&csv, &["--x", "batch", "--y", "floor_seconds"]);
    assert_eq!(code, 2);
    assert!(err.contains("lines 2 and 4 give two points at batch=1"), "{err}");
    let (code, err, _) = plot("a,b\n1,2\n3\n", &["--x", "a", "--y", "b"]);
    assert_eq!(code, 2);
    assert!(err.contains("in.csv:3: expected 2 fields as in the header, found 1"), "{err}");
}
