//! Schedulers: which requests run in the next batch step, behind one trait.
//! `vllm` (continuous batching, prefill first, whole prompts up to a token
//! budget), `sarathi` (decode first, prompts in chunks filling a token
//! budget), `static_batch` (the baseline: a batch runs to its end before
//! the next starts), and `decode` (the decode pool of a disaggregated
//! system). `Queue` holds the state they act on and the KV bookkeeping
//! they share: admission, page growth, and preemption by recompute.

mod decode;
mod sarathi;
mod static_batch;
mod vllm;

pub use decode::DecodeOnly;
pub use sarathi::Sarathi;
pub use static_batch::Static;
pub use vllm::Vllm;

use super::kv::KvCache;
use super::oracle::Step;
use super::request::Request;
use std::collections::VecDeque;
use std::str::FromStr;

/// A request as the scheduler sees it while it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    pub prompt: u64,
    pub output: u64,
    /// Tokens whose KV is in the cache.
    pub computed: u64,
    /// Tokens emitted so far.
    pub generated: u64,
    /// Tokens to have computed before the next token comes out, while in
    /// prefill: the prompt, or after a preemption the prompt and every
    /// token generated (recompute).
    pub target: u64,
    /// Past its prefill: each step computes one token's KV and emits one.
    pub decoding: bool,
    /// Pages of KV cache held.
    pub pages: u64,
    pub preemptions: u32,
    /// Found the cache full at the head of the queue at least once.
    pub kv_delayed: bool,
    pub first_token: Option<f64>,
    pub finish: Option<f64>,
}

impl Live {
    pub fn new(r: &Request) -> Live {
        Live {
            prompt: r.prompt_tokens,
            output: r.output_tokens,
            computed: 0,
            generated: 0,
            target: r.prompt_tokens,
            decoding: false,
            pages: 0,
            preemptions: 0,
            kv_delayed: false,
            first_token: None,
            finish: None,
        }
    }
    /// Prompt (or recompute) tokens still to compute.
    pub fn remaining_prefill(&self) -> u64 {
        if self.decoding { 0 } else { self.target - self.computed }
    }
}

/// Limits of one pool's batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests running at once (admitted, holding KV).
    pub max_batch: u64,
    /// Tokens one step may process: vllm and static, prompt tokens of a
    /// prefill step; sarathi, decode and prompt tokens together.
    pub token_budget: u64,
}

/// A pool's queue: requests waiting to be admitted (FCFS, preempted ones at
/// the front), requests running (in admission order), and the KV cache.
#[derive(Clone, Debug)]
pub struct Queue {
    pub waiting: VecDeque<usize>,
    pub running: Vec<usize>,
    pub kv: KvCache,
    pub limits: Limits,
    pub preemptions: u64,
    /// Requests that found the cache full at the head of the queue.
    pub delayed_by_kv: u64,
}

impl Queue {
    pub fn new(kv: KvCache, limits: Limits) -> Queue {
        Queue { waiting: VecDeque::new(), running: Vec::new(), kv, limits, preemptions: 0, delayed_by_kv: 0 }
    }

    /// Makes request `i` hold pages for `tokens` tokens, taking the pages
    /// it lacks; false (and nothing taken) if they are not free.
    pub fn reserve(&mut self, reqs: &mut [Live], i: usize, tokens: u64) -> bool {
        let need = self.kv.pages_for(tokens).saturating_sub(reqs[i].pages);
        if !self.kv.alloc(need) {
            return false;
        }
        reqs[i].pages += need;
        true
    }

    /// Returns every page request `i` holds.
    pub fn release(&mut self, reqs: &mut [Live], i: usize) {
        self.kv.release(reqs[i].pages);
        reqs[i].pages = 0;
    }

    /// Preempts running request `i` by recompute: its pages are freed, its
    /// KV is forgotten, and it goes back to the front of the queue to
    /// compute its prompt and every token it has generated again.
    pub fn preempt(&mut self, reqs: &mut [Live], i: usize) {
        self.running.retain(|&r| r != i);
        self.release(reqs, i);
        let r = &mut reqs[i];
        r.computed = 0;
        r.target = r.prompt + r.generated;
        r.decoding = false;
        r.preemptions += 1;
        self.preemptions += 1;
        self.waiting.push_front(i);
    }

    /// Pages for `tokens` tokens of running request `i`, preempting the
    /// most recently admitted running requests while they are short. If
    /// `i` itself is the newest left, it is preempted and the answer is
    /// false (vLLM's policy: the oldest requests keep going).
    pub fn make_room(&mut self, reqs: &mut [Live], i: usize, tokens: u64) -> bool {
        while !self.reserve(reqs, i, tokens) {
            let Some(&victim) = self.running.last() else { return false };
            self.preempt(reqs, victim);
            if victim == i {
                return false;
            }
        }
        true
    }

    /// Counts request `i` as delayed by a full cache (once per request).
    pub fn note_kv_delay(&mut self, reqs: &mut [Live], i: usize) {
        if !reqs[i].kv_delayed {
            reqs[i].kv_delayed = true;
            self.delayed_by_kv += 1;
        }
    }

    /// Admits the request at the head of the queue if the running set has
    /// room and the cache has pages for `tokens` of it.
    pub fn try_admit(&mut self, reqs: &mut [Live], tokens: u64) -> Option<usize> {
        let &i = self.waiting.front()?;
        if self.running.len() as u64 >= self.limits.max_batch {
            return None;
        }
        if !self.reserve(reqs, i, tokens) {
            self.note_kv_delay(reqs, i);
            return None;
        }
        self.waiting.pop_front();
        self.running.push(i);
        Some(i)
    }

    /// The decode half of a continuous-batching step: every running
    /// request past its prefill, in admission order, gets a page for its
    /// next token, preempting the newest requests when the cache is full;
    /// at most `limit` of them.
    pub fn decode_all(&mut self, reqs: &mut [Live], limit: u64, batch: &mut Batch) {
        let mut k = 0;
        while k < self.running.len() && (batch.decode.len() as u64) < limit {
            let i = self.running[k];
            if !reqs[i].decoding {
                k += 1;
                continue;
            }
            if !self.make_room(reqs, i, reqs[i].computed + 1) {
                // `i` was the newest and is preempted; nothing after it.
                break;
            }
            batch.decode.push(i);
            k += 1;
        }
    }
}

/// The requests of one step: prompt chunks (request, tokens) and decoding
/// requests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub prefill: Vec<(usize, u64)>,
    pub decode: Vec<usize>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.prefill.is_empty() && self.decode.is_empty()
    }
    /// What the oracle needs to know about the step.
    pub fn step(&self, reqs: &[Live]) -> Step {
        let tokens: u64 = self.prefill.iter().map(|&(_, k)| k).sum();
        let weighted: f64 = self.prefill.iter().map(|&(i, k)| k as f64 * reqs[i].computed as f64).sum();
        let users = self.decode.len() as u64;
        let context: f64 = self.decode.iter().map(|&i| reqs[i].computed as f64).sum();
        Step {
            prefill_tokens: tokens,
            prefill_seqs: self.prefill.len() as u64,
            prefill_context: if tokens > 0 { weighted / tokens as f64 } else { 0.0 },
            decode_users: users,
            decode_context: if users > 0 { context / users as f64 } else { 0.0 },
        }
    }
}

/// Chooses each step of one pool.
pub trait Scheduler: Send {
    fn name(&self) -> &'static str;
    /// The next step: admits waiting requests, may preempt running ones
    /// (`Queue::preempt`), and returns the work; empty when nothing can run.
    fn next_batch(&mut self, q: &mut Queue, reqs: &mut [Live]) -> Batch;
}

/// The scheduler of a pool that does prefill and decode (`--scheduler`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Vllm,
    Sarathi,
    Static,
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "vllm" => Ok(Policy::Vllm),
            "sarathi" => Ok(Policy::Sarathi),
            "static" => Ok(Policy::Static),
            _ => Err(format!("unknown scheduler `{s}` (expected vllm, sarathi or static)")),
        }
    }
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Vllm => "vllm",
            Policy::Sarathi => "sarathi",
            Policy::Static => "static",
        }
    }
    pub fn build(self) -> Box<dyn Scheduler> {
        match self {
            Policy::Vllm => Box::new(Vllm::new()),
            Policy::Sarathi => Box::new(Sarathi),
            Policy::Static => Box::new(Static),
        }
    }
    /// The default token budget: vLLM's default `max_num_batched_tokens`
    /// without chunked prefill, max(2048, the longest request), which every
    /// whole-prompt scheduler needs; Sarathi-Serve's 512 for chunks.
    pub fn default_budget(self, longest_request: u64) -> u64 {
        match self {
            Policy::Vllm | Policy::Static => longest_request.max(2048),
            Policy::Sarathi => 512,
        }
    }
    /// Whether a prompt (or a recompute) must fit the budget in one step.
    pub fn whole_prompts(self) -> bool {
        !matches!(self, Policy::Sarathi)
    }
}
