//! Meshes, tori and rings (a ring is an n by 1 torus), on a chip or
//! between chips: routers (or gateways) on an x by y grid, node = j x + i,
//! dimension-order routing, x first (BookSim2's `KNCube` with
//! `dim_order_mesh` / `dim_order_torus`).

use super::{Fabric, OnChip, Wire};
use crate::units::BytesPerCycle;

/// Which way a route goes round a ring when both ways are equally short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tie {
    /// Always the positive way (chip-to-chip rings and tori).
    Positive,
    /// The positive way from an even coordinate, the negative way from an
    /// odd one, so half of the ties go each way (on-chip tori and rings;
    /// BookSim2's `dor_next_torus` picks at random).
    Balanced,
}

pub struct Grid {
    pub x: u32,
    pub y: u32,
    /// Wrap-around links close each dimension (a torus or ring).
    pub wrap: bool,
    pub tie: Tie,
}

impl Grid {
    /// Each neighbour pair once: the next node in x, then in y; with
    /// `wrap`, the last node joins the first of a dimension of more than
    /// two (of two, they are already neighbours).
    fn pairs(&self, pair: &mut dyn FnMut(u32, u32)) {
        let (x, y) = (self.x, self.y);
        for j in 0..y {
            for i in 0..x {
                let me = j * x + i;
                if i + 1 < x {
                    pair(me, j * x + i + 1);
                } else if self.wrap && x > 2 {
                    pair(me, j * x);
                }
                if j + 1 < y {
                    pair(me, (j + 1) * x + i);
                } else if self.wrap && y > 2 {
                    pair(me, i);
                }
            }
        }
    }

    fn walk(&self, a: u32, b: u32, hop: &mut dyn FnMut(u32, u32)) {
        let mut cur = a;
        while let Some(next) = dor_next(cur, b, self.x, self.y, self.wrap, self.tie) {
            hop(cur, next);
            cur = next;
        }
    }
}

impl OnChip for Grid {
    fn routers(&self) -> u32 {
        self.x * self.y
    }
    fn attach(&self, local_tile: u32) -> u32 {
        local_tile
    }
    fn links(&self, link_bw: BytesPerCycle, pair: &mut dyn FnMut(u32, u32, BytesPerCycle)) {
        self.pairs(&mut |a, b| pair(a, b, link_bw));
    }
    fn route(&self, a: u32, b: u32, hop: &mut dyn FnMut(u32, u32)) {
        self.walk(a, b, hop);
    }
    fn wrap(&self) -> Option<(u32, u32)> {
        self.wrap.then_some((self.x, self.y))
    }
}

impl Fabric for Grid {
    fn links(&self, pair: &mut dyn FnMut(u32, u32, Wire)) {
        self.pairs(&mut |a, b| pair(a, b, Wire::Chip));
    }
    fn route(&self, a: u32, b: u32, hop: &mut dyn FnMut(u32, u32)) {
        self.walk(a, b, hop);
    }
}

/// The next node from `cur` toward `dst` on an x by y grid (node = j*x + i)
/// in dimension order, x first, or `None` at `dst`; `wrap` for a torus (a
/// ring is an n by 1 torus).
pub fn dor_next(cur: u32, dst: u32, x: u32, y: u32, wrap: bool, tie: Tie) -> Option<u32> {
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

    /// The contract: every hop of every route joins a pair `links` built.
    #[test]
    fn every_route_hop_is_a_built_link() {
        for (x, y, wrap) in [(4, 3, false), (4, 4, true), (8, 1, true), (2, 1, true), (2, 3, true), (1, 1, false)] {
            let g = Grid { x, y, wrap, tie: Tie::Balanced };
            let mut links = std::collections::HashSet::new();
            OnChip::links(&g, BytesPerCycle(1.0), &mut |a, b, _| {
                assert!(links.insert((a, b)) && links.insert((b, a)), "{x}x{y}: pair {a}-{b} twice");
            });
            for a in 0..x * y {
                for b in 0..x * y {
                    let mut at = a;
                    OnChip::route(&g, a, b, &mut |f, t| {
                        assert_eq!(f, at);
                        assert!(links.contains(&(f, t)), "{x}x{y} wrap {wrap}: {a}->{b} hops {f}->{t}, not a link");
                        at = t;
                    });
                    assert_eq!(at, b, "{x}x{y}: route {a}->{b} ends at {at}");
                }
            }
        }
    }
}
