//! The trace header: what the trace was compiled for and what one run of it
//! produces.

use crate::ids::TileId;

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// Name of the chip config the trace was compiled for.
    pub chip: String,
    /// Tiles in the whole system the trace addresses (streams may be absent
    /// for idle tiles).
    pub tiles: u32,
    /// Model name, empty for synthetic traces.
    pub model: String,
    /// Human description of the workload (phase, batch, context, plan...).
    pub workload: String,
    /// Tokens one run of the trace produces (all users together).
    pub tokens: u64,
    /// Concurrent users (requests) served by one run.
    pub users: u64,
    /// Barrier groups; index = group id. Each list is sorted and unique.
    pub groups: Vec<Vec<TileId>>,
    /// Statistics window for synthetic traffic, [from, to) cycles: only
    /// messages created in it count toward the NoC latency and throughput
    /// figures (BookSim's warm-up and measurement periods).
    pub measure: Option<(u64, u64)>,
}

/// Parses a tile set such as `0-7,12,16-31/4` (ranges inclusive, optional
/// stride). Returns the sorted list; duplicates are an error.
pub fn parse_tile_set(s: &str) -> Result<Vec<TileId>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let bad = || format!("expected a tile set like `0-7,12,16-31/4`, found `{part}`");
        let (range, stride) = match part.split_once('/') {
            Some((r, st)) => (r, st.parse::<u32>().ok().filter(|&v| v > 0).ok_or_else(bad)?),
            None => (part, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().map_err(|_| bad())?, b.parse::<u32>().map_err(|_| bad())?),
            None => {
                let v = range.parse::<u32>().map_err(|_| bad())?;
                (v, v)
            }
        };
        if hi < lo {
            return Err(format!("tile range `{part}` is empty (end before start)"));
        }
        let mut t = lo;
        while t <= hi {
            out.push(TileId(t));
            match t.checked_add(stride) {
                Some(n) => t = n,
                None => break,
            }
        }
    }
    out.sort_unstable();
    let before = out.len();
    out.dedup();
    if out.len() != before {
        return Err(format!("tile set `{s}` names a tile more than once"));
    }
    Ok(out)
}

/// Writes a sorted tile set compactly as strided runs; the inverse of
/// `parse_tile_set`.
pub fn write_tile_set(tiles: &[TileId]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < tiles.len() {
        let a = tiles[i].0;
        if i + 2 < tiles.len() {
            let stride = tiles[i + 1].0 - a;
            let mut j = i + 1;
            while j + 1 < tiles.len() && tiles[j + 1].0 - tiles[j].0 == stride {
                j += 1;
            }
            if j - i >= 2 {
                let b = tiles[j].0;
                parts.push(if stride == 1 { format!("{a}-{b}") } else { format!("{a}-{b}/{stride}") });
                i = j + 1;
                continue;
            }
        }
        parts.push(a.to_string());
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_sets_round_trip() {
        for s in ["0-7", "0,2", "0-30/2,31", "5", "0-575/8,1000-1003"] {
            let v = parse_tile_set(s).unwrap();
            assert_eq!(parse_tile_set(&write_tile_set(&v)).unwrap(), v, "{s}");
        }
        assert_eq!(write_tile_set(&parse_tile_set("3,1,2").unwrap()), "1-3");
        assert!(parse_tile_set("1,1").is_err());
        assert!(parse_tile_set("4-2").is_err());
        assert!(parse_tile_set("a").is_err());
    }
}
