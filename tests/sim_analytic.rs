//! Simulated times against closed forms computed here from the config
//! values (typed from the TOML files, and cross-checked against the parsed
//! `Chip` so a unit-conversion slip fails too).
//!
//! - HBM streaming: latency + N / (channel peak x (1 - tRFC/tREFI)), 3%.
//! - GEMV: MAC-bound and SRAM-port-bound on resident weights, HBM-bound on
//!   streamed weights, 2%.
//! - Ring all-reduce on a ring, a 2-D torus and a switch system: the
//!   alpha-beta formula 2(p-1) alpha + 2(p-1)/p n beta (+ the vector adds)
//!   for chunks of one slice, the link-bound pipeline for larger ones, 5%.
//! - One send across k mesh hops at zero load: exact.
//!
//! arch/timing.md derives every formula used here; run
//! `cargo test --test sim_analytic -- --nocapture` to see the numbers.

mod simcommon;

use simcommon::{rel, run, shipped_chip, test_chip, trace_of};
use tilesim::chip::{Chip, Memory};
use tilesim::dtype::Dtype;
use tilesim::ids::TileId;
use tilesim::isa::{Count, Instr, Loc, SramAddr, Tag, Token};
use tilesim::units::{Bytes, Cycles};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

fn load_hbm(tok: u32, addr: u64, sram: u64, bytes: u64) -> Instr {
    Instr::Load { tok: Token(tok), mem: Loc::Hbm { addr }, sram: SramAddr(sram), bytes: Bytes(bytes) }
}

fn wait(tok: u32) -> Instr {
    Instr::Wait { tok: Token(tok) }
}

fn gemv(n: u64, k: u64) -> Instr {
    Instr::Gemm { m: Count(1), n: Count(n), k: Count(k), dtype: Dtype::Fp16 }
}

fn check(what: &str, simulated: f64, closed: f64, tol: f64) {
    let e = rel(simulated, closed);
    eprintln!("{what}: simulated {simulated:.0} cycles, closed form {closed:.1} cycles, error {:+.3}%", 100.0 * e);
    assert!(
        e.abs() <= tol,
        "{what}: simulated {simulated:.0} vs closed form {closed:.1} ({:+.2}% > {tol:.0}%)",
        100.0 * e
    );
}

// ----- HBM ------------------------------------------------------------------

/// The HBM of mini-mesh and analytic-hbm, as typed in their TOML files.
struct Hbm {
    /// hbm.bandwidth, all channels of the chip, in B/cycle at 1 GHz.
    peak: f64,
    channels: u32,
    trfc: f64,
    trefi: f64,
    trcd: f64,
    cl: f64,
    controller: f64,
}

const HBM: Hbm = Hbm { peak: 256.0, channels: 16, trfc: 350.0, trefi: 3900.0, trcd: 19.4, cl: 12.5, controller: 50.0 };

impl Hbm {
    /// Streaming bandwidth: the channels' peak derated by refresh.
    fn effective(&self) -> f64 {
        self.peak * (1.0 - self.trfc / self.trefi)
    }
    /// Fails if the parsed chip does not hold the values typed above.
    fn matches(&self, chip: &Chip) {
        let Memory::Hbm { dram, .. } = &chip.memory else { panic!("{} has no HBM", chip.name) };
        assert_eq!(dram.channels, self.channels);
        assert!((dram.channel_bw.0 * dram.channels as f64 - self.peak).abs() < 1e-9);
        assert!((dram.timing.trfc - self.trfc).abs() < 1e-9 && (dram.timing.trefi - self.trefi).abs() < 1e-9);
        assert!((dram.timing.trcd - self.trcd).abs() < 1e-9 && (dram.timing.cl - self.cl).abs() < 1e-9);
        assert_eq!(dram.controller, Cycles(self.controller as u64));
    }
}

/// Zero-load head latency from a tile's interface to another endpoint `h`
/// router-to-router hops away: the interface link, h + 1 routers, h links,
/// the far interface link.
fn head(inject: f64, router: f64, link: f64, eject: f64, h: f64) -> f64 {
    inject + (h + 1.0) * router + h * link + eject
}

/// One tile loads `total` bytes from HBM in `chunk`-byte loads, `depth` in
/// flight (tokens 0..depth), optionally running a GEMV of `k` inputs on each
/// chunk once it has landed (weights streamed, x resident).
fn stream_program(total: u64, chunk: u64, depth: u32, gemv_k: Option<u64>) -> Vec<Instr> {
    let chunks = total / chunk;
    let mut p = Vec::new();
    let slot = |c: u64| (c % depth as u64) as u32;
    for c in 0..chunks.min(depth as u64) {
        p.push(load_hbm(slot(c), c * chunk, slot(c) as u64 * chunk, chunk));
    }
    for c in 0..chunks {
        p.push(wait(slot(c)));
        if let Some(k) = gemv_k {
            p.push(gemv(chunk / 2 / k, k));
        }
        let next = c + depth as u64;
        if next < chunks {
            p.push(load_hbm(slot(next), next * chunk, slot(next) as u64 * chunk, chunk));
        }
    }
    p
}

/// analytic-hbm: tile 0 streams 64 MiB; both stacks sit one hop away and
/// every other resource is far faster than the HBM.
///
/// Closed form: T = L + N / B_eff with B_eff = 256 B/cycle x (1 - 350/3900)
/// = 233.0 B/cycle, and L the zero-load path of the first byte plus the
/// drain of the last chunk:
///   request head (tile -> stack, 1 hop)   2 + 2x3 + 1 + 1 = 10
///   controller                            50
///   first access to a closed bank         tRCD + CL = 19.4 + 12.5
///   return head (stack -> tile, 1 hop)    10
///   last packet through the stack port    4 KiB / 128 B/cycle = 32
///   last chunk written into SRAM          1 MiB / 8192 B/cycle = 128
/// (the chunk arrives as one 512 KiB message per stack; both stacks are one
/// hop away, so both messages complete together and their SRAM writes run
/// one after the other).
#[test]
fn hbm_stream_runs_at_refresh_derated_peak() {
    let chip = test_chip("analytic-hbm");
    HBM.matches(&chip);
    assert_eq!(chip.noc.link_bw.0, 512.0);
    assert_eq!(chip.tile.sram_bw.0, 8192.0);
    let (n, chunk) = (64 * MIB, MIB);
    let trace = trace_of(&chip, None, vec![(TileId(0), stream_program(n, chunk, 4, None))], "hbm-stream");
    let s = run(&chip, &trace);
    let hop = head(2.0, 3.0, 1.0, 1.0, 1.0);
    let port = 4096.0 / (HBM.peak / 2.0);
    let latency = hop + HBM.controller + HBM.trcd + HBM.cl + hop + port + chunk as f64 / 8192.0;
    let closed = latency + n as f64 / HBM.effective();
    check("HBM stream, analytic-hbm, 64 MiB", s.cycles.0 as f64, closed, 0.03);
    assert_eq!(s.bytes.memory_read, n);
    // Without the refresh derating the stream would be 9.0% faster: the
    // tolerance separates the two.
    assert!(s.cycles.0 as f64 > latency + n as f64 / HBM.peak * 1.05);
}

/// mini-mesh: the same HBM, but tile 0's 64 B/cycle eject link is narrower
/// than the 233 B/cycle the stacks deliver, so the link binds:
/// T = L + N / min(B_eff, eject link). The eject link starts when the first
/// packet of the near stack (tile 4, 1 hop; the other is tile 7, 4 hops)
/// arrives and then stays busy; after the last packet only the last
/// per-stack message (32 KiB, half a chunk) is still to be written into SRAM:
///   request head 10 + controller 50 + tRCD + CL 31.9 + return head 10
///   + 32 KiB / 256 B/cycle = 128.
#[test]
fn hbm_stream_on_mini_mesh_is_bound_by_the_tile_port() {
    let chip = shipped_chip("mini-mesh");
    HBM.matches(&chip);
    let (n, chunk) = (16 * MIB, 64 * KIB);
    let trace = trace_of(&chip, None, vec![(TileId(0), stream_program(n, chunk, 4, None))], "hbm-stream-mini");
    let s = run(&chip, &trace);
    let bw = HBM.effective().min(chip.noc.link_bw.0);
    assert_eq!(bw, 64.0);
    let near = head(2.0, 3.0, 1.0, 1.0, 1.0);
    let latency = near + HBM.controller + HBM.trcd + HBM.cl + near + (chunk / 2) as f64 / 256.0;
    check("HBM stream, mini-mesh tile 0, 16 MiB", s.cycles.0 as f64, latency + n as f64 / bw, 0.03);
}

// ----- GEMV -----------------------------------------------------------------

/// Weights resident in SRAM on analytic-hbm: 1024 x 2048 fp16 (4 MiB), 16
/// times (decode steps). The SRAM port (8192 B/cycle) moves the 4 MiB in
/// 512 cycles, the MACs need 1024 x 2048 / 1024 = 2048: MAC-bound.
/// T = 16 x (n k / MACs + matrix latency) = 16 x 2058.
#[test]
fn gemv_resident_is_mac_bound() {
    let chip = test_chip("analytic-hbm");
    let (n, k, steps) = (1024u64, 2048u64, 16u64);
    let prog = vec![Instr::Loop { count: Count(steps) }, gemv(n, k), Instr::EndLoop {}];
    let s = run(&chip, &trace_of(&chip, None, vec![(TileId(0), prog)], "gemv-mac"));
    let macs = (n * k) as f64 / 1024.0;
    let port = 2.0 * (k + n * k + n) as f64 / 8192.0;
    assert!(macs > 2.0 * port, "the case must be MAC-bound");
    check("GEMV 1024x2048 x16, resident, MAC-bound", s.cycles.0 as f64, steps as f64 * (macs + 10.0), 0.02);
}

/// Weights resident on mini-mesh: 1024 x 256 fp16 (512 KiB). The 256 B/cycle
/// SRAM port reads x, W and writes y: 2 (k + k n + n) / 256 = 2058 cycles,
/// against 256 cycles of MACs: bound by the SRAM port.
#[test]
fn gemv_resident_on_mini_mesh_is_sram_port_bound() {
    let chip = shipped_chip("mini-mesh");
    assert_eq!(chip.tile.sram_bw.0, 256.0);
    let (n, k, steps) = (1024u64, 256u64, 16u64);
    let prog = vec![Instr::Loop { count: Count(steps) }, gemv(n, k), Instr::EndLoop {}];
    let s = run(&chip, &trace_of(&chip, None, vec![(TileId(0), prog)], "gemv-port"));
    let port = (2 * (k + n * k + n)) as f64 / 256.0;
    assert!(port > 2.0 * (n * k) as f64 / 1024.0, "the case must be port-bound");
    check("GEMV 1024x256 x16, resident, SRAM-port-bound", s.cycles.0 as f64, steps as f64 * (port + 10.0), 0.02);
}

/// The same tile as the MAC-bound case, weights (8192 x 4096 fp16 = 64 MiB)
/// streamed from HBM in 1 MiB chunks, 4 in flight, a GEMV on each chunk as
/// it lands. Each chunk takes 4500 cycles to arrive and 522 to compute, so
/// the HBM binds: T = L + W / B_eff + one chunk's GEMV, with L as in the
/// streaming test.
#[test]
fn gemv_streamed_from_hbm_is_memory_bound() {
    let chip = test_chip("analytic-hbm");
    let (n, k, chunk) = (8192u64, 4096u64, MIB);
    let w = n * k * 2;
    let trace = trace_of(&chip, None, vec![(TileId(0), stream_program(w, chunk, 4, Some(k)))], "gemv-hbm");
    let s = run(&chip, &trace);
    let rows = chunk / 2 / k;
    let gemv_chunk = (rows * k) as f64 / 1024.0 + 10.0;
    let hop = head(2.0, 3.0, 1.0, 1.0, 1.0);
    let latency = hop + HBM.controller + HBM.trcd + HBM.cl + hop + 4096.0 / 128.0 + chunk as f64 / 8192.0;
    let closed = latency + w as f64 / HBM.effective() + gemv_chunk;
    check("GEMV 8192x4096 streamed from HBM, memory-bound", s.cycles.0 as f64, closed, 0.02);
    // The same GEMV with resident weights: 4.2x faster on this tile.
    let resident = (n * k) as f64 / 1024.0 + 10.0;
    eprintln!("  (resident-weights closed form for the same GEMV: {resident:.0} cycles)");
    assert!(s.cycles.0 as f64 > 3.0 * resident);
}

// ----- Ring all-reduce --------------------------------------------------------

/// The ar-* test systems (tests/chips/ar-*.toml), as typed there.
const AR_INJECT: f64 = 1.0;
const AR_EJECT: f64 = 1.0;
const AR_ROUTER: f64 = 2.0;
const AR_LINK_LATENCY: f64 = 500.0;
const AR_LINK_BW: f64 = 50.0; // 50 GB/s at 1 GHz
const AR_SRAM_BW: f64 = 1024.0;
const AR_LANES: f64 = 256.0;
const AR_VECTOR_LATENCY: f64 = 5.0;
const AR_PACKET: f64 = 4096.0;

/// Zero-load head latency between the gateway tiles (tile 0) of two chips
/// `hops` chip links apart, plus `switch` cycles in a switch: the tile's
/// inject link and router, the gateway link out (eject latency), the chip
/// links, the gateway link in (inject latency) and the router, the eject link.
fn ar_head(hops: f64, switch: f64) -> f64 {
    2.0 * AR_INJECT + 2.0 * AR_ROUTER + 2.0 * AR_EJECT + hops * AR_LINK_LATENCY + switch
}

/// Closed-form time of the ring all-reduce of `n` bytes (fp16) over `p`
/// participants whose ring edge i -> i+1 has head latency `edge(i)`.
///
/// A chunk of at most one slice (collective::SLICE): each of the 2(p-1)
/// steps moves a chunk c = n/p: the first packet is read from SRAM
/// (min(packet, c) / SRAM bw), its head crosses the path (the edge's head
/// latency), the chunk serializes on the chip link (c / link bw), the
/// receiver writes it into SRAM (c / SRAM bw), and in the p-1 reduce-scatter
/// steps a vector add reads two chunks and writes one: max(c/2 / lanes,
/// 3c / SRAM bw) + vector latency. So, with equal edges,
///   T = 2(p-1) alpha + 2(p-1)/p n beta + (p-1) t_add,
///   alpha = head + min(packet, c) / SRAM bw,  beta = 1/link bw + 1/SRAM bw.
/// With unequal edges (the torus) a tile waits only for its predecessor, so
/// finish times follow F(i, s) = max(F(i, s-1), F(i-1, s-1) + M(i-1 -> i))
/// + write + add: the max-plus form of the same model, evaluated below.
///
/// Larger chunks travel in S slices, slice j of a step leaving as soon as
/// slice j of the step before is in and added, so once the pipeline is full
/// every chip link carries the 2(p-1) chunks back to back:
///   T = 2(p-1) c / link bw + the slowest edge's head + what the last slice
///       still needs (its first packet's read, its write and its add).
fn ar_closed(p: usize, n: u64, edge: &dyn Fn(usize) -> f64) -> f64 {
    let c = (n / p as u64) as f64;
    let steps = 2 * (p - 1);
    let slices = (c / tilesim::collective::SLICE as f64).ceil().clamp(1.0, tilesim::collective::MAX_SLICES as f64);
    if slices > 1.0 {
        let sigma = c / slices;
        let head = (0..p).map(edge).fold(0.0, f64::max);
        let add = (sigma / 2.0 / AR_LANES).max(3.0 * sigma / AR_SRAM_BW) + AR_VECTOR_LATENCY;
        return steps as f64 * c / AR_LINK_BW + head + AR_PACKET.min(sigma) / AR_SRAM_BW + sigma / AR_SRAM_BW + add;
    }
    let write = c / AR_SRAM_BW;
    let add = (c / 2.0 / AR_LANES).max(3.0 * c / AR_SRAM_BW) + AR_VECTOR_LATENCY;
    let mut f = vec![0.0f64; p];
    for s in 0..steps {
        let prev = f.clone();
        for i in 0..p {
            let from = (i + p - 1) % p;
            let m = AR_PACKET.min(c) / AR_SRAM_BW + edge(from) + c / AR_LINK_BW;
            f[i] = prev[i].max(prev[from] + m) + write + if s < p - 1 { add } else { 0.0 };
        }
    }
    f.iter().cloned().fold(0.0, f64::max)
}

fn ar_check(name: &str, edge: &dyn Fn(usize) -> f64) {
    let chip = test_chip(name);
    assert_eq!(chip.system.link_bw.0, AR_LINK_BW);
    assert_eq!(chip.system.link_latency, Cycles(AR_LINK_LATENCY as u64));
    assert_eq!(chip.tile.sram_bw.0, AR_SRAM_BW);
    let p = chip.system.chips as usize;
    for per_chunk in [8 * KIB, MIB] {
        let n = per_chunk * p as u64;
        let (header, streams) = tilesim::synth::allreduce_trace(&chip, "ring", n).unwrap();
        let s = run(&chip, &trace_of(&chip, Some(header), streams, name));
        let closed = ar_closed(p, n, edge);
        // The same number in alpha-beta form, alpha being the critical
        // chain's mean per-step latency (equal to every edge's alpha when the
        // edges are equal).
        let c = per_chunk as f64;
        let beta = 1.0 / AR_LINK_BW + 1.0 / AR_SRAM_BW;
        let t_add = (c / 2.0 / AR_LANES).max(3.0 * c / AR_SRAM_BW) + AR_VECTOR_LATENCY;
        let k = 2.0 * (p as f64 - 1.0);
        let alpha = (closed - k / p as f64 * n as f64 * beta - (p as f64 - 1.0) * t_add) / k;
        eprintln!("  {name}: p = {p}, n = {n} B, alpha = {alpha:.1} cycles, beta = {beta:.5} cycles/B");
        check(&format!("ring all-reduce on {name}, n = {n} B"), s.cycles.0 as f64, closed, 0.05);
    }
}

/// 8 chips in a ring: every ring edge is one chip link.
#[test]
fn ring_allreduce_on_a_ring_system() {
    ar_check("ar-ring", &|_| ar_head(1.0, 0.0));
}

/// 9 chips in a 3x3 torus, ring in participant order: edges inside a row
/// are one chip link, the three row-end edges ((2,j) -> (0,j+1), and
/// (2,2) -> (0,0)) take two (x wrap-around, then y), without sharing a link
/// with any other edge.
#[test]
fn ring_allreduce_on_a_torus_system() {
    ar_check("ar-torus", &|i| if i % 3 == 2 { ar_head(2.0, 0.0) } else { ar_head(1.0, 0.0) });
}

/// 8 chips on a switch: every edge is two chip links (up, down) and the
/// switch's 300-cycle latency.
#[test]
fn ring_allreduce_on_a_switch_system() {
    ar_check("ar-switch", &|_| ar_head(2.0, 300.0));
}

// ----- Zero-load sends --------------------------------------------------------

/// One send from tile 0 of mini-mesh to a tile k hops away (k = 0..6, along
/// row 0 then column 3), at zero load. The head takes inject + (k+1) router +
/// k link + eject; a single packet of B bytes adds B / link bw of
/// serialization (cut-through: once, on the narrowest link). The sender's
/// SRAM read streams into the network as it goes (256 B/cycle, faster than
/// the 64 B/cycle links, so it adds nothing); the receiver's SRAM write
/// follows the tail's arrival (ceil(B / 256) cycles).
#[test]
fn zero_load_send_latency_is_exact() {
    let chip = shipped_chip("mini-mesh");
    let (inject, router, link, eject) = (2u64, 3u64, 1u64, 1u64);
    assert_eq!(
        (chip.noc.inject, chip.noc.router, chip.noc.link, chip.noc.eject),
        (Cycles(inject), Cycles(router), Cycles(link), Cycles(eject))
    );
    let (link_bw, sram_bw) = (64u64, 256u64);
    let dests = [0u32, 1, 2, 3, 7, 11, 15];
    for (k, &dst) in dests.iter().enumerate() {
        let k = k as u64;
        for bytes in [64u64, 1000, 4096] {
            let mut streams = vec![(
                TileId(0),
                vec![
                    Instr::Send { tok: Token(0), to: TileId(dst), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(bytes) },
                    wait(0),
                ],
            )];
            let recv =
                Instr::Recv { tok: Token(1), from: TileId(0), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(bytes) };
            if dst == 0 {
                streams[0].1.insert(1, recv);
                streams[0].1.push(wait(1));
            } else {
                streams.push((TileId(dst), vec![recv, wait(1)]));
            }
            let s = run(&chip, &trace_of(&chip, None, streams, "zero-load"));
            let network = inject + (k + 1) * router + k * link + eject + bytes.div_ceil(link_bw);
            let port = bytes.div_ceil(sram_bw);
            assert_eq!(s.message_latency.mean(), network as f64, "k = {k} hops, {bytes} B: send issue to delivery");
            assert_eq!(s.cycles.0, network + port, "k = {k} hops, {bytes} B: finish");
            if bytes == 64 {
                eprintln!(
                    "zero-load send, {k} hops, 64 B: {} cycles = {network} (network) + 1 (SRAM write)",
                    s.cycles.0
                );
            }
        }
    }
}

/// Messages longer than a packet pipeline: packet j's head leaves once its
/// first bytes are read from SRAM and its tail no earlier than its last, so
/// a link-bound message (S / link bw > S / SRAM bw) of P packets of S bytes
/// takes head + P S / link bw.
#[test]
fn zero_load_multi_packet_message_pipelines() {
    let chip = shipped_chip("mini-mesh");
    let (p, s_bytes) = (4u64, 4096u64);
    let bytes = p * s_bytes;
    let send = Instr::Send { tok: Token(0), to: TileId(15), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(bytes) };
    let recv = Instr::Recv { tok: Token(1), from: TileId(0), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(bytes) };
    let s = run(
        &chip,
        &trace_of(&chip, None, vec![(TileId(0), vec![send, wait(0)]), (TileId(15), vec![recv, wait(1)])], "multi"),
    );
    let k = 6;
    let expected = 2 + (k + 1) * 3 + k + 1 + bytes / 64;
    assert_eq!(s.message_latency.mean(), expected as f64);
}

// ----- Multicast ----------------------------------------------------------------

/// A multicast crosses each link of the union of its routes once: from the
/// middle of a mini-mesh row to the whole row, and from a corner to the
/// whole 4x4 chip (an x-first tree: 3 links along row 0, 4 x 3 down the
/// columns, 16 - 1 ejections and 1 injection). Every member's `recv`
/// matches, and the NoC bytes are exactly (tree links) x bytes.
#[test]
fn multicast_crosses_each_tree_link_once() {
    let chip = shipped_chip("mini-mesh");
    let bytes = 4 * KIB;
    for (from, members, links) in [(5u32, vec![4u32, 5, 6, 7], 7u64), (0, (0..16).collect(), 3 + 12 + 15 + 1)] {
        let header = tilesim::trace::Header {
            chip: chip.name.clone(),
            tiles: chip.total_tiles(),
            groups: vec![members.iter().map(|&t| TileId(t)).collect()],
            ..Default::default()
        };
        let mut streams = vec![(
            TileId(from),
            vec![
                Instr::Mcast {
                    tok: Token(0),
                    group: tilesim::isa::Group(0),
                    tag: Tag(7),
                    sram: SramAddr(0),
                    bytes: Bytes(bytes),
                },
                wait(0),
            ],
        )];
        for &m in members.iter().filter(|&&m| m != from) {
            streams.push((
                TileId(m),
                vec![
                    Instr::Recv {
                        tok: Token(0),
                        from: TileId(from),
                        tag: Tag(7),
                        sram: SramAddr(0x8000),
                        bytes: Bytes(bytes),
                    },
                    wait(0),
                ],
            ));
        }
        let stats = run(&chip, &trace_of(&chip, Some(header), streams, "multicast"));
        eprintln!(
            "multicast from {from} to {} tiles: {} cycles, {} NoC bytes",
            members.len(),
            stats.cycles.0,
            stats.bytes.noc
        );
        assert_eq!(stats.bytes.noc, links * bytes, "multicast from tile {from}");
        assert_eq!(stats.bytes.messages, bytes);
    }
}
