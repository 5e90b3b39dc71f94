//! Serving simulation (arch/serve.md): a stream of requests on simulated
//! chips, with continuous batching, chunked prefill, a paged KV cache that
//! fills up, and prefill/decode disaggregation — what a token costs at a
//! per-user speed and a first-token target.
//!
//! `request` makes or reads the requests; `oracle` says what one batch
//! step costs (`StepTime`: a closed form for tests, `grid::SimOracle`
//! compiling and simulating a grid of steps through the library, memoised
//! in a `cache::StepCache`); `kv` sizes the cache from the chip and plan;
//! `sched` holds the schedulers behind one trait; `engine` runs the event
//! loop of one or two pools; `metrics` turns what happened into per-request
//! records and a summary; `timeline` writes a Perfetto trace of the
//! batches; `frontier` finds the highest rate that meets the SLOs.
//!
//! No file I/O and no printing: text comes in as strings, output goes to
//! the caller's writers, progress through callbacks.

pub mod cache;
pub mod engine;
pub mod frontier;
pub mod grid;
pub mod kv;
pub mod metrics;
pub mod oracle;
pub mod request;
pub mod sched;
pub mod setup;
pub mod timeline;

#[cfg(test)]
mod tests;

pub use engine::Outcome;
pub use metrics::Summary;
pub use oracle::{Affine, Step, StepTime};
pub use request::{Arrivals, Generator, Lengths, Request};
pub use sched::Policy;
pub use setup::{Pool, Setup};

use crate::compiler::CompileError;
use crate::sim::SimError;

/// Why a serving run cannot go ahead.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad input at a place (`FILE:LINE`, or a flag).
    #[error("{at}: {message}")]
    Input { at: String, message: String },
    #[error("{0}")]
    Usage(String),
    /// The plan for the serving system: the model does not fit, an
    /// impossible --tp/--pp.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// One step of the grid could not be compiled or simulated.
    #[error("step time of {what}: {source}")]
    Step {
        what: String,
        #[source]
        source: StepError,
    },
    /// A step outside what the oracle was built for (a bug).
    #[error("internal error (a bug; please report it): {0}")]
    Uncovered(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// A step the requests need cannot run on the chip (nothing fits).
    #[error("{0}")]
    NotServable(String),
}

/// Why one grid point failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("internal error (a bug; please report it): {0}")]
    Panic(String),
}

impl ServeError {
    /// The exit status a command should end with: 3 for a deadlocked
    /// simulation, 2 for everything else (bad input, usage, impossible plans).
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Step { source: StepError::Sim(e), .. } => e.exit_code(),
            _ => 2,
        }
    }
}
