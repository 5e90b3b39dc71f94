//! Static batching, the baseline: when the previous batch has completely
//! finished, up to `max_batch` waiting requests (FCFS) form a batch, each
//! reserving KV pages for its whole prompt and output up front (so nothing
//! is ever preempted); their prompts are prefilled (whole prompts, up to
//! the token budget a step), then the batch decodes until its last request
//! finishes. Requests arriving meanwhile wait. With `max_batch` 1 the
//! system is a single FCFS server with one service time per request: an
//! M/D/1 (or D/D/1) queue for fixed lengths.

use super::{Batch, Live, Queue, Scheduler};

#[derive(Clone, Copy, Debug, Default)]
pub struct Static;

impl Scheduler for Static {
    fn name(&self) -> &'static str {
        "static"
    }

    fn next_batch(&mut self, q: &mut Queue, reqs: &mut [Live]) -> Batch {
        let mut batch = Batch::default();
        if q.running.is_empty() {
            while let Some(&i) = q.waiting.front() {
                let whole = reqs[i].prompt + reqs[i].output;
                if q.try_admit(reqs, whole).is_none() {
                    break;
                }
            }
        }
        let mut tokens = 0;
        for &i in &q.running {
            let need = reqs[i].remaining_prefill();
            if need > 0 && tokens + need <= q.limits.token_budget {
                batch.prefill.push((i, need));
                tokens += need;
            }
        }
        if !batch.prefill.is_empty() {
            return batch;
        }
        // Pages were reserved for the whole request: decoding never waits.
        batch.decode = q.running.iter().copied().filter(|&i| reqs[i].decoding).collect();
        batch
    }
}
