//! A fat tree: leaf switches of `arity` tiles, each level's switches
//! joined to one parent per `arity` children, up to a single root; a link
//! from level l to l + 1 has link_bandwidth x arity^(l+1). Routes climb to
//! the lowest common ancestor and come down.

use super::OnChip;
use crate::units::BytesPerCycle;

pub struct FatTree {
    arity: u32,
    /// Index of the first switch of each level (leaves first).
    level_base: Vec<u32>,
    routers: u32,
}

impl FatTree {
    pub fn new(n: u32, arity: u32) -> FatTree {
        let mut level_base = vec![0u32];
        let mut width = n.div_ceil(arity);
        let mut total = 0;
        loop {
            total += width;
            if width == 1 {
                break;
            }
            level_base.push(total);
            width = width.div_ceil(arity);
        }
        FatTree { arity, level_base, routers: total }
    }
}

impl OnChip for FatTree {
    fn routers(&self) -> u32 {
        self.routers
    }
    fn attach(&self, local_tile: u32) -> u32 {
        local_tile / self.arity
    }
    fn links(&self, link_bw: BytesPerCycle, pair: &mut dyn FnMut(u32, u32, BytesPerCycle)) {
        // Level l switch i connects up to level l+1 switch i / arity; the
        // link bandwidth grows by `arity` per level.
        let mut bw = link_bw.0;
        for l in 0..self.level_base.len() - 1 {
            bw *= self.arity as f64;
            let width = self.level_base[l + 1] - self.level_base[l];
            for i in 0..width {
                pair(self.level_base[l] + i, self.level_base[l + 1] + i / self.arity, BytesPerCycle(bw));
            }
        }
    }
    fn route(&self, a: u32, b: u32, hop: &mut dyn FnMut(u32, u32)) {
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
            hop(f, t);
        }
        for (f, t) in down.into_iter().rev() {
            hop(f, t);
        }
    }
    fn wrap(&self) -> Option<(u32, u32)> {
        None
    }
}
