//! The process engine: process definitions in TOML, their validation, and
//! durable runs of their steps.
//!
//! - [`definition`]: the file format and its structural checks;
//! - [`flow`]: where each step goes next, and the checks of the step graph;
//! - [`validate`]: checks against installed actions and entity fields;
//! - [`catalog`]: the installed actions with their grants;
//! - [`expr`] and [`scope`]: minijinja conditions and templates, and what they see;
//! - [`runtime`]: the engine, its process versions and step commits;
//!   `triggers` starts runs, `step` runs one step;
//! - [`approvals`]: approval steps and the decisions that continue their runs;
//! - [`workers`]: the loops that keep it going.

pub mod approvals;
mod batch;
pub mod catalog;
mod committer;
pub mod definition;
pub mod diagnostics;
pub mod direct;
pub mod expr;
pub mod flow;
mod input_check;
mod params;
pub mod runtime;
pub mod scope;
mod step;
mod triggers;
pub mod validate;
pub mod workers;

pub use crate::clock::{Clock, ShiftedClock, SystemClock};
pub use catalog::Catalog;
pub use diagnostics::{Diagnostic, Diagnostics};
pub use runtime::{Engine, Installed, StartError};
