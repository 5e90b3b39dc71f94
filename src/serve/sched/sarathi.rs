//! Sarathi-Serve-style chunked prefill, decode first: each step has a token
//! budget. Running requests past their prefill decode first (one token
//! each, FCFS, preempting the newest when the cache is full); the budget
//! left goes to prompt chunks — the prefills already under way, then new
//! requests admitted FCFS (running-set room and KV pages for the whole
//! prompt, reserved at admission as vLLM does) — so a long prompt is spread
//! over several steps that keep every decode going. No new request is
//! admitted in a step that had to preempt.

use super::{Batch, Live, Queue, Scheduler};

#[derive(Clone, Copy, Debug, Default)]
pub struct Sarathi;

impl Scheduler for Sarathi {
    fn name(&self) -> &'static str {
        "sarathi"
    }

    fn next_batch(&mut self, q: &mut Queue, reqs: &mut [Live]) -> Batch {
        let mut batch = Batch::default();
        let budget = q.limits.token_budget;
        let preempted = q.preemptions;
        q.decode_all(reqs, budget, &mut batch);
        let mut left = budget - batch.decode.len() as u64;
        for k in 0..q.running.len() {
            if left == 0 {
                break;
            }
            let i = q.running[k];
            let chunk = reqs[i].remaining_prefill().min(left);
            if chunk > 0 {
                batch.prefill.push((i, chunk));
                left -= chunk;
            }
        }
        if q.preemptions != preempted {
            return batch;
        }
        while left > 0 {
            let Some(&i) = q.waiting.front() else { break };
            let target = reqs[i].target + 1;
            if q.try_admit(reqs, target).is_none() {
                break;
            }
            let chunk = reqs[i].remaining_prefill().min(left);
            batch.prefill.push((i, chunk));
            left -= chunk;
        }
        batch
    }
}
