//! `tilesim sweep` (arch/sweep.md): parses the axes, checks every point up
//! front, runs `tilesim::sweep` with a progress bar on stderr and writes the
//! rows (CSV or JSON Lines) to stdout or atomically to a file.

use super::{CliError, Phase, values};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tilesim::fileio::Output;
use tilesim::sweep::{self, Shard, Space, Status, SweepRow};

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Models (comma-separated list: an axis).
    #[arg(long = "model", required = true, value_delimiter = ',', value_parser = values::trimmed::<String>)]
    pub models: Vec<String>,
    /// Chips, shipped names or paths (repeat the flag).
    #[arg(long = "chip", required = true)]
    pub chips: Vec<String>,
    /// decode and/or prefill.
    #[arg(long, value_delimiter = ',', default_value = "decode", value_parser = values::variant::<Phase>)]
    pub phase: Vec<Phase>,
    /// Concurrent users.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = values::trimmed::<u64>)]
    pub batch: Vec<u64>,
    /// Tokens already in each user's KV cache (default: 4096 for decode, 0 for prefill).
    #[arg(long, value_delimiter = ',', value_parser = values::trimmed::<u64>)]
    pub context: Vec<u64>,
    /// Prompt tokens per user (prefill).
    #[arg(long, value_delimiter = ',', default_value = "512", value_parser = values::trimmed::<u64>)]
    pub prompt: Vec<u64>,
    /// Tokens verified per step with speculative decoding (1 = off).
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = values::trimmed::<u64>)]
    pub spec: Vec<u64>,
    /// Probability each drafted token is accepted.
    #[arg(long, value_delimiter = ',', default_value = "0.8", value_parser = values::accept_rate)]
    pub accept_rate: Vec<f64>,
    /// Fraction of the KV cache each attention reads.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = values::kv_keep)]
    pub kv_keep: Vec<f64>,
    /// Tensor-parallel degrees (default: the plan's choice).
    #[arg(long, value_delimiter = ',', value_parser = values::trimmed::<u32>)]
    pub tp: Vec<u32>,
    /// Pipeline-parallel degrees (default: the plan's choice).
    #[arg(long, value_delimiter = ',', value_parser = values::trimmed::<u32>)]
    pub pp: Vec<u32>,
    /// Expert-parallel degrees (default: 1).
    #[arg(long, value_delimiter = ',', value_parser = values::trimmed::<u32>)]
    pub ep: Vec<u32>,
    /// Decode steps (or prefill passes) in each trace (default: 1, or 4 with pipeline stages).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Compile only the first N layers of each model.
    #[arg(long)]
    pub layers: Option<u64>,
    /// Weight data types (default: the model's).
    #[arg(long, value_delimiter = ',', value_parser = values::trimmed::<String>)]
    pub weights_dtype: Vec<String>,
    /// KV-cache data types (default: the model's).
    #[arg(long, value_delimiter = ',', value_parser = values::trimmed::<String>)]
    pub kv_dtype: Vec<String>,
    /// Activation data types (default: fp16).
    #[arg(long, value_delimiter = ',', value_parser = values::trimmed::<String>)]
    pub act_dtype: Vec<String>,
    /// Chip-config override axis: a dotted key of the chip TOML and its values
    /// (each a TOML value, else a bare string). Repeat for more axes.
    /// `KEY=` alone removes the key.
    #[arg(long = "set", value_name = "KEY=V1|V2|...")]
    pub set: Vec<String>,
    /// Remove a key from every chip config (one an override makes meaningless). Repeat for more.
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
    /// The analytic floor only: no compile or simulation (fast).
    #[arg(long)]
    pub floor_only: bool,
    /// Worker threads (default: the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=tilesim::limits::MAX_JOBS as i64))]
    pub jobs: Option<u32>,
    /// Run only the points whose index is K modulo N (a job-array task).
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Output format: CSV with a header, or JSON Lines.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: SweepFormat,
    /// Output file (default: standard output), written atomically.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SweepFormat {
    Csv,
    Json,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse()
}

/// Where the rows go.
enum Out {
    Stdout(std::io::StdoutLock<'static>),
    File(Output),
}

impl Out {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Out::Stdout(o) => o,
            Out::File(f) => f,
        }
    }
}

/// Everything a sweep needs, checked (`tilesim::api::sweep_space`): any
/// usage or config error surfaces here, before a point runs or the output
/// file is created.
fn space(a: &SweepArgs) -> Result<Space, CliError> {
    let opts = tilesim::api::SweepOptions {
        models: a.models.clone(),
        chips: a.chips.clone(),
        phase: a.phase.iter().map(|&p| p.into()).collect(),
        batch: a.batch.clone(),
        context: a.context.clone(),
        prompt: a.prompt.clone(),
        spec: a.spec.clone(),
        accept_rate: a.accept_rate.clone(),
        kv_keep: a.kv_keep.clone(),
        tp: a.tp.clone(),
        pp: a.pp.clone(),
        ep: a.ep.clone(),
        steps: a.steps,
        layers: a.layers,
        weights_dtype: a.weights_dtype.clone(),
        kv_dtype: a.kv_dtype.clone(),
        act_dtype: a.act_dtype.clone(),
        set: a.set.clone(),
        unset: a.unset.clone(),
    };
    Ok(tilesim::api::sweep_space(&opts)?)
}

pub fn run(a: &SweepArgs) -> Result<ExitCode, CliError> {
    if let Some(p) = &a.output {
        let inputs: Vec<&str> = a.chips.iter().chain(&a.models).map(String::as_str).collect();
        super::not_input(p, &inputs)?;
    }
    let space = space(a)?;
    let shard = a.shard.unwrap_or(Shard::ALL);
    let jobs = match a.jobs {
        Some(j) => j as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let opts = sweep::Options { jobs, simulate: !a.floor_only, shard };
    let total = shard.count(space.len());

    let path = a.output.as_ref().map_or("standard output".to_string(), |p| p.display().to_string());
    let err = |e: std::io::Error| CliError::Output { path: path.clone(), message: e.to_string() };
    let mut out = match &a.output {
        Some(p) => Out::File(tilesim::fileio::create(p).map_err(err)?),
        None => Out::Stdout(std::io::stdout().lock()),
    };
    if a.format == SweepFormat::Csv {
        sweep::row::write_csv_header(out.writer()).map_err(err)?;
    }

    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target).with_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} points, {eta} left")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let start = Instant::now();
    let (mut fit, mut failed) = (0, 0);
    let write = |row: SweepRow, out: &mut Out| -> std::io::Result<()> {
        let w = out.writer();
        match a.format {
            SweepFormat::Csv => row.write_csv(w),
            SweepFormat::Json => {
                serde_json::to_writer(&mut *w, &row).map_err(std::io::Error::other)?;
                w.write_all(b"\n")
            }
        }
    };
    sweep::run(
        &space,
        &opts,
        |p| bar.set_position(p.done as u64),
        |row| {
            match row.status {
                Status::Ok => {}
                Status::DoesNotFit => fit += 1,
                Status::Error => failed += 1,
            }
            write(row, &mut out)
        },
    )
    .map_err(err)?;
    bar.finish_and_clear();
    match out {
        Out::File(f) => f.commit().map_err(err)?,
        Out::Stdout(mut o) => o.flush().map_err(err)?,
    }
    let of = if shard == Shard::ALL { String::new() } else { format!(" (shard {shard} of {} points)", space.len()) };
    let points = if total == 1 { "point" } else { "points" };
    eprintln!(
        "swept {total} {points}{of} in {:.1} s: {} ok, {fit} does-not-fit, {failed} error -> {path}",
        start.elapsed().as_secs_f64(),
        total - fit - failed,
    );
    Ok(ExitCode::SUCCESS)
}
