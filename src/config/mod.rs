//! Config files: chips (`configs/chips/*.toml`) and models
//! (`configs/models/*.toml`). Each goes parse (serde, unknown fields
//! rejected) -> validate (every rule, with the field it concerns) -> derive
//! (unit conversion into `chip::Chip` / `model::Model`). Errors name the file,
//! line and column of the offending value. arch/configs.md documents every
//! field.

pub mod chip;
pub mod hf;
pub mod model;
pub mod overrides;
pub mod quantity;
pub mod shipped;

use crate::diag::Location;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("{loc}: {kind}")]
pub struct ConfigError {
    pub loc: Location,
    pub kind: ConfigErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigErrorKind {
    #[error("cannot read the config: {0}")]
    Io(String),
    #[error("{0}")]
    Parse(String),
    #[error("`{field}` {message}")]
    Invalid { field: String, message: String },
    #[error("unknown {what} `{name}` (shipped: {known}; or give a path to a .toml file)")]
    UnknownName { what: &'static str, name: String, known: String },
}

/// A validation failure before it is located in the file.
#[derive(Debug, Clone)]
pub struct Invalid {
    /// Dotted path of the field, e.g. `noc.link_bandwidth`.
    pub field: String,
    pub message: String,
}

pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), message: message.into() }
}

/// Parses TOML text into `T`, mapping serde errors to file:line:column.
pub fn parse_toml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, ConfigError> {
    check_nesting(file, text)?;
    toml::from_str(text).map_err(|e| {
        let loc = match e.span() {
            Some(span) => Location::at_offset(file, text, span.start),
            None => Location::file(file),
        };
        ConfigError { loc, kind: ConfigErrorKind::Parse(plain_serde_message(e.message().trim())) }
    })
}

/// Refuses arrays and tables nested deeper than `MAX_CONFIG_NESTING`, at
/// the bracket (or the `.` of a dotted key) that goes too deep: the TOML
/// parser's own recursion limit, which a key of 80 dotted parts reaches,
/// has no location. Each part of a dotted key but the last is a table
/// (`a.b.c = 1` is two deep, and so is `[a.b]`, whose keys are a level
/// deeper); each array or inline table one more. Strings and comments are
/// skipped.
fn check_nesting(file: &str, text: &str) -> Result<(), ConfigError> {
    let max = crate::limits::MAX_CONFIG_NESTING;
    let b = text.as_bytes();
    let too_deep = |i: usize| ConfigError {
        loc: Location::at_offset(file, text, i),
        kind: ConfigErrorKind::Parse(format!("arrays and tables nested more than {max} deep (arch/limits.md)")),
    };
    // `open`: the depth of each open array or inline table, innermost
    // last; `base`: the depth of the current `[table]`'s keys; `in_key`:
    // reading a key (a line's start, after `{` or an inline table's `,`);
    // `dots`: the dots of the key (or table header) being read.
    let mut open: Vec<(usize, u8)> = Vec::new();
    let (mut base, mut in_key, mut header, mut dots) = (0usize, true, false, 0usize);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            q @ (b'"' | b'\'') => {
                let delim: &[u8] = if q == b'"' { b"\"\"\"" } else { b"'''" };
                let triple = b[i..].starts_with(delim);
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q && (!triple || b[i..].starts_with(delim)) {
                        i += if triple { 3 } else { 1 };
                        break;
                    }
                    if !triple && b[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'\n' if open.is_empty() => (in_key, header, dots) = (true, false, 0),
            b'=' => in_key = false,
            // A table header `[a.b]` or `[[a.b]]`.
            b'[' if header || (in_key && open.is_empty()) => (header, base, dots) = (true, 0, 0),
            b']' if header => (base, header, in_key, dots) = (dots + 1, false, false, 0),
            b'.' if in_key || header => {
                dots += 1;
                if open.last().map_or(base, |o| o.0) + dots > max {
                    return Err(too_deep(i));
                }
            }
            c @ (b'[' | b'{') => {
                let depth = open.last().map_or(base, |o| o.0) + dots + 1;
                if depth > max {
                    return Err(too_deep(i));
                }
                open.push((depth, c));
                (in_key, dots) = (c == b'{', 0);
            }
            c @ (b']' | b'}') => {
                // The `]` closing `[[a]]` has nothing open: nothing to pop.
                if c == b'}' || !open.is_empty() {
                    open.pop();
                }
                (in_key, dots) = (false, 0);
            }
            // Another key of an inline table, or another array element.
            b',' => (in_key, dots) = (open.last().is_some_and(|o| o.1 == b'{'), 0),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Rewrites serde's type jargon into the words the config docs use, and
/// keeps a message to one line of reasonable length whatever the input held.
fn plain_serde_message(m: &str) -> String {
    // TOML integers are 64-bit signed: a larger one arrives "as i128".
    if let Some((head, _)) = m.split_once(" as i128")
        && let Some(n) = head.rsplit('`').nth(1)
    {
        return format!(
            "the integer {} is too large (TOML integers are at most {})",
            crate::limits::excerpt(n),
            i64::MAX
        );
    }
    let mut m = m.replace("expected u64", "expected a non-negative integer");
    m = m.replace("expected u32", &format!("expected an integer in 0..={}", u32::MAX));
    m = m.replace("expected f64", "expected a number");
    if let Some(rest) = m.strip_prefix("missing field ") {
        m = format!("missing required field {rest} (arch/configs.md lists every field)");
    }
    let m = m.replace(['\n', '\r'], " ");
    if m.chars().count() > 4 * crate::limits::MAX_ECHO_CHARS { crate::limits::excerpt(&m) } else { m }
}

/// Which kind of config a TOML text looks like, judged by its top-level
/// keys; `None` when it shares keys with neither (or both equally).
pub fn detect_kind(text: &str) -> Option<shipped::Kind> {
    const CHIP: &[&str] = &["clock", "tile", "noc", "hbm", "dram3d", "system", "cost"];
    const MODEL: &[&str] = &[
        "layers",
        "hidden",
        "heads",
        "kv_heads",
        "head_dim",
        "ffn",
        "vocab",
        "experts",
        "top_k",
        "dtype",
        "tied_embeddings",
        "shared_experts",
        "shared_ffn",
        "dense_layers",
        "dense_ffn",
        "mla",
    ];
    // Top-level keys: from the parsed table, or, when the text is not valid
    // TOML (an integer too large, a syntax error), from its lines, so the
    // error is reported by the right schema.
    let keys: Vec<String> = match toml::from_str::<toml::Table>(text) {
        Ok(table) => table.keys().cloned().collect(),
        Err(_) => {
            let mut keys = Vec::new();
            let mut top = true;
            for line in text.lines() {
                let l = line.split('#').next().unwrap_or("").trim();
                if let Some(t) = l.strip_prefix('[') {
                    top = false;
                    let name = t.trim_start_matches('[').split(['.', ']']).next().unwrap_or("").trim();
                    keys.push(name.to_string());
                } else if let (true, Some((k, _))) = (top, l.split_once('=')) {
                    keys.push(k.trim().to_string());
                }
            }
            keys
        }
    };
    let chip = keys.iter().filter(|k| CHIP.contains(&k.as_str())).count();
    let model = keys.iter().filter(|k| MODEL.contains(&k.as_str())).count();
    match chip.cmp(&model) {
        std::cmp::Ordering::Greater => Some(shipped::Kind::Chip),
        std::cmp::Ordering::Less => Some(shipped::Kind::Model),
        std::cmp::Ordering::Equal => None,
    }
}

/// Locates a validation failure at its field's value in the TOML text.
pub fn locate(file: &str, text: &str, inv: Invalid) -> ConfigError {
    let loc = field_offset(text, &inv.field)
        .map(|off| Location::at_offset(file, text, off))
        .unwrap_or_else(|| Location::file(file));
    ConfigError { loc, kind: ConfigErrorKind::Invalid { field: inv.field, message: inv.message } }
}

/// Byte offset of the field at dotted `path` (its key; array elements as
/// `[i]`), or of the deepest enclosing table that exists.
fn field_offset(text: &str, path: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut best = None;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some(t) = table else { break };
        let Some((k, v)) = t.iter().find(|(k, _)| k.get_ref().as_ref() == key) else { break };
        best = Some(k.span().start);
        let mut value = v.get_ref();
        if let (Some(i), DeValue::Array(a)) = (index, value)
            && let Some(e) = a.get(i)
        {
            best = Some(e.span().start);
            value = e.get_ref();
        }
        table = match value {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    best
}

/// Reads a file for a config loader (`-`: standard input), at most
/// `MAX_CONFIG_BYTES`; text that is not UTF-8 is an error at the line and
/// column of the first bad byte.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    let name = path.display().to_string();
    let f = crate::fileio::open_input(path)
        .map_err(|e| ConfigError { loc: Location::file(&name), kind: ConfigErrorKind::Io(e.to_string()) })?;
    read_from(&name, f)
}

/// `read` of any reader; `name` stands for the file in messages.
pub fn read_from(name: &str, f: impl std::io::Read) -> Result<String, ConfigError> {
    use std::io::Read;
    let err = |kind| ConfigError { loc: Location::file(name), kind };
    let limit = crate::limits::MAX_CONFIG_BYTES;
    let mut bytes = Vec::new();
    f.take(limit + 1).read_to_end(&mut bytes).map_err(|e| err(ConfigErrorKind::Io(e.to_string())))?;
    let bytes = if bytes.len() as u64 > limit { None } else { Some(bytes) };
    let Some(bytes) = bytes else {
        return Err(err(ConfigErrorKind::Io(format!(
            "the file is larger than {} (arch/limits.md); is it a config?",
            crate::units::human_bytes(limit as f64)
        ))));
    };
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..good]).into_owned();
        ConfigError {
            loc: Location::at_offset(name, &text, good),
            kind: ConfigErrorKind::Parse(format!(
                "the file is not UTF-8 text: byte {good} is {:#04x} (TOML configs are UTF-8)",
                e.as_bytes()[good]
            )),
        }
    })
}
