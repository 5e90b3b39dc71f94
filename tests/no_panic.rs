//! Bad input never panics: mutated traces (text and binary) and chip and
//! model configs are either accepted or rejected with an error, and a
//! mutated trace the checker accepts simulates (or deadlocks, or fails with
//! an error) without panicking.
//!
//! The mutations start from shipped, valid files and change a few bytes,
//! tokens or values, so most cases get past the first line and exercise the
//! parsers deep inside; proptest shrinks a panicking case to a small edit.

use proptest::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use tilesim::chip::Chip;
use tilesim::config::shipped::{self, Kind};
use tilesim::isa::Instr;
use tilesim::trace::{Format, Item, Trace};

const TRACE: &str = include_str!("../traces/allreduce-ring-1mib-dgx-h100.trace");
const SLICE: &str = include_str!("../traces/llama-2-7b-1layer-mini-mesh.trace");

/// One edit of a byte string.
#[derive(Clone, Debug)]
enum Edit {
    /// Overwrite the byte at (position modulo length) with this one.
    Set(usize, u8),
    /// Delete a run of bytes.
    Delete(usize, usize),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Cut the input here.
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes biased toward what the parsers branch on.
    let byte = prop_oneof![
        any::<u8>(),
        proptest::sample::select(b"0123456789 \n#=:-.,@[]{}\"xkMGTBsn".to_vec()),
        Just(0xff),
        Just(0x80),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), 1usize..16).prop_map(|(p, n)| Edit::Delete(p, n)),
        (any::<usize>(), proptest::collection::vec(byte, 1..8)).prop_map(|(p, b)| Edit::Insert(p, b)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len().max(1);
        match e {
            Edit::Set(p, b) if !bytes.is_empty() => bytes[p % len] = *b,
            Edit::Delete(p, n) if !bytes.is_empty() => {
                let at = p % len;
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Edit::Insert(p, b) => {
                let at = p % (bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Edit::Truncate(p) => bytes.truncate(p % len),
            _ => {}
        }
    }
    bytes
}

fn chip(name: &str) -> Chip {
    tilesim::config::chip::load_str(name, shipped::get(Kind::Chip, name).unwrap()).unwrap()
}

/// The binary form of a text trace.
fn binary(text: &str, dir: &Path) -> Vec<u8> {
    let src = dir.join("src.trace");
    std::fs::write(&src, text).unwrap();
    let mut source = tilesim::trace::open(&src).unwrap();
    let out = dir.join("out.tbin");
    let mut sink = tilesim::trace::create(&out, Format::Binary).unwrap();
    sink.header(source.header()).unwrap();
    tilesim::trace::check(source.as_mut(), |item, _| match item {
        Item::Tile(t) => sink.tile(*t).unwrap(),
        Item::Instr(i) => sink.instr(i).unwrap(),
    })
    .unwrap();
    sink.finish().unwrap();
    std::fs::read(out).unwrap()
}

/// Loads `bytes` as a trace file; if the trace is valid for `chip`,
/// simulates it. Panics are caught and turned into a test failure that
/// names the stage.
fn load_and_run(bytes: &[u8], name: &str, chip: &Chip) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let loaded = catch_unwind(|| Trace::load(&path));
    let Ok(loaded) = loaded else { return Err(TestCaseError::fail("reading the trace panicked")) };
    let Ok(trace) = loaded else { return Ok(()) };
    // A mutation can turn a small delay or loop count into a huge one; the
    // simulator's cost grows with events, not cycles, but a loop of 2^40
    // iterations is still 2^40 instructions. Skip traces whose dynamic
    // instruction count is out of reach of a unit test.
    if dynamic_instructions(&trace) > 200_000 {
        return Ok(());
    }
    let ran = catch_unwind(AssertUnwindSafe(|| tilesim::sim::simulate(chip, &trace, &Default::default())));
    prop_assert!(ran.is_ok(), "simulating an accepted trace panicked");
    Ok(())
}

/// Instructions executed, counting loop bodies `count` times.
fn dynamic_instructions(trace: &Trace) -> u128 {
    let mut total = 0u128;
    for p in &trace.programs {
        let mut mult = vec![1u128];
        for i in &p.instrs {
            let m = *mult.last().unwrap();
            total += m;
            match i {
                Instr::Loop { count } => mult.push(m.saturating_mul(u128::from(count.0))),
                Instr::EndLoop {} => {
                    mult.pop();
                }
                _ => {}
            }
        }
    }
    total
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn mutated_text_traces_never_panic(edits in proptest::collection::vec(edit(), 1..6), slice in any::<bool>()) {
        let (text, c) = if slice { (SLICE, chip("mini-mesh")) } else { (TRACE, chip("dgx-h100")) };
        let bytes = apply(text.as_bytes().to_vec(), &edits);
        load_and_run(&bytes, "t.trace", &c)?;
    }

    #[test]
    fn mutated_binary_traces_never_panic(edits in proptest::collection::vec(edit(), 1..6), slice in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let (text, c) = if slice { (SLICE, chip("mini-mesh")) } else { (TRACE, chip("dgx-h100")) };
        let bytes = apply(binary(text, dir.path()), &edits);
        load_and_run(&bytes, "t.tbin", &c)?;
    }

    #[test]
    fn mutated_chip_configs_never_panic(edits in proptest::collection::vec(edit(), 1..6), which in 0usize..64) {
        let names = shipped::names(Kind::Chip);
        let name = names[which % names.len()];
        let bytes = apply(shipped::get(Kind::Chip, name).unwrap().as_bytes().to_vec(), &edits);
        let text = String::from_utf8_lossy(&bytes);
        let r = catch_unwind(|| tilesim::config::chip::load_str(name, &text).map(|c| c.totals()).is_ok());
        prop_assert!(r.is_ok(), "loading a mutated {name} panicked");
    }

    #[test]
    fn mutated_model_configs_never_panic(edits in proptest::collection::vec(edit(), 1..6), which in 0usize..64) {
        let names = shipped::names(Kind::Model);
        let name = names[which % names.len()];
        let bytes = apply(shipped::get(Kind::Model, name).unwrap().as_bytes().to_vec(), &edits);
        let text = String::from_utf8_lossy(&bytes);
        let r = catch_unwind(|| tilesim::config::model::load_str(name, &text).is_ok());
        prop_assert!(r.is_ok(), "loading a mutated {name} panicked");
    }
}
