//! `tilesim plot`: a line chart (SVG) from a CSV table such as a sweep's.

use super::CliError;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use tilesim::report::{csv, plot};

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// CSV file with a header line (`tilesim sweep` output); `-` for standard input.
    pub input: PathBuf,
    /// Column for the x axis (e.g. batch).
    #[arg(long)]
    pub x: String,
    /// Column for the y axis (e.g. tokens_per_second).
    #[arg(long)]
    pub y: String,
    /// Columns whose values name the lines (comma-separated; default: one line).
    #[arg(long, value_delimiter = ',')]
    pub series: Vec<String>,
    /// Keep only rows where COLUMN has VALUE (repeat the flag).
    #[arg(long = "where", value_name = "COLUMN=VALUE")]
    pub filters: Vec<String>,
    /// Logarithmic x axis.
    #[arg(long)]
    pub log_x: bool,
    /// Logarithmic y axis.
    #[arg(long)]
    pub log_y: bool,
    /// Chart title (default: "Y vs X").
    #[arg(long)]
    pub title: Option<String>,
    /// Output SVG file.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(a: &PlotArgs) -> Result<ExitCode, CliError> {
    let name = a.input.display().to_string();
    super::not_input(&a.output, &[&name])?;
    let table = csv::read(&a.input).map_err(|(line, m)| match line {
        Some(line) => CliError::Usage(format!("{name}:{line}: {m}")),
        None => CliError::Usage(format!("{name}: {m}")),
    })?;
    let filters = a
        .filters
        .iter()
        .map(|f| match f.split_once('=') {
            Some((c, v)) => Ok((c.to_string(), v.to_string())),
            None => Err(CliError::Usage(format!("--where takes COLUMN=VALUE, found `{f}`"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sel = plot::Select {
        x: a.x.clone(),
        y: a.y.clone(),
        series: a.series.clone(),
        filters,
        log_x: a.log_x,
        log_y: a.log_y,
        title: a.title.clone(),
    };
    let (chart, skipped) = plot::from_table(&table, &sel).map_err(|m| CliError::Usage(format!("{name}: {m}")))?;
    let err = |e: std::io::Error| super::output_error(&a.output, e);
    let mut f = super::output(&a.output, &[&name])?;
    std::io::Write::write_all(&mut f, chart.svg().as_bytes()).map_err(err)?;
    f.commit().map_err(err)?;
    let points: usize = chart.series.iter().map(|s| s.points.len()).sum();
    eprintln!(
        "plotted {points} points on {} line(s) -> {}{}",
        chart.series.len(),
        a.output.display(),
        if skipped > 0 { format!(" ({skipped} rows without a {} value left out)", a.y) } else { String::new() }
    );
    Ok(ExitCode::SUCCESS)
}
