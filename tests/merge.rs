//! `tilesim merge`: the shards of a sweep joined into exactly what the
//! unsharded sweep writes (CSV and JSON Lines), and the sets of files it
//! refuses, each naming the file (exit 2, no output file).

mod common;

use common::{text, tilesim};
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tilesim-merge-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small simulated sweep (a slice of the model) with some failing points.
fn sweep(extra: &[&str], out: &Path) {
    let mut args = vec![
        "sweep",
        "--model",
        "llama-2-7b,llama-2-70b",
        "--chip",
        "h100",
        "--chip",
        "mini-mesh",
        "--layers",
        "1",
        "--batch",
        "1,4",
        "--context",
        "64",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let (code, _, err) = text(&tilesim(&args));
    assert_eq!(code, 0, "{err}");
}

fn merge(args: &[&Path], out: &Path) -> (i32, String, String) {
    let mut a: Vec<String> = vec!["merge".into()];
    a.extend(args.iter().map(|p| p.display().to_string()));
    a.extend(["-o".into(), out.display().to_string()]);
    let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
    text(&tilesim(&refs))
}

#[test]
fn shards_merge_byte_for_byte_into_the_unsharded_sweep() {
    for (format, ext) in [("csv", "csv"), ("json", "jsonl")] {
        let d = dir(format);
        // 3 shards of 8 simulated points; and 10 shards, two of them empty
        // (the analytic floor only, to keep the test quick).
        for (n, mode) in [(3, None), (10, Some("--floor-only"))] {
            let with_mode =
                |args: &[&str]| -> Vec<String> { args.iter().copied().chain(mode).map(str::to_string).collect() };
            let run = |args: &[&str], out: &Path| {
                let a = with_mode(args);
                sweep(&a.iter().map(String::as_str).collect::<Vec<_>>(), out)
            };
            let whole = d.join(format!("whole-{n}.{ext}"));
            run(&["--format", format], &whole);
            let mut parts = Vec::new();
            for k in (0..n).rev() {
                let p = d.join(format!("s{k}-of-{n}.{ext}"));
                run(&["--format", format, "--shard", &format!("{k}/{n}")], &p);
                parts.push(p);
            }
            let merged = d.join(format!("merged-{n}.{ext}"));
            let refs: Vec<&Path> = parts.iter().map(|p| p.as_path()).collect();
            let (code, _, err) = merge(&refs, &merged);
            assert_eq!(code, 0, "{format} {n}: {err}");
            assert_eq!(std::fs::read(&merged).unwrap(), std::fs::read(&whole).unwrap(), "{format}, {n} shards");
        }
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn shards_that_do_not_belong_together_are_refused_naming_the_file() {
    let d = dir("bad");
    let s = |k: usize, n: usize, extra: &[&str]| {
        let p = d.join(format!("s{k}-{n}-{}.csv", extra.len()));
        let mut args = vec!["--shard".to_string(), format!("{k}/{n}")];
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        sweep(&refs, &p);
        p
    };
    let (a, b, c) = (s(0, 3, &[]), s(1, 3, &[]), s(2, 3, &[]));
    let out = d.join("out.csv");
    let expect = |files: &[&Path], what: &str, named: &Path| {
        let (code, _, err) = merge(files, &out);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(what), "expected `{what}`: {err}");
        assert!(err.contains(&named.display().to_string()), "expected the file {}: {err}", named.display());
        assert!(!out.exists(), "no output on error");
    };
    // The same shard twice.
    expect(&[&a, &b, &b], "the shards overlap", &b);
    // A shard missing.
    let (code, _, err) = merge(&[&a, &c], &out);
    assert_eq!(code, 2);
    assert!(err.contains("shard 1/3 is missing"), "{err}");
    // A shard of another sweep (one more batch value: more points).
    let other = s(2, 3, &["--batch", "1,4,8"]);
    let (code, _, err) = merge(&[&a, &b, &other], &out);
    assert_eq!(code, 2);
    assert!(err.contains("not shards of one sweep") || err.contains("a shard of another sweep"), "{err}");
    // Another format.
    let j = d.join("j.jsonl");
    sweep(&["--shard", "2/3", "--format", "json"], &j);
    expect(&[&a, &b, &j], "is JSON Lines but", &j);
    // Not a sweep at all.
    let junk = d.join("junk.csv");
    std::fs::write(&junk, "a,b\n1,2\n").unwrap();
    expect(&[&a, &b, &junk], "not a tilesim sweep's output", &junk);
    std::fs::remove_dir_all(d).ok();
}
