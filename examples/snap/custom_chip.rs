//! Snapshot-testing the cycle counts of your own chip from Rust, with
//! insta (arch/snap.md, "From Rust"). The snapshots are the text `tilesim
//! snap` writes, so a design checked from Rust and from a suite file reads
//! the same.
//!
//! ```sh
//! cargo test --example snap_custom_chip            # check the snapshots
//! INSTA_UPDATE=always cargo test --example snap_custom_chip   # accept a reviewed change
//! cargo run --example snap_custom_chip             # print them
//! ```
//!
//! The accepted snapshots are in `examples/snap/snapshots/`. `cargo test`
//! runs this example's tests too (`test = true` in Cargo.toml).

use tilesim::chip::Chip;
use tilesim::compiler::{PlanRequest, WorkloadSpec};
use tilesim::config::overrides::Override;
use tilesim::config::shipped::{self, Kind};
use tilesim::model::Model;
use tilesim::snap::{self, Case, Input};

/// The design under test: a chip config like any other.
const MY_CHIP: &str = include_str!("my-chip.toml");

/// The chip with `set` applied (checked as an edited file would be).
fn my_chip(set: &[Override]) -> Chip {
    tilesim::config::chip::load_with("examples/snap/my-chip.toml", MY_CHIP, set)
        .unwrap_or_else(|e| panic!("my-chip.toml: {e}"))
}

/// One layer of Llama-2-7B: enough to exercise every kind of operation, and fast.
fn model() -> Model {
    let text = shipped::get(Kind::Model, "llama-2-7b").expect("a shipped model");
    tilesim::config::model::load_str("llama-2-7b", text).expect("it loads").first_layers(1).expect("one layer")
}

/// A decode step of `batch` users at 512 tokens of context on `my-chip`
/// with overrides `set`.
fn case(name: &str, batch: u64, set: &[(&str, &str)]) -> Case {
    let set: Vec<Override> = set.iter().map(|(k, v)| Override::new(k, v).expect("a valid override")).collect();
    let model = model();
    let workload = WorkloadSpec { batch, context: Some(512), ..Default::default() }.resolve(&model).expect("valid");
    Case {
        name: name.to_string(),
        chip: my_chip(&set),
        // Shown in the snapshot, as a suite's `set` is.
        set,
        input: Input::Model { model: Box::new(model), workload, request: PlanRequest::default() },
    }
}

fn cases() -> Vec<Case> {
    vec![
        case("my-chip-batch1", 1, &[]),
        case("my-chip-batch8", 8, &[]),
        case("my-chip-batch8-fast-vaults", 8, &[("dram3d.bandwidth_per_tile", "256 GB/s")]),
    ]
}

fn main() {
    for c in cases() {
        match snap::take(&c) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {}: {e}", c.name);
                std::process::exit(2);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case's cycles, bytes, bound and plan, as reviewed snapshots.
    #[test]
    fn my_chip_snapshots() {
        for c in cases() {
            let text = snap::take(&c).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            insta::assert_snapshot!(c.name.clone(), text);
        }
    }

    /// What the design is for, checked beside the snapshots: a batch
    /// shares the weight reads (more tokens per cycle), and faster vaults
    /// never make a memory-bound step slower.
    #[test]
    fn batching_pays_and_faster_vaults_do_not_slow_it() {
        let cycles = |c: &Case| snap::snapshot::cycles(&snap::take(c).unwrap()).unwrap();
        let one = cycles(&case("one", 1, &[]));
        let eight = cycles(&case("eight", 8, &[]));
        let fast = cycles(&case("fast", 8, &[("dram3d.bandwidth_per_tile", "256 GB/s")]));
        assert!(eight < 8 * one, "batch 8: {eight} cycles, batch 1: {one}");
        assert!(fast <= eight, "faster vaults: {fast} cycles, before: {eight}");
    }
}
