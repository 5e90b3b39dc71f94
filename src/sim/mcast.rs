//! Multicast routes: the union of the deterministic routes from one tile
//! to every member of a group, each link once (arch/timing.md,
//! "Multicast"). A packet walks the tree and is copied where it branches,
//! as a fabric that replicates packets in its routers does; each branch
//! then contends for its links like any packet.

use super::network::{End, Network};
use crate::ids::{LinkId, TileId};

/// The tree of links a multicast crosses. Node `i` is link `links[i]`;
/// its children are `kids[first[i]..first[i + 1]]`; a node whose link ends
/// at a destination's interface delivers to destination `dest[i]`.
#[derive(Debug)]
pub struct Tree {
    pub links: Vec<LinkId>,
    /// Dateline VC class of each node on a torus or ring
    /// (`Network::vc_class` of the first route through it; 0 elsewhere).
    pub class: Vec<u8>,
    first: Vec<u32>,
    kids: Vec<u32>,
    dest: Vec<u32>,
    /// Nodes the message starts on (the sender's injection link).
    pub roots: Vec<u32>,
    /// Destination tiles, in group order.
    pub tiles: Vec<TileId>,
}

const NONE: u32 = u32::MAX;

/// Where a packet goes after a tree node.
pub enum Next<'a> {
    /// It has reached destination `.0`.
    Deliver(u32),
    /// It continues on every one of these nodes.
    Children(&'a [u32]),
}

impl Tree {
    /// The tree from `from` to every tile of `members` other than `from`.
    pub fn build(net: &Network, from: TileId, members: &[TileId]) -> Tree {
        // Built as a trie of route prefixes: children lists per node, then
        // flattened.
        let mut links: Vec<LinkId> = Vec::new();
        let mut class: Vec<u8> = Vec::new();
        let mut children: Vec<Vec<u32>> = Vec::new();
        let mut dest: Vec<u32> = Vec::new();
        let mut roots: Vec<u32> = Vec::new();
        let mut tiles = Vec::new();
        let mut route = Vec::new();
        for &m in members.iter().filter(|&&m| m != from) {
            net.route(End::Tile(from), End::Tile(m), &mut route);
            let mut parent: Option<u32> = None;
            for (hop, &l) in route.iter().enumerate() {
                let siblings = match parent {
                    Some(p) => &children[p as usize],
                    None => &roots,
                };
                let node = match siblings.iter().copied().find(|&n| links[n as usize] == l) {
                    Some(n) => n,
                    None => {
                        let n = links.len() as u32;
                        links.push(l);
                        class.push(net.vc_class(&route, hop));
                        children.push(Vec::new());
                        dest.push(NONE);
                        match parent {
                            Some(p) => children[p as usize].push(n),
                            None => roots.push(n),
                        }
                        n
                    }
                };
                parent = Some(node);
            }
            let last = parent.expect("a route has at least one link");
            dest[last as usize] = tiles.len() as u32;
            tiles.push(m);
        }
        let mut first = Vec::with_capacity(links.len() + 1);
        let mut kids = Vec::new();
        for c in &children {
            first.push(kids.len() as u32);
            kids.extend_from_slice(c);
        }
        first.push(kids.len() as u32);
        Tree { links, class, first, kids, dest, roots, tiles }
    }

    /// What follows node `i`.
    pub fn next(&self, i: u32) -> Next<'_> {
        let i = i as usize;
        if self.dest[i] != NONE {
            return Next::Deliver(self.dest[i]);
        }
        Next::Children(&self.kids[self.first[i] as usize..self.first[i + 1] as usize])
    }
}
