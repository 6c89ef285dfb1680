//! The engine at work: loads process versions, turns events and cron ticks
//! into runs, and runs steps. Every transition goes through one database
//! transaction (see [`crate::store::runs`]), so a crash anywhere loses
//! nothing and repeats nothing that committed.

use super::catalog::Catalog;
use super::committer::Committer;
use super::definition::{self, OnFailure, Process, Trigger};
use super::diagnostics::Diagnostics;
use super::expr::Templates;
use super::flow::{self, Outcome};
use super::validate::validate;
use crate::clock::Clock;
use crate::crm::CrmError;
use crate::plugins::{CallError, PluginHost};
use crate::store::Database;
use crate::store::action_sets::Pins;
use crate::store::prelude::*;
use crate::store::runs::{AttemptStatus, ClaimedStep, NewStep, StepFinish, Then};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// How many events one dispatch pass reads.
pub(super) const EVENT_BATCH: u32 = 500;
/// How long past its deadline a step's lease lasts before another worker
/// may take it over (its first worker is presumed dead).
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// On a shared database, how long a step claimed by a node that stopped
/// renewing its leases (it died) waits before another node takes it over.
pub const DEFAULT_STEP_LEASE: Duration = Duration::from_secs(30);
/// The longest one call may be given (a step's `timeout`, an action's
/// deadline). Leases are sized by it, so no step outlives its lease and is
/// taken over while it still runs.
pub const MAX_STEP_TIME: Duration = Duration::from_secs(15 * 60);

/// The process engine.
pub struct Engine {
    pub(super) store: Arc<Database>,
    pub(super) host: Arc<PluginHost>,
    /// The installed actions and the set id new runs keep; swapped whole
    /// when the plugins folder is reloaded.
    active: RwLock<Arc<Active>>,
    /// The pins of sets older runs keep, read once each.
    sets: Mutex<HashMap<i64, Arc<Pins>>>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) templates: Templates,
    versions: Mutex<HashMap<(String, i64), Arc<Process>>>,
    /// Wakes the dispatcher and the workers when there is new work.
    pub(crate) wake: Notify,
    /// Wakes only the dispatcher: committed steps wrote events.
    pub(crate) events: Notify,
    /// Set by [`Engine::poke`]: the dispatcher also looks at schedules and
    /// approvals now rather than at its next poll (a poke may come from a
    /// moved clock or a new process).
    pub(crate) checks_due: AtomicBool,
    /// The steps this node holds (claimed, not yet finished).
    held: Mutex<HashSet<String>>,
    /// On a shared database: how long a claim holds without renewal (the
    /// step loop renews the held steps' leases while they run, so only a
    /// dead node's steps run out). None on the embedded database, whose
    /// leases cover the longest step and are released at start instead.
    step_lease: Option<Duration>,
}

/// The installed actions in use and the id of their set (`action_sets`).
pub(super) struct Active {
    pub(super) catalog: Arc<Catalog>,
    pub(super) set: i64,
}

/// A process file that was loaded.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The process id.
    pub id: String,
    /// Its current version.
    pub version: i64,
    /// Whether this load made a new version.
    pub new_version: bool,
}

/// Why a manual start was refused.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No such process.
    #[error("no process `{0}`")]
    UnknownProcess(String),
    /// The process is switched off.
    #[error("process `{0}` is disabled")]
    Disabled(String),
    /// The process does not start this way.
    #[error("process `{0}` is not started {1}")]
    WrongTrigger(String, &'static str),
    /// A parameter is missing or of the wrong type.
    #[error("{0}")]
    BadParams(String),
    /// The `once_per` key already ran.
    #[error("process `{0}` already ran for `{1}`")]
    AlreadyRan(String, String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] CrmError),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Engine {
    /// An engine over `store`, running actions of `catalog` on `host`.
    pub async fn new(
        store: Arc<Database>,
        host: Arc<PluginHost>,
        catalog: Catalog,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Engine> {
        let set = store
            .action_set_id(&catalog.pins())
            .await
            .context("recording the installed actions")?;
        Ok(Engine {
            host,
            active: RwLock::new(Arc::new(Active {
                catalog: Arc::new(catalog),
                set,
            })),
            sets: Mutex::new(HashMap::new()),
            clock,
            templates: Templates::new(),
            versions: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            events: Notify::new(),
            checks_due: AtomicBool::new(true),
            held: Mutex::new(HashSet::new()),
            step_lease: store.is_shared().then_some(DEFAULT_STEP_LEASE),
            store,
        })
    }

    /// Sets how long a claim holds without renewal on a shared database
    /// (`robota serve --step-lease`); nothing changes on the embedded one.
    pub fn with_step_lease(mut self, lease: Duration) -> Engine {
        if self.step_lease.is_some() {
            self.step_lease = Some(lease.max(Duration::from_secs(1)));
        }
        self
    }

    /// How long a claim holds without renewal, when claims are renewed
    /// (on a shared database).
    pub fn step_lease(&self) -> Option<Duration> {
        self.step_lease
    }

    /// Until when a step claimed at `now` is held.
    pub(super) fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.step_lease {
            Some(lease) => now + chrono_duration(Some(lease)),
            None => now + chrono_duration(Some(MAX_STEP_TIME + LEASE_MARGIN)),
        }
    }

    /// Marks step `id` as held by this node until the guard drops (on a
    /// shared database, where held steps' leases are renewed; nothing to
    /// keep on the embedded one).
    pub(super) fn hold(&self, id: &str) -> Option<Held<'_>> {
        self.step_lease?;
        if let Ok(mut h) = self.held.lock() {
            h.insert(id.to_owned());
        }
        Some(Held {
            engine: self,
            id: id.to_owned(),
        })
    }

    /// The steps this node holds now.
    pub(super) fn held_steps(&self) -> Vec<String> {
        self.held
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The store.
    pub fn store(&self) -> &Arc<Database> {
        &self.store
    }

    /// The component host.
    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// The installed actions.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.active().catalog.clone()
    }

    /// The installed actions and their set's id, as one snapshot.
    pub(super) fn active(&self) -> Arc<Active> {
        match self.active.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `catalog` in use: runs started from now keep it; runs already
    /// started keep the components they started with. Returns its set id.
    pub async fn use_catalog(&self, catalog: Catalog) -> anyhow::Result<i64> {
        let set = self
            .store
            .action_set_id(&catalog.pins())
            .await
            .context("recording the installed actions")?;
        let active = Arc::new(Active {
            catalog: Arc::new(catalog),
            set,
        });
        match self.active.write() {
            Ok(mut a) => *a = active,
            Err(poisoned) => *poisoned.into_inner() = active,
        }
        Ok(set)
    }

    /// Reloads plugins folder `dir` (after an install, upgrade, removal or
    /// a change to `plugins.toml`) and deletes superseded components no
    /// running run keeps. Returns how many were deleted.
    pub async fn reload_plugins(&self, dir: &Path) -> anyhow::Result<usize> {
        let catalog = Catalog::load_dir(&self.host, dir).await?;
        self.use_catalog(catalog).await?;
        let in_use = self.store.digests_in_use().await?;
        self.catalog().prune_superseded(&in_use)
    }

    /// The pins of action set `id` (cached).
    pub(super) async fn pins_of(&self, id: i64) -> Result<Arc<Pins>, String> {
        if let Some(p) = self.sets.lock().ok().and_then(|s| s.get(&id).cloned()) {
            return Ok(p);
        }
        let pins = self
            .store
            .action_set(id)
            .await
            .map_err(|e| format!("reading the run's installed actions: {e}"))?
            .ok_or_else(|| format!("the run's set of installed actions ({id}) is missing"))?;
        let pins = Arc::new(pins);
        if let Ok(mut s) = self.sets.lock() {
            s.insert(id, pins.clone());
        }
        Ok(pins)
    }

    /// The engine's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Today in the company's time zone, by the engine's clock.
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.today()
    }

    /// Tells the dispatcher and workers to look for work now.
    pub fn poke(&self) {
        self.checks_due.store(true, Ordering::Release);
        self.wake.notify_waiters();
    }

    /// Tells the dispatcher that committed steps wrote events. Cheaper than
    /// [`Engine::poke`]: the step loop is not woken (it goes on by itself
    /// after a round that committed), nor are schedules and approvals
    /// looked at before the next poll.
    pub(super) fn events_written(&self) {
        self.events.notify_waiters();
    }

    /// Validates and installs one process file: a changed file becomes a new
    /// version; runs already started keep theirs.
    pub async fn install(&self, file_name: &str, source: &str) -> Result<Installed, Diagnostics> {
        let process = validate(file_name, source, self.catalog().as_ref())?;
        let mut diags = Diagnostics::new(file_name, source);
        let (version, new_version) = match self
            .store
            .save_process(&process.id, file_name, source, process.enabled)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                diags.push(0..0, format!("storing the process failed: {e}"));
                return Err(diags);
            }
        };
        if let Err(e) = self.sync_schedule(&process).await {
            diags.push(0..0, format!("storing the schedule failed: {e}"));
            return Err(diags);
        }
        let id = process.id.clone();
        self.cache(&id, version, Arc::new(process));
        self.poke();
        Ok(Installed {
            id,
            version,
            new_version,
        })
    }

    /// Installs every `*.toml` in `dir`; all files are checked, and every
    /// problem in any of them is returned together.
    pub async fn install_dir(&self, dir: &Path) -> anyhow::Result<Vec<Installed>> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the processes folder {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut installed = Vec::new();
        let mut problems = Vec::new();
        for file in files {
            let source = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            match self.install(&file.display().to_string(), &source).await {
                Ok(i) => installed.push(i),
                Err(d) => problems.push(d.to_string()),
            }
        }
        if problems.is_empty() {
            Ok(installed)
        } else {
            anyhow::bail!("{}", problems.join("\n"))
        }
    }

    async fn sync_schedule(&self, process: &Process) -> Result<(), CrmError> {
        match &process.trigger {
            Trigger::Cron {
                expr,
                schedule,
                timezone,
            } => {
                let now = self.clock.now().with_timezone(timezone);
                let Some(next) = schedule.after(&now).next() else {
                    return self.store.drop_schedule(&process.id).await;
                };
                self.store
                    .upsert_schedule(&process.id, expr, timezone.name(), next.with_timezone(&Utc))
                    .await
            }
            _ => self.store.drop_schedule(&process.id).await,
        }
    }

    fn cache(&self, id: &str, version: i64, process: Arc<Process>) {
        if let Ok(mut v) = self.versions.lock() {
            v.insert((id.to_owned(), version), process);
        }
    }

    /// A process version, parsed (from the cache or the store).
    pub async fn process(&self, id: &str, version: i64) -> anyhow::Result<Arc<Process>> {
        if let Some(p) = self
            .versions
            .lock()
            .ok()
            .and_then(|v| v.get(&(id.to_owned(), version)).cloned())
        {
            return Ok(p);
        }
        let stored = self
            .store
            .process_version(id, version)
            .await?
            .with_context(|| format!("process `{id}` has no version {version}"))?;
        // Parse only: a stored version was valid when installed, and a run
        // must finish on the version it started with even if an action was
        // removed since (that step then fails with a clear message).
        let (process, _) = definition::parse(&stored.file_name, &stored.source)
            .map_err(|d| anyhow::anyhow!("{d}"))?;
        let process = Arc::new(process);
        self.cache(id, version, process.clone());
        Ok(process)
    }

    /// The enabled processes with their current versions.
    pub(super) async fn enabled_processes(&self) -> anyhow::Result<Vec<(i64, Arc<Process>)>> {
        let mut out = Vec::new();
        for (id, version) in self.store.enabled_process_versions().await? {
            out.push((version, self.process(&id, version).await?));
        }
        Ok(out)
    }

    /// Claims one due step and runs it. Returns false when nothing was due.
    pub async fn work_one(&self) -> anyhow::Result<bool> {
        let now = self.clock.now();
        let Some(step) = self.store.claim_step(now, self.lease_until(now)).await? else {
            return Ok(false);
        };
        self.run_step(step, &Committer::Direct).await?;
        Ok(true)
    }

    /// Commits a finish that carries no CRM changes; a lost lease drops it.
    pub(super) async fn commit(&self, via: &Committer, finish: StepFinish) -> anyhow::Result<()> {
        let step_id = finish.step_id.clone();
        match self.store_finish(via, finish).await {
            Ok(_) => Ok(()),
            Err(CrmError::Conflict(e)) => {
                tracing::info!(step = %step_id, "step result dropped: {e}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A step's finish record with what follows it.
    pub(super) fn finish(
        &self,
        claimed: &ClaimedStep,
        started: DateTime<Utc>,
        status: AttemptStatus,
        input: Option<Value>,
        result: Result<Value, String>,
        process: &Process,
    ) -> StepFinish {
        let now = self.clock.now();
        let step = process.steps.get(claimed.index);
        let (output, error) = match result {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        let go_on = |outcome| then_after(process, claimed.index, outcome, now);
        let then = match status {
            AttemptStatus::Done => go_on(Outcome::Done),
            AttemptStatus::Skipped => go_on(Outcome::Skipped),
            AttemptStatus::Retrying => Then::Retry(now),
            // The caller replaces this with the approval to open.
            AttemptStatus::Waiting => Then::Retry(now),
            AttemptStatus::Failed => match step.map(|s| &s.on_failure) {
                Some(OnFailure::Continue) => go_on(Outcome::Done),
                _ => Then::Fail(format!(
                    "step `{}` failed: {}",
                    claimed.key,
                    error.as_deref().unwrap_or("unknown error")
                )),
            },
        };
        StepFinish {
            step_id: claimed.id.clone(),
            run_id: claimed.run_id.clone(),
            attempt: claimed.attempt,
            status,
            input,
            output,
            error,
            logs: Value::Array(Vec::new()),
            digest: None,
            started_at: started,
            finished_at: now,
            changes: Vec::new(),
            then,
            start: None,
        }
    }
}

/// A step this node holds; dropping it lets go (see [`Engine::hold`]).
pub(super) struct Held<'a> {
    engine: &'a Engine,
    id: String,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Ok(mut h) = self.engine.held.lock() {
            h.remove(&self.id);
        }
    }
}

/// What follows step `index` of `process` after `outcome`, at `now`.
pub(super) fn then_after(
    process: &Process,
    index: usize,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Then {
    match flow::next_index(process, index, outcome) {
        Some(n) => Then::Next(NewStep {
            item: None,
            index: n,
            key: process.steps[n].id.clone(),
            due_at: now + chrono_duration(process.steps[n].after),
        }),
        None => Then::Complete,
    }
}

/// Whether retrying a failed call may help: the action said so, the host
/// failed, or the call ran out of time.
pub(super) fn retryable(e: &CallError) -> bool {
    e.is_transient() || matches!(e, CallError::Deadline(_))
}

pub(super) fn chrono_duration(d: Option<Duration>) -> chrono::Duration {
    d.and_then(|d| chrono::Duration::from_std(d).ok())
        .unwrap_or_else(chrono::Duration::zero)
}

/// A number in 0..1 for backoff jitter; not for anything secret.
pub(super) fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1000) / 1000.0
}
