//! Valid input at the bounds of arch/limits.md simulates without a panic:
//! every instruction at its largest size, on the fastest chip and on the
//! slowest one a config may describe (every rate at its floor, every latency
//! at its ceiling), alone and in loops. Tests build with overflow checks, so
//! an intermediate time, byte or tick count that wraps fails here; a run
//! whose time passes the longest a run may simulate is refused as bad input
//! (`sim_cycles`), never reported as a simulator bug.
//!
//! Found this way: 65,536 iterations of the longest delay wrapped the cycle
//! counter, one `gemm` of 2^55 MACs at one MAC a cycle overflowed the tick
//! count, and the longest load on the slowest DRAM channel overflowed the
//! channel's 16.16 duration (arch/limits.md, "Simulated time").

use std::panic::{AssertUnwindSafe, catch_unwind};
use tilesim::chip::Chip;
use tilesim::sim::SimError;
use tilesim::trace::Trace;

/// A text trace from memory, checked as `run` checks a file.
fn parse(text: &str, name: &str) -> Result<Trace, tilesim::trace::TraceError> {
    let mut src = tilesim::trace::open_reader(name, Box::new(std::io::Cursor::new(text.as_bytes().to_vec())))?;
    Trace::from_source(src.as_mut(), name.to_string())
}

/// mini-mesh with `edits`: each `section.key` line's value replaced.
fn mini_mesh(edits: &[(&str, &str)]) -> Chip {
    shipped("mini-mesh", edits)
}

/// Shipped chip `name` with `edits`: each `section.key` line's value
/// replaced.
fn shipped(name: &str, edits: &[(&str, &str)]) -> Chip {
    let base = tilesim::config::shipped::get(tilesim::config::shipped::Kind::Chip, name).unwrap();
    let (mut text, mut section) = (String::new(), String::new());
    for line in base.lines() {
        if let Some(name) = line.strip_prefix('[') {
            section = name.split(']').next().unwrap_or("").to_string();
        }
        let key = format!("{section}.{}", line.split('=').next().unwrap_or("").trim());
        match edits.iter().find(|(k, _)| *k == key) {
            Some((k, v)) => text.push_str(&format!("{} = {v}\n", k.rsplit('.').next().unwrap())),
            None => text.push_str(&format!("{line}\n")),
        }
    }
    tilesim::config::chip::load_str(name, &text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Both ends of the chip bounds, with SRAM, packets and DRAM granules large
/// enough for the largest transfer (2^36 bytes, at most 2^20 pieces).
fn chips() -> Vec<(&'static str, Chip)> {
    let big = [
        ("tile.sram", "\"64 GiB\""),
        ("noc.packet", "\"16 MiB\""),
        ("hbm.interleave", "\"1 GiB\""),
        ("hbm.row_size", "\"1 GiB\""),
        ("hbm.capacity", "\"1024 GiB\""),
    ];
    let fastest = mini_mesh(
        &[
            &big[..],
            &[
                (".clock", "\"100 GHz\""),
                ("tile.sram_bandwidth", "\"8388608 B/cycle\""),
                ("tile.macs_per_cycle", "{ fp16 = 16777216, bf16 = 16777216, fp8 = 16777216, int8 = 16777216 }"),
                ("tile.vector_lanes", "1048576"),
                ("noc.link_bandwidth", "\"8388608 B/cycle\""),
            ],
        ]
        .concat(),
    );
    // Rates at 1/1024 byte a cycle (the 16 DRAM channels too) and latencies
    // of 1 s, at 100 GHz: the most cycles each may take. (The fastest
    // chip's rates are 2^23 B/cycle, under the 1 EB/s ceiling at 100 GHz.)
    let slowest = mini_mesh(
        &[
            &big[..],
            &[
                (".clock", "\"100 GHz\""),
                ("tile.sram_bandwidth", "\"0.0009765625 B/cycle\""),
                ("tile.macs_per_cycle", "{ fp16 = 1, bf16 = 1, fp8 = 1, int8 = 1 }"),
                ("tile.vector_lanes", "1"),
                ("noc.link_bandwidth", "\"0.0009765625 B/cycle\""),
                ("hbm.bandwidth", "\"1562500000 B/s\""),
                ("tile.matrix_latency", "\"1 s\""),
                ("tile.vector_latency", "\"1 s\""),
                ("noc.router_latency", "\"1 s\""),
                ("noc.link_latency", "\"1 s\""),
                ("noc.inject_latency", "\"1 s\""),
                ("noc.eject_latency", "\"1 s\""),
                ("hbm.controller_latency", "\"1 s\""),
            ],
        ]
        .concat(),
    );
    vec![("fastest", fastest), ("slowest", slowest)]
}

/// Instruction streams at the bounds: tile 0's, and tile 1's when it
/// receives.
fn cases() -> Vec<(&'static str, String)> {
    let big = 1u64 << 36;
    let pair = |send: &str, recv: &str| format!("tile 0\n{send}\nwait tok=0\n\ntile 1\n{recv}\nwait tok=0\n");
    vec![
        ("delays past 2^50 cycles", "tile 0\nloop count=65536\ndelay cycles=281474976710656\nendloop\n".into()),
        ("delays to 2^50 cycles", "tile 0\nloop count=4\ndelay cycles=281474976710656\nendloop\n".into()),
        ("the largest gemm", "tile 0\ngemm m=268435456 n=268435455 k=1 dtype=fp16\n".into()),
        ("gemms in a loop", "tile 0\nloop count=4096\ngemm m=268435456 n=268435455 k=1 dtype=fp16\nendloop\n".into()),
        ("the largest vector op", "tile 0\nvec op=add n=72057594037927935 dtype=fp16\n".into()),
        ("the largest attention", "tile 0\nattn q=1 ctx=16777216 heads=65536 kv_heads=1 hd=64 dtype=fp16\n".into()),
        ("the largest HBM load", format!("tile 0\nload tok=0 mem=hbm:0x0 sram=0x0 bytes={big}\nwait tok=0\n")),
        (
            "HBM loads in a loop",
            format!("tile 0\nloop count=64\nload tok=0 mem=hbm:0x0 sram=0x0 bytes={big}\nendloop\nwait tok=0\n"),
        ),
        ("the largest HBM store", format!("tile 0\nstore tok=0 mem=hbm:0x0 sram=0x0 bytes={big}\nwait tok=0\n")),
        (
            "the largest message",
            pair(
                &format!("send tok=0 to=1 tag=0 sram=0x0 bytes={big}"),
                &format!("recv tok=0 from=0 tag=0 sram=0x0 bytes={big}"),
            ),
        ),
        ("the largest multicast", {
            let mut t = format!("tile 0\nmcast tok=0 group=0 tag=0 sram=0x0 bytes={big}\nwait tok=0\n");
            for r in 1..16 {
                t.push_str(&format!("\ntile {r}\nrecv tok=0 from=0 tag=0 sram=0x0 bytes={big}\nwait tok=0\n"));
            }
            t
        }),
        (
            "barriers in a loop",
            (0..16).map(|r| format!("tile {r}\nloop count=4096\nbarrier group=0\nendloop\n\n")).collect(),
        ),
        (
            "a load from another tile's SRAM",
            format!("tile 0\nload tok=0 mem=sram@15:0x0 sram=0x0 bytes={big}\nwait tok=0\n"),
        ),
    ]
}

#[test]
fn instructions_at_their_bounds_simulate_or_are_refused_without_a_panic() {
    let (mut problems, mut outcomes) = (Vec::new(), Vec::new());
    for (chip_name, chip) in chips() {
        for (case, body) in cases() {
            let text = format!("tilesim-trace 2\nchip mini-mesh\ntiles 16\ngroup 0 0-15\n\n{body}");
            let trace = match parse(&text, case) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("{case}: the trace is refused: {e}"));
                    continue;
                }
            };
            let ran = catch_unwind(AssertUnwindSafe(|| tilesim::sim::simulate(&chip, &trace, &Default::default())));
            let outcome = match ran {
                Err(_) => "panicked".to_string(),
                Ok(Ok(_)) => "ran".to_string(),
                Ok(Err(e)) if e.exit_code() != 2 || matches!(e, SimError::Internal(_)) => format!("failed: {e}"),
                Ok(Err(e)) => format!("refused: {e}"),
            };
            println!("{case} on the {chip_name} chip: {outcome}");
            outcomes.push((case, chip_name, outcome));
        }
    }
    // What each case must do on (the fastest, the slowest) chip: run, or be
    // refused with these words.
    let expected = |case: &str| -> (&str, &str) {
        match case {
            "delays past 2^50 cycles" => ("passes 2^50 cycles", "passes 2^50 cycles"),
            "gemms in a loop" => ("run_work", "run_work"),
            // 2^56 MACs at one a cycle.
            "the largest gemm" | "the largest vector op" => ("ran", "passes 2^50 cycles"),
            // 2^36 bytes at 1/1024 B/cycle: 2^46 cycles, 64 of them 2^52.
            "HBM loads in a loop" => ("ran", "passes 2^50 cycles"),
            // Each barrier crosses links of 1 s (10^11 cycles at 100 GHz).
            "barriers in a loop" => ("ran", "passes 2^50 cycles"),
            _ => ("ran", "ran"),
        }
    };
    for (case, chip_name, outcome) in outcomes {
        let (fast, slow) = expected(case);
        let want = if chip_name == "fastest" { fast } else { slow };
        let ok =
            if want == "ran" { outcome == "ran" } else { outcome.starts_with("refused") && outcome.contains(want) };
        if !ok {
            problems.push(format!("{case} on the {chip_name} chip: expected {want}, {outcome}"));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// The bound itself: ending at 2^50 cycles runs, one cycle more is refused
/// with the trace named and the code bad input's.
#[test]
fn the_longest_run_is_2_to_the_50_cycles() {
    let chip = mini_mesh(&[]);
    let run = |extra: &str| {
        let text = format!(
            "tilesim-trace 2\nchip mini-mesh\ntiles 16\n\ntile 0\nloop count=4\ndelay cycles=281474976710656\nendloop\n{extra}"
        );
        tilesim::sim::simulate(&chip, &parse(&text, "t.trace").unwrap(), &Default::default())
    };
    assert_eq!(run("").unwrap().cycles.0, 1 << 50);
    let Err(e) = run("delay cycles=1\n") else { panic!("a run past 2^50 cycles was not refused") };
    assert_eq!(e.exit_code(), 2);
    assert!(matches!(e, SimError::TooLong { .. }), "{e}");
    assert!(e.to_string().starts_with("t.trace: the run passes 2^50 cycles"), "{e}");
}

/// The 3D-DRAM vaults (mesh-3ddram: a vault under each of 256 tiles) at
/// their bounds: the largest load from a tile's own vault and from another
/// tile's, on the fastest and the slowest vaults a config may describe.
#[test]
fn vault_loads_at_their_bounds_simulate_without_a_panic() {
    let big = [
        ("tile.sram", "\"64 GiB\""),
        ("noc.packet", "\"16 MiB\""),
        ("dram3d.capacity_per_tile", "\"64 GiB\""),
        ("dram3d.interleave", "\"1 GiB\""),
        ("dram3d.row_size", "\"1 GiB\""),
    ];
    let fastest = shipped("mesh-3ddram", &[&big[..], &[(".clock", "\"100 GHz\"")]].concat());
    // 8 channels a vault at 1/1024 B/cycle each, 100 GHz; 1 s latencies.
    let slowest = shipped(
        "mesh-3ddram",
        &[
            &big[..],
            &[
                (".clock", "\"100 GHz\""),
                ("dram3d.bandwidth_per_tile", "\"781250000 B/s\""),
                ("dram3d.controller_latency", "\"1 s\""),
                ("noc.link_bandwidth", "\"0.0009765625 B/cycle\""),
                ("noc.router_latency", "\"1 s\""),
            ],
        ]
        .concat(),
    );
    let big = 1u64 << 36;
    for (chip_name, chip) in [("fastest", fastest), ("slowest", slowest)] {
        for (case, mem) in [("own vault", "dram:0x0".to_string()), ("another tile's vault", "dram@255:0x0".into())] {
            let text = format!(
                "tilesim-trace 2\nchip mesh-3ddram\ntiles 256\n\ntile 0\nload tok=0 mem={mem} sram=0x0 bytes={big}\nwait tok=0\n\
                 store tok=1 mem={mem} sram=0x0 bytes={big}\nwait tok=1\n"
            );
            let trace = parse(&text, case).unwrap_or_else(|e| panic!("{case}: {e}"));
            let ran = catch_unwind(AssertUnwindSafe(|| tilesim::sim::simulate(&chip, &trace, &Default::default())));
            match ran {
                Err(_) => panic!("{case} on the {chip_name} chip: panicked"),
                Ok(Err(e)) => panic!("{case} on the {chip_name} chip: {e}"),
                Ok(Ok(_)) => {}
            }
        }
    }
}
