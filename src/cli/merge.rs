//! `tilesim merge`: shard outputs of a sweep into the unsharded output
//! (`tilesim::sweep::merge`), written atomically.

use super::CliError;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tilesim::fileio::AtomicFile;

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
            let err = |e: std::io::Error| CliError::Output { path: p.display().to_string(), message: e.to_string() };
            let mut f = AtomicFile::create(p).map_err(err)?;
            f.write_all(merged.as_bytes()).map_err(err)?;
            f.commit().map_err(err)?;
        }
        None => super::out(&merged)?,
    }
    Ok(ExitCode::SUCCESS)
}
