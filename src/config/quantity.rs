//! Human-unit quantities in config files ("80 GiB", "3.35 TB/s", "500 ns",
//! "1.83 GHz", "700 W"), parsed once when the file is read and converted to
//! the simulator's units (bytes, bytes per cycle, cycles) when the chip is
//! derived.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || c == '_' || c == 'e' || c == 'E' || c == '-' || c == '+'))
        .map_or(s.len(), |(i, _)| i);
    // "e" may start a unit ("EB"), so back off an exponent that has no digits after it.
    let (mut num, mut rest) = (&s[..end], &s[end..]);
    while num.ends_with(['e', 'E', '+', '-']) {
        let cut = num.len() - 1;
        rest = &s[cut..];
        num = &s[..cut];
    }
    let v: f64 = num.replace('_', "").parse().ok()?;
    Some((v, rest.trim()))
}

/// Defines a quantity type parsed from a string with one of several units.
macro_rules! quantity {
    ($(#[$m:meta])* $name:ident, $what:literal, $example:literal, [$($unit:literal => $factor:expr),* $(,)?]) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
        pub struct $name(pub f64, pub Per);

        impl $name {
            pub const UNITS: &'static [&'static str] = &[$($unit),*];
            pub fn parse(s: &str) -> Result<Self, String> {
                let bad = || format!(
                    "expected {} with a unit like \"{}\" (units: {}), found \"{}\"",
                    $what, $example, Self::UNITS.join(", "), s
                );
                let (v, unit) = split_number(s).ok_or_else(bad)?;
                let (factor, per): (f64, Per) = match unit {
                    $($unit => $factor,)*
                    _ => return Err(bad()),
                };
                if !v.is_finite() {
                    return Err(bad());
                }
                if v < 0.0 {
                    return Err(format!("expected a non-negative {}, found \"{}\"", &$what[2..], s));
                }
                Ok($name(v * factor, per))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} as a string with a unit, like \"{}\"", $what, $example)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$name, E> {
                        $name::parse(s).map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        Err(E::custom(format!(
                            "expected {} with a unit like \"{}\", found the bare number {v}", $what, $example
                        )))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        Err(E::custom(format!(
                            "expected {} with a unit like \"{}\", found the bare number {v}", $what, $example
                        )))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

const KI: f64 = 1024.0;

/// Whether a quantity was given per second (absolute) or per clock cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd)]
pub enum Per {
    Absolute,
    Cycle,
}
use Per::{Absolute as A, Cycle as C};

quantity!(
    /// A size in bytes.
    Size, "a size", "80 GiB",
    ["B" => (1.0, A), "KB" => (1e3, A), "MB" => (1e6, A), "GB" => (1e9, A), "TB" => (1e12, A),
     "KiB" => (KI, A), "MiB" => (KI * KI, A), "GiB" => (KI * KI * KI, A), "TiB" => (KI * KI * KI * KI, A)]
);

quantity!(
    /// A bandwidth in bytes per second, or bytes per cycle (resolved against
    /// the chip clock by `Rate::bytes_per_cycle`).
    Rate, "a bandwidth", "3.35 TB/s",
    ["B/s" => (1.0, A), "KB/s" => (1e3, A), "MB/s" => (1e6, A), "GB/s" => (1e9, A), "TB/s" => (1e12, A), "PB/s" => (1e15, A),
     "Gb/s" => (1e9 / 8.0, A), "Tb/s" => (1e12 / 8.0, A), "Pb/s" => (1e15 / 8.0, A),
     "B/cycle" => (1.0, C)]
);

quantity!(
    /// A time in seconds, or in cycles of the chip clock.
    Time, "a time", "500 ns",
    ["ps" => (1e-12, A), "ns" => (1e-9, A), "us" => (1e-6, A), "µs" => (1e-6, A), "ms" => (1e-3, A), "s" => (1.0, A),
     "cycle" => (1.0, C), "cycles" => (1.0, C)]
);

quantity!(
    /// A clock frequency in Hz.
    Frequency, "a frequency", "1.83 GHz",
    ["Hz" => (1.0, A), "kHz" => (1e3, A), "MHz" => (1e6, A), "GHz" => (1e9, A)]
);

quantity!(
    /// A power in watts.
    Power, "a power", "700 W",
    ["W" => (1.0, A), "kW" => (1e3, A), "MW" => (1e6, A)]
);

quantity!(
    /// An energy per operation in joules ("0.3 pJ").
    Energy, "an energy", "0.3 pJ",
    ["fJ" => (1e-15, A), "pJ" => (1e-12, A), "nJ" => (1e-9, A), "uJ" => (1e-6, A), "µJ" => (1e-6, A), "J" => (1.0, A)]
);

quantity!(
    /// An energy per byte moved, in joules per byte ("31 pJ/B", or per bit
    /// as interfaces are quoted: "3.9 pJ/bit").
    EnergyPerByte, "an energy per byte", "3.9 pJ/bit",
    ["fJ/B" => (1e-15, A), "pJ/B" => (1e-12, A), "nJ/B" => (1e-9, A),
     "fJ/bit" => (8e-15, A), "pJ/bit" => (8e-12, A), "nJ/bit" => (8e-9, A)]
);

impl Size {
    pub fn bytes(self) -> u64 {
        self.0.round() as u64
    }
}

impl Rate {
    /// Bytes per cycle at clock `hz`.
    pub fn bytes_per_cycle(self, hz: f64) -> f64 {
        match self.1 {
            Per::Cycle => self.0,
            Per::Absolute => self.0 / hz,
        }
    }
    /// Bytes per second at clock `hz`.
    pub fn bytes_per_second(self, hz: f64) -> f64 {
        match self.1 {
            Per::Cycle => self.0 * hz,
            Per::Absolute => self.0,
        }
    }
}

impl Time {
    /// Cycles at clock `hz` (fractional).
    pub fn cycles(self, hz: f64) -> f64 {
        match self.1 {
            Per::Cycle => self.0,
            Per::Absolute => self.0 * hz,
        }
    }
    /// Whole cycles at clock `hz`, rounded to nearest.
    pub fn whole_cycles(self, hz: f64) -> crate::units::Cycles {
        crate::units::Cycles(self.cycles(hz).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(Size::parse("80 GiB").unwrap().0, 80.0 * 1024.0 * 1024.0 * 1024.0);
        assert_eq!(Size::parse("230MB").unwrap().0, 230e6);
        assert!((Rate::parse("3.35 TB/s").unwrap().bytes_per_second(1e9) - 3.35e12).abs() < 1.0);
        assert_eq!(Rate::parse("64 B/cycle").unwrap().bytes_per_cycle(2e9), 64.0);
        assert!((Rate::parse("214 Pb/s").unwrap().0 - 26.75e15).abs() < 1e6);
        assert!((Time::parse("500 ns").unwrap().cycles(2e9) - 1000.0).abs() < 1e-9);
        assert_eq!(Time::parse("3 cycles").unwrap().cycles(1e9), 3.0);
        assert!((Frequency::parse("1.83 GHz").unwrap().0 - 1.83e9).abs() < 1.0);
        assert_eq!(Size::parse("1e3 B").unwrap().0, 1000.0);
        assert_eq!(Size::parse("1 EB").ok(), None);
        assert!(Time::parse("-5 ns").unwrap_err().contains("non-negative"));
    }

    #[test]
    fn parses_energies() {
        assert!((Energy::parse("0.3 pJ").unwrap().0 - 0.3e-12).abs() < 1e-24);
        assert!((Energy::parse("450 fJ").unwrap().0 - 0.45e-12).abs() < 1e-24);
        assert!((EnergyPerByte::parse("3.9 pJ/bit").unwrap().0 - 31.2e-12).abs() < 1e-22);
        assert!((EnergyPerByte::parse("2 pJ/B").unwrap().0 - 2e-12).abs() < 1e-24);
        assert!(Energy::parse("3 pJ/B").unwrap_err().contains("expected an energy"));
        assert!(EnergyPerByte::parse("3 pJ").unwrap_err().contains("expected an energy per byte"));
        assert!(Energy::parse("-1 pJ").unwrap_err().contains("non-negative"));
    }

    #[test]
    fn rejects_wrong_units() {
        let e = Size::parse("80 Gb").unwrap_err();
        assert!(e.contains("expected a size"), "{e}");
        assert!(Rate::parse("3.35 TB").is_err());
        assert!(Time::parse("fast").is_err());
    }
}
