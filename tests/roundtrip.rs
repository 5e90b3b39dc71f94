//! Round trips through both trace forms: text -> binary -> text.
//!
//! A random trace (random header, random per-tile instruction streams drawn
//! from every opcode with `Instr::sample`) is written as text, read back,
//! written as binary, read back and written as text again. The header and
//! every record must be equal at each step, and the final text must be
//! byte-identical to the first. The traces are made structurally valid
//! (tile references within the header's tile count, balanced loops with
//! counts >= 1, barriers only on declared groups the tile belongs to), since
//! readers check structure as they stream.

use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;
use tilesim::ids::TileId;
use tilesim::isa::{Count, Group, Instr, Loc, Opcode};
use tilesim::rng::Rng;
use tilesim::trace::{self, Format, Header, Item, Trace};

/// A trace held as the records a writer is given.
#[derive(Clone, Debug, PartialEq)]
struct Case {
    header: Header,
    items: Vec<Item>,
}

/// Writes `case` to `path` in `format` through the public Sink API.
fn write(path: &Path, format: Format, case: &Case) {
    let mut sink = trace::create(path, format).unwrap();
    sink.header(&case.header).unwrap();
    for item in &case.items {
        match item {
            Item::Tile(t) => sink.tile(*t).unwrap(),
            Item::Instr(i) => sink.instr(i).unwrap(),
        }
    }
    sink.finish().unwrap();
}

/// Reads and checks the trace at `path`, returning its header and records.
fn read(path: &Path, expect: Format) -> Case {
    let mut src = trace::open(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(src.format(), expect, "format detected for {}", path.display());
    let header = src.header().clone();
    let mut items = Vec::new();
    trace::check(src.as_mut(), |item, _| items.push(item.clone())).unwrap_or_else(|e| panic!("{e}"));
    Case { header, items }
}

/// text -> read -> binary -> read -> text; asserts equality at every step
/// and returns the first text.
fn round_trip(case: &Case) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (t1, b, t2) = (dir.path().join("a.trace"), dir.path().join("b.tbin"), dir.path().join("c.trace"));

    write(&t1, Format::Text, case);
    let from_text = read(&t1, Format::Text);
    assert_eq!(from_text.header, case.header, "header after text");
    assert_eq!(from_text.items, case.items, "records after text");

    write(&b, Format::Binary, &from_text);
    let from_binary = read(&b, Format::Binary);
    assert_eq!(from_binary, from_text, "after binary");

    // The in-memory loader sees the same per-tile streams.
    let loaded = Trace::load(&b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.header, case.header);
    let mut expected = vec![Vec::new(); case.header.tiles as usize];
    let mut current = 0;
    for item in &case.items {
        match item {
            Item::Tile(t) => current = t.index(),
            Item::Instr(i) => expected[current].push(*i),
        }
    }
    for (t, p) in loaded.programs.iter().enumerate() {
        assert_eq!(p.instrs, expected[t], "program of tile {t}");
    }

    write(&t2, Format::Text, &from_binary);
    let first = std::fs::read_to_string(&t1).unwrap();
    let last = std::fs::read_to_string(&t2).unwrap();
    assert_eq!(first, last, "text -> binary -> text changed the text");
    first
}

/// Groups of `header` that contain `tile`.
fn member_groups(header: &Header, tile: TileId) -> Vec<u32> {
    (0..header.groups.len()).filter(|&g| header.groups[g].binary_search(&tile).is_ok()).map(|g| g as u32).collect()
}

/// Makes a sampled instruction valid in `tile`'s stream: tile references
/// wrapped into range, loop counts >= 1, barriers on a group the tile
/// belongs to. Returns `None` when it cannot be made valid here (a barrier
/// on a tile in no group, an `endloop` with no loop open).
fn fix(mut i: Instr, header: &Header, tile: TileId, depth: &mut usize, rng: &mut Rng) -> Option<Instr> {
    let tiles = header.tiles;
    let wrap = |t: &mut TileId| t.0 %= tiles;
    // The checker bounds one transfer at 64 GiB (arch/limits.md).
    let transfer = |b: &mut tilesim::units::Bytes| b.0 %= 1 << 36;
    match &mut i {
        Instr::Load { mem, bytes, .. } | Instr::Store { mem, bytes, .. } => {
            transfer(bytes);
            match mem {
                Loc::Hbm { .. } | Loc::Dram { tile: None, .. } => {}
                Loc::Dram { tile: Some(t), .. } | Loc::Sram { tile: t, .. } => wrap(t),
            }
        }
        Instr::Send { to, bytes, .. } => {
            transfer(bytes);
            wrap(to)
        }
        Instr::Recv { from, bytes, .. } => {
            transfer(bytes);
            wrap(from)
        }
        Instr::Barrier { group } => {
            let groups = member_groups(header, tile);
            if groups.is_empty() {
                return None;
            }
            *group = Group(groups[rng.below(groups.len() as u64) as usize]);
        }
        Instr::Mcast { group, bytes, .. } => {
            transfer(bytes);
            let groups: Vec<u32> = (0..header.groups.len() as u32)
                .filter(|&g| header.groups[g as usize].iter().any(|&m| m != tile))
                .collect();
            if groups.is_empty() {
                return None;
            }
            *group = Group(groups[rng.below(groups.len() as u64) as usize]);
        }
        // The checker bounds the loop product and the instructions issued
        // (2^32 each): counts shrink with depth, 1 from depth 3 on.
        Instr::Loop { count } => {
            let most = [1u64 << 16, 16, 4].get(*depth).copied().unwrap_or(1);
            count.0 = 1 + count.0 % most;
            *depth += 1;
        }
        Instr::EndLoop {} => {
            if *depth == 0 {
                return None;
            }
            *depth -= 1;
        }
        // The checker bounds the work of one instruction (products < 2^56).
        Instr::Gemm { m, n, k, .. } => {
            for c in [m, n, k] {
                c.0 %= 1 << 18;
            }
        }
        Instr::Attn { q, ctx, heads, kv_heads, hd, .. } => {
            for c in [&mut *q, &mut *ctx, &mut *heads, &mut *kv_heads, &mut *hd] {
                c.0 %= 1 << 11;
            }
            // kv_heads >= 1 dividing heads.
            kv_heads.0 = kv_heads.0.max(1);
            heads.0 = (heads.0 / kv_heads.0).max(1) * kv_heads.0;
        }
        Instr::Mla { q, ctx, heads, latent, rope, .. } => {
            for c in [q, ctx, heads, latent, rope] {
                c.0 %= 1 << 11;
            }
        }
        Instr::Vec { n, .. } => n.0 %= 1 << 50,
        Instr::Wait { .. } | Instr::Delay { .. } => {}
    }
    Some(i)
}

/// A random tile set over `0..tiles`: a union of strided ranges.
fn tile_set(rng: &mut Rng, tiles: u32) -> Vec<TileId> {
    let mut set = BTreeSet::new();
    for _ in 0..1 + rng.below(3) {
        let lo = rng.below(tiles as u64) as u32;
        let hi = lo + rng.below((tiles - lo) as u64) as u32;
        let stride = 1 + rng.below(4) as usize;
        set.extend((lo..=hi).step_by(stride).map(TileId));
    }
    set.into_iter().collect()
}

/// Random per-tile streams for `header`: a random subset of the tiles, in
/// random order, each with up to `max_len` instructions drawn uniformly from
/// every opcode.
fn streams(header: &Header, rng: &mut Rng, max_len: u64) -> Vec<Item> {
    let mut order: Vec<u32> = (0..header.tiles).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let n = rng.below(order.len() as u64 + 1) as usize;
    let mut items = Vec::new();
    for &t in &order[..n] {
        let tile = TileId(t);
        items.push(Item::Tile(tile));
        let mut depth = 0;
        for _ in 0..rng.below(max_len + 1) {
            let op = Opcode::ALL[rng.below(Opcode::ALL.len() as u64) as usize];
            let sampled = Instr::sample(op, rng);
            if let Some(i) = fix(sampled, header, tile, &mut depth, rng) {
                items.push(Item::Instr(i));
            }
        }
        for _ in 0..depth {
            items.push(Item::Instr(Instr::EndLoop {}));
        }
    }
    items
}

/// Header words: non-empty, no whitespace, no `#` (the text form's comment).
const NAME: &str = "[A-Za-z0-9][A-Za-z0-9._/+-]{0,15}";
/// Free text for `workload`: words separated by one or two spaces, no `#`,
/// no leading or trailing space (the text reader trims them).
const WORKLOAD: &str = "([A-Za-z0-9=.,:/_-]{1,8}( {1,2}[A-Za-z0-9=.,:/_-]{1,8}){0,4})?";

prop_compose! {
    fn case()(
        chip in NAME,
        model in proptest::option::of(NAME),
        workload in WORKLOAD,
        tiles in prop_oneof![1u32..=8, 9u32..=300],
        tokens in (0u64..1 << 53).prop_map(|v| v as f64 / 1024.0),
        users in any::<u64>(),
        ngroups in 0usize..4,
        measure in proptest::option::of((0u64..1 << 40, 1u64..1 << 40)),
        seed in any::<u64>(),
    ) -> Case {
        let measure = measure.map(|(a, d)| (a, a + d));
        let mut rng = Rng::new(seed);
        let groups = (0..ngroups).map(|_| tile_set(&mut rng, tiles)).collect();
        let header = Header { chip, tiles, model: model.unwrap_or_default(), workload, tokens, users, groups, measure };
        let items = streams(&header, &mut rng, 40);
        Case { header, items }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn text_binary_text(case in case()) {
        round_trip(&case);
    }
}

/// Every opcode round-trips, alone in a stream (wrapped in a loop where it
/// needs one), for several random operand draws each.
#[test]
fn each_opcode_round_trips() {
    let header = Header {
        chip: "mini-mesh".into(),
        tiles: 16,
        model: "llama-2-7b".into(),
        workload: "decode batch=1".into(),
        tokens: 2.95,
        users: 1,
        groups: vec![(0..16).map(TileId).collect(), vec![TileId(3)]],
        measure: Some((100, 2000)),
    };
    let mut rng = Rng::new(7);
    for &op in Opcode::ALL {
        assert_eq!(Opcode::from_mnemonic(op.mnemonic()), Some(op));
        assert_eq!(Opcode::from_code(op as u8), Some(op));
        for _ in 0..8 {
            let tile = TileId(3);
            let mut depth = 0;
            let i = fix(Instr::sample(op, &mut rng), &header, tile, &mut depth, &mut rng);
            let body = match (op, i) {
                (Opcode::Loop, Some(l)) => vec![l, Instr::EndLoop {}],
                (Opcode::EndLoop, None) => vec![Instr::Loop { count: Count(1) }, Instr::EndLoop {}],
                (_, Some(i)) => vec![i],
                (_, None) => unreachable!("{op:?} is valid on tile 3"),
            };
            let mut encoded = Vec::new();
            body[0].encode(&mut encoded);
            assert_eq!(encoded[0], body[0].opcode() as u8, "opcode byte is the table position");

            let mut items = vec![Item::Tile(tile)];
            items.extend(body.into_iter().map(Item::Instr));
            let text = round_trip(&Case { header: header.clone(), items });
            assert!(text.contains(&format!("\ntile 3\n{}", op.mnemonic())) || op == Opcode::EndLoop, "{text}");
        }
    }
}

/// The text form cannot hold every header the binary form can: a chip or
/// model name with whitespace or `#`, an empty chip name, or a workload with
/// `#`, a newline or surrounding spaces. The writers refuse such a header
/// rather than write a file that does not read back.
#[test]
fn text_writer_refuses_headers_it_cannot_represent() {
    let ok = Header { chip: "c".into(), tiles: 1, ..Header::default() };
    let bad = [
        Header { chip: "mini mesh".into(), ..ok.clone() },
        Header { chip: String::new(), ..ok.clone() },
        Header { model: "llama #2".into(), ..ok.clone() },
        Header { workload: "decode #batch=1".into(), ..ok.clone() },
        Header { workload: "decode\nbatch=1".into(), ..ok.clone() },
        Header { workload: " decode".into(), ..ok.clone() },
    ];
    let dir = tempfile::tempdir().unwrap();
    for (n, header) in bad.into_iter().enumerate() {
        let path = dir.path().join(format!("{n}.trace"));
        let case = Case { header, items: vec![] };
        let written = trace::create(&path, Format::Text).and_then(|mut sink| {
            sink.header(&case.header)?;
            sink.finish()
        });
        if written.is_ok() {
            let back = trace::open(&path).map(|src| src.header().clone());
            assert!(
                matches!(&back, Ok(h) if *h == case.header),
                "{:?} was written as text but reads back as {back:?}",
                case.header
            );
        }
    }
}

/// How each operand kind is encoded in the binary form, as
/// arch/trace-format.md names it.
fn encoding(kind: &str) -> &'static str {
    match kind {
        "a token" | "a tag" | "a group" | "a tile" => "varint, u32",
        "a count" | "a byte count" | "a cycle count" | "an SRAM address" => "varint, u64",
        "a memory location" => "loc",
        "a data type" => "dtype byte",
        "a vector operation" => "vecop byte",
        other => panic!("operand kind `{other}` has no binary encoding in arch/trace-format.md: add it there and here"),
    }
}

/// The record table of arch/trace-format.md, generated from the ISA table.
fn record_table() -> String {
    let mut s = String::from("| code | mnemonic | operands, in order |\n|---|---|---|\n");
    for &op in Opcode::ALL {
        let operands: Vec<String> =
            op.operands().iter().map(|o| format!("`{}` ({})", o.name, encoding(o.kind))).collect();
        let operands = if operands.is_empty() { "none".to_string() } else { operands.join(", ") };
        s.push_str(&format!("| `0x{:02x}` | `{}` | {operands} |\n", op as u8, op.mnemonic()));
    }
    s
}

/// arch/trace-format.md lists every opcode with its code and operands in
/// encoding order, as the ISA table in src/isa/mod.rs defines them.
#[test]
fn format_doc_matches_isa_table() {
    let doc = include_str!("../arch/trace-format.md");
    let table = record_table();
    assert!(doc.contains(&table), "arch/trace-format.md must contain this table verbatim:\n\n{table}");
}
