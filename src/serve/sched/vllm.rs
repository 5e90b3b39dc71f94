//! vLLM-style continuous batching (vLLM's v0 scheduler without chunked
//! prefill): prefill first. While requests wait and fit (running-set room,
//! the token budget, KV pages for the whole prompt and its first decoded
//! token), a step prefills whole
//! prompts of as many as fit, FCFS; only when none can be admitted does a
//! step decode every running request, preempting the newest (recompute)
//! when the cache cannot take their next tokens. Decodes stall while
//! prompts are prefilled: the TPOT cost of prefill-first.

use super::{Batch, Live, Queue, Scheduler};

#[derive(Clone, Copy, Debug, Default)]
pub struct Vllm {
    /// Never decode: the prefill pool of a disaggregated system, whose
    /// requests leave for the decode pool after their first token.
    prefill_only: bool,
}

impl Vllm {
    pub fn new() -> Vllm {
        Vllm { prefill_only: false }
    }
    pub fn prefill_only() -> Vllm {
        Vllm { prefill_only: true }
    }
}

/// Admits whole prompts FCFS while the running set, the token budget and
/// the cache allow; returns them as prefill chunks.
pub(super) fn admit_whole_prompts(q: &mut Queue, reqs: &mut [Live], batch: &mut Batch) {
    let mut tokens = 0;
    while let Some(&i) = q.waiting.front() {
        let need = reqs[i].remaining_prefill();
        if tokens + need > q.limits.token_budget {
            break;
        }
        // The prompt and its first decoded token: a request admitted into
        // a full cache would be the newest, preempted at once.
        let target = reqs[i].target + 1;
        if q.try_admit(reqs, target).is_none() {
            break;
        }
        batch.prefill.push((i, need));
        tokens += need;
    }
}

impl Scheduler for Vllm {
    fn name(&self) -> &'static str {
        if self.prefill_only { "vllm-prefill" } else { "vllm" }
    }

    fn next_batch(&mut self, q: &mut Queue, reqs: &mut [Live]) -> Batch {
        let mut batch = Batch::default();
        admit_whole_prompts(q, reqs, &mut batch);
        if !batch.prefill.is_empty() || self.prefill_only {
            return batch;
        }
        q.decode_all(reqs, u64::MAX, &mut batch);
        batch
    }
}
