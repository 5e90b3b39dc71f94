//! The step-time oracle built from tilesim's own simulator: decode steps
//! (users x context) and prefill passes (tokens x context) are compiled and
//! simulated on a grid of points, interpolated in between, and composed
//! into mixed steps (arch/serve.md, "Step times").
//!
//! Each point is the library's own compile and simulate (`compiler::compile`
//! then `sim::simulate`) under one fixed plan. To keep a 70B model's grid
//! affordable, a point is simulated at two depths — one and two layers per
//! pipeline stage — and extrapolated linearly to the model's layer count
//! (every layer of a stage is the same work); `full_depth` simulates every
//! layer instead. Points are memoised in a `StepCache` and simulated in
//! parallel on `jobs` threads; the result is the same for any `jobs`.

use super::cache::{StepCache, fingerprint};
use super::oracle::{Step, StepTime};
use super::{ServeError, StepError};
use crate::chip::Chip;
use crate::compiler::{self, CompileError, Phase, Plan, PlanRequest, Workload};
use crate::model::Model;
use crossbeam::channel;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};

/// A 2-D table of step times over (row, column) nodes — (users, context)
/// for decode, (tokens, context) for prefill — with bilinear interpolation.
/// A node can be missing (the step does not fit the cache at full depth);
/// then a row is extrapolated linearly in the column from its nearest
/// nodes, or, with one node only, with the slope of the nearest lower row
/// scaled by the ratio of rows (the context part of a step grows with the
/// users or tokens that read it).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub rows: Vec<u64>,
    pub cols: Vec<u64>,
    /// Row-major, `rows.len() x cols.len()`.
    pub values: Vec<Option<f64>>,
}

impl Table {
    fn row(&self, i: usize) -> Vec<(f64, f64)> {
        self.cols
            .iter()
            .enumerate()
            .filter_map(|(j, &c)| self.values[i * self.cols.len() + j].map(|v| (c as f64, v)))
            .collect()
    }

    /// Slope in the column of row `i` around `c` (the segment containing it,
    /// or the nearest).
    fn slope(pts: &[(f64, f64)], c: f64) -> Option<f64> {
        if pts.len() < 2 {
            return None;
        }
        let k = pts.windows(2).position(|w| c <= w[1].0).unwrap_or(pts.len() - 2);
        let (a, b) = (pts[k], pts[k + 1]);
        Some((b.1 - a.1) / (b.0 - a.0))
    }

    fn row_value(&self, i: usize, c: f64) -> Option<f64> {
        let pts = self.row(i);
        let first = *pts.first()?;
        if pts.len() == 1 {
            if c == first.0 {
                return Some(first.1);
            }
            // Borrow the context slope of the nearest lower row with two
            // nodes, scaled by the ratio of rows.
            let (j, s) = (0..i).rev().find_map(|j| Self::slope(&self.row(j), c).map(|s| (j, s)))?;
            let scale = self.rows[i] as f64 / self.rows[j] as f64;
            return Some(first.1 + s * scale * (c - first.0));
        }
        let k = pts.windows(2).position(|w| c <= w[1].0).unwrap_or(pts.len() - 2);
        let (a, b) = (pts[k], pts[k + 1]);
        Some(a.1 + (b.1 - a.1) * (c - a.0) / (b.0 - a.0))
    }

    /// The value at (`r`, `c`); none outside the rows or columns, or where
    /// a row has no node at all.
    pub fn eval(&self, r: f64, c: f64) -> Option<f64> {
        let (&r0, &r1) = (self.rows.first()?, self.rows.last()?);
        let (&c0, &c1) = (self.cols.first()?, self.cols.last()?);
        if !(r >= r0 as f64 && r <= r1 as f64 && c >= c0 as f64 && c <= c1 as f64) {
            return None;
        }
        let k = self.rows.iter().position(|&x| x as f64 >= r).expect("r within the rows");
        if self.rows[k] as f64 == r {
            return self.row_value(k, c);
        }
        let (lo, hi) = (self.rows[k - 1] as f64, self.rows[k] as f64);
        let (a, b) = (self.row_value(k - 1, c)?, self.row_value(k, c)?);
        Some(a + (b - a) * (r - lo) / (hi - lo))
    }
}

/// Nodes of an axis: `start` (0 or 1), then `first`, doubling, below
/// `max`, then `max`.
pub fn axis(start: u64, first: u64, max: u64) -> Vec<u64> {
    let mut v = vec![start];
    let mut x = first.max(start + 1);
    while x < max {
        v.push(x);
        x *= 2;
    }
    if max > start {
        v.push(max);
    }
    v
}

/// How far the grid must reach: the largest step the schedulers can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridSpec {
    /// Users of a decode step.
    pub max_users: u64,
    /// Tokens in a decoding user's cache (prompt + output).
    pub max_context: u64,
    /// Tokens of a prefill pass (a mixed step's prompt chunks and decodes
    /// together).
    pub max_prefill_tokens: u64,
    /// Tokens cached before a prompt chunk (0 without chunked prefill).
    pub max_prefill_context: u64,
}

impl GridSpec {
    pub fn decode_axes(&self) -> (Vec<u64>, Vec<u64>) {
        (axis(1, 2, self.max_users.max(1)), axis(0, 512, self.max_context))
    }
    pub fn prefill_axes(&self) -> (Vec<u64>, Vec<u64>) {
        (axis(1, 16, self.max_prefill_tokens.max(1)), axis(0, 512, self.max_prefill_context))
    }
}

/// What the points are simulated on: the model, the chip, the plan every
/// point uses, and the data types.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub model: &'a Model,
    pub chip: &'a Chip,
    pub plan: &'a Plan,
    /// Data types (and sparsity) of every point; phase, batch, context and
    /// prompt are set per point.
    pub workload: &'a Workload,
    /// Simulate every layer rather than extrapolating from one and two
    /// layers per stage.
    pub full_depth: bool,
}

/// One simulation: a decode step of `size` users or a prefill pass of
/// `size` tokens of one request, after `context` cached tokens, on the
/// model's first `layers` layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    pub phase: Phase,
    pub size: u64,
    pub context: u64,
    pub layers: u64,
}

impl Point {
    /// A map key.
    fn id(&self) -> (u8, u64, u64, u64) {
        (self.phase as u8, self.size, self.context, self.layers)
    }

    pub fn describe(&self, full_layers: u64) -> String {
        let what = match self.phase {
            Phase::Decode => format!("a decode step of {} user(s) at {} tokens of context", self.size, self.context),
            Phase::Prefill => format!("a prefill of {} tokens after {} cached", self.size, self.context),
        };
        if self.layers == full_layers { what } else { format!("{what} ({} of {full_layers} layers)", self.layers) }
    }
}

impl Target<'_> {
    /// Depths simulated for each node: the full model, or one and two
    /// layers per pipeline stage.
    pub fn depths(&self) -> Vec<u64> {
        let (l, pp) = (self.model.layers, self.plan.pp as u64);
        if self.full_depth || 2 * pp >= l { vec![l] } else { vec![pp, 2 * pp] }
    }

    /// The plan request every point compiles with: the serving plan's
    /// tp, pp and ep; decode keeps the compiler's steps (several when
    /// pipelined, so the pipeline's steady state is in the time), a
    /// prefill is one pass.
    fn request(&self, phase: Phase) -> PlanRequest {
        PlanRequest {
            tp: Some(self.plan.tp),
            pp: Some(self.plan.pp),
            ep: Some(self.plan.ep),
            steps: (phase == Phase::Prefill).then_some(1),
        }
    }

    pub fn key(&self, p: &Point) -> String {
        let w = self.workload;
        format!(
            "{} {}#{} {}#{} tp={},pp={},ep={} w={},kv={},act={},keep={} layers={} size={} context={}",
            p.phase.name(),
            self.model.name,
            fingerprint(&format!("{:?}", self.model)),
            self.chip.name,
            fingerprint(&format!("{:?}", self.chip)),
            self.plan.tp,
            self.plan.pp,
            self.plan.ep,
            w.weights,
            w.kv,
            w.act,
            w.kv_keep,
            p.layers,
            p.size,
            p.context
        )
    }

    /// Seconds per step of `p` (per decode step, or for the whole prefill
    /// pass); none when it does not fit.
    pub fn simulate(&self, p: &Point) -> Result<Option<f64>, StepError> {
        let model = if p.layers == self.model.layers {
            self.model.clone()
        } else {
            self.model.first_layers(p.layers).map_err(StepError::Panic)?
        };
        let w = Workload {
            phase: p.phase,
            batch: if p.phase == Phase::Decode { p.size } else { 1 },
            context: p.context,
            prompt: if p.phase == Phase::Prefill { p.size } else { 1 },
            spec: 1,
            ..self.workload.clone()
        };
        let c = match compiler::compile(&model, self.chip, &w, &self.request(p.phase)) {
            Ok(c) => c,
            Err(CompileError::DoesNotFit(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let trace = c.trace();
        let stats = crate::sim::simulate(self.chip, &trace, &Default::default())?;
        Ok(Some(stats.cycles.0 as f64 / self.chip.clock_hz / c.plan.steps as f64))
    }

    /// `simulate`, a panic (a bug) turned into an error.
    fn simulate_caught(&self, p: &Point) -> Result<Option<f64>, StepError> {
        panic::catch_unwind(AssertUnwindSafe(|| self.simulate(p))).unwrap_or_else(|e| {
            let what = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(StepError::Panic(what))
        })
    }

    /// A node's value from its depths: the full-depth time, or the line
    /// through (d1, t1), (d2, t2) at the model's layer count.
    fn node(&self, depths: &[u64], times: &[Option<f64>]) -> Option<f64> {
        match (depths, times) {
            ([_], [t]) => *t,
            ([d1, d2], [Some(t1), Some(t2)]) => {
                let l = self.model.layers as f64;
                let (d1, d2) = (*d1 as f64, *d2 as f64);
                Some(t1 + (t2 - t1) * (l - d1) / (d2 - d1))
            }
            _ => None,
        }
    }
}

/// How a grid was built.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct BuildStats {
    /// Nodes of the decode and prefill tables.
    pub nodes: usize,
    /// Simulations the nodes need, of which some were in the cache.
    pub points: usize,
    pub simulated: usize,
    pub from_cache: usize,
    /// Layers simulated per node.
    pub depths: Vec<u64>,
    pub seconds: f64,
}

/// Step times of one serving system, from simulated grids.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOracle {
    pub decode: Table,
    pub prefill: Table,
}

impl SimOracle {
    fn eval(table: &Table, what: &str, r: f64, c: f64) -> Result<f64, ServeError> {
        table.eval(r, c).ok_or_else(|| {
            ServeError::Uncovered(format!(
                "{what} at ({r}, {c}) is outside the simulated grid (rows {:?}, columns {:?})",
                table.rows, table.cols
            ))
        })
    }
    pub fn decode_seconds(&self, users: f64, context: f64) -> Result<f64, ServeError> {
        Self::eval(&self.decode, "a decode step", users, context)
    }
    pub fn prefill_seconds(&self, tokens: f64, context: f64) -> Result<f64, ServeError> {
        Self::eval(&self.prefill, "a prefill", tokens, context)
    }
}

impl StepTime for SimOracle {
    /// A decode step is the decode table at (users, mean context); a
    /// prefill step the prefill table at (tokens, mean cached context); a
    /// mixed step is one prefill pass of its prompt tokens and its decoding
    /// users' tokens together (every token crosses the weights once) plus
    /// the decodes' attention over their caches, taken as what context adds
    /// to a decode step: decode(users, context) - decode(users, 0).
    fn step_seconds(&self, s: &Step) -> Result<f64, ServeError> {
        let (t, n) = (s.prefill_tokens as f64, s.decode_users as f64);
        match (s.prefill_tokens > 0, s.decode_users > 0) {
            (false, false) => Ok(0.0),
            (false, true) => self.decode_seconds(n, s.decode_context),
            (true, false) => self.prefill_seconds(t, s.prefill_context),
            (true, true) => {
                let pass = self.prefill_seconds(t + n, s.prefill_context)?;
                let kv = self.decode_seconds(n, s.decode_context)? - self.decode_seconds(n, 0.0)?;
                Ok(pass + kv.max(0.0))
            }
        }
    }
}

/// Builds the oracle of `target` over `spec`: every node's points taken
/// from `cache` or simulated (in parallel on `jobs` threads, new results
/// added to `cache`), `progress(done, total)` after each simulation.
pub fn build(
    target: &Target<'_>,
    spec: &GridSpec,
    cache: &mut StepCache,
    jobs: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<(SimOracle, BuildStats), ServeError> {
    let start = std::time::Instant::now();
    let depths = target.depths();
    let (du, dc) = spec.decode_axes();
    let (pt, pc) = spec.prefill_axes();
    let mut nodes = Vec::new();
    for &u in &du {
        for &c in &dc {
            nodes.push((Phase::Decode, u, c));
        }
    }
    for &t in &pt {
        for &c in &pc {
            nodes.push((Phase::Prefill, t, c));
        }
    }
    let points: Vec<Point> = nodes
        .iter()
        .flat_map(|&(phase, size, context)| depths.iter().map(move |&layers| Point { phase, size, context, layers }))
        .collect();
    let mut known: BTreeMap<(u8, u64, u64, u64), Option<f64>> = BTreeMap::new();
    let mut todo = Vec::new();
    for p in &points {
        match cache.get(&target.key(p)) {
            Some(v) => {
                known.insert(p.id(), v);
            }
            None => todo.push(*p),
        }
    }
    let from_cache = known.len();
    let results = simulate_all(target, &todo, jobs, &mut progress);
    // The first failure in point order, whatever finished first.
    for (p, r) in todo.iter().zip(results) {
        match r {
            Ok(v) => {
                cache.insert(target.key(p), v);
                known.insert(p.id(), v);
            }
            Err(source) => {
                return Err(ServeError::Step {
                    what: format!("{} on `{}`", p.describe(target.model.layers), target.chip.name),
                    source,
                });
            }
        }
    }
    let table = |phase, rows: &[u64], cols: &[u64]| -> Table {
        let mut values = Vec::new();
        for &r in rows {
            for &c in cols {
                let times: Vec<Option<f64>> =
                    depths.iter().map(|&layers| known[&Point { phase, size: r, context: c, layers }.id()]).collect();
                values.push(target.node(&depths, &times));
            }
        }
        Table { rows: rows.to_vec(), cols: cols.to_vec(), values }
    };
    let oracle = SimOracle { decode: table(Phase::Decode, &du, &dc), prefill: table(Phase::Prefill, &pt, &pc) };
    let stats = BuildStats {
        nodes: nodes.len(),
        points: points.len(),
        simulated: todo.len(),
        from_cache,
        depths,
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((oracle, stats))
}

/// Simulates `points` on `jobs` threads; results in point order.
fn simulate_all(
    target: &Target<'_>,
    points: &[Point],
    jobs: usize,
    progress: &mut impl FnMut(usize, usize),
) -> Vec<Result<Option<f64>, StepError>> {
    let total = points.len();
    if total == 0 {
        return Vec::new();
    }
    let jobs = jobs.clamp(1, total);
    let (work_tx, work_rx) = channel::unbounded::<usize>();
    let (done_tx, done_rx) = channel::unbounded();
    for i in 0..total {
        work_tx.send(i).expect("receiver alive");
    }
    drop(work_tx);
    let mut out: Vec<Option<Result<Option<f64>, StepError>>> = (0..total).map(|_| None).collect();
    crossbeam::scope(|s| {
        for _ in 0..jobs {
            let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
            s.spawn(move |_| {
                for i in work_rx.iter() {
                    let r = target.simulate_caught(&points[i]);
                    if done_tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        for (done, (i, r)) in done_rx.iter().enumerate() {
            out[i] = Some(r);
            progress(done + 1, total);
        }
    })
    .expect("workers catch their panics");
    out.into_iter().map(|r| r.unwrap_or_else(|| Err(StepError::Panic("a worker stopped".into())))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(f: impl Fn(f64, f64) -> Option<f64>, rows: &[u64], cols: &[u64]) -> Table {
        let mut values = Vec::new();
        for &r in rows {
            for &c in cols {
                values.push(f(r as f64, c as f64));
            }
        }
        Table { rows: rows.to_vec(), cols: cols.to_vec(), values }
    }

    #[test]
    fn axes_double_and_end_at_the_maximum() {
        assert_eq!(axis(1, 2, 100), vec![1, 2, 4, 8, 16, 32, 64, 100]);
        assert_eq!(axis(0, 512, 4096), vec![0, 512, 1024, 2048, 4096]);
        assert_eq!(axis(0, 512, 300), vec![0, 300]);
        assert_eq!(axis(1, 16, 1), vec![1]);
        assert_eq!(axis(0, 512, 0), vec![0]);
    }

    #[test]
    fn bilinear_is_exact_for_users_times_context() {
        // A decode step: weights + per user + per user and context token.
        let f = |n: f64, c: f64| 5e-3 + 2e-5 * n + 3e-8 * n * c;
        let t = table(|n, c| Some(f(n, c)), &[1, 2, 4, 8, 16], &[0, 512, 1024, 4096]);
        for (n, c) in [(3.0, 700.0), (13.0, 4000.0), (1.0, 0.0), (16.0, 4096.0), (5.5, 100.0)] {
            let got = t.eval(n, c).unwrap();
            assert!((got - f(n, c)).abs() < 1e-12 * f(n, c).max(1.0), "({n}, {c}): {got} vs {}", f(n, c));
        }
        assert_eq!(t.eval(17.0, 0.0), None);
        assert_eq!(t.eval(1.0, 5000.0), None);
        assert_eq!(t.eval(0.5, 0.0), None);
    }

    #[test]
    fn missing_nodes_are_extrapolated_along_the_context() {
        let f = |n: f64, c: f64| 5e-3 + 2e-5 * n + 3e-8 * n * c;
        // Only n * c <= 4096 fits.
        let fits = |n: f64, c: f64| (n * c <= 4096.0).then(|| f(n, c));
        let t = table(fits, &[1, 2, 4, 8], &[0, 512, 1024, 2048, 4096]);
        for (n, c) in [(8.0, 512.0), (6.0, 600.0), (8.0, 4096.0), (3.0, 1500.0)] {
            let got = t.eval(n, c).unwrap();
            assert!((got - f(n, c)).abs() < 1e-12, "({n}, {c}): {got} vs {}", f(n, c));
        }
        // A row with no node at all cannot be evaluated.
        let t = table(|n, c| (n < 8.0).then(|| f(n, c)), &[1, 2, 4, 8], &[0, 512]);
        assert_eq!(t.eval(6.0, 0.0), None);
    }
}
