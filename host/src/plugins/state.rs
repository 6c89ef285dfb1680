//! The data of one call's store: WASI context, limits, grants, the CRM
//! session and what the call has logged.

use super::bindings::WitError;
use super::call::LogLine;
use super::grants::{Capability, Grants};
use super::limits::Limits;
use super::session::CrmSession;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Caps linear memory and table growth, and remembers whether the cap was hit
/// so the failure can be reported as a memory failure rather than a trap.
#[derive(Debug)]
pub struct MemoryCap {
    /// The most bytes of linear memory allowed.
    pub max_bytes: usize,
    /// The largest size the action tried to grow to past the cap.
    pub refused: Option<usize>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Everything a call's host functions can reach.
pub struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) plugin_id: String,
    pub(crate) grants: Grants,
    pub(crate) config: Arc<BTreeMap<String, String>>,
    pub(crate) session: Option<CrmSession>,
    pub(crate) http: reqwest::Client,
    pub(crate) started: Instant,
    pub(crate) limits: Limits,
    pub(crate) idempotency_key: String,
    pub(crate) mails_sent: u32,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) log_bytes: usize,
    pub(crate) logs_dropped: usize,
}

impl CallState {
    /// `Ok` if the call holds `cap`, else `denied` naming it.
    pub(crate) fn require(&self, cap: Capability) -> Result<(), WitError> {
        if self.grants.has(cap) {
            Ok(())
        } else {
            Err(WitError::Denied(format!(
                "capability `{cap}` is not granted to action `{}`",
                self.plugin_id
            )))
        }
    }

    /// The CRM session, or `failed` when the call has none (during `describe`).
    pub(crate) fn session(&mut self) -> Result<&mut CrmSession, WitError> {
        self.session.as_mut().ok_or_else(|| {
            WitError::Failed("the CRM is not available while describing an action".into())
        })
    }

    /// The time left before the call's deadline.
    pub(crate) fn time_left(&self) -> std::time::Duration {
        self.limits.deadline.saturating_sub(self.started.elapsed())
    }

    /// Keeps a log line within the call's log budget.
    pub(crate) fn log(&mut self, level: &'static str, message: String) {
        if self.log_bytes + message.len() > self.limits.log_bytes {
            self.logs_dropped += 1;
            return;
        }
        self.log_bytes += message.len();
        tracing::debug!(plugin = %self.plugin_id, level, "{message}");
        self.logs.push(LogLine { level, message });
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
