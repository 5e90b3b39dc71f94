//! Side-by-side comparison of chips on one model and workload: the
//! analytic floor from the model shape, and the simulated result.

use crate::chip::{Charged, Chip};
use crate::compiler::analytic::{self, Totals};
use crate::compiler::{self, CompileError, Compiled, Plan, PlanRequest, Workload};
use crate::floor::{self, Floor};
use crate::model::Model;
use crate::report::run::{CostFigures, RunReport};
use crate::report::schema::{PlanJson, WorkloadJson};
use crate::sim::{self, SimError};
use crate::units::{human_bytes, human_seconds, si};
use serde::Serialize;
use std::fmt::Write;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub chip: String,
    pub plan: PlanJson,
    pub chips_used: u32,
    /// Closed-form work of one trace (all steps, replicas, micro-batches).
    pub totals: Totals,
    /// The floor for the whole trace (`floor::of`, the one `run` prints).
    pub floor: Floor,
    pub tokens: f64,
    pub floor_tokens_per_second: f64,
    pub simulated: Option<Simulated>,
    /// Price and power of the chips the plan uses and the nodes they
    /// occupy (`chip::Cost::charged`).
    pub cost: Charged,
}

#[derive(Clone, Debug, Serialize)]
pub struct Simulated {
    pub seconds: f64,
    pub seconds_per_token: f64,
    pub tokens_per_second: f64,
    pub tokens_per_second_per_user: f64,
    pub over_floor: f64,
    pub bound: String,
    pub tokens_per_second_per_kusd: Option<f64>,
    /// From the energy model (arch/energy.md), as `run`'s `cost`.
    pub tokens_per_joule: Option<f64>,
    pub joules_per_token: Option<f64>,
    /// The run's energy over its time (the energy model), beside the
    /// power charged (`cost.power_w`).
    pub average_power_w: Option<f64>,
}

/// Why one chip cannot give a row: the compiler refused (the model does not
/// fit, an impossible plan) or the simulation failed (a deadlock).
#[derive(Debug, thiserror::Error)]
pub enum PointError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Sim(#[from] SimError),
}

impl PointError {
    /// `DoesNotFit` for the compiler's fit error, `Error` for anything else.
    pub fn status(&self) -> Status {
        match self {
            PointError::Compile(CompileError::DoesNotFit(_)) => Status::DoesNotFit,
            _ => Status::Error,
        }
    }
}

/// Whether one chip (or sweep point) ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// The compiler's fit error: the model and KV cache do not fit the chip.
    DoesNotFit,
    /// Anything else: an impossible plan, a deadlocked simulation.
    Error,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::DoesNotFit => "does-not-fit",
            Status::Error => "error",
        }
    }
}

impl Row {
    /// The analytic floor of `w` on `chip` under the plan the compiler
    /// would choose: bytes and FLOPs from the model shape over the plan's
    /// chips' peak rates (`tilesim roofline`).
    pub fn planned(model: &Model, chip: &Chip, w: &Workload, req: &PlanRequest) -> Result<Row, CompileError> {
        compiler::check_types(chip, w)?;
        let plan = compiler::plan::choose(model, w, chip, req)?;
        Ok(Row::floor(model, chip, w, &plan))
    }

    /// One chip's row of a comparison or a sweep: the floor, then, when
    /// `simulate`, the compiled trace simulated.
    pub fn evaluate(
        model: &Model,
        chip: &Chip,
        w: &Workload,
        req: &PlanRequest,
        simulate: bool,
    ) -> Result<Row, PointError> {
        let mut row = Row::planned(model, chip, w, req)?;
        if simulate {
            sim::budget::check_before_compile(&model.name, chip)?;
            let c = compiler::compile(model, chip, w, req)?;
            row.simulate(&c)?;
        }
        Ok(row)
    }

    /// The row of `plan`'s floor (`floor::of`), before any simulation.
    pub fn floor(model: &Model, chip: &Chip, w: &Workload, plan: &Plan) -> Row {
        let t = analytic::for_plan(model, w, plan);
        let floor = floor::of(model, chip, w, plan);
        let used = (plan.dp * plan.chips_per_replica()) as f64;
        let floor_seconds = floor.seconds;
        let tokens = w.produced_per_user() * w.batch as f64 * plan.steps as f64;
        Row {
            chip: chip.name.clone(),
            plan: PlanJson::of(plan),
            chips_used: used as u32,
            totals: t,
            floor,
            tokens,
            floor_tokens_per_second: if floor_seconds > 0.0 { tokens / floor_seconds } else { 0.0 },
            simulated: None,
            cost: chip.cost.charged(used as u32),
        }
    }

    /// Simulates the compiled trace and records the result.
    pub fn simulate(&mut self, c: &Compiled<'_>) -> Result<(), SimError> {
        let trace = c.trace();
        let stats = sim::simulate(c.chip, &trace, &Default::default())?;
        let r = RunReport::new(c.chip, &trace, &stats);
        // Charged for the plan's chips (the trace runs on exactly those).
        let cost = CostFigures::new(&c.chip.cost, self.chips_used, r.tokens_per_second).with_energy(r.energy.as_ref());
        self.simulated = Some(Simulated {
            seconds: r.seconds,
            seconds_per_token: r.seconds_per_token,
            tokens_per_second: r.tokens_per_second,
            tokens_per_second_per_user: r.tokens_per_second_per_user,
            over_floor: r.seconds / self.floor.seconds.max(1e-30),
            bound: r.bound,
            tokens_per_second_per_kusd: cost.tokens_per_second_per_kusd,
            tokens_per_joule: cost.tokens_per_joule,
            joules_per_token: cost.joules_per_token,
            average_power_w: r.energy.as_ref().map(|e| e.average_power_w),
        });
        Ok(())
    }

    /// The `tilesim roofline` table.
    pub fn floor_table(&self) -> String {
        let t = &self.totals;
        let mut s = String::new();
        let _ =
            writeln!(s, "chip              {} ({} chips used; {})", self.chip, self.chips_used, self.plan.description);
        let _ = writeln!(s, "weights read      {}", human_bytes(t.weight_bytes));
        let _ = writeln!(
            s,
            "KV read           {} attended, {} from memory",
            human_bytes(t.kv_bytes),
            human_bytes(t.kv_read_bytes)
        );
        let _ = writeln!(s, "KV written        {}", human_bytes(t.kv_write_bytes));
        let _ =
            writeln!(s, "work              {} ({} in attention)", si(t.flops(), "FLOP"), si(2.0 * t.attn_macs, "FLOP"));
        let _ = write!(s, "{}", floor_lines(&self.floor));
        let _ = writeln!(s, "tokens            {:.2}", self.tokens);
        let _ = writeln!(s, "tokens/s ceiling  {:.1}", self.floor_tokens_per_second);
        let c = &self.cost;
        let _ = writeln!(
            s,
            "charged           {} chip(s) in {} node(s): {}, {}",
            c.chips_charged,
            c.nodes_charged,
            c.price_usd.map_or("no price".into(), |p| format!("${p:.0}")),
            c.power_w.map_or("no power".into(), |w| si(w, "W"))
        );
        s
    }
}

/// One chip (and strategy) of a comparison: its row, or why it could not
/// run. In JSON a `status` key (`ok`, `does-not-fit`, `error`) comes first;
/// an `ok` entry carries the row's keys, the others `chip`, `strategy`
/// (the one requested, or null) and `error`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Entry {
    Ok(Box<Row>),
    DoesNotFit(Failed),
    Error(Failed),
}

/// A chip that could not run: the message says why (for a model that does
/// not fit, what would).
#[derive(Clone, Debug, Serialize)]
pub struct Failed {
    pub chip: String,
    pub strategy: Option<&'static str>,
    pub error: String,
}

impl Entry {
    /// `evaluate`'s result as an entry of a comparison.
    pub fn from_result(chip: &str, strategy: Option<&'static str>, r: Result<Row, PointError>) -> Entry {
        match r {
            Ok(row) => Entry::Ok(Box::new(row)),
            Err(e) => {
                let f = Failed { chip: chip.to_string(), strategy, error: e.to_string() };
                match e.status() {
                    Status::DoesNotFit => Entry::DoesNotFit(f),
                    _ => Entry::Error(f),
                }
            }
        }
    }

    pub fn status(&self) -> Status {
        match self {
            Entry::Ok(_) => Status::Ok,
            Entry::DoesNotFit(_) => Status::DoesNotFit,
            Entry::Error(_) => Status::Error,
        }
    }

    pub fn row(&self) -> Option<&Row> {
        match self {
            Entry::Ok(r) => Some(r),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// `SCHEMA_VERSION` (arch/report-schema.md).
    pub schema_version: u32,
    /// `compare` or `roofline` (a comparison of one chip, not simulated).
    pub command: &'static str,
    pub model: String,
    pub workload: WorkloadJson,
    pub rows: Vec<Entry>,
}

impl Comparison {
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "model     {}", self.model);
        let _ = writeln!(s, "workload  {}\n", self.workload.description);
        let _ = writeln!(
            s,
            "{:<16} {:<8} {:>5} {:>11} {:>11} {:>11} {:>11} {:>11} {:>7} {:>10} {:>11} {:>9} {:>10} {:>9}",
            "chip",
            "strategy",
            "chips",
            "$ charged",
            "W charged",
            "W average",
            "floor",
            "simulated",
            "x floor",
            "bound",
            "s/token",
            "tok/s",
            "tok/s/$1k",
            "tok/J"
        );
        for e in &self.rows {
            let r = match e {
                Entry::Ok(r) => r,
                Entry::DoesNotFit(f) | Entry::Error(f) => {
                    let _ = writeln!(s, "{:<16} {:<8} {}", f.chip, f.strategy.unwrap_or("-"), e.status().name());
                    continue;
                }
            };
            let sim = r.simulated.as_ref();
            let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
            let _ = writeln!(
                s,
                "{:<16} {:<8} {:>5} {:>11} {:>11} {:>11} {:>11} {:>11} {:>7} {:>10} {:>11} {:>9} {:>10} {:>9}",
                r.chip,
                r.plan.strategy,
                r.chips_used,
                r.cost.price_usd.map_or("-".into(), |p| format!("{p:.0}")),
                r.cost.power_w.map_or("-".into(), |w| si(w, "W")),
                sim.and_then(|x| x.average_power_w).map_or("-".into(), |w| si(w, "W")),
                human_seconds(r.floor.seconds),
                sim.map_or("-".into(), |x| human_seconds(x.seconds)),
                opt(sim.map(|x| x.over_floor), 2),
                sim.map_or("-".into(), |x| x.bound.clone()),
                sim.map_or("-".into(), |x| human_seconds(x.seconds_per_token)),
                opt(sim.map(|x| x.tokens_per_second), 1),
                opt(sim.and_then(|x| x.tokens_per_second_per_kusd), 3),
                opt(sim.and_then(|x| x.tokens_per_joule), 3),
            );
        }
        let _ = writeln!(s);
        for e in &self.rows {
            match e {
                Entry::Ok(r) => {
                    let _ = writeln!(
                        s,
                        "{:<16} {}\n{:<16}   {} strategy: {}",
                        r.chip, r.plan.description, "", r.plan.strategy, r.plan.strategy_reason
                    );
                }
                Entry::DoesNotFit(f) | Entry::Error(f) => {
                    let _ = writeln!(s, "{:<16} {}: {}", f.chip, e.status().name(), f.error);
                }
            }
        }
        s
    }
}

/// The floor's lines in a table: both bounds, the larger named.
pub fn floor_lines(f: &Floor) -> String {
    let l = &f.latency;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "floor             {} ({}-bound; throughput {}, latency {})",
        human_seconds(f.seconds),
        f.bound,
        human_seconds(f.throughput_seconds),
        human_seconds(f.latency_seconds)
    );
    let _ = writeln!(
        s,
        "  throughput      memory {}  compute {}  ({:.2} chips busy at once)",
        human_seconds(f.memory_seconds),
        human_seconds(f.compute_seconds),
        f.busy_chips
    );
    let ar = match l.all_reduce_algorithm {
        Some(a) => format!(
            "{} all-reduces x {} hops ({a}) {}",
            l.all_reduces,
            l.hops_per_all_reduce,
            human_seconds(l.all_reduce_seconds)
        ),
        None => "no all-reduces".into(),
    };
    let noc = if l.noc_messages > 0 {
        format!("; NoC {} messages over {} links {}", l.noc_messages, l.noc_links, human_seconds(l.noc_seconds))
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "  latency         {} stage hand-offs {}; {ar}{noc}",
        l.stage_handoffs,
        human_seconds(l.stage_handoff_seconds)
    );
    s
}
