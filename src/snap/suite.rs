//! The suite file (arch/snap.md): one `[[case]]` table per case, read as
//! strictly as a chip config — an unknown key or a bad value is an error at
//! its line and column — and resolved before any case runs: every model and
//! chip loaded (with its `set` overrides), every workload checked, every
//! trace's header read. Paths in the suite are relative to its directory.

use crate::chip::Chip;
use crate::compiler::{Phase, PlanRequest, Strategy, Workload, WorkloadSpec};
use crate::config::overrides::{Override, OverrideSet};
use crate::config::shipped::{self, Kind};
use crate::config::{self, ConfigError, ConfigErrorKind, invalid, locate, parse_toml};
use crate::diag::Location;
use crate::dtype::Dtype;
use crate::model::Model;
use crate::trace::TraceError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file: nothing but cases.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    #[serde(default)]
    case: Vec<CaseFile>,
}

/// One `[[case]]`. Workload keys are spelled as compile's long flags
/// (`accept-rate`, `weights-dtype`), so a command line carries over as is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CaseFile {
    name: String,
    model: Option<String>,
    trace: Option<String>,
    chip: String,
    #[serde(default)]
    set: OverrideSet,
    phase: Option<PhaseName>,
    batch: Option<u64>,
    context: Option<u64>,
    prompt: Option<u64>,
    spec: Option<u64>,
    accept_rate: Option<f64>,
    kv_keep: Option<f64>,
    tp: Option<u32>,
    pp: Option<u32>,
    ep: Option<u32>,
    steps: Option<u64>,
    strategy: Option<StrategyName>,
    regions: Option<u32>,
    layers: Option<u64>,
    weights_dtype: Option<Dtype>,
    kv_dtype: Option<Dtype>,
    act_dtype: Option<Dtype>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PhaseName {
    Decode,
    Prefill,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StrategyName {
    Memory,
    Root,
    Tiled,
}

/// Every key of a case, as written in the suite.
pub const KEYS: [&str; 22] = [
    "name",
    "model",
    "trace",
    "chip",
    "set",
    "phase",
    "batch",
    "context",
    "prompt",
    "spec",
    "accept-rate",
    "kv-keep",
    "tp",
    "pp",
    "ep",
    "steps",
    "strategy",
    "regions",
    "layers",
    "weights-dtype",
    "kv-dtype",
    "act-dtype",
];

impl CaseFile {
    /// The workload keys this case sets (those that only a `model` case may).
    fn workload_keys(&self) -> Vec<&'static str> {
        let set = [
            ("phase", self.phase.is_some()),
            ("batch", self.batch.is_some()),
            ("context", self.context.is_some()),
            ("prompt", self.prompt.is_some()),
            ("spec", self.spec.is_some()),
            ("accept-rate", self.accept_rate.is_some()),
            ("kv-keep", self.kv_keep.is_some()),
            ("tp", self.tp.is_some()),
            ("pp", self.pp.is_some()),
            ("ep", self.ep.is_some()),
            ("steps", self.steps.is_some()),
            ("strategy", self.strategy.is_some()),
            ("regions", self.regions.is_some()),
            ("layers", self.layers.is_some()),
            ("weights-dtype", self.weights_dtype.is_some()),
            ("kv-dtype", self.kv_dtype.is_some()),
            ("act-dtype", self.act_dtype.is_some()),
        ];
        set.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect()
    }
}

/// A loaded suite: its cases, each ready to run.
#[derive(Debug)]
pub struct Suite {
    /// The suite file as the caller named it (messages, JUnit).
    pub file: String,
    pub cases: Vec<Case>,
}

/// One case, resolved.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique in the suite; names the snapshot file.
    pub name: String,
    /// The chip, with `set` applied.
    pub chip: Chip,
    /// The overrides applied, sorted by key.
    pub set: Vec<Override>,
    pub input: Input,
}

/// What a case runs on its chip.
#[derive(Clone, Debug)]
pub enum Input {
    /// A model compiled for the chip (`model = ...` and workload keys).
    /// (The model is boxed: with its optional MLA and expert fields it is
    /// much larger than the trace variant.)
    Model { model: Box<Model>, workload: Workload, request: PlanRequest },
    /// A trace file, simulated as `tilesim run` does.
    Trace {
        path: PathBuf,
        /// The path as the suite writes it (stable across machines).
        shown: String,
    },
}

impl Case {
    /// A model case, for library users who build chips and models in code.
    pub fn model(name: &str, chip: Chip, model: Model, workload: Workload, request: PlanRequest) -> Case {
        Case {
            name: name.to_string(),
            chip,
            set: Vec::new(),
            input: Input::Model { model: Box::new(model), workload, request },
        }
    }
}

/// Why a suite cannot be loaded: an error in the suite or in a config it
/// names (`ConfigError`, located), or in a trace's header.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Trace(#[from] TraceError),
}

/// Most characters in a case name.
pub const MAX_NAME: usize = 100;

/// Reads and resolves the suite at `path`; relative paths inside it are
/// taken from its directory.
pub fn load(path: &Path) -> Result<Suite, SuiteError> {
    let file = path.display().to_string();
    let text = config::read(path)?;
    parse(&file, &text, path.parent().unwrap_or(Path::new("")))
}

/// The directory of a suite's accepted snapshots: `DIR/NAME.snapshots` for
/// `DIR/NAME.toml` (or for `DIR/NAME` without that extension).
pub fn snapshot_dir(suite: &Path) -> PathBuf {
    let stem = match suite.extension() {
        Some(e) if e == "toml" => suite.file_stem(),
        _ => suite.file_name(),
    };
    let mut name = stem.map(|s| s.to_os_string()).unwrap_or_else(|| "suite".into());
    name.push(".snapshots");
    suite.with_file_name(name)
}

/// Parses and resolves suite `text`, named `file` in messages, whose
/// relative paths start at `dir`.
pub fn parse(file: &str, text: &str, dir: &Path) -> Result<Suite, SuiteError> {
    let raw: SuiteFile = parse_toml(file, text).map_err(hint)?;
    if raw.case.is_empty() {
        return Err(ConfigError {
            loc: Location::file(file),
            kind: ConfigErrorKind::Parse("the suite has no cases: add a `[[case]]` table (arch/snap.md)".into()),
        }
        .into());
    }
    let mut cases: Vec<Case> = Vec::new();
    for (i, c) in raw.case.into_iter().enumerate() {
        let err = |key: &str, message: String| locate(file, text, invalid(format!("case[{i}].{key}"), message));
        check_name(&c.name).map_err(|m| err("name", m))?;
        if let Some(j) = cases.iter().position(|o| o.name.eq_ignore_ascii_case(&c.name)) {
            return Err(err(
                "name",
                format!(
                    "`{}` is taken by case[{j}] (`{}`); names must differ, ignoring case, since they name files",
                    c.name, cases[j].name
                ),
            )
            .into());
        }

        let (chip_file, chip_text) = resolve(Kind::Chip, &c.chip, dir).map_err(|m| err("chip", m))?;
        let plain = config::chip::load_str(&chip_file, &chip_text)?;
        let chip = if c.set.0.is_empty() {
            plain
        } else {
            config::chip::load_with(&chip_file, &chip_text, &c.set.0)
                .map_err(|e| err("set", format!("does not give a valid chip from {chip_file}: {}", e.kind)))?
        };

        let input = match (&c.model, &c.trace) {
            (None, None) => {
                return Err(locate(
                    file,
                    text,
                    invalid(
                        format!("case[{i}]"),
                        format!("(`{}`) needs `model` (to compile) or `trace` (to run a trace file)", c.name),
                    ),
                )
                .into());
            }
            (Some(_), Some(_)) => {
                return Err(err("trace", "and `model` are both given; a case runs one or the other".into()).into());
            }
            (None, Some(t)) => {
                if let Some(k) = c.workload_keys().first() {
                    return Err(err(
                        k,
                        "does not apply to a `trace` case: a trace's workload was fixed when it was compiled; remove \
                         it"
                        .into(),
                    )
                    .into());
                }
                let path = dir.join(t);
                if !path.is_file() {
                    return Err(err("trace", format!("`{}` is not a file", tidy(&path).display())).into());
                }
                // The header, to fail now on a file that is no trace.
                crate::trace::open(&path)?;
                Input::Trace { path, shown: t.clone() }
            }
            (Some(m), None) => {
                let (model_file, model_text) = resolve(Kind::Model, m, dir).map_err(|m| err("model", m))?;
                let mut model = config::model::load_str(&model_file, &model_text)?;
                if let Some(l) = c.layers {
                    model = model.first_layers(l).map_err(|m| err("layers", strip_flag(&m, "layers")))?;
                }
                for (key, v) in [("tp", c.tp), ("pp", c.pp), ("ep", c.ep)] {
                    if v == Some(0) {
                        return Err(err(key, "must be at least 1, found 0".into()).into());
                    }
                }
                if c.steps == Some(0) {
                    return Err(err("steps", "must be at least 1, found 0".into()).into());
                }
                let d = WorkloadSpec::default();
                let spec = WorkloadSpec {
                    phase: match c.phase {
                        None => d.phase,
                        Some(PhaseName::Decode) => Phase::Decode,
                        Some(PhaseName::Prefill) => Phase::Prefill,
                    },
                    batch: c.batch.unwrap_or(d.batch),
                    context: c.context,
                    prompt: c.prompt.unwrap_or(d.prompt),
                    spec: c.spec.unwrap_or(d.spec),
                    accept_rate: c.accept_rate.unwrap_or(d.accept_rate),
                    kv_keep: c.kv_keep.unwrap_or(d.kv_keep),
                    weights: c.weights_dtype,
                    kv: c.kv_dtype,
                    act: c.act_dtype,
                };
                let workload = spec.resolve(&model).map_err(|m| {
                    let (key, message) = place(&m);
                    match key {
                        Some(k) => err(k, message),
                        None => locate(file, text, invalid(format!("case[{i}]"), format!("(`{}`): {m}", c.name))),
                    }
                })?;
                let strategy = c.strategy.map(|s| match s {
                    StrategyName::Memory => Strategy::Memory,
                    StrategyName::Root => Strategy::Root,
                    StrategyName::Tiled => Strategy::Tiled,
                });
                let request =
                    PlanRequest { tp: c.tp, pp: c.pp, ep: c.ep, steps: c.steps, strategy, regions: c.regions };
                Input::Model { model: Box::new(model), workload, request }
            }
        };
        cases.push(Case { name: c.name, chip, set: c.set.0, input });
    }
    Ok(Suite { file: file.to_string(), cases })
}

/// A case name must make a plain file name on every system.
fn check_name(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.chars().count() <= MAX_NAME
        && !n.starts_with('.')
        && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_NAME} letters, digits, `-`, `_` or `.` (not first), since it names the snapshot \
             file; found `{n}`"
        ))
    }
}

/// Resolves a `model` or `chip` value: a path (it has a `/`, ends in
/// `.toml`, or names a file beside the suite) relative to `dir`, else a
/// shipped name. The message says what was wrong, for the caller to place
/// at the key.
fn resolve(kind: Kind, arg: &str, dir: &Path) -> Result<(String, String), String> {
    let joined = dir.join(arg);
    let is_path = arg.contains('/') || arg.contains('\\') || arg.ends_with(".toml") || joined.is_file();
    if !is_path {
        return match shipped::get(kind, arg) {
            Some(text) => {
                let sub = if kind == Kind::Chip { "chips" } else { "models" };
                Ok((format!("configs/{sub}/{arg}.toml"), text.to_string()))
            }
            None => Err(format!(
                "`{arg}` is no shipped {0} (`tilesim list` shows them) and no file beside the suite; a path to a {0} \
                 config is relative to the suite",
                kind.name()
            )),
        };
    }
    let shown = tidy(&joined).display().to_string();
    // As any config is read: at most `MAX_CONFIG_BYTES` (`/dev/zero` is
    // refused after 1 MiB, not read until memory runs out), UTF-8 or an
    // error at the first bad byte.
    match crate::config::read(&joined) {
        Ok(text) => Ok((shown, text)),
        Err(e) => match e.kind {
            crate::config::ConfigErrorKind::Io(m) => Err(format!("cannot read `{shown}`: {m}")),
            kind => Err(format!("cannot read `{shown}`: {kind}")),
        },
    }
}

/// `path` with `x/..` pairs taken out, for messages
/// (`suites/../chips/a.toml` is `chips/a.toml`).
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

/// Which key a workload message is about, and the message without the
/// flag it starts with: `--batch must be at least 1` is `batch`, `must be
/// at least 1`. `None` when no key can be told.
fn place(m: &str) -> (Option<&'static str>, String) {
    for key in KEYS {
        if let Some(rest) = m.strip_prefix(&format!("--{key} ")) {
            return (Some(key), rest.to_string());
        }
    }
    if let Some(rest) = m.strip_prefix("the acceptance rate ") {
        return (Some("accept-rate"), rest.to_string());
    }
    for key in KEYS {
        if m.contains(&format!("--{key}")) {
            return (Some(key), m.to_string());
        }
    }
    (None, m.to_string())
}

/// `m` without a leading `--KEY `.
fn strip_flag(m: &str, key: &str) -> String {
    m.strip_prefix(&format!("--{key} ")).unwrap_or(m).to_string()
}

/// Adds a hint to serde's messages for the two likely slips: a workload key
/// spelled with `_` (the suite spells them as compile's flags, with `-`),
/// and `[case]` for `[[case]]`.
fn hint(mut e: ConfigError) -> ConfigError {
    if let ConfigErrorKind::Parse(m) = &mut e.kind {
        *m = m.replace("(arch/configs.md lists every field)", "(arch/snap.md lists every key)");
        if let Some(rest) = m.strip_prefix("unknown field `")
            && let Some((field, _)) = rest.split_once('`')
        {
            let dashed = field.replace('_', "-");
            if dashed != field && KEYS.contains(&dashed.as_str()) {
                m.push_str(&format!(" (suite keys are spelled as compile's flags: `{dashed}`)"));
            }
        } else if m.contains("expected a sequence") {
            m.push_str(" (write each case as a `[[case]]` table)");
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_here(text: &str) -> Result<Suite, String> {
        parse("suite.toml", text, Path::new("")).map_err(|e| e.to_string())
    }

    const BASE: &str = "[[case]]\nname = \"a\"\nmodel = \"llama-2-7b\"\nchip = \"mini-mesh\"\nlayers = 1\n";

    #[test]
    fn a_case_resolves_with_defaults_and_flag_spelling() {
        let s = parse_here(&format!(
            "{BASE}context = 128\naccept-rate = 0.5\nspec = 2\nset = {{ \"hbm.bandwidth\" = \"512 GB/s\" }}\n"
        ))
        .unwrap();
        let c = &s.cases[0];
        assert_eq!(c.name, "a");
        assert_eq!(c.set.len(), 1);
        let Input::Model { model, workload, request } = &c.input else { panic!("a model case") };
        assert_eq!(model.layers, 1);
        assert_eq!((workload.batch, workload.context, workload.spec), (1, 128, 2));
        assert_eq!(workload.accept_rate, 0.5);
        assert_eq!(request.tp, None);
    }

    #[test]
    fn errors_are_placed_at_their_key() {
        let cases = [
            (format!("{BASE}accept_rate = 0.5\n"), "suite.toml:6:1:", "spelled as compile's flags: `accept-rate`"),
            (format!("{BASE}batch = 0\n"), "suite.toml:6:1:", "`case[0].batch` must be at least 1"),
            (format!("{BASE}kv-keep = 2.0\n"), "suite.toml:6:1:", "`case[0].kv-keep`"),
            (format!("{BASE}accept-rate = 2.0\n"), "suite.toml:6:1:", "`case[0].accept-rate` must be in [0, 1]"),
            (format!("{BASE}weights-dtype = \"fp9\"\n"), "suite.toml:6:17:", "expected a data type"),
            (format!("{BASE}phase = \"decod\"\n"), "suite.toml:6:9:", "unknown variant `decod`"),
            (format!("{BASE}tp = 0\n"), "suite.toml:6:1:", "`case[0].tp` must be at least 1"),
            (BASE.replace("layers = 1", "layers = 99"), "suite.toml:5:1:", "must be in 1..=32"),
            (BASE.replace("mini-mesh", "no-such-chip"), "suite.toml:4:1:", "is no shipped chip"),
            (BASE.replace("\"a\"", "\"a/b\""), "suite.toml:2:1:", "names the snapshot file"),
            (format!("{BASE}{}", BASE.replace("\"a\"", "\"A\"")), "suite.toml:7:1:", "is taken by case[0]"),
            (format!("{BASE}trace = \"x.trace\"\n"), "suite.toml:6:1:", "both given"),
            (format!("{BASE}set = {{ \"hbm.nonsense\" = 1 }}\n"), "suite.toml:6:1:", "unknown field `nonsense`"),
            (format!("{BASE}colour = 1\n"), "suite.toml:6:1:", "unknown field `colour`"),
            ("[case]\nname = \"a\"\n".to_string(), "suite.toml:1:1:", "`[[case]]` table"),
        ];
        for (text, at, says) in cases {
            let e = parse_here(&text).map(|_| ()).unwrap_err();
            assert!(e.starts_with(at) && e.contains(says), "{text}\n-> {e}\n(expected {at} ... {says})");
        }
        let e = parse_here("[[case]]\nname = \"a\"\nchip = \"h100\"\n").unwrap_err();
        assert!(e.starts_with("suite.toml:1:") && e.contains("needs `model`"), "{e}");
        let e = parse_here("# nothing\n").unwrap_err();
        assert!(e.contains("no cases"), "{e}");
        let e = parse_here("[[case]]\nname = \"t\"\ntrace = \"x.trace\"\nchip = \"h100\"\nbatch = 2\n").unwrap_err();
        assert!(e.starts_with("suite.toml:5:1:") && e.contains("does not apply to a `trace` case"), "{e}");
    }

    #[test]
    fn tidy_paths() {
        assert_eq!(tidy(Path::new("a/b/../../c/x.toml")), Path::new("c/x.toml"));
        assert_eq!(tidy(Path::new("./x.toml")), Path::new("x.toml"));
        assert_eq!(tidy(Path::new("../x.toml")), Path::new("../x.toml"));
        assert_eq!(tidy(Path::new("/a/../b")), Path::new("/b"));
    }

    #[test]
    fn snapshot_dirs_sit_beside_the_suite() {
        assert_eq!(snapshot_dir(Path::new("a/b/suite.toml")), Path::new("a/b/suite.snapshots"));
        assert_eq!(snapshot_dir(Path::new("suite")), Path::new("suite.snapshots"));
        assert_eq!(snapshot_dir(Path::new("x.suite")), Path::new("x.suite.snapshots"));
    }
}
