//! `tilesim gen traffic` and `tilesim gen allreduce`.

use super::{CliError, GenCommand};
use std::path::Path;
use std::process::ExitCode;
use tilesim::ids::TileId;
use tilesim::isa::Instr;
use tilesim::synth;
use tilesim::trace::{self, Format, Header, Sink};

/// Writes a trace to `output` (binary when it ends in `.tbin`) through
/// `fill`, atomically (the sink's `finish`).
fn write_with(output: &Path, fill: impl FnOnce(&mut dyn Sink) -> std::io::Result<()>) -> Result<(), CliError> {
    let format = if output.extension().is_some_and(|e| e == "tbin") { Format::Binary } else { Format::Text };
    let err = |e: std::io::Error| CliError::Output { path: output.display().to_string(), message: e.to_string() };
    let mut sink = trace::create(output, format).map_err(err)?;
    fill(sink.as_mut()).map_err(err)?;
    sink.finish().map_err(err)
}

/// Writes a generated trace held as instructions.
pub fn write_trace(output: &Path, header: &Header, streams: &[(TileId, Vec<Instr>)]) -> Result<(), CliError> {
    write_with(output, |sink| synth::write(sink, header, streams))
}

pub fn run(cmd: GenCommand) -> Result<ExitCode, CliError> {
    match cmd {
        GenCommand::Traffic { chip, pattern, traffic, output } => {
            super::not_input(&output, &[&chip])?;
            let spec = traffic.options(&pattern)?.spec(&super::load_chip(&chip)?)?;
            let traffic = synth::Traffic::generate(&spec).map_err(CliError::Usage)?;
            // Instructions are made as they are written, not held.
            write_with(&output, |sink| traffic.write(sink))?;
        }
        GenCommand::Allreduce { chip, algorithm, bytes, output } => {
            super::not_input(&output, &[&chip])?;
            let chip = super::load_chip(&chip)?;
            let (header, streams) = synth::allreduce_trace(&chip, &algorithm, bytes).map_err(CliError::Usage)?;
            write_trace(&output, &header, &streams)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
