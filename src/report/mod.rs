//! Rendering of results for people and scripts: summaries of configs,
//! simulation reports as tables and JSON.

pub mod compare;
pub mod describe;
pub mod run;
pub mod timeline;
