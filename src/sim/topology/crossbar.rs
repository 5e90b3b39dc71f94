//! A crossbar: one switch every tile attaches to, so a route has no
//! router-to-router hop.

use super::OnChip;
use crate::units::BytesPerCycle;

pub struct Crossbar;

impl OnChip for Crossbar {
    fn routers(&self) -> u32 {
        1
    }
    fn attach(&self, _local_tile: u32) -> u32 {
        0
    }
    fn links(&self, _link_bw: BytesPerCycle, _pair: &mut dyn FnMut(u32, u32, BytesPerCycle)) {}
    fn route(&self, _a: u32, _b: u32, _hop: &mut dyn FnMut(u32, u32)) {}
    fn wrap(&self) -> Option<(u32, u32)> {
        None
    }
}
