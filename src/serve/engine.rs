//! The event loop of a serving run: requests arrive, each pool runs one
//! batch step at a time (its scheduler picks the batch, its oracle says how
//! long it takes), tokens come out at the end of each step, and in a
//! disaggregated system each prompt's KV cache crosses the link from the
//! prefill pool to the decode pool. Deterministic: events are ordered by
//! time, then by the order they were made; arrivals at the same instant as
//! a step's end are seen first.

use super::ServeError;
use super::oracle::{Step, StepTime};
use super::request::Request;
use super::sched::{Batch, Live, Queue, Scheduler};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// What a pool does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Prefill and decode (one system serving everything).
    Unified,
    /// Prefill only; requests leave for the decode pool after their first token.
    Prefill,
    /// Decode only; requests arrive with their KV cache.
    Decode,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Unified => "unified",
            Role::Prefill => "prefill",
            Role::Decode => "decode",
        }
    }
}

/// One pool as the engine runs it.
pub struct PoolRun<'a> {
    pub role: Role,
    pub oracle: &'a dyn StepTime,
    pub queue: Queue,
    pub scheduler: Box<dyn Scheduler>,
}

/// The link a prompt's KV cache crosses from the prefill pool to the decode
/// pool: one transfer at a time, in the order prompts finish.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    pub bytes_per_second: f64,
    pub latency_seconds: f64,
    /// KV bytes of one token (all layers).
    pub bytes_per_token: f64,
}

/// One step as it ran (kept for the timeline).
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub pool: usize,
    pub start_seconds: f64,
    pub end_seconds: f64,
    pub step: Step,
    /// KV pages in use and requests waiting and running when it started.
    pub kv_pages: u64,
    pub waiting: u64,
    pub running: u64,
}

/// One KV transfer (disaggregation).
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    pub request: usize,
    pub start_seconds: f64,
    pub end_seconds: f64,
    pub bytes: f64,
}

/// Counters of one pool.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct PoolStats {
    pub role: &'static str,
    pub scheduler: &'static str,
    pub steps: u64,
    pub prefill_steps: u64,
    pub decode_steps: u64,
    pub mixed_steps: u64,
    pub busy_seconds: f64,
    /// Mean decoding users over steps that decode.
    pub mean_decode_batch: f64,
    /// Mean prompt tokens over steps that prefill.
    pub mean_prefill_tokens: f64,
    pub preemptions: u64,
    pub requests_delayed_by_kv: u64,
    pub kv_pages: u64,
    pub kv_peak_pages: u64,
    pub kv_block_tokens: u64,
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Per request, in request order.
    pub requests: Vec<Live>,
    pub pools: Vec<PoolStats>,
    /// Every step, when asked for (`keep_steps`).
    pub steps: Vec<StepRecord>,
    pub transfers: Vec<Transfer>,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    StepDone(usize),
    Transferred(usize),
}

struct Event {
    t: f64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    /// Reversed, so the max-heap pops the earliest (then the first made).
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.total_cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

struct Engine<'a, 'r> {
    requests: &'r [Request],
    reqs: Vec<Live>,
    pools: Vec<PoolRun<'a>>,
    busy: Vec<Option<Batch>>,
    stats: Vec<PoolStats>,
    decode_users: Vec<u64>,
    prefill_tokens: Vec<u64>,
    link: Option<Link>,
    link_free: f64,
    events: BinaryHeap<Event>,
    seq: u64,
    now: f64,
    keep_steps: bool,
    steps: Vec<StepRecord>,
    transfers: Vec<Transfer>,
}

/// Runs `requests` (in arrival order) through `pools`: one `Unified` pool,
/// or a `Prefill` and a `Decode` pool joined by `link`.
pub fn run(
    requests: &[Request],
    pools: Vec<PoolRun<'_>>,
    link: Option<Link>,
    keep_steps: bool,
) -> Result<Outcome, ServeError> {
    let roles: Vec<Role> = pools.iter().map(|p| p.role).collect();
    let valid = matches!(roles.as_slice(), [Role::Unified])
        || (matches!(roles.as_slice(), [Role::Prefill, Role::Decode]) && link.is_some());
    if !valid {
        return Err(ServeError::Uncovered(format!("pools {roles:?} (link: {})", link.is_some())));
    }
    let stats = pools
        .iter()
        .map(|p| PoolStats {
            role: p.role.name(),
            scheduler: p.scheduler.name(),
            kv_pages: p.queue.kv.pages,
            kv_block_tokens: p.queue.kv.block_tokens,
            ..Default::default()
        })
        .collect();
    let n = pools.len();
    let mut e = Engine {
        requests,
        reqs: requests.iter().map(Live::new).collect(),
        busy: vec![None; n],
        pools,
        stats,
        decode_users: vec![0; n],
        prefill_tokens: vec![0; n],
        link,
        link_free: 0.0,
        events: BinaryHeap::new(),
        seq: 0,
        now: 0.0,
        keep_steps,
        steps: Vec::new(),
        transfers: Vec::new(),
    };
    e.run()?;
    for (p, s) in e.pools.iter().zip(e.stats.iter_mut()) {
        s.preemptions = p.queue.preemptions;
        s.requests_delayed_by_kv = p.queue.delayed_by_kv;
        s.kv_peak_pages = p.queue.kv.peak();
    }
    for (p, s) in e.stats.iter_mut().enumerate() {
        let decoding = s.decode_steps + s.mixed_steps;
        let prefilling = s.prefill_steps + s.mixed_steps;
        s.mean_decode_batch = if decoding > 0 { e.decode_users[p] as f64 / decoding as f64 } else { 0.0 };
        s.mean_prefill_tokens = if prefilling > 0 { e.prefill_tokens[p] as f64 / prefilling as f64 } else { 0.0 };
    }
    Ok(Outcome { requests: e.reqs, pools: e.stats, steps: e.steps, transfers: e.transfers })
}

impl Engine<'_, '_> {
    fn push(&mut self, t: f64, kind: Kind) {
        self.seq += 1;
        self.events.push(Event { t, seq: self.seq, kind });
    }

    fn run(&mut self) -> Result<(), ServeError> {
        let mut next = 0;
        loop {
            let arrival = self.requests.get(next).map(|r| r.arrival_seconds);
            let event = self.events.peek().map(|e| e.t);
            match (arrival, event) {
                (None, None) => break,
                (Some(a), ev) if ev.is_none_or(|t| a <= t) => {
                    // Every request arriving at this instant, then one
                    // scheduling decision: they can share a batch.
                    self.now = self.now.max(a);
                    while self.requests.get(next).is_some_and(|r| r.arrival_seconds <= a) {
                        self.pools[0].queue.waiting.push_back(next);
                        next += 1;
                    }
                    self.try_start(0)?;
                }
                _ => {
                    let ev = self.events.pop().expect("peeked");
                    self.now = ev.t;
                    match ev.kind {
                        Kind::StepDone(p) => self.step_done(p)?,
                        Kind::Transferred(i) => {
                            self.pools[0].queue.release(&mut self.reqs, i);
                            self.pools[1].queue.waiting.push_back(i);
                            self.try_start(1)?;
                            self.try_start(0)?;
                        }
                    }
                }
            }
        }
        if let Some(i) = self.reqs.iter().position(|r| r.finish.is_none()) {
            return Err(ServeError::Uncovered(format!(
                "the run stopped with {} unfinished, {} stuck ({} of {} tokens out)",
                self.reqs.iter().filter(|r| r.finish.is_none()).count(),
                self.requests[i].origin(),
                self.reqs[i].generated,
                self.reqs[i].output
            )));
        }
        Ok(())
    }

    /// Starts pool `p`'s next step if it is idle and has work.
    fn try_start(&mut self, p: usize) -> Result<(), ServeError> {
        if self.busy[p].is_some() {
            return Ok(());
        }
        let mut batch = Batch::default();
        // A scheduler that preempted the only request it could run returns
        // nothing; ask again with the cache freed.
        for _ in 0..4 {
            let before = self.pools[p].queue.preemptions;
            let pool = &mut self.pools[p];
            batch = pool.scheduler.next_batch(&mut pool.queue, &mut self.reqs);
            if self.pools[p].role == Role::Decode {
                self.return_preempted();
            }
            if !batch.is_empty() || self.pools[p].queue.preemptions == before {
                break;
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let step = batch.step(&self.reqs);
        let q = &self.pools[p].queue;
        let (kv_pages, waiting, running) = (q.kv.used(), q.waiting.len() as u64, q.running.len() as u64);
        let dt = self.pools[p].oracle.step_seconds(&step)?;
        if !(dt.is_finite() && dt > 0.0) {
            return Err(ServeError::Uncovered(format!("a step of {step:?} takes {dt} s")));
        }
        let s = &mut self.stats[p];
        s.steps += 1;
        s.busy_seconds += dt;
        match step.kind() {
            "prefill" => s.prefill_steps += 1,
            "decode" => s.decode_steps += 1,
            _ => s.mixed_steps += 1,
        }
        self.decode_users[p] += step.decode_users;
        self.prefill_tokens[p] += step.prefill_tokens;
        if self.keep_steps {
            self.steps.push(StepRecord {
                pool: p,
                start_seconds: self.now,
                end_seconds: self.now + dt,
                step,
                kv_pages,
                waiting,
                running,
            });
        }
        self.busy[p] = Some(batch);
        self.push(self.now + dt, Kind::StepDone(p));
        Ok(())
    }

    /// Requests the decode pool preempted lost their KV: back to the front
    /// of the prefill pool's queue, in order, to be recomputed.
    fn return_preempted(&mut self) {
        let q = &mut self.pools[1].queue;
        let mut back = Vec::new();
        q.waiting.retain(|&i| {
            let keep = self.reqs[i].decoding;
            if !keep {
                back.push(i);
            }
            keep
        });
        for &i in back.iter().rev() {
            self.pools[0].queue.waiting.push_front(i);
        }
    }

    fn step_done(&mut self, p: usize) -> Result<(), ServeError> {
        let batch = self.busy[p].take().expect("a pool's step ends only while it runs one");
        let now = self.now;
        let role = self.pools[p].role;
        let mut leaving = Vec::new();
        for &(i, k) in &batch.prefill {
            let r = &mut self.reqs[i];
            r.computed += k;
            if r.computed == r.target {
                r.decoding = true;
                r.generated += 1;
                r.first_token.get_or_insert(now);
                if r.generated == r.output {
                    self.finish(p, i);
                } else if role == Role::Prefill {
                    leaving.push(i);
                }
            }
        }
        for &i in &batch.decode {
            let r = &mut self.reqs[i];
            r.computed += 1;
            r.generated += 1;
            if r.generated == r.output {
                self.finish(p, i);
            }
        }
        if !leaving.is_empty() {
            self.pools[p].queue.running.retain(|i| !leaving.contains(i));
            let link = self.link.expect("a prefill pool has a link");
            for i in leaving {
                let bytes = self.reqs[i].computed as f64 * link.bytes_per_token;
                let start = now.max(self.link_free);
                let busy = bytes / link.bytes_per_second;
                self.link_free = start + busy;
                let end = start + busy + link.latency_seconds;
                self.transfers.push(Transfer { request: i, start_seconds: start, end_seconds: end, bytes });
                self.push(end, Kind::Transferred(i));
            }
        }
        self.try_start(p)?;
        if role == Role::Decode {
            self.try_start(0)?;
        }
        Ok(())
    }

    fn finish(&mut self, p: usize, i: usize) {
        self.reqs[i].finish = Some(self.now);
        let q = &mut self.pools[p].queue;
        q.running.retain(|&r| r != i);
        q.release(&mut self.reqs, i);
    }
}
