//! Side-by-side comparison of chips on one model and workload: the
//! analytic floor from the model shape, and the simulated result.

use crate::chip::{Chip, Memory};
use crate::compiler::analytic::{self, Totals};
use crate::compiler::{self, CompileError, Compiled, Plan, PlanRequest, Workload};
use crate::model::Model;
use crate::report::run::RunReport;
use crate::sim::{self, SimError};
use crate::units::{human_bytes, human_seconds, si};
use serde::Serialize;
use std::fmt::Write;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub chip: String,
    pub plan: String,
    /// How activations move (memory, root, tiled) and why the plan picked it.
    pub strategy: &'static str,
    pub strategy_reason: String,
    pub chips_used: u32,
    /// Closed-form work of one trace (all steps, replicas, micro-batches).
    pub totals: Totals,
    /// Floors in seconds for the whole trace.
    pub memory_floor: f64,
    pub compute_floor: f64,
    pub floor_seconds: f64,
    pub floor_bound: &'static str,
    pub tokens: f64,
    pub floor_tokens_per_second: f64,
    pub simulated: Option<Simulated>,
    pub price_usd: Option<f64>,
    pub power_w: Option<f64>,
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
    pub tokens_per_joule: Option<f64>,
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

impl Row {
    /// The analytic floor of `w` on `chip` under the plan the compiler
    /// would choose: bytes and FLOPs from the model shape over the plan's
    /// chips' peak rates (`tilesim roofline`).
    pub fn planned(model: &Model, chip: &Chip, w: &Workload, req: &PlanRequest) -> Result<Row, CompileError> {
        compiler::check_types(chip, w)?;
        let plan = compiler::plan::choose(model, w, chip, req)?;
        let t = analytic::for_plan(model, w, &plan);
        Ok(Row::floor(chip, w, &plan, t))
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
            let c = compiler::compile(model, chip, w, req)?;
            row.simulate(&c)?;
        }
        Ok(row)
    }

    /// The floor: bytes over the memory the weights are read from, FLOPs
    /// over peak, for the chips the plan can keep busy at once.
    pub fn floor(chip: &Chip, w: &Workload, plan: &Plan, t: Totals) -> Row {
        let per_chip = chip.totals();
        let used = (plan.dp * plan.chips_per_replica()) as f64;
        // A pipeline's stages work at once only on different micro-batches:
        // with fewer in flight than stages (one user over pp = 8), only that
        // share of the chips can be busy at any moment.
        let in_flight = plan.micro_batches(0).len().max(1) as f64;
        let busy = used * (in_flight / plan.pp as f64).min(1.0);
        let chips = chip.system.chips as f64;
        let (mem_bytes, mem_bw) = match chip.memory {
            Memory::SramOnly => (t.weight_bytes + t.kv_bytes, per_chip.sram_bandwidth / chips * busy),
            _ => (t.weight_bytes + t.kv_read_bytes + t.kv_write_bytes, per_chip.memory_bandwidth / chips * busy),
        };
        let peak = chip.tile.macs_per_cycle(w.weights).unwrap_or(1) as f64
            * 2.0
            * chip.clock_hz
            * chip.tiles_per_chip() as f64
            * busy;
        let memory_floor = mem_bytes / mem_bw;
        let compute_floor = t.flops() / peak;
        let (floor_seconds, floor_bound) =
            if memory_floor >= compute_floor { (memory_floor, "memory") } else { (compute_floor, "compute") };
        let tokens = w.produced_per_user() * w.batch as f64 * plan.steps as f64;
        Row {
            chip: chip.name.clone(),
            plan: plan.describe(),
            strategy: plan.strategy.name(),
            strategy_reason: plan.strategy_reason.clone(),
            chips_used: used as u32,
            totals: t,
            memory_floor,
            compute_floor,
            floor_seconds,
            floor_bound,
            tokens,
            floor_tokens_per_second: if floor_seconds > 0.0 { tokens / floor_seconds } else { 0.0 },
            simulated: None,
            price_usd: chip.cost.price_usd,
            power_w: chip.cost.power_w,
        }
    }

    /// Simulates the compiled trace and records the result.
    pub fn simulate(&mut self, c: &Compiled<'_>) -> Result<(), SimError> {
        let trace = c.trace();
        let stats = sim::simulate(c.chip, &trace, &Default::default())?;
        let r = RunReport::new(c.chip, &trace, &stats);
        self.simulated = Some(Simulated {
            seconds: r.seconds,
            seconds_per_token: r.seconds_per_token,
            tokens_per_second: r.tokens_per_second,
            tokens_per_second_per_user: r.tokens_per_second_per_user,
            over_floor: r.seconds / self.floor_seconds.max(1e-30),
            bound: r.bound,
            tokens_per_second_per_kusd: r.cost.tokens_per_second_per_kusd,
            tokens_per_joule: r.cost.tokens_per_joule,
        });
        Ok(())
    }

    /// The `tilesim roofline` table.
    pub fn floor_table(&self) -> String {
        let t = &self.totals;
        let mut s = String::new();
        let _ = writeln!(s, "chip              {} ({} chips used; {})", self.chip, self.chips_used, self.plan);
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
        let _ = writeln!(s, "memory floor      {}", human_seconds(self.memory_floor));
        let _ = writeln!(s, "compute floor     {}", human_seconds(self.compute_floor));
        let _ = writeln!(s, "floor             {} ({}-bound)", human_seconds(self.floor_seconds), self.floor_bound);
        let _ = writeln!(s, "tokens            {:.2}", self.tokens);
        let _ = writeln!(s, "tokens/s ceiling  {:.1}", self.floor_tokens_per_second);
        s
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub model: String,
    pub workload: String,
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "model     {}", self.model);
        let _ = writeln!(s, "workload  {}\n", self.workload);
        let _ = writeln!(
            s,
            "{:<16} {:<8} {:>5} {:>11} {:>11} {:>7} {:>10} {:>11} {:>9} {:>10} {:>9}",
            "chip",
            "strategy",
            "chips",
            "floor",
            "simulated",
            "x floor",
            "bound",
            "s/token",
            "tok/s",
            "tok/s/$1k",
            "tok/J"
        );
        for r in &self.rows {
            let sim = r.simulated.as_ref();
            let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
            let _ = writeln!(
                s,
                "{:<16} {:<8} {:>5} {:>11} {:>11} {:>7} {:>10} {:>11} {:>9} {:>10} {:>9}",
                r.chip,
                r.strategy,
                r.chips_used,
                human_seconds(r.floor_seconds),
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
        for r in &self.rows {
            let _ =
                writeln!(s, "{:<16} {}\n{:<16}   {} strategy: {}", r.chip, r.plan, "", r.strategy, r.strategy_reason);
        }
        s
    }
}
