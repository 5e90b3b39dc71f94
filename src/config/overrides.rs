//! Chip-config overrides, `--set KEY=VALUE` (arch/sweep.md): a dotted key
//! of the chip TOML and a value that replaces (or adds) it before the file
//! is validated, so an override is checked exactly like an edited file.
//! `--unset KEY` (or `--set KEY=`) removes a key instead, for a change that
//! leaves another key meaningless (a switch's `system.switch_latency` after
//! `system.topology=ring`).

use super::{ConfigError, ConfigErrorKind};
use crate::diag::Location;
use std::fmt;

/// One `KEY=VALUE` override of a chip config.
#[derive(Clone, Debug)]
pub struct Override {
    key: String,
    /// The value as given, for labels (`system.link_bandwidth=450 GB/s`);
    /// empty for an unset.
    text: String,
    /// The new value; `None` removes the key.
    value: Option<toml::Value>,
    /// An unset given as `--set KEY=` (not `--unset KEY`): messages echo
    /// it as it was typed.
    set_empty: bool,
}

/// Two overrides are the same change however an unset was spelled.
impl PartialEq for Override {
    fn eq(&self, other: &Override) -> bool {
        (&self.key, &self.text, &self.value) == (&other.key, &other.text, &other.value)
    }
}

impl Override {
    /// `key` is a dotted path of bare TOML keys (`system.link_bandwidth`);
    /// `text` is parsed as a TOML value (`8`, `true`, `"900 GB/s"`, `[4, 2]`)
    /// and, when it is not one, taken as a bare string (`450 GB/s`, `torus`).
    pub fn new(key: &str, text: &str) -> Result<Override, String> {
        check_key(key)?;
        let text = text.trim();
        if text.is_empty() {
            return Err(format!("`{key}=` has an empty value (a lone `{key}=` unsets the key)"));
        }
        let value = text.parse::<toml::Value>().unwrap_or_else(|_| toml::Value::String(text.to_string()));
        Ok(Override { key: key.to_string(), text: text.to_string(), value: Some(value), set_empty: false })
    }

    /// An override that removes `key` from the config (`--unset KEY`, or
    /// `--set KEY=`).
    pub fn unset(key: &str) -> Result<Override, String> {
        check_key(key)?;
        Ok(Override { key: key.to_string(), text: String::new(), value: None, set_empty: false })
    }

    /// `unset`, given as `--set KEY=` (and echoed so).
    fn set_empty(key: &str) -> Result<Override, String> {
        Ok(Override { set_empty: true, ..Override::unset(key)? })
    }

    /// Parses one `KEY=VALUE` (an empty value unsets the key).
    pub fn parse(arg: &str) -> Result<Override, String> {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(format!("--set `{arg}`: expected KEY=VALUE (e.g. system.chips=4), or KEY= to unset it"));
        };
        if value.trim().is_empty() {
            Override::set_empty(key.trim()).map_err(|e| format!("--set {e}"))
        } else {
            Override::new(key.trim(), value).map_err(|e| format!("--set {e}"))
        }
    }

    /// Whether this override removes its key.
    pub fn is_unset(&self) -> bool {
        self.value.is_none()
    }

    /// An override whose value is already TOML (a snap suite's `set`
    /// table, arch/snap.md). It is labelled as it would be given to
    /// `--set`: a string as itself, any other value as TOML.
    pub fn from_value(key: &str, value: toml::Value) -> Result<Override, String> {
        check_key(key)?;
        let text = match &value {
            toml::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        Ok(Override { key: key.to_string(), text, value: Some(value), set_empty: false })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value as given on the command line.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.text)
    }
}

/// Checks `key` is a dotted path of bare TOML keys.
fn check_key(key: &str) -> Result<(), String> {
    let bare = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let max = crate::limits::MAX_CONFIG_NESTING;
    if key.split('.').all(bare) {
        // Each part but the last is a table: no deeper than a config may nest.
        let parts = key.split('.').count();
        if parts > max {
            return Err(format!(
                "`{}` has {parts} parts: a key nests no more than {max} tables deep (arch/limits.md)",
                crate::limits::excerpt(key)
            ));
        }
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not a dotted key of the chip config (like `system.link_bandwidth`: letters, digits, `_` and \
             `-`, parts joined by `.`)"
        ))
    }
}

/// A TOML table of overrides, as a snap suite's `set` (arch/snap.md):
/// `set = { "hbm.bandwidth" = "1.6 TB/s" }`. A key may be dotted, and
/// nested tables are flattened into dotted keys, so `set = { hbm = {
/// bandwidth = "1.6 TB/s" } }` is the same override; every other value is
/// the field's new value, as it would be written in the chip file. Keys
/// come out sorted, so the overrides' order does not depend on how the
/// table was written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OverrideSet(pub Vec<Override>);

impl<'de> serde::Deserialize<'de> for OverrideSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<Override>) -> Result<(), String> {
            for (k, v) in table {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match v {
                    toml::Value::Table(inner) => flatten(&key, inner, out)?,
                    v => out.push(Override::from_value(&key, v.clone())?),
                }
            }
            Ok(())
        }
        let table = toml::Table::deserialize(d)?;
        let mut out = Vec::new();
        flatten("", &table, &mut out).map_err(serde::de::Error::custom)?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(w) = out.windows(2).find(|w| w[0].key == w[1].key) {
            return Err(serde::de::Error::custom(format!("sets `{}` twice", w[0].key)));
        }
        Ok(OverrideSet(out))
    }
}

/// Parses `KEY=V1|V2|...` into one override per value, in the order given;
/// `KEY=` alone is one override that unsets the key.
pub fn parse_axis(arg: &str) -> Result<Vec<Override>, String> {
    let Some((key, values)) = arg.split_once('=') else {
        return Err(format!("--set `{arg}`: expected KEY=V1|V2|... (e.g. system.chips=4|8)"));
    };
    if values.trim().is_empty() {
        return Ok(vec![Override::set_empty(key.trim()).map_err(|e| format!("--set {e}"))?]);
    }
    values.split('|').map(|v| Override::new(key.trim(), v)).collect::<Result<_, _>>().map_err(|e| format!("--set {e}"))
}

/// How a config with overrides is named in messages:
/// `configs/chips/dgx-h100.toml with --set system.chips=4`.
pub fn display_name(file: &str, overrides: &[Override]) -> String {
    let mut name = file.to_string();
    for (i, o) in overrides.iter().enumerate() {
        name.push_str(if i == 0 { " with " } else { " " });
        // An unset as it was typed: `--unset KEY`, or `--set KEY=`.
        if o.is_unset() && !o.set_empty {
            name.push_str("--unset ");
            name.push_str(&o.key);
        } else {
            name.push_str("--set ");
            name.push_str(&o.to_string());
        }
    }
    name
}

/// `text` with every override applied, re-serialised as TOML; missing
/// tables on the way to a key are created. `name` is the
/// [`display_name`] used in errors.
pub fn apply(name: &str, text: &str, overrides: &[Override]) -> Result<String, ConfigError> {
    let err = |field: &str, message: String| ConfigError {
        loc: Location::file(name),
        kind: ConfigErrorKind::Invalid { field: field.to_string(), message },
    };
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
        loc: Location::file(name),
        kind: ConfigErrorKind::Parse(e.message().trim().to_string()),
    })?;
    for o in overrides {
        let parts: Vec<&str> = o.key.split('.').collect();
        let (last, path) = parts.split_last().expect("a key has at least one part");
        let mut table = &mut doc;
        for (i, part) in path.iter().enumerate() {
            let entry = table.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    let field = parts[..=i].join(".");
                    return Err(err(&field, format!("is not a table, so `{}` cannot be set", o.key)));
                }
            };
        }
        match &o.value {
            Some(v) => {
                table.insert(last.to_string(), v.clone());
            }
            None => {
                if table.remove(*last).is_none() {
                    return Err(err(&o.key, "is not in the config, so it cannot be unset".to_string()));
                }
            }
        }
    }
    toml::to_string(&doc).map_err(|e| err(&overrides[0].key, format!("cannot be written back as TOML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_nests_no_deeper_than_a_config() {
        let sixteen = format!("{}a", "a.".repeat(15));
        assert!(Override::parse(&format!("{sixteen}=1")).is_ok());
        let deep = format!("{}a", "a.".repeat(4999));
        let e = Override::parse(&format!("{deep}=1")).unwrap_err();
        assert!(e.contains("has 5000 parts") && e.len() < 300, "{e}");
    }

    #[test]
    fn values_are_toml_else_bare_strings() {
        let a = parse_axis("system.link_bandwidth=450 GB/s|\"900 GB/s\"|8|true").unwrap();
        let v: Vec<&toml::Value> = a.iter().map(|o| o.value.as_ref().unwrap()).collect();
        assert_eq!(v[0], &toml::Value::String("450 GB/s".into()));
        assert_eq!(v[1], &toml::Value::String("900 GB/s".into()));
        assert_eq!(v[2], &toml::Value::Integer(8));
        assert_eq!(v[3], &toml::Value::Boolean(true));
        assert_eq!(a[0].to_string(), "system.link_bandwidth=450 GB/s");
    }

    #[test]
    fn bad_axes_are_refused() {
        assert!(parse_axis("system.chips").is_err());
        assert!(parse_axis("system..chips=1").is_err());
        assert!(parse_axis("system.chips=1||2").is_err());
        assert!(parse_axis("=1").is_err());
        assert!(Override::parse("system.chips").is_err());
    }

    #[test]
    fn an_empty_value_unsets_the_key() {
        let a = parse_axis("system.switch_latency=").unwrap();
        assert_eq!(a.len(), 1);
        assert!(a[0].is_unset());
        assert!(Override::parse("system.switch_latency= ").unwrap().is_unset());
        let out = apply("f", "x = 1\n[a]\nq = 3\nr = 4\n", &a[..0]).unwrap();
        assert!(out.contains("q = 3"));
        let out = apply("f", "x = 1\n[a]\nq = 3\nr = 4\n", &[Override::unset("a.q").unwrap()]).unwrap();
        let t: toml::Table = out.parse().unwrap();
        assert!(t["a"].get("q").is_none() && t["a"]["r"].as_integer() == Some(4));
        let e = apply("f", "x = 1\n", &[Override::unset("y").unwrap()]).unwrap_err();
        assert_eq!(e.to_string(), "f: `y` is not in the config, so it cannot be unset");
        assert_eq!(
            display_name("c.toml", &[Override::unset("a.b").unwrap(), Override::new("x", "1").unwrap()]),
            "c.toml with --unset a.b --set x=1"
        );
        // `--set KEY=` is echoed as typed, not as `--unset KEY`.
        let typed = [Override::parse("a.b=").unwrap(), parse_axis("c=").unwrap().remove(0)];
        assert_eq!(display_name("c.toml", &typed), "c.toml with --set a.b= --set c=");
        assert_eq!(typed[0], Override::unset("a.b").unwrap());
    }

    #[test]
    fn a_set_table_flattens_into_sorted_dotted_keys() {
        #[derive(serde::Deserialize)]
        struct F {
            set: OverrideSet,
        }
        let f: F = toml::from_str("set = { \"system.chips\" = 4, hbm = { bandwidth = \"1 TB/s\" } }").unwrap();
        let shown: Vec<String> = f.set.0.iter().map(|o| o.to_string()).collect();
        assert_eq!(shown, ["hbm.bandwidth=1 TB/s", "system.chips=4"]);
        let twice = toml::from_str::<F>("set = { \"hbm.bandwidth\" = 1, hbm = { bandwidth = 2 } }");
        assert!(twice.err().unwrap().to_string().contains("sets `hbm.bandwidth` twice"));
        assert!(toml::from_str::<F>("set = { \"hbm..x\" = 1 }").is_err());
    }

    #[test]
    fn apply_sets_and_creates_keys() {
        let o = [Override::new("a.b.c", "2").unwrap(), Override::new("x", "y z").unwrap()];
        let out = apply("f", "x = 1\n[a]\nq = 3\n", &o).unwrap();
        let t: toml::Table = out.parse().unwrap();
        assert_eq!(t["a"]["b"]["c"].as_integer(), Some(2));
        assert_eq!(t["a"]["q"].as_integer(), Some(3));
        assert_eq!(t["x"].as_str(), Some("y z"));
        let e = apply("f with --set x.y=1", "x = 1\n", &[Override::new("x.y", "1").unwrap()]).unwrap_err();
        assert_eq!(e.to_string(), "f with --set x.y=1: `x` is not a table, so `x.y` cannot be set");
    }
}
