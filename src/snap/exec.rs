//! Runs a suite's cases on worker threads. Each case is single-threaded
//! and deterministic, and results come back in suite order, so nothing
//! depends on the number of workers.

use super::snapshot::{self, CaseError};
use super::suite::Suite;
use crossbeam::channel;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// One case's result.
#[derive(Debug)]
pub struct CaseRun {
    /// The snapshot, or why there is none.
    pub result: Result<String, CaseError>,
    /// Wall-clock seconds the case took (for JUnit; never in a snapshot).
    pub seconds: f64,
}

/// Runs every case of `suite` on `jobs` threads (at least 1) and returns
/// the results in suite order. `progress(done, total)` is called on the
/// calling thread as cases finish.
pub fn run(suite: &Suite, jobs: usize, mut progress: impl FnMut(usize, usize)) -> Vec<CaseRun> {
    let total = suite.cases.len();
    let jobs = jobs.clamp(1, total.max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = channel::unbounded::<(usize, CaseRun)>();
    let mut out: Vec<Option<CaseRun>> = (0..total).map(|_| None).collect();
    let scoped = crossbeam::scope(|s| {
        for _ in 0..jobs {
            let (tx, next) = (tx.clone(), &next);
            s.spawn(move |_| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let start = Instant::now();
                    let result = caught(|| snapshot::take(&suite.cases[i]));
                    let run = CaseRun { result, seconds: start.elapsed().as_secs_f64() };
                    if tx.send((i, run)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (i, run) in rx.iter() {
            out[i] = Some(run);
            done += 1;
            progress(done, total);
        }
    });
    if let Err(p) = scoped {
        panic::resume_unwind(p);
    }
    out.into_iter().map(|r| r.expect("every case is answered")).collect()
}

/// `f`, with a panic (a bug, never bad input) turned into a case error so
/// one case cannot stop the suite.
fn caught(f: impl FnOnce() -> Result<String, CaseError>) -> Result<String, CaseError> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Err(CaseError::Panic(what))
    })
}
