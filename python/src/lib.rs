//! The `tilesim` Python module: the command line's commands as functions
//! taking its flags as keyword arguments and returning its JSON reports as
//! Python objects (python/README.md). Every function calls
//! `tilesim::api`, the library code the `tilesim` binary calls, and
//! serialises the same report types the binary prints with `--json`, so the
//! two cannot drift apart. Errors raise `tilesim.TilesimError` with the
//! command line's message and the file, line and column it names. The GIL
//! is released while a command compiles and simulates, so Python threads
//! can run points in parallel.

// Errors are built once, on a cold path; their size does not matter (as in
// the main crate).
#![allow(clippy::result_large_err)]

use ::tilesim::api::{self, SweepOptions, WorkloadOptions};
use ::tilesim::compiler::{Phase, Strategy};
use ::tilesim::config::overrides::Override;
use ::tilesim::config::shipped::Kind;
use ::tilesim::sweep::Shard;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use serde_json::Value;
use std::path::PathBuf;

pyo3::create_exception!(
    tilesim,
    TilesimError,
    PyException,
    "A tilesim command failed. `str(e)` is the message the command line prints after `error: `; the attributes \
     `message`, `kind` (config, trace, usage, compile, does-not-fit, deadlock, simulation, output), `exit_code` \
     (the command line's exit status), and `file`, `line`, `column` (None when the error is about no file) say \
     more."
);

/// The library error as a `TilesimError`.
fn raise(py: Python<'_>, e: api::Error) -> PyErr {
    let message = e.to_string();
    let err = TilesimError::new_err(message.clone());
    let v = err.value(py);
    let loc = e.location();
    let set = || -> PyResult<()> {
        v.setattr("message", &message)?;
        v.setattr("kind", e.kind())?;
        v.setattr("exit_code", e.exit_code())?;
        v.setattr("file", loc.map(|l| l.file.clone()))?;
        v.setattr("line", loc.and_then(|l| l.line))?;
        v.setattr("column", loc.and_then(|l| l.column))?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// A report as Python objects: its JSON (the same serde serialisation the
/// command line prints) as dicts, lists, strings, numbers, booleans and
/// None, keys in the report's order. Written here rather than with
/// pythonize: a crate pinned to one pyo3 version for a 20-line walk.
fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                PyInt::new(py, i).into_any()
            } else if let Some(u) = n.as_u64() {
                PyInt::new(py, u).into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

fn report<'py, T: serde::Serialize>(py: Python<'py>, r: &T) -> PyResult<Bound<'py, PyAny>> {
    let v = serde_json::to_value(r).map_err(|e| PyValueError::new_err(format!("report does not serialise: {e}")))?;
    to_py(py, &v)
}

/// Keyword arguments, taken one by one; any left over is a TypeError naming
/// what the function accepts.
struct Kwargs<'py> {
    func: &'static str,
    dict: Option<Bound<'py, PyDict>>,
    accepted: Vec<&'static str>,
}

impl<'py> Kwargs<'py> {
    fn new(func: &'static str, dict: Option<&Bound<'py, PyDict>>) -> Self {
        Kwargs { func, dict: dict.cloned(), accepted: Vec::new() }
    }

    fn raw(&mut self, key: &'static str) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.accepted.push(key);
        match &self.dict {
            Some(d) => Ok(d.get_item(key)?.filter(|v| !v.is_none())),
            None => Ok(None),
        }
    }

    fn get<T>(&mut self, key: &'static str) -> PyResult<Option<T>>
    where
        for<'a> T: FromPyObject<'a, 'py>,
        for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
    {
        match self.raw(key)? {
            Some(v) => v.extract::<T>().map(Some).map_err(|e| {
                let e: PyErr = e.into();
                PyTypeError::new_err(format!("{}(): `{key}`: {e}", self.func))
            }),
            None => Ok(None),
        }
    }

    /// A value or a list of values (a sweep axis).
    fn list<T>(&mut self, key: &'static str) -> PyResult<Option<Vec<T>>>
    where
        for<'a> T: FromPyObject<'a, 'py>,
        for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
    {
        let Some(v) = self.raw(key)? else { return Ok(None) };
        if !v.is_instance_of::<PyString>()
            && let Ok(items) = v.extract::<Vec<Bound<'py, PyAny>>>()
        {
            return items
                .iter()
                .map(|x| {
                    x.extract::<T>().map_err(|e| {
                        let e: PyErr = e.into();
                        PyTypeError::new_err(format!("{}(): `{key}`: {e}", self.func))
                    })
                })
                .collect::<PyResult<Vec<T>>>()
                .map(Some);
        }
        v.extract::<T>().map(|x| Some(vec![x])).map_err(|e| {
            let e: PyErr = e.into();
            PyTypeError::new_err(format!("{}(): `{key}`: {e}", self.func))
        })
    }

    fn finish(self) -> PyResult<()> {
        if let Some(d) = &self.dict {
            for k in d.keys() {
                let k: String = k.extract()?;
                if !self.accepted.contains(&k.as_str()) {
                    let mut names = self.accepted.clone();
                    names.sort();
                    names.dedup();
                    return Err(PyTypeError::new_err(format!(
                        "{}() got an unexpected keyword argument `{k}` (it takes: {})",
                        self.func,
                        names.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

fn phase(s: &str) -> PyResult<Phase> {
    match s.trim() {
        "decode" => Ok(Phase::Decode),
        "prefill" => Ok(Phase::Prefill),
        o => Err(PyValueError::new_err(format!("phase: `{o}` is not one of decode, prefill"))),
    }
}

fn strategy(s: &str) -> PyResult<Strategy> {
    Strategy::parse(s.trim())
        .ok_or_else(|| PyValueError::new_err(format!("strategy: `{}` is not one of memory, root, tiled", s.trim())))
}

/// The workload keywords of compile, roofline and compare.
fn workload(kw: &mut Kwargs<'_>) -> PyResult<WorkloadOptions> {
    let d = WorkloadOptions::default();
    let mut strategies: Vec<Strategy> = Vec::new();
    if let Some(s) = kw.get::<String>("strategy")? {
        strategies.push(strategy(&s)?);
    }
    if let Some(list) = kw.list::<String>("strategies")? {
        for s in list {
            strategies.push(strategy(&s)?);
        }
    }
    Ok(WorkloadOptions {
        phase: kw.get::<String>("phase")?.map(|s| phase(&s)).transpose()?.unwrap_or(d.phase),
        batch: kw.get("batch")?.unwrap_or(d.batch),
        context: kw.get("context")?,
        prompt: kw.get("prompt")?.unwrap_or(d.prompt),
        tp: kw.get("tp")?,
        pp: kw.get("pp")?,
        ep: kw.get("ep")?,
        spec: kw.get("spec")?.unwrap_or(d.spec),
        accept_rate: kw.get("accept_rate")?.unwrap_or(d.accept_rate),
        kv_keep: kw.get("kv_keep")?.unwrap_or(d.kv_keep),
        steps: kw.get("steps")?,
        layers: kw.get("layers")?,
        weights_dtype: kw.get("weights_dtype")?,
        kv_dtype: kw.get("kv_dtype")?,
        act_dtype: kw.get("act_dtype")?,
        strategies,
        regions: kw.get("regions")?,
    })
}

/// A Python value as the text of a `--set` value: strings as given (read
/// as TOML, else a bare string, as on the command line), numbers and
/// booleans as TOML, lists as TOML arrays.
fn set_text(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_instance_of::<PyString>() {
        return v.extract::<String>();
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(b.is_true().to_string());
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(v.extract::<i64>()?.to_string());
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(format!("{:?}", v.extract::<f64>()?));
    }
    if let Ok(items) = v.extract::<Vec<Bound<'_, PyAny>>>() {
        let parts: Vec<String> = items
            .iter()
            .map(|x| {
                if x.is_instance_of::<PyString>() {
                    serde_json::to_string(&x.extract::<String>()?).map_err(|e| PyValueError::new_err(e.to_string()))
                } else {
                    set_text(x)
                }
            })
            .collect::<PyResult<_>>()?;
        return Ok(format!("[{}]", parts.join(", ")));
    }
    Err(PyTypeError::new_err(format!("overrides: cannot use {} as a config value", v.repr()?)))
}

/// `overrides={key: value}` (None unsets) and `unset=[key, ...]`.
fn overrides(kw: &mut Kwargs<'_>) -> PyResult<Vec<Override>> {
    let mut set = Vec::new();
    let mut unset: Vec<String> = kw.list("unset")?.unwrap_or_default();
    if let Some(d) = kw.get::<Bound<'_, PyDict>>("overrides")? {
        for (k, v) in d.iter() {
            let k: String = k.extract()?;
            if v.is_none() {
                unset.push(k);
            } else {
                set.push(format!("{k}={}", set_text(&v)?));
            }
        }
    }
    api::overrides(&set, &unset).map_err(|e| Python::attach(|py| raise(py, e)))
}

/// Compiles a model and workload into a trace file (`tilesim compile`).
///
/// `model` and `chip` are shipped names, paths (a model may be a Hugging
/// Face config.json) or TOML text; `output` the trace file (.tbin:
/// binary). Keywords: the workload flags (`batch`, `context`, `phase`,
/// `prompt`, `spec`, `accept_rate`, `kv_keep`, `tp`, `pp`, `ep`, `steps`,
/// `layers`, `weights_dtype`, `kv_dtype`, `act_dtype`, `strategy`,
/// `regions`), `overrides` (dict; None unsets) and `unset` (list). Returns
/// a dict: model, chip, workload, plan, description, output.
#[pyfunction]
#[pyo3(signature = (model, chip, output, **kwargs))]
fn compile<'py>(
    py: Python<'py>,
    model: String,
    chip: String,
    output: PathBuf,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut kw = Kwargs::new("compile", kwargs);
    let opts = workload(&mut kw)?;
    let set = overrides(&mut kw)?;
    kw.finish()?;
    let r = py.detach(|| api::compile(&model, &chip, &set, &opts, &output)).map_err(|e| raise(py, e))?;
    report(py, &r)
}

/// The analytic floor of a model and workload on a chip (`tilesim
/// roofline --json`). Keywords as for `compile`.
#[pyfunction]
#[pyo3(signature = (model, chip, **kwargs))]
fn roofline<'py>(
    py: Python<'py>,
    model: String,
    chip: String,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut kw = Kwargs::new("roofline", kwargs);
    let opts = workload(&mut kw)?;
    let set = overrides(&mut kw)?;
    kw.finish()?;
    let r = py.detach(|| api::roofline_report(&model, &chip, &set, &opts)).map_err(|e| raise(py, e))?;
    report(py, &r)
}

/// Compiles and simulates one model and workload on several chips
/// (`tilesim compare --json`): a dict with `model`, `workload` and `rows`,
/// one per chip and strategy, each with a `status` (ok, does-not-fit,
/// error). `chips` defaults to the command's default set. Keywords as for
/// `compile`, plus `strategies` (a list).
#[pyfunction]
#[pyo3(signature = (model, chips=None, **kwargs))]
fn compare<'py>(
    py: Python<'py>,
    model: String,
    chips: Option<Bound<'py, PyAny>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let chips: Vec<String> = match chips {
        None => Vec::new(),
        Some(c) if c.is_instance_of::<PyString>() => vec![c.extract()?],
        Some(c) => c.extract()?,
    };
    let mut kw = Kwargs::new("compare", kwargs);
    let opts = workload(&mut kw)?;
    let set = overrides(&mut kw)?;
    kw.finish()?;
    let r = py.detach(|| api::compare(&model, &chips, &set, &opts, |_| {})).map_err(|e| raise(py, e))?;
    report(py, &r)
}

/// Simulates a trace file (`tilesim run --json`). `chip` defaults to the
/// shipped chip the trace's header names; `timeline` writes a Perfetto
/// timeline there; `model` is the config of the model the trace was
/// compiled from when it is not shipped (the floor is rebuilt from it).
/// Keywords: `overrides`, `unset`.
#[pyfunction]
#[pyo3(signature = (trace, chip=None, timeline=None, model=None, **kwargs))]
fn run<'py>(
    py: Python<'py>,
    trace: PathBuf,
    chip: Option<String>,
    timeline: Option<PathBuf>,
    model: Option<String>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut kw = Kwargs::new("run", kwargs);
    let set = overrides(&mut kw)?;
    kw.finish()?;
    let r = py
        .detach(|| api::run(&trace, chip.as_deref(), &set, timeline.as_deref(), model.as_deref()))
        .map_err(|e| raise(py, e))?;
    report(py, &r)
}

/// A sweep (`tilesim sweep --format json`): the rows, each a dict with the
/// sweep's columns in order, ready for `pandas.DataFrame(rows)`.
///
/// `models` and `chips` are a name or a list. Every workload keyword takes
/// a value or a list (an axis): `batch=[1, 8, 64]`, `context`, `phase`,
/// `prompt`, `spec`, `accept_rate`, `kv_keep`, `tp`, `pp`, `ep`,
/// `weights_dtype`, `kv_dtype`, `act_dtype`; `steps` and `layers` one
/// value. `overrides={key: value or [values]}` (an axis per key; None
/// unsets), `unset=[keys]`, `floor_only`, `jobs` (threads; default all
/// cores), `shard="K/N"`.
#[pyfunction]
#[pyo3(signature = (models, chips, **kwargs))]
fn sweep<'py>(
    py: Python<'py>,
    models: Bound<'py, PyAny>,
    chips: Bound<'py, PyAny>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let names = |v: &Bound<'py, PyAny>| -> PyResult<Vec<String>> {
        if v.is_instance_of::<PyString>() { Ok(vec![v.extract()?]) } else { v.extract() }
    };
    let d = SweepOptions::default();
    let mut kw = Kwargs::new("sweep", kwargs);
    let phases = match kw.list::<String>("phase")? {
        Some(v) => v.iter().map(|s| phase(s)).collect::<PyResult<_>>()?,
        None => d.phase.clone(),
    };
    let mut set = Vec::new();
    let mut unset: Vec<String> = kw.list("unset")?.unwrap_or_default();
    if let Some(dict) = kw.get::<Bound<'_, PyDict>>("overrides")? {
        for (k, v) in dict.iter() {
            let k: String = k.extract()?;
            if v.is_none() {
                unset.push(k);
            } else if !v.is_instance_of::<PyString>()
                && let Ok(items) = v.extract::<Vec<Bound<'py, PyAny>>>()
            {
                let texts: Vec<String> = items.iter().map(set_text).collect::<PyResult<_>>()?;
                set.push(format!("{k}={}", texts.join("|")));
            } else {
                set.push(format!("{k}={}", set_text(&v)?));
            }
        }
    }
    let opts = SweepOptions {
        models: names(&models)?,
        chips: names(&chips)?,
        phase: phases,
        batch: kw.list("batch")?.unwrap_or(d.batch),
        context: kw.list("context")?.unwrap_or(d.context),
        prompt: kw.list("prompt")?.unwrap_or(d.prompt),
        spec: kw.list("spec")?.unwrap_or(d.spec),
        accept_rate: kw.list("accept_rate")?.unwrap_or(d.accept_rate),
        kv_keep: kw.list("kv_keep")?.unwrap_or(d.kv_keep),
        tp: kw.list("tp")?.unwrap_or(d.tp),
        pp: kw.list("pp")?.unwrap_or(d.pp),
        ep: kw.list("ep")?.unwrap_or(d.ep),
        steps: kw.get("steps")?,
        layers: kw.get("layers")?,
        weights_dtype: kw.list("weights_dtype")?.unwrap_or_default(),
        kv_dtype: kw.list("kv_dtype")?.unwrap_or_default(),
        act_dtype: kw.list("act_dtype")?.unwrap_or_default(),
        set,
        unset,
    };
    let floor_only = kw.get::<bool>("floor_only")?.unwrap_or(false);
    let jobs = match kw.get::<usize>("jobs")? {
        Some(j) => j,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()).min(::tilesim::limits::MAX_JOBS as usize),
    };
    let shard = match kw.get::<String>("shard")? {
        Some(s) => s.parse::<Shard>().map_err(|e| PyValueError::new_err(format!("shard: {e}")))?,
        None => Shard::ALL,
    };
    kw.finish()?;
    let rows = py.detach(|| api::sweep(&opts, !floor_only, jobs, shard)).map_err(|e| raise(py, e))?;
    report(py, &rows)
}

/// The shipped chip configs: a list of dicts with `name` and `description`.
#[pyfunction]
fn chips<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
    report(py, &api::shipped(Kind::Chip))
}

/// The shipped model configs: a list of dicts with `name` and `description`.
#[pyfunction]
fn models<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
    report(py, &api::shipped(Kind::Model))
}

/// A Hugging Face config.json as the text of a tilesim model config
/// (`tilesim import-model`); `name` defaults to the directory's name.
#[pyfunction]
#[pyo3(signature = (config, name=None))]
fn import_model(py: Python<'_>, config: PathBuf, name: Option<String>) -> PyResult<String> {
    let file = config.display().to_string();
    let text = ::tilesim::config::read(&config).map_err(|e| raise(py, e.into()))?;
    ::tilesim::config::hf::import(&file, &text, name.as_deref()).map_err(|e| raise(py, e.into()))
}

#[pymodule(name = "tilesim")]
mod module {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::{chips, compare, compile, import_model, models, roofline, run, sweep};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("TilesimError", m.py().get_type::<super::TilesimError>())?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
