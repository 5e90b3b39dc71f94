//! What a serving run measured: per-request latencies (TTFT, TPOT,
//! end-to-end), their distribution, throughput, goodput against the SLOs,
//! and tokens per second per $1k and per joule for the chips the plan uses.

use super::engine::{Outcome, PoolStats};
use super::request::Request;
use crate::report::csv::escape;
use crate::units::human_seconds;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, Write};

/// The version of the JSON summary's layout; bumped when a field changes
/// meaning or goes away (new fields do not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// Latency targets: a request meets them when its time to first token and
/// its mean time per output token are both within.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Slo {
    pub ttft_seconds: Option<f64>,
    pub tpot_seconds: Option<f64>,
}

impl Slo {
    pub fn met(&self, r: &RequestRecord) -> bool {
        self.ttft_seconds.is_none_or(|t| r.ttft_seconds <= t)
            && self.tpot_seconds.is_none_or(|t| r.tpot_seconds.is_none_or(|x| x <= t))
    }
}

/// One request's times.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRecord {
    pub id: u64,
    pub arrival_seconds: f64,
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    pub first_token_seconds: f64,
    pub finish_seconds: f64,
    /// First token minus arrival.
    pub ttft_seconds: f64,
    /// (finish - first token) / (output tokens - 1); none for one token.
    pub tpot_seconds: Option<f64>,
    pub e2e_seconds: f64,
    pub preemptions: u32,
    pub met_slo: bool,
}

/// Per-request records of a finished run, in request order.
pub fn records(requests: &[Request], outcome: &Outcome, slo: &Slo) -> Vec<RequestRecord> {
    requests
        .iter()
        .zip(&outcome.requests)
        .map(|(r, l)| {
            let first = l.first_token.unwrap_or(f64::NAN);
            let finish = l.finish.unwrap_or(f64::NAN);
            let mut rec = RequestRecord {
                id: r.id,
                arrival_seconds: r.arrival_seconds,
                prompt_tokens: r.prompt_tokens,
                output_tokens: r.output_tokens,
                first_token_seconds: first,
                finish_seconds: finish,
                ttft_seconds: first - r.arrival_seconds,
                tpot_seconds: (r.output_tokens > 1).then(|| (finish - first) / (r.output_tokens - 1) as f64),
                e2e_seconds: finish - r.arrival_seconds,
                preemptions: l.preemptions,
                met_slo: false,
            };
            rec.met_slo = slo.met(&rec);
            rec
        })
        .collect()
}

/// Columns of the per-request CSV, in order.
pub const REQUEST_COLUMNS: [&str; 11] = [
    "id",
    "arrival_seconds",
    "prompt_tokens",
    "output_tokens",
    "first_token_seconds",
    "finish_seconds",
    "ttft_seconds",
    "tpot_seconds",
    "e2e_seconds",
    "preemptions",
    "met_slo",
];

/// The per-request CSV: a header, then one row per request (an empty
/// `tpot_seconds` for one-token outputs).
pub fn write_requests_csv(w: &mut dyn Write, records: &[RequestRecord]) -> io::Result<()> {
    writeln!(w, "{}", REQUEST_COLUMNS.map(escape).join(","))?;
    for r in records {
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{},{},{}",
            r.id,
            r.arrival_seconds,
            r.prompt_tokens,
            r.output_tokens,
            r.first_token_seconds,
            r.finish_seconds,
            r.ttft_seconds,
            r.tpot_seconds.map_or(String::new(), |t| t.to_string()),
            r.e2e_seconds,
            r.preemptions,
            r.met_slo
        )?;
    }
    Ok(())
}

/// Mean and nearest-rank percentiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Percentiles {
    pub fn of(mut xs: Vec<f64>) -> Percentiles {
        xs.retain(|x| x.is_finite());
        if xs.is_empty() {
            return Percentiles::default();
        }
        xs.sort_by(f64::total_cmp);
        let rank = |q: f64| xs[((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1];
        Percentiles { mean: xs.iter().sum::<f64>() / xs.len() as f64, p50: rank(0.5), p90: rank(0.9), p99: rank(0.99) }
    }
}

/// One pool of the serving system, for the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolSummary {
    pub chip: String,
    pub plan: String,
    /// Chips the plan uses, of the configured system's.
    pub chips_used: u32,
    pub chips_in_system: u32,
    /// Price and power of the chips used and their nodes (`chip::Cost::charged`).
    pub price_usd_charged: Option<f64>,
    pub power_w_charged: Option<f64>,
    pub kv_capacity_tokens: u64,
    #[serde(flatten)]
    pub stats: PoolStats,
}

/// The JSON summary of a run (arch/serve.md, "Outputs").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub schema_version: u32,
    pub model: String,
    pub scheduler: String,
    pub pools: Vec<PoolSummary>,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// First arrival to last finish.
    pub duration_seconds: f64,
    pub ttft_seconds: Percentiles,
    pub tpot_seconds: Percentiles,
    pub e2e_seconds: Percentiles,
    /// Output tokens per second over the run.
    pub tokens_per_second: f64,
    pub input_tokens_per_second: f64,
    pub requests_per_second: f64,
    /// 1 / mean TPOT: the decode speed an average user sees.
    pub tokens_per_second_per_user: f64,
    pub slo: Slo,
    /// Share of requests meeting both SLOs.
    pub slo_attainment: f64,
    pub goodput_requests_per_second: f64,
    pub preemptions: u64,
    pub requests_delayed_by_kv: u64,
    pub chips_used: u32,
    pub price_usd_charged: Option<f64>,
    pub power_w_charged: Option<f64>,
    pub tokens_per_second_per_kusd: Option<f64>,
    pub tokens_per_joule: Option<f64>,
    pub kv_transfers: u64,
    pub kv_transfer_bytes: f64,
    pub kv_transfer_seconds: Percentiles,
}

impl Summary {
    pub fn new(
        model: &str,
        scheduler: &str,
        pools: Vec<PoolSummary>,
        recs: &[RequestRecord],
        outcome: &Outcome,
        slo: Slo,
    ) -> Summary {
        let start = recs.iter().map(|r| r.arrival_seconds).fold(f64::INFINITY, f64::min);
        let end = recs.iter().map(|r| r.finish_seconds).fold(f64::NEG_INFINITY, f64::max);
        let duration = if end > start { end - start } else { 0.0 };
        let per_s = |x: f64| if duration > 0.0 { x / duration } else { 0.0 };
        let output: u64 = recs.iter().map(|r| r.output_tokens).sum();
        let input: u64 = recs.iter().map(|r| r.prompt_tokens).sum();
        let met = recs.iter().filter(|r| r.met_slo).count();
        let tpot = Percentiles::of(recs.iter().filter_map(|r| r.tpot_seconds).collect());
        let tps = per_s(output as f64);
        let sum_opt = |f: fn(&PoolSummary) -> Option<f64>| pools.iter().map(f).sum::<Option<f64>>();
        let price = sum_opt(|p| p.price_usd_charged);
        let power = sum_opt(|p| p.power_w_charged);
        Summary {
            schema_version: SCHEMA_VERSION,
            model: model.to_string(),
            scheduler: scheduler.to_string(),
            requests: recs.len() as u64,
            input_tokens: input,
            output_tokens: output,
            duration_seconds: duration,
            ttft_seconds: Percentiles::of(recs.iter().map(|r| r.ttft_seconds).collect()),
            tpot_seconds: tpot,
            e2e_seconds: Percentiles::of(recs.iter().map(|r| r.e2e_seconds).collect()),
            tokens_per_second: tps,
            input_tokens_per_second: per_s(input as f64),
            requests_per_second: per_s(recs.len() as f64),
            tokens_per_second_per_user: if tpot.mean > 0.0 { 1.0 / tpot.mean } else { 0.0 },
            slo,
            slo_attainment: if recs.is_empty() { 0.0 } else { met as f64 / recs.len() as f64 },
            goodput_requests_per_second: per_s(met as f64),
            preemptions: outcome.pools.iter().map(|p| p.preemptions).sum(),
            requests_delayed_by_kv: outcome.requests.iter().filter(|r| r.kv_delayed).count() as u64,
            chips_used: pools.iter().map(|p| p.chips_used).sum(),
            price_usd_charged: price,
            power_w_charged: power,
            tokens_per_second_per_kusd: price.filter(|p| *p > 0.0).map(|p| tps / (p / 1000.0)),
            tokens_per_joule: power.filter(|p| *p > 0.0).map(|p| tps / p),
            kv_transfers: outcome.transfers.len() as u64,
            kv_transfer_bytes: outcome.transfers.iter().map(|t| t.bytes).sum(),
            kv_transfer_seconds: Percentiles::of(
                outcome.transfers.iter().map(|t| t.end_seconds - t.start_seconds).collect(),
            ),
            pools,
        }
    }

    /// The human summary.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let p = |x: &Percentiles| {
            format!(
                "mean {:>10}  p50 {:>10}  p90 {:>10}  p99 {:>10}",
                human_seconds(x.mean),
                human_seconds(x.p50),
                human_seconds(x.p90),
                human_seconds(x.p99)
            )
        };
        let _ = writeln!(s, "model        {}  scheduler {}", self.model, self.scheduler);
        for pool in &self.pools {
            let _ = writeln!(
                s,
                "{:<12} {} ({} of {} chips; {}), KV cache {} tokens in {} pages of {}",
                pool.stats.role,
                pool.chip,
                pool.chips_used,
                pool.chips_in_system,
                pool.plan,
                pool.kv_capacity_tokens,
                pool.stats.kv_pages,
                pool.stats.kv_block_tokens
            );
            let _ = writeln!(
                s,
                "             {} steps ({} prefill, {} decode, {} mixed), busy {}, mean decode batch {:.1}, peak KV {:.0}%",
                pool.stats.steps,
                pool.stats.prefill_steps,
                pool.stats.decode_steps,
                pool.stats.mixed_steps,
                human_seconds(pool.stats.busy_seconds),
                pool.stats.mean_decode_batch,
                if pool.stats.kv_pages > 0 {
                    100.0 * pool.stats.kv_peak_pages as f64 / pool.stats.kv_pages as f64
                } else {
                    0.0
                }
            );
        }
        let _ = writeln!(
            s,
            "requests     {} ({} prompt tokens, {} output tokens) in {}",
            self.requests,
            self.input_tokens,
            self.output_tokens,
            human_seconds(self.duration_seconds)
        );
        let _ = writeln!(s, "TTFT         {}", p(&self.ttft_seconds));
        let _ = writeln!(s, "TPOT         {}", p(&self.tpot_seconds));
        let _ = writeln!(s, "end to end   {}", p(&self.e2e_seconds));
        let _ = writeln!(
            s,
            "throughput   {:.1} tokens/s ({:.1} per user), {:.3} requests/s",
            self.tokens_per_second, self.tokens_per_second_per_user, self.requests_per_second
        );
        let slo = |x: Option<f64>| x.map_or("none".to_string(), human_seconds);
        let _ = writeln!(
            s,
            "SLO          TTFT {}, TPOT {}: {:.1}% met, goodput {:.3} requests/s",
            slo(self.slo.ttft_seconds),
            slo(self.slo.tpot_seconds),
            100.0 * self.slo_attainment,
            self.goodput_requests_per_second
        );
        let _ = writeln!(
            s,
            "KV cache     {} preemptions (recompute), {} requests delayed by a full cache",
            self.preemptions, self.requests_delayed_by_kv
        );
        if self.kv_transfers > 0 {
            let _ = writeln!(
                s,
                "KV transfer  {} transfers, {:.3} GB, {}",
                self.kv_transfers,
                self.kv_transfer_bytes / 1e9,
                p(&self.kv_transfer_seconds)
            );
        }
        let opt = |v: Option<f64>, unit: &str| {
            v.map_or("- (no figure in the config)".to_string(), |v| format!("{v:.3} {unit}"))
        };
        let _ = writeln!(
            s,
            "cost         {} chips used: {}, {}",
            self.chips_used,
            opt(self.tokens_per_second_per_kusd, "tokens/s per $1k"),
            opt(self.tokens_per_joule, "tokens/J")
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(|x| x as f64).collect());
        assert_eq!((p.p50, p.p90, p.p99, p.mean), (50.0, 90.0, 99.0, 50.5));
        let p = Percentiles::of(vec![3.0]);
        assert_eq!((p.p50, p.p99), (3.0, 3.0));
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
    }
}
