//! One call: a fresh store with its limits and grants, instantiate from the
//! cached `InstancePre`, run, and turn every way it can end into a typed result.

use super::bindings::{ActionPre, WitContext, WitError, WitManifest};
use super::engine::{LoadedPlugin, PluginHost};
use super::grants::Grants;
use super::limits::Limits;
use super::sandbox::{FreshStore, start_deadline};
use super::session::CrmSession;
use super::state::CallState;
use super::stdio::CappedPipe;
use super::warm::RefillAfter;
use crate::crm::EntityRef;
use crate::crm::changes::Change;
use crate::store::Store;
use anyhow::Context as _;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One line an action logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// trace, debug, info, warn or error.
    pub level: &'static str,
    /// The text.
    pub message: String,
}

/// What to run.
pub struct CallRequest {
    /// The run this step belongs to.
    pub run_id: String,
    /// The step.
    pub step_id: String,
    /// Stable across retries of the step.
    pub idempotency_key: String,
    /// Which attempt, from 1.
    pub attempt: u32,
    /// The input, JSON text.
    pub input: String,
    /// What the admin granted.
    pub grants: Grants,
    /// The action's settings.
    pub config: Arc<BTreeMap<String, String>>,
    /// The limits of this call.
    pub limits: Limits,
    /// The CRM the action reads and writes.
    pub store: Store,
    /// Records the caller read from `store` for this call (a step's
    /// subject); the action's reads of them are answered from here.
    pub read: Vec<(EntityRef, Map<String, Value>)>,
}

/// A call that returned normally.
#[derive(Debug)]
pub struct CallOutcome {
    /// The output, parsed.
    pub output: serde_json::Value,
    /// The CRM changes to commit with the step.
    pub changes: Vec<Change>,
    /// The action's log.
    pub logs: Vec<LogLine>,
    /// Captured stdout (capped).
    pub stdout: String,
    /// Captured stderr (capped).
    pub stderr: String,
    /// How long the call took.
    pub elapsed: Duration,
}

/// Every way a call can fail. The action's own errors keep their kind, so
/// the engine can retry `transient` ones.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The action returned an error.
    #[error("{kind}: {message}")]
    Action {
        /// invalid-input, not-found, denied, conflict, transient or failed.
        kind: &'static str,
        /// The action's message.
        message: String,
    },
    /// The input is not acceptable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The call ran past its deadline.
    #[error("deadline exceeded: the action ran longer than {0:?}")]
    Deadline(Duration),
    /// The action tried to use more memory than its cap.
    #[error(
        "memory limit exceeded: the action tried to grow its memory to {tried} bytes; the cap is {cap} bytes"
    )]
    Memory {
        /// The cap.
        cap: usize,
        /// The size it asked for.
        tried: usize,
    },
    /// The action went past one of its call's caps: the changes it may
    /// buffer, or the data one host call may carry. The message names the cap.
    #[error("{0}")]
    Limit(String),
    /// The action's stack ran out (deep or endless recursion).
    #[error("stack overflow: {0}")]
    StackOverflow(String),
    /// The action trapped (a panic, an illegal operation); the message carries what it printed.
    #[error("the action crashed: {0}")]
    Trap(String),
    /// The output was too big.
    #[error("output too large: {size} bytes, the cap is {cap} bytes")]
    OutputTooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// The output is not JSON.
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    /// The host could not run the call.
    #[error("host error: {0:#}")]
    Host(anyhow::Error),
}

impl CallError {
    /// Whether retrying the step may help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CallError::Action {
                kind: "transient",
                ..
            } | CallError::Host(_)
        )
    }
}

/// The words each kind of failure starts with (its `Display`), and its
/// code: a run log keeps a failure as its words, and a client says the
/// code in its own language before them.
const KINDS: [(&str, &str); 14] = [
    ("deadline exceeded: ", "deadline"),
    ("memory limit exceeded: ", "memory"),
    ("stack overflow: ", "stack-overflow"),
    ("the action crashed: ", "crashed"),
    ("output too large: ", "output-too-large"),
    ("invalid output: ", "invalid-output"),
    ("host error: ", "host"),
    ("invalid input: ", "input-refused"),
    ("invalid-input: ", "invalid-input"),
    ("not-found: ", "not-found"),
    ("denied: ", "denied"),
    ("conflict: ", "conflict"),
    ("transient: ", "transient"),
    ("failed: ", "failed"),
];

impl CallError {
    /// The code of a failure from its words as a run log keeps them
    /// (`deadline`, `memory`, `crashed`, an action's own kind such as
    /// `not-found`…), if they are a call's failure.
    pub fn kind_of(words: &str) -> Option<&'static str> {
        KINDS
            .iter()
            .find(|(start, _)| words.starts_with(start))
            .map(|(_, code)| *code)
    }

    /// Every code [`CallError::kind_of`] gives.
    pub fn kinds() -> impl Iterator<Item = &'static str> {
        KINDS.iter().map(|(_, code)| *code)
    }
}

fn wit_error_parts(e: WitError) -> (&'static str, String) {
    match e {
        WitError::InvalidInput(m) => ("invalid-input", m),
        WitError::NotFound(m) => ("not-found", m),
        WitError::Denied(m) => ("denied", m),
        WitError::Conflict(m) => ("conflict", m),
        WitError::Transient(m) => ("transient", m),
        WitError::Failed(m) => ("failed", m),
    }
}

impl PluginHost {
    /// Makes one instance of `plugin` (a fresh store and instantiation) and
    /// drops it: the part of a call's cost that instantiating is (the
    /// `plugin_call` benchmark reports it).
    pub async fn instantiate_unused(&self, plugin: &LoadedPlugin) -> anyhow::Result<()> {
        self.instantiate(&plugin.pre).await
    }

    /// Whether `plugin`'s next call would find an instance made ahead and
    /// the background idle (always false for an action not kept warm).
    pub fn next_call_is_warm(&self, plugin: &LoadedPlugin) -> bool {
        plugin.warm.as_ref().is_some_and(|w| w.is_ready()) && !self.warmer.is_busy()
    }

    /// Instantiates `pre` in a fresh store and drops both.
    pub(crate) async fn instantiate(&self, pre: &ActionPre<CallState>) -> anyhow::Result<()> {
        let mut fresh = self.sandbox.store("(instantiating)", &Limits::default());
        pre.instantiate_async(&mut fresh.store)
            .await
            .map_err(anyhow::Error::from)?;
        Ok(())
    }

    /// Calls `describe` with no grants and default limits.
    pub(crate) async fn describe(&self, pre: &ActionPre<CallState>) -> anyhow::Result<WitManifest> {
        let limits = Limits::default();
        let FreshStore {
            mut store, stderr, ..
        } = self.sandbox.store("(describing)", &limits);
        let run = async {
            let action = pre.instantiate_async(&mut store).await?;
            action.call_describe(&mut store).await
        };
        match tokio::time::timeout(limits.deadline, run).await {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) => Err(anyhow::Error::from(e))
                .with_context(|| format!("describe failed; stderr: {}", stderr.contents())),
            Err(_) => anyhow::bail!("describe did not return within {:?}", limits.deadline),
        }
    }

    /// Runs one call of `plugin`.
    pub async fn call(
        &self,
        plugin: &LoadedPlugin,
        mut req: CallRequest,
    ) -> Result<CallOutcome, CallError> {
        let limits = req.limits;
        if req.input.len() > limits.input_bytes {
            return Err(CallError::InvalidInput(format!(
                "{} bytes, the cap is {} bytes",
                req.input.len(),
                limits.input_bytes
            )));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&req.input) {
            return Err(CallError::InvalidInput(format!("not JSON: {e}")));
        }
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| CallError::Host(e.into()))?;
        let started = Instant::now();
        // An instance made ahead under the same limits, else a new one.
        let (ready, stale) = match &plugin.warm {
            Some(slot) => slot.take(&limits),
            None => (None, None),
        };
        // Work handed to the background only when it keeps up (see `Warmer::is_busy`).
        let background = plugin.warm.as_ref().filter(|_| !self.warmer.is_busy());
        let _refill = background.map(|slot| RefillAfter {
            warmer: &self.warmer,
            slot,
            pre: &plugin.pre,
            plugin_id: &plugin.manifest.id,
            limits,
        });
        if let Some(stale) = stale {
            self.warmer.discard(stale.fresh.store);
        }
        let (fresh, ready_action) = match ready {
            Some(r) => (r.fresh, Some(r.action)),
            None => (self.sandbox.store(&plugin.manifest.id, &limits), None),
        };
        let FreshStore {
            mut store,
            stdout,
            stderr,
        } = fresh;
        // Host-call data counts from the call, not from the instantiation.
        store.set_hostcall_fuel(limits.host_call_bytes);
        {
            // Give the fresh store this call's grants and CRM.
            let state = store.data_mut();
            state.grants = req.grants.intersect(&plugin.wanted);
            state.config = req.config.clone();
            state.session = Some(CrmSession::with_read(
                req.store.clone(),
                std::mem::take(&mut req.read),
            ));
            state.idempotency_key = req.idempotency_key.clone();
        }
        start_deadline(&mut store, limits.deadline);
        let ctx = WitContext {
            run_id: req.run_id,
            step_id: req.step_id,
            idempotency_key: req.idempotency_key,
            attempt: req.attempt,
        };
        let result = {
            let run = async {
                let action = match ready_action {
                    Some(a) => a,
                    None => plugin.pre.instantiate_async(&mut store).await?,
                };
                action.call_run(&mut store, &ctx, &req.input).await
            };
            // The epoch deadline stops guest code; this timeout stops a call
            // blocked in a host function (a slow HTTP server, a WASI sleep).
            tokio::time::timeout(limits.deadline, run).await
        };
        let elapsed = started.elapsed();
        if let Some(why) = store.data_mut().budget.exceeded.take() {
            // Past its change budget the call fails, even if the action
            // caught the refused write and returned normally.
            return Err(CallError::Limit(why));
        }
        let output = match result {
            Err(_) => return Err(CallError::Deadline(limits.deadline)),
            Ok(Err(e)) => return Err(classify_trap(&e, store.data(), &stderr, limits)),
            Ok(Ok(Err(e))) => {
                let (kind, message) = wit_error_parts(e);
                return Err(CallError::Action { kind, message });
            }
            Ok(Ok(Ok(output))) => output,
        };
        if output.len() > limits.output_bytes {
            return Err(CallError::OutputTooLarge {
                size: output.len(),
                cap: limits.output_bytes,
            });
        }
        let output = serde_json::from_str(&output)
            .map_err(|e| CallError::InvalidOutput(format!("not JSON: {e}")))?;
        // The deadline covers everything the call does before its commit,
        // the host's work on its buffered writes included.
        if started.elapsed() > limits.deadline {
            return Err(CallError::Deadline(limits.deadline));
        }
        let state = store.data_mut();
        let mut logs = std::mem::take(&mut state.logs);
        if state.logs_dropped > 0 {
            logs.push(LogLine {
                level: "warn",
                message: format!(
                    "{} log lines dropped: the log cap is {} bytes",
                    state.logs_dropped, limits.log_bytes
                ),
            });
        }
        let changes = state
            .session
            .take()
            .map(CrmSession::into_changes)
            .unwrap_or_default();
        if background.is_some() {
            // Dropping resets the memory slot page by page: off the call's path.
            self.warmer.discard(store);
        }
        Ok(CallOutcome {
            output,
            changes,
            logs,
            stdout: stdout.contents(),
            stderr: stderr.contents(),
            elapsed,
        })
    }
}

/// Names why a call trapped: the memory cap, the deadline, or the guest's own
/// failure with what it printed to stderr (a Rust panic prints its message there).
fn classify_trap(
    e: &wasmtime::Error,
    state: &CallState,
    stderr: &CappedPipe,
    limits: Limits,
) -> CallError {
    if let Some(tried) = state.memory.refused {
        return CallError::Memory {
            cap: state.memory.max_bytes,
            tried,
        };
    }
    if matches!(
        e.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    ) {
        return CallError::Deadline(limits.deadline);
    }
    if format!("{e:#}").contains("fuel allocated for hostcalls has been exhausted") {
        return CallError::Limit(format!(
            "host call too large: the action passed more than {} bytes to one host call; that is the cap (send less at a time, or raise `max_host_call` in plugins.toml)",
            limits.host_call_bytes
        ));
    }
    if let Some(overflow) = stack_overflow(e) {
        return CallError::StackOverflow(overflow);
    }
    let printed = stderr.contents();
    if let Some(panic) = panic_message(&printed) {
        return CallError::Trap(panic);
    }
    let printed = printed.trim();
    let trap = e
        .downcast_ref::<wasmtime::Trap>()
        .map_or_else(|| format!("{e:#}"), |t| t.to_string());
    if printed.is_empty() {
        CallError::Trap(trap)
    } else {
        CallError::Trap(format!("{printed} ({trap})"))
    }
}

/// Whether a trap is the action's stack running out: wasmtime's own stack
/// guard, or — for guests whose stack lives in linear memory, as Rust's and
/// C's do — an out-of-bounds access by a function that was calling itself
/// (the stack pointer went below zero and wrapped).
fn stack_overflow(e: &wasmtime::Error) -> Option<String> {
    match e.downcast_ref::<wasmtime::Trap>()? {
        wasmtime::Trap::StackOverflow => {
            Some("the action recursed deeper than the host's stack for it allows".into())
        }
        wasmtime::Trap::MemoryOutOfBounds => {
            let frames = e.downcast_ref::<wasmtime::WasmBacktrace>()?.frames();
            let innermost = frames.first()?;
            let same = frames
                .iter()
                .filter(|f| {
                    f.func_index() == innermost.func_index()
                        && f.module().name() == innermost.module().name()
                })
                .count();
            // A recursion fills the captured frames with one function; an
            // ordinary bad pointer rarely does.
            (frames.len() >= 8 && same * 4 >= frames.len() * 3).then(|| {
                let name = innermost.func_name().map_or_else(
                    || format!("function #{}", innermost.func_index()),
                    // `{:#}`: the path without the hash (`chaos::recurse`).
                    |n| format!("{:#}", rustc_demangle::demangle(n)),
                );
                format!(
                    "the action's stack ran out: `{name}` was calling itself when it went past its stack's end"
                )
            })
        }
        _ => None,
    }
}

/// Pulls a Rust panic out of what the guest printed:
/// `thread '<unnamed>' panicked at src/lib.rs:3:5:\nmessage\nnote: …` becomes
/// `panicked at src/lib.rs:3:5: message`.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let rest = &stderr[start..];
    let (location, message) = rest.split_once(":\n").unwrap_or((rest, ""));
    let message: Vec<&str> = message
        .lines()
        .take_while(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    Some(format!("{location}: {}", message.join("\n").trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rust_panic_is_reduced_to_its_location_and_message() {
        let printed = "thread '<unnamed>' (1) panicked at src/lib.rs:106:41:\nboom at step 3\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(printed).as_deref(),
            Some("panicked at src/lib.rs:106:41: boom at step 3")
        );
        assert_eq!(panic_message("just some output\n"), None);
    }

    #[test]
    fn a_failures_kind_is_read_back_from_its_words() {
        let cases = [
            (CallError::Deadline(Duration::from_secs(5)), "deadline"),
            (CallError::Memory { cap: 1, tried: 2 }, "memory"),
            (CallError::StackOverflow("deep".into()), "stack-overflow"),
            (CallError::Trap("panicked".into()), "crashed"),
            (
                CallError::OutputTooLarge { size: 2, cap: 1 },
                "output-too-large",
            ),
            (
                CallError::InvalidOutput("not JSON".into()),
                "invalid-output",
            ),
            (CallError::Host(anyhow::anyhow!("gone")), "host"),
            (CallError::InvalidInput("not JSON".into()), "input-refused"),
        ];
        for (e, code) in cases {
            assert_eq!(CallError::kind_of(&format!("{e:#}")), Some(code), "{e}");
        }
        for kind in [
            "invalid-input",
            "not-found",
            "denied",
            "conflict",
            "transient",
            "failed",
        ] {
            let e = CallError::Action {
                kind,
                message: "the action's words".into(),
            };
            assert_eq!(CallError::kind_of(&e.to_string()), Some(kind));
        }
        assert_eq!(CallError::kind_of("at: not a time"), None);
        assert_eq!(CallError::kinds().count(), 14);
    }
}
