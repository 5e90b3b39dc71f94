//! Parameter sweeps (arch/sweep.md): many points — model × chip × `--set`
//! overrides × workload axes — each computed as `tilesim compare` computes
//! one chip (`report::compare::Row::evaluate`), in parallel, with the rows
//! handed back in point order.
//!
//! `space` numbers the points and splits them into shards; `exec` runs
//! them on worker threads (crossbeam) and reorders the rows; `row` is the
//! output row and its CSV form; `merge` joins the outputs of shards into
//! the unsharded output. Nothing here does I/O: chips arrive as
//! config text, rows leave through the caller's callback, and progress is
//! a callback too.

pub mod exec;
pub mod merge;
pub mod row;
pub mod space;

pub use exec::{Options, Progress, run};
pub use row::{COLUMNS, Status, SweepRow};
pub use space::{Axes, ChipPoint, Shard, Space, check_points, chip_points};
