//! The report of one simulation: what it took, what bound it, how far it
//! sits from the analytic floor, where the time and the bytes went.

use crate::chip::Chip;
use crate::roofline::{Roofline, TraceTotals};
use crate::sim::RunStats;
use crate::sim::network::LinkClass;
use crate::sim::stats::{ByteCounts, WAIT_KINDS};
use crate::trace::{Header, Trace};
use crate::units::{FRAC, human_bytes, human_seconds, si};
use serde::Serialize;
use std::fmt::Write;

/// Utilisation of one resource class: the mean over its instances and the
/// busiest instance.
#[derive(Clone, Debug, Serialize)]
pub struct Busiest {
    pub id: String,
    pub utilization: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Utilization {
    pub compute: f64,
    pub vector: f64,
    pub sram: f64,
    pub memory: f64,
    pub noc: f64,
    pub links: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct BusiestSet {
    pub compute: Busiest,
    pub vector: Busiest,
    pub sram: Busiest,
    pub memory: Busiest,
    pub noc: Busiest,
    pub links: Busiest,
}

/// Share of tile-time (over tiles that ran instructions) spent in each state.
#[derive(Clone, Debug, Serialize)]
pub struct TimeShares {
    pub compute: f64,
    pub memory: f64,
    pub network: f64,
    pub sync: f64,
    pub overhead: f64,
    pub idle: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct NocStats {
    pub messages: u64,
    pub packet_latency_mean: f64,
    pub packet_latency_p99: f64,
    /// Flits (one link-width each) delivered per tile per cycle in the
    /// measurement window.
    pub accepted_flits_per_node_cycle: f64,
    pub window: (u64, u64),
}

#[derive(Clone, Debug, Serialize)]
pub struct DramStats {
    pub row_hits: u64,
    pub row_misses: u64,
    pub row_conflicts: u64,
    /// Bytes moved per channel-busy cycle over peak channel bandwidth.
    pub efficiency_while_busy: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CostFigures {
    pub price_usd: Option<f64>,
    pub power_w: Option<f64>,
    pub tokens_per_second_per_kusd: Option<f64>,
    pub tokens_per_joule: Option<f64>,
    pub joules_per_token: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub chip: String,
    pub trace: String,
    pub model: String,
    pub workload: String,
    pub cycles: u64,
    pub seconds: f64,
    /// Tokens produced (expected, with speculative decoding).
    pub tokens: f64,
    pub users: u64,
    /// Seconds per token for one user (a step produces tokens/users per user).
    pub seconds_per_token: f64,
    /// Tokens per second for the whole system.
    pub tokens_per_second: f64,
    pub tokens_per_second_per_user: f64,
    pub roofline_seconds: f64,
    pub roofline: Roofline,
    /// Simulated time over the roofline floor (>= 1).
    pub simulated_over_roofline: f64,
    /// The resource class whose busiest instance was busiest ("latency"
    /// when none was busy half the time: dependencies and latency bound it).
    pub bound: String,
    pub bound_utilization: f64,
    pub utilization: Utilization,
    pub busiest: BusiestSet,
    pub time: TimeShares,
    pub bytes: ByteCounts,
    pub flops: u64,
    pub instructions: u64,
    pub events: u64,
    pub dram: Option<DramStats>,
    pub noc: Option<NocStats>,
    pub cost: CostFigures,
}

fn busiest(vals: impl Iterator<Item = (String, f64)>) -> (f64, Busiest) {
    let mut n = 0usize;
    let mut sum = 0.0;
    let mut best = Busiest { id: "-".into(), utilization: 0.0 };
    for (id, v) in vals {
        n += 1;
        sum += v;
        if v > best.utilization {
            best = Busiest { id, utilization: v };
        }
    }
    (if n == 0 { 0.0 } else { sum / n as f64 }, best)
}

impl RunReport {
    pub fn new(chip: &Chip, trace: &Trace, s: &RunStats) -> RunReport {
        Self::from_totals(chip, &trace.header, &trace.file, TraceTotals::of(chip, trace), s)
    }

    /// The report of a run of the trace `file` with header `h` whose work
    /// totals are `totals` (a lazily read trace is totalled as it is
    /// checked: `sim::scan`).
    pub fn from_totals(chip: &Chip, h: &Header, file: &str, totals: TraceTotals, s: &RunStats) -> RunReport {
        let cycles = s.cycles.0.max(1) as f64;
        let seconds = s.cycles.0 as f64 / chip.clock_hz;

        let tiles = s.tiles.iter().enumerate();
        let (compute, b_compute) =
            busiest(tiles.clone().map(|(i, t)| (format!("tile {i}"), t.matrix_busy as f64 / cycles)));
        let (vector, b_vector) =
            busiest(tiles.clone().map(|(i, t)| (format!("tile {i}"), t.vector_busy as f64 / cycles)));
        let (sram, b_sram) =
            busiest(tiles.clone().map(|(i, t)| (format!("tile {i}"), t.sram_busy_ticks as f64 / FRAC as f64 / cycles)));
        let (memory, b_memory) = busiest(
            s.channels
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("channel {i}"), c.busy_ticks as f64 / FRAC as f64 / cycles)),
        );
        let link_util = |on_chip: bool| {
            s.links.iter().zip(&s.link_state).enumerate().filter(move |(_, (l, _))| l.class.on_chip() == on_chip).map(
                move |(i, (l, st))| {
                    (format!("{:?} link {i} ({} -> {})", l.class, l.from.0, l.to.0), st.busy_cycles() / cycles)
                },
            )
        };
        let (noc, b_noc) = busiest(link_util(true).filter(|(id, _)| !id.starts_with("Gateway")));
        let (links, b_links) = busiest(link_util(false));

        let busiest_cycles = |on_chip: bool| {
            s.links
                .iter()
                .zip(&s.link_state)
                .filter(|(l, _)| l.class.on_chip() == on_chip && l.class != LinkClass::Gateway)
                .map(|(_, st)| st.busy_cycles())
                .fold(0.0, f64::max)
        };
        let peak_channel = if s.channels.is_empty() {
            1.0
        } else {
            chip.totals().memory_bandwidth / chip.clock_hz / s.channels.len() as f64
        };
        let roofline = Roofline::new(
            chip.clock_hz,
            s.tiles.iter().map(|t| (t.matrix_busy + t.vector_busy) as f64).fold(0.0, f64::max),
            s.tiles.iter().map(|t| t.sram_busy_ticks as f64 / FRAC as f64).fold(0.0, f64::max),
            s.channels.iter().map(|c| (c.bytes_read + c.bytes_written) as f64 / peak_channel).fold(0.0, f64::max),
            busiest_cycles(true),
            busiest_cycles(false),
        );

        let candidates = [
            ("compute", &b_compute),
            ("vector", &b_vector),
            ("sram", &b_sram),
            ("memory", &b_memory),
            ("noc", &b_noc),
            ("links", &b_links),
        ];
        let (bname, bmax) = candidates
            .iter()
            .fold(("latency", 0.0), |a, (n, b)| if b.utilization > a.1 { (*n, b.utilization) } else { a });
        let bound = if bmax < 0.5 { "latency".to_string() } else { bname.to_string() };

        // Where tile-time went, over tiles that ran anything.
        let active: Vec<_> = s.tiles.iter().filter(|t| t.instructions > 0).collect();
        let denom = (active.len().max(1) as f64) * cycles;
        let sum =
            |f: &dyn Fn(&crate::sim::stats::TileStats) -> u64| active.iter().map(|t| f(t)).sum::<u64>() as f64 / denom;
        let waits: Vec<f64> = WAIT_KINDS.iter().map(|k| sum(&|t| t.waits[k.index()])).collect();
        let compute_share = sum(&|t| t.compute_cycles);
        let time = TimeShares {
            compute: compute_share,
            memory: waits[0],
            network: waits[1],
            sync: waits[2],
            overhead: waits[3],
            idle: (1.0 - compute_share - waits.iter().sum::<f64>()).max(0.0),
        };

        let dram = if s.channels.is_empty() {
            None
        } else {
            let (mut h_, mut m, mut c, mut busy, mut moved) = (0, 0, 0, 0u64, 0u64);
            for ch in &s.channels {
                h_ += ch.row_hits;
                m += ch.row_misses;
                c += ch.row_conflicts;
                busy += ch.busy_ticks;
                moved += ch.bytes_read + ch.bytes_written;
            }
            let peak_per_channel = chip.totals().memory_bandwidth / chip.clock_hz / s.channels.len() as f64;
            let busy_cycles = busy as f64 / FRAC as f64;
            Some(DramStats {
                row_hits: h_,
                row_misses: m,
                row_conflicts: c,
                efficiency_while_busy: if busy_cycles > 0.0 {
                    moved as f64 / (busy_cycles * peak_per_channel)
                } else {
                    0.0
                },
            })
        };

        let noc_stats = if s.message_latency.count() == 0 {
            None
        } else {
            let (w0, w1) = s.window;
            let width = (w1.0.saturating_sub(w0.0)).max(1) as f64;
            let lat = if s.window_latency.count() > 0 { &s.window_latency } else { &s.message_latency };
            Some(NocStats {
                messages: s.message_latency.count(),
                packet_latency_mean: lat.mean(),
                packet_latency_p99: lat.quantile(0.99) as f64,
                accepted_flits_per_node_cycle: s.window_bytes as f64
                    / chip.noc.link_bw.0
                    / chip.total_tiles() as f64
                    / width,
                window: (w0.0, w1.0),
            })
        };

        let tokens = h.tokens;
        let users = h.users.max(1);
        let per_user = tokens / users as f64;
        let tps = if seconds > 0.0 { tokens / seconds } else { 0.0 };
        let cost = CostFigures {
            price_usd: chip.cost.price_usd,
            power_w: chip.cost.power_w,
            tokens_per_second_per_kusd: chip.cost.price_usd.filter(|p| *p > 0.0).map(|p| tps / (p / 1000.0)),
            tokens_per_joule: chip.cost.power_w.filter(|p| *p > 0.0).map(|p| tps / p),
            joules_per_token: chip.cost.power_w.filter(|_| tps > 0.0).map(|p| p / tps),
        };
        RunReport {
            chip: chip.name.clone(),
            trace: file.to_string(),
            model: h.model.clone(),
            workload: h.workload.clone(),
            cycles: s.cycles.0,
            seconds,
            tokens,
            users: h.users,
            seconds_per_token: if per_user > 0.0 { seconds / per_user } else { 0.0 },
            tokens_per_second: tps,
            tokens_per_second_per_user: if seconds > 0.0 { per_user / seconds } else { 0.0 },
            roofline_seconds: roofline.seconds,
            simulated_over_roofline: if roofline.seconds > 0.0 { seconds / roofline.seconds } else { 0.0 },
            roofline,
            bound,
            bound_utilization: bmax,
            utilization: Utilization { compute, vector, sram, memory, noc, links },
            busiest: BusiestSet {
                compute: b_compute,
                vector: b_vector,
                sram: b_sram,
                memory: b_memory,
                noc: b_noc,
                links: b_links,
            },
            time,
            bytes: s.bytes.clone(),
            flops: totals.flops,
            instructions: totals.instructions,
            events: s.events,
            dram,
            noc: noc_stats,
            cost,
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let pct = |v: f64| format!("{:5.1}%", v * 100.0);
        let _ = writeln!(s, "chip      {}", self.chip);
        let _ = writeln!(s, "trace     {}", self.trace);
        if !self.model.is_empty() {
            let _ = writeln!(s, "model     {}", self.model);
        }
        if !self.workload.is_empty() {
            let _ = writeln!(s, "workload  {}", self.workload);
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "time                  {} ({} cycles)", human_seconds(self.seconds), self.cycles);
        if self.tokens > 0.0 {
            let _ = writeln!(s, "tokens                {:.2} for {} user(s)", self.tokens, self.users);
            let _ = writeln!(s, "time per token/user   {}", human_seconds(self.seconds_per_token));
            let _ = writeln!(s, "tokens/s (system)     {:.1}", self.tokens_per_second);
            let _ = writeln!(s, "tokens/s per user     {:.2}", self.tokens_per_second_per_user);
        }
        let r = &self.roofline;
        let _ = writeln!(
            s,
            "roofline floor        {} ({}-bound); simulated is {:.2}x the floor",
            human_seconds(r.seconds),
            r.bound,
            self.simulated_over_roofline
        );
        let _ = writeln!(
            s,
            "  floors: compute {}  sram {}  memory {}  noc {}  links {}",
            human_seconds(r.compute),
            human_seconds(r.sram),
            human_seconds(r.memory),
            human_seconds(r.noc),
            human_seconds(r.links)
        );
        let _ = writeln!(
            s,
            "bound                 {} (busiest instance {:.1}% busy)",
            self.bound,
            self.bound_utilization * 100.0
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "utilisation      mean   busiest");
        let u = &self.utilization;
        let b = &self.busiest;
        for (name, mean, best) in [
            ("compute", u.compute, &b.compute),
            ("vector", u.vector, &b.vector),
            ("sram port", u.sram, &b.sram),
            ("memory", u.memory, &b.memory),
            ("noc links", u.noc, &b.noc),
            ("chip links", u.links, &b.links),
        ] {
            let _ = writeln!(s, "  {name:<12} {}  {}  {}", pct(mean), pct(best.utilization), best.id);
        }
        let t = &self.time;
        let _ = writeln!(
            s,
            "tile time        compute {}  memory {}  network {}  sync {}  overhead {}  idle {}",
            pct(t.compute),
            pct(t.memory),
            pct(t.network),
            pct(t.sync),
            pct(t.overhead),
            pct(t.idle)
        );
        let by = &self.bytes;
        let l2 = if by.cache_read > 0 {
            format!(" (+ {} from the L2)", human_bytes(by.cache_read as f64))
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "bytes            memory read {}{l2}  write {}  kv {}  sram {}  noc {}  chip links {}",
            human_bytes(by.memory_read as f64),
            human_bytes(by.memory_write as f64),
            human_bytes(by.kv_read as f64),
            human_bytes(by.sram as f64),
            human_bytes(by.noc as f64),
            human_bytes(by.links as f64)
        );
        let _ = writeln!(
            s,
            "work             {}  {} instructions  {} events",
            si(self.flops as f64, "FLOP"),
            self.instructions,
            self.events
        );
        if let Some(d) = &self.dram {
            let _ = writeln!(
                s,
                "dram             row hits {}  misses {}  conflicts {}  efficiency while busy {}",
                d.row_hits,
                d.row_misses,
                d.row_conflicts,
                pct(d.efficiency_while_busy)
            );
        }
        if let Some(n) = &self.noc {
            let _ = writeln!(
                s,
                "messages         {}  latency mean {:.1}  p99 {:.0} cycles  accepted {:.4} flits/node/cycle (window {}..{})",
                n.messages,
                n.packet_latency_mean,
                n.packet_latency_p99,
                n.accepted_flits_per_node_cycle,
                n.window.0,
                n.window.1
            );
        }
        let c = &self.cost;
        if let Some(p) = c.price_usd {
            let _ = writeln!(
                s,
                "cost             ${p:.0}: {:.3} tokens/s per $1k",
                c.tokens_per_second_per_kusd.unwrap_or(0.0)
            );
        }
        if let Some(w) = c.power_w {
            let _ = writeln!(s, "power            {}: {:.3} tokens/J", si(w, "W"), c.tokens_per_joule.unwrap_or(0.0));
        }
        s
    }
}
