//! The decode pool of a disaggregated system (Splitwise, DistServe):
//! requests arrive with their prompt's KV cache already computed (and
//! their first token out), are admitted FCFS when the running set has room
//! and the cache has pages for their KV and next token, and decode in continuous batches.
//! When the cache cannot take the next tokens the newest are preempted;
//! their KV is gone, so the engine sends them back to the prefill pool to
//! be recomputed.

use super::{Batch, Live, Queue, Scheduler};

#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOnly;

impl Scheduler for DecodeOnly {
    fn name(&self) -> &'static str {
        "decode"
    }

    fn next_batch(&mut self, q: &mut Queue, reqs: &mut [Live]) -> Batch {
        while let Some(&i) = q.waiting.front() {
            if !reqs[i].decoding {
                // Preempted here: the engine moves it to the prefill pool.
                break;
            }
            // Its KV and the token it decodes next.
            let computed = reqs[i].computed + 1;
            if q.try_admit(reqs, computed).is_none() {
                break;
            }
        }
        let mut batch = Batch::default();
        q.decode_all(reqs, u64::MAX, &mut batch);
        batch
    }
}
