//! What one batch step costs: the `StepTime` trait the engine asks, the
//! `Step` it asks about, and `Affine`, a closed form for tests and quick
//! what-ifs. The real oracle, built from simulated steps, is
//! `grid::SimOracle`.

use super::ServeError;

/// The work of one batch step, as the step-time oracle sees it: prompt
/// tokens computed (chunks of one or more requests) and users decoding one
/// token each, with the mean number of tokens each finds in its KV cache.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Step {
    /// Prompt (or recomputed) tokens processed, all chunks together.
    pub prefill_tokens: u64,
    /// Requests those tokens belong to.
    pub prefill_seqs: u64,
    /// Tokens already cached before each chunk, mean weighted by chunk size.
    pub prefill_context: f64,
    /// Users producing one token each.
    pub decode_users: u64,
    /// Tokens in each decoding user's cache, mean over the users.
    pub decode_context: f64,
}

impl Step {
    pub fn is_empty(&self) -> bool {
        self.prefill_tokens == 0 && self.decode_users == 0
    }
    /// `prefill`, `decode` or `mixed`.
    pub fn kind(&self) -> &'static str {
        match (self.prefill_tokens > 0, self.decode_users > 0) {
            (true, true) => "mixed",
            (true, false) => "prefill",
            _ => "decode",
        }
    }
}

/// Seconds a batch step takes on one serving system. `Sync`: a frontier
/// search runs several rates at once against one oracle.
pub trait StepTime: Sync {
    fn step_seconds(&self, step: &Step) -> Result<f64, ServeError>;
}

/// A closed-form step time:
///
/// ```text
/// prefill part = prefill_base + per_prefill_token x tokens          (if any tokens)
/// decode part  = decode_base + per_decode_user x users
///                + per_context_token x users x mean context          (if any users)
/// step         = prefill part + decode part
/// ```
///
/// The queueing and scheduler tests use it: its times are known exactly,
/// so latencies can be checked against queueing formulas.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Affine {
    pub prefill_base: f64,
    pub per_prefill_token: f64,
    pub decode_base: f64,
    pub per_decode_user: f64,
    pub per_context_token: f64,
}

impl StepTime for Affine {
    fn step_seconds(&self, s: &Step) -> Result<f64, ServeError> {
        let mut t = 0.0;
        if s.prefill_tokens > 0 {
            t += self.prefill_base + self.per_prefill_token * s.prefill_tokens as f64;
        }
        if s.decode_users > 0 {
            let n = s.decode_users as f64;
            t += self.decode_base + self.per_decode_user * n + self.per_context_token * n * s.decode_context;
        }
        Ok(t)
    }
}
