//! What to compile: one decode step (every user produces a token, or
//! verifies `spec` drafted tokens) or one prefill of a prompt.

use crate::dtype::Dtype;
use crate::model::Model;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Decode,
    Prefill,
}

#[derive(Clone, Debug)]
pub struct Workload {
    pub phase: Phase,
    /// Concurrent users (requests).
    pub batch: u64,
    /// Tokens already in each user's KV cache.
    pub context: u64,
    /// Prompt tokens per user (prefill).
    pub prompt: u64,
    /// Tokens each user verifies per decode step (1: plain decoding).
    pub spec: u64,
    /// Probability a drafted token is accepted (speculative decoding).
    pub accept_rate: f64,
    /// Share of the KV cache each attention reads (top-k / block-sparse).
    pub kv_keep: f64,
    pub weights: Dtype,
    pub kv: Dtype,
    /// Activation type of every intermediate.
    pub act: Dtype,
}

/// A workload as the command line states it, before the defaults that
/// depend on the phase and the model are filled in: `context` (4096 tokens
/// for decode, none for prefill) and the data types (the model's published
/// type). `compile`, `roofline`, `compare` and every point of a sweep go
/// through `resolve`, so they agree on the defaults and the checks.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadSpec {
    pub phase: Phase,
    pub batch: u64,
    pub context: Option<u64>,
    pub prompt: u64,
    pub spec: u64,
    pub accept_rate: f64,
    pub kv_keep: f64,
    pub weights: Option<Dtype>,
    pub kv: Option<Dtype>,
    /// Activations (default: fp16).
    pub act: Option<Dtype>,
}

impl Default for WorkloadSpec {
    /// The command line's defaults: one decode step for one user.
    fn default() -> Self {
        WorkloadSpec {
            phase: Phase::Decode,
            batch: 1,
            context: None,
            prompt: 512,
            spec: 1,
            accept_rate: 0.8,
            kv_keep: 1.0,
            weights: None,
            kv: None,
            act: None,
        }
    }
}

impl WorkloadSpec {
    /// The workload with the defaults filled in, not yet validated.
    pub fn with_defaults(&self, model: &Model) -> Workload {
        Workload {
            phase: self.phase,
            batch: self.batch,
            context: self.context.unwrap_or(if self.phase == Phase::Decode { 4096 } else { 0 }),
            prompt: self.prompt,
            spec: self.spec,
            accept_rate: self.accept_rate,
            kv_keep: self.kv_keep,
            weights: self.weights.unwrap_or(model.dtype),
            kv: self.kv.unwrap_or(model.dtype),
            act: self.act.unwrap_or(Dtype::Fp16),
        }
    }

    /// The workload with the defaults filled in, checked (`Workload::validate`).
    pub fn resolve(&self, model: &Model) -> Result<Workload, String> {
        let w = self.with_defaults(model);
        w.validate()?;
        Ok(w)
    }
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Decode => "decode",
            Phase::Prefill => "prefill",
        }
    }
}

impl Workload {
    /// One decode step for one user at 4096 context, weights and KV in
    /// `dtype`: the CLI's defaults.
    pub fn decode(dtype: Dtype) -> Workload {
        Workload {
            phase: Phase::Decode,
            batch: 1,
            context: 4096,
            prompt: 512,
            spec: 1,
            accept_rate: 0.8,
            kv_keep: 1.0,
            weights: dtype,
            kv: dtype,
            act: Dtype::Fp16,
        }
    }

    /// Checks the numbers make sense together.
    pub fn validate(&self) -> Result<(), String> {
        use crate::limits as lim;
        if self.batch == 0 {
            return Err("--batch must be at least 1".into());
        }
        if self.spec == 0 {
            return Err("--spec must be at least 1 (1 = no speculative decoding)".into());
        }
        for (flag, v, max) in [
            ("--batch", self.batch, lim::MAX_BATCH),
            ("--context", self.context, lim::MAX_CONTEXT),
            ("--prompt", self.prompt, lim::MAX_PROMPT),
            ("--spec", self.spec, lim::MAX_SPEC),
        ] {
            if v > max {
                return Err(format!("{flag} must be at most {max} (arch/limits.md), found {v}"));
            }
        }
        let tokens = self.batch * self.tokens_per_user();
        if tokens > lim::MAX_TOKENS_PER_PASS {
            let per_user = if self.phase == Phase::Decode { "--spec" } else { "--prompt" };
            return Err(format!(
                "--batch {} x {per_user} {} is {tokens} tokens in one pass, more than the {} allowed \
                 (arch/limits.md)",
                self.batch,
                self.tokens_per_user(),
                lim::MAX_TOKENS_PER_PASS
            ));
        }
        if !self.accept_rate.is_finite() || !self.kv_keep.is_finite() {
            return Err("--accept-rate and --kv-keep must be finite numbers".into());
        }
        // Shares below 2^-24 (arch/limits.md, "fraction"): a context of at
        // most 2^24 reads the same one position, and 1e-300 wrote 300
        // digits into the trace header. Checked here, not only on the
        // command line, so the library, Python and snap cases are bounded
        // alike.
        if !(lim::MIN_FRACTION..=1.0).contains(&self.kv_keep) {
            return Err(format!(
                "--kv-keep must be in (0, 1], at least 2^-24 (arch/limits.md), found {}",
                self.kv_keep
            ));
        }
        if !(self.accept_rate == 0.0 || (lim::MIN_FRACTION..=1.0).contains(&self.accept_rate)) {
            return Err(format!(
                "the acceptance rate must be in [0, 1], 0 or at least 2^-24 (arch/limits.md), found {}",
                self.accept_rate
            ));
        }
        if self.phase == Phase::Prefill && self.prompt == 0 {
            return Err("--prompt must be at least 1 for prefill".into());
        }
        if self.phase == Phase::Prefill && self.spec != 1 {
            return Err("--spec applies to decode, not prefill".into());
        }
        Ok(())
    }

    /// Tokens each user pushes through the weights in one pass.
    pub fn tokens_per_user(&self) -> u64 {
        match self.phase {
            Phase::Decode => self.spec,
            Phase::Prefill => self.prompt,
        }
    }

    /// KV positions per user read from the cache (after sparsity).
    pub fn kv_read_positions(&self) -> u64 {
        (self.kv_keep * self.context as f64).ceil() as u64
    }

    /// KV positions each user's attention covers: the cached positions read
    /// plus the new tokens (for prefill, causal: on average half the prompt).
    pub fn attn_positions(&self) -> u64 {
        match self.phase {
            Phase::Decode => self.kv_read_positions() + self.spec,
            Phase::Prefill => self.kv_read_positions() + self.prompt.div_ceil(2),
        }
    }

    /// Tokens per user that need logits: every verified token in decode,
    /// the last prompt token in prefill.
    pub fn logits_per_user(&self) -> u64 {
        match self.phase {
            Phase::Decode => self.spec,
            Phase::Prefill => 1,
        }
    }

    /// Expected tokens a user gains per pass: with speculative decoding of k
    /// tokens and acceptance rate a, the accepted prefix plus the corrected
    /// token, (1 - a^k) / (1 - a); a prompt's tokens for prefill.
    pub fn produced_per_user(&self) -> f64 {
        match self.phase {
            Phase::Prefill => self.prompt as f64,
            Phase::Decode => {
                let (a, k) = (self.accept_rate, self.spec as i32);
                if (1.0 - a).abs() < 1e-12 { k as f64 } else { (1.0 - a.powi(k)) / (1.0 - a) }
            }
        }
    }

    /// One line for trace headers and reports.
    pub fn describe(&self) -> String {
        match self.phase {
            Phase::Decode => format!(
                "decode batch={} context={} spec={} accept={} kv_keep={} weights={} kv={}{}",
                self.batch,
                self.context,
                self.spec,
                self.accept_rate,
                self.kv_keep,
                self.weights,
                self.kv,
                self.act_suffix()
            ),
            Phase::Prefill => format!(
                "prefill batch={} prompt={} context={} kv_keep={} weights={} kv={}{}",
                self.batch,
                self.prompt,
                self.context,
                self.kv_keep,
                self.weights,
                self.kv,
                self.act_suffix()
            ),
        }
    }

    /// ` act=T` when activations are not the default fp16.
    fn act_suffix(&self) -> String {
        if self.act == Dtype::Fp16 { String::new() } else { format!(" act={}", self.act) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits as lim;

    /// The share bounds hold for every caller of the library (Python, snap
    /// cases), not only for the command line's flags.
    #[test]
    fn shares_below_2_to_the_minus_24_are_refused() {
        let ok = Workload::decode(Dtype::Fp16);
        assert!(ok.validate().is_ok());
        let tiny = lim::MIN_FRACTION;
        assert!(Workload { kv_keep: tiny, ..ok.clone() }.validate().is_ok());
        let e = Workload { kv_keep: 1e-300, ..ok.clone() }.validate().unwrap_err();
        assert!(e.contains("--kv-keep") && e.contains("2^-24"), "{e}");
        assert!(Workload { accept_rate: 0.0, ..ok.clone() }.validate().is_ok());
        assert!(Workload { accept_rate: tiny, ..ok.clone() }.validate().is_ok());
        let e = Workload { accept_rate: 1e-300, ..ok.clone() }.validate().unwrap_err();
        assert!(e.contains("acceptance rate") && e.contains("2^-24"), "{e}");
        assert!(Workload { accept_rate: 1.5, ..ok }.validate().is_err());
    }
}
