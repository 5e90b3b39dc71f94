//! The `tilesim` command line. Argument parsing and error rendering live
//! here; every command's work is done by the library.

// Errors are built once, on a cold path; their size does not matter.
#![allow(clippy::result_large_err)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = <cli::Cli as clap::Parser>::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
