//! `tilesim compile`, `roofline` and `compare`.

use super::{CliError, CompareArgs, CompileArgs, RooflineArgs, WorkloadArgs};
use std::process::ExitCode;
use tilesim::chip::Chip;
use tilesim::compiler::{self, PlanRequest, Workload, WorkloadSpec};
use tilesim::dtype::Dtype;
use tilesim::model::Model;
use tilesim::report::compare::{Comparison, Row};
use tilesim::trace::{self, Format};

/// Parses a data-type flag.
pub fn dtype(flag: &str, s: &str) -> Result<Dtype, CliError> {
    s.parse().map_err(|e: String| CliError::Usage(format!("{flag}: {e}")))
}

pub fn workload(a: &WorkloadArgs, model: &Model) -> Result<Workload, CliError> {
    let spec = WorkloadSpec {
        phase: a.phase.into(),
        batch: a.batch,
        context: a.context,
        prompt: a.prompt,
        spec: a.spec,
        accept_rate: a.accept_rate,
        kv_keep: a.kv_keep,
        weights: a.weights_dtype.as_deref().map(|s| dtype("--weights-dtype", s)).transpose()?,
        kv: a.kv_dtype.as_deref().map(|s| dtype("--kv-dtype", s)).transpose()?,
        act: a.act_dtype.as_deref().map(|s| dtype("--act-dtype", s)).transpose()?,
    };
    spec.resolve(model).map_err(CliError::Usage)
}

/// The model, sliced to `--layers` if given.
pub fn sliced(m: Model, a: &WorkloadArgs) -> Result<Model, CliError> {
    match a.layers {
        Some(l) => m.first_layers(l).map_err(CliError::Usage),
        None => Ok(m),
    }
}

/// The plan flags; at most one `--strategy` (only `compare` takes several).
pub fn request(a: &WorkloadArgs) -> Result<PlanRequest, CliError> {
    if a.strategy.len() > 1 {
        return Err(CliError::Usage("--strategy: give one (only `compare` runs several side by side)".into()));
    }
    Ok(with_strategy(a, a.strategy.first().map(|&s| s.into())))
}

fn with_strategy(a: &WorkloadArgs, strategy: Option<compiler::Strategy>) -> PlanRequest {
    PlanRequest { tp: a.tp, pp: a.pp, ep: a.ep, steps: a.steps, strategy, regions: a.regions }
}

pub fn compile(a: &CompileArgs) -> Result<ExitCode, CliError> {
    super::not_input(&a.output, &[&a.model, &a.chip])?;
    let model = sliced(super::load_model(&a.model)?, &a.workload)?;
    let chip = super::load_chip(&a.chip)?;
    let w = workload(&a.workload, &model)?;
    let c = compiler::compile(&model, &chip, &w, &request(&a.workload)?)?;
    let format = if a.output.extension().is_some_and(|e| e == "tbin") { Format::Binary } else { Format::Text };
    let err = |e: std::io::Error| CliError::Output { path: a.output.display().to_string(), message: e.to_string() };
    let mut sink = trace::create(&a.output, format).map_err(err)?;
    c.write(sink.as_mut()).map_err(err)?;
    sink.finish().map_err(err)?;
    eprintln!("compiled {} -> {}", c.describe(), a.output.display());
    Ok(ExitCode::SUCCESS)
}

/// The analytic floor of one step of `w` on `chip`: bytes and FLOPs from
/// the model shape over the plan's chips' peak rates.
pub fn floor(model: &Model, chip: &Chip, w: &Workload, req: &PlanRequest) -> Result<Row, CliError> {
    Ok(Row::planned(model, chip, w, req)?)
}

pub fn roofline(a: &RooflineArgs) -> Result<ExitCode, CliError> {
    let model = sliced(super::load_model(&a.model)?, &a.workload)?;
    let chip = super::load_chip(&a.chip)?;
    let w = workload(&a.workload, &model)?;
    let row = floor(&model, &chip, &w, &request(&a.workload)?)?;
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&row).expect("serialises")))?;
    } else {
        super::out(&row.floor_table())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn compare(a: &CompareArgs) -> Result<ExitCode, CliError> {
    let model = sliced(super::load_model(&a.model)?, &a.workload)?;
    let w = workload(&a.workload, &model)?;
    let strategies: Vec<Option<compiler::Strategy>> = if a.workload.strategy.is_empty() {
        vec![None]
    } else {
        a.workload.strategy.iter().map(|&s| Some(s.into())).collect()
    };
    let mut rows = Vec::new();
    for name in &a.chips {
        let chip = super::load_chip(name)?;
        for &s in &strategies {
            rows.push(Row::evaluate(&model, &chip, &w, &with_strategy(&a.workload, s), true)?);
        }
    }
    let cmp = Comparison { model: model.name.clone(), workload: w.describe(), rows };
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&cmp).expect("serialises")))?;
    } else {
        super::out(&cmp.table())?;
    }
    Ok(ExitCode::SUCCESS)
}
