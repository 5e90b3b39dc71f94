//! arch/isa.md and the instruction table in src/isa/mod.rs cannot drift apart.
//!
//! - The reference table between the `BEGIN GENERATED` and `END GENERATED`
//!   markers of arch/isa.md must equal `tilesim::isa::reference_markdown()`
//!   byte for byte. After changing the instruction table, regenerate it with
//!
//!   ```sh
//!   UPDATE_ISA_DOC=1 cargo test --test isa_doc
//!   ```
//!
//!   which rewrites that section in place (and nothing else).
//! - Every opcode has exactly one prose section headed ``### `mnemonic` ``
//!   (the heading is that one backquoted word), which names each of its
//!   operands; such a heading that names no opcode is an error, so a removed or renamed instruction cannot leave
//!   its section behind.
//! - Every example in a ` ```trace ` block is real: a block that starts with
//!   the magic line is a whole trace and must load (and, when it has a
//!   `# cycles: N` line, simulate in exactly N cycles on the chip its header
//!   names); any other block holds single instructions, each of which must
//!   parse and be written in canonical form (what `tilesim convert` writes),
//!   and a line ending in `# mini-mesh: N cycles` must take exactly N cycles
//!   when tile 0 of the shipped `mini-mesh` chip runs it alone.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use tilesim::chip::Chip;
use tilesim::config::shipped::{self, Kind};
use tilesim::ids::TileId;
use tilesim::isa::{Args, Flags, Instr, Opcode, reference_markdown};
use tilesim::sim;
use tilesim::trace::{Header, Trace};

const BEGIN: &str = "<!-- BEGIN GENERATED: isa::reference_markdown -->";
const END: &str = "<!-- END GENERATED -->";
const REGENERATE: &str = "UPDATE_ISA_DOC=1 cargo test --test isa_doc";

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("arch/isa.md")
}

fn read_doc() -> String {
    fs::read_to_string(doc_path()).unwrap_or_else(|e| panic!("cannot read {}: {e}", doc_path().display()))
}

/// 1-based line number of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// The generated section: from just after the newline ending the BEGIN
/// marker's line to the start of the END marker's line.
fn generated_range(doc: &str) -> Result<Range<usize>, String> {
    let begins: Vec<usize> = doc.match_indices(BEGIN).map(|(i, _)| i).collect();
    let ends: Vec<usize> = doc.match_indices(END).map(|(i, _)| i).collect();
    let (&[b], &[e]) = (begins.as_slice(), ends.as_slice()) else {
        return Err(format!(
            "expected exactly one `{BEGIN}` line and one `{END}` line, found {} and {}",
            begins.len(),
            ends.len()
        ));
    };
    let start = b + BEGIN.len();
    if !doc[start..].starts_with('\n') || (b > 0 && !doc[..b].ends_with('\n')) {
        return Err(format!("`{BEGIN}` must be a line of its own (line {})", line_of(doc, b)));
    }
    if e < start || (e > 0 && !doc[..e].ends_with('\n')) {
        return Err(format!("`{END}` must be a line of its own after `{BEGIN}` (line {})", line_of(doc, e)));
    }
    Ok(start + 1..e)
}

/// Where `a` and `b` first differ, as a line-by-line description.
fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                let show = |l: Option<&str>| l.map_or("(end of table)".to_string(), |l| format!("`{l}`"));
                return format!(
                    "first difference at table line {n}:\n  arch/isa.md: {}\n  the code:    {}",
                    show(x),
                    show(y)
                );
            }
        }
    }
    unreachable!()
}

#[test]
fn generated_reference_matches_the_instruction_table() {
    let doc = read_doc();
    let range = generated_range(&doc).unwrap_or_else(|e| panic!("arch/isa.md: {e}"));
    let want = reference_markdown();
    let have = &doc[range.clone()];
    if have == want {
        return;
    }
    if std::env::var("UPDATE_ISA_DOC").is_ok_and(|v| v == "1") {
        let updated = format!("{}{want}{}", &doc[..range.start], &doc[range.end..]);
        // Write beside the file and rename, so other tests never read half a file.
        let tmp = doc_path().with_extension("md.tmp");
        fs::write(&tmp, updated).expect("write arch/isa.md.tmp");
        fs::rename(&tmp, doc_path()).expect("rename arch/isa.md.tmp over arch/isa.md");
        eprintln!("rewrote the generated reference section of arch/isa.md");
        return;
    }
    panic!(
        "the reference table in arch/isa.md (between `{BEGIN}` and `{END}`) is not what \
         tilesim::isa::reference_markdown() generates from the instruction table in src/isa/mod.rs.\n\
         Regenerate it with\n\n    {REGENERATE}\n\n\
         then bring the prose section of every changed instruction up to date.\n{}",
        first_difference(have, &want)
    );
}

/// A prose section of one instruction: ``### `mnemonic` `` up to the next
/// heading of level 3 or above.
struct Section {
    name: String,
    line: usize,
    body: String,
}

/// Lines of `doc` outside fenced code blocks, with their 1-based numbers.
fn prose_lines(doc: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// Every level-3 heading that is one backquoted word (``### `load` ``), and
/// its body.
fn instruction_sections(doc: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut current: Option<Section> = None;
    let all: Vec<&str> = doc.lines().collect();
    let prose = prose_lines(doc);
    let headings: Vec<(usize, &str)> = prose.into_iter().filter(|(_, l)| l.starts_with('#')).collect();
    for (k, &(line, text)) in headings.iter().enumerate() {
        let level = text.chars().take_while(|&c| c == '#').count();
        if level > 3 {
            continue;
        }
        if let Some(s) = current.take() {
            out.push(s);
        }
        if level == 3
            && let Some(name) = text[3..].trim().strip_prefix('`').and_then(|r| r.strip_suffix('`'))
            && !name.contains('`')
        {
            // The body runs to the next heading of level 3 or above.
            let next = headings[k + 1..]
                .iter()
                .find(|(_, t)| t.chars().take_while(|&c| c == '#').count() <= 3)
                .map_or(all.len(), |&(l, _)| l - 1);
            current = Some(Section { name: name.to_string(), line, body: all[line..next].join("\n") });
        }
    }
    out.extend(current);
    out
}

#[test]
fn every_opcode_has_one_section_and_every_section_an_opcode() {
    let doc = read_doc();
    let sections = instruction_sections(&doc);
    let mut problems = Vec::new();
    for s in &sections {
        if Opcode::from_mnemonic(&s.name).is_none() {
            problems.push(format!(
                "arch/isa.md:{}: section `### `{}`` names no instruction (the instructions are: {})",
                s.line,
                s.name,
                Opcode::mnemonics()
            ));
        }
    }
    for &op in Opcode::ALL {
        let mine: Vec<&Section> = sections.iter().filter(|s| s.name == op.mnemonic()).collect();
        match mine.as_slice() {
            [] => problems.push(format!(
                "arch/isa.md has no section `### `{m}`` for the instruction `{m}`: add one saying what it does, \
                 which unit it occupies and what it costs",
                m = op.mnemonic()
            )),
            [s] => {
                for o in op.operands() {
                    if !s.body.contains(&format!("`{}`", o.name)) {
                        problems.push(format!(
                            "arch/isa.md:{}: the section of `{}` never names its operand `{}` ({})",
                            s.line,
                            op.mnemonic(),
                            o.name,
                            o.doc
                        ));
                    }
                }
            }
            many => problems.push(format!(
                "arch/isa.md has {} sections for `{}` (lines {})",
                many.len(),
                op.mnemonic(),
                many.iter().map(|s| s.line.to_string()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
    assert!(problems.is_empty(), "arch/isa.md and the instruction table disagree:\n  {}", problems.join("\n  "));
}

/// The ```trace blocks of `doc`: (line of the first content line, lines).
fn trace_blocks(doc: &str) -> Vec<(usize, Vec<&str>)> {
    let mut out = Vec::new();
    let mut block: Option<(usize, Vec<&str>)> = None;
    for (i, line) in doc.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut block, fence) {
            (None, Some(info)) if info.trim() == "trace" => block = Some((i + 2, Vec::new())),
            (Some(_), Some(_)) => out.extend(block.take()),
            (Some((_, lines)), None) => lines.push(line),
            _ => {}
        }
    }
    out
}

fn chip(name: &str) -> Chip {
    let text = shipped::get(Kind::Chip, name).unwrap_or_else(|| panic!("`{name}` is not a shipped chip"));
    tilesim::config::chip::load_str(name, text).expect("shipped chips are valid")
}

/// Splits an instruction line into words with 1-based columns, as the text
/// reader does.
fn words(code: &str) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut col = 1;
    for w in code.split(' ') {
        if !w.is_empty() {
            out.push((w, col));
        }
        col += w.chars().count() + 1;
    }
    out
}

fn parse_instr(code: &str) -> Result<Instr, String> {
    let w = words(code);
    let (mnemonic, _) = *w.first().ok_or("empty line")?;
    let op = Opcode::from_mnemonic(mnemonic).ok_or_else(|| format!("unknown instruction `{mnemonic}`"))?;
    let args = Args::new(mnemonic, &w[1..], code.chars().count() + 1).map_err(|e| e.message)?;
    Instr::parse(op, args).map_err(|e| e.message)
}

/// Cycles tile 0 of `chip` takes to run `instr` alone.
fn cycles_alone(chip: &Chip, instr: Instr, name: &str) -> Result<u64, String> {
    let header = Header { chip: chip.name.clone(), tiles: chip.total_tiles(), ..Header::default() };
    let trace = Trace::from_streams(header, [(TileId(0), vec![instr])], name);
    sim::simulate(chip, &trace, &Default::default()).map(|s| s.cycles.0).map_err(|e| e.to_string())
}

/// The N of a `# LABEL N` or `# LABEL N cycles` comment.
fn expected_cycles(comment: &str, label: &str) -> Option<Result<u64, String>> {
    let rest = comment.trim().strip_prefix(label)?.trim();
    let n = rest.strip_suffix("cycles").unwrap_or(rest).trim();
    Some(n.parse().map_err(|_| format!("expected `# {label} N cycles`, found `#{comment}`")))
}

fn check_whole_trace(first_line: usize, lines: &[&str], problems: &mut Vec<String>) {
    let at = format!("arch/isa.md:{first_line}");
    let mut file = tempfile::Builder::new().suffix(".trace").tempfile().expect("temp file");
    std::io::Write::write_all(&mut file, (lines.join("\n") + "\n").as_bytes()).expect("write temp trace");
    let trace = match Trace::load(file.path()) {
        Ok(t) => t,
        Err(e) => return problems.push(format!("{at}: the example trace does not load: {}", e.kind)),
    };
    let want = lines.iter().find_map(|l| l.split_once('#').and_then(|(_, c)| expected_cycles(c, "cycles:")));
    let Some(want) = want else { return };
    let want = match want {
        Ok(n) => n,
        Err(e) => return problems.push(format!("{at}: {e}")),
    };
    let chip = chip(&trace.header.chip);
    match sim::simulate(&chip, &trace, &Default::default()) {
        Ok(s) if s.cycles.0 == want => {}
        Ok(s) => problems.push(format!("{at}: the example trace says {want} cycles but simulates in {}", s.cycles.0)),
        Err(e) => problems.push(format!("{at}: the example trace fails to simulate: {e}")),
    }
}

#[test]
fn examples_parse_and_take_the_cycles_they_claim() {
    let doc = read_doc();
    let mini = chip("mini-mesh");
    let mut problems = Vec::new();
    let mut examples = 0;
    for (first, lines) in trace_blocks(&doc) {
        if lines.iter().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("tilesim-trace")) {
            examples += 1;
            check_whole_trace(first, &lines, &mut problems);
            continue;
        }
        for (k, line) in lines.iter().enumerate() {
            let at = format!("arch/isa.md:{}", first + k);
            let (code, comment) = line.split_once('#').map_or((*line, None), |(c, m)| (c, Some(m)));
            let code = code.trim();
            if code.is_empty() {
                continue;
            }
            examples += 1;
            let instr = match parse_instr(code) {
                Ok(i) => i,
                Err(e) => {
                    problems.push(format!("{at}: `{code}` does not parse: {e}"));
                    continue;
                }
            };
            if instr.to_text() != code {
                problems.push(format!("{at}: write `{code}` in canonical form: `{}`", instr.to_text()));
            }
            let Some(want) = comment.and_then(|c| expected_cycles(c, "mini-mesh:")) else { continue };
            let want = match want {
                Ok(n) => n,
                Err(e) => {
                    problems.push(format!("{at}: {e}"));
                    continue;
                }
            };
            let flags = instr.opcode().flags();
            if flags.intersects(Flags::LOOP_OPEN | Flags::LOOP_CLOSE) || instr.opcode() == Opcode::Barrier {
                problems.push(format!("{at}: `{code}` cannot run alone; give its timing in a whole trace"));
                continue;
            }
            match cycles_alone(&mini, instr, &at) {
                Ok(n) if n == want => {}
                Ok(n) => problems.push(format!("{at}: `{code}` says {want} cycles on mini-mesh but takes {n}")),
                Err(e) => problems.push(format!("{at}: `{code}` fails on mini-mesh: {e}")),
            }
        }
    }
    assert!(examples > 0, "arch/isa.md has no ```trace examples");
    assert!(problems.is_empty(), "examples in arch/isa.md are wrong:\n  {}", problems.join("\n  "));
}
