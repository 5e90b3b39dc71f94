//! The crate's module dependencies are the table of arch/ARCHITECTURE.md
//! ("Dependencies"): every top-level module of `src/` has a layer and the
//! modules it may use, each of a lower layer, so the graph is acyclic and
//! points down. A `crate::` path outside a module's tests that the table
//! does not allow fails here, as does a module missing from the table or
//! an allowance the code no longer needs (the table stays exact).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// (module, layer, modules it may use). Keep in step with the table in
/// arch/ARCHITECTURE.md.
const TABLE: &[(&str, u32, &[&str])] = &[
    (
        "api",
        7,
        &[
            "chip", "compiler", "config", "diag", "dtype", "fileio", "floor", "limits", "model", "report", "roofline",
            "sim", "sweep", "synth", "trace",
        ],
    ),
    (
        "validate",
        7,
        &["characterize", "chip", "collective", "config", "diag", "dtype", "ids", "isa", "sim", "synth", "units"],
    ),
    ("sweep", 6, &["chip", "compiler", "config", "diag", "dtype", "limits", "model", "report"]),
    ("snap", 6, &["chip", "compiler", "config", "diag", "dtype", "fileio", "model", "report", "sim", "trace"]),
    ("serve", 6, &["chip", "compiler", "limits", "model", "report", "rng", "sim", "units"]),
    ("characterize", 6, &["chip", "diag", "ids", "isa", "limits", "report", "sim", "synth", "trace", "units"]),
    (
        "report",
        5,
        &["chip", "compiler", "energy", "fileio", "floor", "limits", "model", "roofline", "sim", "trace", "units"],
    ),
    ("roofline", 4, &["chip", "dtype", "ids", "isa", "sim", "trace"]),
    ("floor", 4, &["chip", "compiler", "config", "dtype", "model"]),
    ("synth", 4, &["chip", "collective", "diag", "dtype", "ids", "isa", "limits", "rng", "sim", "trace", "units"]),
    ("sim", 3, &["chip", "diag", "dtype", "hint", "ids", "isa", "limits", "trace", "units"]),
    ("compiler", 3, &["chip", "collective", "dtype", "ids", "isa", "limits", "model", "trace", "units"]),
    ("config", 3, &["chip", "diag", "dtype", "energy", "fileio", "limits", "model", "units"]),
    ("trace", 2, &["chip", "diag", "fileio", "hint", "ids", "isa", "limits", "units"]),
    ("collective", 2, &["chip", "dtype", "ids", "isa", "units"]),
    ("isa", 1, &["dtype", "ids", "limits", "rng", "units"]),
    ("chip", 1, &["dtype", "energy", "units"]),
    ("model", 1, &["dtype"]),
    ("energy", 0, &["dtype"]),
    ("limits", 0, &["units"]),
    ("units", 0, &[]),
    ("ids", 0, &[]),
    ("dtype", 0, &[]),
    ("diag", 0, &[]),
    ("fileio", 0, &[]),
    ("hint", 0, &[]),
    ("rng", 0, &[]),
];

/// Layer-0 modules that use another layer-0 module (the base layer's
/// leaves: messages and bounds), in the order they may.
const BASE_ORDER: &[&str] = &["units", "ids", "dtype", "diag", "fileio", "hint", "rng", "limits", "energy"];

/// The Rust source of module `name` (its file, or every file under its
/// folder), without comments and without `#[cfg(test)] mod tests` blocks.
fn source(src: &Path, name: &str) -> String {
    let mut files = Vec::new();
    let file = src.join(format!("{name}.rs"));
    if file.exists() {
        files.push(file);
    }
    let dir = src.join(name);
    if dir.is_dir() {
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
    }
    assert!(!files.is_empty(), "no source for module `{name}`");
    let mut out = String::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Tests may use anything: cut at the test module.
        let text = match text.find("#[cfg(test)]\nmod tests") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        for line in text.lines() {
            let code = match line.find("//") {
                Some(i) => &line[..i],
                None => line,
            };
            out.push_str(code);
            out.push('\n');
        }
    }
    out
}

/// The top-level modules `text` names through `crate::`, as paths or in
/// `use crate::{...}` groups.
fn uses(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group (to its matching brace): at
            // depth 0, after `{` or `,`.
            let mut depth = 0;
            let mut start = true;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 0 => {
                        found.insert(ident(&group[k..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.remove("");
    found
}

#[test]
fn module_dependencies_follow_the_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let table: BTreeMap<&str, (u32, &[&str])> = TABLE.iter().map(|&(m, l, u)| (m, (l, u))).collect();
    // Every top-level module is in the table.
    let mut modules = BTreeSet::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if p.is_dir() || p.extension().is_some_and(|x| x == "rs") {
            if name == "lib" || name == "main" || name == "cli" {
                continue;
            }
            modules.insert(name);
        }
    }
    let named: BTreeSet<String> = table.keys().map(|s| s.to_string()).collect();
    assert_eq!(modules, named, "every module of src/ needs a row in the table (and no row without a module)");
    let base = |m: &str| BASE_ORDER.iter().position(|&b| b == m).expect("a layer-0 module is in BASE_ORDER");
    let mut wrong = Vec::new();
    for (&m, &(layer, allowed)) in &table {
        // The table itself points down.
        for &u in allowed {
            let (l, _) = table[u];
            let down = l < layer || (l == 0 && layer == 0 && base(u) < base(m));
            assert!(down, "the table lets `{m}` (layer {layer}) use `{u}` (layer {l}): it must point down");
        }
        let mut used = uses(&source(&src, m));
        used.remove(m);
        let allowed: BTreeSet<String> = allowed.iter().map(|s| s.to_string()).collect();
        for u in used.difference(&allowed) {
            if table.contains_key(u.as_str()) {
                wrong.push(format!("`{m}` uses `{u}`, which the table does not allow"));
            }
        }
        for u in allowed.difference(&used) {
            wrong.push(format!("the table lets `{m}` use `{u}`, which it no longer does: remove it"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn uses_reads_paths_and_groups() {
    let u = uses("use crate::{chip::Chip, isa::{Instr, Loc}, units};\nlet x = crate::sim::run(); crate::dtype::X");
    let want: BTreeSet<String> = ["chip", "isa", "units", "sim", "dtype"].iter().map(|s| s.to_string()).collect();
    assert_eq!(u, want);
}
