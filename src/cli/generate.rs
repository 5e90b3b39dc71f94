//! `tilesim gen traffic` and `tilesim gen allreduce`.

use super::{CliError, GenCommand};
use std::path::Path;
use std::process::ExitCode;
use tilesim::ids::TileId;
use tilesim::isa::Instr;
use tilesim::synth;
use tilesim::trace::{self, Format, Header};

/// Writes a generated trace; binary when the output ends in `.tbin`.
pub fn write_trace(output: &Path, header: &Header, streams: &[(TileId, Vec<Instr>)]) -> Result<(), CliError> {
    let format = if output.extension().is_some_and(|e| e == "tbin") { Format::Binary } else { Format::Text };
    let err = |e: std::io::Error| CliError::Output { path: output.display().to_string(), message: e.to_string() };
    let mut sink = trace::create(output, format).map_err(err)?;
    synth::write(sink.as_mut(), header, streams).map_err(err)?;
    sink.finish().map_err(err)
}

pub fn run(cmd: GenCommand) -> Result<ExitCode, CliError> {
    let (output, made) = match cmd {
        GenCommand::Traffic { chip, pattern, rate, packet_flits, flit_bytes, cycles, seed, output } => {
            super::not_input(&output, &[&chip])?;
            let chip = super::load_chip(&chip)?;
            let pattern = synth::traffic::Pattern::parse(&pattern).map_err(CliError::Usage)?;
            if packet_flits == 0 || flit_bytes == 0 || cycles == 0 {
                return Err(CliError::Usage("--packet-flits, --flit-bytes and --cycles must be at least 1".into()));
            }
            (output, synth::traffic_trace(&chip, pattern, rate, packet_flits, flit_bytes, cycles, seed))
        }
        GenCommand::Allreduce { chip, algorithm, bytes, output } => {
            super::not_input(&output, &[&chip])?;
            let chip = super::load_chip(&chip)?;
            (output, synth::allreduce_trace(&chip, &algorithm, bytes))
        }
    };
    let (header, streams) = made.map_err(CliError::Usage)?;
    write_trace(&output, &header, &streams)?;
    Ok(ExitCode::SUCCESS)
}
