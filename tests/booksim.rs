//! The NoC model against BookSim2 (../shared/reference/noc/, copied to
//! tests/data/booksim2/): 8x8 mesh, XY
//! routing, uniform random traffic, 1-flit and 4-flit packets, on
//! configs/chips/booksim-mesh8x8.toml (its comments give the parameter
//! mapping; arch/timing.md, "Validating against BookSim2", the results).
//!
//! Asserted: zero-load latency (offered 0.02) within 10% and saturation
//! throughput within 15%, for both packet sizes; and that past saturation
//! the accepted rate stays at it (back-pressure), so the measured
//! saturation does not depend on the rate grid.
//!
//! Zero-load: BookSim's model is 4H + 6 + (L - 1) cycles for H = 5.25 mean
//! link hops (27.0 for 1 flit, 30.0 for 4); tilesim charges the same
//! router, link, injection and ejection cycles.
//!
//! Saturation: the config models mesh88_lat's 8 VCs per port, each kept
//! by a packet for a whole credit loop after its tail has left the next
//! router (`wait_for_tail_credit`), which is what holds 1-flit packets well
//! below the 0.5 channel-load bound in BookSim (its README); not modelled
//! are the iSLIP allocators and input speedup, so both sizes saturate a
//! little above BookSim's points.
//!
//! Torus and ring (`torus_and_ring_match_booksim2`): the same network as an
//! 8x8 torus (configs/chips/booksim-torus8x8.toml) and a 16-node ring
//! (tests/chips/booksim-ring16.toml) with dimension-order routing and
//! dateline VC classes, against BookSim2 runs of `dim_order_torus` made
//! with tests/data/booksim2/torus/make-curves.sh (its configs and CSVs are
//! beside it). Asserted: zero-load latency within 10%, saturation within
//! 20%, and the accepted rate at offered 1.0 against BookSim's
//! throughput-mode run (both fall below saturation on these networks) within
//! 25%. The wider limits than the mesh's: with twice the mesh's channel-load
//! bound, the torus saturates where BookSim's one-iteration iSLIP switch
//! allocation limits it, which this model does not draw (arch/timing.md,
//! "Validating against BookSim2").
//!
//! Transpose and bitcomp (`mesh8x8_transpose_and_bitcomp_match_booksim2`):
//! the same 8x8 mesh under those permutations (tilesim's and BookSim's
//! definitions are the same, the transpose diagonal's tiles sending to
//! themselves in both), against BookSim2 runs made with
//! tests/data/booksim2/patterns/make-curves.sh. Asserted: zero-load latency
//! within 10%, saturation within 15% (the rate grid carried up to this
//! model's own first unstable rate), and the accepted rate at offered 1.0
//! against BookSim's throughput-mode run within 15%. Under transpose only
//! the flows into the corner tiles' links saturate, so the accepted rate
//! keeps rising past the knee and the saturation point is where the mean
//! latency, which grows with the run's length there, crosses 500 cycles:
//! this model's fixed window crosses it a step or two after BookSim's
//! (arch/timing.md, "Validating against BookSim2").
//!
//! Other sizes (`mesh4x4_and_16x16_match_booksim2`,
//! `torus4x4_matches_booksim2`): booksim-mesh8x8 as a 4x4 and a 16x16 mesh
//! and booksim-torus8x8 as a 4x4 torus (`noc.grid` overridden, nothing
//! else), against BookSim2 runs of the same configs with k = 4 and 16 made
//! with tests/data/booksim2/sizes/make-curves.sh. Asserted: zero-load latency
//! within 10%; saturation within 15%, the mesh's limit (the 4x4 mesh's 4-flit
//! +9%, the largest, is the torus's effect: its channel-load bound is what a
//! node injects, so the routers limit BookSim first); that the highest rate
//! simulated is past this model's saturation; and on the 4x4 networks the
//! accepted rate at offered 1.0 within 15% of BookSim's throughput-mode run.
//! The 16x16 mesh runs at a few of BookSim's rates and not at 1.0, to keep
//! the test short (arch/timing.md, "Other sizes").
//!
//! Fat tree (`fattree64_matches_booksim2`): against BookSim2's 4-ary 3-tree
//! (tests/data/booksim2/fattree/), zero-load latency within 10%, saturation
//! and the accepted rate at offered 1.0 within 20%; a fat link holds the
//! VCs of the links it stands for (arch/timing.md, "Fat tree").
//!
//! Torus patterns (`torus8x8_transpose_and_bitcomp_match_booksim2`):
//! booksim-torus8x8 under transpose and bitcomp against BookSim2's
//! `dim_order_torus` runs (tests/data/booksim2/torus-patterns/), zero-load
//! latency within 10%, saturation and the accepted rate at offered 1.0
//! within 15%.
//!
//! Crossbar (`crossbar64_matches_booksim2`): a 64-tile `crossbar`
//! (tests/chips/booksim-crossbar64.toml) against BookSim2's single 64-port
//! router (a 64-ary 1-fly, tests/data/booksim2/crossbar/), zero-load latency
//! within 10%, saturation and offered 1.0 within 20% (the switch allocator
//! BookSim draws and this model does not is the whole network here:
//! arch/timing.md, "Crossbar").
//!
//! Hotspot (`mesh8x8_hotspot_matches_booksim2`): booksim-mesh8x8 under
//! `Pattern::Hotspot` against BookSim2's `hotspot` with the same destination
//! weights (tests/data/booksim2/hotspot/), zero-load latency within 10%,
//! saturation and offered 1.0 within 15%.
//!
//! `cargo test --test booksim -- --nocapture` prints the curves side by side.

mod simcommon;

use simcommon::{manifest_path, rel, run, shipped_chip, trace_of};
use std::path::PathBuf;
use tilesim::chip::Chip;
use tilesim::report::run::RunReport;
use tilesim::synth::{self, traffic::Pattern};

/// Injection cycles per run; statistics cover [cycles/5, cycles).
const CYCLES: u64 = 10_000;
/// BookSim's flit: 16 bytes, one per link per cycle.
const FLIT: u64 = 16;
/// BookSim aborts a run whose mean latency exceeds this ("unstable").
const LATENCY_THRES: f64 = 500.0;
/// Offered rates beyond the CSV's, up to ~0.6, to find where this model
/// saturates.
const EXTRA_RATES: [f64; 5] = [0.4, 0.45, 0.5, 0.55, 0.6];

/// One row of a BookSim CSV.
#[derive(Clone, Debug)]
struct Row {
    rate: f64,
    latency: f64,
    accepted: f64,
}

/// The rows of a BookSim CSV (tests/data/booksim2/), all for `flits`-flit packets.
fn reference(rel: &str, flits: u64) -> Vec<Row> {
    let path: PathBuf = manifest_path(&format!("tests/data/booksim2/{rel}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the BookSim2 reference {}: {e}\n\
             The curves are copied from ../shared/reference/noc/ into tests/data/booksim2/.",
            path.display()
        )
    });
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("empty CSV").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (c_size, c_rate, c_lat, c_acc) =
        (col("packet_size"), col("injection_rate"), col("avg_packet_latency"), col("accepted_flits_per_node_cycle"));
    let rows: Vec<Row> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f[c_size].parse::<u64>().unwrap(), flits, "{}: packet size", path.display());
            Row {
                rate: f[c_rate].parse().unwrap(),
                latency: f[c_lat].parse().unwrap(),
                accepted: f[c_acc].parse().unwrap(),
            }
        })
        .collect();
    rows
}

/// Simulated (mean packet latency, accepted flits/node/cycle) at `rate`.
fn simulate(chip: &Chip, pattern: Pattern, flits: u64, rate: f64) -> Row {
    let (header, streams) = synth::traffic_trace(chip, pattern, rate, flits, FLIT, CYCLES, 0).unwrap().into_generated();
    let trace = trace_of(chip, Some(header), streams, &format!("{pattern:?} p{flits} r{rate}"));
    let stats = run(chip, &trace);
    let noc = RunReport::new(chip, &trace, &stats).noc.expect("synthetic traffic has NoC statistics");
    Row { rate, latency: noc.packet_latency_mean_cycles, accepted: noc.accepted_flits_per_node_cycle }
}

/// Runs every rate, in parallel over the machine's cores.
fn sweep(chip: &Chip, pattern: Pattern, flits: u64, rates: &[f64]) -> Vec<Row> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(rates.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<Row>> = vec![None; rates.len()];
    let results = std::sync::Mutex::new(&mut out);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= rates.len() {
                        break;
                    }
                    let r = simulate(chip, pattern, flits, rates[i]);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    out.into_iter().map(|r| r.unwrap()).collect()
}

/// BookSim's saturation throughput: the highest accepted rate among runs
/// that stayed under the latency threshold.
fn saturation(rows: &[Row]) -> f64 {
    rows.iter().filter(|r| r.latency < LATENCY_THRES).map(|r| r.accepted).fold(0.0, f64::max)
}

struct Curves {
    net: &'static str,
    pattern: Pattern,
    flits: u64,
    booksim: Vec<Row>,
    sim: Vec<Row>,
}

/// Simulates BookSim's rates and `extra` ones on `chip`.
fn curves(net: &'static str, chip: &Chip, pattern: Pattern, flits: u64, booksim: Vec<Row>, extra: &[f64]) -> Curves {
    assert!(booksim.len() >= 5, "{net}: expected a BookSim latency curve, found {} rows", booksim.len());
    let mut rates: Vec<f64> = booksim.iter().map(|r| r.rate).collect();
    let extra: Vec<f64> = extra.iter().copied().filter(|&x| rates.iter().all(|&r| (r - x).abs() > 1e-9)).collect();
    rates.extend(extra);
    let sim = sweep(chip, pattern, flits, &rates);
    let c = Curves { net, pattern, flits, booksim, sim };
    c.print();
    c
}

impl Curves {
    /// A failure unless the rate simulated before offered 1.0 (the last)
    /// is past this model's own first unstable rate: otherwise its
    /// saturation could lie beyond the rates tried (transpose accepts more
    /// past its knee, so the highest rate's shortfall is not enough).
    /// `extend` names where the rates come from.
    fn unstable_before_one(&self, extend: &str) -> Option<String> {
        let [.., last, _] = self.sim.as_slice() else { panic!("rates") };
        (last.latency < LATENCY_THRES).then(|| {
            format!(
                "{}, {}, {}-flit: still stable at offered {:.4} (latency {:.1}); extend {extend}",
                self.net,
                self.pattern.name(),
                self.flits,
                last.rate,
                last.latency
            )
        })
    }

    fn print(&self) {
        eprintln!(
            "\n{}-flit packets, {}, {} (latency in cycles, rates in flits/node/cycle)",
            self.flits,
            self.net,
            self.pattern.name()
        );
        eprintln!(
            "{:>8} | {:>12} {:>9} | {:>12} {:>9}",
            "offered", "BookSim lat", "accepted", "tilesim lat", "accepted"
        );
        for s in &self.sim {
            let b = self.booksim.iter().find(|b| (b.rate - s.rate).abs() < 1e-9);
            let (bl, ba) = match b {
                Some(b) => (format!("{:.2}", b.latency), format!("{:.4}", b.accepted)),
                None => ("(unstable)".to_string(), "-".to_string()),
            };
            let mark = if s.latency >= LATENCY_THRES { " (> 500: unstable)" } else { "" };
            eprintln!("{:>8.2} | {:>12} {:>9} | {:>12.2} {:>9.4}{mark}", s.rate, bl, ba, s.latency, s.accepted);
        }
    }
    fn zero_load(&self) -> (f64, f64) {
        let b = self.booksim.iter().find(|r| (r.rate - 0.02).abs() < 1e-9).expect("BookSim row at 0.02");
        let s = self.sim.iter().find(|r| (r.rate - 0.02).abs() < 1e-9).unwrap();
        (s.latency, b.latency)
    }
    fn saturation(&self) -> (f64, f64) {
        (saturation(&self.sim), saturation(&self.booksim))
    }
    /// The README's other saturation marker: the first offered rate whose
    /// latency exceeds twice the zero-load latency.
    fn knee(&self) -> (f64, f64) {
        let first = |rows: &[Row]| {
            let zero = rows.iter().find(|r| (r.rate - 0.02).abs() < 1e-9).unwrap().latency;
            rows.iter().find(|r| r.latency > 2.0 * zero).map_or(f64::NAN, |r| r.rate)
        };
        (first(&self.sim), first(&self.booksim))
    }
}

/// Zero-load latency and saturation throughput for 1- and 4-flit packets.
#[test]
fn mesh8x8_uniform_matches_booksim2() {
    let chip = shipped_chip("booksim-mesh8x8");
    assert_eq!(chip.noc.link_bw.0, FLIT as f64, "booksim-mesh8x8 must carry one 16-byte flit per link-cycle");
    let mesh = |flits| {
        let rows = reference(&format!("booksim2-mesh8x8-uniform-p{flits}.csv"), flits);
        curves("8x8 mesh", &chip, Pattern::Uniform, flits, rows, &EXTRA_RATES)
    };
    let p1 = mesh(1);
    let p4 = mesh(4);

    let mut failures = Vec::new();
    for c in [&p1, &p4] {
        let (s, b) = c.zero_load();
        let e = rel(s, b);
        eprintln!(
            "{}-flit zero-load latency (0.02): tilesim {s:.2}, BookSim {b:.2}, error {:+.1}% (limit 10%)",
            c.flits,
            100.0 * e
        );
        if e.abs() > 0.10 {
            failures.push(format!("{}-flit zero-load latency {s:.2} vs BookSim {b:.2} ({:+.1}%)", c.flits, 100.0 * e));
        }
    }
    for c in [&p1, &p4] {
        let (s, b) = c.saturation();
        let e = rel(s, b);
        eprintln!(
            "{}-flit saturation throughput: tilesim {s:.3}, BookSim {b:.3}, error {:+.1}% (limit 15%)",
            c.flits,
            100.0 * e
        );
        if e.abs() > 0.15 {
            failures.push(format!("{}-flit saturation {s:.3} vs BookSim {b:.3} ({:+.1}%)", c.flits, 100.0 * e));
        }
        // Past saturation, back-pressure holds the accepted rate at it.
        let top = c.sim.last().expect("rates");
        if rel(top.accepted, s).abs() > 0.05 {
            failures.push(format!(
                "{}-flit accepted rate at offered {:.2} is {:.3}, not held at saturation {s:.3}",
                c.flits, top.rate, top.accepted
            ));
        }
    }
    for c in [&p1, &p4] {
        let (s, b) = c.knee();
        eprintln!("{}-flit first offered rate with latency > 2x zero-load: tilesim {s:.2}, BookSim {b:.2}", c.flits);
    }
    assert!(failures.is_empty(), "NoC model disagrees with BookSim2:\n  {}", failures.join("\n  "));
}

/// Offered rates simulated beyond BookSim's converged ones on the torus and
/// ring, by network and packet size: just past this model's saturation
/// (found with a finer sweep), then offered 1.0.
fn torus_extra(name: &str, flits: u64) -> &'static [f64] {
    match (name, flits) {
        ("torus8x8", 1) => &[0.34, 0.35, 0.36, 1.0],
        ("torus8x8", _) => &[0.65, 0.7, 0.72, 1.0],
        ("ring16", 1) => &[0.18, 0.19, 1.0],
        _ => &[0.36, 0.38, 0.4, 1.0],
    }
}

/// Zero-load latency, saturation throughput and the accepted rate at
/// offered 1.0 on the 8x8 torus and the 16-node ring, 1- and 4-flit packets.
#[test]
fn torus_and_ring_match_booksim2() {
    let torus = shipped_chip("booksim-torus8x8");
    let ring = simcommon::test_chip("booksim-ring16");
    let mut failures = Vec::new();
    for (net, chip, name, k, n) in
        [("8x8 torus", &torus, "torus8x8", "8", "2"), ("16-node ring", &ring, "ring16", "16", "1")]
    {
        for flits in [1, 4] {
            let rows = reference(&format!("torus/booksim2-{name}-uniform-p{flits}.csv"), flits);
            let c = curves(net, chip, Pattern::Uniform, flits, rows, torus_extra(name, flits));
            let p = flits.to_string();
            let one = at_one("torus/booksim2-saturated.csv", &[("k", k), ("n", n), ("packet_size", &p)]);
            failures.extend(check_curves(&c, 0.20, Some((one, 0.25))));
        }
    }
    assert!(failures.is_empty(), "torus/ring NoC model disagrees with BookSim2:\n  {}", failures.join("\n  "));
}

/// Offered rates simulated beyond BookSim's converged ones under transpose
/// and bitcomp, by pattern and packet size: BookSim's first unstable rate on
/// to this model's first unstable one (mean latency over 500, found with a
/// finer sweep), then offered 1.0.
fn pattern_extra(pattern: Pattern, flits: u64) -> &'static [f64] {
    match (pattern, flits) {
        (Pattern::Transpose, 1) => &[0.15, 0.16, 0.17, 1.0],
        (Pattern::Transpose, _) => &[0.17, 0.18, 0.19, 1.0],
        (Pattern::Bitcomp, 1) => &[0.21, 0.22, 1.0],
        _ => &[0.24, 0.25, 1.0],
    }
}

/// Zero-load latency, saturation throughput and the accepted rate at
/// offered 1.0 on the 8x8 mesh under transpose and bitcomp traffic, 1- and
/// 4-flit packets.
#[test]
fn mesh8x8_transpose_and_bitcomp_match_booksim2() {
    let chip = shipped_chip("booksim-mesh8x8");
    let mut failures = Vec::new();
    for pattern in [Pattern::Transpose, Pattern::Bitcomp] {
        let traffic = pattern.name();
        for flits in [1, 4] {
            let rows = reference(&format!("patterns/booksim2-mesh8x8-{traffic}-p{flits}.csv"), flits);
            let c = curves("8x8 mesh", &chip, pattern, flits, rows, pattern_extra(pattern, flits));
            failures.extend(c.unstable_before_one("pattern_extra"));
            let p = flits.to_string();
            let one = at_one("patterns/booksim2-saturated.csv", &[("traffic", traffic), ("packet_size", &p)]);
            failures.extend(check_curves(&c, 0.15, Some((one, 0.15))));
        }
    }
    assert!(failures.is_empty(), "transpose/bitcomp NoC model disagrees with BookSim2:\n  {}", failures.join("\n  "));
}

/// A shipped chip with `--set KEY=VALUE` overrides.
fn shipped_chip_with(name: &str, set: &[&str]) -> Chip {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let overrides = tilesim::api::overrides(&set, &[]).unwrap_or_else(|e| panic!("{set:?}: {e}"));
    tilesim::api::load_chip(name, &overrides).unwrap_or_else(|e| panic!("{name} with {set:?}: {e}"))
}

/// The accepted rate of BookSim's offered-1.0 throughput run in a CSV of
/// such runs (tests/data/booksim2/`rel`): the row whose columns have the
/// values `want` (column, value), which must pick exactly one.
fn at_one(rel: &str, want: &[(&str, &str)]) -> f64 {
    let path = manifest_path(&format!("tests/data/booksim2/{rel}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("empty CSV").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let want: Vec<(usize, &str)> = want.iter().map(|&(c, v)| (col(c), v)).collect();
    let rows: Vec<Vec<&str>> = lines
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|f| f.len() == header.len() && want.iter().all(|&(c, v)| f[c] == v))
        .collect();
    assert_eq!(rows.len(), 1, "{}: {} offered-1.0 rows for {want:?}", path.display(), rows.len());
    rows[0][col("accepted_flits_per_node_cycle")].parse().unwrap()
}

/// Checks one network's curves against BookSim: zero-load latency within
/// 10%, saturation throughput within `sat_limit`, that the rates simulated
/// reach past this model's own saturation (its accepted rate at the highest
/// one falls short of the offered), and, where `at_one` gives BookSim's
/// offered-1.0 throughput run and a limit, this model's accepted rate at
/// offered 1.0 (the last rate simulated) within that limit of it. Returns
/// the failures.
fn check_curves(c: &Curves, sat_limit: f64, at_one: Option<(f64, f64)>) -> Vec<String> {
    let mut failures = Vec::new();
    let what = format!("{}, {}, {}-flit", c.net, c.pattern.name(), c.flits);
    let (s, b) = c.zero_load();
    let e = rel(s, b);
    eprintln!("{what} zero-load latency (0.02): tilesim {s:.2}, BookSim {b:.2}, error {:+.1}% (limit 10%)", 100.0 * e);
    if e.abs() > 0.10 {
        failures.push(format!("{what} zero-load latency {s:.2} vs BookSim {b:.2} ({:+.1}%)", 100.0 * e));
    }
    // The highest rate must be past this model's saturation, or its
    // saturation could lie beyond the rates simulated.
    let top = c.sim.iter().max_by(|a, b| a.rate.total_cmp(&b.rate)).expect("rates");
    if top.accepted > 0.97 * top.rate {
        failures.push(format!(
            "{what}: still accepting {:.3} of offered {:.2} at the highest rate; extend the extra rates",
            top.accepted, top.rate
        ));
    }
    let (s, b) = c.saturation();
    let e = rel(s, b);
    eprintln!(
        "{what} saturation throughput: tilesim {s:.3}, BookSim {b:.3}, error {:+.1}% (limit {:.0}%)",
        100.0 * e,
        100.0 * sat_limit
    );
    if e.abs() > sat_limit {
        failures.push(format!("{what} saturation {s:.3} vs BookSim {b:.3} ({:+.1}%)", 100.0 * e));
    }
    let (s, b) = c.knee();
    eprintln!("{what} first offered rate with latency > 2x zero-load: tilesim {s:.2}, BookSim {b:.2}");
    if let Some((at_one, limit)) = at_one {
        assert!((top.rate - 1.0).abs() < 1e-9, "{what}: the last rate simulated is offered 1.0");
        let e = rel(top.accepted, at_one);
        eprintln!(
            "{what} accepted at offered 1.0: tilesim {:.3}, BookSim {at_one:.3}, error {:+.1}% (limit {:.0}%)",
            top.accepted,
            100.0 * e,
            100.0 * limit
        );
        if e.abs() > limit {
            failures.push(format!(
                "{what} accepted at 1.0 {:.3} vs BookSim {at_one:.3} ({:+.1}%)",
                top.accepted,
                100.0 * e
            ));
        }
    }
    failures
}

/// Offered rates simulated beyond BookSim's converged ones on the networks
/// of other sizes, by network and packet size: BookSim's first unstable rate
/// on to this model's first unstable one (mean latency over 500, found with a
/// finer sweep), then offered 1.0 on the 4x4 networks (on the 16x16 mesh a
/// run at 1.0 takes too long for a test; arch/timing.md gives its figures).
fn sizes_extra(name: &str, flits: u64) -> &'static [f64] {
    match (name, flits) {
        ("mesh4x4", 1) => &[0.76, 0.78, 1.0],
        ("mesh4x4", _) => &[0.9, 0.95, 0.99, 1.0],
        ("torus4x4", 1) => &[0.72, 1.0],
        ("torus4x4", _) => &[0.96, 0.98, 1.0],
        ("mesh16x16", 1) => &[0.19, 0.2],
        _ => &[0.24, 0.26],
    }
}

/// BookSim's rates simulated on the 16x16 mesh, whose runs cost 16 times
/// the 4x4's: zero load, a few on the way up, and the rates near the knee.
/// The CSVs' other rows agree as closely (arch/timing.md).
const MESH16_RATES: [f64; 7] = [0.02, 0.1, 0.15, 0.17, 0.18, 0.22, 0.23];

/// booksim-mesh8x8 as a 4x4 and a 16x16 mesh against BookSim2 runs of
/// mesh88_lat with k = 4 and k = 16 (tests/data/booksim2/sizes/), uniform
/// traffic, 1- and 4-flit packets: zero-load latency within 10%, saturation
/// within 15%, and on the 4x4 mesh the accepted rate at offered 1.0 within
/// 15% of BookSim's throughput-mode run.
#[test]
fn mesh4x4_and_16x16_match_booksim2() {
    let saturated = "sizes/booksim2-saturated.csv";
    let mut failures = Vec::new();
    for (net, name, k) in [("4x4 mesh", "mesh4x4", 4), ("16x16 mesh", "mesh16x16", 16)] {
        let chip = shipped_chip_with("booksim-mesh8x8", &[&format!("noc.grid=[{k},{k}]")]);
        for flits in [1, 4] {
            let mut rows = reference(&format!("sizes/booksim2-{name}-uniform-p{flits}.csv"), flits);
            if k == 16 {
                rows.retain(|r| MESH16_RATES.iter().any(|&x| (r.rate - x).abs() < 1e-9));
            }
            let c = curves(net, &chip, Pattern::Uniform, flits, rows, sizes_extra(name, flits));
            let (k, p) = (k.to_string(), flits.to_string());
            let one = (k == "4").then(|| at_one(saturated, &[("topology", "mesh"), ("k", &k), ("packet_size", &p)]));
            failures.extend(check_curves(&c, 0.15, one.map(|one| (one, 0.15))));
        }
    }
    assert!(failures.is_empty(), "mesh NoC model disagrees with BookSim2 at other sizes:\n  {}", failures.join("\n  "));
}

/// booksim-torus8x8 as a 4x4 torus against BookSim2 runs of `dim_order`
/// with k = 4 (tests/data/booksim2/sizes/), uniform traffic, 1- and 4-flit
/// packets: zero-load latency within 10%, saturation and the accepted rate at
/// offered 1.0 within 15%.
#[test]
fn torus4x4_matches_booksim2() {
    let chip = shipped_chip_with("booksim-torus8x8", &["noc.grid=[4,4]"]);
    let mut failures = Vec::new();
    for flits in [1, 4] {
        let rows = reference(&format!("sizes/booksim2-torus4x4-uniform-p{flits}.csv"), flits);
        let c = curves("4x4 torus", &chip, Pattern::Uniform, flits, rows, sizes_extra("torus4x4", flits));
        let p = flits.to_string();
        let want = [("topology", "torus"), ("k", "4"), ("packet_size", p.as_str())];
        let one = at_one("sizes/booksim2-saturated.csv", &want);
        failures.extend(check_curves(&c, 0.15, Some((one, 0.15))));
    }
    assert!(failures.is_empty(), "4x4 torus NoC model disagrees with BookSim2:\n  {}", failures.join("\n  "));
}

/// A 64-tile fat tree of arity 4 (tests/chips/booksim-fattree64.toml)
/// against BookSim2's 4-ary 3-tree with `nca` routing
/// (tests/data/booksim2/fattree/), uniform traffic, 1- and 4-flit packets:
/// zero-load latency within 10% (the trees have the same levels and hop
/// counts: a switch costs a router and a level a link), saturation and the
/// accepted rate at offered 1.0 within 20%, the torus's limit: a fat link is
/// one first-come-first-served server where BookSim spreads the same
/// traffic over `arity` channels at random, and its radix-8 routers' iSLIP
/// allocation, not drawn here, limits BookSim first as on the injection-bound
/// 4x4 networks (arch/timing.md, "Fat tree").
#[test]
fn fattree64_matches_booksim2() {
    let chip = simcommon::test_chip("booksim-fattree64");
    let mut failures = Vec::new();
    for (flits, extra) in [(1, &[0.74, 0.76, 0.78, 0.8, 1.0][..]), (4, &[0.9, 0.92, 0.94, 0.96, 1.0][..])] {
        let rows = reference(&format!("fattree/booksim2-fattree64-nca-uniform-p{flits}.csv"), flits);
        let c = curves("64-tile fat tree", &chip, Pattern::Uniform, flits, rows, extra);
        let p = flits.to_string();
        let one = at_one("fattree/booksim2-saturated.csv", &[("routing", "nca"), ("packet_size", &p)]);
        failures.extend(check_curves(&c, 0.20, Some((one, 0.20))));
    }
    assert!(failures.is_empty(), "fat-tree NoC model disagrees with BookSim2:\n  {}", failures.join("\n  "));
}

/// The rows of `rows` at `rates` (BookSim's rates a test simulates, to keep
/// it short): every rate must be a row, 0.02 (zero load) among them, and the
/// rows kept must hold BookSim's saturation, so only points on the way up
/// are left out.
fn subset(rows: Vec<Row>, rates: &[f64]) -> Vec<Row> {
    let kept: Vec<Row> = rows.iter().filter(|r| rates.iter().any(|&x| (r.rate - x).abs() < 1e-9)).cloned().collect();
    assert_eq!(kept.len(), rates.len(), "every rate kept is a BookSim row: {rates:?}");
    assert!(kept.iter().any(|r| (r.rate - 0.02).abs() < 1e-9), "zero load (0.02) is kept");
    assert_eq!(saturation(&kept), saturation(&rows), "the rows kept hold BookSim's saturation: {rates:?}");
    kept
}

/// Offered rates simulated beyond BookSim's converged ones on the 8x8 torus
/// under transpose and bitcomp, by pattern and packet size: BookSim's first
/// unstable rate on to this model's first unstable one (mean latency over
/// 500, found with a finer sweep), then offered 1.0.
fn torus_pattern_extra(pattern: Pattern, flits: u64) -> &'static [f64] {
    match (pattern, flits) {
        (Pattern::Transpose, 1) => &[0.14, 1.0],
        (Pattern::Transpose, _) => &[0.28, 0.29, 1.0],
        (Pattern::Bitcomp, 1) => &[0.21, 0.22, 1.0],
        _ => &[0.46, 0.48, 1.0],
    }
}

/// BookSim's rates simulated on the torus under transpose and bitcomp: zero
/// load, one on the way up, and the last few below BookSim's first unstable
/// rate (the CSVs' other rows agree as closely; `cargo test` runs them all
/// in a few seconds more).
fn torus_pattern_rates(pattern: Pattern, flits: u64) -> &'static [f64] {
    match (pattern, flits) {
        (Pattern::Transpose, 1) => &[0.02, 0.08, 0.11, 0.12, 0.13],
        (Pattern::Transpose, _) => &[0.02, 0.15, 0.24, 0.25, 0.26, 0.27],
        (Pattern::Bitcomp, 1) => &[0.02, 0.15, 0.18, 0.19, 0.2],
        _ => &[0.02, 0.3, 0.4, 0.42, 0.44],
    }
}

/// booksim-torus8x8 under transpose and bitcomp traffic against BookSim2's
/// `dim_order_torus` runs (tests/data/booksim2/torus-patterns/), 1- and
/// 4-flit packets: zero-load latency within 10%, saturation and the
/// accepted rate at offered 1.0 within 15%, the mesh patterns' limits.
/// tilesim breaks a 4-hop tie of transpose by the start coordinate's parity
/// where BookSim draws a direction per packet (arch/timing.md, "NoC links and
/// routing"); bitcomp's displacements are odd, so it has no ties.
#[test]
fn torus8x8_transpose_and_bitcomp_match_booksim2() {
    let chip = shipped_chip("booksim-torus8x8");
    let mut failures = Vec::new();
    for pattern in [Pattern::Transpose, Pattern::Bitcomp] {
        let traffic = pattern.name();
        for flits in [1, 4] {
            let rows = reference(&format!("torus-patterns/booksim2-torus8x8-{traffic}-p{flits}.csv"), flits);
            let rows = subset(rows, torus_pattern_rates(pattern, flits));
            let c = curves("8x8 torus", &chip, pattern, flits, rows, torus_pattern_extra(pattern, flits));
            failures.extend(c.unstable_before_one("torus_pattern_extra"));
            let p = flits.to_string();
            let one = at_one("torus-patterns/booksim2-saturated.csv", &[("traffic", traffic), ("packet_size", &p)]);
            failures.extend(check_curves(&c, 0.15, Some((one, 0.15))));
        }
    }
    assert!(
        failures.is_empty(),
        "torus transpose/bitcomp NoC model disagrees with BookSim2:\n  {}",
        failures.join("\n  ")
    );
}

/// A 64-tile crossbar (tests/chips/booksim-crossbar64.toml: one switch,
/// booksim-mesh8x8's router, VCs and channels) against BookSim2's
/// single-router network, a 64-ary 1-fly (tests/data/booksim2/crossbar/),
/// uniform traffic, 1- and 4-flit packets: zero-load latency within 10%,
/// saturation and the accepted rate at offered 1.0 within 20%, the fat
/// tree's limit: with no router-to-router channel the switch is the whole
/// network, and its one-iteration iSLIP allocation and input speedup, not
/// drawn here, are what limit BookSim's 4-flit packets (arch/timing.md,
/// "Crossbar").
#[test]
fn crossbar64_matches_booksim2() {
    let chip = simcommon::test_chip("booksim-crossbar64");
    let mut failures = Vec::new();
    // BookSim's rates simulated: zero load, a few on the way up, and those
    // near its knee (the CSVs' other rows agree as closely); then rates past
    // this model's own saturation.
    let p1 = [0.02, 0.3, 0.6, 0.72, 0.76, 0.78, 0.82];
    let p4 = [0.02, 0.3, 0.6, 0.76, 0.8, 0.84];
    for (flits, rates, extra) in [(1, &p1[..], &[1.0][..]), (4, &p4[..], &[0.9, 0.94, 1.0][..])] {
        let rows = reference(&format!("crossbar/booksim2-crossbar64-uniform-p{flits}.csv"), flits);
        let rows = subset(rows, rates);
        let c = curves("64-port crossbar", &chip, Pattern::Uniform, flits, rows, extra);
        let p = flits.to_string();
        let one = at_one("crossbar/booksim2-saturated.csv", &[("packet_size", &p)]);
        failures.extend(check_curves(&c, 0.20, Some((one, 0.20))));
    }
    assert!(failures.is_empty(), "crossbar NoC model disagrees with BookSim2:\n  {}", failures.join("\n  "));
}

/// booksim-mesh8x8 under hotspot traffic (a quarter of the packets to tile
/// 32, the rest uniform) against BookSim2's `hotspot` pattern given the same
/// destination weights (tests/data/booksim2/hotspot/: node 32 67/256, every
/// other node 3/256), 1- and 4-flit packets: zero-load latency (offered
/// 0.02) within 10%, saturation (the hotspot's ejection channel, near
/// 1/16.75 = 0.060) and the accepted rate at offered 1.0 within 15%, the
/// mesh's limits.
#[test]
fn mesh8x8_hotspot_matches_booksim2() {
    let chip = shipped_chip("booksim-mesh8x8");
    let mut failures = Vec::new();
    // BookSim's rates simulated: zero load, one on the way up, those near
    // its knee (the CSVs' other rows agree as closely); then on to this
    // model's first unstable rate, and offered 1.0.
    let p1 = [0.02, 0.04, 0.055, 0.0575, 0.06];
    let p4 = [0.02, 0.04, 0.0575, 0.06, 0.0625];
    for (flits, rates, extra) in [(1, &p1[..], &[0.065, 0.07, 1.0][..]), (4, &p4[..], &[0.065, 0.07, 1.0][..])] {
        let rows = reference(&format!("hotspot/booksim2-mesh8x8-hotspot-p{flits}.csv"), flits);
        let rows = subset(rows, rates);
        let c = curves("8x8 mesh", &chip, Pattern::Hotspot, flits, rows, extra);
        failures.extend(c.unstable_before_one("the extra rates"));
        let p = flits.to_string();
        let one = at_one("hotspot/booksim2-saturated.csv", &[("packet_size", &p)]);
        failures.extend(check_curves(&c, 0.15, Some((one, 0.15))));
    }
    assert!(failures.is_empty(), "hotspot NoC model disagrees with BookSim2:\n  {}", failures.join("\n  "));
}
