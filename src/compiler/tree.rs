//! Trees over members 0..n for on-chip broadcasts and reductions.
//!
//! A node rooting the range [lo, hi) splits it into ARITY near-equal parts,
//! hands the first member of every part but the first that part, and keeps
//! the first part itself. Member 0 roots the whole range. The tree has n-1
//! edges and depth about log_ARITY(n); when members are numbered along a
//! space-filling curve (see `lower::order`), every part is a compact patch
//! of tiles, so most edges are short.

/// Parts per range: fan-out of each tree level.
pub const ARITY: u64 = 4;

/// Parent and children of member `i` among `n`.
pub fn links(i: u32, n: u32) -> (Option<u32>, Vec<u32>) {
    let i = i as u64;
    let (mut lo, mut hi) = (0u64, n as u64);
    let mut parent = None;
    let mut kids = Vec::new();
    while hi - lo > 1 {
        let len = hi - lo;
        let parts: Vec<(u64, u64)> =
            (0..ARITY).map(|j| (lo + j * len / ARITY, lo + (j + 1) * len / ARITY)).filter(|(s, e)| s < e).collect();
        if i == lo {
            kids.extend(parts[1..].iter().map(|p| p.0 as u32));
            hi = parts[0].1;
            continue;
        }
        let &(s, e) = parts.iter().find(|(s, e)| *s <= i && i < *e).expect("i lies in [lo, hi)");
        if i == s {
            parent = Some(lo as u32);
        }
        lo = s;
        hi = e;
    }
    (parent, kids)
}

/// Depth of a tree of `n` members (0 for one member).
pub fn depth(n: u32) -> u32 {
    (0..n)
        .map(|i| {
            let mut d = 0;
            let mut m = i;
            while let (Some(p), _) = links(m, n) {
                m = p;
                d += 1;
            }
            d
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_but_the_root_has_one_parent_that_lists_it() {
        for n in [1u32, 2, 3, 4, 5, 7, 16, 17, 100] {
            let mut edges = 0;
            for i in 0..n {
                let (p, kids) = links(i, n);
                assert_eq!(p.is_none(), i == 0, "n={n} i={i}");
                for k in kids {
                    assert_eq!(links(k, n).0, Some(i), "n={n} parent of {k}");
                    edges += 1;
                }
            }
            assert_eq!(edges, n.saturating_sub(1), "n={n}");
        }
        assert_eq!(links(0, 16).1, vec![4, 8, 12, 1, 2, 3]);
        assert_eq!(depth(1), 0);
        assert_eq!(depth(16), 2);
        assert_eq!(depth(64), 3);
    }
}
