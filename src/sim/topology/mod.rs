//! Topologies, one module each: which routers a chip has, which pairs of
//! them are joined, where tiles attach and which way a packet goes, behind
//! two small traits -- as BookSim2 gives each network a class (`KNCube`,
//! `FlatFly`, ...) that builds its channels, beside a routing function.
//! `Network` (../network.rs) owns the graph, the link state and the virtual
//! channels, and calls a topology only to build and to route.
//!
//! Adding a topology: a module here implementing `OnChip` (or `Fabric`),
//! and one arm in `on_chip` (or `fabric`) below; the chip config parses it
//! (src/chip.rs).

use crate::chip::{NocTopology, SystemTopology};
use crate::units::BytesPerCycle;

mod crossbar;
mod dragonfly;
mod fat_tree;
mod fully_connected;
mod grid;
mod switch;

pub use grid::Tie;

/// A chip's on-chip network. Routers are numbered 0..`routers()` within
/// the chip (`Network` places chip c's router r at node c * routers + r).
///
/// Contract:
/// - `links` reports every router-to-router connection of one chip once,
///   as `pair(a, b, bandwidth)`: a link from a to b and one from b to a,
///   each of that bandwidth; the order of the calls is the order of the
///   links' ids (reports list links in it), so it must not change.
/// - `route(a, b, hop)` calls `hop(from, to)` for each router-to-router
///   hop from router a to router b, in order (none when a == b); every hop
///   must join a pair `links` reported, and the route must be a function
///   of (a, b) alone (deterministic routing).
/// - `attach` is the router a chip-local tile (and an HBM stack or gateway
///   attached at that tile) connects to.
/// - `wrap` is the grid (x, y) whose dimensions close into rings through
///   wrap-around links (a torus; a ring is n by 1), whose router-to-router
///   ports split their VCs into dateline classes; `None` otherwise.
pub trait OnChip: Send + Sync {
    fn routers(&self) -> u32;
    fn attach(&self, local_tile: u32) -> u32;
    fn links(&self, link_bw: BytesPerCycle, pair: &mut dyn FnMut(u32, u32, BytesPerCycle));
    fn route(&self, a: u32, b: u32, hop: &mut dyn FnMut(u32, u32));
    fn wrap(&self) -> Option<(u32, u32)>;
}

/// What a chip-to-chip connection is, for its bandwidth and statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// A chip link (`system.link_bw`).
    Chip,
    /// A dragonfly global link (`system.global_link_bw`).
    Global,
}

/// The system fabric joining the chips' gateways. Its nodes are the
/// gateways, 0..chips, then `extra_nodes()` nodes of its own (a switch),
/// chips.. .
///
/// Contract: `links(pair)` reports every connection once, as `pair(a, b,
/// wire)` (a link each way), in id order as for `OnChip::links`; `route(a,
/// b, hop)` calls `hop(from, to)` for each hop from chip a's gateway to
/// chip b's (a != b), each over a reported pair, deterministically.
pub trait Fabric: Send + Sync {
    fn extra_nodes(&self) -> u32 {
        0
    }
    fn links(&self, pair: &mut dyn FnMut(u32, u32, Wire));
    fn route(&self, a: u32, b: u32, hop: &mut dyn FnMut(u32, u32));
}

/// The on-chip network of a `NocTopology`.
pub fn on_chip(t: NocTopology) -> Box<dyn OnChip> {
    match t {
        NocTopology::Mesh { x, y } => Box::new(grid::Grid { x, y, wrap: false, tie: Tie::Balanced }),
        NocTopology::Torus { x, y } => Box::new(grid::Grid { x, y, wrap: true, tie: Tie::Balanced }),
        NocTopology::Ring { n } => Box::new(grid::Grid { x: n, y: 1, wrap: true, tie: Tie::Balanced }),
        NocTopology::Crossbar { .. } => Box::new(crossbar::Crossbar),
        NocTopology::FatTree { n, arity } => Box::new(fat_tree::FatTree::new(n, arity)),
    }
}

/// The fabric of a `SystemTopology` over `chips` chips (`None`: one chip).
pub fn fabric(t: SystemTopology, chips: u32) -> Option<Box<dyn Fabric>> {
    Some(match t {
        SystemTopology::Single => return None,
        SystemTopology::Switch => Box::new(switch::Switch { chips }),
        SystemTopology::FullyConnected => Box::new(fully_connected::FullyConnected { chips }),
        // Chip-to-chip rings and tori break ties the positive way.
        SystemTopology::Ring => Box::new(grid::Grid { x: chips, y: 1, wrap: true, tie: Tie::Positive }),
        SystemTopology::Torus { x, y } => Box::new(grid::Grid { x, y, wrap: true, tie: Tie::Positive }),
        SystemTopology::Dragonfly { group_size } => Box::new(dragonfly::Dragonfly { chips, group_size }),
    })
}
