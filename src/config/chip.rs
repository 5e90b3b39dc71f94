//! Chip config files: the schema (every field documented with its unit),
//! validation, and derivation into `chip::Chip`.

use super::quantity::{Energy, EnergyPerByte, Frequency, Power, Rate, Size, Time};
use super::{ConfigError, ConfigErrorKind, Invalid, invalid, locate, parse_toml};
use crate::chip::{
    CacheSpec, Chip, CollectiveKind, Cost, DramSpec, DramTiming, Memory, NocSpec, NocTopology, Software, SystemSpec,
    SystemTopology, TileSpec,
};
use crate::dtype::Dtype;
use crate::limits as lim;
use crate::units::{Bytes, BytesPerCycle, Cycles, near, short};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A chip config file (`configs/chips/*.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipFile {
    /// Short name used on the command line and in trace headers.
    pub name: String,
    /// One line saying what the config stands for.
    pub description: String,
    /// Clock of the whole system; every cycle count is in this clock.
    pub clock: Frequency,
    pub tile: TileFile,
    pub noc: NocFile,
    /// HBM stacks at the chip edge (omit for SRAM-only or 3D-DRAM chips).
    pub hbm: Option<HbmFile>,
    /// A DRAM vault stacked under every tile (omit otherwise).
    pub dram3d: Option<Dram3dFile>,
    /// Several chips joined by links (omit for one chip).
    pub system: Option<SystemFile>,
    /// Price and power of the whole configured system (optional).
    pub cost: Option<CostFile>,
    /// Energy per operation and per byte, and static power (optional;
    /// every shipped config has one: arch/energy.md).
    pub energy: Option<EnergyFile>,
    /// Fixed costs of the software that drives the chips (omit for chips
    /// whose compiled schedule is the program: Groq, Cerebras).
    pub software: Option<SoftwareFile>,
}

/// Software fixed costs, charged as `delay`s the compiler and the
/// collective lowering emit (arch/timing.md, "Software fixed costs").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftwareFile {
    /// Gap between consecutive kernels, launch to start (time). The memory
    /// strategy's operations, separated by barriers, are kernels.
    pub kernel_launch: Option<Time>,
    /// Fixed cost of one collective call: the library's setup and its
    /// kernel launch (time).
    pub collective_call: Option<Time>,
    /// Cost of each step of a collective (the protocol's synchronisation
    /// between peers), by algorithm: `ring`, `recursive-doubling`, `2d`
    /// (table of times). When given, collectives use only the algorithms
    /// listed, as a collective library does.
    pub collective_step: Option<BTreeMap<String, Time>>,
}

/// Resources of one tile (a core, or a cluster of cores standing as one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileFile {
    /// SRAM capacity (size).
    pub sram: Size,
    /// SRAM port bandwidth shared by compute and DMA (bandwidth).
    pub sram_bandwidth: Rate,
    /// Matrix-unit MACs per cycle, keyed by data type (integers).
    pub macs_per_cycle: BTreeMap<String, u64>,
    /// Vector-lane operations per cycle (integer).
    pub vector_lanes: u64,
    /// Pipeline latency of a matrix instruction (time).
    pub matrix_latency: Time,
    /// Pipeline latency of a vector instruction (time).
    pub vector_latency: Time,
    /// DMA transfers in flight per tile (integer).
    pub dma_engines: u32,
    /// Types the matrix unit runs on another type's path, with that type
    /// (table: type = "type"), e.g. `{ bf16 = "fp16" }`. A type with no
    /// rate and no entry here is refused, never run at another's rate.
    pub runs_as: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NocKind {
    Mesh,
    Torus,
    Ring,
    Crossbar,
    FatTree,
}

/// The on-chip network.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NocFile {
    /// mesh, torus, ring, crossbar or fat-tree.
    pub topology: NocKind,
    /// [x, y] tiles, for mesh and torus.
    pub grid: Option<Grid>,
    /// Tile count, for ring, crossbar and fat-tree.
    pub tiles: Option<u32>,
    /// Ports per switch, for fat-tree.
    pub arity: Option<u32>,
    /// Bandwidth of each directed link and tile port (bandwidth).
    pub link_bandwidth: Rate,
    /// Time a packet head spends in each router (time).
    pub router_latency: Time,
    /// Wire time of each router-to-router link (time).
    pub link_latency: Time,
    /// Time from a tile's interface into its router (time).
    pub inject_latency: Time,
    /// Time from the last router into the destination interface (time).
    pub eject_latency: Time,
    /// Largest packet; longer messages are split (size).
    pub packet: Size,
    /// Virtual channels per router input port (count). A packet holds one
    /// from when its head enters the port until its tail has left the
    /// router and that credit is back (`credit_latency` later); a link
    /// whose downstream port has no free VC holds the packet upstream.
    /// On a torus or ring (at least 2) router-to-router ports split them
    /// into two dateline classes. Absent: unbounded buffering (no
    /// back-pressure).
    pub vcs: Option<u32>,
    /// The credit loop (time): from a packet's tail leaving a router to the
    /// upstream router sending a new packet through the freed VC (credit
    /// delay, its wire, the new packet's allocation). Only with `vcs`;
    /// default 0.
    pub credit_latency: Option<Time>,
}

/// DRAM core timings (JEDEC names), all times.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingFile {
    pub cl: Time,
    pub trcd: Time,
    pub trp: Time,
    pub tras: Time,
    pub trc: Time,
    pub tfaw: Time,
    pub trrd: Time,
    pub trfc: Time,
    pub trefi: Time,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HbmFile {
    /// HBM stacks per chip (integer).
    pub stacks: u32,
    /// Independent (pseudo-)channels per stack (integer).
    pub channels_per_stack: u32,
    /// Capacity per chip (size).
    pub capacity: Size,
    /// Peak bandwidth per chip, all stacks (bandwidth).
    pub bandwidth: Rate,
    /// Banks per channel (integer).
    pub banks: u32,
    /// Row (page) size per channel (size).
    pub row_size: Size,
    /// Address interleave granule across channels (size).
    pub interleave: Size,
    /// Controller + PHY + return path latency beyond the DRAM core (time).
    pub controller_latency: Time,
    /// Tile whose router each stack attaches to (list, one per stack);
    /// ignored names are errors. Default: spread evenly over the tiles.
    pub attach: Option<Vec<u32>>,
    pub timing: TimingFile,
    /// A cache in front of the stacks, a GPU's L2 (omit for none).
    pub cache: Option<HbmCacheFile>,
}

/// A last-level cache in front of HBM: one slice per stack holding that
/// stack's addresses, least recently used out, stores written through.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HbmCacheFile {
    /// Capacity per chip, all slices (size).
    pub capacity: Size,
    /// Bandwidth per chip, all slices (bandwidth); each stack's port to the
    /// NoC carries a slice's share. At least `hbm.bandwidth`.
    pub bandwidth: Rate,
    /// From a request reaching its slice to a hit's data leaving it (time).
    pub hit_latency: Time,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dram3dFile {
    /// Capacity of each tile's vault (size).
    pub capacity_per_tile: Size,
    /// Peak bandwidth of each tile's vault (bandwidth).
    pub bandwidth_per_tile: Rate,
    /// Channels per vault (integer).
    pub channels_per_tile: u32,
    pub banks: u32,
    pub row_size: Size,
    pub interleave: Size,
    pub controller_latency: Time,
    pub timing: TimingFile,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SystemKind {
    Switch,
    Ring,
    Torus,
    FullyConnected,
    Dragonfly,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemFile {
    /// Number of chips (integer).
    pub chips: u32,
    /// switch, ring, torus, fully-connected or dragonfly.
    pub topology: SystemKind,
    /// [x, y] chips, for torus.
    pub grid: Option<Grid>,
    /// Chips per group, for dragonfly.
    pub group_size: Option<u32>,
    /// Bandwidth per direction of each chip link; for a switch, of each
    /// chip's port into it (bandwidth).
    pub link_bandwidth: Rate,
    /// Bandwidth per direction of each dragonfly global link (bandwidth).
    pub global_link_bandwidth: Option<Rate>,
    /// Latency of each chip-link hop, SerDes to SerDes (time).
    pub link_latency: Time,
    /// Latency through the switch, for switch (time).
    pub switch_latency: Option<Time>,
    /// Local tile whose router the chip's links attach to (integer).
    pub gateway: u32,
    /// Share of a chip link's peak that carries payload (number in
    /// (0, 1]; default 1): protocol headers, flow control and the copy
    /// engines of the collective library.
    pub link_efficiency: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostFile {
    /// Price of one chip in US dollars (number).
    pub chip_price_usd: Option<f64>,
    /// Power of one chip (power).
    pub chip_power: Option<Power>,
    /// Chips per node (integer >= 1; default: every chip in one node).
    pub node_chips: Option<u32>,
    /// Price of one node's parts beyond its chips, US dollars (default 0).
    pub node_price_usd: Option<f64>,
    /// Power of one node's parts beyond its chips (default 0 W).
    pub node_power: Option<Power>,
    /// Price of the whole system (number): refused, with the per-chip
    /// fields named (reports charge the chips a plan uses).
    pub price_usd: Option<f64>,
    /// Power of the whole system: refused, as `price_usd`.
    pub power: Option<Power>,
}

/// The energy model's figures (arch/energy.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyFile {
    /// Energy per MAC, keyed by data type: one entry for every type in
    /// `tile.macs_per_cycle` (a `runs_as` type is charged its path's).
    pub mac: BTreeMap<String, Energy>,
    /// Energy per vector-lane operation (energy).
    pub vector_op: Energy,
    /// Per byte through a tile's SRAM port, read or write (energy per byte).
    pub sram: EnergyPerByte,
    /// Per byte through the HBM cache: required with `[hbm.cache]` (unused
    /// without).
    pub cache: Option<EnergyPerByte>,
    /// Per byte read or written at the HBM stacks: required with `[hbm]`
    /// (unused without).
    pub hbm: Option<EnergyPerByte>,
    /// Per byte read or written at the 3D vaults: required with `[dram3d]`
    /// (unused without).
    pub dram3d: Option<EnergyPerByte>,
    /// Per byte per on-chip link crossed (energy per byte).
    pub noc: EnergyPerByte,
    /// Per byte per chip-to-chip link crossed: required with more than one
    /// chip (unused with one).
    pub link: Option<EnergyPerByte>,
    /// Static power of one chip (power).
    pub chip_static: Power,
    /// Static power of one node's own parts (power): required when
    /// `[cost]` gives `node_power`, at most that.
    pub node_static: Option<Power>,
}

/// Parses, validates and derives a chip config.
pub fn load_str(file: &str, text: &str) -> Result<Chip, ConfigError> {
    let raw: ChipFile = parse_toml(file, text)?;
    derive(&raw).map_err(|inv| locate(file, text, inv))
}

/// Loads a chip config with `--set` overrides applied (arch/sweep.md). The
/// file is first loaded as it is, so its own errors keep their line and
/// column; errors that only the overrides cause name the file "with --set
/// KEY=VALUE" and no line, since the text they concern exists nowhere.
pub fn load_with(file: &str, text: &str, overrides: &[super::overrides::Override]) -> Result<Chip, ConfigError> {
    let chip = load_str(file, text)?;
    if overrides.is_empty() {
        return Ok(chip);
    }
    let name = super::overrides::display_name(file, overrides);
    let changed = super::overrides::apply(&name, text, overrides)?;
    load_str(&name, &changed).map_err(|e| {
        let kind = match e.kind {
            // A key the overrides made meaningless (a switch's
            // `switch_latency` after `system.topology=ring`): say how to
            // drop it.
            ConfigErrorKind::Invalid { field, message }
                if message.ends_with("remove it") && !overrides.iter().any(|o| o.key() == field) =>
            {
                let message = format!(
                    "{message} (the file sets it and the overrides make it meaningless: unset it with `--unset \
                     {field}` or `--set {field}=`)"
                );
                ConfigErrorKind::Invalid { field, message }
            }
            k => k,
        };
        ConfigError { loc: crate::diag::Location::file(name), kind }
    })
}

/// The types a tile has MAC rates for, for messages.
fn rate_names(macs: &[(Dtype, u64)]) -> String {
    macs.iter().map(|(d, m)| format!("{d} = {m}")).collect::<Vec<_>>().join(", ")
}

/// A bandwidth: positive, physically plausible (1 MB/s ..= 1 EB/s) and, at
/// the clock, 1/1024 ..= 2^24 bytes per cycle (arch/limits.md).
fn rate(field: &str, r: Rate, hz: f64) -> Result<BytesPerCycle, Invalid> {
    if r.0 <= 0.0 {
        return Err(invalid(field, "must be a positive bandwidth, found 0"));
    }
    let bps = r.bytes_per_second(hz);
    if !(lim::MIN_RATE_BPS..=lim::MAX_RATE_BPS).contains(&bps) {
        return Err(invalid(field, format!("is {} B/s, outside the plausible 1 MB/s ..= 1 EB/s", near(bps))));
    }
    let per_cycle = r.bytes_per_cycle(hz);
    if !(lim::MIN_RATE_PER_CYCLE..=lim::MAX_RATE_PER_CYCLE).contains(&per_cycle) {
        return Err(invalid(
            field,
            format!(
                "is {} bytes per cycle at the clock, outside 1/1024 ..= 2^24 (1/1024-cycle ticks)",
                near(per_cycle)
            ),
        ));
    }
    Ok(BytesPerCycle(per_cycle))
}

/// One channel's share of a memory's bandwidth, itself at least 1/1024
/// byte per cycle.
fn channel_rate(field: &str, total: BytesPerCycle, channels: u32) -> Result<BytesPerCycle, Invalid> {
    let per = total.0 / channels as f64;
    if per < lim::MIN_RATE_PER_CYCLE {
        return Err(invalid(
            field,
            format!("gives each of the {channels} channels {} bytes per cycle, less than 1/1024", near(per)),
        ));
    }
    Ok(BytesPerCycle(per))
}

fn positive_size(field: &str, s: Size) -> Result<Bytes, Invalid> {
    if s.bytes() > 0 { Ok(Bytes(s.bytes())) } else { Err(invalid(field, "must be a positive size, found 0")) }
}

/// A size in `min..=max` bytes.
fn size_in(field: &str, s: Size, min: u64, max: u64) -> Result<Bytes, Invalid> {
    if s.0 > max as f64 {
        let most = crate::units::human_bytes(max as f64);
        return Err(invalid(field, format!("is {} B, more than the {most} allowed", near(s.0))));
    }
    let b = positive_size(field, s)?;
    if b.0 < min {
        return Err(invalid(field, format!("is {} B, less than the {min} B allowed", b.0)));
    }
    Ok(b)
}

/// A latency or timing: at most 1 s (arch/limits.md), in whole cycles.
fn latency(field: &str, t: Time, hz: f64) -> Result<Cycles, Invalid> {
    let seconds = t.cycles(hz) / hz;
    if seconds.is_nan() || seconds > lim::MAX_TIME_S {
        return Err(invalid(field, format!("is {} s, longer than the 1 s allowed", near(seconds))));
    }
    Ok(t.whole_cycles(hz))
}

fn at_least(field: &str, v: u64, min: u64) -> Result<(), Invalid> {
    if v >= min { Ok(()) } else { Err(invalid(field, format!("must be at least {min}, found {v}"))) }
}

fn in_range(field: &str, v: u32, min: u32, max: u32) -> Result<(), Invalid> {
    if (min..=max).contains(&v) { Ok(()) } else { Err(invalid(field, format!("must be in {min}..={max}, found {v}"))) }
}

fn in_range64(field: &str, v: u64, min: u64, max: u64) -> Result<(), Invalid> {
    if (min..=max).contains(&v) { Ok(()) } else { Err(invalid(field, format!("must be in {min}..={max}, found {v}"))) }
}

/// Most tiles one chip may have, and the whole system.
pub const MAX_TILES_PER_CHIP: u32 = lim::MAX_TILES_PER_CHIP;
pub const MAX_SYSTEM_TILES: u64 = lim::MAX_TILES as u64;

/// `[x, y]`: exactly two positive integers (a grid of tiles or chips).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid(pub [u32; 2]);

impl std::ops::Index<usize> for Grid {
    type Output = u32;
    fn index(&self, i: usize) -> &u32 {
        &self.0[i]
    }
}

impl<'de> Deserialize<'de> for Grid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = toml::Value::deserialize(d)?;
        let bad = || {
            serde::de::Error::custom(format!(
                "expected a grid `[x, y]` of exactly two integers in 1..={}, found {}",
                u32::MAX,
                crate::limits::excerpt(&v.to_string())
            ))
        };
        let toml::Value::Array(a) = &v else { return Err(bad()) };
        if a.len() != 2 {
            return Err(bad());
        }
        let mut g = [0u32; 2];
        for (i, e) in a.iter().enumerate() {
            g[i] = e.as_integer().and_then(|n| u32::try_from(n).ok()).filter(|&n| n >= 1).ok_or_else(bad)?;
        }
        Ok(Grid(g))
    }
}

fn forbid<T>(field: &str, v: &Option<T>, why: &str) -> Result<(), Invalid> {
    match v {
        Some(_) => Err(invalid(field, format!("is not used {why}; remove it"))),
        None => Ok(()),
    }
}

fn require<T: Copy>(field: &str, v: Option<T>, why: &str) -> Result<T, Invalid> {
    v.ok_or_else(|| invalid(field, format!("is required {why}")))
}

fn timing(prefix: &str, t: &TimingFile, hz: f64) -> Result<DramTiming, Invalid> {
    for (name, x) in [
        ("cl", t.cl),
        ("trcd", t.trcd),
        ("trp", t.trp),
        ("tras", t.tras),
        ("trc", t.trc),
        ("tfaw", t.tfaw),
        ("trrd", t.trrd),
        ("trfc", t.trfc),
        ("trefi", t.trefi),
    ] {
        latency(&format!("{prefix}.timing.{name}"), x, hz)?;
    }
    let c = |x: Time| x.cycles(hz);
    let d = DramTiming {
        cl: c(t.cl),
        trcd: c(t.trcd),
        trp: c(t.trp),
        tras: c(t.tras),
        trc: c(t.trc),
        tfaw: c(t.tfaw),
        trrd: c(t.trrd),
        trfc: c(t.trfc),
        trefi: c(t.trefi),
    };
    if d.trefi <= d.trfc {
        return Err(invalid(format!("{prefix}.timing.trefi"), "must exceed trfc (refresh would never end)"));
    }
    if d.trc < d.tras {
        return Err(invalid(format!("{prefix}.timing.trc"), "must be at least tras"));
    }
    Ok(d)
}

pub fn derive(f: &ChipFile) -> Result<Chip, Invalid> {
    let hz = f.clock.0;
    if hz <= 0.0 {
        return Err(invalid("clock", "must be a positive frequency"));
    }
    if !(lim::MIN_CLOCK_HZ..=lim::MAX_CLOCK_HZ).contains(&hz) {
        return Err(invalid("clock", format!("is {} Hz, outside the plausible 1 MHz ..= 100 GHz", near(hz))));
    }

    let tile = derive_tile(&f.tile, hz)?;

    let noc = derive_noc(&f.noc, hz)?;
    let tiles = noc.topology.tiles();

    let memory = derive_memory(f.hbm.as_ref(), f.dram3d.as_ref(), tiles, hz)?;

    let system = derive_system(f.system.as_ref(), tiles, hz)?;
    if system.chips as u64 * tiles as u64 > MAX_SYSTEM_TILES {
        return Err(invalid("system.chips", format!("makes more than {MAX_SYSTEM_TILES} tiles in the system")));
    }

    let cost = derive_cost(f.cost.as_ref(), system.chips)?;

    let energy = match &f.energy {
        None => None,
        Some(e) => Some(energy(e, &tile, &memory, &system, &cost)?),
    };

    if f.name.is_empty() || f.name.contains(char::is_whitespace) {
        return Err(invalid("name", "must be a non-empty name without spaces"));
    }
    let software = derive_software(f.software.as_ref(), hz)?;
    Ok(Chip {
        name: f.name.clone(),
        description: f.description.clone(),
        clock_hz: hz,
        tile,
        noc,
        memory,
        system,
        cost,
        energy,
        software,
    })
}

/// Derives `[tile]`.
fn derive_tile(t: &TileFile, hz: f64) -> Result<TileSpec, Invalid> {
    let sram = size_in("tile.sram", t.sram, 1, lim::MAX_SRAM_BYTES)?;
    let sram_bw = rate("tile.sram_bandwidth", t.sram_bandwidth, hz)?;
    if t.macs_per_cycle.is_empty() {
        return Err(invalid("tile.macs_per_cycle", "needs at least one data type, e.g. { fp16 = 1024 }"));
    }
    let mut macs = Vec::new();
    for (k, &v) in &t.macs_per_cycle {
        let field = format!("tile.macs_per_cycle.{k}");
        let d: Dtype = k
            .parse()
            .map_err(|_| invalid(&field, format!("is not a data type (expected one of {})", Dtype::names())))?;
        in_range64(&field, v, 1, lim::MAX_MACS_PER_CYCLE)?;
        macs.push((d, v));
    }
    let mut runs_as = Vec::new();
    for (k, v) in t.runs_as.iter().flatten() {
        let field = format!("tile.runs_as.{k}");
        let from: Dtype = k
            .parse()
            .map_err(|_| invalid(&field, format!("is not a data type (expected one of {})", Dtype::names())))?;
        let to: Dtype = v.parse().map_err(|_| {
            invalid(&field, format!("names `{v}`, not a data type (expected one of {})", Dtype::names()))
        })?;
        if macs.iter().any(|&(d, _)| d == from) {
            return Err(invalid(&field, format!("{from} has its own rate in tile.macs_per_cycle; remove one")));
        }
        if !macs.iter().any(|&(d, _)| d == to) {
            return Err(invalid(
                &field,
                format!("maps {from} to {to}, which has no rate in tile.macs_per_cycle (rates: {})", rate_names(&macs)),
            ));
        }
        runs_as.push((from, to));
    }
    in_range64("tile.vector_lanes", t.vector_lanes, 1, lim::MAX_VECTOR_LANES)?;
    in_range("tile.dma_engines", t.dma_engines, 1, lim::MAX_DMA_ENGINES)?;
    Ok(TileSpec {
        sram,
        sram_bw,
        macs,
        vector_lanes: t.vector_lanes,
        matrix_latency: latency("tile.matrix_latency", t.matrix_latency, hz)?,
        vector_latency: latency("tile.vector_latency", t.vector_latency, hz)?,
        dma_engines: t.dma_engines,
        runs_as,
    })
}

/// Derives `[noc]`.
fn derive_noc(n: &NocFile, hz: f64) -> Result<NocSpec, Invalid> {
    let topology = match n.topology {
        NocKind::Mesh | NocKind::Torus => {
            let g = require("noc.grid", n.grid, "for a mesh or torus, as [x, y]")?;
            at_least("noc.grid[0]", g[0] as u64, 1)?;
            at_least("noc.grid[1]", g[1] as u64, 1)?;
            if g[0] as u64 * g[1] as u64 > MAX_TILES_PER_CHIP as u64 {
                return Err(invalid(
                    "noc.grid",
                    format!("is {} x {} tiles, more than the {MAX_TILES_PER_CHIP} supported per chip", g[0], g[1]),
                ));
            }
            forbid("noc.tiles", &n.tiles, "for a mesh or torus (the grid sets the tile count)")?;
            forbid("noc.arity", &n.arity, "except for a fat-tree")?;
            if n.topology == NocKind::Mesh {
                NocTopology::Mesh { x: g[0], y: g[1] }
            } else {
                NocTopology::Torus { x: g[0], y: g[1] }
            }
        }
        NocKind::Ring | NocKind::Crossbar | NocKind::FatTree => {
            let tiles = require("noc.tiles", n.tiles, "for a ring, crossbar or fat-tree")?;
            at_least("noc.tiles", tiles as u64, 1)?;
            if tiles > MAX_TILES_PER_CHIP {
                return Err(invalid("noc.tiles", format!("is more than the {MAX_TILES_PER_CHIP} supported per chip")));
            }
            forbid("noc.grid", &n.grid, "for a ring, crossbar or fat-tree (use noc.tiles)")?;
            match n.topology {
                NocKind::Ring => {
                    forbid("noc.arity", &n.arity, "except for a fat-tree")?;
                    NocTopology::Ring { n: tiles }
                }
                NocKind::Crossbar => {
                    forbid("noc.arity", &n.arity, "except for a fat-tree")?;
                    NocTopology::Crossbar { n: tiles }
                }
                _ => {
                    let arity = require("noc.arity", n.arity, "for a fat-tree")?;
                    in_range("noc.arity", arity, 2, lim::MAX_ARITY)?;
                    NocTopology::FatTree { n: tiles, arity }
                }
            }
        }
    };
    Ok(NocSpec {
        topology,
        link_bw: rate("noc.link_bandwidth", n.link_bandwidth, hz)?,
        router: latency("noc.router_latency", n.router_latency, hz)?,
        link: latency("noc.link_latency", n.link_latency, hz)?,
        inject: latency("noc.inject_latency", n.inject_latency, hz)?,
        eject: latency("noc.eject_latency", n.eject_latency, hz)?,
        packet: size_in("noc.packet", n.packet, lim::MIN_PACKET_BYTES, lim::MAX_PACKET_BYTES)?,
        vcs: match n.vcs {
            Some(0) => return Err(invalid("noc.vcs", "must be at least 1 (leave it out for unbounded buffers)")),
            Some(v) if v > lim::MAX_VCS => {
                return Err(invalid("noc.vcs", format!("must be at most {}, found {v}", lim::MAX_VCS)));
            }
            // Dimension-order routes over wrap-around links form a cycle of
            // ports: each port splits its VCs into two dateline classes
            // (arch/timing.md, "Torus and ring VCs"), one VC each at least.
            Some(1) if matches!(topology, NocTopology::Torus { .. } | NocTopology::Ring { .. }) => {
                return Err(invalid(
                    "noc.vcs",
                    format!(
                        "must be at least 2 on a {}: its ports split their VCs into two dateline classes, one VC \
                         each at least (found 1)",
                        topology.name()
                    ),
                ));
            }
            v => v,
        },
        credit: match (n.vcs, n.credit_latency) {
            (None, Some(_)) => {
                return Err(invalid(
                    "noc.credit_latency",
                    "applies only with noc.vcs (credits return virtual channels)",
                ));
            }
            (_, Some(t)) => latency("noc.credit_latency", t, hz)?,
            (_, None) => Cycles::ZERO,
        },
    })
}

/// Derives the attached memory, `[hbm]` or `[dram3d]` (at most one), on
/// a chip of `tiles` tiles.
fn derive_memory(hbm: Option<&HbmFile>, dram3d: Option<&Dram3dFile>, tiles: u32, hz: f64) -> Result<Memory, Invalid> {
    Ok(match (hbm, dram3d) {
        (Some(_), Some(_)) => {
            return Err(invalid("dram3d", "cannot be combined with [hbm]: a chip has one kind of attached memory"));
        }
        (None, None) => Memory::SramOnly,
        (Some(h), None) => {
            in_range("hbm.stacks", h.stacks, 1, lim::MAX_HBM_STACKS)?;
            in_range("hbm.channels_per_stack", h.channels_per_stack, 1, lim::MAX_CHANNELS_PER_STACK)?;
            in_range("hbm.banks", h.banks, 1, lim::MAX_BANKS)?;
            let bw = rate("hbm.bandwidth", h.bandwidth, hz)?;
            let channels = h.stacks * h.channels_per_stack;
            let (lo, hi) = (lim::MIN_DRAM_GRANULE_BYTES, lim::MAX_DRAM_GRANULE_BYTES);
            let dram = DramSpec {
                channels,
                channel_bw: channel_rate("hbm.bandwidth", bw, channels)?,
                banks: h.banks,
                row: size_in("hbm.row_size", h.row_size, lo, hi)?,
                interleave: size_in("hbm.interleave", h.interleave, lo, hi)?,
                controller: latency("hbm.controller_latency", h.controller_latency, hz)?,
                timing: timing("hbm", &h.timing, hz)?,
            };
            let attach = match &h.attach {
                Some(a) => {
                    if a.len() != h.stacks as usize {
                        return Err(invalid(
                            "hbm.attach",
                            format!("needs one tile per stack ({}), found {}", h.stacks, a.len()),
                        ));
                    }
                    for (i, &t) in a.iter().enumerate() {
                        if t >= tiles {
                            return Err(invalid(
                                format!("hbm.attach[{i}]"),
                                format!("names tile {t}, out of range (the chip has tiles 0..={})", tiles - 1),
                            ));
                        }
                    }
                    a.clone()
                }
                None => (0..h.stacks).map(|s| (s as u64 * tiles as u64 / h.stacks as u64) as u32).collect(),
            };
            let cache = match &h.cache {
                None => None,
                Some(c) => {
                    let bw = rate("hbm.cache.bandwidth", c.bandwidth, hz)?;
                    if c.bandwidth.bytes_per_cycle(hz) < h.bandwidth.bytes_per_cycle(hz) {
                        return Err(invalid(
                            "hbm.cache.bandwidth",
                            "must be at least hbm.bandwidth: every byte read from the stacks passes through the cache",
                        ));
                    }
                    Some(CacheSpec {
                        capacity: size_in("hbm.cache.capacity", c.capacity, 1, lim::MAX_MEMORY_CAPACITY_BYTES)?,
                        bw,
                        hit: latency("hbm.cache.hit_latency", c.hit_latency, hz)?,
                    })
                }
            };
            let capacity = size_in("hbm.capacity", h.capacity, 1, lim::MAX_MEMORY_CAPACITY_BYTES)?;
            Memory::Hbm { stacks: h.stacks, dram, capacity, attach, cache }
        }
        (None, Some(d)) => {
            in_range("dram3d.channels_per_tile", d.channels_per_tile, 1, lim::MAX_VAULT_CHANNELS)?;
            in_range("dram3d.banks", d.banks, 1, lim::MAX_BANKS)?;
            let bw = rate("dram3d.bandwidth_per_tile", d.bandwidth_per_tile, hz)?;
            let (lo, hi) = (lim::MIN_DRAM_GRANULE_BYTES, lim::MAX_DRAM_GRANULE_BYTES);
            let dram = DramSpec {
                channels: d.channels_per_tile,
                channel_bw: channel_rate("dram3d.bandwidth_per_tile", bw, d.channels_per_tile)?,
                banks: d.banks,
                row: size_in("dram3d.row_size", d.row_size, lo, hi)?,
                interleave: size_in("dram3d.interleave", d.interleave, lo, hi)?,
                controller: latency("dram3d.controller_latency", d.controller_latency, hz)?,
                timing: timing("dram3d", &d.timing, hz)?,
            };
            let capacity_per_tile =
                size_in("dram3d.capacity_per_tile", d.capacity_per_tile, 1, lim::MAX_MEMORY_CAPACITY_BYTES)?;
            Memory::Dram3d { dram, capacity_per_tile }
        }
    })
}

/// Derives `[system]` (none: one chip) of chips of `tiles` tiles.
fn derive_system(system: Option<&SystemFile>, tiles: u32, hz: f64) -> Result<SystemSpec, Invalid> {
    Ok(match system {
        None => SystemSpec {
            chips: 1,
            topology: SystemTopology::Single,
            link_bw: BytesPerCycle(1.0),
            global_link_bw: BytesPerCycle(1.0),
            link_latency: Default::default(),
            switch_latency: Default::default(),
            gateway: 0,
            link_efficiency: 1.0,
        },
        Some(s) => {
            in_range("system.chips", s.chips, 1, lim::MAX_CHIPS)?;
            let link_bw = rate("system.link_bandwidth", s.link_bandwidth, hz)?;
            if s.gateway >= tiles {
                return Err(invalid(
                    "system.gateway",
                    format!("names tile {}, out of range (the chip has tiles 0..={})", s.gateway, tiles - 1),
                ));
            }
            let not = |field: &str, v: bool, why: &str| {
                if v { Err(invalid(field, format!("is not used {why}; remove it"))) } else { Ok(()) }
            };
            let topology = match s.topology {
                SystemKind::Torus => {
                    let g = require("system.grid", s.grid, "for a torus, as [x, y]")?;
                    if g[0] as u64 * g[1] as u64 != s.chips as u64 {
                        return Err(invalid(
                            "system.grid",
                            format!("is {} x {} chips, but system.chips = {}", g[0], g[1], s.chips),
                        ));
                    }
                    SystemTopology::Torus { x: g[0], y: g[1] }
                }
                SystemKind::Dragonfly => {
                    let gs = require("system.group_size", s.group_size, "for a dragonfly")?;
                    at_least("system.group_size", gs as u64, 1)?;
                    if s.chips % gs != 0 {
                        return Err(invalid(
                            "system.group_size",
                            format!("({gs}) does not divide system.chips ({})", s.chips),
                        ));
                    }
                    require("system.global_link_bandwidth", s.global_link_bandwidth, "for a dragonfly")?;
                    SystemTopology::Dragonfly { group_size: gs }
                }
                SystemKind::Switch => {
                    require("system.switch_latency", s.switch_latency, "for a switch")?;
                    SystemTopology::Switch
                }
                SystemKind::Ring => SystemTopology::Ring,
                SystemKind::FullyConnected => SystemTopology::FullyConnected,
            };
            not("system.grid", s.grid.is_some() && s.topology != SystemKind::Torus, "except for a torus")?;
            not(
                "system.group_size",
                s.group_size.is_some() && s.topology != SystemKind::Dragonfly,
                "except for a dragonfly",
            )?;
            not(
                "system.global_link_bandwidth",
                s.global_link_bandwidth.is_some() && s.topology != SystemKind::Dragonfly,
                "except for a dragonfly",
            )?;
            not(
                "system.switch_latency",
                s.switch_latency.is_some() && s.topology != SystemKind::Switch,
                "except for a switch",
            )?;
            let global_link_bw = match s.global_link_bandwidth {
                Some(g) => rate("system.global_link_bandwidth", g, hz)?,
                None => link_bw,
            };
            SystemSpec {
                chips: s.chips,
                topology,
                link_bw,
                global_link_bw,
                link_latency: latency("system.link_latency", s.link_latency, hz)?,
                switch_latency: match s.switch_latency {
                    Some(t) => latency("system.switch_latency", t, hz)?,
                    None => Cycles::default(),
                },
                gateway: s.gateway,
                link_efficiency: link_efficiency(s.link_efficiency, link_bw, global_link_bw, hz)?,
            }
        }
    })
}

/// `system.link_efficiency`: a share of the peak in (0, 1] that leaves
/// every chip link (and dragonfly global link) a payload rate within the
/// bounds of any bandwidth: the simulator runs the links at peak x
/// efficiency, so `1e-300` would be a link of 1e-298 B/s.
fn link_efficiency(e: Option<f64>, link_bw: BytesPerCycle, global_bw: BytesPerCycle, hz: f64) -> Result<f64, Invalid> {
    let field = "system.link_efficiency";
    let Some(e) = e else { return Ok(1.0) };
    if !(e > 0.0 && e <= 1.0) {
        return Err(invalid(field, format!("must be a share of the peak in (0, 1], found {e}")));
    }
    let slowest = link_bw.0.min(global_bw.0) * e;
    let bps = slowest * hz;
    if bps < lim::MIN_RATE_BPS || slowest < lim::MIN_RATE_PER_CYCLE {
        return Err(invalid(
            field,
            format!(
                "leaves a chip link {} B/s ({} bytes per cycle) of payload, below the 1 MB/s and 1/1024 bytes \
                 per cycle any bandwidth must have (arch/limits.md)",
                near(bps),
                near(slowest)
            ),
        ));
    }
    Ok(e)
}

/// Derives `[cost]` of a system of `chips` chips.
fn derive_cost(cost: Option<&CostFile>, chips: u32) -> Result<Cost, Invalid> {
    Ok(match cost {
        None => Cost { node_chips: 1, ..Cost::default() },
        Some(c) => {
            if c.price_usd.is_some() {
                return Err(invalid(
                    "cost.price_usd",
                    "is the whole system's price; give `chip_price_usd` (one chip) and, for hosts and switches, \
                     `node_chips` and `node_price_usd`: reports charge only the chips a plan uses",
                ));
            }
            if c.power.is_some() {
                return Err(invalid(
                    "cost.power",
                    "is the whole system's power; give `chip_power` (one chip) and, for hosts and switches, \
                     `node_chips` and `node_power`: reports charge only the chips a plan uses",
                ));
            }
            for (key, v) in [("cost.chip_price_usd", c.chip_price_usd), ("cost.node_price_usd", c.node_price_usd)] {
                if let Some(p) = v.filter(|p| !(*p >= 0.0 && p.is_finite())) {
                    return Err(invalid(key, format!("must be a non-negative number, found {p}")));
                }
                if let Some(p) = v.filter(|&p| p > lim::MAX_PRICE_USD) {
                    return Err(invalid(key, format!("is {p:e}, more than the 1e12 allowed")));
                }
            }
            // Reports divide by the chip's price and power: neither is 0
            // (leave it out for none) nor below the least a real part has.
            if let Some(p) = c.chip_price_usd.filter(|&p| p < lim::MIN_CHIP_PRICE_USD) {
                return Err(invalid(
                    "cost.chip_price_usd",
                    format!(
                        "is {}, less than the $0.01 a chip costs at least (leave it out for no price; \
                         arch/limits.md)",
                        short(p)
                    ),
                ));
            }
            for (key, v) in [("cost.chip_power", c.chip_power), ("cost.node_power", c.node_power)] {
                if let Some(p) = v.filter(|p| p.0 > lim::MAX_POWER_W) {
                    return Err(invalid(key, format!("is {:e} W, more than the 1 GW allowed", p.0)));
                }
                let never_zero = key == "cost.chip_power";
                if let Some(p) = v.filter(|p| p.0 < lim::MIN_POWER_W && (never_zero || p.0 > 0.0)) {
                    let zero = if never_zero { "leave it out for no power" } else { "or 0" };
                    return Err(invalid(
                        key,
                        format!(
                            "is {} W, less than the 1 µW a chip draws at least ({zero}; arch/limits.md)",
                            short(p.0)
                        ),
                    ));
                }
            }
            let node_chips = c.node_chips.unwrap_or(chips);
            if node_chips == 0 {
                return Err(invalid("cost.node_chips", "must be at least 1"));
            }
            if c.chip_price_usd.is_none() && c.node_price_usd.is_some() {
                return Err(invalid("cost.node_price_usd", "needs `chip_price_usd` beside it"));
            }
            if c.chip_power.is_none() && c.node_power.is_some() {
                return Err(invalid("cost.node_power", "needs `chip_power` beside it"));
            }
            Cost::new(
                c.chip_price_usd,
                c.chip_power.map(|p| p.0),
                node_chips,
                c.node_price_usd.unwrap_or(0.0),
                c.node_power.map_or(0.0, |p| p.0),
                chips,
            )
        }
    })
}

/// Derives `[software]` (none: no software overheads).
fn derive_software(software: Option<&SoftwareFile>, hz: f64) -> Result<Software, Invalid> {
    Ok(match software {
        None => Software::default(),
        Some(sw) => {
            let mut steps = Vec::new();
            for (k, t) in sw.collective_step.iter().flatten() {
                let kind = CollectiveKind::parse(k).ok_or_else(|| {
                    invalid(
                        format!("software.collective_step.{k}"),
                        format!("is not a collective algorithm (expected one of {})", CollectiveKind::names()),
                    )
                })?;
                steps.push((kind, latency(&format!("software.collective_step.{k}"), *t, hz)?));
            }
            if sw.collective_step.as_ref().is_some_and(|m| m.is_empty()) {
                return Err(invalid("software.collective_step", "lists no algorithm; give one or leave it out"));
            }
            Software {
                kernel_launch: match sw.kernel_launch {
                    Some(t) => latency("software.kernel_launch", t, hz)?,
                    None => Cycles::ZERO,
                },
                collective_call: match sw.collective_call {
                    Some(t) => latency("software.collective_call", t, hz)?,
                    None => Cycles::ZERO,
                },
                collective_step: steps,
            }
        }
    })
}

/// Derives `[energy]`: every figure within its bound, one MAC figure per
/// MAC path, a figure for every part the chip has (memory, cache, chip
/// links), static power no more than the `[cost]` power.
fn energy(
    e: &EnergyFile,
    tile: &TileSpec,
    memory: &Memory,
    system: &SystemSpec,
    cost: &Cost,
) -> Result<crate::energy::EnergySpec, Invalid> {
    // 0 (a part whose energy is not counted) or 1 zJ ..= 1 nJ: reports
    // divide by the joules, and nothing costs less than the Landauer limit.
    let least = |field: &str, j: f64, unit: &str| -> Result<(), Invalid> {
        if j > 0.0 && j < lim::MIN_ENERGY_J {
            return Err(invalid(
                field,
                format!(
                    "is {j:e} {unit}, less than the 1 z{unit} (1e-21) allowed, below the Landauer limit of \
                     about 3 zJ per bit (0 counts no energy; arch/limits.md)"
                ),
            ));
        }
        Ok(())
    };
    let per_op = |field: &str, v: Energy| -> Result<f64, Invalid> {
        if v.0 > lim::MAX_ENERGY_J {
            return Err(invalid(field, format!("is {:e} J, more than the 1 nJ allowed", v.0)));
        }
        least(field, v.0, "J")?;
        Ok(v.0)
    };
    let per_byte = |field: &str, v: EnergyPerByte| -> Result<f64, Invalid> {
        if v.0 > lim::MAX_ENERGY_J {
            return Err(invalid(field, format!("is {:e} J/B, more than the 1 nJ/B allowed", v.0)));
        }
        least(field, v.0, "J/B")?;
        Ok(v.0)
    };
    let mut mac = Vec::new();
    for (k, &v) in &e.mac {
        let field = format!("energy.mac.{k}");
        let d: Dtype = k
            .parse()
            .map_err(|_| invalid(&field, format!("is not a data type (expected one of {})", Dtype::names())))?;
        if !tile.macs.iter().any(|&(t, _)| t == d) {
            let why = match tile.mac_path(d) {
                Some(p) => format!("{d} runs on the {p} path (tile.runs_as) and is charged its figure; remove it"),
                None => format!("{d} has no MAC rate in tile.macs_per_cycle; remove it"),
            };
            return Err(invalid(&field, why));
        }
        mac.push((d, per_op(&field, v)?));
    }
    // In the tile's order, every path present.
    let mut ordered = Vec::new();
    for &(d, _) in &tile.macs {
        let j =
            mac.iter().find(|(m, _)| *m == d).map(|&(_, j)| j).ok_or_else(|| {
                invalid("energy.mac", format!("has no figure for {d}, a type in tile.macs_per_cycle"))
            })?;
        ordered.push((d, j));
    }
    // A figure for a part the chip lacks is kept out of the sum, not
    // refused: `--set system.chips=1` or `--unset hbm.cache` on a shipped
    // config must still load (arch/energy.md).
    let opt_byte = |field: &str, v: Option<EnergyPerByte>| v.map(|v| per_byte(field, v)).transpose();
    let (hbm, dram3d, cache_j, link_j) = (
        opt_byte("energy.hbm", e.hbm)?,
        opt_byte("energy.dram3d", e.dram3d)?,
        opt_byte("energy.cache", e.cache)?,
        opt_byte("energy.link", e.link)?,
    );
    let (mem, cache) = match memory {
        Memory::SramOnly => (0.0, 0.0),
        Memory::Hbm { cache, .. } => (
            require("energy.hbm", hbm, "with [hbm]")?,
            if cache.is_some() { require("energy.cache", cache_j, "with [hbm.cache]")? } else { 0.0 },
        ),
        Memory::Dram3d { .. } => (require("energy.dram3d", dram3d, "with [dram3d]")?, 0.0),
    };
    let link = if system.chips > 1 { require("energy.link", link_j, "with more than one chip")? } else { 0.0 };
    for (key, p) in [("energy.chip_static", Some(e.chip_static)), ("energy.node_static", e.node_static)] {
        if let Some(p) = p.filter(|p| p.0 > lim::MAX_POWER_W) {
            return Err(invalid(key, format!("is {:e} W, more than the 1 GW allowed", p.0)));
        }
        if let Some(p) = p.filter(|p| p.0 > 0.0 && p.0 < lim::MIN_POWER_W) {
            return Err(invalid(
                key,
                format!("is {} W, less than the 1 µW a chip draws at least, or 0 (arch/limits.md)", short(p.0)),
            ));
        }
    }
    if let Some(max) = cost.chip_power_w.filter(|&m| e.chip_static.0 > m) {
        return Err(invalid(
            "energy.chip_static",
            format!("is {} W, more than the chip's whole power (cost.chip_power, {max} W)", e.chip_static.0),
        ));
    }
    let node_static = match (e.node_static, cost.node_power_w) {
        (None, p) if p > 0.0 => {
            return Err(invalid(
                "energy.node_static",
                "is required when [cost] gives node_power: the node's own parts draw power while it runs",
            ));
        }
        (None, _) => 0.0,
        (Some(s), max) if cost.chip_power_w.is_some() && s.0 > max => {
            return Err(invalid(
                "energy.node_static",
                format!("is {} W, more than the node's own parts' power (cost.node_power, {max} W)", s.0),
            ));
        }
        (Some(s), _) => s.0,
    };
    Ok(crate::energy::EnergySpec {
        mac: ordered,
        vector_op: per_op("energy.vector_op", e.vector_op)?,
        sram: per_byte("energy.sram", e.sram)?,
        cache,
        memory: mem,
        noc: per_byte("energy.noc", e.noc)?,
        link,
        chip_static_w: e.chip_static.0,
        node_static_w: node_static,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time just past the bound is told from it, and a huge one is shown
    /// without the clock's rounding.
    #[test]
    fn a_value_past_a_bound_is_shown_to_six_digits() {
        let msg = |t: &str| latency("x", Time::parse(t).unwrap(), 1e9).unwrap_err().message;
        assert!(msg("1.0001 s").contains("is 1.0001 s, longer than the 1 s allowed"), "{}", msg("1.0001 s"));
        assert!(msg("1e30 s").contains("is 1e30 s,"), "{}", msg("1e30 s"));
        assert!(latency("x", Time::parse("1 s").unwrap(), 1e9).is_ok());
        // Every bound's message: a clock of 100.01 GHz against 100 GHz.
        assert_eq!(near(100.01e9), "100010000000");
        assert_eq!(near(1.0000000000000002e30), "1e30");
        assert_eq!(near(0.5), "0.5");
    }
}
