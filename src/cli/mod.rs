//! Command-line definitions (clap) and dispatch.

mod check;
mod compile;
mod convert;
mod error;
mod generate;
mod import;
mod list;
mod merge;
mod plot;
mod progress;
mod run;
mod serve;
mod snap;
mod sweep;
mod values;

pub use error::CliError;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "tilesim", version, about = "Cycle-approximate accelerator simulator for LLM inference")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Memory a command may plan to use (e.g. 8GiB); larger configs and
    /// traces are refused with the estimate (arch/limits.md).
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_max_memory)]
    pub max_memory: Option<u64>,
}

fn parse_max_memory(s: &str) -> Result<u64, String> {
    let size = tilesim::config::quantity::Size::parse(s)?;
    if size.0 < 1.0 {
        return Err(format!("expected a size of at least 1 B, found \"{s}\""));
    }
    if size.0 >= u64::MAX as f64 {
        return Err(format!("expected a size below 16 EiB (2^64 bytes), found \"{s}\""));
    }
    Ok(size.bytes())
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate chip configs, model configs and traces; exit 0 when all are valid.
    Check {
        /// Config (.toml) and trace files; `-` for standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print derived totals for chips and models.
        #[arg(long, short)]
        verbose: bool,
        /// Check traces against this chip (default: the chip named in the trace header, if shipped).
        #[arg(long)]
        chip: Option<String>,
    },
    /// Compile a model and workload into an instruction trace.
    Compile(CompileArgs),
    /// Simulate a trace on a chip and report where the time went.
    Run(RunArgs),
    /// Print the analytic (roofline) bound for a model and workload on a chip.
    Roofline(RooflineArgs),
    /// Compile and run one model and workload on several chips, side by side.
    Compare(CompareArgs),
    /// Import a Hugging Face config.json (Llama, Mistral, Mixtral, Qwen2, DeepSeek styles) as a model config.
    ImportModel(import::ImportArgs),
    /// Join the outputs of a sharded sweep (`--shard K/N`, CSV or JSON Lines) into what the unsharded sweep
    /// writes.
    Merge(merge::MergeArgs),
    /// Sweep models, chips, chip-config overrides and workload axes: one CSV or JSON row per point.
    Sweep(Box<sweep::SweepArgs>),
    /// Snapshot-test cycle counts: run a suite's cases and compare each with its accepted
    /// snapshot (exit 4 when any is new or changed).
    Snap(snap::SnapArgs),
    /// Draw a line chart (SVG) from a sweep's CSV output, or any CSV with a header.
    Plot(plot::PlotArgs),
    /// Serve a stream of requests on simulated chips: TTFT, TPOT, throughput, goodput, tokens per
    /// $1k and per joule; with --sweep-rate, the highest rate meeting the SLOs.
    Serve(Box<serve::ServeArgs>),
    /// Simulate microbenchmarks on a chip (memory stream and latency, NoC and chip-link
    /// latency, all-reduce bus bandwidth) to compare a config with measurements of its part.
    Characterize {
        /// Shipped chip name or path.
        #[arg(long)]
        chip: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Simulate every calibration microbenchmark of the reference (memory
    /// streaming and latency, NCCL and Wormhole all-reduces, chip-link and
    /// fabric latencies) on the shipped configs, beside the measurements.
    Validate {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Exit 4 when a figure is outside its tolerance.
        #[arg(long)]
        strict: bool,
    },
    /// List the shipped chip and model configs.
    List,
    /// Print a shipped config, as a starting point to edit.
    Show {
        /// Name of a shipped chip or model.
        name: String,
    },
    /// Convert a trace between the text and binary forms.
    Convert {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Output form (default: binary for a .tbin output, else text).
        #[arg(long, value_enum)]
        to: Option<FormatArg>,
    },
    /// Generate synthetic traces.
    #[command(subcommand)]
    Gen(GenCommand),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Text,
    Binary,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Phase {
    Decode,
    Prefill,
}

impl From<Phase> for tilesim::compiler::Phase {
    fn from(p: Phase) -> Self {
        match p {
            Phase::Decode => tilesim::compiler::Phase::Decode,
            Phase::Prefill => tilesim::compiler::Phase::Prefill,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// decode: one step for every user; prefill: process the prompt.
    #[arg(long, value_enum, default_value = "decode")]
    pub phase: Phase,
    /// Concurrent users (requests).
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Tokens already in each user's KV cache (default: 4096 for decode, 0 for prefill).
    #[arg(long)]
    pub context: Option<u64>,
    /// Prompt tokens per user (prefill).
    #[arg(long, default_value_t = 512)]
    pub prompt: u64,
    /// Tokens verified per step with speculative decoding (1 = off).
    #[arg(long, default_value_t = 1)]
    pub spec: u64,
    /// Probability each drafted token is accepted (speculative decoding).
    #[arg(long, default_value_t = 0.8, value_parser = values::accept_rate)]
    pub accept_rate: f64,
    /// Fraction of the KV cache each attention reads (top-k / block-sparse).
    #[arg(long, default_value_t = 1.0, value_parser = values::kv_keep)]
    pub kv_keep: f64,
    /// Decode steps (or prefill passes) in one trace (default: 1, or 4 with pipeline stages).
    #[arg(long)]
    pub steps: Option<u64>,
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// How the model is mapped and stored: the flags `compile`, `compare`,
/// `roofline`, `sweep` and `serve` share.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// Tensor-parallel degree (chips sharing each layer).
    #[arg(long)]
    pub tp: Option<u32>,
    /// Pipeline-parallel degree (stages of layers).
    #[arg(long)]
    pub pp: Option<u32>,
    /// Expert-parallel degree (chips sharing the experts).
    #[arg(long)]
    pub ep: Option<u32>,
    /// Only the first N layers of the model (a slice, for quick studies).
    #[arg(long)]
    pub layers: Option<u64>,
    /// Weight data type.
    #[arg(long)]
    pub weights_dtype: Option<String>,
    /// KV-cache data type.
    #[arg(long)]
    pub kv_dtype: Option<String>,
    /// Activation data type (default: fp16).
    #[arg(long)]
    pub act_dtype: Option<String>,
    /// How activations move between operations: memory (in HBM, GPU
    /// kernels), root (a root tile), tiled (spread over the tile grid).
    /// Default: memory for HBM chips on a crossbar, tiled otherwise.
    /// `compare` takes several (comma list or repeated) and runs each chip
    /// with each.
    #[arg(long, value_delimiter = ',', value_parser = values::variant::<StrategyArg>)]
    pub strategy: Vec<StrategyArg>,
    /// Layer regions per chip, pipelined (tiled strategy; default: the
    /// plan's estimate of the fastest that fits).
    #[arg(long)]
    pub regions: Option<u32>,
}

impl PlanArgs {
    /// The data types given, each checked (the rest of the spec default).
    pub fn dtypes(&self) -> Result<tilesim::compiler::workload::WorkloadSpec, CliError> {
        let d = |flag: &str, v: &Option<String>| v.as_deref().map(|s| tilesim::api::dtype(flag, s)).transpose();
        Ok(tilesim::compiler::workload::WorkloadSpec {
            weights: d("--weights-dtype", &self.weights_dtype)?,
            kv: d("--kv-dtype", &self.kv_dtype)?,
            act: d("--act-dtype", &self.act_dtype)?,
            ..Default::default()
        })
    }

    /// The plan request of one run (one strategy at most), the steps the
    /// caller's default.
    pub fn request(&self) -> Result<tilesim::compiler::plan::PlanRequest, CliError> {
        let strategies: Vec<_> = self.strategy.iter().map(|&s| s.into()).collect();
        Ok(tilesim::compiler::plan::PlanRequest {
            tp: self.tp,
            pp: self.pp,
            ep: self.ep,
            steps: None,
            strategy: tilesim::api::one_strategy(&strategies)?,
            regions: self.regions,
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum StrategyArg {
    Memory,
    Root,
    Tiled,
}

impl WorkloadArgs {
    /// The library's form of the flags (`tilesim::api`).
    pub fn options(&self) -> tilesim::api::WorkloadOptions {
        tilesim::api::WorkloadOptions {
            phase: self.phase.into(),
            batch: self.batch,
            context: self.context,
            prompt: self.prompt,
            tp: self.plan.tp,
            pp: self.plan.pp,
            ep: self.plan.ep,
            spec: self.spec,
            accept_rate: self.accept_rate,
            kv_keep: self.kv_keep,
            steps: self.steps,
            layers: self.plan.layers,
            weights_dtype: self.plan.weights_dtype.clone(),
            kv_dtype: self.plan.kv_dtype.clone(),
            act_dtype: self.plan.act_dtype.clone(),
            strategies: self.plan.strategy.iter().map(|&s| s.into()).collect(),
            regions: self.plan.regions,
        }
    }
}

/// Chip-config overrides of one run (arch/sweep.md, "Chip-config overrides").
#[derive(Args, Debug, Clone, Default)]
pub struct SetArgs {
    /// Override a key of the chip config: a dotted key and a TOML value, else a bare string
    /// (`system.chips=4`, `hbm.bandwidth=4 TB/s`); `KEY=` removes the key. Repeat for more.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove a key from the chip config (one that an override makes meaningless, like
    /// `system.switch_latency` after `--set system.topology=ring`). Repeat for more.
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
}

impl SetArgs {
    pub fn overrides(&self) -> Result<Vec<tilesim::config::overrides::Override>, CliError> {
        Ok(tilesim::api::overrides(&self.set, &self.unset)?)
    }
}

impl From<StrategyArg> for tilesim::compiler::Strategy {
    fn from(s: StrategyArg) -> Self {
        match s {
            StrategyArg::Memory => tilesim::compiler::Strategy::Memory,
            StrategyArg::Root => tilesim::compiler::Strategy::Root,
            StrategyArg::Tiled => tilesim::compiler::Strategy::Tiled,
        }
    }
}

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// Shipped model name, or a path to a model config (.toml) or a Hugging Face config.json.
    #[arg(long)]
    pub model: String,
    #[arg(long)]
    pub chip: String,
    #[command(flatten)]
    pub set: SetArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Output trace (.tbin for the binary form).
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
#[command(
    mut_arg("rate", |a| a.requires("traffic")),
    mut_arg("packet_flits", |a| a.requires("traffic")),
    mut_arg("flit_bytes", |a| a.requires("traffic")),
    mut_arg("cycles", |a| a.requires("traffic")),
    mut_arg("seed", |a| a.requires("traffic"))
)]
pub struct RunArgs {
    /// The trace to simulate (a binary trace on disk is read lazily).
    #[arg(required_unless_present = "traffic")]
    pub trace: Option<PathBuf>,
    /// Shipped chip name or path (default: the shipped chip the trace's header names; required with
    /// --traffic).
    #[arg(long)]
    pub chip: Option<String>,
    /// Simulate synthetic NoC traffic of this pattern (uniform, transpose, bitcomp, hotspot) instead of a
    /// trace, its instructions made as the tiles issue them: the report of `gen traffic` with the same
    /// flags then `run` of its trace, with no file.
    #[arg(long, value_name = "PATTERN", conflicts_with = "trace", requires_all = ["chip", "rate", "cycles"])]
    pub traffic: Option<String>,
    /// With --traffic: inject the packets straight into the network (BookSim2's model) instead of
    /// making send and receive instructions; about twice as fast. Packet latency, accepted
    /// throughput and link use are those of --traffic alone without contention, and close to them
    /// with it (packets reaching a link in the same cycle may be served in another order); the tiles'
    /// counters are zero.
    #[arg(long, requires = "traffic")]
    pub packets: bool,
    #[command(flatten)]
    pub traffic_args: TrafficArgs,
    #[command(flatten)]
    pub set: SetArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write a Chrome trace-event timeline of the whole run (opens in Perfetto).
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// Record only START:END of the run: cycles, or a time with a unit
    /// (ns, us, ms, s); either end may be empty. What it cuts is told on stderr.
    #[arg(long, value_name = "START:END", requires = "timeline")]
    pub timeline_window: Option<String>,
    /// The config of the model the trace was compiled from, when it is not a shipped one (a path to a
    /// .toml or a Hugging Face config.json, as `compile --model` took): the report's analytic floor is
    /// rebuilt from it. It must carry the name the trace's header does
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
}

#[derive(Args, Debug)]
pub struct RooflineArgs {
    #[arg(long)]
    pub model: String,
    #[arg(long)]
    pub chip: String,
    #[command(flatten)]
    pub set: SetArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    #[arg(long)]
    pub model: String,
    /// Chips to compare (repeat the flag). Default: groq-576 (SRAM only), dgx-h100 (an HBM node),
    /// mesh-3ddram (3D-stacked DRAM) and cerebras-wse3 (a wafer).
    #[arg(long = "chip")]
    pub chips: Vec<String>,
    /// Overrides applied to every chip.
    #[command(flatten)]
    pub set: SetArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[arg(long)]
    pub json: bool,
}

/// The flags of synthetic traffic, shared by `gen traffic` (which requires
/// `--rate` and `--cycles`) and `run --traffic` (where they need
/// `--traffic`).
#[derive(Args, Debug, Clone)]
pub struct TrafficArgs {
    /// Offered load in flits per node per cycle, in (0, --packet-flits].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Flits per packet.
    #[arg(long, default_value_t = 1)]
    pub packet_flits: u64,
    /// Bytes per flit: a size, with or without a unit (`16`, `16 B`, `1KiB`).
    #[arg(long, default_value = "16", value_parser = values::size)]
    pub flit_bytes: u64,
    /// Cycles of injection.
    #[arg(long)]
    pub cycles: Option<u64>,
    /// Seed of the sources' generators.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl TrafficArgs {
    /// The traffic of `pattern` with these flags (`--rate` and `--cycles`
    /// are required by the commands' flag rules; a usage error if not).
    pub fn options(&self, pattern: &str) -> Result<tilesim::api::TrafficOptions, CliError> {
        let (Some(rate), Some(cycles)) = (self.rate, self.cycles) else {
            return Err(CliError::Usage("synthetic traffic needs --rate and --cycles".into()));
        };
        // A positive rate too small for one flit in the longest run
        // (arch/limits.md); 0, negative and NaN are the library's to refuse.
        if rate > 0.0 && rate < tilesim::limits::MIN_TRAFFIC_RATE {
            return Err(CliError::Usage(format!(
                "--rate {rate:e} flits per node per cycle is less than 2^-32 (2.33e-10), under one flit in the \
                 longest run (arch/limits.md)"
            )));
        }
        Ok(tilesim::api::TrafficOptions {
            pattern: pattern.to_string(),
            rate,
            packet_flits: self.packet_flits,
            flit_bytes: self.flit_bytes,
            cycles,
            seed: self.seed,
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum GenCommand {
    /// Synthetic NoC traffic (BookSim-style injection processes).
    #[command(mut_arg("rate", |a| a.required(true)), mut_arg("cycles", |a| a.required(true)))]
    Traffic {
        #[arg(long)]
        chip: String,
        /// uniform, transpose, bitcomp or hotspot.
        #[arg(long)]
        pattern: String,
        #[command(flatten)]
        traffic: TrafficArgs,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// An all-reduce lowered to sends and receives.
    Allreduce {
        #[arg(long)]
        chip: String,
        #[arg(long)]
        algorithm: String,
        /// Bytes to all-reduce: a size, with or without a unit (`16777216`, `16MiB`, `1 GB`).
        #[arg(long, value_parser = values::size)]
        bytes: u64,
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Writes to standard output; a closed or full stdout is an output error
/// (exit 1), not a panic.
pub fn out(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| CliError::Output { path: "standard output".into(), message: e.to_string() })
}

/// Opens the output `path` (`-`: standard output) after checking it is
/// none of `inputs` (paths or shipped names; names that are no file are
/// skipped): an output never replaces an input, a device node or a symlink
/// (tilesim::fileio).
pub fn output(path: &std::path::Path, inputs: &[&str]) -> Result<tilesim::fileio::Output, CliError> {
    let paths: Vec<&std::path::Path> = inputs.iter().map(std::path::Path::new).collect();
    tilesim::fileio::check_not_input(path, &paths).map_err(CliError::Usage)?;
    tilesim::fileio::create(path).map_err(|e| output_error(path, e))
}

/// An output error, exit 1.
pub fn output_error(path: &std::path::Path, e: std::io::Error) -> CliError {
    CliError::Output { path: path.display().to_string(), message: e.to_string() }
}

/// Refuses an output that is an input, before anything is written.
pub fn not_input(path: &std::path::Path, inputs: &[&str]) -> Result<(), CliError> {
    let paths: Vec<&std::path::Path> = inputs.iter().map(std::path::Path::new).collect();
    tilesim::fileio::check_not_input(path, &paths).map_err(CliError::Usage)
}

/// Resolves and loads a chip by shipped name or path.
pub fn load_chip(arg: &str) -> Result<tilesim::chip::Chip, CliError> {
    Ok(tilesim::api::load_chip(arg, &[])?)
}

pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    if let Some(m) = cli.max_memory {
        tilesim::limits::set_max_memory(m);
    }
    match cli.command {
        Command::Check { files, verbose, chip } => check::run(&files, verbose, chip.as_deref()),
        Command::List => list::list(),
        Command::Show { name } => list::show(&name),
        Command::Convert { input, output, to } => convert::run(&input, &output, to),
        Command::Compile(a) => compile::compile(&a),
        Command::Run(a) => run::run(&a),
        Command::Roofline(a) => compile::roofline(&a),
        Command::Compare(a) => compile::compare(&a),
        Command::ImportModel(a) => import::run(&a),
        Command::Merge(a) => merge::run(&a),
        Command::Sweep(a) => sweep::run(&a),
        Command::Snap(a) => snap::run(&a),
        Command::Plot(a) => plot::run(&a),
        Command::Serve(a) => serve::run(&a),
        Command::Characterize { chip, json } => {
            let c = load_chip(&chip)?;
            tilesim::sim::budget::check_chip(&c).map_err(|m| CliError::Usage(format!("{chip}: {m}")))?;
            let r = tilesim::characterize::characterize(&c)?;
            if json {
                out(&format!("{}\n", serde_json::to_string_pretty(&r).expect("serialises")))?;
            } else {
                out(&r.table())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Gen(g) => generate::run(g),
        Command::Validate { json, strict } => {
            let benchmarks = tilesim::validate::benchmarks();
            let outcomes = benchmarks
                .iter()
                .map(tilesim::validate::run)
                .collect::<Result<Vec<_>, _>>()
                .map_err(CliError::Usage)?;
            if json {
                out(&format!("{}\n", serde_json::to_string_pretty(&outcomes).expect("serialises")))?;
            } else {
                out(&tilesim::validate::table(&outcomes))?;
            }
            let outside = outcomes.iter().filter(|o| !o.pass).count();
            if strict && outside > 0 {
                return Err(CliError::OutsideCalibration { count: outside, total: outcomes.len() });
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
