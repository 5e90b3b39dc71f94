//! The network: every router, switch and endpoint of the system as one
//! graph of directed links, deterministic routing over it, and the per-link
//! contention model packets go through.
//!
//! Timing contract (arch/timing.md, "Network"): a packet's head reaches the
//! input of a link, waits until the link is free, and occupies it for
//! bytes / bandwidth (cut-through: the head moves on after the link's wire
//! latency plus the next router's delay, while the tail is still being
//! sent). A link carries one packet at a time in the order heads arrive.
//!
//! With `noc.vcs`, each router input port has that many virtual channels.
//! A packet takes one of the port's VCs when its head starts on the link
//! into the port and gives it back `noc.credit` cycles after its tail has
//! left that router (BookSim's `wait_for_tail_credit`). A packet whose next
//! port has no VC whose release time is known waits at the link's input,
//! holding the VC it has: back-pressure. Waiting packets take freed VCs in
//! the order they arrived.
//!
//! On a torus or ring the wrap-around links close every dimension into a
//! cycle of ports, so router-to-router ports split their VCs into two
//! dateline classes, BookSim2's `dim_order_torus` scheme (arch/timing.md,
//! "Torus and ring VCs"): the class is fixed when a packet turns into a
//! dimension, class 1 when that dimension's start coordinate is greater
//! than its end coordinate, class 0 otherwise, and kept for the whole
//! dimension.

use super::topology::{self, Fabric, OnChip, Wire};
use crate::chip::{Chip, Memory};
use crate::ids::{ChipId, LinkId, NodeId, PacketId, TileId};
use crate::units::{BytesPerCycle, Cycle, Cycles, Tick, TicksPerByte, cycles_of};
use std::collections::VecDeque;
use std::rc::Rc;

/// What a link is, for statistics and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkClass {
    /// Tile interface into its router.
    Inject,
    /// Router into a tile interface.
    Eject,
    /// Router to router on a chip.
    Noc,
    /// Between a memory stack and its router.
    MemPort,
    /// Between a chip's NoC and its external-link controller.
    Gateway,
    /// Chip to chip (or chip to switch).
    ChipLink,
    /// Dragonfly global link.
    GlobalLink,
}

impl LinkClass {
    /// Whether the link belongs to the on-chip network for utilisation
    /// figures (as opposed to chip-to-chip links).
    pub fn on_chip(self) -> bool {
        matches!(self, LinkClass::Inject | LinkClass::Eject | LinkClass::Noc | LinkClass::MemPort | LinkClass::Gateway)
    }
}

#[derive(Clone, Debug)]
pub struct Link {
    pub from: NodeId,
    pub to: NodeId,
    pub bw: BytesPerCycle,
    pub latency: Cycles,
    pub class: LinkClass,
}

impl Link {
    fn new(from: NodeId, to: NodeId, bw: BytesPerCycle, latency: Cycles, class: LinkClass) -> Link {
        Link { from, to, bw, latency, class }
    }
}

/// Dynamic state and counters of a link, with the constants a hop reads:
/// one aligned cache line per link, the only one of the link's a hop
/// through it touches (a hop read the `Link`, which straddles two lines,
/// the state in a third and the next node's delay; only a delivering hop
/// still reads the `Link`, for the eject latency).
#[derive(Clone, Debug, Default)]
#[repr(align(64))]
pub struct LinkState {
    busy_until: Tick,
    pub busy_ticks: u64,
    pub bytes: u64,
    pub packets: u64,
    /// Its bandwidth as ticks per byte.
    rate: TicksPerByte,
    /// From its head entering the link to entering the next: the wire and
    /// the next node's delay (`Network::hop_delay`).
    delay: Cycles,
    /// `LinkClass::on_chip`.
    on_chip: bool,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<LinkState>() == 64, "a link's state is one cache line");

impl LinkState {
    pub fn busy_cycles(&self) -> f64 {
        cycles_of(self.busy_ticks)
    }
}

/// A place messages start from or end at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    Tile(TileId),
    /// HBM stack `stack` of chip `chip`.
    Stack {
        chip: ChipId,
        stack: u32,
    },
}

/// One hop of a unicast route: the link, and the VC class a packet asks
/// for in the port it leads into (`Network::vc_class`), packed in 4 bytes
/// (class in the top bit) so the paths of a run stay in cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step(u32);

impl Step {
    const CLASS: u32 = 1 << 31;

    fn new(link: LinkId, class: u8) -> Step {
        assert!(link.0 < Step::CLASS && class <= 1, "a link id below 2^31 and a dateline class 0 or 1");
        Step(link.0 | if class == 1 { Step::CLASS } else { 0 })
    }
    pub fn link(self) -> LinkId {
        LinkId(self.0 & !Step::CLASS)
    }
    pub fn class(self) -> u8 {
        u8::from(self.0 & Step::CLASS != 0)
    }
}

/// A unicast route, its steps in order: one allocation, shared (by the
/// engine's path cache and every packet on it), so a hop reads its link
/// and class with one memory access from the packet.
pub type Path = Rc<[Step]>;

/// Virtual channels of the router input ports (`noc.vcs`).
struct Vcs {
    per_port: usize,
    credit_ticks: u64,
    /// Per link: the VCs of the port it leads into. One byte read per hop
    /// (it replaced a flag and a look at `ring`).
    port: Vec<Port>,
    /// Per link: where it sits in a torus or ring dimension, for links
    /// whose port splits its VCs into dateline classes (empty when the
    /// chip has no wrap-around dimension).
    ring: Vec<Option<RingLink>>,
    /// VCs [0, class1) of a classed port are class 0, [class1, per_port)
    /// class 1.
    class1: usize,
    /// `release[first + l * per_port + v]`: tick VC v of link l's port is
    /// free again, or `HELD` while a packet holds it and has not left yet.
    /// A wide port's VCs are after every link's `per_port` (`wide`).
    release: Vec<Tick>,
    /// Per link into a `Port::Wide`: where its VCs start in `release` and
    /// how many (0, 0 for other links).
    wide: Vec<(usize, usize)>,
    /// Where link 0's VCs start in `release`: its first tick on a 64-byte
    /// boundary, so with 8 VCs a port's are one cache line (7 ticks of
    /// slack; the vector never grows).
    first: usize,
    /// Per link and class (`2 l + class`): packets (by the engine's id)
    /// waiting for a VC, in order. Invariant: a class has waiting packets
    /// only while every VC of that class is `HELD` (a packet waits only
    /// then, and a freed VC goes to the first waiting packet), so asking
    /// for a VC need not look here.
    waiting: Vec<VecDeque<PacketId>>,
    /// Per link: bit `c` set while packets wait for class `c` of its port
    /// (a byte read where the queue would be a cache line).
    waiters: Vec<u8>,
}

/// The VCs of the port a link leads into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    /// Not a router input port (a tile, a stack, a gateway): unbounded
    /// buffering.
    Unlimited,
    /// `per_port` VCs, one class.
    Plain,
    /// A link `width` times `noc.link_bandwidth` wide (a fat tree's links
    /// above the leaves), standing for `width` links of the base bandwidth
    /// side by side: `width x per_port` VCs, one class (`Vcs::wide`).
    Wide,
    /// On a wrap-around dimension: two dateline classes (`class1`).
    Classed,
}

/// A router-to-router link of a torus or ring dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RingLink {
    /// Chip, dimension (0 = x, 1 = y) and direction (positive: to the
    /// next coordinate, modulo the size): the ring it belongs to.
    chip: u32,
    dim: u8,
    positive: bool,
    /// Coordinates in that dimension of the routers it joins.
    from: u32,
    to: u32,
}

impl Vcs {
    /// VCs for links into ports `port`, `per_port` each; a `Port::Wide`
    /// link `widths[l]` times that (at most `MAX_PORT_VCS`).
    fn new(per_port: u32, credit_ticks: u64, port: Vec<Port>, ring: Vec<Option<RingLink>>, widths: &[u32]) -> Vcs {
        let per_port = per_port as usize;
        let mut end = port.len() * per_port + 7;
        let wide = port
            .iter()
            .zip(widths)
            .map(|(&p, &w)| {
                if p != Port::Wide {
                    return (0, 0);
                }
                let n = (w as usize * per_port).min(MAX_PORT_VCS);
                end += n;
                (end - n, n)
            })
            .collect();
        let release = vec![Tick::ZERO; end];
        let first = (8 - (release.as_ptr() as usize / 8) % 8) % 8;
        let waiting = vec![VecDeque::new(); 2 * port.len()];
        let waiters = vec![0; port.len()];
        let class1 = per_port - per_port / 2;
        Vcs { per_port, credit_ticks, port, ring, class1, release, wide, first, waiting, waiters }
    }

    /// The class of the VCs a packet asking for `class` at link `l`'s
    /// port gets (0 on a port without classes), where the port's VCs start
    /// in `release`, and which of them are that class's; `None` when the
    /// port has no VCs.
    #[inline]
    fn slots(&self, l: LinkId, class: u8) -> Option<(u8, usize, std::ops::Range<usize>)> {
        let uniform = self.first + l.index() * self.per_port;
        Some(match (self.port[l.index()], class) {
            (Port::Unlimited, _) => return None,
            (Port::Plain, _) => (0, uniform, 0..self.per_port),
            (Port::Classed, 0) => (0, uniform, 0..self.class1),
            (Port::Classed, _) => (1, uniform, self.class1..self.per_port),
            (Port::Wide, _) => {
                let (start, n) = self.wide[l.index()];
                (0, start, 0..n)
            }
        })
    }

    /// Where link `l`'s port's VCs start in `release`.
    #[inline]
    fn base(&self, l: LinkId) -> usize {
        match self.port[l.index()] {
            Port::Wide => self.wide[l.index()].0,
            _ => self.first + l.index() * self.per_port,
        }
    }
}

const HELD: Tick = Tick(u64::MAX);

/// VCs of one port at most (a `Vc`'s index is 16 bits): a wide port's
/// `width x vcs` is capped here.
const MAX_PORT_VCS: usize = u16::MAX as usize;

/// Links `route` makes room for at once: an 8x8 mesh's longest route
/// (inject, 14 router hops, eject).
const ROUTE_RESERVE: usize = 16;

/// A virtual channel a packet holds: on which link's downstream port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vc {
    pub link: LinkId,
    /// u16 keeps `Option<Vc>` in a packet at 8 bytes (`noc.vcs` <= 1024).
    index: u16,
}

/// The outcome of asking for a VC of a link's downstream port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcGrant {
    /// No VCs on this link (unbounded buffering).
    Unlimited,
    /// Granted; the head may start no earlier than `not_before`.
    Granted { vc: Vc, not_before: Tick },
    /// Every VC is held: the packet has been queued at the link.
    Wait,
}

pub struct Network {
    pub links: Vec<Link>,
    pub state: Vec<LinkState>,
    vcs: Option<Vcs>,
    adj: Vec<Vec<(NodeId, LinkId)>>,
    /// The on-chip topology (src/sim/topology/): builds and routes.
    noc: Box<dyn OnChip>,
    /// The system fabric between chips (`None`: one chip).
    fabric: Option<Box<dyn Fabric>>,
    tiles_per_chip: u32,
    routers_per_chip: u32,
    tile_inject: Vec<LinkId>,
    tile_eject: Vec<LinkId>,
    stacks_per_chip: u32,
    stack_attach: Vec<u32>,
    stack_in: Vec<LinkId>,
    stack_out: Vec<LinkId>,
    gateway_tile: u32,
    /// The fabric's nodes: chip c's gateway is node c, then the fabric's
    /// own (a switch).
    fabric_nodes: Vec<NodeId>,
    gw_in: Vec<LinkId>,
    gw_out: Vec<LinkId>,
    /// Fabric ports (gateway and switch) are numbered from here.
    node_count: u32,
}

struct Builder {
    links: Vec<Link>,
    node_delay: Vec<Cycles>,
}

impl Builder {
    fn node(&mut self, delay: Cycles) -> NodeId {
        self.node_delay.push(delay);
        NodeId::from_index(self.node_delay.len() - 1)
    }
    fn link(&mut self, from: NodeId, to: NodeId, bw: BytesPerCycle, latency: Cycles, class: LinkClass) -> LinkId {
        self.links.push(Link::new(from, to, bw, latency, class));
        LinkId::from_index(self.links.len() - 1)
    }
    fn pair(&mut self, a: NodeId, b: NodeId, bw: BytesPerCycle, latency: Cycles, class: LinkClass) {
        self.link(a, b, bw, latency, class);
        self.link(b, a, bw, latency, class);
    }
}

impl Network {
    pub fn new(chip: &Chip) -> Network {
        let noc = &chip.noc;
        let topo = noc.topology;
        let chips = chip.system.chips;
        let tiles_per_chip = topo.tiles();
        let mut b = Builder { links: Vec::new(), node_delay: Vec::new() };

        // Routers of every chip: chip c's router r is node c * R + r.
        let shape = topology::on_chip(topo);
        let routers_per_chip = shape.routers();
        for _ in 0..chips * routers_per_chip {
            b.node(noc.router);
        }
        // Router-to-router links.
        for c in 0..chips {
            let r = |i: u32| NodeId(c * routers_per_chip + i);
            shape.links(noc.link_bw, &mut |x, y, bw| b.pair(r(x), r(y), bw, noc.link, LinkClass::Noc));
        }
        let router_of_local = |t: u32| shape.attach(t);
        // Tile interfaces.
        let mut tile_inject = Vec::with_capacity((chips * tiles_per_chip) as usize);
        let mut tile_eject = Vec::with_capacity((chips * tiles_per_chip) as usize);
        for c in 0..chips {
            for t in 0..tiles_per_chip {
                let ni = b.node(Cycles::ZERO);
                let router = NodeId(c * routers_per_chip + router_of_local(t));
                tile_inject.push(b.link(ni, router, noc.link_bw, noc.inject, LinkClass::Inject));
                tile_eject.push(b.link(router, ni, noc.link_bw, noc.eject, LinkClass::Eject));
            }
        }
        // HBM stacks: a port as fast as the stack (or its cache slice), at
        // the attach tile's router.
        let (stacks_per_chip, stack_attach, stack_bw) = match &chip.memory {
            Memory::Hbm { stacks, dram, attach, cache, .. } => {
                // With a cache the port is the slice's, as fast as the cache.
                let per_stack = dram.channels / stacks;
                let bw =
                    (dram.channel_bw.0 * per_stack as f64).max(cache.as_ref().map_or(0.0, |c| c.bw.0 / *stacks as f64));
                (*stacks, attach.clone(), BytesPerCycle(bw))
            }
            _ => (0, Vec::new(), BytesPerCycle(1.0)),
        };
        let mut stack_in = Vec::new();
        let mut stack_out = Vec::new();
        for c in 0..chips {
            for s in 0..stacks_per_chip {
                let node = b.node(Cycles::ZERO);
                let router = NodeId(c * routers_per_chip + router_of_local(stack_attach[s as usize]));
                stack_out.push(b.link(node, router, stack_bw, noc.inject, LinkClass::MemPort));
                stack_in.push(b.link(router, node, stack_bw, noc.eject, LinkClass::MemPort));
            }
        }
        // Chip gateways and the system fabric.
        let sys = &chip.system;
        let fabric = if chips > 1 { topology::fabric(sys.topology, chips) } else { None };
        let mut fabric_nodes = Vec::new();
        let mut gw_in = Vec::new();
        let mut gw_out = Vec::new();
        if chips > 1 {
            let t = chip.totals();
            let gw_bw = BytesPerCycle((t.chip_link_bandwidth / chip.clock_hz).max(noc.link_bw.0));
            for c in 0..chips {
                let g = b.node(Cycles::ZERO);
                let router = NodeId(c * routers_per_chip + router_of_local(sys.gateway));
                gw_in.push(b.link(router, g, gw_bw, noc.eject, LinkClass::Gateway));
                gw_out.push(b.link(g, router, gw_bw, noc.inject, LinkClass::Gateway));
                fabric_nodes.push(g);
            }
        }
        if let Some(f) = &fabric {
            // The fabric's own nodes are switches.
            for _ in 0..f.extra_nodes() {
                fabric_nodes.push(b.node(sys.switch_latency));
            }
            // The payload a link carries: its peak times the protocol's efficiency.
            let eff = sys.link_efficiency;
            let lat = sys.link_latency;
            f.links(&mut |x, y, wire| {
                let (bw, class) = match wire {
                    Wire::Chip => (sys.link_bw.0, LinkClass::ChipLink),
                    Wire::Global => (sys.global_link_bw.0, LinkClass::GlobalLink),
                };
                b.pair(fabric_nodes[x as usize], fabric_nodes[y as usize], BytesPerCycle(bw * eff), lat, class)
            });
        }
        let node_count = b.node_delay.len() as u32;
        let mut adj: Vec<Vec<(NodeId, LinkId)>> = vec![Vec::new(); node_count as usize];
        for (i, l) in b.links.iter().enumerate() {
            adj[l.from.index()].push((l.to, LinkId::from_index(i)));
        }
        let state = b
            .links
            .iter()
            .map(|l| LinkState {
                rate: TicksPerByte::of(l.bw),
                delay: l.latency + b.node_delay[l.to.index()],
                on_chip: l.class.on_chip(),
                ..LinkState::default()
            })
            .collect();
        let routers = chips * routers_per_chip;
        let vcs = noc.vcs.map(|per_port| {
            let ring = ring_links(shape.wrap(), routers_per_chip, routers, &b.links);
            // A router-to-router link n times the NoC's bandwidth (a fat
            // tree's above the leaves) stands for n links side by side, each
            // with its port's VCs: with one port's VCs its packets, each
            // holding a VC for a credit loop, ran out of VCs long before
            // bandwidth (arch/timing.md, "Fat tree").
            let width = |l: &Link| match l.class {
                LinkClass::Noc => (l.bw.0 / noc.link_bw.0).round().max(1.0) as u32,
                _ => 1,
            };
            let widths: Vec<u32> = b.links.iter().map(width).collect();
            let port = (0..b.links.len())
                .map(|i| match (b.links[i].to.0 < routers, ring.get(i).is_some_and(Option::is_some)) {
                    (false, _) => Port::Unlimited,
                    (true, false) if widths[i] > 1 => Port::Wide,
                    (true, false) => Port::Plain,
                    (true, true) => Port::Classed,
                })
                .collect();
            Vcs::new(per_port, noc.credit.ticks(), port, ring, &widths)
        });
        Network {
            links: b.links,
            state,
            vcs,
            adj,
            noc: shape,
            fabric,
            tiles_per_chip,
            routers_per_chip,
            tile_inject,
            tile_eject,
            stacks_per_chip,
            stack_attach,
            stack_in,
            stack_out,
            gateway_tile: sys.gateway,
            fabric_nodes,
            gw_in,
            gw_out,
            node_count,
        }
    }

    pub fn node_count(&self) -> u32 {
        self.node_count
    }

    pub fn chip_of(&self, t: TileId) -> ChipId {
        ChipId(t.0 / self.tiles_per_chip)
    }

    fn local_router(&self, local_tile: u32) -> u32 {
        self.noc.attach(local_tile)
    }

    fn router_node(&self, chip: u32, local_router: u32) -> NodeId {
        NodeId(chip * self.routers_per_chip + local_router)
    }

    fn link_to(&self, from: NodeId, to: NodeId) -> LinkId {
        self.adj[from.index()]
            .iter()
            .find(|(n, _)| *n == to)
            .map(|&(_, l)| l)
            .unwrap_or_else(|| panic!("no link {from:?} -> {to:?}: routing and construction disagree"))
    }

    /// Appends the router-to-router links from local router `a` to `b` of `chip`.
    fn noc_path(&self, chip: u32, a: u32, b: u32, out: &mut Vec<LinkId>) {
        self.noc.route(a, b, &mut |from, to| {
            out.push(self.link_to(self.router_node(chip, from), self.router_node(chip, to)));
        });
    }

    /// Appends the chip-to-chip links from chip `a`'s gateway to chip `b`'s.
    fn system_path(&self, a: u32, b: u32, out: &mut Vec<LinkId>) {
        let f = self.fabric.as_ref().expect("a route between chips has a fabric");
        let g = |i: u32| self.fabric_nodes[i as usize];
        f.route(a, b, &mut |from, to| out.push(self.link_to(g(from), g(to))));
    }

    fn end_chip_router(&self, e: End) -> (u32, u32) {
        match e {
            End::Tile(t) => (t.0 / self.tiles_per_chip, self.local_router(t.0 % self.tiles_per_chip)),
            End::Stack { chip, stack } => (chip.0, self.local_router(self.stack_attach[stack as usize])),
        }
    }

    /// The route from `from` to `to` as a list of links (replacing `out`).
    pub fn route(&self, from: End, to: End, out: &mut Vec<LinkId>) {
        out.clear();
        // A fresh Vec would otherwise grow 1, 2, 4, 8, 16 link by link (4.7%
        // of the instructions of a uniform-traffic run in reallocation).
        out.reserve(ROUTE_RESERVE);
        out.push(match from {
            End::Tile(t) => self.tile_inject[t.index()],
            End::Stack { chip, stack } => self.stack_out[(chip.0 * self.stacks_per_chip + stack) as usize],
        });
        let (ca, ra) = self.end_chip_router(from);
        let (cb, rb) = self.end_chip_router(to);
        if ca == cb {
            self.noc_path(ca, ra, rb, out);
        } else {
            let gw = self.local_router(self.gateway_tile);
            self.noc_path(ca, ra, gw, out);
            out.push(self.gw_in[ca as usize]);
            self.system_path(ca, cb, out);
            out.push(self.gw_out[cb as usize]);
            self.noc_path(cb, gw, rb, out);
        }
        out.push(match to {
            End::Tile(t) => self.tile_eject[t.index()],
            End::Stack { chip, stack } => self.stack_in[(chip.0 * self.stacks_per_chip + stack) as usize],
        });
    }

    /// The route from `from` to `to` with each hop's VC class (`vc_class`),
    /// both computed once: the engine keeps paths it has built.
    pub fn path(&self, from: End, to: End) -> Path {
        let mut links = Vec::new();
        self.route(from, to, &mut links);
        (0..links.len()).map(|h| Step::new(links[h], self.vc_class(&links, h))).collect()
    }

    /// Cycles between a head entering link `l` and entering the next link.
    pub fn hop_delay(&self, l: LinkId) -> Cycles {
        self.state[l.index()].delay
    }

    /// Whether link `l` belongs to the on-chip network (`LinkClass::on_chip`).
    pub fn on_chip(&self, l: LinkId) -> bool {
        self.state[l.index()].on_chip
    }

    /// Zero-load latency of a route for a packet of `bytes` (head latency
    /// plus the slowest link's serialization).
    pub fn zero_load(&self, route: impl ExactSizeIterator<Item = LinkId> + Clone, bytes: u64) -> Cycles {
        let mut head = Cycles::ZERO;
        let n = route.len();
        for (i, l) in route.clone().enumerate() {
            head += if i + 1 == n { self.links[l.index()].latency } else { self.hop_delay(l) };
        }
        let ser = route.map(|l| self.links[l.index()].bw.cycles_for(crate::units::Bytes(bytes)).0).max();
        head + Cycles(ser.unwrap_or(0))
    }

    /// The dateline class of the VC a packet on `route` needs at hop `hop`
    /// (`noc.vcs` on a torus or ring; 0 on every other link): BookSim2's
    /// `dim_order_torus`. The class is chosen where the route turns into a
    /// dimension and kept along it: 1 when the dimension's start
    /// coordinate is greater than its end coordinate (in the positive
    /// direction: the route crosses the wrap-around link; in the negative
    /// direction: it does not), 0 otherwise. Cost: the length of the
    /// route's run in that dimension.
    pub fn vc_class(&self, route: &[LinkId], hop: usize) -> u8 {
        let Some(v) = &self.vcs else { return 0 };
        let ring = |i: usize| v.ring.get(route[i].index()).copied().flatten();
        let Some(here) = ring(hop) else { return 0 };
        let same = |r: Option<RingLink>| {
            r.is_some_and(|r| r.chip == here.chip && r.dim == here.dim && r.positive == here.positive)
        };
        let mut first = hop;
        while first > 0 && same(ring(first - 1)) {
            first -= 1;
        }
        let mut last = hop;
        while last + 1 < route.len() && same(ring(last + 1)) {
            last += 1;
        }
        let (start, end) = (ring(first).expect("in the run").from, ring(last).expect("in the run").to);
        u8::from(start > end)
    }

    /// Asks for a VC of class `class` (`vc_class`) of the port link `l`
    /// leads into, for packet `p` whose head is at the link's input at
    /// cycle `now`. Queues `p` when none can be had or others already wait
    /// for that class (they go first).
    #[inline]
    pub fn vc_acquire(&mut self, l: LinkId, class: u8, p: PacketId, now: Cycle) -> VcGrant {
        let Some(v) = &mut self.vcs else { return VcGrant::Unlimited };
        let Some((class, base, range)) = v.slots(l, class) else { return VcGrant::Unlimited };
        let first = range.start;
        let slots = &mut v.release[base + range.start..base + range.end];
        // The VC free soonest (the first of equals), or the first one free
        // by now: any of those serves as well (the head cannot start
        // before now, and time only moves on, so which of them stays free
        // never matters), and at low load the first VC usually is. Packets
        // already waiting for this class go first: then every VC is `HELD`
        // (the invariant at `waiting`), so this one queues behind them.
        let free = Tick::of(now);
        let (mut i, mut t) = (0, slots[0]);
        if t > free {
            for (j, &r) in slots.iter().enumerate().skip(1) {
                if r < t {
                    (i, t) = (j, r);
                    if t <= free {
                        break;
                    }
                }
            }
        }
        let queue = 2 * l.index() + usize::from(class);
        if t == HELD {
            v.waiting[queue].push_back(p);
            v.waiters[l.index()] |= 1 << class;
            return VcGrant::Wait;
        }
        debug_assert!(v.waiting[queue].is_empty(), "packets wait for a class only while all its VCs are held");
        slots[i] = HELD;
        let index = first + i;
        VcGrant::Granted { vc: Vc { link: l, index: index as u16 }, not_before: t }
    }

    /// The packet holding `vc` has its tail out of the router at `tail_out`
    /// ticks: the VC is free a credit delay later. Hands it straight to the
    /// first packet waiting for that port and class, if any: returns that
    /// packet and its grant.
    #[inline]
    pub fn vc_release(&mut self, vc: Vc, tail_out: Tick) -> Option<(PacketId, VcGrant)> {
        let v = self.vcs.as_mut().expect("a VC was granted, so VCs are modelled");
        let at = tail_out + v.credit_ticks;
        let classed = v.port[vc.link.index()] == Port::Classed;
        let class = u8::from(classed && vc.index as usize >= v.class1);
        let slot = v.base(vc.link) + vc.index as usize;
        // The queue (a cache line of its own) is read only when someone waits.
        if v.waiters[vc.link.index()] & (1 << class) != 0 {
            let queue = &mut v.waiting[2 * vc.link.index() + usize::from(class)];
            let p = queue.pop_front().expect("a class marked as waited for has a packet waiting");
            if queue.is_empty() {
                v.waiters[vc.link.index()] &= !(1 << class);
            }
            return Some((p, VcGrant::Granted { vc, not_before: at }));
        }
        v.release[slot] = at;
        None
    }

    /// Whether router ports have virtual channels (`noc.vcs`).
    pub fn has_vcs(&self) -> bool {
        self.vcs.is_some()
    }

    /// Packets waiting for a VC (for deadlock reports).
    pub fn vc_waiting(&self) -> usize {
        self.vcs.as_ref().map_or(0, |v| v.waiting.iter().map(VecDeque::len).sum())
    }

    /// Ticks link `l` needs to carry `bytes`.
    pub fn serialization_ticks(&self, l: LinkId, bytes: u64) -> u64 {
        self.state[l.index()].rate.ticks(bytes)
    }

    /// A packet head of `bytes` reaches link `l` at `head` and may not
    /// start before `not_before` ticks (its VC's release); its tail can
    /// reach the link no earlier than `tail_in` ticks. Occupies the link and
    /// returns when the tail leaves it (ticks) and when the head was sent.
    #[inline]
    pub fn traverse(&mut self, l: LinkId, head: Cycle, not_before: Tick, tail_in: Tick, bytes: u64) -> (Cycle, Tick) {
        let st = &mut self.state[l.index()];
        let start = Tick::of(head).max(not_before).max(st.busy_until);
        let ser = st.rate.ticks(bytes);
        let tail_out = (start + ser).max(tail_in);
        st.busy_until = tail_out;
        st.busy_ticks = st.busy_ticks.saturating_add(ser);
        st.bytes += bytes;
        st.packets += 1;
        (start.ceil(), tail_out)
    }
}

/// Per link, its place in a torus or ring dimension when that dimension
/// wraps around (router-to-router links only; a dimension of two routers
/// has no wrap-around link but is marked too, harmlessly: each of its
/// routes is one hop). Empty for other topologies.
fn ring_links(wrap: Option<(u32, u32)>, per_chip: u32, routers: u32, links: &[Link]) -> Vec<Option<RingLink>> {
    let Some((x, y)) = wrap else { return Vec::new() };
    links
        .iter()
        .map(|l| {
            if l.from.0 >= routers || l.to.0 >= routers {
                return None;
            }
            let chip = l.from.0 / per_chip;
            let (a, b) = (l.from.0 % per_chip, l.to.0 % per_chip);
            let (dim, k, from, to) = if a / x == b / x { (0, x, a % x, b % x) } else { (1, y, a / x, b / x) };
            Some(RingLink { chip, dim, positive: to == (from + 1) % k, from, to })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_keeps_its_link_and_class() {
        for link in [0, 1, 12_345, (1 << 31) - 1] {
            for class in [0, 1] {
                let s = Step::new(LinkId(link), class);
                assert_eq!((s.link(), s.class()), (LinkId(link), class));
            }
        }
    }

    #[test]
    #[should_panic(expected = "below 2^31")]
    fn a_step_refuses_a_link_id_that_would_hide_the_class() {
        Step::new(LinkId(1 << 31), 0);
    }
}
