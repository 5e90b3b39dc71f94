//! `tilesim compile`, `roofline` and `compare`.

use super::{CliError, CompareArgs, CompileArgs, Phase, RooflineArgs, WorkloadArgs};
use std::process::ExitCode;
use tilesim::chip::Chip;
use tilesim::compiler::{self, PlanRequest, Workload, analytic};
use tilesim::dtype::Dtype;
use tilesim::model::Model;
use tilesim::report::compare::{Comparison, Row};
use tilesim::trace::{self, Format};

pub fn workload(a: &WorkloadArgs, model: &Model) -> Result<Workload, CliError> {
    let dtype = |flag: &str, v: &Option<String>, default: Dtype| -> Result<Dtype, CliError> {
        match v {
            None => Ok(default),
            Some(s) => s.parse().map_err(|e: String| CliError::Usage(format!("{flag}: {e}"))),
        }
    };
    let phase = match a.phase {
        Phase::Decode => compiler::Phase::Decode,
        Phase::Prefill => compiler::Phase::Prefill,
    };
    let w = Workload {
        phase,
        batch: a.batch,
        context: a.context.unwrap_or(if phase == compiler::Phase::Decode { 4096 } else { 0 }),
        prompt: a.prompt,
        spec: a.spec,
        accept_rate: a.accept_rate,
        kv_keep: a.kv_keep,
        weights: dtype("--weights-dtype", &a.weights_dtype, model.dtype)?,
        kv: dtype("--kv-dtype", &a.kv_dtype, model.dtype)?,
        act: Dtype::Fp16,
    };
    w.validate().map_err(CliError::Usage)?;
    Ok(w)
}

/// The model, sliced to `--layers` if given.
pub fn sliced(mut m: Model, a: &WorkloadArgs) -> Result<Model, CliError> {
    if let Some(l) = a.layers {
        if l == 0 || l > m.layers {
            return Err(CliError::Usage(format!("--layers must be in 1..={} for {}, found {l}", m.layers, m.name)));
        }
        m.layers = l;
        m.name = format!("{}[{l}-layers]", m.name);
    }
    Ok(m)
}

pub fn request(a: &WorkloadArgs) -> PlanRequest {
    PlanRequest { tp: a.tp, pp: a.pp, ep: a.ep, steps: a.steps }
}

pub fn compile(a: &CompileArgs) -> Result<ExitCode, CliError> {
    let model = sliced(super::load_model(&a.model)?, &a.workload)?;
    let chip = super::load_chip(&a.chip)?;
    let w = workload(&a.workload, &model)?;
    let c = compiler::compile(&model, &chip, &w, &request(&a.workload))?;
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
    let plan = compiler::plan::choose(model, w, chip, req)?;
    let t = analytic::for_plan(model, w, &plan);
    Ok(Row::floor(chip, w, &plan, t))
}

pub fn roofline(a: &RooflineArgs) -> Result<ExitCode, CliError> {
    let model = sliced(super::load_model(&a.model)?, &a.workload)?;
    let chip = super::load_chip(&a.chip)?;
    let w = workload(&a.workload, &model)?;
    let row = floor(&model, &chip, &w, &request(&a.workload))?;
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
    let mut rows = Vec::new();
    for name in &a.chips {
        let chip = super::load_chip(name)?;
        let mut row = floor(&model, &chip, &w, &request(&a.workload))?;
        let c = compiler::compile(&model, &chip, &w, &request(&a.workload))?;
        row.simulate(&c)?;
        rows.push(row);
    }
    let cmp = Comparison { model: model.name.clone(), workload: w.describe(), rows };
    if a.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&cmp).expect("serialises")))?;
    } else {
        super::out(&cmp.table())?;
    }
    Ok(ExitCode::SUCCESS)
}
