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

/// A `--kv-keep` share, in 2^-24 ..= 1 (arch/limits.md: a smaller share
/// of a context of at most 2^24 reads the same one position).
pub fn kv_keep(s: &str) -> Result<f64, String> {
    let v: f64 = trimmed(s)?;
    if (tilesim::limits::MIN_FRACTION..=1.0).contains(&v) {
        return Ok(v);
    }
    Err(format!(
        "`{}`: --kv-keep must be in (0, 1], at least 2^-24 (5.96e-8): the share of the KV cache each attention \
         reads, of a context of at most 2^24 (arch/limits.md)",
        tilesim::limits::excerpt(s.trim())
    ))
}

/// An `--accept-rate`: 0, or 2^-24 ..= 1 (arch/limits.md: a smaller rate
/// moves the tokens a pass yields by less than 2^-24).
pub fn accept_rate(s: &str) -> Result<f64, String> {
    let v: f64 = trimmed(s)?;
    if v == 0.0 || (tilesim::limits::MIN_FRACTION..=1.0).contains(&v) {
        return Ok(v.abs());
    }
    Err(format!(
        "`{}`: --accept-rate must be in [0, 1], 0 or at least 2^-24 (5.96e-8): the probability a drafted token \
         is accepted (arch/limits.md)",
        tilesim::limits::excerpt(s.trim())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_bounded_below() {
        assert_eq!(kv_keep(" 0.5"), Ok(0.5));
        assert_eq!(kv_keep("1"), Ok(1.0));
        assert!(kv_keep("5.9604644775390625e-8").is_ok());
        for bad in ["1e-300", "0", "-0.1", "1.5", "nan", "inf"] {
            assert!(kv_keep(bad).unwrap_err().contains("at least 2^-24"), "{bad}");
        }
        assert_eq!(accept_rate("0"), Ok(0.0));
        assert_eq!(accept_rate("-0"), Ok(0.0));
        assert_eq!(accept_rate("0.8"), Ok(0.8));
        for bad in ["1e-300", "-0.5", "1.0001", "nan"] {
            assert!(accept_rate(bad).unwrap_err().contains("0 or at least 2^-24"), "{bad}");
        }
    }

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
