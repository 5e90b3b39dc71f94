//! tilesim: a cycle-approximate accelerator architecture simulator for LLM
//! inference. See arch/ARCHITECTURE.md for a map of this crate.

// Errors carry their file location and message; they are built once on a cold
// path, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod characterize;
pub mod chip;
pub mod collective;
pub mod compiler;
pub mod config;
pub mod diag;
pub mod dtype;
pub mod energy;
pub mod fileio;
pub mod floor;
pub mod hint;
pub mod ids;
pub mod isa;
pub mod limits;
pub mod model;
pub mod report;
pub mod rng;
pub mod roofline;
pub mod serve;
pub mod sim;
pub mod snap;
pub mod sweep;
pub mod synth;
pub mod trace;
pub mod units;
pub mod validate;
