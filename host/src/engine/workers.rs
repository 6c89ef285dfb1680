//! The loops that keep the engine going: one dispatcher (events and cron
//! ticks into runs) and one step loop (due steps into results, committed in
//! rounds). They sleep until poked or until the next poll, and stop claiming
//! new work on shutdown while letting the steps in hand finish and commit.

use super::batch::Batch;
use super::committer::{Committer, ForRound};
use super::runtime::Engine;
use crate::crm::changes::Change;
use crate::store::prelude::*;
use crate::store::rounds::ClaimRequest;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// How the loops run.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// How many steps may be in hand at once (running or waiting for
    /// their round's commit); it also bounds how many one round claims.
    pub workers: usize,
    /// The longest a loop sleeps without being poked (timers and schedules
    /// become due without a poke).
    pub poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> WorkerSettings {
        WorkerSettings {
            // Rounds commit what is in hand together, so more in hand means
            // fewer syncs per step; the plugin host bounds the calls that
            // actually run at once. Measured in `robota bench` (2 cores,
            // FULL): 32 in hand capped a round's batch at about 2,300 runs/s,
            // 128 reached 3,100–3,250; 256 gave no more.
            workers: 128,
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
    // Finished steps and the runs events start both go to the step loop's
    // rounds.
    let (sender, rounds) = mpsc::unbounded_channel::<ForRound>();
    // API writes are group-committed with the rounds while the loop runs.
    let commits = sender.clone();
    engine.store.route_commits(Some(Arc::new(move |c| {
        commits.send(ForRound::Commit(c)).is_ok()
    })));
    let via = Committer::Round(sender);
    {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        let via = via.clone();
        set.spawn(async move { dispatcher(engine, via, settings.poll, shutdown).await });
    }
    if let Some(pg) = engine.store.postgres().cloned() {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        set.spawn(async move { listen_for_work(engine, pg, settings.poll, shutdown).await });
    }
    if let Some(lease) = engine.step_lease() {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        set.spawn(async move { renew_leases(engine, lease, shutdown).await });
    }
    if engine.store.is_shared() {
        // PostgreSQL's connections belong to the runtime they were opened
        // on: the rounds run on the shared one, so a connection a round
        // opened outlives the loop.
        let steps = Handle::current();
        set.spawn(step_loop(engine, settings, shutdown, steps, (via, rounds)));
    } else {
        set.spawn(on_own_thread("robota-rounds", move |steps| {
            step_loop(engine, settings, shutdown, steps, (via, rounds))
        }));
    }
    set
}

/// Runs a loop on a thread of its own (a single-threaded runtime), handing
/// it the caller's runtime for the tasks it spawns; the returned future ends
/// when the loop does.
///
/// Why: the step loop drives the writer statement by statement, and each
/// statement's answer wakes it. On the shared runtime that wake-up queues
/// behind the steps' CPU-bound action calls; a thread of its own is
/// scheduled by the OS as soon as it is woken (measured: 714–729 → 723–803
/// runs/s in `robota bench`, a modest gain).
fn on_own_thread<F, Fut>(name: &str, run: F) -> impl Future<Output = ()> + Send + 'static
where
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let handle = Handle::current();
    let (done, ended) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(run(handle)),
                Err(e) => tracing::error!("the engine's loop could not start: {e}"),
            }
            let _ = done.send(());
        });
    if let Err(e) = spawned {
        tracing::error!("the engine's loop thread could not start: {e}");
    }
    async move {
        // An error means the thread ended without a word: also the end.
        let _ = ended.await;
    }
}

/// On a shared database: wakes this node's loops when a commit on any node
/// left work (PostgreSQL's NOTIFY, see [`crate::store::db::wake`]), so an
/// idle node starts on it at once instead of at its next poll. A lost
/// connection is opened again; meanwhile the loops poll as always.
async fn listen_for_work(
    engine: Arc<Engine>,
    pg: crate::store::postgres::PgStore,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    use crate::store::db::Wake;
    while !*shutdown.borrow() {
        let mut listener = match pg.wake_ups().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("listening for other nodes' work failed: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(poll.max(Duration::from_secs(1))) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        loop {
            let heard = tokio::select! {
                heard = listener.try_recv() => heard,
                _ = shutdown.changed() => return,
            };
            match heard {
                Ok(Some(n)) => match Wake::parse(n.payload()) {
                    Some(Wake::Events) => engine.events_written(),
                    Some(Wake::Steps) => engine.wake.notify_waiters(),
                    Some(Wake::Mail) | None => {}
                },
                // The connection was lost and is back: work may have been
                // left meanwhile.
                Ok(None) => engine.poke(),
                Err(e) => {
                    tracing::warn!("listening for other nodes' work failed: {e}");
                    break;
                }
            }
        }
    }
}

/// On a shared database: renews the leases of the steps this node holds,
/// three times per lease, so they stay this node's while it lives however
/// long they run, and come back to the others one lease after it dies.
/// Ends when the loops have stopped and nothing is held.
async fn renew_leases(engine: Arc<Engine>, lease: Duration, mut shutdown: watch::Receiver<bool>) {
    let every = lease / 3;
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(every) => *shutdown.borrow(),
            _ = shutdown.changed() => true,
        };
        let held = engine.held_steps();
        if stopping && held.is_empty() {
            return;
        }
        if held.is_empty() {
            continue;
        }
        let until = engine.lease_until(engine.now());
        if let Err(e) = engine.store.renew_leases(&held, until).await {
            tracing::warn!("renewing the leases of {} step(s) failed: {e}", held.len());
        }
    }
}

async fn dispatcher(
    engine: Arc<Engine>,
    via: Committer,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut checked = Instant::now();
    while !*shutdown.borrow() {
        // Register for a poke before looking, so a poke that arrives while
        // we look is not lost.
        let poked = engine.wake.notified();
        tokio::pin!(poked);
        poked.as_mut().enable();
        let events = engine.events.notified();
        tokio::pin!(events);
        events.as_mut().enable();
        let mut busy = false;
        match engine.dispatch_events_via(&via).await {
            Ok(n) => busy |= n > 0,
            Err(e) => tracing::warn!("dispatching events failed: {e:#}"),
        }
        // Schedules and approvals are due by the clock: they are looked at
        // on each poll and when poked, not after every step's events.
        if engine.checks_due.swap(false, Ordering::AcqRel) || checked.elapsed() >= poll {
            checked = Instant::now();
            if let Err(e) = engine.fire_schedules().await {
                tracing::warn!("firing schedules failed: {e:#}");
            }
            if let Err(e) = engine.expire_approvals().await {
                tracing::warn!("expiring approvals failed: {e:#}");
            }
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = &mut poked => {}
            _ = &mut events => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// The step loop. Each round is one transaction (group commit): it commits
/// the runs events started and every step finished since the last round,
/// and claims as many due steps as there is room for; the claimed steps run
/// as tasks that hand their finish back (through `via`, whose receiving end
/// is `rounds`) for the next round. On shutdown it claims nothing more and
/// goes on until the steps in hand have finished and committed. The steps
/// run on `steps`.
async fn step_loop(
    engine: Arc<Engine>,
    settings: WorkerSettings,
    mut shutdown: watch::Receiver<bool>,
    steps: Handle,
    (via, mut finished): (Committer, mpsc::UnboundedReceiver<ForRound>),
) {
    let mut running: JoinSet<()> = JoinSet::new();
    let mut batch = Batch::default();
    loop {
        while let Some(done) = running.try_join_next() {
            if let Err(e) = done {
                tracing::warn!("a step task ended abnormally: {e}");
            }
        }
        let stopping = *shutdown.borrow() || shutdown.has_changed().is_err();
        if stopping && running.is_empty() {
            break;
        }
        // Register for a poke before looking, so a poke that arrives while
        // we look is not lost.
        let poked = engine.wake.notified();
        tokio::pin!(poked);
        poked.as_mut().enable();
        while let Ok(p) = finished.try_recv() {
            batch.add(p);
        }
        // Tasks whose finish is in this round are done after it.
        let busy = running.len().saturating_sub(batch.finishes.len());
        let room = if stopping {
            0
        } else {
            settings.workers.max(1).saturating_sub(busy)
        };
        if batch.is_empty() && room == 0 {
            // Full (or stopping): wait for a finish or for a task to end.
            tokio::select! {
                p = finished.recv() => batch.extend(p),
                done = running.join_next() => {
                    if let Some(Err(e)) = done {
                        tracing::warn!("a step task ended abnormally: {e}");
                    }
                }
            }
            continue;
        }
        let now = engine.now();
        let claim = (room > 0).then(|| ClaimRequest {
            now,
            lease_until: engine.lease_until(now),
            limit: room,
        });
        let (work, replies) = std::mem::take(&mut batch).split();
        let committed = !work.is_empty();
        let commits: Vec<&[Change]> = work.commits.iter().map(Vec::as_slice).collect();
        let round = engine
            .store
            .commit_round(&work.starts, &commits, &work.finishes, claim)
            .await;
        let claimed = match round {
            Ok(round) => {
                replies.answer(round.started, round.committed, round.results);
                let claimed = !round.claimed.is_empty();
                for step in round.claimed {
                    let engine = engine.clone();
                    let via = via.clone();
                    running.spawn_on(
                        async move {
                            if let Err(e) = engine.run_step(step, &via).await {
                                tracing::warn!("running a step failed: {e:#}");
                            }
                        },
                        &steps,
                    );
                }
                claimed
            }
            Err(e) => {
                tracing::warn!("a step round failed: {e}");
                replies.fail(&e);
                // A failing database fails every round: wait before the
                // next instead of spinning on it.
                tokio::time::sleep(poll_or(settings.poll)).await;
                false
            }
        };
        if committed || claimed {
            continue;
        }
        tokio::select! {
            _ = &mut poked => {}
            p = finished.recv() => batch.extend(p),
            _ = tokio::time::sleep(poll_or(settings.poll)) => {}
            _ = shutdown.changed(), if !stopping => {}
        }
    }
    // Change sets still queued are dropped unanswered: their callers then
    // commit them directly.
    engine.store.route_commits(None);
}

fn poll_or(poll: Duration) -> Duration {
    poll.max(Duration::from_millis(1))
}
