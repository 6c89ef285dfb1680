//! Instances made ahead. An action whose instantiation is slow — a Python or
//! JavaScript one carries an interpreter whose tables wasmtime fills one
//! function reference at a time — gets one never-used instance made in the
//! background after each call, and hands its spent store back to be dropped
//! there (dropping resets the memory slot page by page). Neither is then on
//! the next call's path. Each instance still serves exactly one call, in a
//! store of its own, so isolation is what it is without the pool.
//!
//! A cheap action (a Rust one instantiates in microseconds) is left out: the
//! hand-offs would cost it more than they save.

use super::bindings::{Action, ActionPre};
use super::limits::Limits;
use super::sandbox::{FreshStore, Sandbox};
use super::state::CallState;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::Store as WasmStore;

/// The most instances kept ready across all actions (a few hot slow actions
/// at once). Every slot more in the allocator's pool costs each call a
/// little (the Rust call: 8.8 µs with none, 9.6 µs with 8, 10.2 µs with 32).
pub(crate) const MAX_READY: usize = 4;

/// The most jobs waiting for the thread. A spent store may wait here after
/// its call has given back its concurrency slot, so the instances alive
/// beyond the calls are at most the ready ones, the queued stores and the
/// one being dropped: `MAX_READY + QUEUE + 1` = [`EXTRA_INSTANCES`].
const QUEUE: usize = MAX_READY - 1;

/// The room the pooling allocator needs beyond the concurrent calls.
pub(crate) const EXTRA_INSTANCES: usize = MAX_READY + QUEUE + 1;

/// An instance made ahead, with the limits its store was made under.
pub(crate) struct Ready {
    /// The store, with nothing granted yet.
    pub fresh: FreshStore,
    /// The instance, never called.
    pub action: Action,
    /// The limits the store was made under; a call under others makes its own.
    pub limits: Limits,
    /// Counts it against [`MAX_READY`] until it is taken apart or dropped.
    _counted: Counted,
}

/// One place in the count of ready instances, given back when dropped.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    /// A place, if fewer than [`MAX_READY`] are taken.
    fn take(count: &Arc<AtomicUsize>) -> Option<Counted> {
        let before = count.fetch_add(1, Ordering::AcqRel);
        if before >= MAX_READY {
            count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Counted(count.clone()))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One action's ready instance, if any.
#[derive(Default)]
pub(crate) struct WarmSlot {
    ready: Mutex<Option<Ready>>,
}

impl WarmSlot {
    /// The ready instance if it was made under `limits`. One made under
    /// other limits is handed back to be dropped.
    pub fn take(&self, limits: &Limits) -> (Option<Ready>, Option<Ready>) {
        let taken = self.ready.lock().ok().and_then(|mut r| r.take());
        match taken {
            Some(r) if r.limits == *limits => (Some(r), None),
            other => (None, other),
        }
    }

    /// Whether an instance is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.lock().map(|r| r.is_some()).unwrap_or(false)
    }
}

enum Job {
    /// Make an instance for the slot, unless it has one.
    Fill {
        slot: Arc<WarmSlot>,
        pre: ActionPre<CallState>,
        plugin_id: String,
        limits: Limits,
    },
    /// Drop a spent store (or an unused ready instance).
    Drop(WasmStore<CallState>),
}

/// The background thread that makes instances and drops spent stores.
pub(crate) struct Warmer {
    jobs: Option<SyncSender<Job>>,
    /// Jobs queued or running.
    pending: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Actions whose instantiation takes at least this long are kept warm;
    /// `None` keeps none.
    pub warm_above: Option<Duration>,
}

impl Warmer {
    /// Starts the thread.
    pub fn start(sandbox: Sandbox, warm_above: Option<Duration>) -> anyhow::Result<Warmer> {
        let (jobs, rx) = sync_channel::<Job>(QUEUE);
        let counted = Arc::new(AtomicUsize::new(0));
        let pending = Arc::new(AtomicUsize::new(0));
        let done = pending.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("robota-warm".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    match job {
                        Job::Drop(store) => drop(store),
                        Job::Fill {
                            slot,
                            pre,
                            plugin_id,
                            limits,
                        } => runtime
                            .block_on(fill(&sandbox, &counted, &slot, &pre, &plugin_id, limits)),
                    }
                    done.fetch_sub(1, Ordering::AcqRel);
                }
            })?;
        Ok(Warmer {
            jobs: Some(jobs),
            pending,
            thread: Some(thread),
            warm_above,
        })
    }

    /// Whether the thread is still at work on earlier calls' jobs. A call
    /// that finds it so came sooner than the thread can keep up with: it
    /// drops its store itself and asks for no instance, so the thread goes
    /// idle instead of competing with a stream of calls for the address
    /// space (calls back to back then cost what they cost without the pool).
    pub fn is_busy(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    /// Queues `job` unless the queue is full; gives it back if it is.
    fn queue(&self, job: Job) -> Option<Job> {
        let Some(jobs) = &self.jobs else {
            return Some(job);
        };
        self.pending.fetch_add(1, Ordering::AcqRel);
        match jobs.try_send(job) {
            Ok(()) => None,
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                self.pending.fetch_sub(1, Ordering::AcqRel);
                Some(job)
            }
        }
    }

    /// Whether an action that took `instantiating` to instantiate is kept warm.
    pub fn keeps_warm(&self, instantiating: Duration) -> bool {
        self.warm_above.is_some_and(|a| instantiating >= a)
    }

    /// Asks for an instance to be made for `slot` under `limits`. When the
    /// queue is full the next call instantiates itself, as without the pool.
    pub fn fill(
        &self,
        slot: &Arc<WarmSlot>,
        pre: &ActionPre<CallState>,
        plugin_id: &str,
        limits: Limits,
    ) {
        // Not queued: the next call instantiates itself.
        let _ = self.queue(Job::Fill {
            slot: slot.clone(),
            pre: pre.clone(),
            plugin_id: plugin_id.to_owned(),
            limits,
        });
    }

    /// Drops `store` on the thread, or here when the queue is full.
    pub fn discard(&self, store: WasmStore<CallState>) {
        if let Some(Job::Drop(store)) = self.queue(Job::Drop(store)) {
            drop(store);
        }
    }
}

/// Asks for an action's next instance when dropped, at the end of a call:
/// the making never overlaps the call. (On two cores they would share the
/// address space's page-table locks, and every page fault of either would
/// flush the other core's TLB: measured, the call then took 2.06 ms instead
/// of 1.0 ms.)
pub(crate) struct RefillAfter<'a> {
    /// Where the instance goes.
    pub warmer: &'a Warmer,
    /// The action's slot.
    pub slot: &'a Arc<WarmSlot>,
    /// The action.
    pub pre: &'a ActionPre<CallState>,
    /// Its id, for the store.
    pub plugin_id: &'a str,
    /// The limits of the call that asks.
    pub limits: Limits,
}

impl Drop for RefillAfter<'_> {
    fn drop(&mut self) {
        self.warmer
            .fill(self.slot, self.pre, self.plugin_id, self.limits);
    }
}

impl Drop for Warmer {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has done what is queued.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn fill(
    sandbox: &Sandbox,
    ready: &Arc<AtomicUsize>,
    slot: &WarmSlot,
    pre: &ActionPre<CallState>,
    plugin_id: &str,
    limits: Limits,
) {
    if slot.is_ready() {
        return;
    }
    let Some(counted) = Counted::take(ready) else {
        return;
    };
    let mut fresh = sandbox.store(plugin_id, &limits);
    // Instantiating runs the component's start code under the store's
    // deadline; a call restarts the deadline when it takes the instance.
    match tokio::time::timeout(limits.deadline, pre.instantiate_async(&mut fresh.store)).await {
        Ok(Ok(action)) => {
            if let Ok(mut r) = slot.ready.lock() {
                *r = Some(Ready {
                    fresh,
                    action,
                    limits,
                    _counted: counted,
                });
            }
        }
        // The next call instantiates itself and reports a failure as its own.
        Ok(Err(e)) => {
            tracing::debug!(plugin = plugin_id, "making an instance ahead failed: {e:#}");
        }
        Err(_) => tracing::debug!(plugin = plugin_id, "making an instance ahead timed out"),
    }
}
