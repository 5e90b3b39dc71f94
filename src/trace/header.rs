//! The trace header: what the trace was compiled for and what one run of it
//! produces.

use crate::ids::TileId;

#[derive(Clone, Debug, PartialEq, Default)]
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
    /// Tokens one run of the trace produces (all users together); an
    /// expectation, so fractional with speculative decoding.
    pub tokens: f64,
    /// Concurrent users (requests) served by one run.
    pub users: u64,
    /// Barrier groups; index = group id. Each list is sorted and unique.
    pub groups: Vec<Vec<TileId>>,
    /// Statistics window for synthetic traffic, [from, to) cycles: only
    /// messages created in it count toward the NoC latency and throughput
    /// figures (BookSim's warm-up and measurement periods).
    pub measure: Option<(u64, u64)>,
}

impl Header {
    /// Checks that the header can be written as text and read back: names
    /// are single words, the workload one line, nothing holds a `#`.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_field().map_err(|(_, m)| m)
    }

    /// `validate`, naming the field at fault (`chip`, `model`, `workload`,
    /// `tokens`, `tiles`, `groups`) so a reader can point at it.
    pub fn validate_field(&self) -> Result<(), (&'static str, String)> {
        use crate::limits::excerpt;
        let word = |field: &'static str, what: &str, v: &str, may_be_empty: bool| {
            if v.is_empty() && !may_be_empty {
                return Err((field, format!("the header's {what} is empty")));
            }
            if v.contains(char::is_whitespace) || v.contains('#') {
                return Err((field, format!("the header's {what} `{}` must be one word without `#`", excerpt(v))));
            }
            Ok(())
        };
        word("chip", "chip name", &self.chip, false)?;
        word("model", "model name", &self.model, true)?;
        let w = &self.workload;
        if w.contains(['#', '\n', '\r']) || w.trim() != w {
            return Err((
                "workload",
                format!("the header's workload `{}` must be one line without `#` or surrounding spaces", excerpt(w)),
            ));
        }
        let max = crate::limits::MAX_HEADER_STRING_BYTES as usize;
        for (field, v) in [("chip", &self.chip), ("model", &self.model), ("workload", w)] {
            if v.len() > max {
                return Err((
                    field,
                    format!("the header's {field} is {} bytes long, more than the {max} allowed", v.len()),
                ));
            }
        }
        if !(self.tokens.is_finite() && self.tokens >= 0.0) {
            return Err(("tokens", format!("the header's token count {} must be a finite number >= 0", self.tokens)));
        }
        if self.tiles == 0 || self.tiles > super::MAX_TILES {
            return Err((
                "tiles",
                format!("the header's tile count {} is outside 1..={}", self.tiles, super::MAX_TILES),
            ));
        }
        let members: u64 = self.groups.iter().map(|g| g.len() as u64).sum();
        if members > super::group_budget(self.tiles) {
            return Err(("groups", super::too_many_members(self.tiles, members)));
        }
        Ok(())
    }
}

/// Why a tile set was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileSetError {
    Syntax(String),
    /// A tile at or beyond the limit.
    OutOfRange(u32),
    /// More members than the budget allows (at least this many).
    TooMany(u64),
}

/// Parses a tile set such as `0-7,12,16-31/4` (ranges inclusive, optional
/// stride) of tiles below `limit`. Returns the sorted list; duplicates are
/// an error. Bounds are checked before ranges are expanded.
pub fn parse_tile_set(s: &str, limit: u32) -> Result<Vec<TileId>, TileSetError> {
    parse_tile_set_within(s, limit, u64::MAX)
}

/// `parse_tile_set` of at most `budget` members, counted before anything
/// is expanded.
pub fn parse_tile_set_within(s: &str, limit: u32, budget: u64) -> Result<Vec<TileId>, TileSetError> {
    use TileSetError::Syntax;
    let mut out = Vec::new();
    let mut count = 0u64;
    for part in s.split(',') {
        let bad =
            || Syntax(format!("expected a tile set like `0-7,12,16-31/4`, found `{}`", crate::limits::excerpt(part)));
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
            return Err(Syntax(format!("tile range `{part}` is empty (end before start)")));
        }
        if hi >= limit {
            return Err(TileSetError::OutOfRange(hi));
        }
        count += ((hi - lo) / stride) as u64 + 1;
        if count > budget {
            return Err(TileSetError::TooMany(count));
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
        return Err(Syntax(format!("tile set `{}` names a tile more than once", crate::limits::excerpt(s))));
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
        let p = |s: &str| parse_tile_set(s, 2000);
        for s in ["0-7", "0,2", "0-30/2,31", "5", "0-575/8,1000-1003"] {
            let v = p(s).unwrap();
            assert_eq!(p(&write_tile_set(&v)).unwrap(), v, "{s}");
        }
        assert_eq!(write_tile_set(&p("3,1,2").unwrap()), "1-3");
        assert!(p("1,1").is_err());
        assert!(p("4-2").is_err());
        assert!(p("a").is_err());
        // Out-of-range bounds are rejected before the range is expanded.
        assert_eq!(parse_tile_set("0-4294967295", 16), Err(TileSetError::OutOfRange(4294967295)));
    }
}
