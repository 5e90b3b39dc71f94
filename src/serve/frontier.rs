//! The frontier (`tilesim serve --sweep-rate`): for each serving system and
//! each per-user speed target (a TPOT SLO), the highest arrival rate at
//! which enough requests meet both SLOs — and what the system earns there,
//! in tokens per second per $1k and per joule. One row per (system, TPOT
//! target); `tilesim plot --x target_tokens_per_second_per_user --y
//! tokens_per_second_per_kusd --series chip` draws it (the x axis is the
//! per-user speed promised, 1 / the TPOT SLO: two targets can reach the
//! same operating point when another limit binds, so the measured speed
//! is a column, not the axis).

use super::ServeError;
use super::metrics::{Slo, Summary};
use super::request::Generator;
use super::setup::Setup;
use crate::report::csv::escape;
use crossbeam::channel;
use serde::Serialize;
use std::io::{self, Write};

/// How to search.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    /// The request stream; its rate is what the search varies.
    pub generator: Generator,
    pub requests: u64,
    /// Time-to-first-token SLO (the TPOT SLO is per row).
    pub slo_ttft_seconds: Option<f64>,
    /// Share of requests that must meet both SLOs (0.9: 90%).
    pub attainment: f64,
    /// The search stops when the highest passing and lowest failing rates
    /// are within this ratio of each other (0.02: 2%).
    pub tolerance: f64,
}

/// One point of the frontier.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrontierRow {
    pub chip: String,
    /// `ok`, `unreachable` (even a trickle of requests misses the SLOs: 1e-6
    /// requests/s, or slower still while the arrivals span at most 2^25 s),
    /// `unbounded` (the SLOs hold at every rate tried, up to `MAX_RATE`:
    /// the rate is the highest tried) or `error`.
    pub status: &'static str,
    pub slo_ttft_seconds: Option<f64>,
    pub slo_tpot_seconds: f64,
    /// 1 / the TPOT SLO: the decode speed promised to the attainment share.
    pub target_tokens_per_second_per_user: f64,
    pub rate_requests_per_second: f64,
    /// Runs the search took.
    pub runs: u32,
    /// The rest is the summary of the run at the highest passing rate.
    pub tokens_per_second: f64,
    pub tokens_per_second_per_user: f64,
    pub ttft_p90_seconds: f64,
    pub tpot_p90_seconds: f64,
    pub slo_attainment: f64,
    pub tokens_per_second_per_kusd: Option<f64>,
    pub tokens_per_joule: Option<f64>,
    pub chips_used: u32,
    pub preemptions: u64,
    pub mean_decode_batch: f64,
    pub error: Option<String>,
}

/// The CSV columns, in order.
pub const COLUMNS: [&str; 18] = [
    "chip",
    "status",
    "slo_ttft_seconds",
    "slo_tpot_seconds",
    "target_tokens_per_second_per_user",
    "rate_requests_per_second",
    "runs",
    "tokens_per_second",
    "tokens_per_second_per_user",
    "ttft_p90_seconds",
    "tpot_p90_seconds",
    "slo_attainment",
    "tokens_per_second_per_kusd",
    "tokens_per_joule",
    "chips_used",
    "preemptions",
    "mean_decode_batch",
    "error",
];

pub fn write_csv_header(w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{}", COLUMNS.join(","))
}

impl FrontierRow {
    /// The row of a system that could not be set up at all (the model or
    /// the requests do not fit it): status `error` and the reason.
    pub fn failed(chip: &str, s: &Search, tpot: f64, error: &str) -> FrontierRow {
        let mut r = FrontierRow::empty(chip, s, tpot);
        r.status = "error";
        r.error = Some(error.lines().map(str::trim).collect::<Vec<_>>().join(" "));
        r
    }

    fn empty(chip: &str, s: &Search, tpot: f64) -> FrontierRow {
        FrontierRow {
            chip: chip.to_string(),
            status: "ok",
            slo_ttft_seconds: s.slo_ttft_seconds,
            slo_tpot_seconds: tpot,
            target_tokens_per_second_per_user: 1.0 / tpot,
            rate_requests_per_second: 0.0,
            runs: 0,
            tokens_per_second: 0.0,
            tokens_per_second_per_user: 0.0,
            ttft_p90_seconds: 0.0,
            tpot_p90_seconds: 0.0,
            slo_attainment: 0.0,
            tokens_per_second_per_kusd: None,
            tokens_per_joule: None,
            chips_used: 0,
            preemptions: 0,
            mean_decode_batch: 0.0,
            error: None,
        }
    }

    fn fill(&mut self, rate: f64, s: &Summary) {
        self.rate_requests_per_second = rate;
        self.tokens_per_second = s.tokens_per_second;
        self.tokens_per_second_per_user = s.tokens_per_second_per_user;
        self.ttft_p90_seconds = s.ttft_seconds.p90;
        self.tpot_p90_seconds = s.tpot_seconds.p90;
        self.slo_attainment = s.slo_attainment;
        self.tokens_per_second_per_kusd = s.tokens_per_second_per_kusd;
        self.tokens_per_joule = s.tokens_per_joule;
        self.chips_used = s.chips_used;
        self.preemptions = s.preemptions;
        self.mean_decode_batch = s.pools.last().map_or(0.0, |p| p.stats.mean_decode_batch);
    }

    pub fn write_csv(&self, w: &mut dyn Write) -> io::Result<()> {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            escape(&self.chip),
            self.status,
            opt(self.slo_ttft_seconds),
            self.slo_tpot_seconds,
            self.target_tokens_per_second_per_user,
            self.rate_requests_per_second,
            self.runs,
            self.tokens_per_second,
            self.tokens_per_second_per_user,
            self.ttft_p90_seconds,
            self.tpot_p90_seconds,
            self.slo_attainment,
            opt(self.tokens_per_second_per_kusd),
            opt(self.tokens_per_joule),
            self.chips_used,
            self.preemptions,
            self.mean_decode_batch,
            escape(self.error.as_deref().unwrap_or(""))
        )
    }
}

/// The highest rate the search tries, requests per second; a point whose
/// SLOs still hold there is `unbounded`.
pub const MAX_RATE: f64 = 1e9;

/// The highest rate at which `setup` meets the SLOs with TPOT target
/// `tpot`: doubling (or halving) from 1 request/s to bracket it, then
/// bisecting in log space. The same requests at every rate (the generator
/// scales its gaps), so rates compare like with like.
pub fn search(chip: &str, setup: &Setup, s: &Search, tpot: f64) -> Result<FrontierRow, ServeError> {
    let slo = Slo { ttft_seconds: s.slo_ttft_seconds, tpot_seconds: Some(tpot) };
    let mut row = FrontierRow::empty(chip, s, tpot);
    let probe = |rate: f64, row: &mut FrontierRow| -> Result<(bool, Summary), ServeError> {
        row.runs += 1;
        let reqs = Generator { rate, ..s.generator.clone() }.generate(s.requests)?;
        let outcome = setup.run(&reqs, false)?;
        let (_, sum) = setup.summary(&reqs, &outcome, slo);
        Ok((sum.slo_attainment >= s.attainment, sum))
    };
    // Seconds from the first arrival to the last at 1 request/s: at rate r
    // they span this / r (the same gaps, scaled), at most 2^25 s
    // (arch/limits.md), which bounds the halving below as 1e-6/s does.
    let span_at_one =
        Generator { rate: 1.0, ..s.generator.clone() }.generate(s.requests)?.last().map_or(0.0, |r| r.arrival_seconds);
    let (mut lo, mut hi);
    let mut best;
    let (ok, sum) = probe(1.0, &mut row)?;
    if ok {
        (lo, best) = (1.0, sum);
        hi = 2.0;
        loop {
            let (ok, sum) = probe(hi, &mut row)?;
            if !ok {
                break;
            }
            (lo, best) = (hi, sum);
            hi *= 2.0;
            if hi > MAX_RATE {
                // Every request arriving at once still meets the SLOs (no
                // --slo-ttft, or few requests): no rate bounds the point.
                row.status = "unbounded";
                row.fill(lo, &best);
                return Ok(row);
            }
        }
    } else {
        hi = 1.0;
        lo = 0.5;
        loop {
            let (ok, sum) = probe(lo, &mut row)?;
            if ok {
                best = sum;
                break;
            }
            hi = lo;
            lo /= 2.0;
            if lo < 1e-6 || span_at_one / lo > crate::limits::MAX_ARRIVAL_SPAN_S {
                row.status = "unreachable";
                return Ok(row);
            }
        }
    }
    let tol = 1.0 + s.tolerance.max(1e-6);
    while hi / lo > tol {
        let mid = (lo * hi).sqrt();
        let (ok, sum) = probe(mid, &mut row)?;
        if ok {
            (lo, best) = (mid, sum);
        } else {
            hi = mid;
        }
    }
    row.fill(lo, &best);
    Ok(row)
}

/// `search` for every (system, TPOT target), on `jobs` threads; rows in
/// system-major order, whatever finishes first. A system that cannot run
/// the requests at all gives `error` rows.
pub fn search_all(
    systems: &[(String, &Setup)],
    tpots: &[f64],
    s: &Search,
    jobs: usize,
    mut progress: impl FnMut(usize, usize),
) -> Vec<FrontierRow> {
    let tasks: Vec<(usize, f64)> = (0..systems.len()).flat_map(|i| tpots.iter().map(move |&t| (i, t))).collect();
    let total = tasks.len();
    let mut rows: Vec<Option<FrontierRow>> = vec![None; total];
    if total == 0 {
        return Vec::new();
    }
    let (work_tx, work_rx) = channel::unbounded::<usize>();
    for i in 0..total {
        work_tx.send(i).expect("receiver alive");
    }
    drop(work_tx);
    let (done_tx, done_rx) = channel::unbounded();
    crossbeam::scope(|scope| {
        for _ in 0..jobs.clamp(1, total) {
            let (work_rx, done_tx, tasks) = (work_rx.clone(), done_tx.clone(), &tasks);
            scope.spawn(move |_| {
                for k in work_rx.iter() {
                    let (i, tpot) = tasks[k];
                    let (chip, setup) = &systems[i];
                    let row = search(chip, setup, s, tpot)
                        .unwrap_or_else(|e| FrontierRow::failed(chip, s, tpot, &e.to_string()));
                    if done_tx.send((k, row)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        for (done, (k, row)) in done_rx.iter().enumerate() {
            rows[k] = Some(row);
            progress(done + 1, total);
        }
    })
    .expect("a frontier search panicked");
    rows.into_iter().map(|r| r.expect("every task answers")).collect()
}
