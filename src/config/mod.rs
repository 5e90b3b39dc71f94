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
    toml::from_str(text).map_err(|e| {
        let loc = match e.span() {
            Some(span) => Location::at_offset(file, text, span.start),
            None => Location::file(file),
        };
        ConfigError { loc, kind: ConfigErrorKind::Parse(plain_serde_message(e.message().trim())) }
    })
}

/// Rewrites serde's type jargon into the words the config docs use.
fn plain_serde_message(m: &str) -> String {
    let mut m = m.replace("expected u64", "expected a non-negative integer");
    m = m.replace("expected u32", "expected a non-negative integer");
    m = m.replace("expected f64", "expected a number");
    if let Some(rest) = m.strip_prefix("missing field ") {
        m = format!("missing required field {rest} (arch/configs.md lists every field)");
    }
    m
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
    ];
    let table: toml::Table = toml::from_str(text).ok()?;
    let chip = table.keys().filter(|k| CHIP.contains(&k.as_str())).count();
    let model = table.keys().filter(|k| MODEL.contains(&k.as_str())).count();
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

/// Reads a file for a config loader.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        loc: Location::file(path.display().to_string()),
        kind: ConfigErrorKind::Io(e.to_string()),
    })
}
