//! k-ary trees over a contiguous range of positions, for on-chip
//! broadcasts and reductions. Position 0 is the root; the children of p are
//! ARITY*p+1 ..= ARITY*p+ARITY.

/// Children per tree node: enough fan-out for shallow trees on thousands
/// of tiles without overloading one tile's port.
pub const ARITY: u32 = 4;

pub fn parent(p: u32) -> Option<u32> {
    if p == 0 { None } else { Some((p - 1) / ARITY) }
}

pub fn children(p: u32, n: u32) -> impl Iterator<Item = u32> {
    let first = p as u64 * ARITY as u64 + 1;
    (first..first + ARITY as u64).filter(move |&c| c < n as u64).map(|c| c as u32)
}

/// Depth of a tree of `n` nodes (0 for one node).
pub fn depth(n: u32) -> u32 {
    let mut d = 0;
    let mut p = n.saturating_sub(1);
    while p > 0 {
        p = (p - 1) / ARITY;
        d += 1;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        assert_eq!(children(0, 10).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(children(2, 10).collect::<Vec<_>>(), vec![9]);
        assert_eq!(parent(9), Some(2));
        assert_eq!(depth(1), 0);
        assert_eq!(depth(5), 1);
        assert_eq!(depth(6), 2);
    }
}
