//! Critical-path attribution (arch/timing.md, "Critical path"): hand-made
//! traces whose chain is known, split by class to the cycle, and the sum
//! property (the classes add up to the finish time; every shipped trace is
//! checked in tests/traces.rs).

mod simcommon;

use simcommon::{run, shipped_chip, trace_of};
use tilesim::chip::Chip;
use tilesim::dtype::Dtype;
use tilesim::ids::TileId;
use tilesim::isa::{Count, Group, Instr, Loc, SramAddr, Tag, Token, VecOp};
use tilesim::report::run::RunReport;
use tilesim::sim::RunStats;
use tilesim::trace::{Header, Trace};
use tilesim::units::{Bytes, Cycles};

fn wait(t: u32) -> Instr {
    Instr::Wait { tok: Token(t) }
}

fn load(addr: u64, bytes: u64) -> Instr {
    Instr::Load { tok: Token(0), mem: Loc::Hbm { addr }, sram: SramAddr(0), bytes: Bytes(bytes) }
}

fn gemm(m: u64, n: u64, k: u64) -> Instr {
    Instr::Gemm { m: Count(m), n: Count(n), k: Count(k), dtype: Dtype::Fp16 }
}

fn send(to: u32, bytes: u64) -> Instr {
    Instr::Send { tok: Token(0), to: TileId(to), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(bytes) }
}

fn recv(from: u32, bytes: u64) -> Instr {
    Instr::Recv { tok: Token(1), from: TileId(from), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(bytes) }
}

/// The breakdown as (class, cycles) of the non-zero classes, after checking
/// that it sums to the run's cycles.
fn path(chip: &Chip, trace: &Trace) -> (RunStats, Vec<(&'static str, u64)>) {
    let s = run(chip, trace);
    let cp = RunReport::new(chip, trace, &s).critical_path;
    assert_eq!(cp.cycles, s.cycles.0);
    let parts: Vec<_> = cp.classes().into_iter().filter(|c| c.1 > 0).collect();
    assert_eq!(parts.iter().map(|c| c.1).sum::<u64>(), s.cycles.0, "{parts:?}");
    (s, parts)
}

fn on_tile0(chip: &Chip, prog: Vec<Instr>) -> Vec<(&'static str, u64)> {
    path(chip, &trace_of(chip, None, vec![(TileId(0), prog)], "cp")).1
}

/// One tile, one instruction: the units' time, then the SRAM port's.
#[test]
fn compute_and_port_bound_instructions() {
    let c = shipped_chip("mini-mesh");
    // arch/timing.md's table: MAC-bound 4096 + 10; port-bound GEMV 2058 + 10
    // of which 256 are MACs.
    assert_eq!(on_tile0(&c, vec![gemm(64, 256, 256)]), vec![("compute", 4106)]);
    assert_eq!(on_tile0(&c, vec![gemm(1, 1024, 256)]), vec![("compute", 266), ("sram", 1802)]);
}

/// A load overlapped with a longer compute is off the path; a long load
/// overlapped with a short compute is the whole path.
#[test]
fn compute_bound_tile_versus_dma_bound_tile() {
    let c = shipped_chip("mini-mesh");
    assert_eq!(on_tile0(&c, vec![load(0, 64), wait(0)]), vec![("memory", 108)]);
    assert_eq!(on_tile0(&c, vec![load(0, 64), gemm(64, 256, 256), wait(0)]), vec![("compute", 4106)]);
    let long = on_tile0(&c, vec![load(0, 1 << 20), gemm(64, 256, 256), wait(0)]);
    assert_eq!(long.len(), 1, "{long:?}");
    assert_eq!(long[0].0, "memory");
    // In sequence, both count.
    let seq = on_tile0(&c, vec![load(0, 64), wait(0), gemm(64, 256, 256)]);
    assert_eq!(seq, vec![("compute", 4106), ("memory", 108)]);
}

/// The chain crosses tiles: tile 3 waits for tile 0's message, which
/// waited for tile 0's compute.
#[test]
fn a_message_carries_its_sender_s_path() {
    let c = shipped_chip("mini-mesh");
    let add = Instr::Vec { op: VecOp::Add, n: Count(4096), dtype: Dtype::Fp16 };
    let t = trace_of(
        &c,
        None,
        vec![(TileId(0), vec![add, send(3, 4096), wait(0)]), (TileId(3), vec![recv(0, 4096), wait(1)])],
        "msg",
    );
    let (s, parts) = path(&c, &t);
    // The add: 96 + 5 cycles (arch/timing.md), its lanes busy 64 of the
    // port's 96; the message alone takes 98 to finish on tile 3 (the
    // contention example).
    assert_eq!(parts, vec![("compute", 69), ("sram", 32), ("noc", 98)]);
    assert_eq!(s.critical_path.tile, 3);
}

/// A barrier: the last to arrive sets the release; its own time is the
/// barrier latency.
#[test]
fn a_barrier_continues_the_last_arrival() {
    let c = shipped_chip("mini-mesh");
    let header =
        Header { chip: c.name.clone(), tiles: 16, groups: vec![(0..16).map(TileId).collect()], ..Header::default() };
    let mut streams: Vec<(TileId, Vec<Instr>)> =
        (0..16).map(|t| (TileId(t), vec![Instr::Barrier { group: Group(0) }])).collect();
    streams[5].1.insert(0, Instr::Delay { cycles: Cycles(100) });
    // 160 cycles in all (arch/timing.md, "Barriers").
    let (_, parts) = path(&c, &trace_of(&c, Some(header), streams, "barrier"));
    assert_eq!(parts, vec![("sync", 60), ("software", 100)]);
}

/// Between chips: the chip-to-chip part of a message is `links`, the rest
/// `noc`.
#[test]
fn a_message_between_chips_is_mostly_links() {
    let c = shipped_chip("dgx-h100");
    let per_chip = c.tiles_per_chip();
    let t = trace_of(
        &c,
        None,
        vec![(TileId(0), vec![send(per_chip, 4096), wait(0)]), (TileId(per_chip), vec![recv(0, 4096), wait(1)])],
        "links",
    );
    let (s, parts) = path(&c, &t);
    let get = |n: &str| parts.iter().find(|p| p.0 == n).map_or(0, |p| p.1);
    assert_eq!(get("links") + get("noc"), s.cycles.0, "{parts:?}");
    // Two 50 ns NVLink hops and a 70 ns switch at least.
    assert!(get("links") as f64 >= 170e-9 * c.clock_hz * 0.9, "{parts:?}");
    assert!(get("links") > get("noc"), "{parts:?}");
    let r = RunReport::new(&c, &t, &s);
    assert_eq!(r.bound, "links");
}
