//! The energy model (arch/energy.md): a hand trace whose every component
//! is computed by hand, every shipped chip with an `[energy]` section, the
//! modelled average power under the `[cost]` power on shipped workloads,
//! and the per-joule figure on every row of the comparison.

mod common;
mod simcommon;

use common::{text, tilesim};
use simcommon::{chip_from_str, run, shipped_chip, trace_of};
use tilesim::compiler::{Phase, PlanRequest};
use tilesim::config::shipped;
use tilesim::dtype::Dtype;
use tilesim::ids::TileId;
use tilesim::isa::{Count, Instr, Loc, SramAddr, Tag, Token, VecOp};
use tilesim::report::run::RunReport;
use tilesim::units::Bytes;

fn close(what: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-9 * want.abs().max(1e-30), "{what}: {got:e} J, by hand {want:e} J");
}

/// mini-mesh (4x4 mesh, HBM stacks at tiles 4 and 7; arch/energy.md's
/// figures: fp16 MAC 2 pJ, int8 0.3 pJ, vector op 4.6 pJ, SRAM 2.5 pJ/B,
/// HBM 3.9 pJ/bit, NoC 2 pJ/B per link, no static power). Every count
/// below is worked out from the instructions, not read from the run.
#[test]
fn a_hand_trace_costs_what_its_counts_say() {
    let c = shipped_chip("mini-mesh");
    let gemm = |n, k, dtype| Instr::Gemm { m: Count(1), n: Count(n), k: Count(k), dtype };
    let tile0 = vec![
        gemm(1024, 256, Dtype::Fp16),
        // int4 runs on the int8 path (tile.runs_as) and is charged int8's figure.
        gemm(256, 256, Dtype::Int4),
        Instr::Vec { op: VecOp::Add, n: Count(4096), dtype: Dtype::Fp16 },
        Instr::Send { tok: Token(0), to: TileId(3), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(4096) },
        Instr::Wait { tok: Token(0) },
    ];
    let tile3 = vec![
        Instr::Recv { tok: Token(1), from: TileId(0), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(4096) },
        Instr::Wait { tok: Token(1) },
    ];
    // 256 B at address 0: channel 0, stack 0, attached at tile 4's router.
    let tile4 = vec![
        Instr::Load { tok: Token(0), mem: Loc::Hbm { addr: 0 }, sram: SramAddr(0), bytes: Bytes(256) },
        Instr::Wait { tok: Token(0) },
    ];
    let trace = trace_of(&c, None, vec![(TileId(0), tile0), (TileId(3), tile3), (TileId(4), tile4)], "hand");
    let s = run(&c, &trace);
    let r = RunReport::new(&c, &trace, &s);
    let e = r.energy.as_ref().expect("mini-mesh has [energy]");
    let j = &e.joules;

    // MACs: 1 x 1024 x 256 fp16; 1 x 256 x 256 on the int8 path.
    let (fp16_macs, int8_macs) = (262_144.0, 65_536.0);
    assert_eq!(j.compute_by_dtype.len(), 2, "{:?}", j.compute_by_dtype);
    assert_eq!((j.compute_by_dtype[0].dtype, j.compute_by_dtype[1].dtype), (Dtype::Fp16, Dtype::Int8));
    close("fp16 MACs", j.compute_by_dtype[0].joules, fp16_macs * 2e-12);
    close("int8 MACs", j.compute_by_dtype[1].joules, int8_macs * 0.3e-12);
    close("compute", j.compute, fp16_macs * 2e-12 + int8_macs * 0.3e-12);
    // One op per element of the add.
    close("vector", j.vector, 4096.0 * 4.6e-12);
    // SRAM-port bytes: fp16 GEMM operands (256 + 1024x256 + 1024) x 2 B;
    // int4 GEMM (256 + 256x256 + 256) / 2 B; the add reads two and writes
    // one 4096-element fp16 vector; the send reads 4096 B, the receive
    // writes 4096 B; the load writes 256 B.
    let sram = (256.0 + 262_144.0 + 1024.0) * 2.0 + (256.0 + 65_536.0 + 256.0) / 2.0 + 3.0 * 8192.0 + 8192.0 + 256.0;
    close("sram", j.sram, sram * 2.5e-12);
    // HBM: the 256 B read, at 3.9 pJ/bit.
    close("memory", j.memory, 256.0 * 3.9e-12 * 8.0);
    // NoC: the message crosses tile 0's inject link, routers 0 -> 1 -> 2 ->
    // 3 and tile 3's eject link (5 links); the load's data the stack's
    // memory port and tile 4's eject link (2 links).
    close("noc", j.noc, (5.0 * 4096.0 + 2.0 * 256.0) * 2e-12);
    assert_eq!((j.cache, j.links, j.static_), (0.0, 0.0, 0.0), "no cache, one chip, no static power");
    close(
        "total",
        j.total,
        fp16_macs * 2e-12
            + int8_macs * 0.3e-12
            + 4096.0 * 4.6e-12
            + sram * 2.5e-12
            + 256.0 * 31.2e-12
            + (5.0 * 4096.0 + 2.0 * 256.0) * 2e-12,
    );
    // A synthetic trace produces no tokens: no per-token figure.
    assert_eq!(e.tokens_per_joule, None);
    assert_eq!(r.cost.tokens_per_joule, None);
}

/// Static power: the same hand trace on mini-mesh given 10 W of static
/// power costs 10 W times its simulated time more.
#[test]
fn static_power_is_charged_over_the_simulated_time() {
    let text = shipped::get(shipped::Kind::Chip, "mini-mesh").unwrap();
    let base = shipped_chip("mini-mesh");
    let hot = chip_from_str("mini-mesh-hot", &text.replace("chip_static = \"0 W\"", "chip_static = \"10 W\""));
    let prog = vec![Instr::Vec { op: VecOp::Add, n: Count(65536), dtype: Dtype::Fp16 }];
    let trace = trace_of(&base, None, vec![(TileId(5), prog)], "static");
    let a = RunReport::new(&base, &trace, &run(&base, &trace));
    let b = RunReport::new(&hot, &trace, &run(&hot, &trace));
    assert_eq!(a.cycles, b.cycles, "energy changes no cycle count");
    let (ja, jb) = (a.energy.unwrap().joules, b.energy.unwrap().joules);
    close("static", jb.static_, 10.0 * b.seconds);
    close("total", jb.total, ja.total + 10.0 * b.seconds);
}

#[test]
fn every_shipped_chip_has_an_energy_section() {
    for (name, text) in shipped::CHIPS {
        let c = shipped_chip(name);
        let e = c.energy.as_ref().unwrap_or_else(|| panic!("{name}: no [energy] section"));
        // One MAC figure per MAC path, in the tile's order.
        let paths: Vec<Dtype> = c.tile.macs.iter().map(|(d, _)| *d).collect();
        assert_eq!(e.mac.iter().map(|(d, _)| *d).collect::<Vec<_>>(), paths, "{name}");
        // Every shipped figure says where it comes from.
        let section = text.split("\n[energy]").nth(1).unwrap_or_else(|| panic!("{name}: [energy] not last"));
        assert!(section.lines().any(|l| l.trim_start().starts_with('#')), "{name}: [energy] cites nothing");
        // Static power no more than the whole power charged.
        if let Some(p) = c.cost.chip_power_w {
            assert!(e.chip_static_w <= p, "{name}");
        }
    }
}

/// A figure for a part an override removes is left out of the sum, so a
/// sweep over `system.chips=1|2` still loads the shipped config.
#[test]
fn a_figure_for_a_part_the_chip_lacks_is_unused() {
    let text = shipped::get(shipped::Kind::Chip, "dgx-h100").unwrap();
    let one = chip_from_str("dgx-h100-one", &text.replace("chips = 8", "chips = 1"));
    assert_eq!(one.energy.as_ref().unwrap().link, 0.0);
    assert!(shipped_chip("dgx-h100").energy.unwrap().link > 0.0);
}

#[test]
fn bad_energy_sections_are_refused_with_their_line() {
    let text = shipped::get(shipped::Kind::Chip, "h100").unwrap();
    for (from, to, says) in [
        ("fp8 = \"0.15 pJ\", ", "", "has no figure for fp8"),
        ("int8 = \"0.045 pJ\" }", "int8 = \"0.045 pJ\", int4 = \"0.1 pJ\" }", "runs on the fp16 path"),
        ("hbm = \"3.9 pJ/bit\"", "", "energy.hbm` is required"),
        ("cache = \"1.9 pJ/B\"", "cache = \"1.9 pJ\"", "expected an energy per byte"),
        ("sram = \"0.38 pJ/B\"", "sram = \"2 nJ/B\"", "more than the 1 nJ/B"),
        ("chip_static = \"210 W\"", "chip_static = \"800 W\"", "more than the chip's whole power"),
        ("noc = \"6 pJ/B\"", "noc = \"6 pJ/B\"\nlink = \"2 nJ/bit\"", "more than the 1 nJ/B"),
        ("vector_op = \"0.69 pJ\"", "vector_op = 0.69", "bare number"),
    ] {
        assert!(text.contains(from), "{from}");
        let bad = text.replacen(from, to, 1);
        let e = tilesim::config::chip::load_str("h100.toml", &bad).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains(says) || e.contains(&says.replace('`', "")), "{from} -> {to}: {e}");
        assert!(e.starts_with("h100.toml:"), "a line: {e}");
    }
}

/// The `[cost]` power (TDP, system power) is the ceiling: on the shipped
/// chips' decode and prefill runs the model's average power stays under it.
#[test]
fn average_power_stays_under_the_power_charged() {
    let m = common::model("llama-2-7b").first_layers(2).unwrap();
    for name in ["h100", "a100", "dgx-h100", "mesh-3ddram", "wormhole-t3000", "cerebras-wse3", "groq-576"] {
        let c = common::chip(name);
        for phase in [Phase::Decode, Phase::Prefill] {
            let mut w = common::decode(&m);
            w.phase = phase;
            if phase == Phase::Prefill {
                w.context = 0;
                w.prompt = 256;
            } else {
                w.batch = 8;
            }
            let r = common::run(&m, &c, &w, &PlanRequest::default());
            let e = r.energy.as_ref().unwrap();
            let ceiling = e.charged_power_w.expect("a [cost] power");
            assert!(
                e.average_power_w <= ceiling,
                "{name} {phase:?}: {:.0} W modelled, {ceiling:.0} W charged",
                e.average_power_w
            );
            // Static power alone is a floor on the average.
            assert!(e.average_power_w * r.seconds >= e.joules.static_ * (1.0 - 1e-12), "{name}");
            assert_eq!(r.cost.tokens_per_joule, e.tokens_per_joule, "one per-joule figure");
        }
    }
}

/// The done-when comparison prints a per-dollar and a per-joule
/// figure on every row (one layer, so it runs in seconds).
#[test]
fn compare_prints_per_joule_on_every_row() {
    let args = [
        "compare",
        "--model",
        "llama-2-70b",
        "--layers",
        "1",
        "--chip",
        "groq-576",
        "--chip",
        "dgx-h100",
        "--chip",
        "mesh-3ddram",
        "--chip",
        "cerebras-cs3x4",
        "--weights-dtype",
        "fp8",
    ];
    let (code, out, err) = text(&tilesim(&[&args[..], &["--json"]].concat()));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        let sim = &r["simulated"];
        for k in ["tokens_per_joule", "joules_per_token", "tokens_per_second_per_kusd", "average_power_w"] {
            assert!(sim[k].as_f64().is_some_and(|x| x > 0.0), "{}: {k} = {}", r["chip"], sim[k]);
        }
        assert!(sim["average_power_w"].as_f64() <= r["cost"]["power_w"].as_f64(), "{}", r["chip"]);
    }
    let (code, table, err) = text(&tilesim(&args));
    assert_eq!(code, 0, "{err}");
    assert!(table.lines().any(|l| l.starts_with("chip ") && l.trim_end().ends_with("tok/J")), "{table}");
    for chip in ["groq-576", "dgx-h100", "mesh-3ddram", "cerebras-cs3x4"] {
        let line = table.lines().find(|l| l.starts_with(chip)).unwrap();
        let cells: Vec<&str> = line.split_whitespace().collect();
        let tpj = cells.last().unwrap();
        assert!(tpj.parse::<f64>().is_ok_and(|x| x > 0.0), "{chip}: tok/J `{tpj}`: {line}");
    }
}
