//! Rendering of results for people and scripts: summaries of configs,
//! simulation reports as tables and JSON, CSV and SVG charts for sweeps.

pub mod compare;
pub mod csv;
pub mod describe;
pub mod energy;
pub mod plot;
pub mod run;
pub mod schema;
pub mod timeline;
