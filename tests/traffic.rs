//! `tilesim run --traffic`: synthetic traffic simulated with no trace file
//! reports exactly what `gen traffic` with the same flags followed by `run`
//! of its trace reports (but for `trace`, which names the traffic), on
//! meshes, a torus and a multi-chip system, below and past saturation; and
//! its bad flag combinations are usage errors. `run --traffic --packets`
//! (the same packets straight into the network) measures the network as
//! `run --traffic` does.

mod common;

use common::{text, tilesim};
use serde_json::Value;

/// (chip, pattern, rate, packet flits, flit bytes, cycles).
const CASES: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("mini-mesh", "uniform", "0.1", "1", "16", "2000"),
    ("mini-mesh", "transpose", "0.3", "1", "16", "1500"),
    ("mini-mesh", "hotspot", "0.2", "4", "16", "1500"),
    ("mini-mesh", "bitcomp", "0.5", "2", "64", "1000"),
    // Past saturation: queues grow for the whole run.
    ("mini-mesh", "uniform", "0.95", "1", "64", "1000"),
    ("booksim-mesh8x8", "uniform", "0.1", "1", "16", "1000"),
    ("booksim-mesh8x8", "transpose", "0.6", "4", "16", "600"),
    ("booksim-torus8x8", "bitcomp", "0.3", "1", "16", "800"),
    // Eight chips behind a switch, crossbar NoCs, HBM.
    ("dgx-h100", "uniform", "0.2", "1", "16", "600"),
    ("dgx-h100", "hotspot", "0.4", "2", "32", "400"),
];

fn flags<'a>(case: &'a (&str, &str, &str, &str, &str, &str)) -> Vec<&'a str> {
    let (chip, _, rate, flits, bytes, cycles) = case;
    vec![
        "--chip",
        chip,
        "--rate",
        rate,
        "--packet-flits",
        flits,
        "--flit-bytes",
        bytes,
        "--cycles",
        cycles,
        "--seed",
        "5",
    ]
}

/// Runs `args`, which must succeed, and parses its JSON report.
fn report(args: &[&str]) -> Value {
    let (code, out, err) = text(&tilesim(args));
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[test]
fn run_traffic_reports_what_gen_traffic_then_run_reports() {
    let dir = tempfile::tempdir().unwrap();
    for (n, case) in CASES.iter().enumerate() {
        let (chip, pattern, ..) = case;
        let path = dir.path().join(format!("{n}.tbin"));
        let out = path.to_str().unwrap();
        let mut make_args = vec!["gen", "traffic", "--pattern", pattern, "-o", out];
        make_args.extend(flags(case));
        let (code, _, err) = text(&tilesim(&make_args));
        assert_eq!(code, 0, "{case:?}: {err}");
        let mut from_file = report(&["run", out, "--chip", chip, "--json"]);
        let mut run_args = vec!["run", "--traffic", pattern, "--json"];
        run_args.extend(flags(case));
        let mut direct = report(&run_args);

        let (_, _, rate, flits, bytes, cycles) = case;
        assert_eq!(from_file["trace"], out, "{case:?}");
        assert_eq!(
            direct["trace"],
            format!("traffic:{pattern} rate={rate} packet_flits={flits} flit_bytes={bytes} cycles={cycles} seed=5"),
            "{case:?}"
        );
        // Something ran, and the reports hold what they should compare.
        assert!(direct["events"].as_f64().unwrap() > 1000.0, "{case:?}");
        for key in ["cycles", "events", "instructions", "noc", "critical_path", "busiest", "time", "bytes"] {
            assert!(!direct[key].is_null(), "{case:?}: no `{key}` in the report");
        }
        from_file.as_object_mut().unwrap().remove("trace");
        direct.as_object_mut().unwrap().remove("trace");
        if from_file != direct {
            let (a, b) = (from_file.as_object().unwrap(), direct.as_object().unwrap());
            let differ: Vec<&String> = a.keys().filter(|k| a.get(*k) != b.get(*k)).collect();
            panic!("{case:?}: the reports differ in {differ:?}");
        }
    }
}

/// `run --traffic` on mini-mesh at 0.2 for 300 cycles, with `extra`.
fn small_run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let base = ["run", "--traffic", "uniform", "--chip", "mini-mesh", "--rate", "0.2", "--cycles", "300", "--json"];
    [&base[..], extra].concat()
}

/// Runs `args` with and without `--timeline`: the reports must be the
/// same; returns the timeline's events.
fn timeline_of(args: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let with = report(&[args, &["--timeline", path.to_str().unwrap()]].concat());
    assert_eq!(with, report(args), "{args:?}: the timeline changed the report");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["traceEvents"].as_array().unwrap().clone()
}

#[test]
fn run_traffic_writes_a_timeline_of_instructions() {
    let events = timeline_of(&small_run(&[]));
    let spans: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X" && e["name"] == "delay").collect();
    assert!(spans.len() > 100, "{} delay spans", spans.len());
    // Positions are instruction numbers in the tile's stream (from 1),
    // not the tile packed above them.
    for s in spans {
        let i = s["args"]["instruction"].as_u64().unwrap_or_else(|| panic!("no instruction in {s}"));
        assert!((1..10_000).contains(&i), "{s}");
    }
}

/// `a` and `b` within `rel` of each other (relative to `a`).
fn close(a: &Value, b: &Value, rel: f64) -> bool {
    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    (a - b).abs() <= rel * a.abs()
}

/// `--packets` injects the same packets with no instructions: every packet
/// arrives, crossing the same links, and the network figures agree. They
/// are not identical under contention: packets that reach a link in the
/// same cycle may be served in another order, because injection events
/// interleave with the network's differently from instruction issue (see
/// the next test for the uncontended case).
#[test]
fn run_packets_measures_the_network_as_run_traffic_does() {
    for case in CASES {
        let (_, pattern, rate, flits, bytes, cycles) = case;
        let mut args = vec!["run", "--traffic", pattern, "--json"];
        args.extend(flags(case));
        let instrs = report(&args);
        args.push("--packets");
        let packets = report(&args);
        assert_eq!(
            packets["trace"],
            format!(
                "traffic:{pattern} rate={rate} packet_flits={flits} flit_bytes={bytes} cycles={cycles} seed=5 packets"
            ),
            "{case:?}"
        );
        assert_eq!(packets["instructions"], 0, "{case:?}");
        assert!(packets["events"].as_u64().unwrap() < instrs["events"].as_u64().unwrap(), "{case:?}");
        for (a, b) in [("noc", "messages"), ("noc", "window_cycles"), ("bytes", "noc"), ("bytes", "links")] {
            assert_eq!(packets[a][b], instrs[a][b], "{case:?}: {a}.{b}");
        }
        assert_eq!(packets["bytes"]["messages"], instrs["bytes"]["messages"], "{case:?}");
        assert!(close(&instrs["cycles"], &packets["cycles"], 0.005), "{case:?}");
        let (n, p) = (&instrs["noc"], &packets["noc"]);
        assert!(close(&n["accepted_flits_per_node_cycle"], &p["accepted_flits_per_node_cycle"], 0.005), "{case:?}");
        assert!(
            close(&n["packet_latency_mean_cycles"], &p["packet_latency_mean_cycles"], 0.04),
            "{case:?}: mean latency {} with instructions, {} as packets",
            n["packet_latency_mean_cycles"],
            p["packet_latency_mean_cycles"]
        );
        assert!(close(&n["packet_latency_p99_cycles"], &p["packet_latency_p99_cycles"], 0.04), "{case:?}");
        assert!(close(&instrs["utilization"]["noc"], &packets["utilization"]["noc"], 0.005), "{case:?}");
    }
    // The same run twice is the same.
    let mut args = vec!["run", "--traffic", "uniform", "--json", "--packets"];
    args.extend(flags(&CASES[4]));
    assert_eq!(report(&args), report(&args));
}

/// Without contention (a light load), `--packets` gives each packet the
/// latency the instructions give it: the same mean, tail and throughput.
#[test]
fn run_packets_without_contention_is_run_traffic() {
    for chip in ["mini-mesh", "booksim-torus8x8", "dgx-h100"] {
        let args = [
            "run",
            "--traffic",
            "uniform",
            "--chip",
            chip,
            "--rate",
            "0.005",
            "--cycles",
            "3000",
            "--seed",
            "2",
            "--json",
        ];
        let instrs = report(&args);
        let packets = report(&[&args[..], &["--packets"]].concat());
        assert!(instrs["noc"]["messages"].as_u64().unwrap() > 100, "{chip}");
        assert_eq!(instrs["noc"], packets["noc"], "{chip}");
    }
}

/// `--packets --timeline`: the links' use over time, and no tile spans
/// (there are no instructions).
#[test]
fn run_packets_writes_a_timeline_of_links() {
    let events = timeline_of(&small_run(&["--packets"]));
    assert!(events.iter().any(|e| e["ph"] == "C" && e["name"].as_str().unwrap().contains("link")), "no link counters");
    assert!(!events.iter().any(|e| e["ph"] == "X"), "a tile span in a run with no instructions");
}

#[test]
fn bad_traffic_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tbin = dir.path().join("t.tbin");
    let t = tbin.to_str().unwrap();
    let make = ["gen", "traffic", "--chip", "mini-mesh", "--pattern", "uniform", "--rate", "0.1", "--cycles", "50"];
    let (code, _, err) = text(&tilesim(&[&make[..], &["-o", t]].concat()));
    assert_eq!(code, 0, "{err}");
    let traffic = ["run", "--traffic", "uniform", "--chip", "mini-mesh"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // A trace and --traffic.
        (vec!["run", t, "--traffic", "uniform", "--chip", "mini-mesh", "--rate", "0.1", "--cycles", "50"], "--traffic"),
        // --traffic without --rate or --cycles, or without --chip.
        ([&traffic[..], &["--cycles", "50"]].concat(), "--rate"),
        ([&traffic[..], &["--rate", "0.1"]].concat(), "--cycles"),
        (vec!["run", "--traffic", "uniform", "--rate", "0.1", "--cycles", "50"], "--chip"),
        // Traffic flags without --traffic.
        (vec!["run", t, "--chip", "mini-mesh", "--rate", "0.1"], "--traffic"),
        (vec!["run", t, "--seed", "3"], "--traffic"),
        (vec!["run", t, "--packets"], "--traffic"),
        // Neither a trace nor --traffic.
        (vec!["run", "--chip", "mini-mesh"], "<TRACE>"),
        // Values gen traffic refuses too.
        (
            vec!["run", "--traffic", "diagonal", "--chip", "mini-mesh", "--rate", "0.1", "--cycles", "50"],
            "unknown traffic pattern `diagonal`",
        ),
        ([&traffic[..], &["--rate", "1.5", "--cycles", "50"]].concat(), "rate must be in (0, 1]"),
        ([&traffic[..], &["--rate", "0", "--cycles", "50"]].concat(), "rate must be in (0, 1]"),
        ([&traffic[..], &["--rate", "NaN", "--cycles", "50"]].concat(), "rate must be in"),
        ([&traffic[..], &["--rate", "0.1", "--cycles", "0"]].concat(), "must be at least 1"),
        ([&traffic[..], &["--rate", "0.1", "--cycles", "50", "--packet-flits", "0"]].concat(), "must be at least 1"),
        ([&traffic[..], &["--rate", "0.1", "--cycles", "268435457"]].concat(), "injection slots"),
        // Within the slots but too many events: the advice is about traffic.
        (
            vec!["run", "--traffic", "uniform", "--chip", "booksim-mesh8x8", "--rate", "1", "--cycles", "67108864"],
            "use fewer --cycles, a lower --rate or a smaller chip",
        ),
        (
            vec![
                "run",
                "--traffic",
                "uniform",
                "--chip",
                "booksim-mesh8x8",
                "--rate",
                "1",
                "--cycles",
                "67108864",
                "--packets",
            ],
            "simulating this traffic on `booksim-mesh8x8` takes about",
        ),
        (
            [&traffic[..], &["--rate", "0.1", "--cycles", "50", "--flit-bytes", "1GiB"]].concat(),
            "does not fit the tile SRAM",
        ),
        (
            vec!["run", "--traffic", "transpose", "--chip", "dgx-h100", "--rate", "0.1", "--cycles", "50"],
            "transpose needs a square grid",
        ),
        (
            vec!["run", "--traffic", "bitcomp", "--chip", "dgx-h100", "--rate", "0.1", "--cycles", "50"],
            "bitcomp needs a power-of-two tile count, found 88",
        ),
        (
            vec!["run", "--traffic", "uniform", "--chip", "no-such-chip", "--rate", "0.1", "--cycles", "50"],
            "no-such-chip",
        ),
        // gen traffic still requires its flags.
        (vec!["gen", "traffic", "--chip", "mini-mesh", "--pattern", "uniform", "--cycles", "50", "-o", t], "--rate"),
        (vec!["gen", "traffic", "--chip", "mini-mesh", "--pattern", "uniform", "--rate", "0.1", "-o", t], "--cycles"),
    ];
    for (args, message) in cases {
        let (code, out, err) = text(&tilesim(&args));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(message), "{args:?}: expected `{message}` in: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}
