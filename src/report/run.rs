//! The report of one simulation: what it took, what bound it, how far it
//! sits from the analytic floor, where the time and the bytes went.

use crate::chip::{Chip, Cost};
use crate::floor::Floor;
use crate::model::Model;
use crate::report::schema::{PlanJson, SCHEMA_VERSION, WorkloadJson};
use crate::roofline::{Roofline, TraceTotals};
use crate::sim::RunStats;
use crate::sim::network::{Link, LinkClass};
use crate::sim::stats::{ByteCounts, CriticalPath, PATH_CLASSES, WAIT_KINDS};
use crate::trace::{Header, Trace};
use crate::units::{cycles_of, human_bytes, human_seconds, si};
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
    pub packet_latency_mean_cycles: f64,
    pub packet_latency_p99_cycles: f64,
    /// Flits (one link-width each) delivered per tile per cycle in the
    /// measurement window.
    pub accepted_flits_per_node_cycle: f64,
    /// The measurement window, [from, to) cycles.
    pub window_cycles: (u64, u64),
}

#[derive(Clone, Debug, Serialize)]
pub struct DramStats {
    pub row_hits: u64,
    pub row_misses: u64,
    pub row_conflicts: u64,
    /// Bytes moved per channel-busy cycle over peak channel bandwidth.
    pub efficiency_while_busy: f64,
}

/// Price and power of what ran, and the work per dollar and per joule.
/// Charged for the chips used and the nodes they occupy
/// (`chip::Cost::charged`), never the whole configured system.
#[derive(Clone, Debug, Serialize)]
pub struct CostFigures {
    /// Chips charged: those the trace (or the plan) runs on.
    pub chips_charged: u32,
    /// Nodes those chips occupy (each charged its `node_*` parts).
    pub nodes_charged: u32,
    pub price_usd: Option<f64>,
    pub power_w: Option<f64>,
    pub tokens_per_second_per_kusd: Option<f64>,
    pub tokens_per_joule: Option<f64>,
    pub joules_per_token: Option<f64>,
}

impl CostFigures {
    /// The figures of `chips` chips of `cost` producing `tokens_per_second`.
    pub fn new(cost: &Cost, chips: u32, tokens_per_second: f64) -> CostFigures {
        let c = cost.charged(chips);
        let tps = tokens_per_second;
        CostFigures {
            chips_charged: c.chips_charged,
            nodes_charged: c.nodes_charged,
            price_usd: c.price_usd,
            power_w: c.power_w,
            tokens_per_second_per_kusd: c.price_usd.filter(|p| *p > 0.0).map(|p| tps / (p / 1000.0)),
            tokens_per_joule: c.power_w.filter(|p| *p > 0.0).map(|p| tps / p),
            joules_per_token: c.power_w.filter(|_| tps > 0.0).map(|p| p / tps),
        }
    }
}

/// Chips with at least one tile that ran an instruction.
pub fn chips_used(chip: &Chip, s: &RunStats) -> u32 {
    let per_chip = chip.tiles_per_chip().max(1) as usize;
    let mut used = vec![false; chip.system.chips as usize];
    for (i, t) in s.tiles.iter().enumerate() {
        if t.instructions > 0
            && let Some(u) = used.get_mut(i / per_chip)
        {
            *u = true;
        }
    }
    used.iter().filter(|u| **u).count() as u32
}

/// Cycles of the critical path per class (`sim::stats::PathClass`).
#[derive(Clone, Debug, Serialize)]
pub struct PathCycles {
    pub compute: u64,
    pub sram: u64,
    pub memory: u64,
    pub noc: u64,
    pub links: u64,
    pub sync: u64,
    pub software: u64,
}

/// The chain of events that set the finish time (arch/timing.md,
/// "Critical path"), split by what each interval was spent on.
#[derive(Clone, Debug, Serialize)]
pub struct CriticalPathJson {
    /// Its length: the run's cycles.
    pub cycles: u64,
    pub seconds: f64,
    /// Its largest class.
    pub bound: String,
    /// The tile whose instruction or operation ended the run.
    pub ends_on_tile: u32,
    /// Sums to `cycles`.
    pub cycles_by_class: PathCycles,
}

impl CriticalPathJson {
    pub fn new(cp: &CriticalPath, clock_hz: f64) -> CriticalPathJson {
        let by = cp.chain.by;
        // The largest share; ties go to the class listed first.
        let bound = PATH_CLASSES
            .iter()
            .fold((PATH_CLASSES[0], 0u64), |a, &c| if by[c.index()] > a.1 { (c, by[c.index()]) } else { a });
        CriticalPathJson {
            cycles: cp.chain.end,
            seconds: cp.chain.end as f64 / clock_hz,
            bound: bound.0.name().to_string(),
            ends_on_tile: cp.tile,
            cycles_by_class: PathCycles {
                compute: by[0],
                sram: by[1],
                memory: by[2],
                noc: by[3],
                links: by[4],
                sync: by[5],
                software: by[6],
            },
        }
    }

    /// (class name, cycles) in class order.
    pub fn classes(&self) -> [(&'static str, u64); 7] {
        let c = &self.cycles_by_class;
        [
            ("compute", c.compute),
            ("sram", c.sram),
            ("memory", c.memory),
            ("noc", c.noc),
            ("links", c.links),
            ("sync", c.sync),
            ("software", c.software),
        ]
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// `SCHEMA_VERSION` (arch/report-schema.md).
    pub schema_version: u32,
    /// `run`.
    pub command: &'static str,
    pub chip: String,
    pub trace: String,
    pub model: String,
    /// The workload and plan the trace was compiled for, rebuilt from its
    /// header (`None` for a synthetic trace: `workload_text` says what it is).
    pub workload: Option<WorkloadJson>,
    pub plan: Option<PlanJson>,
    /// The trace header's workload line, as written.
    pub workload_text: String,
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
    /// The analytic floor of the model, workload and plan the trace was
    /// compiled from (`floor::of`, the one `compare` prints); `None` for
    /// traces it cannot be rebuilt for (`floor_unavailable` says why).
    pub floor: Option<Floor>,
    pub floor_unavailable: Option<String>,
    /// Simulated time over the floor (>= 1).
    pub over_floor: Option<f64>,
    /// The busiest instance of each resource class's work at its peak rate,
    /// from the run's counters: time that instance was necessarily busy.
    pub busiest_seconds: Roofline,
    /// What bound the run: the largest class of its critical path
    /// (`critical_path.bound`).
    pub bound: String,
    /// The resource class whose busiest instance was busiest, and that
    /// instance's busy share (busy is not bound: see `critical_path`).
    pub busiest_class: String,
    pub bound_utilization: f64,
    pub critical_path: CriticalPathJson,
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
    /// Joules by component, per token, tokens per joule (arch/energy.md);
    /// `None` without an `[energy]` section.
    pub energy: Option<crate::report::energy::EnergyFigures>,
}

fn busiest<T>(vals: impl Iterator<Item = (T, f64)>, name: impl Fn(T) -> String) -> (f64, Busiest) {
    let mut n = 0usize;
    let mut sum = 0.0;
    let mut best: Option<(T, f64)> = None;
    for (id, v) in vals {
        n += 1;
        sum += v;
        if v > best.as_ref().map_or(0.0, |b| b.1) {
            best = Some((id, v));
        }
    }
    let best = match best {
        Some((id, utilization)) => Busiest { id: name(id), utilization },
        None => Busiest { id: "-".into(), utilization: 0.0 },
    };
    (if n == 0 { 0.0 } else { sum / n as f64 }, best)
}

impl RunReport {
    pub fn new(chip: &Chip, trace: &Trace, s: &RunStats) -> RunReport {
        Self::from_totals(chip, &trace.header, &trace.file, TraceTotals::of(chip, trace), s)
    }

    /// The report of a run of the trace `file` with header `h` whose work
    /// totals are `totals` (a lazily read trace is totalled as it is
    /// checked: `roofline::scan`).
    pub fn from_totals(chip: &Chip, h: &Header, file: &str, totals: TraceTotals, s: &RunStats) -> RunReport {
        Self::with_model(chip, h, file, totals, s, None)
    }

    /// `from_totals`, with the floor rebuilt from `model` (`run --model`:
    /// the config of a model that is not shipped) rather than the shipped
    /// model the header names.
    pub fn with_model(
        chip: &Chip,
        h: &Header,
        file: &str,
        totals: TraceTotals,
        s: &RunStats,
        model: Option<&Model>,
    ) -> RunReport {
        let cycles = s.cycles.0.max(1) as f64;
        let seconds = s.cycles.0 as f64 / chip.clock_hz;

        // Only the busiest of each kind is named (a label for every tile
        // and link was a measurable part of a big system's report).
        let tiles = s.tiles.iter().enumerate();
        let tile = |i: usize| format!("tile {i}");
        let (compute, b_compute) = busiest(tiles.clone().map(|(i, t)| (i, t.matrix_busy as f64 / cycles)), tile);
        let (vector, b_vector) = busiest(tiles.clone().map(|(i, t)| (i, t.vector_busy as f64 / cycles)), tile);
        let (sram, b_sram) = busiest(tiles.clone().map(|(i, t)| (i, cycles_of(t.sram_busy_ticks) / cycles)), tile);
        let (memory, b_memory) =
            busiest(s.channels.iter().enumerate().map(|(i, c)| (i, cycles_of(c.busy_ticks) / cycles)), |i| {
                format!("channel {i}")
            });
        let link_util = |on_chip: bool| {
            s.links
                .iter()
                .zip(&s.link_state)
                .enumerate()
                .filter(move |(_, (l, _))| l.class.on_chip() == on_chip)
                .map(move |(i, (l, st))| ((i, l), st.busy_cycles() / cycles))
        };
        let link = |(i, l): (usize, &Link)| format!("{:?} link {i} ({} -> {})", l.class, l.from.0, l.to.0);
        let (noc, b_noc) = busiest(link_util(true).filter(|((_, l), _)| l.class != LinkClass::Gateway), link);
        let (links, b_links) = busiest(link_util(false), link);

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
            s.tiles.iter().map(|t| cycles_of(t.sram_busy_ticks)).fold(0.0, f64::max),
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
            .fold(("none", 0.0), |a, (n, b)| if b.utilization > a.1 { (*n, b.utilization) } else { a });
        let critical_path = CriticalPathJson::new(&s.critical_path, chip.clock_hz);

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
            let busy_cycles = cycles_of(busy);
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
                packet_latency_mean_cycles: lat.mean(),
                packet_latency_p99_cycles: lat.quantile(0.99) as f64,
                accepted_flits_per_node_cycle: s.window_bytes as f64
                    / chip.noc.link_bw.0
                    / chip.total_tiles() as f64
                    / width,
                window_cycles: (w0.0, w1.0),
            })
        };

        let tokens = h.tokens;
        let users = h.users.max(1);
        let per_user = tokens / users as f64;
        let tps = if seconds > 0.0 { tokens / seconds } else { 0.0 };
        let used = chips_used(chip, s);
        let energy = crate::report::energy::EnergyFigures::of(chip, &totals, s, used, tokens);
        let cost = CostFigures::new(&chip.cost, used, tps).with_energy(energy.as_ref());
        let rebuilt = crate::floor::rebuild(chip, &h.model, &h.workload, model);
        let floor = rebuilt.as_ref().map(|(m, w, p)| crate::floor::of(m, chip, w, p)).map_err(|e| e.clone());
        let (workload, plan) = match &rebuilt {
            Ok((_, w, p)) => {
                let mut plan = PlanJson::of(p);
                // A trace compiled before strategies were named: say so
                // rather than today's default.
                if let Some((_, text)) = h.workload.split_once(" plan: ")
                    && !text.contains("; ")
                {
                    plan.strategy = "unrecorded";
                    plan.strategy_reason = "the trace predates named strategies".into();
                    plan.description = text.to_string();
                }
                (Some(WorkloadJson::of(w)), Some(plan))
            }
            Err(_) => (None, None),
        };
        RunReport {
            chip: chip.name.clone(),
            trace: file.to_string(),
            schema_version: SCHEMA_VERSION,
            command: "run",
            model: h.model.clone(),
            workload,
            plan,
            workload_text: h.workload.clone(),
            cycles: s.cycles.0,
            seconds,
            tokens,
            users: h.users,
            seconds_per_token: if per_user > 0.0 { seconds / per_user } else { 0.0 },
            tokens_per_second: tps,
            tokens_per_second_per_user: if seconds > 0.0 { per_user / seconds } else { 0.0 },
            over_floor: floor.as_ref().ok().filter(|f| f.seconds > 0.0).map(|f| seconds / f.seconds),
            floor_unavailable: floor.as_ref().err().cloned(),
            floor: floor.ok(),
            busiest_seconds: roofline,
            bound: critical_path.bound.clone(),
            busiest_class: bname.to_string(),
            bound_utilization: bmax,
            critical_path,
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
            energy,
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
        if !self.workload_text.is_empty() {
            let _ = writeln!(s, "workload  {}", self.workload_text);
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "time                  {} ({} cycles)", human_seconds(self.seconds), self.cycles);
        if self.tokens > 0.0 {
            let _ = writeln!(s, "tokens                {:.2} for {} user(s)", self.tokens, self.users);
            let _ = writeln!(s, "time per token/user   {}", human_seconds(self.seconds_per_token));
            let _ = writeln!(s, "tokens/s (system)     {:.1}", self.tokens_per_second);
            let _ = writeln!(s, "tokens/s per user     {:.2}", self.tokens_per_second_per_user);
        }
        match (&self.floor, &self.floor_unavailable) {
            (Some(f), _) => {
                let _ = write!(s, "{}", crate::report::compare::floor_lines(f));
                let _ = writeln!(s, "simulated is {:.2}x the floor", self.over_floor.unwrap_or(0.0));
            }
            (None, why) => {
                let _ = writeln!(s, "floor             - ({})", why.as_deref().unwrap_or("not available"));
            }
        }
        let r = &self.busiest_seconds;
        let _ = writeln!(
            s,
            "busiest instance  compute {}  sram {}  memory {}  noc {}  links {} (work at peak)",
            human_seconds(r.compute),
            human_seconds(r.sram),
            human_seconds(r.memory),
            human_seconds(r.noc),
            human_seconds(r.links)
        );
        let cp = &self.critical_path;
        let total = cp.cycles.max(1) as f64;
        let mut parts: Vec<(&str, u64)> = cp.classes().into_iter().filter(|c| c.1 > 0).collect();
        parts.sort_by_key(|p| std::cmp::Reverse(p.1));
        let parts: Vec<String> = parts.iter().map(|(n, c)| format!("{n} {:.1}%", *c as f64 / total * 100.0)).collect();
        let _ = writeln!(
            s,
            "critical path     {} ({} cycles, ends on tile {}): {}",
            human_seconds(cp.seconds),
            cp.cycles,
            cp.ends_on_tile,
            if parts.is_empty() { "-".to_string() } else { parts.join("  ") }
        );
        let _ = writeln!(
            s,
            "bound                 {} (critical path; busiest resource {}, {:.1}% busy)",
            self.bound,
            self.busiest_class,
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
                n.packet_latency_mean_cycles,
                n.packet_latency_p99_cycles,
                n.accepted_flits_per_node_cycle,
                n.window_cycles.0,
                n.window_cycles.1
            );
        }
        let c = &self.cost;
        let charged = format!("{} chip(s) in {} node(s) charged", c.chips_charged, c.nodes_charged);
        match c.price_usd {
            Some(p) => {
                let _ = writeln!(
                    s,
                    "cost             ${p:.0} ({charged}): {:.3} tokens/s per $1k",
                    c.tokens_per_second_per_kusd.unwrap_or(0.0)
                );
            }
            None => {
                let _ = writeln!(s, "cost             - (the config gives no price)");
            }
        }
        match c.power_w {
            Some(w) => {
                let _ = writeln!(s, "power            {} ({charged})", si(w, "W"));
            }
            None => {
                let _ = writeln!(s, "power            - (the config gives no power)");
            }
        }
        match &self.energy {
            Some(e) => s.push_str(&e.lines()),
            None => s.push_str("energy            - (the config has no [energy] section)\n"),
        }
        s
    }
}
