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

/// What one call's buffered changes may still take, and whether a write
/// went past it.
///
/// A change costs what the action sent for it plus what the host keeps of
/// it: the parsed change, the step's own copy of the record it wrote (reads
/// see it), and the bookkeeping around both.
#[derive(Debug)]
pub struct ChangeBudget {
    max_changes: usize,
    max_bytes: usize,
    changes: usize,
    bytes: usize,
    /// Why the call is over its budget, once it is: the call then fails
    /// whatever the action returns.
    pub(crate) exceeded: Option<String>,
}

/// Host bytes kept per byte an action sends for a write (the change as
/// given, the normalised record, JSON values' own overhead), measured with
/// `sandbox_memory` (about 2 KiB kept and 4 KiB at peak per 1 KiB create).
const HOST_BYTES_PER_SENT_BYTE: usize = 4;
/// Host bytes kept per change whatever its size (maps, ids, refs).
const HOST_BYTES_PER_CHANGE: usize = 1024;

impl ChangeBudget {
    /// A budget from a call's limits.
    pub fn new(limits: &Limits) -> ChangeBudget {
        ChangeBudget {
            max_changes: limits.changes,
            max_bytes: limits.change_bytes,
            changes: 0,
            bytes: 0,
            exceeded: None,
        }
    }

    /// `Ok` while the call is within its budget; once past it, every
    /// further write fails before it buffers anything.
    pub fn check(&self) -> Result<(), WitError> {
        match &self.exceeded {
            Some(why) => Err(WitError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    /// Takes one change of `sent` bytes from the budget, or fails naming the
    /// cap it would pass (and every later write fails the same way).
    pub fn charge(&mut self, sent: usize) -> Result<(), WitError> {
        self.check()?;
        let cost = sent
            .saturating_mul(HOST_BYTES_PER_SENT_BYTE)
            .saturating_add(HOST_BYTES_PER_CHANGE);
        let why = if self.changes + 1 > self.max_changes {
            Some(format!(
                "change limit exceeded: a call may buffer at most {} CRM changes (creates, updates, notes, links, files, mails, notifications) for its commit (split the work over steps, or raise `max_changes` in plugins.toml)",
                self.max_changes
            ))
        } else if self.bytes.saturating_add(cost) > self.max_bytes {
            Some(format!(
                "change limit exceeded: a call's buffered CRM changes may take at most {} bytes of host memory; {} changes took {} and the next needs {cost} (split the work over steps, or raise `max_change_bytes` in plugins.toml)",
                self.max_bytes, self.changes, self.bytes
            ))
        } else {
            None
        };
        if let Some(why) = why {
            self.exceeded = Some(why.clone());
            return Err(WitError::Failed(why));
        }
        self.changes += 1;
        self.bytes += cost;
        Ok(())
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
    pub(crate) budget: ChangeBudget,
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

    /// The CRM session for a write, unless the call is already past its
    /// change budget.
    pub(crate) fn writable(&mut self) -> Result<&mut CrmSession, WitError> {
        self.budget.check()?;
        self.session()
    }

    /// Charges a write that buffered one change of `sent` bytes to the
    /// call's budget. Past the budget the write fails, and so does the call
    /// (nothing it buffered is committed), whatever the action does next.
    pub(crate) fn charge<T>(
        &mut self,
        sent: usize,
        buffered: Result<T, crate::crm::CrmError>,
    ) -> Result<T, WitError> {
        let value = buffered?;
        self.budget.charge(sent)?;
        Ok(value)
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
