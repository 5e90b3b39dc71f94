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
    /// layers per pipeline stage (chip stages times the tiled strategy's
    /// regions per chip).
    pub fn depths(&self) -> Vec<u64> {
        let (l, stages) = (self.model.layers, self.plan.total_stages() as u64);
        if self.full_depth || 2 * stages >= l { vec![l] } else { vec![stages, 2 * stages] }
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
            strategy: Some(self.plan.strategy),
            regions: Some(self.plan.regions),
        }
    }

    pub fn key(&self, p: &Point) -> String {
        let w = self.workload;
        format!(
            "{} {}#{} {}#{} tp={},pp={},ep={},{},regions={} w={},kv={},act={},keep={} layers={} size={} context={}",
            p.phase.name(),
            self.model.name,
            fingerprint(&format!("{:?}", self.model)),
            self.chip.name,
            fingerprint(&format!("{:?}", self.chip)),
            self.plan.tp,
            self.plan.pp,
            self.plan.ep,
            self.plan.strategy.name(),
            self.plan.regions,
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
        let w = self.workload_of(p);
        let c = match compiler::compile(&model, self.chip, &w, &self.request(p.phase)) {
            Ok(c) => c,
            Err(CompileError::DoesNotFit(_)) => return Ok(None),
            // A slice can pass the plan's check and still not lower (one
            // layer's KV cache past its region of the HBM layout) where
            // the node it stands for does not fit at full depth: then the
            // node is missing, as a full-depth simulation would make it.
            Err(e @ CompileError::Unsupported(_)) if p.layers != self.model.layers => {
                return match compiler::plan::choose(self.model, &w, self.chip, &self.request(p.phase)) {
                    Err(CompileError::DoesNotFit(_)) => Ok(None),
                    _ => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let trace = c.trace();
        let stats = crate::sim::simulate(self.chip, &trace, &Default::default())?;
        Ok(Some(stats.cycles.0 as f64 / self.chip.clock_hz / c.plan.steps as f64))
    }

    /// Why `p` does not compile (the compiler's message), for a point that
    /// does not fit.
    pub fn fit_error(&self, p: &Point) -> String {
        let model =
            if p.layers == self.model.layers { Ok(self.model.clone()) } else { self.model.first_layers(p.layers) };
        let w = self.workload_of(p);
        match model.map(|m| compiler::compile(&m, self.chip, &w, &self.request(p.phase)).map(|_| ())) {
            Ok(Ok(())) => "it fits when compiled alone".into(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e,
        }
    }

    fn workload_of(&self, p: &Point) -> Workload {
        Workload {
            phase: p.phase,
            batch: if p.phase == Phase::Decode { p.size } else { 1 },
            context: p.context,
            prompt: if p.phase == Phase::Prefill { p.size } else { 1 },
            spec: 1,
            ..self.workload.clone()
        }
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
    /// Nodes of the decode and prefill tables (after refinement).
    pub nodes: usize,
    /// Simulations the grid used (every depth of every node, and the
    /// refinement's probes), of which `simulated` were run now and
    /// `from_cache` read.
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
    /// Why a row has no node at all (nothing fits the chip), by (decode?, row).
    pub empty_rows: BTreeMap<(bool, u64), String>,
}

impl SimOracle {
    fn eval(&self, decode: bool, r: f64, c: f64) -> Result<f64, ServeError> {
        let (table, what) = if decode { (&self.decode, "a decode step") } else { (&self.prefill, "a prefill") };
        table.eval(r, c).ok_or_else(|| {
            // The rows the value sits between, if one of them is empty.
            let k = table.rows.iter().position(|&x| x as f64 >= r).unwrap_or(0);
            let why = [k.saturating_sub(1), k]
                .iter()
                .filter_map(|&i| table.rows.get(i))
                .find_map(|&x| self.empty_rows.get(&(decode, x)).map(|m| (x, m)));
            match why {
                Some((x, m)) => ServeError::NotServable(format!(
                    "{what} of {x} {} cannot be simulated at full depth: {m}",
                    if decode { "users" } else { "tokens" }
                )),
                None => ServeError::Uncovered(format!(
                    "{what} at ({r}, {c}) is outside the simulated grid (rows {:?}, columns {:?})",
                    table.rows, table.cols
                )),
            }
        })
    }
    pub fn decode_seconds(&self, users: f64, context: f64) -> Result<f64, ServeError> {
        self.eval(true, users, context)
    }
    pub fn prefill_seconds(&self, tokens: f64, context: f64) -> Result<f64, ServeError> {
        self.eval(false, tokens, context)
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

/// Relative error at a row interval's midpoint above which the midpoint
/// becomes a row of its own.
pub const REFINE_TOLERANCE: f64 = 0.01;
/// Rounds of refinement: an interval is halved at most this many times.
pub const REFINE_ROUNDS: u32 = 3;

struct Builder<'a, 'c, P> {
    target: &'a Target<'a>,
    depths: Vec<u64>,
    cache: &'c mut StepCache,
    known: BTreeMap<(u8, u64, u64, u64), Option<f64>>,
    jobs: usize,
    progress: P,
    done: usize,
    total: usize,
    simulated: usize,
    from_cache: usize,
}

impl<P: FnMut(usize, usize)> Builder<'_, '_, P> {
    fn points(&self, nodes: &[(Phase, u64, u64)]) -> Vec<Point> {
        nodes
            .iter()
            .flat_map(|&(phase, size, context)| {
                self.depths.iter().map(move |&layers| Point { phase, size, context, layers })
            })
            .collect()
    }

    /// Makes every depth of every node known: from the cache, or simulated
    /// (in parallel; the first failure in point order is the error).
    fn fetch(&mut self, nodes: &[(Phase, u64, u64)]) -> Result<(), ServeError> {
        let mut todo = Vec::new();
        for p in self.points(nodes) {
            if self.known.contains_key(&p.id()) || todo.contains(&p) {
                continue;
            }
            match self.cache.get(&self.target.key(&p)) {
                Some(v) => {
                    self.known.insert(p.id(), v);
                    self.from_cache += 1;
                }
                None => todo.push(p),
            }
        }
        self.total += todo.len();
        let (done, total, progress) = (self.done, self.total, &mut self.progress);
        let results = simulate_all(self.target, &todo, self.jobs, &mut |d, _| progress(done + d, total));
        self.done += todo.len();
        self.simulated += todo.len();
        for (p, r) in todo.iter().zip(results) {
            match r {
                Ok(v) => {
                    self.cache.insert(self.target.key(p), v);
                    self.known.insert(p.id(), v);
                }
                Err(source) => {
                    return Err(ServeError::Step {
                        what: format!("{} on `{}`", p.describe(self.target.model.layers), self.target.chip.name),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// A node's value (every depth known).
    fn value(&self, phase: Phase, row: u64, col: u64) -> Option<f64> {
        let times: Vec<Option<f64>> = self
            .depths
            .iter()
            .map(|&layers| self.known[&Point { phase, size: row, context: col, layers }.id()])
            .collect();
        self.target.node(&self.depths, &times)
    }
}

/// Builds the oracle of `target` over `spec`: every node's points taken
/// from `cache` or simulated (in parallel on `jobs` threads, new results
/// added to `cache`), `progress(done, total)` after each simulation.
///
/// The rows start doubling (`GridSpec`) and are refined where the step
/// time is not straight: each row interval's quarter points are simulated
/// at the first and last column, and those linear interpolation misses by
/// more than `REFINE_TOLERANCE` become rows, for `REFINE_ROUNDS` rounds.
/// (The compiler's tilings change at powers of two, so a pass of 2,049
/// tokens can cost visibly more per token than one of 2,048.) The
/// refinement depends only on simulated values, so the grid is the same on
/// any number of threads, and from the cache.
pub fn build(
    target: &Target<'_>,
    spec: &GridSpec,
    cache: &mut StepCache,
    jobs: usize,
    progress: impl FnMut(usize, usize),
) -> Result<(SimOracle, BuildStats), ServeError> {
    // A chip the simulator cannot hold is refused once, before any point is
    // compiled (sim::budget::check_before_compile).
    crate::sim::budget::check_before_compile(&target.model.name, target.chip)
        .map_err(|e| ServeError::Usage(e.to_string()))?;
    let start = std::time::Instant::now();
    let mut b = Builder {
        target,
        depths: target.depths(),
        cache,
        known: BTreeMap::new(),
        jobs,
        progress,
        done: 0,
        total: 0,
        simulated: 0,
        from_cache: 0,
    };
    let (du, dc) = spec.decode_axes();
    let (pt, pc) = spec.prefill_axes();
    let mut axes = [(Phase::Decode, du, dc), (Phase::Prefill, pt, pc)];
    let grid_nodes = |axes: &[(Phase, Vec<u64>, Vec<u64>)]| -> Vec<(Phase, u64, u64)> {
        axes.iter()
            .flat_map(|(phase, rows, cols)| rows.iter().flat_map(move |&r| cols.iter().map(move |&c| (*phase, r, c))))
            .collect()
    };
    b.fetch(&grid_nodes(&axes))?;
    let mut checked: std::collections::BTreeSet<(u8, u64, u64)> = Default::default();
    for _ in 0..REFINE_ROUNDS {
        // The quarter points of the intervals not yet checked (a step in
        // the time just past a node can leave the midpoint on the chord),
        // at the first and last column.
        let mut mids: Vec<(Phase, u64, [u64; 2])> = Vec::new();
        for (phase, rows, cols) in &axes {
            for w in rows.windows(2) {
                if w[1] - w[0] >= 2 && checked.insert((*phase as u8, w[0], w[1])) {
                    let mut qs: Vec<u64> = (1..4).map(|q| w[0] + (w[1] - w[0]) * q / 4).collect();
                    qs.retain(|&m| m > w[0] && m < w[1]);
                    qs.dedup();
                    let cs = [cols[0], *cols.last().expect("a column")];
                    mids.extend(qs.into_iter().map(|m| (*phase, m, cs)));
                }
            }
        }
        let probe: Vec<(Phase, u64, u64)> = mids.iter().flat_map(|&(p, m, cs)| cs.map(|c| (p, m, c))).collect();
        b.fetch(&probe)?;
        // Each probe is judged against the interval it was made for (the
        // rows before this round's insertions).
        let before: Vec<Vec<u64>> = axes.iter().map(|(_, rows, _)| rows.clone()).collect();
        let mut added = false;
        for (phase, m, cs) in mids {
            let t = axes.iter().position(|(p, _, _)| *p == phase).expect("a table");
            let k = before[t].iter().position(|&r| r > m).expect("m inside the rows");
            let (lo, hi) = (before[t][k - 1], before[t][k]);
            let off = cs.iter().any(|&c| match (b.value(phase, lo, c), b.value(phase, hi, c), b.value(phase, m, c)) {
                (Some(a), Some(z), Some(v)) => {
                    let interp = a + (z - a) * (m - lo) as f64 / (hi - lo) as f64;
                    (interp / v - 1.0).abs() > REFINE_TOLERANCE
                }
                _ => false,
            });
            if off {
                let rows = &mut axes[t].1;
                let at = rows.iter().position(|&r| r > m).expect("m inside the rows");
                rows.insert(at, m);
                added = true;
            }
        }
        if !added {
            break;
        }
        b.fetch(&grid_nodes(&axes))?;
    }
    let table = |b: &Builder<'_, '_, _>, phase: Phase, rows: &[u64], cols: &[u64]| -> Table {
        let values =
            rows.iter().flat_map(|&r| cols.iter().map(move |&c| (r, c))).map(|(r, c)| b.value(phase, r, c)).collect();
        Table { rows: rows.to_vec(), cols: cols.to_vec(), values }
    };
    let [(_, du, dc), (_, pt, pc)] = &axes;
    let (decode, prefill) = (table(&b, Phase::Decode, du, dc), table(&b, Phase::Prefill, pt, pc));
    // A row where nothing fits (a batch larger than the cache, at full
    // depth) is never needed by a run that fits; keep the compiler's reason
    // in case one asks.
    let mut empty_rows = BTreeMap::new();
    for (phase, t) in [(Phase::Decode, &decode), (Phase::Prefill, &prefill)] {
        for (i, &r) in t.rows.iter().enumerate() {
            if t.values[i * t.cols.len()..(i + 1) * t.cols.len()].iter().all(Option::is_none) {
                let p = Point { phase, size: r, context: t.cols[0], layers: target.model.layers };
                empty_rows.insert((phase == Phase::Decode, r), target.fit_error(&p));
            }
        }
    }
    let stats = BuildStats {
        nodes: decode.values.len() + prefill.values.len(),
        points: b.known.len(),
        simulated: b.simulated,
        from_cache: b.from_cache,
        depths: b.depths.clone(),
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((SimOracle { decode, prefill, empty_rows }, stats))
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
