//! Every shipped config parses and validates, and its derived totals agree
//! with the public figures in ../shared/reference/hardware.md.
//!
//! The expected numbers below are typed from the reference (or derived from
//! it with the arithmetic shown), never copied from `tilesim check` output,
//! so a wrong config value or a wrong `Chip::totals()` convention fails here.

use tilesim::chip::{Chip, Totals};
use tilesim::config::shipped::{CHIPS, MODELS};
use tilesim::config::{chip, model};
use tilesim::dtype::Dtype;
use tilesim::model::Model;

const KIB: f64 = 1024.0;
const MIB: f64 = KIB * KIB;
const GIB: f64 = KIB * KIB * KIB;

/// Relative tolerance for every public-figure comparison.
const TOL: f64 = 0.02;

fn load_chip(name: &str) -> Chip {
    let text = CHIPS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("chip {name} is not shipped")).1;
    chip::load_str(&format!("configs/chips/{name}.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

fn load_model(name: &str) -> Model {
    let text = MODELS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("model {name} is not shipped")).1;
    model::load_str(&format!("configs/models/{name}.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

fn close(what: &str, actual: f64, expected: f64) -> Result<(), String> {
    let ok = if expected == 0.0 { actual == 0.0 } else { ((actual - expected) / expected).abs() <= TOL };
    if ok {
        Ok(())
    } else {
        let off = if expected == 0.0 { f64::INFINITY } else { 100.0 * (actual - expected) / expected };
        Err(format!("{what}: derived {actual:.4e}, public {expected:.4e} ({off:+.2}%)"))
    }
}

// (a) Every shipped config parses, validates, and is named after its file.

#[test]
fn every_shipped_chip_loads_and_is_named_after_its_file() {
    assert!(CHIPS.len() >= 12, "expected the shipped chip set, found {}", CHIPS.len());
    for (stem, text) in CHIPS {
        let c = chip::load_str(&format!("configs/chips/{stem}.toml"), text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.name, *stem, "configs/chips/{stem}.toml: `name` must equal the file stem");
        assert!(!c.description.trim().is_empty(), "{stem}: empty description");
    }
}

#[test]
fn every_shipped_model_loads_and_is_named_after_its_file() {
    assert!(MODELS.len() >= 5, "expected the shipped model set, found {}", MODELS.len());
    for (stem, text) in MODELS {
        let m = model::load_str(&format!("configs/models/{stem}.toml"), text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.name, *stem, "configs/models/{stem}.toml: `name` must equal the file stem");
        assert!(!m.description.trim().is_empty(), "{stem}: empty description");
    }
}

// (b) Derived totals against public figures.

/// Public (or formula-derived) figures for one shipped chip. `None` means no
/// public figure exists for that total; it is then not checked.
struct Expect {
    chip: &'static str,
    /// Total tile SRAM, bytes.
    sram: f64,
    /// Total SRAM bandwidth, B/s (checked only where a figure is published).
    sram_bw: Option<f64>,
    /// External memory capacity, bytes (0 for SRAM-only).
    mem: f64,
    /// External memory peak bandwidth, B/s (0 for SRAM-only).
    mem_bw: f64,
    /// Peak dense FLOP/s (2 per MAC) per data type.
    peak: &'static [(Dtype, f64)],
    /// Sum over chips of the NoC bisection, B/s, both directions.
    noc_bisection: Option<f64>,
    /// System bisection, B/s, both directions.
    sys_bisection: Option<f64>,
    /// Chip-link bandwidth leaving one chip, per direction, B/s.
    chip_link: Option<f64>,
}

// Per-GPU figures ("NVIDIA" table of hardware.md unless noted).
const A100_SMS: f64 = 108.0; // "SMs / L2: 108 / 40 MB"
const A100_SMEM: f64 = 164.0 * KIB; // A100 whitepaper: up to 164 KB smem of the "192 KB" smem+L1
const A100_BW: f64 = 2.039e12; // "80 GB HBM2e, 2.039 TB/s"
const A100_CAP: f64 = 80.0 * GIB; // "80 GB": 5 x 16 GiB stacks
const A100_BF16: f64 = 312e12; // "BF16 / FP8 TFLOPS: 312 / -"
const A100_INT8: f64 = 624e12; // A100 datasheet, dense INT8 TOPS
const H100_SMS: f64 = 132.0; // "SMs / L2: 132 / 50 MB"
const H100_SMEM: f64 = 228.0 * KIB; // "SRAM per SM: 228 KB smem"
const H100_BW: f64 = 3.35e12; // "80 GB HBM3 (5 stacks), 3.35 TB/s"
const H100_CAP: f64 = 80.0 * GIB; // "80 GB": 5 x 16 GiB stacks
const H100_BF16: f64 = 989e12; // "BF16 / FP8 TFLOPS: 989 / 1,979"
const H100_FP8: f64 = 1979e12;
const H200_BW: f64 = 4.8e12; // "141 GB HBM3e, 4.8 TB/s"
const H200_CAP: f64 = 141.0 * GIB;
// "NVLink: 600 GB/s" (A100), "900 GB/s (450 per direction)" (H100, H200).
const NVLINK3_DIR: f64 = 300e9;
const NVLINK4_DIR: f64 = 450e9;

// Groq ("Groq TSP / LPU v1" table).
const GROQ_SRAM: f64 = 220.0 * MIB; // "SRAM: 220 MiB per chip (230 MB)"
const GROQ_SRAM_BW: f64 = 80e12; // "SRAM bandwidth: 80 TB/s per chip (marketing)"
const GROQ_INT8: f64 = 750e12; // "750 TOPS INT8, 188 TFLOPS FP16 at 900 MHz"
const GROQ_FP16: f64 = 188e12;
const GROQ_LINK: f64 = 14e9; // "~14 GB/s per link per direction"

// Cerebras WSE-3 ("Cerebras" table).
const WSE3_CORES: f64 = 900_000.0; // "cores: 900,000"
const WSE3_SRAM: f64 = 44e9; // "SRAM: 44 GB"
const WSE3_SRAM_BW: f64 = 21e15; // "memory bandwidth: 21 PB/s"
const WSE3_FP16: f64 = 125e15; // "FP16: 125 PFLOPS (marketing, sparse?)"
const WSE3_FABRIC: f64 = 214e15 / 8.0; // "fabric bandwidth: 214 Pb/s", in B/s
const CS3_IO: f64 = 1.2e12 / 8.0; // "CS-3: 12 x 100 GbE = 1.2 Tb/s", per direction

// Tenstorrent Wormhole ("Tenstorrent" table; "Wormhole NoC", "Wormhole
// Ethernet" rows).
const WH_CORE_SRAM: f64 = 1.5e6; // "SRAM per core: 1.5 MB"
const WH_CORE_FP16: f64 = 74e12 / 72.0; // "FP16 74 TF (n150)" over "72 (n150)" cores
const WH_N300_CORES: f64 = 64.0; // "2x64 (n300)" per chip
const WH_DRAM_BW: f64 = 288e9; // "12 GB GDDR6 per chip, 288 GB/s"
const WH_DRAM_CAP: f64 = 12.0 * GIB;
const WH_NOC_LINK: f64 = 32.0 * 1e9; // "256-bit flit per cycle" at "clock: 1 GHz"
const WH_ETH: f64 = 23.5e9; // "Wormhole Ethernet: ~23.5 GB/s per link"

fn expectations() -> Vec<Expect> {
    vec![
        Expect {
            chip: "a100",
            sram: A100_SMS * A100_SMEM,
            sram_bw: None,
            mem: A100_CAP,
            mem_bw: A100_BW,
            peak: &[(Dtype::Bf16, A100_BF16), (Dtype::Fp16, A100_BF16), (Dtype::Int8, A100_INT8)],
            noc_bisection: None,
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
        Expect {
            chip: "h100",
            sram: H100_SMS * H100_SMEM,
            sram_bw: None,
            mem: H100_CAP,
            mem_bw: H100_BW,
            peak: &[(Dtype::Bf16, H100_BF16), (Dtype::Fp16, H100_BF16), (Dtype::Fp8, H100_FP8)],
            noc_bisection: None,
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
        // Derived: DGX A100 = 8 x A100. Switch bisection: 4 GPUs on each side,
        // each sending 300 GB/s across, in both directions = 8 x 300 GB/s.
        Expect {
            chip: "dgx-a100",
            sram: 8.0 * A100_SMS * A100_SMEM,
            sram_bw: None,
            mem: 8.0 * A100_CAP,
            mem_bw: 8.0 * A100_BW,
            peak: &[(Dtype::Bf16, 8.0 * A100_BF16), (Dtype::Int8, 8.0 * A100_INT8)],
            noc_bisection: None,
            sys_bisection: Some(2.0 * 4.0 * NVLINK3_DIR),
            chip_link: Some(NVLINK3_DIR),
        },
        // Derived: DGX H100 = 8 x H100; bisection as dgx-a100 with 450 GB/s.
        Expect {
            chip: "dgx-h100",
            sram: 8.0 * H100_SMS * H100_SMEM,
            sram_bw: None,
            mem: 8.0 * H100_CAP,
            mem_bw: 8.0 * H100_BW,
            peak: &[(Dtype::Bf16, 8.0 * H100_BF16), (Dtype::Fp8, 8.0 * H100_FP8)],
            noc_bisection: None,
            sys_bisection: Some(2.0 * 4.0 * NVLINK4_DIR),
            chip_link: Some(NVLINK4_DIR),
        },
        // Derived: DGX H200 = 8 x H200 (H100 die: "same" SMs, rates, clock).
        Expect {
            chip: "dgx-h200",
            sram: 8.0 * H100_SMS * H100_SMEM,
            sram_bw: None,
            mem: 8.0 * H200_CAP,
            mem_bw: 8.0 * H200_BW,
            peak: &[(Dtype::Bf16, 8.0 * H100_BF16), (Dtype::Fp8, 8.0 * H100_FP8)],
            noc_bisection: None,
            sys_bisection: Some(2.0 * 4.0 * NVLINK4_DIR),
            chip_link: Some(NVLINK4_DIR),
        },
        Expect {
            chip: "groq-lpu",
            sram: GROQ_SRAM,
            sram_bw: Some(GROQ_SRAM_BW),
            mem: 0.0,
            mem_bw: 0.0,
            peak: &[(Dtype::Int8, GROQ_INT8), (Dtype::Fp16, GROQ_FP16)],
            noc_bisection: None,
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
        // Derived: 576 x groq-lpu. "node = 8 TSPs fully connected (7 local
        // links each) + 4 global ports per TSP": 7 + 4 = 11 links of 14 GB/s
        // leave each chip. System bisection: 576 x 4 / 2 = 1,152 global links;
        // with even wiring half cross a balanced cut, each carrying 14 GB/s
        // both ways: 576 x 14 GB/s x 2 = 16.1 TB/s.
        Expect {
            chip: "groq-576",
            sram: 576.0 * GROQ_SRAM,
            sram_bw: Some(576.0 * GROQ_SRAM_BW),
            mem: 0.0,
            mem_bw: 0.0,
            peak: &[(Dtype::Int8, 576.0 * GROQ_INT8), (Dtype::Fp16, 576.0 * GROQ_FP16)],
            noc_bisection: None,
            sys_bisection: Some(576.0 * 4.0 / 2.0 / 2.0 * GROQ_LINK * 2.0),
            chip_link: Some((7.0 + 4.0) * GROQ_LINK),
        },
        // NoC bisection, derived: the fabric's directed core links carry
        // 214 Pb/s / (8 x 900,000) each (each counted at both ends, see the
        // config); a balanced cut of a square core array crosses
        // sqrt(900,000) of them in each direction.
        Expect {
            chip: "cerebras-wse3",
            sram: WSE3_SRAM,
            sram_bw: Some(WSE3_SRAM_BW),
            mem: 0.0,
            mem_bw: 0.0,
            peak: &[(Dtype::Fp16, WSE3_FP16)],
            noc_bisection: Some(2.0 * WSE3_CORES.sqrt() * WSE3_FABRIC / (8.0 * WSE3_CORES)),
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
        // Derived: 4 x WSE-3, one 1.2 Tb/s port per system into a switch;
        // bisection 2 systems a side x 150 GB/s x 2 directions.
        Expect {
            chip: "cerebras-cs3x4",
            sram: 4.0 * WSE3_SRAM,
            sram_bw: Some(4.0 * WSE3_SRAM_BW),
            mem: 0.0,
            mem_bw: 0.0,
            peak: &[(Dtype::Fp16, 4.0 * WSE3_FP16)],
            noc_bisection: Some(2.0 * WSE3_CORES.sqrt() * WSE3_FABRIC / (8.0 * WSE3_CORES)),
            sys_bisection: Some(2.0 * 2.0 * CS3_IO),
            chip_link: Some(CS3_IO),
        },
        // Derived: 8 Wormhole chips of 64 Tensix (n300). NoC bisection from
        // "Collective and NoC formulas": k-ary 2-cube torus 4k channels,
        // k = 8, per chip. Ring bisection: 2 links cut x 2 directions.
        Expect {
            chip: "wormhole-t3000",
            sram: 8.0 * WH_N300_CORES * WH_CORE_SRAM,
            sram_bw: None,
            mem: 8.0 * WH_DRAM_CAP,
            mem_bw: 8.0 * WH_DRAM_BW,
            peak: &[(Dtype::Fp16, 8.0 * WH_N300_CORES * WH_CORE_FP16)],
            noc_bisection: Some(4.0 * 8.0 * WH_NOC_LINK),
            sys_bisection: Some(2.0 * 2.0 * WH_ETH),
            chip_link: Some(2.0 * WH_ETH),
        },
        // A design point ("3D-stacked DRAM on logic"): 16 x 16 Wormhole-like
        // tiles, 1 GiB and 256 GB/s per vault (assumed, inside the row's
        // 0.5-4 GB and 0.1-1 TB/s). NoC bisection: mesh 2k channels, k = 16.
        Expect {
            chip: "mesh-3ddram",
            sram: 256.0 * WH_CORE_SRAM,
            sram_bw: None,
            mem: 256.0 * GIB,
            mem_bw: 256.0 * 256e9,
            peak: &[(Dtype::Fp16, 256.0 * WH_CORE_FP16)],
            noc_bisection: Some(2.0 * 16.0 * WH_NOC_LINK),
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
        // The teaching chip's own stated numbers (configs/chips/mini-mesh.toml):
        // 4 x 4 tiles of 1 MiB and 1024 fp16 MACs at 1 GHz, 256 GB/s of HBM,
        // 64 B/cycle mesh links (bisection 2k channels, k = 4).
        Expect {
            chip: "mini-mesh",
            sram: 16.0 * MIB,
            sram_bw: Some(16.0 * 256.0 * 1e9),
            mem: 16.0 * GIB,
            mem_bw: 256e9,
            peak: &[(Dtype::Fp16, 16.0 * 1024.0 * 2.0 * 1e9)],
            noc_bisection: Some(2.0 * 4.0 * 64e9),
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
        // BookSim2's mesh88_lat network (../shared/reference/noc/README.md):
        // 8 x 8 routers, one 16-byte flit per channel per cycle; bisection
        // 2k channels for k = 8 ("Collective and NoC formulas"). The tile
        // figures are the config's own placeholders.
        Expect {
            chip: "booksim-mesh8x8",
            sram: 64.0 * MIB,
            sram_bw: Some(64.0 * 4096.0 * 1e9),
            mem: 0.0,
            mem_bw: 0.0,
            peak: &[(Dtype::Fp16, 64.0 * 2.0 * 1e9)],
            noc_bisection: Some(2.0 * 8.0 * 16e9),
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
        // The same network without VCs (buffers do not change totals).
        Expect {
            chip: "mesh8x8",
            sram: 64.0 * MIB,
            sram_bw: Some(64.0 * 4096.0 * 1e9),
            mem: 0.0,
            mem_bw: 0.0,
            peak: &[(Dtype::Fp16, 64.0 * 2.0 * 1e9)],
            noc_bisection: Some(2.0 * 8.0 * 16e9),
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
        // BookSim2's torus twin of mesh88_lat (tests/data/booksim2/torus/):
        // a k-ary 2-cube torus has 4k bisection channels ("Collective and
        // NoC formulas"), k = 8; VCs do not change totals.
        Expect {
            chip: "booksim-torus8x8",
            sram: 64.0 * MIB,
            sram_bw: Some(64.0 * 4096.0 * 1e9),
            mem: 0.0,
            mem_bw: 0.0,
            peak: &[(Dtype::Fp16, 64.0 * 2.0 * 1e9)],
            noc_bisection: Some(4.0 * 8.0 * 16e9),
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
        // The same network with wrap-around links: a k-ary 2-cube torus has
        // 4k bisection channels ("Collective and NoC formulas"), k = 8.
        Expect {
            chip: "torus8x8",
            sram: 64.0 * MIB,
            sram_bw: Some(64.0 * 4096.0 * 1e9),
            mem: 0.0,
            mem_bw: 0.0,
            peak: &[(Dtype::Fp16, 64.0 * 2.0 * 1e9)],
            noc_bisection: Some(4.0 * 8.0 * 16e9),
            sys_bisection: Some(0.0),
            chip_link: Some(0.0),
        },
    ]
}

fn check(e: &Expect, t: &Totals) -> Vec<String> {
    let mut bad = Vec::new();
    let mut push = |r: Result<(), String>| {
        if let Err(m) = r {
            bad.push(format!("{}: {m}", e.chip));
        }
    };
    push(close("total SRAM", t.sram_bytes, e.sram));
    if let Some(x) = e.sram_bw {
        push(close("SRAM bandwidth", t.sram_bandwidth, x));
    }
    push(close("memory capacity", t.memory_bytes, e.mem));
    push(close("memory bandwidth", t.memory_bandwidth, e.mem_bw));
    for &(d, x) in e.peak {
        match t.peak_flops.iter().find(|(td, _)| *td == d) {
            Some(&(_, f)) => push(close(&format!("peak {d}"), f, x)),
            None => push(Err(format!("peak {d}: no matrix rate configured for {d}"))),
        }
    }
    if let Some(x) = e.noc_bisection {
        push(close("NoC bisection", t.noc_bisection, x));
    }
    if let Some(x) = e.sys_bisection {
        push(close("system bisection", t.system_bisection, x));
    }
    if let Some(x) = e.chip_link {
        push(close("chip-link bandwidth", t.chip_link_bandwidth, x));
    }
    bad
}

#[test]
fn every_shipped_chip_has_a_row_of_public_figures() {
    let rows: Vec<&str> = expectations().iter().map(|e| e.chip).collect();
    for (stem, _) in CHIPS {
        assert!(rows.contains(stem), "configs/chips/{stem}.toml has no row in expectations(): add its public figures");
    }
    for r in &rows {
        assert!(CHIPS.iter().any(|(n, _)| n == r), "expectations() row {r} names no shipped chip");
    }
}

#[test]
fn derived_totals_match_public_figures() {
    let mut bad = Vec::new();
    for e in expectations() {
        bad.extend(check(&e, &load_chip(e.chip).totals()));
    }
    assert!(bad.is_empty(), "derived totals off by more than {}%:\n  {}", TOL * 100.0, bad.join("\n  "));
}

#[test]
fn the_check_can_fail() {
    // A row 5% off a real config must be reported.
    let mut e = expectations().into_iter().find(|e| e.chip == "h100").unwrap();
    e.mem_bw *= 1.05;
    let bad = check(&e, &load_chip("h100").totals());
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].contains("memory bandwidth"), "{bad:?}");
}

#[test]
fn calibrated_hbm_streaming_efficiency() {
    // Model efficiency = 1 - trfc / trefi, calibrated from "Microbenchmarks
    // to calibrate against": H100 D2D copy 2,903 of 3,350 GB/s; A100
    // streaming read 1.80 of 2.039 TB/s.
    for (name, eff) in
        [("h100", 2903.0 / 3350.0), ("dgx-h100", 2903.0 / 3350.0), ("a100", 1.80 / 2.039), ("dgx-a100", 1.80 / 2.039)]
    {
        let c = load_chip(name);
        let dram = match &c.memory {
            tilesim::chip::Memory::Hbm { dram, .. } => dram,
            other => panic!("{name}: expected HBM, found {other:?}"),
        };
        let model = 1.0 - dram.timing.trfc / dram.timing.trefi;
        assert!((model - eff).abs() < 0.005, "{name}: streaming efficiency {model:.4}, measured {eff:.4}");
    }
}

// (c) Model parameter counts against the "Model shapes" table.

#[test]
fn model_parameter_counts_match_published_sizes() {
    // (model, total parameters, active per token or None)
    let table: &[(&str, f64, Option<f64>)] = &[
        ("llama-2-7b", 6.74e9, None),           // Llama 2 7B: 6.74B
        ("llama-2-70b", 69.0e9, None),          // Llama 2 70B: 68.98B ("69.0B")
        ("llama-3-8b", 8.03e9, None),           // Llama 3 8B: 8.03B
        ("llama-3-70b", 70.6e9, None),          // Llama 3 70B: 70.55B ("70.6B")
        ("mixtral-8x7b", 46.7e9, Some(12.9e9)), // "Mixtral: 46.7B parameters in all, 12.9B active per token"
    ];
    let mut bad = Vec::new();
    for &(name, total, active) in table {
        let m = load_model(name);
        if let Err(e) = close("parameters", m.params() as f64, total) {
            bad.push(format!("{name}: {e}"));
        }
        if let Some(a) = active
            && let Err(e) = close("active parameters", m.active_params() as f64, a)
        {
            bad.push(format!("{name}: {e}"));
        }
    }
    for (stem, _) in MODELS {
        assert!(table.iter().any(|(n, _, _)| n == stem), "configs/models/{stem}.toml has no parameter-count row");
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn model_kv_cache_per_token_matches_table() {
    // "KV cache per token in 16-bit: 512 KiB (llama-2-7b), 320 KiB (the 70B
    // models), 128 KiB (llama-3-8b, mixtral)".
    for (name, kib) in [
        ("llama-2-7b", 512.0),
        ("llama-2-70b", 320.0),
        ("llama-3-70b", 320.0),
        ("llama-3-8b", 128.0),
        ("mixtral-8x7b", 128.0),
    ] {
        let m = load_model(name);
        let bytes = 2.0 * m.kv_elements_per_token() as f64;
        assert_eq!(bytes, kib * KIB, "{name}: KV bytes per token");
    }
}
