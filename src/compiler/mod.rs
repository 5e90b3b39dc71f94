//! The compiler: a model and a workload onto a chip config, as an
//! instruction trace for every tile (arch/compiler.md).
//!
//! `plan` picks the parallel plan and checks the fit; `gemm` picks how each
//! matrix multiply spreads over a chip's tiles; `lower` turns the layer
//! into per-tile instruction streams; `analytic` holds the closed-form
//! totals every trace must add up to. Traces are generated one tile at a
//! time and streamed to the output.

pub mod analytic;
pub mod gemm;
mod lower;
pub mod plan;
pub mod regions;
pub mod tree;
pub mod workload;

pub use lower::Compiled;
pub use plan::{Home, Plan, PlanRequest, Strategy};
pub use workload::{Phase, Workload, WorkloadSpec};

use crate::chip::Chip;
use crate::model::Model;

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{0}")]
    Workload(String),
    #[error("impossible plan: {0}")]
    Plan(String),
    #[error("{0}")]
    DoesNotFit(String),
    /// The mapping cannot yet lower this workload on this chip (a buffer
    /// it would need is larger than the tile has).
    #[error("not implemented: {0}")]
    Unsupported(String),
}

/// Plans and lowers `model` running `workload` on `chip`.
pub fn compile<'a>(
    model: &'a Model,
    chip: &'a Chip,
    workload: &'a Workload,
    req: &PlanRequest,
) -> Result<Compiled<'a>, CompileError> {
    workload.validate().map_err(CompileError::Workload)?;
    check_types(chip, workload)?;
    let plan = plan::choose(model, workload, chip, req)?;
    let c = Compiled::new(model, chip, workload, plan)?;
    c.check_against_chip()?;
    Ok(c)
}

/// The matrix unit must have a path for the weight and KV types: its own
/// rate, or a `tile.runs_as` mapping the config states (never silently
/// another type's rate).
pub fn check_types(chip: &Chip, w: &Workload) -> Result<(), CompileError> {
    for (flag, d) in [("--weights-dtype", w.weights), ("--kv-dtype", w.kv)] {
        if chip.tile.mac_path(d).is_none() {
            return Err(CompileError::Workload(format!(
                "`{}` has no matrix-unit path for {d} ({flag}): it runs {}. Choose one of those types, or, if the part \
                 runs {d} on one of them, say so in the chip config (tile.runs_as = {{ {d} = \"TYPE\" }}) with its source",
                chip.name,
                chip.tile.describe_rates()
            )));
        }
    }
    Ok(())
}
