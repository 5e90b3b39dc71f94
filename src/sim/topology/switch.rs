//! Chips on one switch: every gateway has a link each way to the switch
//! (node `chips`), and every route goes gateway -> switch -> gateway.

use super::{Fabric, Wire};

pub struct Switch {
    pub chips: u32,
}

impl Fabric for Switch {
    fn extra_nodes(&self) -> u32 {
        1
    }
    fn links(&self, pair: &mut dyn FnMut(u32, u32, Wire)) {
        for g in 0..self.chips {
            pair(g, self.chips, Wire::Chip);
        }
    }
    fn route(&self, a: u32, b: u32, hop: &mut dyn FnMut(u32, u32)) {
        hop(a, self.chips);
        hop(self.chips, b);
    }
}
