//! Value parsers shared by the flags: list items with spaces around them
//! (`--batch "1, 8"`), sizes with units (`--bytes 16MiB`).

use clap::ValueEnum;
use std::fmt::Display;
use std::str::FromStr;

/// A value with the spaces around it ignored, so a comma list may be
/// written `"1, 8, 64"`.
pub fn trimmed<T: FromStr>(s: &str) -> Result<T, String>
where
    T::Err: Display,
{
    s.trim().parse().map_err(|e: T::Err| format!("`{}`: {e}", s.trim()))
}

/// A `ValueEnum` item, spaces around it ignored.
pub fn variant<T: ValueEnum>(s: &str) -> Result<T, String> {
    let t = s.trim();
    T::from_str(t, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().to_string())
            .collect();
        format!("`{t}` is not one of {}", names.join(", "))
    })
}

/// A size in bytes: a plain integer, or a number with a unit as in the
/// config files (`16MiB`, `16 MiB`, `1.5 GB`; `tilesim::config::quantity`).
pub fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if let Ok(n) = t.replace('_', "").parse::<u64>() {
        return Ok(n);
    }
    let q = tilesim::config::quantity::Size::parse(t)?;
    if q.0.fract() != 0.0 {
        return Err(format!("`{t}` is not a whole number of bytes"));
    }
    // 2^64: past it the conversion saturates to a size nobody asked for.
    if q.0 >= 18_446_744_073_709_551_616.0 {
        return Err(format!("`{t}` is 2^64 bytes or more (expected a size below 16 EiB, 2^64 bytes)"));
    }
    Ok(q.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units_or_none() {
        assert_eq!(size("16MiB"), Ok(16 << 20));
        assert_eq!(size(" 16 MiB "), Ok(16 << 20));
        assert_eq!(size("16777216"), Ok(16 << 20));
        assert_eq!(size("1 GB"), Ok(1_000_000_000));
        assert!(size("16 Mb").unwrap_err().contains("expected a size"));
        assert!(size("0.5 B").is_err());
        assert!(size("1e30GiB").unwrap_err().contains("below 16 EiB"));
        assert_eq!(size("15000000 TiB"), Ok(15_000_000 << 40));
    }

    #[test]
    fn list_items_may_have_spaces() {
        assert_eq!(trimmed::<u64>(" 8"), Ok(8));
        assert!(trimmed::<u64>("x").unwrap_err().starts_with("`x`"));
    }
}
