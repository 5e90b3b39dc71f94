//! The event-driven simulator. `simulate` runs a loaded trace on a chip and
//! returns the statistics a report is built from, or says why it could not
//! finish (a deadlock, an instruction the chip cannot execute).
//!
//! One event queue ordered by (cycle, sequence) drives a closed set of
//! events (`Event`); each handler touches the components it names. Nothing
//! ticks cycle by cycle: cost grows with instructions, packets and memory
//! accesses, not with simulated time. The core does no I/O.

pub mod budget;
pub mod cache;
mod code;
pub mod cost;
pub mod dram;
mod engine;
pub mod event;
pub mod hist;
mod mailbox;
mod mcast;
mod memory;
pub mod network;
pub mod slab;
pub mod stats;
pub mod timeline;
mod topology;

pub use code::InstrSource;
pub use engine::{Options, PacketFeed, scan, simulate, simulate_lazy, simulate_packets, simulate_source};
pub use stats::{Blocked, RunStats, SimError, StuckTile, WaitKind};
pub use timeline::{SpanSink, TimelineOptions, TimelineSummary, WindowSpec};
