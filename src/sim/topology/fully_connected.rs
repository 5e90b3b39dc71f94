//! Every chip linked to every other: a route is one hop.

use super::{Fabric, Wire};

pub struct FullyConnected {
    pub chips: u32,
}

impl Fabric for FullyConnected {
    fn links(&self, pair: &mut dyn FnMut(u32, u32, Wire)) {
        for a in 0..self.chips {
            for c in a + 1..self.chips {
                pair(a, c, Wire::Chip);
            }
        }
    }
    fn route(&self, a: u32, b: u32, hop: &mut dyn FnMut(u32, u32)) {
        hop(a, b);
    }
}
