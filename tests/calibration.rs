//! The shipped configs against the measurements of the parts they model
//! (../shared/reference/hardware.md, "Microbenchmarks to calibrate against"
//! and "Latency microbenchmarks"): every row of `tilesim validate`, each a
//! simulated microbenchmark, not config arithmetic, within its tolerance
//! (arch/validation.md says which parameter each row set).
//! `cargo test --test calibration -- --nocapture` prints the table.

use tilesim::validate::{self, Check};

#[test]
fn every_calibration_microbenchmark_is_within_its_tolerance() {
    let outcomes: Vec<_> =
        validate::benchmarks().iter().map(|b| validate::run(b).unwrap_or_else(|e| panic!("{}: {e}", b.what))).collect();
    eprintln!("{}", validate::table(&outcomes));
    let outside: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.pass)
        .map(|o| {
            format!(
                "{} {}: simulated {:.2} vs measured {:.2} {} ({:+.1}%)",
                o.chip,
                o.what,
                o.simulated,
                o.measured,
                o.unit,
                100.0 * o.error
            )
        })
        .collect();
    assert!(outside.is_empty(), "outside tolerance:\n{}", outside.join("\n"));
    // Every tolerance is at most the 10% the fidelity issue asks for, but
    // for the small-message NCCL rows (15%: two measurements of different
    // setups fitted with one pair of parameters).
    for o in &outcomes {
        if let Check::Within(t) = o.check {
            assert!(t <= 0.10 || o.what.contains("4 KiB"), "{}: tolerance {t}", o.what);
        }
    }
}

#[test]
fn the_issue_rows_are_all_there() {
    let rows: Vec<(String, &str)> = validate::benchmarks().iter().map(|b| (b.chip.to_string(), b.what)).collect();
    for (chip, needle) in [
        ("h100", "HBM streaming"),
        ("h100", "load-to-use"),
        ("dgx-h100", "bus bandwidth"),
        ("dgx-a100", "bus bandwidth"),
        ("dgx-h100", "4 KiB, 8 GPUs"),
        ("dgx-h100", "4 KiB, 2 GPUs"),
        ("wormhole-t3000", "4 KiB"),
        ("wormhole-t3000", "Ethernet"),
        ("groq-576", "farthest chip"),
        ("cerebras-wse3", "per core hop"),
    ] {
        assert!(rows.iter().any(|(c, w)| *c == chip && w.contains(needle)), "no row `{needle}` on {chip}");
    }
}
