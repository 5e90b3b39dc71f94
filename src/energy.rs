//! The energy model (arch/energy.md): energy per operation and per byte
//! moved, from a chip config's `[energy]` section, charged on a run's
//! activity counts, plus static power over the simulated time.
//!
//! Nothing here changes timing: the model reads the counters a simulation
//! already keeps (`sim::RunStats`, `roofline::TraceTotals`).

use crate::dtype::Dtype;
use serde::Serialize;

/// Energy per operation and per byte of one chip, and its static power
/// (the derived `[energy]` section; every figure in joules, joules per
/// byte or watts).
#[derive(Clone, Debug, PartialEq)]
pub struct EnergySpec {
    /// Joules per MAC on each matrix path: one entry for every type the
    /// tile has a MAC rate for (`tile.macs_per_cycle`; a `runs_as` type is
    /// charged its path's figure).
    pub mac: Vec<(Dtype, f64)>,
    /// Joules per vector-lane operation.
    pub vector_op: f64,
    /// Joules per byte through a tile's SRAM port (read or write: compute
    /// operands, DMA and message data).
    pub sram: f64,
    /// Joules per byte through the HBM cache (`[hbm.cache]`): hits, and
    /// every byte read from or written to the stacks behind it. 0 without.
    pub cache: f64,
    /// Joules per byte read or written at the DRAM: HBM stacks or 3D
    /// vaults (0 on an SRAM-only chip).
    pub memory: f64,
    /// Joules per byte per on-chip link crossed (tile ports, router to
    /// router, memory ports, the gateway).
    pub noc: f64,
    /// Joules per byte per chip-to-chip link crossed (to and from a switch
    /// is two links).
    pub link: f64,
    /// Static power of one chip (leakage, clocks, idle board power), drawn
    /// by every chip a run uses for the whole simulated time.
    pub chip_static_w: f64,
    /// Static power of one node's own parts (hosts, switches), drawn by
    /// every node a run occupies.
    pub node_static_w: f64,
}

impl EnergySpec {
    /// Joules per MAC on `path`. Config validation gives every MAC path a
    /// figure; a path without one (a hand-built spec) is charged the
    /// largest figure the spec has, never nothing.
    pub fn mac_joules(&self, path: Dtype) -> f64 {
        self.mac
            .iter()
            .find(|(d, _)| *d == path)
            .map(|&(_, j)| j)
            .unwrap_or_else(|| self.mac.iter().map(|&(_, j)| j).fold(0.0, f64::max))
    }
}

/// What a run did, in the units the model charges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    /// MACs on each matrix path (the type the unit ran them as).
    pub macs: Vec<(Dtype, u64)>,
    pub vector_ops: u64,
    /// Bytes through SRAM ports.
    pub sram_bytes: u64,
    /// Bytes through the HBM cache (hits plus DRAM traffic behind it).
    pub cache_bytes: u64,
    /// Bytes read or written at the DRAM.
    pub memory_bytes: u64,
    /// Bytes times on-chip links crossed.
    pub noc_byte_hops: u64,
    /// Bytes times chip-to-chip links crossed.
    pub link_byte_hops: u64,
    /// Simulated time.
    pub seconds: f64,
    /// Chips the run used, and the nodes they occupy (`Cost::charged`).
    pub chips: u32,
    pub nodes: u32,
}

/// Joules by component.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Joules {
    /// Matrix MACs, all types (`compute_by_dtype` splits it).
    pub compute: f64,
    /// Matrix MACs per path type (those with any), in `Dtype::ALL` order.
    pub compute_by_dtype: Vec<DtypeJoules>,
    pub vector: f64,
    pub sram: f64,
    pub cache: f64,
    /// HBM or 3D-DRAM.
    pub memory: f64,
    pub noc: f64,
    pub links: f64,
    /// Static power of the chips and nodes used over the simulated time.
    #[serde(rename = "static")]
    pub static_: f64,
    pub total: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DtypeJoules {
    pub dtype: Dtype,
    pub joules: f64,
}

impl Joules {
    /// Every component divided by `n` (per token).
    pub fn per(&self, n: f64) -> Joules {
        let d = |v: f64| if n > 0.0 { v / n } else { 0.0 };
        Joules {
            compute: d(self.compute),
            compute_by_dtype: self
                .compute_by_dtype
                .iter()
                .map(|x| DtypeJoules { dtype: x.dtype, joules: d(x.joules) })
                .collect(),
            vector: d(self.vector),
            sram: d(self.sram),
            cache: d(self.cache),
            memory: d(self.memory),
            noc: d(self.noc),
            links: d(self.links),
            static_: d(self.static_),
            total: d(self.total),
        }
    }

    /// The components in report order, with their names (`compute` whole).
    pub fn components(&self) -> [(&'static str, f64); 8] {
        [
            ("compute", self.compute),
            ("vector", self.vector),
            ("sram", self.sram),
            ("cache", self.cache),
            ("memory", self.memory),
            ("noc", self.noc),
            ("links", self.links),
            ("static", self.static_),
        ]
    }
}

/// The energy of `a` under `spec` (arch/energy.md, "Accounting").
pub fn account(spec: &EnergySpec, a: &Activity) -> Joules {
    let compute_by_dtype: Vec<DtypeJoules> =
        a.macs.iter().map(|&(d, n)| DtypeJoules { dtype: d, joules: n as f64 * spec.mac_joules(d) }).collect();
    let compute = compute_by_dtype.iter().map(|x| x.joules).sum();
    let mut j = Joules {
        compute,
        compute_by_dtype,
        vector: a.vector_ops as f64 * spec.vector_op,
        sram: a.sram_bytes as f64 * spec.sram,
        cache: a.cache_bytes as f64 * spec.cache,
        memory: a.memory_bytes as f64 * spec.memory,
        noc: a.noc_byte_hops as f64 * spec.noc,
        links: a.link_byte_hops as f64 * spec.link,
        static_: a.seconds * (a.chips as f64 * spec.chip_static_w + a.nodes as f64 * spec.node_static_w),
        total: 0.0,
    };
    j.total = j.components().iter().map(|(_, v)| v).sum();
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EnergySpec {
        EnergySpec {
            mac: vec![(Dtype::Fp16, 1e-12), (Dtype::Int8, 0.25e-12)],
            vector_op: 2e-12,
            sram: 0.5e-12,
            cache: 1e-12,
            memory: 30e-12,
            noc: 4e-12,
            link: 50e-12,
            chip_static_w: 100.0,
            node_static_w: 1000.0,
        }
    }

    #[test]
    fn every_component_is_its_count_times_its_figure() {
        let a = Activity {
            macs: vec![(Dtype::Fp16, 1_000_000), (Dtype::Int8, 4_000_000)],
            vector_ops: 500,
            sram_bytes: 2_000,
            cache_bytes: 3_000,
            memory_bytes: 1_000,
            noc_byte_hops: 10_000,
            link_byte_hops: 100,
            seconds: 1e-6,
            chips: 2,
            nodes: 1,
        };
        let j = account(&spec(), &a);
        let close = |x: f64, y: f64| assert!((x - y).abs() <= 1e-12 * y.abs().max(1e-18), "{x} vs {y}");
        close(j.compute_by_dtype[0].joules, 1e-6); // 1e6 x 1 pJ
        close(j.compute_by_dtype[1].joules, 1e-6); // 4e6 x 0.25 pJ
        close(j.compute, 2e-6);
        close(j.vector, 1e-9);
        close(j.sram, 1e-9);
        close(j.cache, 3e-9);
        close(j.memory, 3e-8);
        close(j.noc, 4e-8);
        close(j.links, 5e-9);
        close(j.static_, 1e-6 * (2.0 * 100.0 + 1000.0)); // 1.2 mJ
        close(j.total, 2e-6 + 1e-9 + 1e-9 + 3e-9 + 3e-8 + 4e-8 + 5e-9 + 1.2e-3);
        let t = j.per(4.0);
        close(t.total, j.total / 4.0);
        close(t.compute_by_dtype[1].joules, 0.25e-6);
    }

    #[test]
    fn a_path_without_a_figure_is_charged_the_largest() {
        assert_eq!(spec().mac_joules(Dtype::Fp8), 1e-12);
        assert_eq!(spec().mac_joules(Dtype::Int8), 0.25e-12);
    }

    #[test]
    fn nothing_done_costs_only_static_power() {
        let a = Activity { seconds: 2.0, chips: 1, nodes: 0, ..Activity::default() };
        let j = account(&spec(), &a);
        assert_eq!(j.total, 200.0);
        assert_eq!(j.static_, 200.0);
    }
}
