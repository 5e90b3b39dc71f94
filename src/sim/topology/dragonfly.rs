//! A dragonfly: groups of `group_size` chips, fully connected inside a
//! group, and one global link between every two groups. Routes are
//! minimal: inside the group to the chip holding the global link, across
//! it, then inside the destination group.

use super::{Fabric, Wire};

pub struct Dragonfly {
    pub chips: u32,
    pub group_size: u32,
}

impl Dragonfly {
    /// Chips at the two ends of the global link between groups `ga` < `gb`.
    fn global_ends(&self, ga: u32, gb: u32) -> (u32, u32) {
        let gs = self.group_size;
        (ga * gs + gb % gs, gb * gs + ga % gs)
    }
}

impl Fabric for Dragonfly {
    fn links(&self, pair: &mut dyn FnMut(u32, u32, Wire)) {
        let gs = self.group_size;
        let groups = self.chips / gs;
        for grp in 0..groups {
            for a in 0..gs {
                for c in a + 1..gs {
                    pair(grp * gs + a, grp * gs + c, Wire::Chip);
                }
            }
        }
        for ga in 0..groups {
            for gb in ga + 1..groups {
                let (ca, cb) = self.global_ends(ga, gb);
                pair(ca, cb, Wire::Global);
            }
        }
    }
    fn route(&self, a: u32, b: u32, hop: &mut dyn FnMut(u32, u32)) {
        let gs = self.group_size;
        let (ga, gb) = (a / gs, b / gs);
        if ga == gb {
            hop(a, b);
            return;
        }
        let (ca, cb) = if ga < gb {
            self.global_ends(ga, gb)
        } else {
            let (x, y) = self.global_ends(gb, ga);
            (y, x)
        };
        if a != ca {
            hop(a, ca);
        }
        hop(ca, cb);
        if cb != b {
            hop(cb, b);
        }
    }
}
