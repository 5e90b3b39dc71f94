//! Chrome trace-event JSON (opens in Perfetto and chrome://tracing) from a
//! captured timeline: one process per chip with a thread per tile unit, and
//! counter tracks for the busiest links.

use crate::chip::Chip;
use crate::sim::timeline::{Timeline, Track};
use crate::trace::Trace;
use serde_json::{Value, json};
use std::io::{self, Write};

pub fn write_chrome(out: &mut impl Write, chip: &Chip, trace: &Trace, tl: &Timeline) -> io::Result<()> {
    let us = |c: u64| c as f64 / chip.clock_hz * 1e6;
    let tpc = chip.tiles_per_chip();
    let track_id = |t: Track| -> (u32, u64, String) {
        let (tile, unit, name) = match t {
            Track::Matrix(t) => (t, 0, "matrix"),
            Track::Vector(t) => (t, 1, "vector"),
            Track::Dma(t) => (t, 2, "dma"),
            Track::Net(t) => (t, 3, "net"),
        };
        (tile.0 / tpc, tile.0 as u64 * 4 + unit, format!("tile {} {name}", tile.0))
    };
    out.write_all(b"{\"displayTimeUnit\":\"ns\",\"otherData\":")?;
    serde_json::to_writer(
        &mut *out,
        &json!({
            "chip": chip.name, "trace": trace.file, "clock_hz": chip.clock_hz, "notes": tl.notes,
        }),
    )?;
    out.write_all(b",\"traceEvents\":[\n")?;
    let mut first = true;
    let mut emit = |out: &mut dyn Write, v: Value| -> io::Result<()> {
        if !first {
            out.write_all(b",\n")?;
        }
        first = false;
        serde_json::to_writer(&mut *out, &v)?;
        Ok(())
    };
    let mut named = std::collections::BTreeSet::new();
    for sp in &tl.spans {
        let (pid, tid, name) = track_id(sp.track);
        if named.insert((pid, tid)) {
            emit(out, json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}))?;
        }
        let loc = trace.location(sp.pos).to_string();
        emit(
            out,
            json!({"name": sp.name, "ph": "X", "pid": pid, "tid": tid, "ts": us(sp.start.0),
                   "dur": us(sp.end.0.saturating_sub(sp.start.0)), "args": {"at": loc}}),
        )?;
    }
    let links_pid = chip.system.chips + 1;
    emit(out, json!({"name": "process_name", "ph": "M", "pid": links_pid, "args": {"name": "busiest links"}}))?;
    let mem_pid = links_pid + 1;
    emit(out, json!({"name": "process_name", "ph": "M", "pid": mem_pid, "args": {"name": "busiest DRAM channels"}}))?;
    let series = tl
        .link_tracks
        .iter()
        .map(|(_, _, n, b)| (links_pid, n, b))
        .chain(tl.channel_tracks.iter().map(|(n, b)| (mem_pid, n, b)));
    for (pid, name, bins) in series {
        for (k, u) in bins.iter().enumerate() {
            let ts = k as f64 * tl.bin_cycles / chip.clock_hz * 1e6;
            emit(out, json!({"name": name, "ph": "C", "pid": pid, "ts": ts, "args": {"busy": u}}))?;
        }
    }
    out.write_all(b"\n]}\n")
}
