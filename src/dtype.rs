//! Numeric data types, one table row each.

use std::fmt;
use std::str::FromStr;

macro_rules! dtypes {
    ($($variant:ident $name:literal $bits:literal;)*) => {
        /// Element type of an operand.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Dtype { $($variant),* }
        impl Dtype {
            pub const ALL: &'static [Dtype] = &[$(Dtype::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(Dtype::$variant => $name),* }
            }
            /// Storage size of one element in bits.
            pub fn bits(self) -> u64 {
                match self { $(Dtype::$variant => $bits),* }
            }
        }
    };
}

dtypes! {
    Fp32 "fp32" 32;
    Bf16 "bf16" 16;
    Fp16 "fp16" 16;
    Fp8  "fp8"  8;
    Int8 "int8" 8;
    Int4 "int4" 4;
}

impl Dtype {
    /// Bytes occupied by `n` elements (rounded up to whole bytes),
    /// saturating at `u64::MAX` (a hostile trace's element count times 32
    /// bits overflowed u64).
    pub fn bytes(self, n: u64) -> u64 {
        let bytes = (u128::from(n) * u128::from(self.bits())).div_ceil(8);
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
    pub fn names() -> String {
        Dtype::ALL.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
    }
}

impl FromStr for Dtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Dtype::ALL
            .iter()
            .copied()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("expected a data type ({}), found `{s}`", Dtype::names()))
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Dtype {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Dtype {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_up_and_saturate() {
        assert_eq!(Dtype::Int4.bytes(3), 2);
        assert_eq!(Dtype::Fp32.bytes(5), 20);
        // A hostile element count: 2^62 fp32 elements are 2^64 bytes.
        assert_eq!(Dtype::Fp32.bytes(1 << 62), u64::MAX);
        assert_eq!(Dtype::Fp32.bytes(u64::MAX), u64::MAX);
        assert_eq!(Dtype::Int4.bytes(u64::MAX), u64::MAX.div_ceil(2));
    }
}
