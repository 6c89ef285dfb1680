//! The loops that keep the engine going: one dispatcher (events and cron
//! ticks into runs) and a pool of workers (due steps into results). They
//! sleep until poked or until the next poll, and stop claiming new work on
//! shutdown while letting the step in hand finish and commit.

use super::runtime::Engine;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How the loops run.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// How many steps run at once.
    pub workers: usize,
    /// The longest a loop sleeps without being poked (timers and schedules
    /// become due without a poke).
    pub poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> WorkerSettings {
        WorkerSettings {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            poll: Duration::from_millis(200),
        }
    }
}

/// Starts the dispatcher and the workers; they stop when `shutdown` turns true.
pub fn spawn(
    engine: Arc<Engine>,
    settings: WorkerSettings,
    shutdown: watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        set.spawn(async move { dispatcher(engine, settings.poll, shutdown).await });
    }
    for n in 0..settings.workers.max(1) {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        set.spawn(async move { worker(n, engine, settings.poll, shutdown).await });
    }
    set
}

async fn dispatcher(engine: Arc<Engine>, poll: Duration, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        // Register for a poke before looking, so a poke that arrives while
        // we look is not lost.
        let poked = engine.wake.notified();
        tokio::pin!(poked);
        poked.as_mut().enable();
        let mut busy = false;
        match engine.dispatch_events().await {
            Ok(n) => busy |= n > 0,
            Err(e) => tracing::warn!("dispatching events failed: {e:#}"),
        }
        if let Err(e) = engine.fire_schedules().await {
            tracing::warn!("firing schedules failed: {e:#}");
        }
        if let Err(e) = engine.expire_approvals().await {
            tracing::warn!("expiring approvals failed: {e:#}");
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = &mut poked => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn worker(
    n: usize,
    engine: Arc<Engine>,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        let poked = engine.wake.notified();
        tokio::pin!(poked);
        poked.as_mut().enable();
        match engine.work_one().await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(worker = n, "running a step failed: {e:#}"),
        }
        tokio::select! {
            _ = &mut poked => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}
