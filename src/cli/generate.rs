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
        GenCommand::Traffic { chip, pattern, rate, packet_flits, flit_bytes, cycles, seed, output } => {
            super::not_input(&output, &[&chip])?;
            let chip = super::load_chip(&chip)?;
            let pattern = synth::traffic::Pattern::parse(&pattern).map_err(CliError::Usage)?;
            if packet_flits == 0 || flit_bytes == 0 || cycles == 0 {
                return Err(CliError::Usage("--packet-flits, --flit-bytes and --cycles must be at least 1".into()));
            }
            let traffic = synth::traffic_trace(&chip, pattern, rate, packet_flits, flit_bytes, cycles, seed)
                .map_err(CliError::Usage)?;
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
