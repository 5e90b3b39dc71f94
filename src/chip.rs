//! The derived description of a system of chips, in simulator units (bytes,
//! bytes per cycle, cycles). Produced from a config file by
//! `config::chip`; read by the simulator, the compiler and the roofline.
//! Nothing here parses or does I/O.

use crate::dtype::Dtype;
use crate::units::{Bytes, BytesPerCycle, Cycles};

#[derive(Clone, Debug)]
pub struct Chip {
    pub name: String,
    pub description: String,
    /// Clock of every cycle count in the system.
    pub clock_hz: f64,
    pub tile: TileSpec,
    pub noc: NocSpec,
    pub memory: Memory,
    pub system: SystemSpec,
    pub cost: Cost,
    /// The energy model's figures (`[energy]`; `None` without one).
    pub energy: Option<crate::energy::EnergySpec>,
    pub software: Software,
}

/// Collective algorithms a software library may run (`collective::Algorithm`
/// names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollectiveKind {
    Ring,
    RecursiveDoubling,
    TwoD,
}

impl CollectiveKind {
    pub const ALL: [CollectiveKind; 3] =
        [CollectiveKind::Ring, CollectiveKind::RecursiveDoubling, CollectiveKind::TwoD];
    pub fn name(self) -> &'static str {
        match self {
            CollectiveKind::Ring => "ring",
            CollectiveKind::RecursiveDoubling => "recursive-doubling",
            CollectiveKind::TwoD => "2d",
        }
    }
    pub fn parse(s: &str) -> Option<CollectiveKind> {
        CollectiveKind::ALL.into_iter().find(|k| k.name() == s)
    }
    pub fn names() -> String {
        CollectiveKind::ALL.map(|k| k.name()).join(", ")
    }
}

/// Fixed costs of the software driving the chips, in cycles; all zero for
/// statically scheduled chips (the compiled schedule is the program).
#[derive(Clone, Debug, Default)]
pub struct Software {
    /// Gap between consecutive kernels (the memory strategy's operations).
    pub kernel_launch: Cycles,
    /// Fixed cost of one collective call.
    pub collective_call: Cycles,
    /// Cost of each step of a collective, by algorithm; when not empty,
    /// only these algorithms are run.
    pub collective_step: Vec<(CollectiveKind, Cycles)>,
}

impl Software {
    /// The per-step cost of `kind`, or `None` when the library does not
    /// run it (always `Some(0)` without a list).
    pub fn step(&self, kind: CollectiveKind) -> Option<Cycles> {
        if self.collective_step.is_empty() {
            return Some(Cycles::ZERO);
        }
        self.collective_step.iter().find(|(k, _)| *k == kind).map(|&(_, c)| c)
    }
}

#[derive(Clone, Debug)]
pub struct TileSpec {
    pub sram: Bytes,
    /// SRAM port bandwidth, shared by compute operands and DMA traffic.
    pub sram_bw: BytesPerCycle,
    /// Matrix-unit MACs per cycle for each supported type.
    pub macs: Vec<(Dtype, u64)>,
    /// Vector-lane operations per cycle.
    pub vector_lanes: u64,
    /// Fixed pipeline latency added to each matrix / vector instruction.
    pub matrix_latency: Cycles,
    pub vector_latency: Cycles,
    /// Concurrent DMA transfers (loads/stores) a tile can have in flight.
    pub dma_engines: u32,
    /// Types the matrix unit runs on another type's path (config
    /// `tile.runs_as`), with that type.
    pub runs_as: Vec<(Dtype, Dtype)>,
}

impl TileSpec {
    /// The type whose MAC path `d` runs on: its own when the unit has a
    /// rate for it, the config's `runs_as` entry otherwise, else `None`
    /// (never silently another type's rate).
    pub fn mac_path(&self, d: Dtype) -> Option<Dtype> {
        if self.macs.iter().any(|(t, _)| *t == d) {
            return Some(d);
        }
        self.runs_as.iter().find(|(from, _)| *from == d).map(|&(_, to)| to)
    }

    /// MACs per cycle for `d` (on its path), or `None` without one.
    pub fn macs_per_cycle(&self, d: Dtype) -> Option<u64> {
        let path = self.mac_path(d)?;
        self.macs.iter().find(|(t, _)| *t == path).map(|&(_, m)| m)
    }

    /// The types the unit has rates for, and those it maps, for messages.
    pub fn describe_rates(&self) -> String {
        let mut parts: Vec<String> = self.macs.iter().map(|(d, m)| format!("{d} at {m} MACs/cycle")).collect();
        parts.extend(self.runs_as.iter().map(|(a, b)| format!("{a} on the {b} path")));
        parts.join(", ")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NocTopology {
    /// x by y grid, tile index = y * x_dim + x, no wrap-around links.
    Mesh { x: u32, y: u32 },
    /// Mesh with wrap-around links in both dimensions.
    Torus { x: u32, y: u32 },
    /// Bidirectional ring of n routers.
    Ring { n: u32 },
    /// One non-blocking switch; every tile and memory stack has a port.
    Crossbar { n: u32 },
    /// Tiles at the leaves of a tree of `arity`-port switches whose link
    /// bandwidth grows by `arity` per level (full bisection).
    FatTree { n: u32, arity: u32 },
}

impl NocTopology {
    pub fn tiles(self) -> u32 {
        match self {
            NocTopology::Mesh { x, y } | NocTopology::Torus { x, y } => x * y,
            NocTopology::Ring { n } | NocTopology::Crossbar { n } | NocTopology::FatTree { n, .. } => n,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            NocTopology::Mesh { .. } => "mesh",
            NocTopology::Torus { .. } => "torus",
            NocTopology::Ring { .. } => "ring",
            NocTopology::Crossbar { .. } => "crossbar",
            NocTopology::FatTree { .. } => "fat-tree",
        }
    }
}

#[derive(Clone, Debug)]
pub struct NocSpec {
    pub topology: NocTopology,
    /// Bandwidth of each directed router-to-router link and tile port.
    pub link_bw: BytesPerCycle,
    /// Cycles a packet's head spends in each router it passes.
    pub router: Cycles,
    /// Wire cycles of each router-to-router link.
    pub link: Cycles,
    /// Cycles from a tile's network interface into its router.
    pub inject: Cycles,
    /// Cycles from the last router into the destination's interface.
    pub eject: Cycles,
    /// Messages are split into packets of at most this size.
    pub packet: Bytes,
    /// Virtual channels per router input port; `None`: unbounded buffers.
    pub vcs: Option<u32>,
    /// Cycles of the credit loop (with `vcs`): from a tail leaving a router
    /// to the upstream router reusing the freed VC.
    pub credit: Cycles,
}

/// DRAM timing parameters in (fractional) cycles of the system clock.
#[derive(Clone, Copy, Debug)]
pub struct DramTiming {
    pub cl: f64,
    pub trcd: f64,
    pub trp: f64,
    pub tras: f64,
    pub trc: f64,
    pub tfaw: f64,
    pub trrd: f64,
    pub trfc: f64,
    pub trefi: f64,
}

/// A set of DRAM channels with one bank/row-buffer model.
#[derive(Clone, Debug)]
pub struct DramSpec {
    pub channels: u32,
    /// Peak data bandwidth of one channel.
    pub channel_bw: BytesPerCycle,
    pub banks: u32,
    pub row: Bytes,
    /// Consecutive `interleave` bytes go to consecutive channels.
    pub interleave: Bytes,
    /// Fixed latency of the memory controller and PHY, beyond the DRAM core.
    pub controller: Cycles,
    pub timing: DramTiming,
}

#[derive(Clone, Debug)]
pub enum Memory {
    /// No memory beyond tile SRAM.
    SramOnly,
    Hbm {
        stacks: u32,
        /// The channels of one chip, all stacks together: `dram.channels` =
        /// stacks x channels per stack; channel c belongs to stack c mod stacks
        /// (consecutive granules alternate stacks).
        dram: DramSpec,
        capacity: Bytes,
        /// Tile whose router each stack attaches to (crossbar: the switch).
        attach: Vec<u32>,
        /// A cache in front of the stacks (a GPU's L2), if any.
        cache: Option<CacheSpec>,
    },
    /// A DRAM vault stacked under every tile.
    Dram3d { dram: DramSpec, capacity_per_tile: Bytes },
}

/// A last-level cache in front of HBM (a GPU's L2): one slice per stack,
/// least recently used out, stores written through (arch/timing.md, "HBM
/// cache (L2)").
#[derive(Clone, Debug)]
pub struct CacheSpec {
    /// Bytes per chip, all slices.
    pub capacity: Bytes,
    /// Bandwidth per chip, all slices: each stack's port carries
    /// `bw / stacks`.
    pub bw: BytesPerCycle,
    /// From a request reaching its slice to a hit's data leaving it.
    pub hit: Cycles,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemTopology {
    /// One chip; no chip links.
    Single,
    /// Every chip has one port into a non-blocking switch.
    Switch,
    Ring,
    Torus {
        x: u32,
        y: u32,
    },
    FullyConnected,
    /// Groups of `group_size` chips fully connected, one global link between
    /// each pair of groups.
    Dragonfly {
        group_size: u32,
    },
}

impl SystemTopology {
    pub fn name(self) -> &'static str {
        match self {
            SystemTopology::Single => "single",
            SystemTopology::Switch => "switch",
            SystemTopology::Ring => "ring",
            SystemTopology::Torus { .. } => "torus",
            SystemTopology::FullyConnected => "fully-connected",
            SystemTopology::Dragonfly { .. } => "dragonfly",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SystemSpec {
    pub chips: u32,
    pub topology: SystemTopology,
    /// Bandwidth per direction of each chip link (switch: each chip's port).
    pub link_bw: BytesPerCycle,
    /// Dragonfly global links.
    pub global_link_bw: BytesPerCycle,
    pub link_latency: Cycles,
    pub switch_latency: Cycles,
    /// Local tile whose router the chip's external links attach to.
    pub gateway: u32,
    /// Share of a chip link's peak that carries payload.
    pub link_efficiency: f64,
}

/// Price and power, per chip and per node (arch/configs.md, `[cost]`).
/// Reports charge only the chips a plan uses, and the nodes they occupy
/// (`Cost::charged`).
#[derive(Clone, Debug, Default)]
pub struct Cost {
    /// Price of one chip (a card, a GPU, a wafer system).
    pub chip_price_usd: Option<f64>,
    /// Power of one chip.
    pub chip_power_w: Option<f64>,
    /// Chips per node (the unit that carries `node_*`); at least 1.
    pub node_chips: u32,
    /// Price of one node's own parts beyond its chips (host, switches).
    pub node_price_usd: f64,
    /// Power of one node's own parts beyond its chips.
    pub node_power_w: f64,
    /// Price of the whole configured system (every chip and node).
    pub price_usd: Option<f64>,
    /// Power of the whole configured system.
    pub power_w: Option<f64>,
}

/// What a plan using `chips` chips is charged: those chips, and the nodes
/// they occupy (chips fill nodes in order, so `ceil(chips / node_chips)`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Charged {
    pub chips_charged: u32,
    pub nodes_charged: u32,
    /// US dollars; `None` when the config gives no price.
    pub price_usd: Option<f64>,
    /// Watts; `None` when the config gives no power.
    pub power_w: Option<f64>,
}

impl Cost {
    /// Per-chip and per-node figures; the whole-system figures follow.
    pub fn new(
        chip_price_usd: Option<f64>,
        chip_power_w: Option<f64>,
        node_chips: u32,
        node_price_usd: f64,
        node_power_w: f64,
        system_chips: u32,
    ) -> Cost {
        let mut c = Cost {
            chip_price_usd,
            chip_power_w,
            node_chips: node_chips.max(1),
            node_price_usd,
            node_power_w,
            price_usd: None,
            power_w: None,
        };
        let all = c.charged(system_chips);
        c.price_usd = all.price_usd;
        c.power_w = all.power_w;
        c
    }

    /// The price and power of `chips` chips and the nodes they occupy.
    pub fn charged(&self, chips: u32) -> Charged {
        let nodes = chips.div_ceil(self.node_chips.max(1));
        Charged {
            chips_charged: chips,
            nodes_charged: nodes,
            price_usd: self.chip_price_usd.map(|p| p * chips as f64 + self.node_price_usd * nodes as f64),
            power_w: self.chip_power_w.map(|p| p * chips as f64 + self.node_power_w * nodes as f64),
        }
    }
}

/// Whole-system figures derived from the spec, in SI units, for `check
/// --verbose`, the roofline and the reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Totals {
    pub chips: u32,
    pub tiles: u64,
    pub sram_bytes: f64,
    pub sram_bandwidth: f64,
    pub memory_bytes: f64,
    /// External memory (HBM / 3D-DRAM) peak bandwidth; 0 for SRAM-only.
    pub memory_bandwidth: f64,
    /// Peak dense FLOP/s per type (2 per MAC).
    pub peak_flops: Vec<(Dtype, f64)>,
    /// Bisection bandwidth of one chip's NoC (directed links across the cut).
    pub noc_bisection: f64,
    pub system_bisection: f64,
    /// Chip-link bandwidth leaving one chip, per direction.
    pub chip_link_bandwidth: f64,
}

impl Chip {
    pub fn tiles_per_chip(&self) -> u32 {
        self.noc.topology.tiles()
    }
    pub fn total_tiles(&self) -> u32 {
        self.tiles_per_chip() * self.system.chips
    }
    pub fn seconds(&self, cycles: f64) -> f64 {
        cycles / self.clock_hz
    }

    pub fn totals(&self) -> Totals {
        let hz = self.clock_hz;
        let tiles = self.total_tiles() as u64;
        let chips = self.system.chips;
        let (memory_bytes, memory_bandwidth) = match &self.memory {
            Memory::SramOnly => (0.0, 0.0),
            Memory::Hbm { dram, capacity, .. } => {
                (capacity.0 as f64 * chips as f64, dram.channel_bw.0 * dram.channels as f64 * hz * chips as f64)
            }
            Memory::Dram3d { dram, capacity_per_tile } => (
                capacity_per_tile.0 as f64 * tiles as f64,
                dram.channel_bw.0 * dram.channels as f64 * hz * tiles as f64,
            ),
        };
        let link = self.noc.link_bw.0 * hz;
        // Directed links crossing the cut that halves the chip (across its
        // longer dimension), times their bandwidth; one chip.
        let halves = |n: u32| (n / 2) as f64 * n.div_ceil(2) as f64;
        let noc_bisection = match self.noc.topology {
            NocTopology::Mesh { x, y } | NocTopology::Torus { x, y } => {
                let (k, m) = (x.max(y), x.min(y));
                let wrap = matches!(self.noc.topology, NocTopology::Torus { .. }) && k > 2;
                if k == 1 { 0.0 } else { 2.0 * m as f64 * if wrap { 2.0 } else { 1.0 } * link }
            }
            NocTopology::Ring { n } => match n {
                0 | 1 => 0.0,
                2 => 2.0 * link,
                _ => 4.0 * link,
            },
            NocTopology::Crossbar { n } | NocTopology::FatTree { n, .. } => 2.0 * (n / 2) as f64 * link,
        };
        let sys_link = self.system.link_bw.0 * hz;
        let n = chips as f64;
        let (system_bisection, chip_link_bandwidth) = match self.system.topology {
            SystemTopology::Single => (0.0, 0.0),
            SystemTopology::Switch => (2.0 * (chips / 2) as f64 * sys_link, sys_link),
            SystemTopology::Ring => (
                match chips {
                    0 | 1 => 0.0,
                    2 => 2.0 * sys_link,
                    _ => 4.0 * sys_link,
                },
                if chips > 2 { 2.0 } else { 1.0 } * sys_link,
            ),
            SystemTopology::Torus { x, y } => {
                let (k, m) = (x.max(y), x.min(y));
                let cut = if k > 2 { 4.0 } else { 2.0 } * m as f64;
                let degree = [x, y]
                    .iter()
                    .map(|&d| {
                        if d > 2 {
                            2.0
                        } else if d == 2 {
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .sum::<f64>();
                (cut * sys_link, degree * sys_link)
            }
            SystemTopology::FullyConnected => (2.0 * halves(chips) * sys_link, (n - 1.0) * sys_link),
            SystemTopology::Dragonfly { group_size } => {
                let groups = chips / group_size;
                let global = self.system.global_link_bw.0 * hz;
                let per_chip =
                    (group_size as f64 - 1.0) * sys_link + (groups as f64 - 1.0) / group_size as f64 * global;
                let cut = if groups > 1 { 2.0 * halves(groups) * global } else { 2.0 * halves(group_size) * sys_link };
                (cut, per_chip)
            }
        };
        Totals {
            chips,
            tiles,
            sram_bytes: self.tile.sram.0 as f64 * tiles as f64,
            sram_bandwidth: self.tile.sram_bw.0 * hz * tiles as f64,
            memory_bytes,
            memory_bandwidth,
            peak_flops: self.tile.macs.iter().map(|&(d, m)| (d, 2.0 * m as f64 * hz * tiles as f64)).collect(),
            noc_bisection,
            system_bisection,
            chip_link_bandwidth,
        }
    }
}
