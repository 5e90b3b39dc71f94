//! The configs shipped in configs/, embedded at build time (see build.rs),
//! and resolution of a command-line name-or-path to config text.

use super::{ConfigError, ConfigErrorKind};
use crate::diag::Location;
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/shipped.rs"));

/// What kind of config a name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Chip,
    Model,
}

impl Kind {
    pub fn table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Chip => CHIPS,
            Kind::Model => MODELS,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chip => "chip",
            Kind::Model => "model",
        }
    }
}

/// Finds a shipped config by name.
pub fn get(kind: Kind, name: &str) -> Option<&'static str> {
    kind.table().iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Names of the shipped configs of a kind.
pub fn names(kind: Kind) -> Vec<&'static str> {
    kind.table().iter().map(|(n, _)| *n).collect()
}

/// Resolves `arg` (a shipped name, or a path to a .toml file) to a display
/// name for messages and the config text.
pub fn resolve(kind: Kind, arg: &str) -> Result<(String, String), ConfigError> {
    let looks_like_path = arg == "-" || arg.contains('/') || arg.ends_with(".toml") || Path::new(arg).exists();
    if !looks_like_path {
        if let Some(text) = get(kind, arg) {
            let dir = match kind {
                Kind::Chip => "chips",
                Kind::Model => "models",
            };
            return Ok((format!("configs/{dir}/{arg}.toml"), text.to_string()));
        }
        return Err(ConfigError {
            loc: Location::file(arg),
            kind: ConfigErrorKind::UnknownName {
                what: kind.name(),
                name: crate::limits::excerpt(arg),
                known: names(kind).join(", "),
            },
        });
    }
    let text = super::read(Path::new(arg))?;
    Ok((arg.to_string(), text))
}
