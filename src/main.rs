//! The `tilesim` command line. Argument parsing and error rendering live
//! here; every command's work is done by the library.

// Errors are built once, on a cold path; their size does not matter.
#![allow(clippy::result_large_err)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    remove_temporaries_on_signals();
    let args = <cli::Cli as clap::Parser>::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", tilesim::limits::cap_message(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// On SIGINT, SIGTERM or SIGHUP, deletes the temporary files of outputs in
/// progress (tilesim::fileio) and then dies of the signal as it would
/// have. signal-hook runs the cleanup on an ordinary thread, where file
/// removal is safe, not inside the signal handler.
fn remove_temporaries_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            tilesim::fileio::remove_temporaries();
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            std::process::exit(128 + sig);
        }
    });
}
