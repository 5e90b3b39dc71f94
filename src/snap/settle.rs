//! Settles a run against the stored snapshots: each case's verdict, and
//! the files that follow from it. After `settle`, `NAME.snap.new` exists
//! exactly for the cases that are new or changed in this run (and not
//! accepted): a stale one — its case now matches, failed, or left the
//! suite — is removed.

use super::exec::CaseRun;
use super::snapshot::{self, Verdict};
use super::store::{Store, StoreError};
use super::suite::Suite;

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The same as the accepted snapshot.
    Match,
    /// Only the time moved, within the tolerance; the accepted snapshot
    /// stays as it is.
    WithinTolerance,
    /// Differs from the accepted snapshot; written as `NAME.snap.new`.
    Changed,
    /// No accepted snapshot yet; written as `NAME.snap.new`.
    New,
    /// Was new or changed, and is now the accepted snapshot.
    Accepted,
    /// Was new or changed; its `NAME.snap.new` was rejected in review.
    Rejected,
    /// The case could not run.
    Error,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Match => "ok",
            Status::WithinTolerance => "ok~",
            Status::Changed => "changed",
            Status::New => "new",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Error => "error",
        }
    }

    /// Whether the case passes (JUnit, exit status).
    pub fn passed(self) -> bool {
        matches!(self, Status::Match | Status::WithinTolerance | Status::Accepted)
    }

    /// Whether the case waits for a decision (`NAME.snap.new` written).
    pub fn pending(self) -> bool {
        matches!(self, Status::Changed | Status::New)
    }
}

/// One case after the run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: String,
    pub status: Status,
    /// The accepted snapshot before this run, if there was one.
    pub old: Option<String>,
    /// This run's snapshot; `None` when the case could not run.
    pub new: Option<String>,
    /// Why the case could not run.
    pub error: Option<String>,
    /// Wall-clock seconds of the case.
    pub seconds: f64,
}

impl Outcome {
    pub fn old_cycles(&self) -> Option<u64> {
        self.old.as_deref().and_then(snapshot::cycles)
    }

    pub fn new_cycles(&self) -> Option<u64> {
        self.new.as_deref().and_then(snapshot::cycles)
    }

    /// The cycles for a report line: `N cycles`, or `OLD -> NEW cycles
    /// (+P%)` when the accepted snapshot had others.
    pub fn cycles_line(&self) -> String {
        match (self.old_cycles(), self.new_cycles()) {
            (Some(o), Some(n)) if o != n => format!("{o} -> {n} cycles ({})", snapshot::percent(o, n)),
            (_, Some(n)) => format!("{n} cycles"),
            _ => String::new(),
        }
    }
}

/// How to settle.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settings {
    /// Percent that `cycles` and `seconds` may move (0: exact).
    pub tolerance: f64,
    /// Accept new and changed snapshots, and delete those of cases no
    /// longer in the suite.
    pub accept: bool,
}

/// A settled run.
#[derive(Clone, Debug)]
pub struct Report {
    /// One per case, in suite order.
    pub outcomes: Vec<Outcome>,
    /// Accepted snapshots whose case is no longer in the suite, sorted.
    pub orphans: Vec<String>,
    /// Whether the orphans were deleted (`accept`).
    pub orphans_removed: bool,
}

impl Report {
    pub fn count(&self, status: Status) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }
}

/// Compares each case's snapshot with the accepted one, writes or removes
/// `NAME.snap.new` (or, with `accept`, writes `NAME.snap`), and finds
/// accepted snapshots of cases no longer in the suite. `runs` are in suite
/// order, one per case.
pub fn settle(suite: &Suite, runs: Vec<CaseRun>, store: &Store, s: &Settings) -> Result<Report, StoreError> {
    assert_eq!(runs.len(), suite.cases.len(), "one run per case");
    let mut outcomes = Vec::with_capacity(runs.len());
    for (case, run) in suite.cases.iter().zip(runs) {
        let name = &case.name;
        let old = store.accepted(name)?;
        let mut o =
            Outcome { name: name.clone(), status: Status::Error, old, new: None, error: None, seconds: run.seconds };
        match run.result {
            Err(e) => {
                o.error = Some(e.to_string());
                store.discard(name)?;
            }
            Ok(new) => {
                let verdict = o.old.as_deref().map(|old| snapshot::compare(old, &new, s.tolerance));
                o.status = match verdict {
                    Some(Verdict::Same) => Status::Match,
                    Some(Verdict::WithinTolerance) => Status::WithinTolerance,
                    Some(Verdict::Changed) => Status::Changed,
                    None => Status::New,
                };
                if o.status.pending() {
                    if s.accept {
                        store.accept(name, &new)?;
                        o.status = Status::Accepted;
                    } else {
                        store.write_pending(name, &new)?;
                    }
                } else {
                    store.discard(name)?;
                }
                o.new = Some(new);
            }
        }
        outcomes.push(o);
    }
    let listing = store.list()?;
    let in_suite = |n: &String| suite.cases.iter().any(|c| &c.name == n);
    for stale in listing.pending.iter().filter(|n| !in_suite(n)) {
        store.discard(stale)?;
    }
    let orphans: Vec<String> = listing.accepted.into_iter().filter(|n| !in_suite(n)).collect();
    if s.accept {
        for o in &orphans {
            store.remove_accepted(o)?;
        }
    }
    Ok(Report { outcomes, orphans, orphans_removed: s.accept })
}
