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

use crate::chip::{Chip, Memory, NocTopology, SystemTopology};
use crate::ids::{ChipId, LinkId, NodeId, TileId};
use crate::units::{BytesPerCycle, Cycle, Cycles, FRAC};
use std::collections::VecDeque;

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
    /// Ticks (1/FRAC cycle) per byte.
    ticks_per_byte: f64,
}

/// Dynamic state and counters of a link.
#[derive(Clone, Debug, Default)]
pub struct LinkState {
    busy_until: u64,
    pub busy_ticks: u64,
    pub bytes: u64,
    pub packets: u64,
}

impl LinkState {
    pub fn busy_cycles(&self) -> f64 {
        self.busy_ticks as f64 / FRAC as f64
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

/// Virtual channels of the router input ports (`noc.vcs`).
struct Vcs {
    per_port: usize,
    credit_ticks: u64,
    /// Per link: whether its downstream end is a router input port.
    limited: Vec<bool>,
    /// Per link: where it sits in a torus or ring dimension, for links
    /// whose port splits its VCs into dateline classes (empty when the
    /// chip has no wrap-around dimension).
    ring: Vec<Option<RingLink>>,
    /// VCs [0, class1) of a classed port are class 0, [class1, per_port)
    /// class 1.
    class1: usize,
    /// `release[l * per_port + v]`: tick VC v of link l's port is free
    /// again, or `HELD` while a packet holds it and has not left yet.
    release: Vec<u64>,
    /// Per link and class (`2 l + class`): packets (by the engine's id)
    /// waiting for a VC, in order.
    waiting: Vec<VecDeque<u32>>,
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
    fn classed(&self, l: LinkId) -> bool {
        self.ring.get(l.index()).is_some_and(Option::is_some)
    }
    /// The class of the VCs asked for (0 on a port without classes) and
    /// their indices.
    fn range(&self, l: LinkId, class: u8) -> (u8, std::ops::Range<usize>) {
        match (self.classed(l), class) {
            (false, _) => (0, 0..self.per_port),
            (true, 0) => (0, 0..self.class1),
            (true, _) => (1, self.class1..self.per_port),
        }
    }
    fn class_of(&self, vc: Vc) -> u8 {
        u8::from(self.classed(vc.link) && vc.index as usize >= self.class1)
    }
}

const HELD: u64 = u64::MAX;

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
    /// Granted; the head may start no earlier than `not_before` ticks.
    Granted { vc: Vc, not_before: u64 },
    /// Every VC is held: the packet has been queued at the link.
    Wait,
}

pub struct Network {
    pub links: Vec<Link>,
    pub state: Vec<LinkState>,
    vcs: Option<Vcs>,
    node_delay: Vec<Cycles>,
    adj: Vec<Vec<(NodeId, LinkId)>>,
    topo: NocTopology,
    sys: SystemTopology,
    chips: u32,
    tiles_per_chip: u32,
    routers_per_chip: u32,
    /// Fat-tree: index of the first switch of each level.
    level_base: Vec<u32>,
    arity: u32,
    tile_inject: Vec<LinkId>,
    tile_eject: Vec<LinkId>,
    stacks_per_chip: u32,
    stack_attach: Vec<u32>,
    stack_in: Vec<LinkId>,
    stack_out: Vec<LinkId>,
    gateway_tile: u32,
    gateway: Vec<NodeId>,
    gw_in: Vec<LinkId>,
    gw_out: Vec<LinkId>,
    switch: Option<NodeId>,
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
        self.links.push(Link { from, to, bw, latency, class, ticks_per_byte: FRAC as f64 / bw.0 });
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
        let (routers_per_chip, level_base, arity) = match topo {
            NocTopology::Mesh { .. } | NocTopology::Torus { .. } | NocTopology::Ring { .. } => {
                (tiles_per_chip, vec![0], 1)
            }
            NocTopology::Crossbar { .. } => (1, vec![0], 1),
            NocTopology::FatTree { n, arity } => {
                let mut bases = vec![0u32];
                let mut width = n.div_ceil(arity);
                let mut total = 0;
                loop {
                    total += width;
                    if width == 1 {
                        break;
                    }
                    bases.push(total);
                    width = width.div_ceil(arity);
                }
                (total, bases, arity)
            }
        };
        for _ in 0..chips * routers_per_chip {
            b.node(noc.router);
        }
        // Router-to-router links.
        for c in 0..chips {
            let base = c * routers_per_chip;
            let r = |i: u32| NodeId(base + i);
            match topo {
                NocTopology::Mesh { x, y } | NocTopology::Torus { x, y } => {
                    let wrap = matches!(topo, NocTopology::Torus { .. });
                    for j in 0..y {
                        for i in 0..x {
                            let me = r(j * x + i);
                            if i + 1 < x {
                                b.pair(me, r(j * x + i + 1), noc.link_bw, noc.link, LinkClass::Noc);
                            } else if wrap && x > 2 {
                                b.pair(me, r(j * x), noc.link_bw, noc.link, LinkClass::Noc);
                            }
                            if j + 1 < y {
                                b.pair(me, r((j + 1) * x + i), noc.link_bw, noc.link, LinkClass::Noc);
                            } else if wrap && y > 2 {
                                b.pair(me, r(i), noc.link_bw, noc.link, LinkClass::Noc);
                            }
                        }
                    }
                }
                NocTopology::Ring { n } => {
                    if n == 2 {
                        b.pair(r(0), r(1), noc.link_bw, noc.link, LinkClass::Noc);
                    } else if n > 2 {
                        for i in 0..n {
                            b.pair(r(i), r((i + 1) % n), noc.link_bw, noc.link, LinkClass::Noc);
                        }
                    }
                }
                NocTopology::Crossbar { .. } => {}
                NocTopology::FatTree { .. } => {
                    // Level l switch i connects up to level l+1 switch i / arity;
                    // the link bandwidth grows by `arity` per level.
                    let mut bw = noc.link_bw.0;
                    for l in 0..level_base.len() - 1 {
                        bw *= arity as f64;
                        let width = level_base[l + 1] - level_base[l];
                        for i in 0..width {
                            let child = r(level_base[l] + i);
                            let parent = r(level_base[l + 1] + i / arity);
                            b.pair(child, parent, BytesPerCycle(bw), noc.link, LinkClass::Noc);
                        }
                    }
                }
            }
        }
        let router_of_local = |t: u32| local_router(topo, t);
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
        let mut gateway = Vec::new();
        let mut gw_in = Vec::new();
        let mut gw_out = Vec::new();
        let mut switch = None;
        if chips > 1 {
            let t = chip.totals();
            let gw_bw = BytesPerCycle((t.chip_link_bandwidth / chip.clock_hz).max(noc.link_bw.0));
            for c in 0..chips {
                let g = b.node(Cycles::ZERO);
                let router = NodeId(c * routers_per_chip + router_of_local(sys.gateway));
                gw_in.push(b.link(router, g, gw_bw, noc.eject, LinkClass::Gateway));
                gw_out.push(b.link(g, router, gw_bw, noc.inject, LinkClass::Gateway));
                gateway.push(g);
            }
            // The payload a link carries: its peak times the protocol's efficiency.
            let eff = sys.link_efficiency;
            let (bw, lat) = (BytesPerCycle(sys.link_bw.0 * eff), sys.link_latency);
            match sys.topology {
                SystemTopology::Single => {}
                SystemTopology::Switch => {
                    let s = b.node(sys.switch_latency);
                    for &g in &gateway {
                        b.pair(g, s, bw, lat, LinkClass::ChipLink);
                    }
                    switch = Some(s);
                }
                SystemTopology::Ring => {
                    if chips == 2 {
                        b.pair(gateway[0], gateway[1], bw, lat, LinkClass::ChipLink);
                    } else {
                        for c in 0..chips {
                            b.pair(
                                gateway[c as usize],
                                gateway[((c + 1) % chips) as usize],
                                bw,
                                lat,
                                LinkClass::ChipLink,
                            );
                        }
                    }
                }
                SystemTopology::Torus { x, y } => {
                    let g = |i: u32, j: u32| gateway[(j * x + i) as usize];
                    for j in 0..y {
                        for i in 0..x {
                            if i + 1 < x {
                                b.pair(g(i, j), g(i + 1, j), bw, lat, LinkClass::ChipLink);
                            } else if x > 2 {
                                b.pair(g(i, j), g(0, j), bw, lat, LinkClass::ChipLink);
                            }
                            if j + 1 < y {
                                b.pair(g(i, j), g(i, j + 1), bw, lat, LinkClass::ChipLink);
                            } else if y > 2 {
                                b.pair(g(i, j), g(i, 0), bw, lat, LinkClass::ChipLink);
                            }
                        }
                    }
                }
                SystemTopology::FullyConnected => {
                    for a in 0..chips as usize {
                        for c in a + 1..chips as usize {
                            b.pair(gateway[a], gateway[c], bw, lat, LinkClass::ChipLink);
                        }
                    }
                }
                SystemTopology::Dragonfly { group_size: gs } => {
                    let groups = chips / gs;
                    for grp in 0..groups {
                        for a in 0..gs {
                            for c in a + 1..gs {
                                let (ga, gc) = (gateway[(grp * gs + a) as usize], gateway[(grp * gs + c) as usize]);
                                b.pair(ga, gc, bw, lat, LinkClass::ChipLink);
                            }
                        }
                    }
                    for ga in 0..groups {
                        for gb in ga + 1..groups {
                            let (ca, cb) = Self::global_ends(gs, ga, gb);
                            b.pair(
                                gateway[ca as usize],
                                gateway[cb as usize],
                                BytesPerCycle(sys.global_link_bw.0 * eff),
                                lat,
                                LinkClass::GlobalLink,
                            );
                        }
                    }
                }
            }
        }
        let node_count = b.node_delay.len() as u32;
        let mut adj: Vec<Vec<(NodeId, LinkId)>> = vec![Vec::new(); node_count as usize];
        for (i, l) in b.links.iter().enumerate() {
            adj[l.from.index()].push((l.to, LinkId::from_index(i)));
        }
        let state = vec![LinkState::default(); b.links.len()];
        let routers = chips * routers_per_chip;
        let vcs = noc.vcs.map(|per_port| Vcs {
            per_port: per_port as usize,
            credit_ticks: noc.credit.0 * FRAC,
            limited: b.links.iter().map(|l| l.to.0 < routers).collect(),
            ring: ring_links(topo, routers_per_chip, routers, &b.links),
            class1: (per_port - per_port / 2) as usize,
            release: vec![0; b.links.len() * per_port as usize],
            waiting: vec![VecDeque::new(); 2 * b.links.len()],
        });
        Network {
            links: b.links,
            state,
            vcs,
            node_delay: b.node_delay,
            adj,
            topo,
            sys: sys.topology,
            chips,
            tiles_per_chip,
            routers_per_chip,
            level_base,
            arity,
            tile_inject,
            tile_eject,
            stacks_per_chip,
            stack_attach,
            stack_in,
            stack_out,
            gateway_tile: sys.gateway,
            gateway,
            gw_in,
            gw_out,
            switch,
            node_count,
        }
    }

    /// Chips at the two ends of the global link between groups `ga` < `gb`.
    fn global_ends(gs: u32, ga: u32, gb: u32) -> (u32, u32) {
        (ga * gs + gb % gs, gb * gs + ga % gs)
    }

    pub fn node_count(&self) -> u32 {
        self.node_count
    }

    pub fn chip_of(&self, t: TileId) -> ChipId {
        ChipId(t.0 / self.tiles_per_chip)
    }

    fn local_router(&self, local_tile: u32) -> u32 {
        local_router(self.topo, local_tile)
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
        let mut cur = a;
        let step = |out: &mut Vec<LinkId>, from: u32, to: u32| {
            out.push(self.link_to(self.router_node(chip, from), self.router_node(chip, to)));
        };
        match self.topo {
            NocTopology::Crossbar { .. } => {}
            NocTopology::Mesh { x, y } | NocTopology::Torus { x, y } => {
                let wrap = matches!(self.topo, NocTopology::Torus { .. });
                while let Some(next) = dor_next(cur, b, x, y, wrap, Tie::Balanced) {
                    step(out, cur, next);
                    cur = next;
                }
            }
            NocTopology::Ring { n } => {
                while let Some(next) = dor_next(cur, b, n, 1, true, Tie::Balanced) {
                    step(out, cur, next);
                    cur = next;
                }
            }
            NocTopology::FatTree { .. } => {
                // Climb from both leaves to the lowest common ancestor.
                let mut up = Vec::new();
                let mut down = Vec::new();
                let (mut ia, mut ib) = (a, b); // indices within the level
                let mut level = 0;
                while ia != ib {
                    let (pa, pb) = (ia / self.arity, ib / self.arity);
                    let base = self.level_base[level];
                    let pbase = self.level_base[level + 1];
                    up.push((base + ia, pbase + pa));
                    down.push((pbase + pb, base + ib));
                    ia = pa;
                    ib = pb;
                    level += 1;
                }
                for (f, t) in up {
                    step(out, f, t);
                }
                for (f, t) in down.into_iter().rev() {
                    step(out, f, t);
                }
            }
        }
    }

    /// Appends the chip-to-chip links from chip `a`'s gateway to chip `b`'s.
    fn system_path(&self, a: u32, b: u32, out: &mut Vec<LinkId>) {
        let g = |c: u32| self.gateway[c as usize];
        let hop = |out: &mut Vec<LinkId>, from: u32, to: u32| out.push(self.link_to(g(from), g(to)));
        let n = self.chips;
        match self.sys {
            SystemTopology::Single => unreachable!("one chip has no system path"),
            SystemTopology::Switch => {
                let s = self.switch.expect("switch system has a switch node");
                out.push(self.link_to(g(a), s));
                out.push(self.link_to(s, g(b)));
            }
            SystemTopology::FullyConnected => hop(out, a, b),
            SystemTopology::Ring | SystemTopology::Torus { .. } => {
                let (x, y) = match self.sys {
                    SystemTopology::Torus { x, y } => (x, y),
                    _ => (n, 1),
                };
                let mut cur = a;
                while let Some(next) = dor_next(cur, b, x, y, true, Tie::Positive) {
                    hop(out, cur, next);
                    cur = next;
                }
            }
            SystemTopology::Dragonfly { group_size: gs } => {
                let (ga, gb) = (a / gs, b / gs);
                if ga == gb {
                    hop(out, a, b);
                } else {
                    let (ca, cb) = if ga < gb {
                        Self::global_ends(gs, ga, gb)
                    } else {
                        let (x, y) = Self::global_ends(gs, gb, ga);
                        (y, x)
                    };
                    if a != ca {
                        hop(out, a, ca);
                    }
                    hop(out, ca, cb);
                    if cb != b {
                        hop(out, cb, b);
                    }
                }
            }
        }
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

    /// Cycles between a head entering link `l` and entering the next link.
    pub fn hop_delay(&self, l: LinkId) -> Cycles {
        let link = &self.links[l.index()];
        link.latency + self.node_delay[link.to.index()]
    }

    /// Zero-load latency of a route for a packet of `bytes` (head latency
    /// plus the slowest link's serialization).
    pub fn zero_load(&self, route: &[LinkId], bytes: u64) -> Cycles {
        let mut head = Cycles::ZERO;
        for (i, &l) in route.iter().enumerate() {
            head += if i + 1 == route.len() { self.links[l.index()].latency } else { self.hop_delay(l) };
        }
        let ser = route.iter().map(|&l| self.links[l.index()].bw.cycles_for(crate::units::Bytes(bytes)).0).max();
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
    /// leads into, for packet `p` whose head is at the link's input.
    /// Queues `p` when none can be had or others already wait for that
    /// class (they go first).
    pub fn vc_acquire(&mut self, l: LinkId, class: u8, p: u32) -> VcGrant {
        let Some(v) = &mut self.vcs else { return VcGrant::Unlimited };
        if !v.limited[l.index()] {
            return VcGrant::Unlimited;
        }
        let (class, range) = v.range(l, class);
        let queue = 2 * l.index() + usize::from(class);
        let base = l.index() * v.per_port;
        let slots = &mut v.release[base + range.start..base + range.end];
        let (i, &t) = slots.iter().enumerate().min_by_key(|&(_, &t)| t).expect("at least one VC per class");
        if t == HELD || !v.waiting[queue].is_empty() {
            v.waiting[queue].push_back(p);
            return VcGrant::Wait;
        }
        slots[i] = HELD;
        VcGrant::Granted { vc: Vc { link: l, index: (range.start + i) as u16 }, not_before: t }
    }

    /// The packet holding `vc` has its tail out of the router at `tail_out`
    /// ticks: the VC is free a credit delay later. Hands it straight to the
    /// first packet waiting for that port and class, if any: returns that
    /// packet and its grant.
    pub fn vc_release(&mut self, vc: Vc, tail_out: u64) -> Option<(u32, VcGrant)> {
        let v = self.vcs.as_mut().expect("a VC was granted, so VCs are modelled");
        let at = tail_out + v.credit_ticks;
        let slot = vc.link.index() * v.per_port + vc.index as usize;
        let queue = 2 * vc.link.index() + usize::from(v.class_of(vc));
        match v.waiting[queue].pop_front() {
            Some(p) => Some((p, VcGrant::Granted { vc, not_before: at })),
            None => {
                v.release[slot] = at;
                None
            }
        }
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
        (bytes as f64 * self.links[l.index()].ticks_per_byte).ceil() as u64
    }

    /// A packet head of `bytes` reaches link `l` at `head` and may not
    /// start before `not_before` ticks (its VC's release); its tail can
    /// reach the link no earlier than `tail_in` ticks. Occupies the link and
    /// returns when the tail leaves it (ticks) and when the head was sent.
    pub fn traverse(&mut self, l: LinkId, head: Cycle, not_before: u64, tail_in: u64, bytes: u64) -> (Cycle, u64) {
        let link = &self.links[l.index()];
        let st = &mut self.state[l.index()];
        let start = (head.0 * FRAC).max(not_before).max(st.busy_until);
        let ser = (bytes as f64 * link.ticks_per_byte).ceil() as u64;
        let tail_out = (start + ser).max(tail_in);
        st.busy_until = tail_out;
        st.busy_ticks += ser;
        st.bytes += bytes;
        st.packets += 1;
        (Cycle(start.div_ceil(FRAC)), tail_out)
    }
}

/// Per link, its place in a torus or ring dimension when that dimension
/// wraps around (router-to-router links only; a dimension of two routers
/// has no wrap-around link but is marked too, harmlessly: each of its
/// routes is one hop). Empty for other topologies.
fn ring_links(topo: NocTopology, per_chip: u32, routers: u32, links: &[Link]) -> Vec<Option<RingLink>> {
    let (x, y) = match topo {
        NocTopology::Torus { x, y } => (x, y),
        NocTopology::Ring { n } => (n, 1),
        _ => return Vec::new(),
    };
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

/// The router (chip-local index) a tile attaches to.
fn local_router(topo: NocTopology, local_tile: u32) -> u32 {
    match topo {
        NocTopology::Crossbar { .. } => 0,
        NocTopology::FatTree { arity, .. } => local_tile / arity,
        _ => local_tile,
    }
}

/// Which way a route goes round a ring when both ways are equally short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tie {
    /// Always the positive way (chip-to-chip rings and tori).
    Positive,
    /// The positive way from an even coordinate, the negative way from an
    /// odd one, so half of the ties go each way (on-chip tori and rings;
    /// BookSim2's `dor_next_torus` picks at random).
    Balanced,
}

/// The next node from `cur` toward `dst` on an x by y grid (node = j*x + i)
/// in dimension order, x first, or `None` at `dst`; `wrap` for a torus (a
/// ring is an n by 1 torus).
fn dor_next(cur: u32, dst: u32, x: u32, y: u32, wrap: bool, tie: Tie) -> Option<u32> {
    let (cx, cy, bx, by) = (cur % x, cur / x, dst % x, dst / x);
    if cx != bx {
        Some(cy * x + dir_step(cx, bx, x, wrap, tie))
    } else if cy != by {
        Some(dir_step(cy, by, y, wrap, tie) * x + cx)
    } else {
        None
    }
}

/// One step from `cur` toward `dst` along a dimension of size `n`, taking
/// the shorter way around when `wrap`. A tie arises only where a route
/// enters the dimension (one step on, the way it took is shorter).
fn dir_step(cur: u32, dst: u32, n: u32, wrap: bool, tie: Tie) -> u32 {
    if !wrap {
        return if dst > cur { cur + 1 } else { cur - 1 };
    }
    let fwd = (dst + n - cur) % n;
    let positive = fwd < n - fwd || (fwd == n - fwd && (tie == Tie::Positive || cur.is_multiple_of(2)));
    if positive { (cur + 1) % n } else { (cur + n - 1) % n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_step_takes_short_way() {
        let p = Tie::Positive;
        assert_eq!(dir_step(0, 3, 8, false, p), 1);
        assert_eq!(dir_step(0, 7, 8, true, p), 7);
        assert_eq!(dir_step(0, 4, 8, true, p), 1);
        assert_eq!(dir_step(5, 1, 8, false, p), 4);
        // Balanced ties: even coordinates go positive, odd ones negative.
        let b = Tie::Balanced;
        assert_eq!(dir_step(0, 4, 8, true, b), 1);
        assert_eq!(dir_step(1, 5, 8, true, b), 0);
        assert_eq!(dir_step(1, 4, 8, true, b), 2);
    }
}
