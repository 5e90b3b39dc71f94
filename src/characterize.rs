//! Microbenchmarks of a chip config, simulated: what the config delivers to
//! a program, in the terms real parts are measured in
//! (../shared/reference/hardware.md, "Microbenchmarks to calibrate
//! against" and "Latency microbenchmarks"), so a config can be checked
//! against its part. `tilesim characterize` prints them; tests/calibration.rs
//! holds the shipped configs to the published measurements.
//!
//! Every benchmark is a small synthetic trace run through the simulator
//! (no shortcut through the timing formulas), on chip 0 and, for the
//! chip-to-chip ones, chips 0 and 1.

use crate::chip::{Chip, Memory};
use crate::ids::TileId;
use crate::isa::{Instr, Loc, SramAddr, Tag, Token};
use crate::sim::{self, SimError};
use crate::trace::{Header, Trace};
use crate::units::Bytes;
use serde::Serialize;
use std::fmt::Write;

/// One simulated figure.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// Stable key for scripts and tests.
    pub key: &'static str,
    pub what: String,
    pub value: f64,
    pub unit: &'static str,
    /// The config's own peak for the same quantity, where there is one.
    pub peak: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Characterization {
    pub chip: String,
    pub figures: Vec<Figure>,
}

impl Characterization {
    pub fn get(&self, key: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.key == key)
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "chip {}: simulated microbenchmarks\n", self.chip);
        for f in &self.figures {
            let peak =
                f.peak.map_or(String::new(), |p| format!("  ({:.1}% of the config's {p:.1})", 100.0 * f.value / p));
            let _ = writeln!(s, "{:<58} {:>10.1} {:<5}{peak}", f.what, f.value, f.unit);
        }
        s
    }
}

/// Runs `streams` on `chip` and returns the simulated seconds.
pub fn seconds(chip: &Chip, name: &str, streams: Vec<(TileId, Vec<Instr>)>) -> Result<f64, SimError> {
    let header = Header {
        chip: chip.name.clone(),
        tiles: chip.total_tiles(),
        workload: format!("characterize {name}"),
        ..Header::default()
    };
    let trace = Trace::from_streams(header, streams, name);
    let stats = sim::simulate(chip, &trace, &Default::default())?;
    Ok(chip.seconds(stats.cycles.0 as f64))
}

/// A location `offset` bytes into the memory a tile streams from: its
/// chip's HBM or its own vault.
fn memory_at(chip: &Chip, offset: u64) -> Option<Loc> {
    match chip.memory {
        Memory::SramOnly => None,
        Memory::Hbm { .. } => Some(Loc::Hbm { addr: offset }),
        Memory::Dram3d { .. } => Some(Loc::Dram { tile: None, addr: offset }),
    }
}

/// Every tile of chip 0 streams `chunks` loads of `chunk` bytes, `depth` in
/// flight: the double-buffered read loop of a memory-bound kernel.
fn stream(chip: &Chip, chunk: u64, chunks: u64, depth: u64) -> Vec<(TileId, Vec<Instr>)> {
    let tiles = chip.tiles_per_chip();
    let per_tile = chunk * chunks;
    (0..tiles)
        .map(|t| {
            // HBM is shared: tiles read disjoint ranges. A vault is the tile's own.
            let base = if matches!(chip.memory, Memory::Hbm { .. }) { t as u64 * per_tile } else { 0 };
            let load = |c: u64| Instr::Load {
                tok: Token((c % depth) as u32),
                mem: memory_at(chip, base + c * chunk).expect("a chip with memory"),
                sram: SramAddr((c % depth) * chunk),
                bytes: Bytes(chunk),
            };
            let mut p: Vec<Instr> = (0..depth.min(chunks)).map(load).collect();
            for c in 0..chunks {
                p.push(Instr::Wait { tok: Token((c % depth) as u32) });
                if c + depth < chunks {
                    p.push(load(c + depth));
                }
            }
            (TileId(t), p)
        })
        .collect()
}

/// Seconds for a 64-byte message from tile 0 to `to` on an idle system,
/// send issue to data in the receiver's SRAM.
pub fn message_seconds(chip: &Chip, to: TileId) -> Result<f64, SimError> {
    let (from, tag, sram, bytes) = (TileId(0), Tag(0), SramAddr(0), Bytes(64));
    seconds(
        chip,
        "message",
        vec![
            (from, vec![Instr::Send { tok: Token(0), to, tag, sram, bytes }, Instr::Wait { tok: Token(0) }]),
            (to, vec![Instr::Recv { tok: Token(1), from, tag, sram, bytes }, Instr::Wait { tok: Token(1) }]),
        ],
    )
}

/// The simulated microbenchmarks of `chip`.
pub fn characterize(chip: &Chip) -> Result<Characterization, SimError> {
    // The streams below hold ~70 instructions per tile of chip 0: estimate
    // them with the simulator's structures before building anything.
    let streams = chip.tiles_per_chip() as u128 * 140 * crate::limits::BYTES_PER_INSTRUCTION;
    crate::limits::check_memory("characterize", crate::sim::budget::chip_memory(chip) + streams)
        .map_err(|m| SimError::Mismatch(crate::diag::Location::file(&chip.name), m))?;
    let totals = chip.totals();
    let chips = chip.system.chips as f64;
    let mut figures = Vec::new();
    let sram = chip.tile.sram.0;

    if !matches!(chip.memory, Memory::SramOnly) {
        // Stream: chunks as large as a quarter of SRAM allows (up to 1 MiB),
        // as many in flight as DMA engines (up to 4), 32 per tile.
        let depth = u64::from(chip.tile.dma_engines.clamp(1, 4));
        let chunk = (sram / (2 * depth)).min(1 << 20) / 4096 * 4096;
        let chunk = chunk.max(4096).min(sram / depth);
        let chunks = 32;
        let bytes = chunk * chunks * u64::from(chip.tiles_per_chip());
        let s = seconds(chip, "stream", stream(chip, chunk, chunks, depth))?;
        figures.push(Figure {
            key: "memory_stream_read",
            what: format!("memory read, every tile streaming ({} chunks)", crate::units::human_bytes(chunk as f64)),
            value: bytes as f64 / s / 1e9,
            unit: "GB/s",
            peak: Some(totals.memory_bandwidth / chips / 1e9),
        });
        // Latency: one 64-byte load on an idle chip, issue to data in SRAM.
        let load = vec![
            Instr::Load {
                tok: Token(0),
                mem: memory_at(chip, 0).expect("a chip with memory"),
                sram: SramAddr(0),
                bytes: Bytes(64),
            },
            Instr::Wait { tok: Token(0) },
        ];
        let s = seconds(chip, "latency", vec![(TileId(0), load.clone())])?;
        figures.push(Figure {
            key: "memory_latency",
            what: "memory load-to-use latency, 64 B from tile 0".into(),
            value: s * 1e9,
            unit: "ns",
            peak: None,
        });
        // With a cache in front of HBM, the same load again hits it: the
        // second load's time is the hit's load-to-use latency.
        if matches!(chip.memory, Memory::Hbm { cache: Some(_), .. }) {
            let twice = seconds(chip, "cache latency", vec![(TileId(0), [load.clone(), load].concat())])?;
            figures.push(Figure {
                key: "cache_latency",
                what: "L2 (hbm.cache) hit load-to-use latency, 64 B from tile 0".into(),
                value: (twice - s) * 1e9,
                unit: "ns",
                peak: None,
            });
        }
    }

    // NoC: tile 0 to the last tile of chip 0, 64 bytes, idle network.
    let last = TileId(chip.tiles_per_chip() - 1);
    if last.0 > 0 {
        figures.push(Figure {
            key: "noc_latency",
            what: format!("on-chip message, 64 B, tile 0 -> tile {}", last.0),
            value: message_seconds(chip, last)? * 1e9,
            unit: "ns",
            peak: None,
        });
    }

    if chip.system.chips > 1 {
        let other = TileId(chip.tiles_per_chip());
        figures.push(Figure {
            key: "chip_message_latency",
            what: format!("chip-to-chip message, 64 B, tile 0 -> tile {} (chip 1)", other.0),
            value: message_seconds(chip, other)? * 1e9,
            unit: "ns",
            peak: None,
        });
        // Ring all-reduce over one tile per chip, bus bandwidth as
        // nccl-tests defines it: algbw x 2(p-1)/p.
        let p = chips;
        for bytes in [4096u64, 1 << 20] {
            let chunk = bytes.div_ceil(chip.system.chips as u64);
            if chunk > sram {
                continue;
            }
            let (_, streams) = crate::synth::allreduce_trace(chip, "ring", bytes).map_err(|m| {
                SimError::Mismatch(crate::diag::Location::file("characterize"), format!("all-reduce: {m}"))
            })?;
            let s = seconds(chip, "allreduce", streams)?;
            let (key, what, value, unit) = if bytes < 1 << 20 {
                ("allreduce_small_latency", format!("ring all-reduce of {bytes} B over {p} chips"), s * 1e6, "us")
            } else {
                (
                    "allreduce_busbw",
                    format!("ring all-reduce of 1 MiB over {p} chips, bus bandwidth"),
                    bytes as f64 / s * 2.0 * (p - 1.0) / p / 1e9,
                    "GB/s",
                )
            };
            // A ring moves data one way round: one link's bandwidth is its peak.
            let peak = (key == "allreduce_busbw").then(|| chip.system.link_bw.0 * chip.clock_hz / 1e9);
            figures.push(Figure { key, what, value, unit, peak });
        }
    }
    Ok(Characterization { chip: chip.name.clone(), figures })
}
