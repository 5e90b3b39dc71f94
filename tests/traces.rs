//! Snapshot of the run report of every trace in traces/ on the chip it was
//! compiled for. A change in timing shows up as a snapshot diff to review
//! (`cargo insta review`, or INSTA_UPDATE=always and `git diff`).

mod common;

use std::path::Path;
use tilesim::config::shipped::{self, Kind};
use tilesim::report::run::RunReport;
use tilesim::trace::Trace;

#[test]
fn every_shipped_trace_on_its_chip() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    insta::glob!("../traces", "*.*", |path| {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let trace = Trace::load(rel).unwrap_or_else(|e| panic!("{e}"));
        let name = trace.header.chip.clone();
        let text =
            shipped::get(Kind::Chip, &name).unwrap_or_else(|| panic!("{}: chip {name} is not shipped", rel.display()));
        let chip = tilesim::config::chip::load_str(&name, text).unwrap();
        let stats = tilesim::sim::simulate(&chip, &trace, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
        // The critical path sums to the finish time, to the cycle.
        let cp = &stats.critical_path.chain;
        assert_eq!((cp.end, cp.by.iter().sum::<u64>()), (stats.cycles.0, stats.cycles.0), "{}", rel.display());
        let report = RunReport::new(&chip, &trace, &stats);
        insta::assert_json_snapshot!(report);
    });
}

/// Every shipped synthetic trace (traffic, all-reduce) is what `tilesim gen`
/// writes today for the parameters in its header, so the examples stay
/// reproducible as the generators change (a stale one is regenerated and
/// its snapshot reviewed). Compiled traces are the simulator's frozen inputs
/// (README, `traces/`), not checked against today's compiler.
#[test]
fn shipped_synthetic_traces_are_what_gen_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for e in std::fs::read_dir(root.join("traces")).unwrap() {
        let path = e.unwrap().path();
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let field = |line: &str, key: &str| -> Option<String> {
            line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_string))
        };
        let chip = text.lines().find_map(|l| l.strip_prefix("chip ")).unwrap_or_default().to_string();
        let Some(workload) = text.lines().find_map(|l| l.strip_prefix("workload ")) else { continue };
        let out = dir.path().join("regen.trace");
        let out_s = out.to_str().unwrap();
        let get = |k: &str| field(workload, k).unwrap_or_else(|| panic!("{}: no {k}= in its header", path.display()));
        let args: Vec<String> = if workload.starts_with("traffic ") {
            let mut a: Vec<String> = vec!["gen".into(), "traffic".into(), "--chip".into(), chip];
            for k in ["pattern", "rate", "packet_flits", "flit_bytes", "cycles", "seed"] {
                a.push(format!("--{}", k.replace('_', "-")));
                a.push(get(k));
            }
            a
        } else if workload.starts_with("allreduce ") {
            let a = ["gen", "allreduce", "--chip", &chip, "--algorithm", &get("algorithm"), "--bytes", &get("bytes")];
            a.iter().map(|s| s.to_string()).collect()
        } else {
            continue;
        };
        let mut args = args;
        args.extend(["-o".to_string(), out_s.to_string()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = common::text(&common::tilesim(&refs));
        assert_eq!(code, 0, "{err}");
        let made = std::fs::read_to_string(&out).unwrap();
        assert!(
            made == text,
            "{} is not what `tilesim {}` writes today: regenerate it and review its snapshot",
            path.display(),
            args.join(" ")
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "the shipped traffic and all-reduce traces");
}
