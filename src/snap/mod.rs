//! Snapshot tests of cycle counts for users' own designs (arch/snap.md):
//! a suite file of cases — a model and workload, or a trace, on a chip with
//! optional overrides — each run to a small text snapshot that is compared
//! with the accepted one stored beside the suite.
//!
//! `suite` reads and resolves the suite file; `snapshot` runs one case and
//! writes its snapshot, and compares two (exactly or with a tolerance on
//! the time); `exec` runs the cases on worker threads (crossbeam), results
//! in suite order; `store` is the snapshot directory (`NAME.snap`,
//! `NAME.snap.new`, written through `fileio::AtomicFile`); `settle` turns
//! a run into verdicts and the files that follow; `diff` and `junit`
//! render. Nothing here prints: the command (`src/cli/snap.rs`) does, and
//! draws the progress bar.
//!
//! A Rust user can skip the suite file: build a [`Case`] in code and
//! snapshot it with insta (`examples/snap/custom_chip.rs`):
//!
//! ```no_run
//! use tilesim::compiler::{PlanRequest, WorkloadSpec};
//! use tilesim::config::shipped::{self, Kind};
//! let chip = tilesim::config::chip::load_str("mini-mesh", shipped::get(Kind::Chip, "mini-mesh").unwrap()).unwrap();
//! let model = tilesim::config::model::load_str("llama-2-7b", shipped::get(Kind::Model, "llama-2-7b").unwrap())
//!     .unwrap()
//!     .first_layers(1)
//!     .unwrap();
//! let w = WorkloadSpec { context: Some(128), ..Default::default() }.resolve(&model).unwrap();
//! let case = tilesim::snap::Case::model("7b-mini-mesh", chip, model, w, PlanRequest::default());
//! let text = tilesim::snap::take(&case).unwrap();
//! // insta::assert_snapshot!(text);
//! ```

pub mod diff;
pub mod exec;
pub mod junit;
pub mod settle;
pub mod snapshot;
pub mod store;
pub mod suite;

pub use exec::{CaseRun, run};
pub use settle::{Outcome, Report, Settings, Status, settle};
pub use snapshot::{CaseError, FORMAT_VERSION, take};
pub use store::{Store, StoreError};
pub use suite::{Case, Input, Suite, SuiteError, load, snapshot_dir};
