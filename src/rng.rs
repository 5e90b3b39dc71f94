//! A small, stable pseudo-random generator (SplitMix64). Synthetic traffic and
//! random instruction sampling use it so that a seed gives the same stream on
//! every platform and every version of the crate's dependencies.

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for simulation purposes and stable.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// The integer `k` with `unit() < p` exactly when `next_u64() >> 11 <
    /// k`, for `p` in [0, 1]: `unit()` is `m / 2^53` for an integer `m <
    /// 2^53`, exact in `f64`, so `unit() < p` is `m < p 2^53` (also exact:
    /// a power-of-two scaling), that is `m < ceil(p 2^53)`.
    pub fn unit_threshold(p: f64) -> u64 {
        (p.clamp(0.0, 1.0) * (1u64 << 53) as f64).ceil() as u64
    }
    /// A value with a random number of significant bits, so samples cover
    /// small and large magnitudes alike.
    pub fn wide(&mut self, max_bits: u32) -> u64 {
        let bits = self.below(max_bits as u64 + 1) as u32;
        if bits == 0 { 0 } else { self.next_u64() >> (64 - bits) }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    proptest::proptest! {
        /// The threshold decides as `unit() < p` does, for draws and
        /// probabilities at and around the boundary as well as at random.
        #[test]
        fn unit_threshold_is_unit_below(seed: u64, p in 0.0f64..=1.0, k in 0u64..(1 << 53)) {
            let below = Rng::unit_threshold(p);
            let mut a = Rng::new(seed);
            let mut b = a.clone();
            for _ in 0..64 {
                proptest::prop_assert_eq!(a.next_u64() >> 11 < below, b.unit() < p);
            }
            // A p that is exactly some draw's value, and the draws next to it.
            let q = k as f64 / (1u64 << 53) as f64;
            let at = Rng::unit_threshold(q);
            for m in [k.saturating_sub(1), k, k + 1] {
                proptest::prop_assert_eq!(m < at, (m as f64 / (1u64 << 53) as f64) < q);
            }
        }
    }
}
