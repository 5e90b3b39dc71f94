//! The worked examples of arch/timing.md, run on mini-mesh: each number the
//! document derives by hand is asserted here, so the page and the simulator
//! cannot drift apart.

mod simcommon;

use simcommon::{chip_from_str, run, shipped_chip, trace_of};
use tilesim::chip::Chip;
use tilesim::dtype::Dtype;
use tilesim::ids::TileId;
use tilesim::isa::{Count, Group, Instr, Loc, SramAddr, Tag, Token, VecOp};
use tilesim::trace::Header;
use tilesim::units::{Bytes, Cycles};

fn mini() -> Chip {
    shipped_chip("mini-mesh")
}

fn wait(t: u32) -> Instr {
    Instr::Wait { tok: Token(t) }
}

fn load(addr: u64, bytes: u64) -> Instr {
    Instr::Load { tok: Token(0), mem: Loc::Hbm { addr }, sram: SramAddr(0), bytes: Bytes(bytes) }
}

fn send(to: u32, bytes: u64) -> Instr {
    Instr::Send { tok: Token(0), to: TileId(to), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(bytes) }
}

fn recv(from: u32, bytes: u64) -> Instr {
    Instr::Recv { tok: Token(1), from: TileId(from), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(bytes) }
}

fn on_tile0(chip: &Chip, prog: Vec<Instr>) -> u64 {
    run(chip, &trace_of(chip, None, vec![(TileId(0), prog)], "example")).cycles.0
}

/// "Tile issue and compute": the four instructions of the table.
#[test]
fn compute_examples() {
    let c = mini();
    let gemm = |m, n, k| Instr::Gemm { m: Count(m), n: Count(n), k: Count(k), dtype: Dtype::Fp16 };
    assert_eq!(on_tile0(&c, vec![gemm(64, 256, 256)]), 4096 + 10);
    assert_eq!(on_tile0(&c, vec![gemm(1, 1024, 256)]), 2058 + 10);
    assert_eq!(on_tile0(&c, vec![Instr::Vec { op: VecOp::Add, n: Count(4096), dtype: Dtype::Fp16 }]), 96 + 5);
    let attn = Instr::Attn {
        q: Count(1),
        ctx: Count(1024),
        heads: Count(8),
        kv_heads: Count(8),
        hd: Count(64),
        dtype: Dtype::Fp16,
    };
    assert_eq!(on_tile0(&c, vec![attn]), 8200 + 10);
}

/// "SRAM port sharing": a send's read delays a vector add.
#[test]
fn sram_port_example() {
    let c = mini();
    let prog = vec![
        send(0, 16384),
        Instr::Vec { op: VecOp::Add, n: Count(4096), dtype: Dtype::Fp16 },
        recv(0, 16384),
        wait(0),
        wait(1),
    ];
    let s = run(&c, &trace_of(&c, None, vec![(TileId(0), prog)], "port"));
    assert_eq!(s.tiles[0].compute_cycles, 165, "the add runs its port cycles 64..160, then 5 of latency");
    assert_eq!(s.cycles.0, 326);
}

/// "DMA engines and tokens": eight small loads with 4 and 8 engines.
#[test]
fn dma_engine_example() {
    let text = tilesim::config::shipped::get(tilesim::config::shipped::Kind::Chip, "mini-mesh").unwrap();
    let prog: Vec<Instr> =
        (0..8u64).map(|i| load((i % 4) * 512 + (i / 4) * 65536, 64)).chain(std::iter::once(wait(0))).collect();
    let mut got = Vec::new();
    for engines in [4, 8] {
        let c = chip_from_str("mini-mesh", &text.replace("dma_engines = 4", &format!("dma_engines = {engines}")));
        assert_eq!(c.tile.dma_engines, engines);
        got.push(on_tile0(&c, prog.clone()));
    }
    assert_eq!(got, vec![219, 115]);
    assert_eq!(on_tile0(&mini(), vec![load(0, 64), wait(0)]), 108);
}

/// "DRAM": a miss, then a hit or a conflict on the same bank, from tile 4.
#[test]
fn dram_examples() {
    let c = mini();
    let at4 = |prog: Vec<Instr>| run(&c, &trace_of(&c, None, vec![(TileId(4), prog)], "dram"));
    assert_eq!(at4(vec![load(0, 64), wait(0)]).cycles.0, 100);
    let hit = at4(vec![load(0, 64), wait(0), load(128, 64), wait(0)]);
    assert_eq!((hit.cycles.0, hit.channels[0].row_hits), (180, 1));
    let conflict = at4(vec![load(0, 64), wait(0), load(0x40000, 64), wait(0)]);
    assert_eq!((conflict.cycles.0, conflict.channels[0].row_conflicts), (216, 1));
}

/// "NoC links and routing": two 4 KiB sends meet on link 1 -> 2.
#[test]
fn contention_example() {
    let c = mini();
    let alone = run(
        &c,
        &trace_of(
            &c,
            None,
            vec![(TileId(0), vec![send(3, 4096), wait(0)]), (TileId(3), vec![recv(0, 4096), wait(1)])],
            "alone",
        ),
    );
    assert_eq!((alone.tiles[0].finished.0, alone.tiles[3].finished.0), (82, 98));
    let both = run(
        &c,
        &trace_of(
            &c,
            None,
            vec![
                (TileId(0), vec![send(3, 4096), wait(0)]),
                (TileId(1), vec![send(3, 4096), wait(0)]),
                (TileId(3), vec![recv(0, 4096), recv(1, 4096), wait(1)]),
            ],
            "both",
        ),
    );
    let f = |t: usize| both.tiles[t].finished.0;
    assert_eq!((f(0), f(1), f(3)), (142, 78, 158));
}

/// "Barriers": all 16 tiles, one of them 100 cycles late.
#[test]
fn barrier_example() {
    let c = mini();
    let header =
        Header { chip: c.name.clone(), tiles: 16, groups: vec![(0..16).map(TileId).collect()], ..Header::default() };
    let mut streams: Vec<(TileId, Vec<Instr>)> =
        (0..16).map(|t| (TileId(t), vec![Instr::Barrier { group: Group(0) }])).collect();
    streams[5].1.insert(0, Instr::Delay { cycles: Cycles(100) });
    assert_eq!(run(&c, &trace_of(&c, Some(header), streams, "barrier")).cycles.0, 160);
}

/// "Deadlock detection": the message quoted in the document.
#[test]
fn deadlock_example() {
    let c = mini();
    let t = trace_of(
        &c,
        None,
        vec![(TileId(0), vec![recv(1, 4096), wait(1)]), (TileId(1), vec![send(2, 4096), wait(0)])],
        "deadlock.trace",
    );
    let e = tilesim::sim::simulate(&c, &t, &Default::default()).err().expect("a deadlock").to_string();
    let doc = std::fs::read_to_string(simcommon::manifest_path("arch/timing.md")).unwrap();
    for line in e.lines() {
        assert!(doc.contains(line.trim()), "arch/timing.md does not quote this line of the error:\n{line}");
    }
}

/// "Virtual channels and credits": a stream of 4-flit packets from tile 0
/// to its neighbour on booksim-mesh8x8. With 8 VCs per port the links set
/// the pace, 4 cycles a packet; with one VC a packet must wait for the one
/// before it to leave the next router and the credit loop to run: 4 cycles
/// to reach the next link (1 + 3), 4 on it, 4 for the credit loop, 12
/// cycles a packet.
#[test]
fn virtual_channel_example() {
    let text = tilesim::config::shipped::get(tilesim::config::shipped::Kind::Chip, "booksim-mesh8x8").unwrap();
    let eight = chip_from_str("booksim-mesh8x8", text);
    let one = chip_from_str("booksim-mesh8x8 (1 VC)", &text.replace("vcs = 8 ", "vcs = 1 "));
    assert_eq!((eight.noc.vcs, one.noc.vcs), (Some(8), Some(1)));
    let stream = |chip: &Chip, packets: u64| {
        let bytes = packets * 64;
        let streams = vec![(TileId(0), vec![send(1, bytes), wait(0)]), (TileId(1), vec![recv(0, bytes), wait(1)])];
        run(chip, &trace_of(chip, None, streams, "stream")).cycles.0
    };
    assert_eq!(stream(&eight, 32) - stream(&eight, 16), 16 * 4);
    assert_eq!(stream(&one, 32) - stream(&one, 16), 16 * 12);
}

/// An 8-node ring with booksim-mesh8x8's routers and links and `vcs` VCs
/// per port: the chip of the "Torus and ring VCs" examples.
fn ring8(vcs: u32) -> Chip {
    let text = tilesim::config::shipped::get(tilesim::config::shipped::Kind::Chip, "booksim-torus8x8").unwrap();
    let text = text
        .replace("topology = \"torus\"", "topology = \"ring\"")
        .replace("grid = [8, 8]", "tiles = 8")
        .replace("vcs = 8 ", &format!("vcs = {vcs} "));
    chip_from_str("ring8", &text)
}

/// "Torus and ring VCs": the dateline class of each hop of a route on the
/// 8-node ring, chosen where the route enters the ring and kept along it
/// (class 1 when its start coordinate is above its end).
#[test]
fn dateline_class_example() {
    use tilesim::sim::network::{End, Network};
    let chip = ring8(2);
    let net = Network::new(&chip);
    let classes = |from: u32, to: u32| {
        let mut route = Vec::new();
        net.route(End::Tile(TileId(from)), End::Tile(TileId(to)), &mut route);
        // Inject link, router-to-router links, eject link.
        let hops: Vec<(u32, u32)> =
            route.iter().map(|l| (net.links[l.index()].from.0, net.links[l.index()].to.0)).collect();
        let classes: Vec<u8> = (0..route.len()).map(|h| net.vc_class(&route, h)).collect();
        (hops[1..hops.len() - 1].to_vec(), classes[1..classes.len() - 1].to_vec())
    };
    // 6 -> 1 the positive way, across the wrap-around link 7 -> 0: class 1.
    assert_eq!(classes(6, 1), (vec![(6, 7), (7, 0), (0, 1)], vec![1, 1, 1]));
    // 1 -> 6 the negative way, across 0 -> 7: start 1 < end 6, class 0.
    assert_eq!(classes(1, 6), (vec![(1, 0), (0, 7), (7, 6)], vec![0, 0, 0]));
    // Without the wrap-around link: positive 2 -> 5 class 0, negative 5 -> 2 class 1.
    assert_eq!(classes(2, 5).1, vec![0, 0, 0]);
    assert_eq!(classes(5, 2).1, vec![1, 1, 1]);
    // Halfway round, the way depends on the start's parity: 0 -> 4 positive, 1 -> 5 negative.
    assert_eq!(classes(0, 4).0, vec![(0, 1), (1, 2), (2, 3), (3, 4)]);
    assert_eq!(classes(1, 5).0, vec![(1, 0), (0, 7), (7, 6), (6, 5)]);
}

/// "Torus and ring VCs": two streams of 64-byte packets into tile 1 through
/// router 1's port from router 0, one in each class: tile 0 -> 1 (class 0)
/// and tile 7 -> 1 (across the wrap-around link, class 1). With one VC per
/// class each stream runs at the one-VC pace of the mesh example, 12 cycles
/// a packet, and neither waits for the other's VC.
#[test]
fn dateline_classes_share_a_port_example() {
    let chip = ring8(2);
    let stream = |from: &[u32], packets: u64| {
        let bytes = packets * 64;
        let mut streams: Vec<(TileId, Vec<Instr>)> =
            from.iter().map(|&f| (TileId(f), vec![send(1, bytes), wait(0)])).collect();
        let mut sink = Vec::new();
        for &f in from {
            sink.push(Instr::Recv {
                tok: Token(1),
                from: TileId(f),
                tag: Tag(0),
                sram: SramAddr(0),
                bytes: Bytes(bytes),
            });
        }
        sink.push(wait(1));
        streams.push((TileId(1), sink));
        run(&chip, &trace_of(&chip, None, streams, "streams")).cycles.0
    };
    assert_eq!(stream(&[0], 32) - stream(&[0], 16), 16 * 12);
    assert_eq!(stream(&[7], 32) - stream(&[7], 16), 16 * 12);
    // 2 KiB each: alone 386 and 390 cycles; together still 390.
    assert_eq!((stream(&[0], 32), stream(&[7], 32), stream(&[0, 7], 32)), (386, 390, 390));
}

/// mini-mesh with a 1 MiB HBM cache of 512 GB/s and a 20 ns hit latency:
/// the chip of the "HBM cache (L2)" examples.
fn mini_l2() -> Chip {
    let text = tilesim::config::shipped::get(tilesim::config::shipped::Kind::Chip, "mini-mesh").unwrap();
    let cache = "\n[hbm.cache]\ncapacity = \"1 MiB\"\nbandwidth = \"512 GB/s\"\nhit_latency = \"20 ns\"\n";
    // A cache needs its energy per byte (arch/energy.md): 1 MB SRAM at 45 nm.
    let text = text.replace("\n[energy]\n", "\n[energy]\ncache = \"12.5 pJ/B\"\n");
    chip_from_str("mini-mesh + L2", &format!("{text}{cache}"))
}

/// "HBM cache (L2)": from tile 4 (at stack 0's router), 64 B at hbm:0
/// misses (100 cycles, as without the cache), the same load again hits (34
/// cycles), and a load issued while the miss is in flight waits for its fill.
#[test]
fn l2_examples() {
    let c = mini_l2();
    let at4 = |prog: Vec<Instr>| run(&c, &trace_of(&c, None, vec![(TileId(4), prog)], "l2"));
    let miss = at4(vec![load(0, 64), wait(0)]);
    assert_eq!((miss.cycles.0, miss.bytes.cache_read), (100, 0));
    let hit = at4(vec![load(0, 64), wait(0), load(0, 64), wait(0)]);
    assert_eq!((hit.cycles.0, hit.bytes.cache_read, hit.bytes.memory_read), (134, 64, 64));
    // Two loads in the same cycle on two tokens: the second finds the first's
    // fill in flight and takes its data when it lands.
    let two = Instr::Load { tok: Token(1), mem: Loc::Hbm { addr: 0 }, sram: SramAddr(64), bytes: Bytes(64) };
    let merged = at4(vec![load(0, 64), two, wait(0), wait(1)]);
    assert_eq!((merged.cycles.0, merged.bytes.cache_read, merged.bytes.memory_read), (101, 64, 64));
}
