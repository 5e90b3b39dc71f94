//! The errors a command can end with, and their exit statuses:
//! 2 for bad input or usage, 3 for a deadlocked trace, 4 for snapshots that
//! differ from the accepted ones (`tilesim snap`) or calibration figures
//! outside their tolerance (`tilesim validate --strict`), 1 for anything else (an
//! output file that cannot be written).

use tilesim::config::ConfigError;
use tilesim::trace::TraceError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Sim(#[from] tilesim::sim::SimError),
    #[error(transparent)]
    Compile(#[from] tilesim::compiler::CompileError),
    #[error("{count} of {total} files failed the check")]
    CheckFailed { count: usize, total: usize },
    #[error("{count} of {total} cases could not run")]
    CasesFailed { count: usize, total: usize },
    #[error(
        "{count} of {total} cases differ from their accepted snapshots (new or changed): review them with `tilesim \
         snap {suite} --review`, or accept them all with `--accept`"
    )]
    SnapshotsChanged { count: usize, total: usize, suite: String },
    #[error("{count} of {total} calibration benchmarks are outside their tolerance")]
    OutsideCalibration { count: usize, total: usize },
    #[error("cannot write {path}: {message}")]
    Output { path: String, message: String },
    /// `compare` where no chip could run the workload (each row says why).
    #[error("none of the {total} chips could run the workload ({fit} do not fit, {failed} failed; the rows say why)")]
    NoneRan { total: usize, fit: usize, failed: usize },
    #[error(transparent)]
    Serve(#[from] tilesim::serve::ServeError),
}

impl From<tilesim::api::Error> for CliError {
    fn from(e: tilesim::api::Error) -> Self {
        use tilesim::api::Error;
        match e {
            Error::Config(e) => CliError::Config(e),
            Error::Trace(e) => CliError::Trace(e),
            Error::Usage(m) => CliError::Usage(m),
            Error::Compile(e) => CliError::Compile(e),
            Error::Sim(e) => CliError::Sim(e),
            Error::Output { path, message } => CliError::Output { path, message },
        }
    }
}

impl From<tilesim::report::compare::PointError> for CliError {
    fn from(e: tilesim::report::compare::PointError) -> Self {
        use tilesim::report::compare::PointError;
        match e {
            PointError::Compile(e) => CliError::Compile(e),
            PointError::Sim(e) => CliError::Sim(e),
        }
    }
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_)
            | CliError::Trace(_)
            | CliError::Usage(_)
            | CliError::CheckFailed { .. }
            | CliError::CasesFailed { .. }
            | CliError::NoneRan { .. } => 2,
            CliError::SnapshotsChanged { .. } | CliError::OutsideCalibration { .. } => 4,
            CliError::Sim(e) => e.exit_code(),
            CliError::Compile(_) => 2,
            CliError::Output { .. } => 1,
            CliError::Serve(e) => e.exit_code(),
        }
    }
}
