//! The points of a sweep: the Cartesian product of models, chips (each with
//! every combination of its `--set` overrides) and workload axes, numbered
//! in a fixed order, and the shards that split them.

use crate::chip::Chip;
use crate::compiler::{Phase, PlanRequest, WorkloadSpec};
use crate::config::ConfigError;
use crate::config::overrides::Override;
use crate::dtype::Dtype;
use crate::model::Model;
use std::fmt;
use std::str::FromStr;

/// One chip of the sweep with one combination of overrides applied.
#[derive(Clone, Debug)]
pub struct ChipPoint {
    /// The chip config's `name`.
    pub name: String,
    /// The overrides applied, `KEY=VALUE` joined by `;` (empty for none).
    pub overrides: String,
    pub chip: Chip,
}

/// Refuses a sweep of more than `limits::MAX_SWEEP_POINTS` points: `models`
/// x `chips` x the `--set` axes' lengths (`sets`: key, values) x the
/// workload axes' lengths. Run before any chip is loaded (one per `--set`
/// combination) or any point checked; the message names every factor of
/// more than one value.
pub fn check_points(models: usize, chips: usize, sets: &[(&str, usize)], axes: &Axes) -> Result<(), String> {
    let mut factors = vec![("--model".to_string(), models), ("--chip".to_string(), chips)];
    factors.extend(sets.iter().map(|&(key, n)| (format!("--set {key}"), n)));
    factors.extend(Axes::NAMES.iter().zip(axes.lens()).map(|(name, n)| (name.to_string(), n)));
    let n = factors.iter().fold(1u128, |acc, &(_, n)| acc.saturating_mul(n as u128));
    if n > crate::limits::MAX_SWEEP_POINTS {
        let named: Vec<String> =
            factors.iter().filter(|&&(_, n)| n > 1).map(|(name, n)| format!("{name}: {n} values")).collect();
        return Err(format!(
            "the sweep has {n} points ({}), more than the 2^24 one sweep may have (arch/limits.md); give fewer \
             values, or split the study into several sweeps",
            named.join(" x ")
        ));
    }
    Ok(())
}

/// Loads every chip with every combination of override values, chip by
/// chip, the first `--set` axis outermost. `chips` are (file name, config
/// text) pairs; `axes` one list of overrides per `--set`. Any chip that
/// fails to load with any combination fails the whole sweep.
pub fn chip_points(chips: &[(String, String)], axes: &[Vec<Override>]) -> Result<Vec<ChipPoint>, ConfigError> {
    let mut out = Vec::new();
    for (file, text) in chips {
        let combos: usize = axes.iter().map(Vec::len).product();
        for mut c in 0..combos {
            // Mixed radix, the last axis fastest.
            let mut pick = vec![0; axes.len()];
            for (i, axis) in axes.iter().enumerate().rev() {
                pick[i] = c % axis.len();
                c /= axis.len();
            }
            let set: Vec<Override> = axes.iter().zip(&pick).map(|(a, &i)| a[i].clone()).collect();
            let chip = crate::config::chip::load_with(file, text, &set)?;
            let overrides = set.iter().map(|o| o.to_string()).collect::<Vec<_>>().join(";");
            out.push(ChipPoint { name: chip.name.clone(), overrides, chip });
        }
    }
    Ok(out)
}

/// The workload axes, in point order (the last fastest). `None` in
/// `context`, `tp`, `pp`, `ep`, `weights` or `kv` means the single-point
/// default (context by phase, the plan's choice, the model's type).
#[derive(Clone, Debug)]
pub struct Axes {
    pub phase: Vec<Phase>,
    pub batch: Vec<u64>,
    pub context: Vec<Option<u64>>,
    pub prompt: Vec<u64>,
    pub spec: Vec<u64>,
    pub accept_rate: Vec<f64>,
    pub kv_keep: Vec<f64>,
    pub tp: Vec<Option<u32>>,
    pub pp: Vec<Option<u32>>,
    pub ep: Vec<Option<u32>>,
    pub weights: Vec<Option<Dtype>>,
    pub kv: Vec<Option<Dtype>>,
    pub act: Vec<Option<Dtype>>,
}

impl Default for Axes {
    /// One value per axis: the defaults of `tilesim compare`.
    fn default() -> Self {
        let d = WorkloadSpec::default();
        Axes {
            phase: vec![d.phase],
            batch: vec![d.batch],
            context: vec![d.context],
            prompt: vec![d.prompt],
            spec: vec![d.spec],
            accept_rate: vec![d.accept_rate],
            kv_keep: vec![d.kv_keep],
            tp: vec![None],
            pp: vec![None],
            ep: vec![None],
            weights: vec![d.weights],
            kv: vec![d.kv],
            act: vec![d.act],
        }
    }
}

/// Number of workload axes.
const AXES: usize = 13;

impl Axes {
    fn lens(&self) -> [usize; AXES] {
        [
            self.phase.len(),
            self.batch.len(),
            self.context.len(),
            self.prompt.len(),
            self.spec.len(),
            self.accept_rate.len(),
            self.kv_keep.len(),
            self.tp.len(),
            self.pp.len(),
            self.ep.len(),
            self.weights.len(),
            self.kv.len(),
            self.act.len(),
        ]
    }

    const NAMES: [&'static str; AXES] = [
        "--phase",
        "--batch",
        "--context",
        "--prompt",
        "--spec",
        "--accept-rate",
        "--kv-keep",
        "--tp",
        "--pp",
        "--ep",
        "--weights-dtype",
        "--kv-dtype",
        "--act-dtype",
    ];

    /// The workload and plan request at per-axis positions `at`.
    fn at(&self, at: &[usize; AXES], steps: Option<u64>) -> (WorkloadSpec, PlanRequest) {
        let spec = WorkloadSpec {
            phase: self.phase[at[0]],
            batch: self.batch[at[1]],
            context: self.context[at[2]],
            prompt: self.prompt[at[3]],
            spec: self.spec[at[4]],
            accept_rate: self.accept_rate[at[5]],
            kv_keep: self.kv_keep[at[6]],
            weights: self.weights[at[10]],
            kv: self.kv[at[11]],
            act: self.act[at[12]],
        };
        let req =
            PlanRequest { tp: self.tp[at[7]], pp: self.pp[at[8]], ep: self.ep[at[9]], steps, ..Default::default() };
        (spec, req)
    }
}

/// A sweep's whole point space, checked: every point has a valid workload.
#[derive(Debug)]
pub struct Space {
    models: Vec<Model>,
    chips: Vec<ChipPoint>,
    axes: Axes,
    steps: Option<u64>,
    len: usize,
}

/// One point of the space.
#[derive(Clone, Debug)]
pub struct Point<'a> {
    pub index: usize,
    pub model: &'a Model,
    pub chip: &'a ChipPoint,
    pub workload: WorkloadSpec,
    pub request: PlanRequest,
}

impl Space {
    /// Checks every axis is non-empty, the space is not absurdly large, the
    /// plan degrees and steps are positive, and every workload combination
    /// is valid for every model (`WorkloadSpec::resolve`). The message says
    /// which flag is wrong; these are usage errors, found before any point
    /// runs.
    pub fn new(models: Vec<Model>, chips: Vec<ChipPoint>, axes: Axes, steps: Option<u64>) -> Result<Space, String> {
        if models.is_empty() {
            return Err("a sweep needs at least one --model".into());
        }
        if chips.is_empty() {
            return Err("a sweep needs at least one --chip".into());
        }
        for (n, name) in axes.lens().iter().zip(Axes::NAMES) {
            if *n == 0 {
                return Err(format!("{name} has no values"));
            }
        }
        for (flag, v) in [("--tp", &axes.tp), ("--pp", &axes.pp), ("--ep", &axes.ep)] {
            if v.contains(&Some(0)) {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if steps == Some(0) {
            return Err("--steps must be at least 1".into());
        }
        check_points(models.len(), chips.len(), &[], &axes)?;
        let len = axes
            .lens()
            .iter()
            .try_fold(models.len() * chips.len(), |acc, &n| acc.checked_mul(n))
            .ok_or("the sweep has too many points to number")?;
        // The plan degrees do not change the workload: check each model
        // against every combination of the other axes once.
        let mut shape = axes.lens();
        shape[7..10].fill(1);
        let combos: usize = shape.iter().product();
        for model in &models {
            for c in 0..combos {
                let (spec, _) = axes.at(&digits(c, &shape), steps);
                spec.resolve(model).map_err(|e| format!("{e} (sweep points with {})", describe(&spec)))?;
            }
        }
        Ok(Space { models, chips, axes, steps, len })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Point `index` (`index < len()`): the model outermost, then the chip
    /// (and its overrides), then `Axes` in field order, the last fastest.
    pub fn point(&self, index: usize) -> Point<'_> {
        assert!(index < self.len, "point {index} of a sweep of {}", self.len);
        let workloads = self.len / self.models.len() / self.chips.len();
        let (model, rest) = (index / (self.chips.len() * workloads), index % (self.chips.len() * workloads));
        let (chip, w) = (rest / workloads, rest % workloads);
        let (workload, request) = self.axes.at(&digits(w, &self.axes.lens()), self.steps);
        Point { index, model: &self.models[model], chip: &self.chips[chip], workload, request }
    }
}

/// `n` in the mixed radix `shape`, the last digit fastest.
fn digits(mut n: usize, shape: &[usize; AXES]) -> [usize; AXES] {
    let mut d = [0; AXES];
    for i in (0..AXES).rev() {
        d[i] = n % shape[i];
        n /= shape[i];
    }
    d
}

/// The workload flags of a point, for messages.
fn describe(s: &WorkloadSpec) -> String {
    let opt = |d: Option<Dtype>| d.map_or("default".to_string(), |d| d.to_string());
    format!(
        "--phase {} --batch {} --context {} --prompt {} --spec {} --accept-rate {} --kv-keep {} --weights-dtype {} \
         --kv-dtype {} --act-dtype {}",
        s.phase.name(),
        s.batch,
        s.context.map_or("default".to_string(), |c| c.to_string()),
        s.prompt,
        s.spec,
        s.accept_rate,
        s.kv_keep,
        opt(s.weights),
        opt(s.kv),
        opt(s.act),
    )
}

/// `--shard K/N`: the points whose index is K modulo N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// Every point.
    pub const ALL: Shard = Shard { k: 0, n: 1 };

    /// How many of `total` points are in the shard.
    pub fn count(&self, total: usize) -> usize {
        if total > self.k { (total - self.k).div_ceil(self.n) } else { 0 }
    }

    /// The global index of the shard's `i`-th point.
    pub fn index(&self, i: usize) -> usize {
        self.k + i * self.n
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("expected K/N with 0 <= K < N (e.g. 0/4), found `{s}`");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { k: 1, n: 3 }));
        for bad in ["3/2", "2/2", "0/0", "1", "a/2", "1/2/3", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let total = 10;
        let mut seen: Vec<usize> = (0..3)
            .flat_map(|k| {
                let s = Shard { k, n: 3 };
                (0..s.count(total)).map(move |i| s.index(i))
            })
            .collect();
        seen.sort();
        assert_eq!(seen, (0..total).collect::<Vec<_>>());
        assert_eq!(Shard { k: 4, n: 5 }.count(3), 0);
    }

    #[test]
    fn digits_are_mixed_radix_last_fastest() {
        let mut shape = [1; AXES];
        shape[1] = 3;
        shape[11] = 2;
        assert_eq!(digits(5, &shape)[1], 2);
        assert_eq!(digits(5, &shape)[11], 1);
    }
}
