//! robota: a CRM automation host whose business-process actions are sandboxed
//! WebAssembly components.
//!
//! - [`crm`]: entity kinds, fields, validation and money rules;
//! - [`store`]: the database behind a seam (SQLite now);
//! - [`plugins`]: the component host with limits and capability grants;
//! - [`cli`]: the `robota` command line.

pub mod cli;
pub mod crm;
pub mod plugins;
pub mod store;
