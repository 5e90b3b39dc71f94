//! One output row of a sweep: the point (model, chip, overrides,
//! workload), whether it ran, and its floor and simulated figures; written
//! as CSV here, and serialised (serde) for JSON Lines by the caller.

use crate::compiler::Workload;
use crate::report::compare::Row;
use crate::report::csv::escape;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::borrow::Cow;
use std::io::{self, Write};

/// Whether a point ran (the same statuses as a comparison's entries).
pub use crate::report::compare::Status;

/// The columns, in order: the CSV header and the JSON keys.
pub const COLUMNS: [&str; 34] = [
    "index",
    "model",
    "chip",
    "overrides",
    "phase",
    "batch",
    "context",
    "prompt",
    "spec",
    "accept_rate",
    "kv_keep",
    "weights_dtype",
    "kv_dtype",
    "act_dtype",
    "plan",
    "chips_used",
    "nodes_used",
    "price_usd",
    "power_w",
    "status",
    "error",
    "floor_seconds",
    "floor_bound",
    "throughput_floor_seconds",
    "latency_floor_seconds",
    "simulated_seconds",
    "over_floor",
    "bound",
    "seconds_per_token",
    "tokens_per_second",
    "tokens_per_second_per_user",
    "tokens_per_second_per_kusd",
    "tokens_per_joule",
    "joules_per_token",
];

#[derive(Clone, Debug)]
pub struct SweepRow {
    /// The point's index in the whole sweep (not the shard).
    pub index: usize,
    /// The model as run (`NAME[N-layers]` when sliced).
    pub model: String,
    /// The chip config's name.
    pub chip: String,
    /// `KEY=VALUE` overrides joined by `;`, empty for none.
    pub overrides: String,
    /// The workload, defaults filled in.
    pub workload: Workload,
    pub status: Status,
    /// Why the point did not run, on one line.
    pub error: Option<String>,
    /// The floor and, unless floor-only, the simulated result; `None`
    /// unless the status is `Ok`.
    pub result: Option<Row>,
}

/// One field of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    Empty,
    Int(u64),
    Float(f64),
    Str(Cow<'a, str>),
}

impl SweepRow {
    /// The row's fields, in `COLUMNS` order.
    pub fn cells(&self) -> [Cell<'_>; 34] {
        use Cell::*;
        let w = &self.workload;
        let r = self.result.as_ref();
        let s = r.and_then(|r| r.simulated.as_ref());
        let f = |v: Option<f64>| v.map_or(Empty, Float);
        fn text(v: Option<&str>) -> Cell<'_> {
            v.map_or(Cell::Empty, |t| Cell::Str(Cow::Borrowed(t)))
        }
        [
            Int(self.index as u64),
            Str(Cow::Borrowed(&self.model)),
            Str(Cow::Borrowed(&self.chip)),
            Str(Cow::Borrowed(&self.overrides)),
            Str(Cow::Borrowed(w.phase.name())),
            Int(w.batch),
            Int(w.context),
            Int(w.prompt),
            Int(w.spec),
            Float(w.accept_rate),
            Float(w.kv_keep),
            Str(Cow::Borrowed(w.weights.name())),
            Str(Cow::Borrowed(w.kv.name())),
            Str(Cow::Borrowed(w.act.name())),
            text(r.map(|r| r.plan.description.as_str())),
            r.map_or(Empty, |r| Int(r.chips_used as u64)),
            r.map_or(Empty, |r| Int(r.cost.nodes_charged as u64)),
            f(r.and_then(|r| r.cost.price_usd)),
            f(r.and_then(|r| r.cost.power_w)),
            Str(Cow::Borrowed(self.status.name())),
            text(self.error.as_deref()),
            f(r.map(|r| r.floor.seconds)),
            text(r.map(|r| r.floor.bound)),
            f(r.map(|r| r.floor.throughput_seconds)),
            f(r.map(|r| r.floor.latency_seconds)),
            f(s.map(|s| s.seconds)),
            f(s.map(|s| s.over_floor)),
            text(s.map(|s| s.bound.as_str())),
            f(s.map(|s| s.seconds_per_token)),
            f(s.map(|s| s.tokens_per_second)),
            f(s.map(|s| s.tokens_per_second_per_user)),
            f(s.and_then(|s| s.tokens_per_second_per_kusd)),
            f(s.and_then(|s| s.tokens_per_joule)),
            f(s.and_then(|s| s.joules_per_token)),
        ]
    }

    /// Writes the row as one CSV record (RFC 4180; numbers with `{}`, which
    /// round-trips an f64).
    pub fn write_csv(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut line = String::new();
        for (i, c) in self.cells().iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            match c {
                Cell::Empty => {}
                Cell::Int(v) => line.push_str(&v.to_string()),
                Cell::Float(v) => line.push_str(&v.to_string()),
                Cell::Str(s) => line.push_str(&escape(s)),
            }
        }
        line.push('\n');
        w.write_all(line.as_bytes())
    }
}

/// Writes the CSV header line.
pub fn write_csv_header(w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{}", COLUMNS.join(","))
}

/// A JSON object with the `COLUMNS` keys in order; empty fields are null.
impl Serialize for SweepRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(COLUMNS.len()))?;
        for (key, cell) in COLUMNS.iter().zip(self.cells()) {
            match cell {
                Cell::Empty => map.serialize_entry(key, &())?,
                Cell::Int(v) => map.serialize_entry(key, &v)?,
                Cell::Float(v) => map.serialize_entry(key, &v)?,
                Cell::Str(s) => map.serialize_entry(key, &s)?,
            }
        }
        map.end()
    }
}
