//! The energy of one run (arch/energy.md): joules by component from the
//! run's activity counts, per token, tokens per joule, and the average
//! power beside the `[cost]` power charged.

use crate::chip::{Chip, Memory};
use crate::energy::{Activity, Joules, account};
use crate::roofline::TraceTotals;
use crate::sim::RunStats;
use crate::units::si;
use serde::Serialize;
use std::fmt::Write;

/// Joules with an SI prefix, small ones too ("1.890 J", "12.4 mJ").
pub fn human_joules(j: f64) -> String {
    let a = j.abs();
    if a == 0.0 || a >= 1.0 {
        si(j, "J")
    } else if a >= 1e-3 {
        format!("{:.3} mJ", j * 1e3)
    } else if a >= 1e-6 {
        format!("{:.3} uJ", j * 1e6)
    } else {
        format!("{:.3} nJ", j * 1e9)
    }
}

/// The `energy` object of a run report.
#[derive(Clone, Debug, Serialize)]
pub struct EnergyFigures {
    /// Joules of the whole run, by component.
    pub joules: Joules,
    /// The same per token produced (zeros when the trace produces none).
    pub joules_per_token: Joules,
    /// Tokens per joule (null when the trace produces no tokens).
    pub tokens_per_joule: Option<f64>,
    /// Joules over simulated seconds, of the chips and nodes used.
    pub average_power_w: f64,
    /// The `[cost]` power of the same chips and nodes (their TDP and
    /// system power: a ceiling the average should stay under), if given.
    pub charged_power_w: Option<f64>,
}

/// The activity counts the energy model charges, from a run's counters:
/// MACs per path, vector operations and SRAM-port bytes from the trace
/// (`TraceTotals`: what the tiles executed), DRAM, cache, NoC and link
/// bytes from the simulation (`ByteCounts`: what the memories served and
/// each link carried, once per link crossed).
pub fn activity(chip: &Chip, totals: &TraceTotals, s: &RunStats, chips: u32) -> Activity {
    let b = &s.bytes;
    let dram = b.memory_read + b.memory_write;
    let cached = matches!(&chip.memory, Memory::Hbm { cache: Some(_), .. });
    Activity {
        macs: totals.macs_per_path(),
        vector_ops: totals.vector_ops,
        sram_bytes: totals.sram_bytes,
        // Every byte to or from stacks behind a cache passes through it.
        cache_bytes: if cached { b.cache_read + dram } else { 0 },
        memory_bytes: dram,
        noc_byte_hops: b.noc,
        link_byte_hops: b.links,
        seconds: s.cycles.0 as f64 / chip.clock_hz,
        chips,
        nodes: chip.cost.charged(chips).nodes_charged,
    }
}

impl crate::report::run::CostFigures {
    /// The per-joule figures from the energy model (`None` without one):
    /// the one tokens-per-joule figure every report prints. The `[cost]`
    /// power stays as `power_w`, the ceiling charged.
    pub fn with_energy(mut self, e: Option<&EnergyFigures>) -> Self {
        self.tokens_per_joule = e.and_then(|e| e.tokens_per_joule);
        self.joules_per_token = e.filter(|e| e.joules_per_token.total > 0.0).map(|e| e.joules_per_token.total);
        self
    }
}

impl EnergyFigures {
    /// The figures of a run on `chips` chips that produced `tokens`;
    /// `None` when the chip config has no `[energy]` section.
    pub fn of(chip: &Chip, totals: &TraceTotals, s: &RunStats, chips: u32, tokens: f64) -> Option<EnergyFigures> {
        let spec = chip.energy.as_ref()?;
        let a = activity(chip, totals, s, chips);
        let joules = account(spec, &a);
        Some(EnergyFigures {
            joules_per_token: joules.per(tokens),
            tokens_per_joule: (tokens > 0.0 && joules.total > 0.0).then(|| tokens / joules.total),
            average_power_w: if a.seconds > 0.0 { joules.total / a.seconds } else { 0.0 },
            charged_power_w: chip.cost.charged(chips).power_w,
            joules,
        })
    }

    /// The report's lines: joules per token by component, tokens per
    /// joule, average power against the power charged.
    pub fn lines(&self) -> String {
        let mut s = String::new();
        let per = &self.joules_per_token;
        let total = self.joules.total.max(f64::MIN_POSITIVE);
        let parts: Vec<String> = self
            .joules
            .components()
            .iter()
            .zip(per.components())
            .filter(|((_, j), _)| *j > 0.0)
            .map(|((name, j), (_, p))| {
                let p = if per.total > 0.0 { human_joules(p) } else { human_joules(*j) };
                format!("{name} {p} ({:.0}%)", 100.0 * j / total)
            })
            .collect();
        let unit = if per.total > 0.0 { "energy/token" } else { "energy (run)" };
        let whole = if per.total > 0.0 { per.total } else { self.joules.total };
        let _ = writeln!(s, "{unit:<17} {}: {}", human_joules(whole), parts.join("  "));
        if per.compute_by_dtype.len() > 1 {
            let by: Vec<String> =
                per.compute_by_dtype.iter().map(|d| format!("{} {}", d.dtype, human_joules(d.joules))).collect();
            let _ = writeln!(s, "  compute by type {}", by.join("  "));
        }
        let ceiling = match self.charged_power_w {
            Some(w) => format!(" of {} charged ({:.0}%)", si(w, "W"), 100.0 * self.average_power_w / w.max(1e-30)),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "energy            {}: {} average{ceiling}",
            self.tokens_per_joule.map_or("-".into(), |t| format!("{t:.4} tokens/J")),
            si(self.average_power_w, "W")
        );
        s
    }
}
