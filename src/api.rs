//! The commands as library calls: what `tilesim compile`, `run`,
//! `roofline`, `compare` and `sweep` do between reading their arguments and
//! printing, shared by the command line (`src/cli/`) and the Python package
//! (`python/`), so both take the same options, give the same reports (the
//! report types, serialised by the caller) and fail with the same errors.
//! Nothing here prints; the only files touched are the configs, traces and
//! outputs the caller names.

use crate::chip::Chip;
use crate::compiler::{self, Phase, PlanRequest, Strategy, Workload, WorkloadSpec};
use crate::config::overrides::{self, Override};
use crate::config::shipped::{self, Kind};
use crate::config::{self, ConfigError};
use crate::diag::Location;
use crate::dtype::Dtype;
use crate::model::Model;
use crate::report::compare::{Comparison, Entry, PointError, Row};
use crate::report::run::RunReport;
use crate::report::schema::{SCHEMA_VERSION, WorkloadJson};
use crate::sim::{self, SimError};
use crate::sweep::{self, Axes, Shard, Space, SweepRow};
use crate::synth;
use crate::trace::{self, Format, Trace, TraceError};
use std::path::Path;

/// Why a command failed. `Display` is the message the command line prints
/// after `error: `; `exit_code` its exit status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A bad option (a malformed value, one that contradicts another).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Compile(#[from] compiler::CompileError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("cannot write {path}: {message}")]
    Output { path: String, message: String },
}

impl From<PointError> for Error {
    fn from(e: PointError) -> Self {
        match e {
            PointError::Compile(e) => Error::Compile(e),
            PointError::Sim(e) => Error::Sim(e),
        }
    }
}

impl Error {
    /// 2 bad input or usage, 3 a deadlocked trace, 1 an output that could
    /// not be written (README, "Exit status").
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Trace(_) | Error::Usage(_) | Error::Compile(_) => 2,
            Error::Sim(e) => e.exit_code(),
            Error::Output { .. } => 1,
        }
    }

    /// The file (and line and column) the error is about, when it is about
    /// one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Config(e) => Some(&e.loc),
            Error::Trace(e) => Some(&e.loc),
            _ => None,
        }
    }

    /// A short name of the kind of error: `config`, `trace`, `usage`,
    /// `compile`, `does-not-fit`, `deadlock`, `simulation` or `output`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Trace(_) => "trace",
            Error::Usage(_) => "usage",
            Error::Compile(compiler::CompileError::DoesNotFit(_)) => "does-not-fit",
            Error::Compile(_) => "compile",
            Error::Sim(SimError::Deadlock { .. }) => "deadlock",
            Error::Sim(_) => "simulation",
            Error::Output { .. } => "output",
        }
    }
}

fn output_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Output { path: path.display().to_string(), message: e.to_string() }
}

/// Refuses an output that is one of `inputs` (paths, or shipped names,
/// which are skipped), before anything is read or written
/// (`fileio::check_not_input`).
fn not_input(output: &Path, inputs: &[&str]) -> Result<(), Error> {
    let paths: Vec<&Path> = inputs.iter().map(Path::new).collect();
    crate::fileio::check_not_input(output, &paths).map_err(Error::Usage)
}

/// Resolves a chip or model argument to (name for messages, config text): a
/// shipped name, a path (a model may also be a Hugging Face `config.json`),
/// or the config's TOML text itself (any argument holding a line break),
/// named `<chip TOML>` or `<model TOML>` in messages.
pub fn resolve(kind: Kind, arg: &str) -> Result<(String, String), ConfigError> {
    if arg.contains('\n') {
        return Ok((format!("<{} TOML>", kind.name()), arg.to_string()));
    }
    shipped::resolve(kind, arg)
}

/// Loads a chip by shipped name, path or TOML text, with overrides applied
/// (`--set`, `--unset`).
pub fn load_chip(arg: &str, set: &[Override]) -> Result<Chip, Error> {
    let (file, text) = resolve(Kind::Chip, arg)?;
    Ok(config::chip::load_with(&file, &text, set)?)
}

/// Loads a model by shipped name, path (a `.toml`, or a Hugging Face
/// `config.json`) or TOML text.
pub fn load_model(arg: &str) -> Result<Model, Error> {
    let (file, text) = resolve(Kind::Model, arg)?;
    Ok(config::model::load_str(&file, &text)?)
}

/// Parses a data-type option (`flag` names it in the message).
pub fn dtype(flag: &str, s: &str) -> Result<Dtype, Error> {
    s.trim().parse().map_err(|e: String| Error::Usage(format!("{flag}: {e}")))
}

/// Parses `KEY=VALUE` overrides (`--set`; `KEY=` unsets) and `--unset`
/// keys into one list, in that order. A key given twice is an error.
pub fn overrides(set: &[String], unset: &[String]) -> Result<Vec<Override>, Error> {
    let mut out = Vec::new();
    for s in set {
        out.push(Override::parse(s).map_err(Error::Usage)?);
    }
    for k in unset {
        out.push(Override::unset(k.trim()).map_err(|e| Error::Usage(format!("--unset {e}")))?);
    }
    check_twice(out.iter().map(|o| o.key()))?;
    Ok(out)
}

fn check_twice<'a>(keys: impl Iterator<Item = &'a str>) -> Result<(), Error> {
    let mut seen: Vec<&str> = Vec::new();
    for k in keys {
        if seen.contains(&k) {
            return Err(Error::Usage(format!("`{k}` is set or unset twice")));
        }
        seen.push(k);
    }
    Ok(())
}

/// The workload and plan options of `compile`, `roofline` and `compare`
/// (README, "Workload flags"), with the command line's defaults.
#[derive(Clone, Debug)]
pub struct WorkloadOptions {
    pub phase: Phase,
    pub batch: u64,
    /// Default: 4096 for decode, 0 for prefill.
    pub context: Option<u64>,
    pub prompt: u64,
    pub tp: Option<u32>,
    pub pp: Option<u32>,
    pub ep: Option<u32>,
    pub spec: u64,
    pub accept_rate: f64,
    pub kv_keep: f64,
    pub steps: Option<u64>,
    /// Compile only the first N layers.
    pub layers: Option<u64>,
    pub weights_dtype: Option<String>,
    pub kv_dtype: Option<String>,
    pub act_dtype: Option<String>,
    /// Activation strategies: none for the plan's default; `compare` runs
    /// each, the others take at most one.
    pub strategies: Vec<Strategy>,
    pub regions: Option<u32>,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        let d = WorkloadSpec::default();
        WorkloadOptions {
            phase: d.phase,
            batch: d.batch,
            context: d.context,
            prompt: d.prompt,
            tp: None,
            pp: None,
            ep: None,
            spec: d.spec,
            accept_rate: d.accept_rate,
            kv_keep: d.kv_keep,
            steps: None,
            layers: None,
            weights_dtype: None,
            kv_dtype: None,
            act_dtype: None,
            strategies: Vec::new(),
            regions: None,
        }
    }
}

impl WorkloadOptions {
    /// The model, sliced to `layers` if given.
    pub fn slice(&self, m: Model) -> Result<Model, Error> {
        match self.layers {
            Some(l) => m.first_layers(l).map_err(Error::Usage),
            None => Ok(m),
        }
    }

    /// The workload on `model`, defaults filled in and checked.
    pub fn workload(&self, model: &Model) -> Result<Workload, Error> {
        let d = |flag: &str, v: &Option<String>| v.as_deref().map(|s| dtype(flag, s)).transpose();
        let spec = WorkloadSpec {
            phase: self.phase,
            batch: self.batch,
            context: self.context,
            prompt: self.prompt,
            spec: self.spec,
            accept_rate: self.accept_rate,
            kv_keep: self.kv_keep,
            weights: d("--weights-dtype", &self.weights_dtype)?,
            kv: d("--kv-dtype", &self.kv_dtype)?,
            act: d("--act-dtype", &self.act_dtype)?,
        };
        spec.resolve(model).map_err(Error::Usage)
    }

    /// The plan request; at most one strategy (only `compare` takes several).
    pub fn request(&self) -> Result<PlanRequest, Error> {
        Ok(self.request_with(one_strategy(&self.strategies)?))
    }

    /// The plan request with `strategy`.
    pub fn request_with(&self, strategy: Option<Strategy>) -> PlanRequest {
        PlanRequest { tp: self.tp, pp: self.pp, ep: self.ep, steps: self.steps, strategy, regions: self.regions }
    }
}

/// The one strategy of a run that is not a `compare` (which runs several
/// side by side).
pub fn one_strategy(strategies: &[Strategy]) -> Result<Option<Strategy>, Error> {
    if strategies.len() > 1 {
        return Err(Error::Usage("--strategy: give one (only `compare` runs several side by side)".into()));
    }
    Ok(strategies.first().copied())
}

/// What `compile` made.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CompileSummary {
    /// The model as compiled (`NAME[N-layers]` when sliced).
    pub model: String,
    pub chip: String,
    pub workload: String,
    pub plan: String,
    /// One line: model, chip, plan and where activations live.
    pub description: String,
    /// Where the trace was written.
    pub output: String,
}

/// `tilesim compile`: compiles `model` on `chip` and writes the trace to
/// `output` (binary for a `.tbin` name, else text), atomically.
pub fn compile(
    model: &str,
    chip: &str,
    set: &[Override],
    opts: &WorkloadOptions,
    output: &Path,
) -> Result<CompileSummary, Error> {
    not_input(output, &[model, chip])?;
    let model = opts.slice(load_model(model)?)?;
    let chip = load_chip(chip, set)?;
    let w = opts.workload(&model)?;
    // The trace is for `run`: a chip it cannot simulate is refused before
    // the compiler's work (which grows with the tiles), as `run` would.
    sim::budget::check_before_compile(&model.name, &chip)?;
    let c = compiler::compile(&model, &chip, &w, &opts.request()?)?;
    let format = if output.extension().is_some_and(|e| e == "tbin") { Format::Binary } else { Format::Text };
    let err = output_error(output);
    let mut sink = trace::create(output, format).map_err(&err)?;
    c.write(sink.as_mut()).map_err(&err)?;
    sink.finish().map_err(&err)?;
    Ok(CompileSummary {
        model: model.name.clone(),
        chip: chip.name.clone(),
        workload: w.describe(),
        plan: c.plan.describe(),
        description: c.describe(),
        output: output.display().to_string(),
    })
}

/// `tilesim roofline`: the analytic floor of the plan the compiler would
/// choose.
pub fn roofline(model: &str, chip: &str, set: &[Override], opts: &WorkloadOptions) -> Result<Row, Error> {
    let model = opts.slice(load_model(model)?)?;
    let chip = load_chip(chip, set)?;
    let w = opts.workload(&model)?;
    Ok(Row::planned(&model, &chip, &w, &opts.request()?)?)
}

/// `tilesim roofline --json`: the floor as a comparison of one row, not
/// simulated (arch/report-schema.md).
pub fn roofline_report(model: &str, chip: &str, set: &[Override], opts: &WorkloadOptions) -> Result<Comparison, Error> {
    let model = opts.slice(load_model(model)?)?;
    let chip = load_chip(chip, set)?;
    let w = opts.workload(&model)?;
    let row = Row::planned(&model, &chip, &w, &opts.request()?)?;
    Ok(Comparison {
        schema_version: SCHEMA_VERSION,
        command: "roofline",
        model: model.name.clone(),
        workload: WorkloadJson::of(&w),
        rows: vec![Entry::Ok(Box::new(row))],
    })
}

/// The chips `compare` runs when none is given (README): an SRAM-only
/// system, an HBM node, a 3D-DRAM design and a wafer.
pub const DEFAULT_COMPARE_CHIPS: [&str; 4] = ["groq-576", "dgx-h100", "mesh-3ddram", "cerebras-wse3"];

/// How far a comparison has got: entries done of the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompareProgress {
    pub done: usize,
    pub total: usize,
}

/// `tilesim compare`: each chip (the default set when `chips` is empty)
/// with each strategy, in order. A chip that cannot run the workload
/// (does not fit, an impossible plan, a deadlock) is an entry saying why,
/// as a sweep point is; bad options and configs fail the whole comparison
/// before anything runs.
pub fn compare(
    model: &str,
    chips: &[String],
    set: &[Override],
    opts: &WorkloadOptions,
    mut progress: impl FnMut(CompareProgress),
) -> Result<Comparison, Error> {
    let model = opts.slice(load_model(model)?)?;
    let w = opts.workload(&model)?;
    let strategies: Vec<Option<Strategy>> =
        if opts.strategies.is_empty() { vec![None] } else { opts.strategies.iter().map(|&s| Some(s)).collect() };
    let names: Vec<String> =
        if chips.is_empty() { DEFAULT_COMPARE_CHIPS.iter().map(|s| s.to_string()).collect() } else { chips.to_vec() };
    let loaded: Vec<Chip> = names.iter().map(|c| load_chip(c, set)).collect::<Result<_, _>>()?;
    let total = loaded.len() * strategies.len();
    let mut rows = Vec::with_capacity(total);
    progress(CompareProgress { done: 0, total });
    for chip in &loaded {
        for &s in &strategies {
            let r = Row::evaluate(&model, chip, &w, &opts.request_with(s), true);
            rows.push(Entry::from_result(&chip.name, s.map(Strategy::name), r));
            progress(CompareProgress { done: rows.len(), total });
        }
    }
    Ok(Comparison {
        schema_version: SCHEMA_VERSION,
        command: "compare",
        model: model.name.clone(),
        workload: WorkloadJson::of(&w),
        rows,
    })
}

/// The chip a trace names in its header, for `run` without `--chip`: a
/// shipped config of that name.
pub fn chip_of_trace(path: &Path) -> Result<String, Error> {
    let src = trace::open(path)?;
    let name = src.header().chip.clone();
    if shipped::get(Kind::Chip, &name).is_none() {
        return Err(Error::Usage(format!(
            "{}: the trace was compiled for chip `{name}`, which is not a shipped config; give its config with \
             --chip PATH",
            path.display()
        )));
    }
    Ok(name)
}

/// `tilesim run`: simulates the trace at `path` on `chip` (by default the
/// shipped chip its header names) and, when `timeline` is given, writes
/// the Chrome trace-event timeline of the whole run there.
pub fn run(
    path: &Path,
    chip: Option<&str>,
    set: &[Override],
    timeline: Option<&Path>,
    model: Option<&str>,
) -> Result<RunReport, Error> {
    match timeline {
        Some(t) => run_timeline(path, chip, set, t, None, model).map(|(r, _)| r),
        None => run_with(RunInput::Trace(path, model), chip, set, None).map(|(r, _)| r),
    }
}

/// What `run --timeline` wrote (arch/timeline.md).
#[derive(Clone, Debug)]
pub struct TimelineWritten {
    /// Slices written.
    pub spans: u64,
    /// What the window left out or clipped, when it cut anything: the
    /// command line prints it on stderr.
    pub warning: Option<String>,
}

/// `tilesim run --timeline OUT [--timeline-window START:END]`: the run's
/// report, and its timeline written to `out` (atomically: nothing is left
/// there if the run fails), streamed as the run goes. `window` is
/// `START:END` in cycles or in time with a unit (`sim::WindowSpec`); none:
/// the whole run.
pub fn run_timeline(
    path: &Path,
    chip: Option<&str>,
    set: &[Override],
    out: &Path,
    window: Option<&str>,
    model: Option<&str>,
) -> Result<(RunReport, TimelineWritten), Error> {
    let spec = window_spec(window)?;
    let (report, written) = run_with(RunInput::Trace(path, model), chip, set, Some((out, spec)))?;
    Ok((report, written.expect("a timeline was asked for")))
}

fn window_spec(window: Option<&str>) -> Result<Option<sim::WindowSpec>, Error> {
    window.map(|w| sim::WindowSpec::parse(w).map_err(|m| Error::Usage(format!("--timeline-window {m}")))).transpose()
}

/// Synthetic NoC traffic, as `gen traffic` makes it (README, arch/timing.md
/// "Validating against BookSim2"): the pattern by name, the offered load in
/// flits per node per cycle, packets of `packet_flits` flits of
/// `flit_bytes`, `cycles` cycles of injection, the generators' seed.
#[derive(Clone, Debug)]
pub struct TrafficOptions {
    pub pattern: String,
    pub rate: f64,
    pub packet_flits: u64,
    pub flit_bytes: u64,
    pub cycles: u64,
    pub seed: u64,
}

impl TrafficOptions {
    /// The run on `chip`, every parameter checked (a bad one is a usage
    /// error): what `gen traffic` writes and `run --traffic` simulates.
    pub fn spec(&self, chip: &Chip) -> Result<synth::TrafficSpec, Error> {
        let pattern = synth::traffic::Pattern::parse(&self.pattern).map_err(Error::Usage)?;
        synth::TrafficSpec::new(chip, pattern, self.rate, self.packet_flits, self.flit_bytes, self.cycles, self.seed)
            .map_err(Error::Usage)
    }
}

/// How `run --traffic` simulates its packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrafficMode {
    /// Each tile's instructions made as it issues them (`synth::stream`):
    /// the report equals that of `gen traffic` with the same options
    /// followed by `run` of its trace, but for `trace`, which names the
    /// traffic (`TrafficSpec::name`).
    Instructions,
    /// The packets injected straight into the network with no
    /// instructions (`--packets`; BookSim2's own model,
    /// `sim::simulate_packets`): each packet is whole at its source in the
    /// cycle it is created and counted when it reaches its destination.
    /// The network figures (packet latency, accepted throughput, link use)
    /// are those of `Instructions` without contention; with it, packets
    /// that reach a link in the same cycle may be served in another order
    /// (injection events interleave with the network's differently from
    /// instruction issue). The tiles' counters are zero; `trace` names the
    /// traffic with ` packets`.
    Packets,
}

/// `tilesim run --traffic`: simulates synthetic traffic on `chip` with no
/// trace file, as `mode` says. With `timeline`, writes the run's Chrome
/// trace-event timeline there (within `window`).
pub fn run_traffic(
    traffic: &TrafficOptions,
    mode: TrafficMode,
    chip: &str,
    set: &[Override],
    timeline: Option<&Path>,
    window: Option<&str>,
) -> Result<(RunReport, Option<TimelineWritten>), Error> {
    let window = window_spec(window)?;
    run_with(RunInput::Traffic(traffic, mode), Some(chip), set, timeline.map(|t| (t, window)))
}

/// What `run` simulates.
#[derive(Clone, Copy, Debug)]
enum RunInput<'a> {
    /// A trace, and the model config its floor is rebuilt from when the
    /// model it names is not shipped (`run --model`).
    Trace(&'a Path, Option<&'a str>),
    Traffic(&'a TrafficOptions, TrafficMode),
}

/// The checks of synthetic traffic `spec` on `chip` before any packet is
/// made, named `name`: the header against the chip, and the memory and
/// events its offered load promises against the budget (so a run of days
/// is refused at once, not after its instructions are made).
fn check_traffic(chip: &Chip, spec: &synth::TrafficSpec, name: &str) -> Result<(), Error> {
    let mismatch = |m| Error::from(SimError::Mismatch(Location::file(name), m));
    trace::against::check_header(chip, &spec.header).map_err(mismatch)?;
    let held = synth::stream::held_estimate(spec);
    sim::budget::check_parts(chip, held, traffic_events(chip, spec), sim::budget::Subject::Traffic).map_err(mismatch)
}

/// The events synthetic traffic `spec` is expected to take on `chip` at
/// its offered load: each packet's NoC packets over the longest route,
/// plus its injection and delivery. A lower bound on what its instructions
/// take, known before any packet is made.
fn traffic_events(chip: &Chip, spec: &synth::TrafficSpec) -> u128 {
    let p = (spec.rate / spec.packet_flits as f64).min(1.0);
    let expected = (p * spec.header.tiles as f64 * spec.cycles as f64).ceil() as u128;
    let parts = spec.bytes.div_ceil(chip.noc.packet.0.max(1)) as u128;
    expected.saturating_mul(parts.saturating_mul(sim::budget::max_hops(chip)).saturating_add(2))
}

/// Checks synthetic traffic for a run on `chip` as `sim::scan` checks a
/// trace file — the chip-dependent checks of every instruction, and the
/// run's events and memory against the budget — and totals its work,
/// making every instruction once a chunk at a time and holding none.
fn scan_traffic(
    chip: &Chip,
    spec: &synth::TrafficSpec,
) -> Result<(synth::stream::TrafficStream, crate::roofline::TraceTotals), Error> {
    let name = spec.name();
    check_traffic(chip, spec, &name)?;
    let mut totals = crate::roofline::TotalsAcc::new(chip);
    let mut events = sim::budget::Events::new(chip);
    let stream = synth::stream::TrafficStream::scan(spec, synth::stream::chunk_cycles(spec), |t, i, pos| {
        totals.add(t, i);
        events.add(t, i);
        trace::against::check_instr(chip, t, i).map_err(|message| SimError::Instr {
            at: synth::stream::location(&name, pos),
            tile: t.0,
            message,
        })
    })?;
    // The count of the instructions made, now that they are (the same
    // checks as `sim::scan`'s for a trace file).
    events
        .check_run(chip, &spec.header, synth::stream::held_estimate(spec), sim::budget::Subject::Traffic)
        .map_err(|m| SimError::Mismatch(Location::file(&name), m))?;
    Ok((stream, totals.finish()))
}

/// A run's instructions: a trace held, a binary trace read lazily, or
/// synthetic traffic made on the fly; with the totals of the last two.
enum Loaded {
    Held(Trace),
    Lazy(trace::lazy::Lazy, crate::roofline::TraceTotals),
    Traffic(synth::stream::TrafficStream, crate::roofline::TraceTotals),
    Packets(synth::stream::Packets),
}

fn run_with(
    input: RunInput,
    chip: Option<&str>,
    set: &[Override],
    timeline: Option<(&Path, Option<sim::WindowSpec>)>,
) -> Result<(RunReport, Option<TimelineWritten>), Error> {
    let name = match (chip, input) {
        (Some(c), _) => c.to_string(),
        (None, RunInput::Trace(path, _)) => chip_of_trace(path)?,
        (None, RunInput::Traffic(..)) => return Err(Error::Usage("synthetic traffic needs a chip (--chip)".into())),
    };
    if let Some((t, _)) = timeline {
        match input {
            RunInput::Trace(path, _) => not_input(t, &[&name, &path.display().to_string()])?,
            RunInput::Traffic(..) => not_input(t, &[&name])?,
        }
    }
    let chip = load_chip(&name, set)?;
    let model = match input {
        RunInput::Trace(_, Some(m)) => Some(load_model(m)?),
        RunInput::Trace(_, None) | RunInput::Traffic(..) => None,
    };
    let window = match timeline.and_then(|(_, w)| w) {
        Some(w) => Some(w.cycles(chip.clock_hz).map_err(|m| Error::Usage(format!("--timeline-window: {m}")))?),
        None => None,
    };
    // A binary trace on disk is read lazily, so memory stays flat however
    // long it is; a text trace or a pipe is held; synthetic traffic is made
    // a chunk of cycles at a time. The timeline streams to its file either
    // way.
    let mut loaded = match input {
        RunInput::Trace(path, _) if crate::trace::lazy::applies(path) => {
            let (lazy, totals) = crate::roofline::scan(&chip, path)?;
            Loaded::Lazy(lazy, totals)
        }
        RunInput::Trace(path, _) => Loaded::Held(Trace::load(path)?),
        RunInput::Traffic(o, TrafficMode::Instructions) => {
            let (stream, totals) = scan_traffic(&chip, &o.spec(&chip)?)?;
            Loaded::Traffic(stream, totals)
        }
        RunInput::Traffic(o, TrafficMode::Packets) => {
            let spec = o.spec(&chip)?;
            let packets = synth::stream::Packets::new(&spec);
            check_traffic(&chip, &spec, &packets.name)?;
            Loaded::Packets(packets)
        }
    };
    // A model given for the floor must be the one the trace was compiled
    // from: refused before the run, not reported as a missing floor.
    let header = match &loaded {
        Loaded::Held(trace) => Some(&trace.header),
        Loaded::Lazy(lazy, _) => Some(&lazy.header),
        Loaded::Traffic(..) | Loaded::Packets(_) => None,
    };
    if let (Some(m), Some(h)) = (&model, header) {
        crate::floor::check_given(&h.model, m).map_err(Error::Usage)?;
    }
    let writer = match timeline {
        Some((t, _)) => {
            let f = crate::fileio::create(t).map_err(output_error(t))?;
            let w = match &loaded {
                Loaded::Held(trace) => {
                    crate::report::timeline::ChromeWriter::new(f, &chip, trace.format == Format::Binary)
                }
                Loaded::Lazy(..) | Loaded::Packets(_) => crate::report::timeline::ChromeWriter::new(f, &chip, true),
                Loaded::Traffic(..) => crate::report::timeline::ChromeWriter::new(f, &chip, true)
                    .positions("instruction", (1 << synth::stream::POS_BITS) - 1),
            };
            Some(std::cell::RefCell::new(w))
        }
        None => None,
    };
    // The sink is borrowed by the run only.
    let stats = {
        let opts = sim::Options {
            timeline: writer.as_ref().map(|w| {
                let sink: &std::cell::RefCell<dyn sim::SpanSink> = w;
                (sim::TimelineOptions { window, ..Default::default() }, sink)
            }),
            prefetch: None,
        };
        match &mut loaded {
            Loaded::Held(trace) => sim::simulate(&chip, trace, &opts)?,
            Loaded::Lazy(lazy, _) => sim::simulate_lazy(&chip, lazy, &opts)?,
            Loaded::Traffic(stream, _) => sim::simulate_source(&chip, stream, &opts)?,
            Loaded::Packets(p) => sim::simulate_packets(&chip, &p.header, &p.name, &mut p.feed, &opts)?,
        }
    };
    let report = match loaded {
        Loaded::Held(trace) => {
            let totals = crate::roofline::TraceTotals::of(&chip, &trace);
            RunReport::with_model(&chip, &trace.header, &trace.file, totals, &stats, model.as_ref())
        }
        Loaded::Lazy(lazy, totals) => {
            RunReport::with_model(&chip, &lazy.header, &lazy.file, totals, &stats, model.as_ref())
        }
        Loaded::Traffic(stream, totals) => RunReport::from_totals(&chip, &stream.header, &stream.name, totals, &stats),
        Loaded::Packets(p) => {
            let none = crate::roofline::TotalsAcc::new(&chip).finish();
            RunReport::from_totals(&chip, &p.header, &p.name, none, &stats)
        }
    };
    let written = match (timeline, writer, &stats.timeline) {
        (Some((t, _)), Some(w), Some(summary)) => {
            let err = output_error(t);
            let f = w.into_inner().finish(&chip, &report.trace, stats.cycles, summary).map_err(&err)?;
            f.commit().map_err(&err)?;
            Some(TimelineWritten { spans: summary.written, warning: summary.cut_warning() })
        }
        _ => None,
    };
    Ok((report, written))
}

/// The axes and options of `tilesim sweep` (arch/sweep.md): each list is an
/// axis; empty `context`, `tp`, `pp`, `ep` and data-type lists mean the
/// single-point default.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub models: Vec<String>,
    pub chips: Vec<String>,
    pub phase: Vec<Phase>,
    pub batch: Vec<u64>,
    pub context: Vec<u64>,
    pub prompt: Vec<u64>,
    pub spec: Vec<u64>,
    pub accept_rate: Vec<f64>,
    pub kv_keep: Vec<f64>,
    pub tp: Vec<u32>,
    pub pp: Vec<u32>,
    pub ep: Vec<u32>,
    pub steps: Option<u64>,
    pub layers: Option<u64>,
    pub weights_dtype: Vec<String>,
    pub kv_dtype: Vec<String>,
    pub act_dtype: Vec<String>,
    /// Override axes, `KEY=V1|V2|...` each (`KEY=` unsets).
    pub set: Vec<String>,
    /// Keys removed from every chip (`--unset`).
    pub unset: Vec<String>,
}

impl Default for SweepOptions {
    fn default() -> Self {
        let d = WorkloadSpec::default();
        SweepOptions {
            models: Vec::new(),
            chips: Vec::new(),
            phase: vec![d.phase],
            batch: vec![d.batch],
            context: Vec::new(),
            prompt: vec![d.prompt],
            spec: vec![d.spec],
            accept_rate: vec![d.accept_rate],
            kv_keep: vec![d.kv_keep],
            tp: Vec::new(),
            pp: Vec::new(),
            ep: Vec::new(),
            steps: None,
            layers: None,
            weights_dtype: Vec::new(),
            kv_dtype: Vec::new(),
            act_dtype: Vec::new(),
            set: Vec::new(),
            unset: Vec::new(),
        }
    }
}

/// Every point of a sweep, checked: any usage or config error surfaces
/// here, before a point runs.
pub fn sweep_space(a: &SweepOptions) -> Result<Space, Error> {
    if a.models.is_empty() || a.chips.is_empty() {
        return Err(Error::Usage("a sweep needs at least one model and one chip".into()));
    }
    let dtypes = |flag: &str, v: &[String]| -> Result<Vec<Option<Dtype>>, Error> {
        if v.is_empty() {
            return Ok(vec![None]);
        }
        v.iter().map(|s| dtype(flag, s).map(Some)).collect()
    };
    let opt = |v: &[u32]| if v.is_empty() { vec![None] } else { v.iter().copied().map(Some).collect() };
    let nonempty = |flag: &str, n: usize| {
        if n == 0 { Err(Error::Usage(format!("{flag}: give at least one value"))) } else { Ok(()) }
    };
    nonempty("--phase", a.phase.len())?;
    nonempty("--batch", a.batch.len())?;
    nonempty("--prompt", a.prompt.len())?;
    nonempty("--spec", a.spec.len())?;
    nonempty("--accept-rate", a.accept_rate.len())?;
    nonempty("--kv-keep", a.kv_keep.len())?;
    let axes = Axes {
        phase: a.phase.clone(),
        batch: a.batch.clone(),
        context: if a.context.is_empty() { vec![None] } else { a.context.iter().copied().map(Some).collect() },
        prompt: a.prompt.clone(),
        spec: a.spec.clone(),
        accept_rate: a.accept_rate.clone(),
        kv_keep: a.kv_keep.clone(),
        tp: opt(&a.tp),
        pp: opt(&a.pp),
        ep: opt(&a.ep),
        weights: dtypes("--weights-dtype", &a.weights_dtype)?,
        kv: dtypes("--kv-dtype", &a.kv_dtype)?,
        act: dtypes("--act-dtype", &a.act_dtype)?,
    };
    let mut sets: Vec<Vec<Override>> = Vec::new();
    for s in &a.set {
        let axis = overrides::parse_axis(s).map_err(Error::Usage)?;
        if sets.iter().any(|other| other[0].key() == axis[0].key()) {
            return Err(Error::Usage(format!(
                "--set {} is given twice; list its values once, `|`-separated",
                axis[0].key()
            )));
        }
        sets.push(axis);
    }
    for k in &a.unset {
        let o = Override::unset(k.trim()).map_err(|e| Error::Usage(format!("--unset {e}")))?;
        if sets.iter().any(|other| other[0].key() == o.key()) {
            return Err(Error::Usage(format!("`{}` is both set and unset", o.key())));
        }
        sets.push(vec![o]);
    }
    let set_lens: Vec<(&str, usize)> = sets.iter().map(|s| (s[0].key(), s.len())).collect();
    sweep::check_points(a.models.len(), a.chips.len(), &set_lens, &axes).map_err(Error::Usage)?;
    let mut models = Vec::new();
    for name in &a.models {
        let m = load_model(name)?;
        models.push(match a.layers {
            Some(l) => m.first_layers(l).map_err(Error::Usage)?,
            None => m,
        });
    }
    let chips: Vec<(String, String)> = a.chips.iter().map(|c| resolve(Kind::Chip, c)).collect::<Result<_, _>>()?;
    let chips = sweep::chip_points(&chips, &sets)?;
    Space::new(models, chips, axes, a.steps).map_err(Error::Usage)
}

/// `tilesim sweep` into memory: the shard's rows in index order, each a
/// `SweepRow` (serialised, the JSON Lines object of arch/sweep.md).
/// `jobs` worker threads, 1 ..= `limits::MAX_JOBS`.
pub fn sweep(a: &SweepOptions, simulate: bool, jobs: usize, shard: Shard) -> Result<Vec<SweepRow>, Error> {
    let max = crate::limits::MAX_JOBS as usize;
    if !(1..=max).contains(&jobs) {
        return Err(Error::Usage(format!("jobs must be in 1..={max} (arch/limits.md), found {jobs}")));
    }
    let space = sweep_space(a)?;
    let mut rows = Vec::with_capacity(shard.count(space.len()));
    let opts = sweep::Options { jobs, simulate, shard };
    sweep::run::<std::convert::Infallible>(
        &space,
        &opts,
        |_| {},
        |r| {
            rows.push(r);
            Ok(())
        },
    )
    .unwrap_or_else(|e| match e {});
    Ok(rows)
}

/// A shipped config: its name and one-line description.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Shipped {
    pub name: &'static str,
    pub description: String,
}

/// The shipped configs of a kind (`tilesim list`), in name order.
pub fn shipped(kind: Kind) -> Vec<Shipped> {
    kind.table()
        .iter()
        .map(|(name, text)| Shipped {
            name,
            description: text
                .lines()
                .find_map(|l| l.strip_prefix("description = "))
                .map(|d| d.trim().trim_matches('"').to_string())
                .unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_text_is_a_config() {
        let text = shipped::get(Kind::Chip, "h100").unwrap();
        let c = load_chip(text, &[]).unwrap();
        assert_eq!(c.name, "h100");
        let e = load_chip("name = \"x\"\n", &[]).unwrap_err();
        assert!(e.to_string().starts_with("<chip TOML>:"), "{e}");
        assert_eq!(e.location().unwrap().file, "<chip TOML>");
    }

    #[test]
    fn overrides_refuse_a_key_twice() {
        let e = overrides(&["system.chips=2".into()], &["system.chips".into()]).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        assert!(overrides(&["system.switch_latency=".into()], &[]).unwrap()[0].is_unset());
    }
}
