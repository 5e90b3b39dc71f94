//! A compact latency histogram: exact below 1024 cycles, then 64 buckets
//! per power of two (under 1.6% error), so percentiles of millions of
//! packets cost a few kilobytes.

#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
    sum: u128,
    max: u64,
}

const EXACT: u64 = 1024;
const SUB: u64 = 64;

fn bucket(v: u64) -> usize {
    if v < EXACT {
        v as usize
    } else {
        let p = 63 - v.leading_zeros() as u64; // >= 10
        let sub = (v >> (p - 6)) & (SUB - 1);
        (EXACT + (p - 10) * SUB + sub) as usize
    }
}

fn bucket_low(b: usize) -> u64 {
    let b = b as u64;
    if b < EXACT {
        b
    } else {
        let p = (b - EXACT) / SUB + 10;
        let sub = (b - EXACT) % SUB;
        (1 << p) + (sub << (p - 6))
    }
}

impl Histogram {
    pub fn add(&mut self, v: u64) {
        let b = bucket(v);
        if self.counts.len() <= b {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.n += 1;
        self.sum += v as u128;
        self.max = self.max.max(v);
    }
    pub fn count(&self) -> u64 {
        self.n
    }
    pub fn mean(&self) -> f64 {
        if self.n == 0 { 0.0 } else { self.sum as f64 / self.n as f64 }
    }
    pub fn max(&self) -> u64 {
        self.max
    }
    /// The smallest value v such that at least `q` of the samples are <= v
    /// (bucket lower bound above the exact range).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let target = (q * self.n as f64).ceil().max(1.0) as u64;
        let mut acc = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= target {
                return bucket_low(b).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.add(v);
        }
        assert_eq!(h.quantile(0.99), 99);
        assert_eq!(h.quantile(0.5), 50);
        assert!((h.mean() - 50.5).abs() < 1e-9);
        let mut h = Histogram::default();
        h.add(100_000);
        let q = h.quantile(0.99);
        assert!(q <= 100_000 && q as f64 > 100_000.0 * 0.98, "{q}");
        for v in [1023, 1024, 1025, 5000, 1 << 40] {
            assert!(bucket_low(bucket(v)) <= v);
        }
    }
}
