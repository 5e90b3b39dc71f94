//! Runs a sweep's points on worker threads and hands the rows back in
//! point order.
//!
//! Workers take points from a channel the calling thread feeds; finished
//! rows come back on another channel into a reorder buffer, and the
//! calling thread emits them in index order as soon as every earlier row is
//! out. The caller's `emit` and `progress` run on the calling thread only,
//! so output needs no locking and is the same for any number of workers.
//! At most `window` points are in flight or waiting in the buffer at once,
//! so memory does not grow with the sweep even when one point is slow.

use super::row::{Status, SweepRow};
use super::space::{Shard, Space};
use crate::report::compare::{PointError, Row};
use crossbeam::channel;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Compile and simulate each point; `false`: the analytic floor only.
    pub simulate: bool,
    pub shard: Shard,
}

/// How far a sweep has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Rows emitted so far.
    pub done: usize,
    /// Points in this shard.
    pub total: usize,
}

/// Points each worker may run ahead of the oldest row not yet emitted.
const WINDOW_PER_JOB: usize = 32;

/// Runs the shard's points of `space` and calls `emit` with each row in
/// index order, then `progress`. Stops at the first error `emit` returns
/// (the points in flight finish and are dropped) and returns it.
pub fn run<E>(
    space: &Space,
    opts: &Options,
    mut progress: impl FnMut(Progress),
    mut emit: impl FnMut(SweepRow) -> Result<(), E>,
) -> Result<(), E> {
    let total = opts.shard.count(space.len());
    let jobs = opts.jobs.clamp(1, total.max(1));
    let window = jobs * WINDOW_PER_JOB;
    let stop = AtomicBool::new(false);
    let (work_tx, work_rx) = channel::unbounded::<usize>();
    let (row_tx, row_rx) = channel::unbounded::<(usize, SweepRow)>();
    let outcome = crossbeam::scope(|s| {
        for _ in 0..jobs {
            let (work_rx, row_tx, stop) = (work_rx.clone(), row_tx.clone(), &stop);
            s.spawn(move |_| {
                for pos in work_rx.iter() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let row = evaluate_caught(space, opts.shard.index(pos), opts.simulate);
                    if row_tx.send((pos, row)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(row_tx);
        let mut sent = 0;
        while sent < total.min(window) {
            work_tx.send(sent).expect("workers hold the receiver");
            sent += 1;
        }
        let mut pending = BTreeMap::new();
        let mut done = 0;
        let result = 'run: {
            while done < total {
                // Every point sent is answered (worker panics become rows),
                // so this only fails if a worker died outside a point.
                let Ok((pos, row)) = row_rx.recv() else { break };
                pending.insert(pos, row);
                while let Some(row) = pending.remove(&done) {
                    if let Err(e) = emit(row) {
                        break 'run Err(e);
                    }
                    done += 1;
                    if sent < total {
                        work_tx.send(sent).expect("workers hold the receiver");
                        sent += 1;
                    }
                    progress(Progress { done, total });
                }
            }
            Ok(())
        };
        stop.store(true, Ordering::Relaxed);
        drop(work_tx);
        result
    });
    match outcome {
        Ok(result) => result,
        Err(panic) => panic::resume_unwind(panic),
    }
}

/// `evaluate`, with a panic (a bug, never bad input) turned into an `error`
/// row so one point cannot stop the sweep.
fn evaluate_caught(space: &Space, index: usize, simulate: bool) -> SweepRow {
    panic::catch_unwind(AssertUnwindSafe(|| evaluate(space, index, simulate))).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let mut row = skeleton(space, index);
        row.status = Status::Error;
        row.error = Some(one_line(&format!("internal error (a bug; please report it): {what}")));
        row
    })
}

/// The row of one point: its floor and, when `simulate`, the simulated
/// result, computed as `tilesim compare` does (`Row::evaluate`). A point
/// that cannot run gets a status and the reason.
pub fn evaluate(space: &Space, index: usize, simulate: bool) -> SweepRow {
    let p = space.point(index);
    let mut row = skeleton(space, index);
    let result = p
        .workload
        .resolve(p.model)
        .map_err(|e| (Status::Error, e))
        .and_then(|w| Row::evaluate(p.model, &p.chip.chip, &w, &p.request, simulate).map_err(classify));
    match result {
        Ok(r) => row.result = Some(r),
        Err((status, message)) => {
            row.status = status;
            row.error = Some(one_line(&message));
        }
    }
    row
}

/// A point's identifying columns, status `Ok` and no result yet.
fn skeleton(space: &Space, index: usize) -> SweepRow {
    let p = space.point(index);
    SweepRow {
        index,
        model: p.model.name.clone(),
        chip: p.chip.name.clone(),
        overrides: p.chip.overrides.clone(),
        workload: p.workload.with_defaults(p.model),
        status: Status::Ok,
        error: None,
        result: None,
    }
}

fn classify(e: PointError) -> (Status, String) {
    let status = e.status();
    (status, e.to_string())
}

/// A message on one line: its lines joined by spaces.
fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
