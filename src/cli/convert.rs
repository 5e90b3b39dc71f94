//! `tilesim convert`: text <-> binary, streaming, checked as it goes.

use super::{CliError, FormatArg};
use std::path::Path;
use std::process::ExitCode;
use tilesim::trace::{self, Format, Item, StreamError};

pub fn run(input: &Path, output: &Path, to: Option<FormatArg>) -> Result<ExitCode, CliError> {
    let format = match to {
        Some(FormatArg::Text) => Format::Text,
        Some(FormatArg::Binary) => Format::Binary,
        None if output.extension().is_some_and(|e| e == "tbin") => Format::Binary,
        None => Format::Text,
    };
    let out_err = |e: std::io::Error| CliError::Output { path: output.display().to_string(), message: e.to_string() };
    super::not_input(output, &[&input.display().to_string()])?;
    let mut src = trace::open(input)?;
    let mut sink = trace::create(output, format).map_err(out_err)?;
    sink.header(src.header()).map_err(out_err)?;
    trace::stream(src.as_mut(), |item, _| match item {
        Item::Tile(t) => sink.tile(*t),
        Item::Instr(i) => sink.instr(i),
    })
    .map_err(|e| match e {
        StreamError::Trace(t) => CliError::Trace(t),
        StreamError::Sink(io) => out_err(io),
    })?;
    sink.finish().map_err(out_err)?;
    Ok(ExitCode::SUCCESS)
}
