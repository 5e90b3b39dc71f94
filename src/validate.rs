//! `tilesim validate`: every calibration microbenchmark of
//! ../shared/reference/hardware.md simulated on the shipped configs, beside
//! the measurement, with the error and the config parameter the
//! measurement set (arch/validation.md). Each figure is a small synthetic
//! trace through the simulator, as in `characterize`; `tests/calibration.rs`
//! holds every row within its tolerance.

use crate::characterize::{self, message_seconds, seconds};
use crate::chip::Chip;
use crate::collective::{self, Algorithm, Resources};
use crate::config::{self, overrides::Override, shipped};
use crate::ids::TileId;
use crate::isa::Instr;
use crate::sim::SimError;
use serde::Serialize;
use std::fmt::Write;

/// How a simulated figure is held to its measurement.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Within this relative tolerance.
    Within(f64),
    /// At most the measured value (a published upper bound).
    AtMost,
}

/// One microbenchmark: the config, what is measured, the published value.
pub struct Benchmark {
    pub chip: &'static str,
    /// `--set` overrides of the shipped config (a 2-GPU slice of a node).
    pub overrides: &'static [&'static str],
    pub what: &'static str,
    pub measured: f64,
    pub unit: &'static str,
    pub check: Check,
    /// The hardware.md row, quoted.
    pub source: &'static str,
    /// The config parameter(s) this measurement set.
    pub sets: &'static str,
    measure: fn(&Chip) -> Result<f64, SimError>,
}

/// One row of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub chip: String,
    pub what: &'static str,
    pub simulated: f64,
    pub measured: f64,
    pub unit: &'static str,
    /// (simulated - measured) / measured.
    pub error: f64,
    pub check: Check,
    pub pass: bool,
    pub source: &'static str,
    pub sets: &'static str,
}

fn figure(chip: &Chip, key: &str) -> Result<f64, SimError> {
    let c = characterize::characterize(chip)?;
    c.get(key).map(|f| f.value).ok_or_else(|| {
        SimError::Mismatch(crate::diag::Location::file("validate"), format!("`{}` has no `{key}` figure", chip.name))
    })
}

/// Seconds of a ring all-reduce of `bytes` over one tile per chip on each
/// of `channels` parallel rings (NCCL's channels: tile c of every chip
/// forms ring c and carries 1/channels of the data), with the chip's
/// software costs.
pub fn allreduce_seconds(chip: &Chip, bytes: u64, channels: u32) -> Result<f64, SimError> {
    let chips = chip.system.chips;
    let per = bytes.div_ceil(channels as u64);
    let mut streams: Vec<(TileId, Vec<Instr>)> = Vec::new();
    for c in 0..channels {
        let tiles: Vec<TileId> = (0..chips)
            .map(|k| TileId(k * chip.tiles_per_chip() + (chip.system.gateway + c) % chip.tiles_per_chip()))
            .collect();
        let r = Resources {
            send_token: 0,
            recv_token: 1,
            tag_base: c * 1000,
            sram: 0,
            dtype: crate::dtype::Dtype::Fp16,
            call: chip.software.collective_call,
            step: chip.software.step(Algorithm::Ring.kind()).unwrap_or_default(),
            slice_token: 2,
        };
        let mut out = Vec::new();
        collective::all_reduce(&tiles, per, Algorithm::Ring, r, &mut out)
            .map_err(|m| SimError::Mismatch(crate::diag::Location::file("validate"), m))?;
        streams.extend(tiles.into_iter().zip(out));
    }
    seconds(chip, "allreduce", streams)
}

/// nccl-tests' bus bandwidth of an all-reduce: algbw x 2(p-1)/p, GB/s.
fn busbw(chip: &Chip, bytes: u64, s: f64) -> f64 {
    let p = chip.system.chips as f64;
    bytes as f64 / s * 2.0 * (p - 1.0) / p / 1e9
}

/// A large all-reduce: 1 MiB per ring step on every channel (every tile of
/// the chip), so fixed costs are a small share, as in nccl-tests' plateau.
fn large_busbw(chip: &Chip) -> Result<f64, SimError> {
    let channels = chip.tiles_per_chip();
    let bytes = (1u64 << 20) * chip.system.chips as u64 * channels as u64;
    Ok(busbw(chip, bytes, allreduce_seconds(chip, bytes, channels)?))
}

fn small_allreduce_us(chip: &Chip) -> Result<f64, SimError> {
    Ok(allreduce_seconds(chip, 4096, 1)? * 1e6)
}

/// The tt-metal CCL fit for an 8-chip Wormhole ring all-reduce, seconds.
fn wormhole_ccl(bytes: f64) -> f64 {
    let n = 8.0;
    9.07e-6 + 5.25e-6 * n / 2.0 + 2.0 * (n - 1.0) / n * bytes / 18.4e9
}

/// Core-to-core time per Ethernet hop: a 64-byte message to the chip four
/// hops round the ring, over four.
fn ethernet_hop_ns(chip: &Chip) -> Result<f64, SimError> {
    Ok(message_seconds(chip, TileId(4 * chip.tiles_per_chip()))? / 4.0 * 1e9)
}

/// Tile 0 to the farthest chip of the system, 64 bytes.
fn farthest_chip_us(chip: &Chip) -> Result<f64, SimError> {
    let last = TileId(chip.total_tiles() - 1);
    Ok(message_seconds(chip, last)? * 1e6)
}

/// Cores a tile of cerebras-wse3 spans on a side: sqrt(900,000 / 2,304).
const WSE_CORES_PER_TILE_EDGE: f64 = 19.764;

/// Fabric cycles per core hop: the extra time of a 64-byte message across
/// 46 more tiles of a row, per core crossed.
fn wafer_cycles_per_core_hop(chip: &Chip) -> Result<f64, SimError> {
    let x = crate::synth::grid_x(chip).unwrap_or(1);
    let near = message_seconds(chip, TileId(1))?;
    let far = message_seconds(chip, TileId(x - 1))?;
    Ok((far - near) * chip.clock_hz / ((x - 2) as f64 * WSE_CORES_PER_TILE_EDGE))
}

/// Fabric cycles per 32-bit wavelet on one core link: a 1 MiB message
/// between neighbouring tiles streams over one tile link, which is as wide
/// as a tile edge of core links.
fn wafer_cycles_per_wavelet(chip: &Chip) -> Result<f64, SimError> {
    let bytes = 1u64 << 20;
    let (from, to, tag, sram) = (TileId(0), TileId(1), crate::isa::Tag(0), crate::isa::SramAddr(0));
    let tok = crate::isa::Token(0);
    let b = crate::units::Bytes(bytes);
    let s = seconds(
        chip,
        "wavelets",
        vec![
            (from, vec![Instr::Send { tok, to, tag, sram, bytes: b }, Instr::Wait { tok }]),
            (to, vec![Instr::Recv { tok, from, tag, sram, bytes: b }, Instr::Wait { tok }]),
        ],
    )?;
    let per_core_link = bytes as f64 / (s * chip.clock_hz) / WSE_CORES_PER_TILE_EDGE;
    Ok(4.0 / per_core_link)
}

/// Every calibration row of hardware.md the shipped configs are held to.
pub fn benchmarks() -> Vec<Benchmark> {
    vec![
        Benchmark {
            chip: "h100",
            overrides: &[],
            what: "HBM streaming read, every tile",
            measured: 2903.0,
            unit: "GB/s",
            check: Check::Within(0.03),
            source: "H100 SXM device-to-device copy: 2,903 GB/s = 86.7% of 3.35 TB/s",
            sets: "hbm.timing.trfc (refresh and turnaround derating)",
            measure: |c| figure(c, "memory_stream_read"),
        },
        Benchmark {
            chip: "a100",
            overrides: &[],
            what: "HBM streaming read, every tile",
            measured: 1800.0,
            unit: "GB/s",
            check: Check::Within(0.03),
            source: "A100 80GB streaming read: 1.80 of 2.04 TB/s (88%)",
            sets: "hbm.timing.trfc",
            measure: |c| figure(c, "memory_stream_read"),
        },
        Benchmark {
            chip: "h100",
            overrides: &[],
            what: "HBM load-to-use latency, 64 B",
            measured: 350.0,
            unit: "ns",
            check: Check::Within(0.05),
            source: "Hopper memory latency (pointer chase): HBM 690 cycles (HBM ~ 350 ns)",
            sets: "hbm.controller_latency (with the NoC latencies)",
            measure: |c| figure(c, "memory_latency"),
        },
        Benchmark {
            chip: "h100",
            overrides: &[],
            what: "L2 hit load-to-use latency, 64 B",
            // The row's own HBM pair gives its clock: 690 cycles / 350 ns =
            // 1.97 GHz, so L2 281 cycles = 142.5 ns.
            measured: 281.0 * 350.0 / 690.0,
            unit: "ns",
            check: Check::Within(0.10),
            source: "Hopper memory latency (pointer chase): L1 40, L2 281, HBM 690 cycles (HBM ~ 350 ns)",
            sets: "the [noc] round trip and hbm.cache.hit_latency",
            measure: |c| figure(c, "cache_latency"),
        },
        Benchmark {
            chip: "dgx-h100",
            overrides: &[],
            what: "NCCL all-reduce bus bandwidth, large messages, 8 GPUs",
            measured: 370.0,
            unit: "GB/s",
            check: Check::Within(0.10),
            source: "8xH100 NCCL all-reduce bus bandwidth, large messages: ~370 GB/s without in-switch reduction",
            sets: "system.link_efficiency",
            measure: large_busbw,
        },
        Benchmark {
            chip: "dgx-a100",
            overrides: &[],
            what: "NCCL all-reduce bus bandwidth, large messages, 8 GPUs",
            measured: 200.0,
            unit: "GB/s",
            check: Check::Within(0.10),
            source: "8xA100 NCCL all-reduce bus bandwidth: ~200 GB/s",
            sets: "system.link_efficiency",
            measure: large_busbw,
        },
        Benchmark {
            chip: "dgx-h100",
            overrides: &[],
            what: "NCCL all-reduce, 4 KiB, 8 GPUs",
            measured: 16.7,
            unit: "us",
            check: Check::Within(0.15),
            source: "NCCL all-reduce, small messages: ~16.7 us (4 KB), 8x Hopper (H20), NVLink4",
            sets: "software.collective_call and collective_step.ring (fit with the 2-GPU row)",
            measure: small_allreduce_us,
        },
        Benchmark {
            chip: "dgx-h100",
            overrides: &["system.chips=2"],
            what: "NCCL all-reduce, 4 KiB, 2 GPUs",
            measured: 6.0,
            unit: "us",
            check: Check::Within(0.15),
            source: "NCCL all-reduce, small messages: ~6 us, 2x H100, NVLS tree, CUDA Graphs, 128 B-64 KB",
            sets: "software.collective_call and collective_step.ring (fit with the 8-GPU row)",
            measure: small_allreduce_us,
        },
        Benchmark {
            chip: "wormhole-t3000",
            overrides: &[],
            what: "ring all-reduce, 4 KiB, 8 chips",
            measured: wormhole_ccl(4096.0) * 1e6,
            unit: "us",
            check: Check::Within(0.10),
            source: "8-chip Wormhole ring all-reduce: t = 9.07 us + 5.25 us N/2 + 2(N-1)/N bytes / 18.4 GB/s",
            sets: "software.collective_call (9.07 us) and collective_step.ring",
            measure: small_allreduce_us,
        },
        Benchmark {
            chip: "wormhole-t3000",
            overrides: &[],
            what: "ring all-reduce, 16 MiB, 8 chips",
            measured: wormhole_ccl((16u64 << 20) as f64) * 1e6,
            unit: "us",
            check: Check::Within(0.10),
            source: "8-chip Wormhole ring all-reduce (the same fit, at 16 MiB)",
            sets: "system.link_efficiency (the fit's 18.4 GB/s of the link's 23.5)",
            measure: |c| Ok(allreduce_seconds(c, 16 << 20, 1)? * 1e6),
        },
        Benchmark {
            chip: "wormhole-t3000",
            overrides: &[],
            what: "Ethernet, core to core, per hop (4 hops)",
            measured: 655.0,
            unit: "ns",
            check: Check::Within(0.10),
            source: "Wormhole Ethernet: ~655 ns per hop on an 8-hop ring, core to core",
            sets: "system.link_latency",
            measure: ethernet_hop_ns,
        },
        Benchmark {
            chip: "groq-576",
            overrides: &[],
            what: "message to the farthest chip, 64 B",
            measured: 3.0,
            unit: "us",
            check: Check::AtMost,
            source: "Groq system latency: < 3 us to reach global memory anywhere (up to 10,440 TSPs)",
            sets: "system.link_latency (with the SerDes round trip of 0.3-1.1 us)",
            measure: farthest_chip_us,
        },
        Benchmark {
            chip: "cerebras-wse3",
            overrides: &[],
            what: "fabric latency per core hop, along a row",
            measured: 2.0,
            unit: "cycles",
            check: Check::Within(0.10),
            source: "Cerebras WSE-3 fabric: 2 cycles per hop",
            sets: "noc.router_latency + noc.link_latency (40 cycles a 19.8-core tile)",
            measure: wafer_cycles_per_core_hop,
        },
        Benchmark {
            chip: "cerebras-wse3",
            overrides: &[],
            what: "fabric cycles per 32-bit wavelet on a core link",
            measured: 1.125,
            unit: "cycles",
            check: Check::Within(0.10),
            source: "Cerebras WSE-3 fabric: 1.125 cycles per 32-bit wavelet",
            sets: "noc.link_bandwidth (from the 214 Pb/s fabric figure)",
            measure: wafer_cycles_per_wavelet,
        },
    ]
}

/// Loads a shipped chip with `--set` overrides.
fn load(name: &str, overrides: &[&str]) -> Result<Chip, String> {
    let text = shipped::get(shipped::Kind::Chip, name).ok_or_else(|| format!("no shipped chip `{name}`"))?;
    let ov: Vec<Override> = overrides
        .iter()
        .map(|o| {
            let (k, v) = o.split_once('=').expect("KEY=VALUE");
            Override::new(k, v)
        })
        .collect::<Result<_, _>>()?;
    config::chip::load_with(&format!("configs/chips/{name}.toml"), text, &ov).map_err(|e| e.to_string())
}

/// Runs one benchmark.
pub fn run(b: &Benchmark) -> Result<Outcome, String> {
    let chip = load(b.chip, b.overrides)?;
    let simulated = (b.measure)(&chip).map_err(|e| e.to_string())?;
    let error = (simulated - b.measured) / b.measured;
    let pass = match b.check {
        Check::Within(tol) => error.abs() <= tol,
        Check::AtMost => simulated <= b.measured,
    };
    let chip =
        if b.overrides.is_empty() { b.chip.to_string() } else { format!("{} ({})", b.chip, b.overrides.join(", ")) };
    Ok(Outcome {
        chip,
        what: b.what,
        simulated,
        measured: b.measured,
        unit: b.unit,
        error,
        check: b.check,
        pass,
        source: b.source,
        sets: b.sets,
    })
}

/// The report as a table.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<34} {:<52} {:>10} {:>10} {:<6} {:>8}  {:<5} sets",
        "chip", "benchmark", "simulated", "measured", "unit", "error", "check"
    );
    for o in outcomes {
        let check = match o.check {
            Check::Within(t) => format!("{:.0}%", 100.0 * t),
            Check::AtMost => "<=".to_string(),
        };
        let _ = writeln!(
            s,
            "{:<34} {:<52} {:>10.2} {:>10.2} {:<6} {:>+7.1}%  {:<5} {}{}",
            o.chip,
            o.what,
            o.simulated,
            o.measured,
            o.unit,
            100.0 * o.error,
            check,
            o.sets,
            if o.pass { "" } else { "  <-- OUTSIDE" }
        );
    }
    s
}
