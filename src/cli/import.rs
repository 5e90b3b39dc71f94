//! `tilesim import-model`: a Hugging Face config.json as a model config
//! (`tilesim::config::hf`), written atomically.

use super::CliError;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The model's config.json (Llama, Mistral, Mixtral, Qwen2, Qwen2-MoE, DeepSeek-V2/V3 model types).
    pub config: PathBuf,
    /// The model's name (default: the config's directory name, or the file's stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Output model config (.toml; default: standard output), written atomically.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(a: &ImportArgs) -> Result<ExitCode, CliError> {
    let file = a.config.display().to_string();
    let text = tilesim::config::read(&a.config)?;
    let toml = tilesim::config::hf::import(&file, &text, a.name.as_deref())?;
    match &a.output {
        Some(p) => {
            let err = |e: std::io::Error| super::output_error(p, e);
            let mut f = super::output(p, &[&file])?;
            f.write_all(toml.as_bytes()).map_err(err)?;
            f.commit().map_err(err)?;
            eprintln!("imported {file} -> {}", p.display());
        }
        None => super::out(&toml)?,
    }
    Ok(ExitCode::SUCCESS)
}
