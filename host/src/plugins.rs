//! The component host: one wasmtime engine, a cache of precompiled components,
//! the capability-checked host interfaces, and per-call limits.
//!
//! [`PluginHost::load`] turns a `.wasm` component into a [`LoadedPlugin`]
//! (compiled once, cached on disk by content digest and engine settings);
//! [`PluginHost::call`] runs one `run` call in a fresh store with its own
//! deadline, memory cap and grants, and returns the output together with the
//! CRM changes the action buffered.

mod bindings;
mod cache;
mod call;
mod engine;
mod grants;
mod host;
pub mod limits;
mod sandbox;
mod session;
mod state;
mod stdio;
mod warm;

pub use call::{CallError, CallOutcome, CallRequest, LogLine};
pub use engine::{HostSettings, LoadedPlugin, PluginHost};
pub use grants::{Capability, Grants, GrantsError};
pub use limits::Limits;
pub use session::CrmSession;

/// What an action said about itself (its `describe` export).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Manifest {
    /// Stable id, such as "create-invoice".
    pub id: String,
    /// Semantic version.
    pub version: String,
    /// Human title.
    pub title: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the output.
    pub output_schema: serde_json::Value,
    /// Capabilities it asks for.
    pub capabilities: Vec<Capability>,
    /// The hosts it wants to reach with `http.fetch` (empty if none).
    pub http_hosts: Vec<String>,
}
