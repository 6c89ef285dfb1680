//! robota: a CRM automation host whose business-process actions are sandboxed
//! WebAssembly components.
//!
//! - [`clock`]: the one clock and the company's time zone;
//! - [`access`]: who sees and changes what, by role;
//! - [`crm`]: entity kinds, fields, validation and money rules;
//! - [`store`]: the database behind a seam (SQLite now);
//! - [`plugins`]: the component host with limits and capability grants;
//! - [`engine`]: process definitions and their durable runs;
//! - [`market`]: actions as signed OCI packages, installed with consent;
//! - [`mail`]: the SMTP dispatcher of the mail outbox;
//! - [`api`]: the HTTP API of `robota serve`;
//! - [`cli`]: the `robota` command line.

pub mod access;
pub mod api;
pub mod cli;
pub mod clock;
pub mod console;
pub mod crm;
pub mod engine;
pub mod mail;
pub mod market;
pub mod plugins;
pub mod store;
