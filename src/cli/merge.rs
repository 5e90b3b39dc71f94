//! `tilesim merge`: shard outputs of a sweep into the unsharded output
//! (`tilesim::sweep::merge`), written atomically.

use super::CliError;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' output files (CSV or JSON Lines), one per `--shard K/N`, in any order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// N of the shards, to check it (default: the step between a file's rows, else the number of files).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// Output file (default: standard output), written atomically.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(a: &MergeArgs) -> Result<ExitCode, CliError> {
    let names: Vec<String> = a.files.iter().map(|p| p.display().to_string()).collect();
    let inputs: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Some(p) = &a.output {
        super::not_input(p, &inputs)?;
    }
    let mut files = Vec::with_capacity(a.files.len());
    for p in &a.files {
        let name = p.display().to_string();
        let text =
            std::fs::read_to_string(p).map_err(|e| CliError::Usage(format!("{name}: cannot read the shard: {e}")))?;
        files.push((name, text));
    }
    let merged = tilesim::sweep::merge::merge(&files, a.shards.map(|n| n as usize))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    match &a.output {
        Some(p) => {
            let err = |e: std::io::Error| super::output_error(p, e);
            let mut f = super::output(p, &inputs)?;
            f.write_all(merged.as_bytes()).map_err(err)?;
            f.commit().map_err(err)?;
        }
        None => super::out(&merged)?,
    }
    Ok(ExitCode::SUCCESS)
}
