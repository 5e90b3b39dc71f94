//! Snapshot of the run report of every trace in traces/ on the chip it was
//! compiled for. A change in timing shows up as a snapshot diff to review
//! (`cargo insta review`, or INSTA_UPDATE=always and `git diff`).

use std::path::Path;
use tilesim::config::shipped::{self, Kind};
use tilesim::report::run::RunReport;
use tilesim::trace::Trace;

#[test]
fn every_shipped_trace_on_its_chip() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    insta::glob!("../traces", "*.*", |path| {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let trace = Trace::load(rel).unwrap_or_else(|e| panic!("{e}"));
        let name = trace.header.chip.clone();
        let text =
            shipped::get(Kind::Chip, &name).unwrap_or_else(|| panic!("{}: chip {name} is not shipped", rel.display()));
        let chip = tilesim::config::chip::load_str(&name, text).unwrap();
        let stats = tilesim::sim::simulate(&chip, &trace, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
        // The critical path sums to the finish time, to the cycle.
        let cp = &stats.critical_path.chain;
        assert_eq!((cp.end, cp.by.iter().sum::<u64>()), (stats.cycles.0, stats.cycles.0), "{}", rel.display());
        let report = RunReport::new(&chip, &trace, &stats);
        insta::assert_json_snapshot!(report);
    });
}
