//! A fresh store for one call: its WASI context (no files, environment or
//! sockets; the server's clock), its memory cap, its hostcall-data cap and
//! its epoch deadline.

use super::grants::Grants;
use super::limits::Limits;
use super::state::{CallState, ChangeBudget, MemoryCap};
use super::stdio::CappedPipe;
use crate::clock::Clock;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store as WasmStore, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

/// How many epoch ticks guest code runs before the host checks its deadline
/// and lets other tasks run.
const SLICE_TICKS: u64 = 2;

/// The server's clock as an action's WASI wall clock.
struct WallClock(Arc<dyn Clock>);

impl wasmtime_wasi::HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }

    fn now(&self) -> Duration {
        let now = self.0.now();
        // Before 1970 cannot happen with a clock that only moves forward.
        Duration::new(
            u64::try_from(now.timestamp()).unwrap_or(0),
            now.timestamp_subsec_nanos(),
        )
    }
}

/// A store with its captured stdout and stderr.
pub(crate) struct FreshStore {
    /// The store, its data a call state with no grants, config or CRM yet.
    pub store: WasmStore<CallState>,
    /// What the action prints to stdout.
    pub stdout: CappedPipe,
    /// What the action prints to stderr.
    pub stderr: CappedPipe,
}

/// What making a store needs.
#[derive(Clone)]
pub(crate) struct Sandbox {
    /// The engine the stores belong to.
    pub engine: Engine,
    /// The HTTP client of `http.fetch` (no redirects).
    pub http: reqwest::Client,
    /// The actions' WASI wall clock.
    pub clock: Arc<dyn Clock>,
    /// The host's ceiling on any call's memory cap.
    pub max_memory_bytes: usize,
}

impl Sandbox {
    /// A store for a call of `plugin_id` under `limits`, with nothing
    /// granted: [`Sandbox::arm`] gives it a call's grants and CRM.
    pub fn store(&self, plugin_id: &str, limits: &Limits) -> FreshStore {
        let stdout = CappedPipe::new(limits.log_bytes);
        let stderr = CappedPipe::new(limits.log_bytes);
        // No preopened folders, no environment, no arguments, no sockets:
        // everything an action reaches goes through a capability.
        let wasi = WasiCtxBuilder::new()
            .wall_clock(WallClock(self.clock.clone()))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes: limits.memory_bytes.min(self.max_memory_bytes),
                refused: None,
            },
            plugin_id: plugin_id.to_owned(),
            grants: Grants::none(),
            config: Arc::new(BTreeMap::new()),
            session: None,
            budget: ChangeBudget::new(limits),
            http: self.http.clone(),
            started: Instant::now(),
            limits: *limits,
            idempotency_key: String::new(),
            mails_sent: 0,
            logs: Vec::new(),
            log_bytes: 0,
            logs_dropped: 0,
        };
        let mut store = WasmStore::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // Wasmtime refuses to copy more than this from the guest in one host
        // call, before any host function allocates for it.
        store.set_hostcall_fuel(limits.host_call_bytes);
        start_deadline(&mut store, limits.deadline);
        FreshStore {
            store,
            stdout,
            stderr,
        }
    }
}

/// Starts the store's deadline now. Guest code runs in slices of a few
/// epoch ticks; at the end of each it either stops (past its deadline) or
/// yields to the executor, so a busy action never holds a worker thread
/// away from other calls.
pub(crate) fn start_deadline(store: &mut WasmStore<CallState>, deadline: Duration) {
    let started = Instant::now();
    store.data_mut().started = started;
    store.set_epoch_deadline(SLICE_TICKS);
    store.epoch_deadline_callback(move |_| {
        Ok(if started.elapsed() >= deadline {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(SLICE_TICKS)
        })
    });
}
