//! Runs, their steps and the attempts of each step. Every state change of a run happens
//! in one transaction with whatever caused it, so a crash at any point
//! leaves either all of it or none.

use super::backend::Backend;
use super::db::{Db, Dialect, Row, Sql, TxEnd, count};
use crate::crm::changes::Change;
use crate::crm::{CrmError, EntityKind, EntityRef, new_id, timestamp_text};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// A run to start.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its id.
    pub id: String,
    /// The process.
    pub process_id: String,
    /// The version it keeps to the end.
    pub process_version: i64,
    /// What started it.
    pub trigger: Value,
    /// The entity it is about.
    pub subject: Option<EntityRef>,
    /// Deduplicates one trigger per process.
    pub trigger_key: String,
    /// The rendered `once_per` key.
    pub once_key: Option<String>,
    /// The installed actions it keeps to the end (`action_sets`); `None`:
    /// whatever is installed when each step runs.
    pub action_set: Option<i64>,
    /// Its first step.
    pub first_step: NewStep,
}

/// A step to schedule.
#[derive(Debug, Clone)]
pub struct NewStep {
    /// Its position in the process.
    pub index: usize,
    /// Its id in the process (`id[3]` for an item of a for-each).
    pub key: String,
    /// For a for-each step: the item it works on.
    pub item: Option<usize>,
    /// When it may run.
    pub due_at: DateTime<Utc>,
}

/// A step a worker holds the lease of.
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    /// The step row.
    pub id: String,
    /// Its run.
    pub run_id: String,
    /// Its position in the process.
    pub index: usize,
    /// Its id in the process.
    pub key: String,
    /// For a for-each step: the item it works on.
    pub item: Option<usize>,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// The run's process.
    pub process_id: String,
    /// The run's process version.
    pub process_version: i64,
    /// The run's trigger.
    pub trigger: Value,
    /// The run's entity.
    pub subject: Option<EntityRef>,
    /// The installed actions the run started with.
    pub action_set: Option<i64>,
}

/// How a step attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    /// It succeeded.
    Done,
    /// Its `if` was false.
    Skipped,
    /// It failed for good.
    Failed,
    /// It failed and runs again later.
    Retrying,
    /// It asked a person and waits.
    Waiting,
}

impl AttemptStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Done => "done",
            AttemptStatus::Skipped => "skipped",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Retrying => "retrying",
            AttemptStatus::Waiting => "waiting",
        }
    }
}

/// What happens to the run after a step attempt.
#[derive(Debug, Clone)]
pub enum Then {
    /// Schedule this step.
    Next(NewStep),
    /// Run the same step again at this time.
    Retry(DateTime<Utc>),
    /// The run has finished.
    Complete,
    /// The run failed with this message.
    Fail(String),
    /// The step waits for a person's decision.
    Wait(super::approvals::NewApproval),
}

/// The result of one step attempt, committed with the step's CRM changes.
#[derive(Debug, Clone)]
pub struct StepFinish {
    /// The claimed step.
    pub step_id: String,
    /// Its run.
    pub run_id: String,
    /// The attempt being finished; a stale lease no longer matches.
    pub attempt: u32,
    /// How it ended.
    pub status: AttemptStatus,
    /// The rendered input.
    pub input: Option<Value>,
    /// The output.
    pub output: Option<Value>,
    /// The error message.
    pub error: Option<String>,
    /// The action's log lines.
    pub logs: Value,
    /// The digest of the component that ran (action steps).
    pub digest: Option<String>,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// The CRM changes the action made.
    pub changes: Vec<Change>,
    /// What comes next.
    pub then: Then,
    /// A run to start in the same transaction (a failure's error process).
    pub start: Option<NewRun>,
}

/// A run as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Its id.
    pub id: String,
    /// The process.
    pub process_id: String,
    /// The process version it runs.
    pub process_version: i64,
    /// running, completed, failed or cancelled.
    pub status: String,
    /// The entity it is about.
    pub entity: Option<EntityRef>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started.
    pub created_at: String,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// Filters for listing runs.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this process.
    pub process_id: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only runs about this entity.
    pub entity: Option<EntityRef>,
    /// Only runs with ids after this (the cursor).
    pub after: Option<String>,
    /// Only runs started at or after this time.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only runs started before this time.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many.
    pub limit: u32,
    /// Only runs about what this caller may see (None: every run).
    pub seen_by: Option<crate::access::Access>,
}

/// A step of a run with its attempts: the execution log.
#[derive(Debug, Clone, Serialize)]
pub struct StepLog {
    /// The step row.
    pub id: String,
    /// Its id in the process.
    pub step: String,
    /// pending, running, done, skipped, failed or cancelled.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it is or was due.
    pub due_at: String,
    /// The last input.
    pub input: Option<Value>,
    /// The output.
    pub output: Option<Value>,
    /// The last error.
    pub error: Option<String>,
    /// Every attempt.
    pub log: Vec<Value>,
}

fn json_col(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

pub(super) fn subject_of(kind: Option<String>, id: Option<String>) -> Option<EntityRef> {
    Some(EntityRef {
        kind: EntityKind::parse(&kind?)?,
        id: id?,
    })
}

/// Runs and their steps as people and the engine look at and steer them.
#[async_trait::async_trait]
pub trait Runs: Backend {
    /// The finished steps of a run as templates see them: id → {status, output}.
    async fn step_results(&self, run_id: &str) -> Result<serde_json::Map<String, Value>, CrmError> {
        let run_id = run_id.to_owned();
        self.read_with(Box::new(move |db| step_results(db, &run_id)))
            .await
    }

    /// Makes every step marked running claimable again. Called when a server
    /// starts on the embedded database: no other server shares its steps,
    /// so any step still marked running belonged to a process that died
    /// (its uncommitted effects died with it), and need not wait out its
    /// lease. Never on a shared database, where another node may hold them.
    async fn release_running_steps(&self) -> Result<u64, CrmError> {
        self.write_with(Box::new(|db| {
            let released = db.execute(
                "UPDATE run_steps SET status = 'pending', lease_until = NULL WHERE status = 'running'",
                &[],
            )?;
            Ok((released, TxEnd::Commit))
        }))
        .await
    }

    /// Extends the leases of steps `ids` (still running) to `until`: their
    /// node lives and still runs them. On PostgreSQL a step whose row is
    /// locked — its finish is being committed — is skipped rather than
    /// waited for, so a renewal never deadlocks with a round.
    async fn renew_leases(&self, ids: &[String], until: DateTime<Utc>) -> Result<u64, CrmError> {
        let mut params = vec![Sql::Text(timestamp_text(until))];
        params.extend(ids.iter().map(Sql::from));
        let marks = vec!["?"; ids.len()].join(", ");
        self.write_with(Box::new(move |db| {
            let sql = match db.dialect() {
                Dialect::Sqlite => format!(
                    "UPDATE run_steps SET lease_until = ? WHERE status = 'running' AND id IN ({marks})"
                ),
                Dialect::Postgres => format!(
                    "UPDATE run_steps SET lease_until = ? WHERE id IN
                       (SELECT id FROM run_steps WHERE status = 'running' AND id IN ({marks})
                        ORDER BY id FOR UPDATE SKIP LOCKED)"
                ),
            };
            Ok((db.execute(&sql, &params)?, TxEnd::Commit))
        }))
        .await
    }

    /// Puts a claimed step back to wait until `due_at` without counting the
    /// attempt (its `at` time has not come yet).
    async fn defer_step(
        &self,
        step_id: &str,
        attempt: u32,
        due_at: DateTime<Utc>,
    ) -> Result<(), CrmError> {
        let params = vec![
            Sql::Text(timestamp_text(due_at)),
            Sql::from(step_id),
            Sql::Int(i64::from(attempt)),
        ];
        self.write_with(Box::new(move |db| {
            db.execute(
                "UPDATE run_steps SET status = 'pending', attempts = attempts - 1, lease_until = NULL, due_at = ?1
                 WHERE id = ?2 AND status = 'running' AND attempts = ?3",
                &params,
            )?;
            Ok(((), TxEnd::Commit))
        }))
        .await
    }

    /// When the next step is due, if any is waiting.
    async fn next_due(&self) -> Result<Option<String>, CrmError> {
        self.read_with(Box::new(|db| {
            Ok(db
                .query_opt(
                    "SELECT MIN(due_at) FROM run_steps WHERE status = 'pending'",
                    &[],
                )?
                .and_then(|mut r| r.take(0)))
        }))
        .await
    }

    /// Runs, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, CrmError> {
        // Only the filters given become conditions; the text is static
        // fragments (and the access condition from crate::access: kinds,
        // tables, columns), every value bound.
        let mut sql = format!("{RUN_COLUMNS} FROM runs WHERE TRUE");
        let mut params = Vec::new();
        let mut when = |condition: &str, value: Option<Sql>| {
            if let Some(v) = value {
                sql.push_str(condition);
                params.push(v);
            }
        };
        when(
            " AND process_id = ?",
            filter.process_id.as_deref().map(Sql::from),
        );
        when(" AND status = ?", filter.status.as_deref().map(Sql::from));
        if let Some(e) = &filter.entity {
            when(" AND entity_kind = ?", Some(Sql::from(e.kind.as_str())));
            when(" AND entity_id = ?", Some(Sql::from(e.id.as_str())));
        }
        when(" AND id < ?", filter.after.as_deref().map(Sql::from));
        when(
            " AND created_at >= ?",
            filter.from.map(|t| Sql::Text(timestamp_text(t))),
        );
        when(
            " AND created_at < ?",
            filter.to.map(|t| Sql::Text(timestamp_text(t))),
        );
        if let Some(access) = &filter.seen_by
            && let Some((seen, binds)) = access.subject_sql("runs.entity_kind", "runs.entity_id")
        {
            sql.push_str(" AND ");
            sql.push_str(&seen);
            params.extend((0..binds).map(|_| Sql::from(access.user_id.as_deref())));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        params.push(Sql::Int(i64::from(filter.limit.clamp(1, 1000))));
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(&sql, &params)?
                .into_iter()
                .map(run_summary)
                .collect())
        }))
        .await
    }

    /// One run.
    async fn get_run(&self, id: &str) -> Result<Option<RunSummary>, CrmError> {
        let id = Sql::from(id);
        self.read_with(Box::new(move |db| {
            Ok(db
                .query_opt(&format!("{RUN_COLUMNS} FROM runs WHERE id = ?1"), &[id])?
                .map(run_summary))
        }))
        .await
    }

    /// A run's steps with every attempt, in order.
    async fn run_steps(&self, run_id: &str) -> Result<Vec<StepLog>, CrmError> {
        let run_id = Sql::from(run_id);
        self.read_with(Box::new(move |db| {
            let order = made_order(db.dialect(), "");
            let steps = db.query(
                &format!(
                    "SELECT id, step_key, status, attempts, due_at, input, output, error
                     FROM run_steps WHERE run_id = ?1 ORDER BY created_at, {order}"
                ),
                &[run_id],
            )?;
            let mut out = Vec::new();
            for mut s in steps {
                let id = s.take(0).unwrap_or_default();
                let attempts = db.query(
                    "SELECT attempt, status, input, output, error, logs, started_at, finished_at,
                            duration_ms, digest
                     FROM step_attempts WHERE step_id = ?1 ORDER BY attempt, started_at",
                    &[Sql::from(id.as_str())],
                )?;
                let log = attempts
                    .into_iter()
                    .map(|mut a| {
                        let error = a.take(4);
                        serde_json::json!({
                            "attempt": a.int(0),
                            "status": a.take(1),
                            "input": json_col(a.take(2)),
                            "output": json_col(a.take(3)),
                            "error_kind": error.as_deref().and_then(crate::plugins::CallError::kind_of),
                            "error": error,
                            "logs": json_col(a.take(5)),
                            "started_at": a.take(6),
                            "finished_at": a.take(7),
                            "duration_ms": a.int(8),
                            "digest": a.take(9),
                        })
                    })
                    .collect();
                out.push(StepLog {
                    id,
                    step: s.take(1).unwrap_or_default(),
                    status: s.take(2).unwrap_or_default(),
                    attempts: s.int(3).unwrap_or_default(),
                    due_at: s.take(4).unwrap_or_default(),
                    input: json_col(s.take(5)),
                    output: json_col(s.take(6)),
                    error: s.take(7),
                    log,
                });
            }
            Ok(out)
        }))
        .await
    }

    /// Cancels a running run and its waiting steps; false if it is not running.
    async fn cancel_run(&self, id: &str, now: DateTime<Utc>) -> Result<bool, CrmError> {
        let (now, id) = (Sql::Text(timestamp_text(now)), Sql::from(id));
        self.write_with(Box::new(move |db| {
            let cancelled = db.execute(
                "UPDATE runs SET status = 'cancelled', updated_at = ?1, finished_at = ?1
                 WHERE id = ?2 AND status = 'running'",
                &[now.clone(), id.clone()],
            )? == 1;
            if cancelled {
                db.execute(
                    "UPDATE run_steps SET status = 'cancelled', lease_until = NULL, finished_at = ?1
                     WHERE run_id = ?2 AND status IN ('pending', 'running', 'waiting')",
                    &[now.clone(), id.clone()],
                )?;
                db.execute(
                    "UPDATE approvals SET status = 'cancelled', decided_at = ?1
                     WHERE run_id = ?2 AND status = 'pending'",
                    &[now, id],
                )?;
            }
            Ok((cancelled, TxEnd::Commit))
        }))
        .await
    }

    /// Runs a failed run's failed step again, with fresh attempts; false if
    /// the run has not failed.
    async fn retry_run(&self, id: &str, now: DateTime<Utc>) -> Result<bool, CrmError> {
        let (now, id) = (Sql::Text(timestamp_text(now)), Sql::from(id));
        self.write_with(Box::new(move |db| {
            let order = made_order(db.dialect(), "s.");
            // Locked on PostgreSQL: two nodes retrying at once retry once.
            let lock = match db.dialect() {
                Dialect::Sqlite => "",
                Dialect::Postgres => " FOR UPDATE OF r",
            };
            let step = db.query_opt(
                &format!(
                    "SELECT s.step_index, s.step_key, s.item FROM run_steps s JOIN runs r ON r.id = s.run_id
                     WHERE r.id = ?1 AND r.status = 'failed' AND s.status = 'failed'
                     ORDER BY s.created_at DESC, {order} DESC LIMIT 1{lock}"
                ),
                std::slice::from_ref(&id),
            )?;
            let Some(mut step) = step else {
                return Ok((false, TxEnd::Commit));
            };
            let reopened = db.execute(
                "UPDATE runs SET status = 'running', error = NULL, finished_at = NULL, updated_at = ?1
                 WHERE id = ?2 AND status = 'failed'",
                &[now.clone(), id.clone()],
            )?;
            if reopened != 1 {
                return Ok((false, TxEnd::Commit));
            }
            db.execute(
                "INSERT INTO run_steps (id, run_id, step_index, step_key, item, status, due_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
                &[
                    Sql::Text(new_id()),
                    id,
                    step.int(0).map_or(Sql::Null, Sql::Int),
                    Sql::from(step.take(1)),
                    step.int(2).map_or(Sql::Null, Sql::Int),
                    now,
                ],
            )?;
            super::db::wake(db, super::db::Wake::Steps)?;
            Ok((true, TxEnd::Commit))
        }))
        .await
    }

    /// Trigger-to-completion times, in milliseconds, of the completed runs
    /// whose deal's title starts with `prefix` (for `robota bench`): from
    /// the event to the commit of the run's end.
    async fn run_latencies_ms(&self, prefix: &str) -> Result<Vec<f64>, CrmError> {
        let like = Sql::Text(format!("{prefix}%"));
        self.read_with(Box::new(move |db| {
            let rows = db.query(
                "SELECT e.at, r.updated_at
                 FROM runs r JOIN deals d ON d.id = r.entity_id
                 JOIN events e ON e.entity_id = d.id AND e.kind = 'created'
                 WHERE r.status = 'completed' AND d.title LIKE ?1",
                &[like],
            )?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    let ms = between_ms(r.text(0)?, r.text(1)?);
                    ms.is_finite().then_some(ms)
                })
                .collect())
        }))
        .await
    }

    /// Where the time of the completed runs on deals titled `prefix…` went,
    /// one [`RunPhases`] per run (for `robota bench`).
    async fn run_phases(&self, prefix: &str) -> Result<Vec<RunPhases>, CrmError> {
        let like = Sql::Text(format!("{prefix}%"));
        self.read_with(Box::new(move |db| {
            let rows = db.query(
                "SELECT r.id, e.at, r.created_at, r.updated_at, s.created_at, s.started_at,
                        a.started_at, a.finished_at
                 FROM runs r JOIN deals d ON d.id = r.entity_id
                 JOIN events e ON e.entity_id = d.id AND e.kind = 'created'
                 JOIN run_steps s ON s.run_id = r.id
                 JOIN step_attempts a ON a.step_id = s.id
                 WHERE r.status = 'completed' AND d.title LIKE ?1
                 ORDER BY r.id, s.step_index, a.attempt",
                &[like],
            )?;
            Ok(phases_of(rows))
        }))
        .await
    }

    /// Counts the CRM's tasks (for `robota bench`'s check of the effects).
    async fn count_tasks(&self) -> Result<i64, CrmError> {
        self.read_with(Box::new(|db| {
            Ok(count(db, "SELECT COUNT(*) FROM tasks", &[])?)
        }))
        .await
    }

    /// Counts runs by status (for `robota bench` and the demo).
    async fn count_runs(&self, status: &str) -> Result<i64, CrmError> {
        let status = Sql::from(status);
        self.read_with(Box::new(move |db| {
            Ok(count(
                db,
                "SELECT COUNT(*) FROM runs WHERE status = ?1",
                &[status],
            )?)
        }))
        .await
    }
}

impl<T: Backend> Runs for T {}

/// The columns a [`RunSummary`] is read from, in [`run_summary`]'s order.
const RUN_COLUMNS: &str = "SELECT id, process_id, process_version, status, entity_kind, entity_id, \
                           error, created_at, finished_at";

fn run_summary(mut r: Row) -> RunSummary {
    RunSummary {
        id: r.take(0).unwrap_or_default(),
        process_id: r.take(1).unwrap_or_default(),
        process_version: r.int(2).unwrap_or_default(),
        status: r.take(3).unwrap_or_default(),
        entity: subject_of(r.take(4), r.take(5)),
        error: r.take(6),
        created_at: r.take(7).unwrap_or_default(),
        finished_at: r.take(8),
    }
}

/// Among rows of `run_steps` made at once, the order they were made in:
/// SQLite's rowid, PostgreSQL's time-ordered ids (`alias` is the table's,
/// with its dot).
fn made_order(dialect: Dialect, alias: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("{alias}rowid"),
        Dialect::Postgres => format!("{alias}id"),
    }
}

/// Milliseconds from one stored time to another (NaN if either is not one).
fn between_ms(from: &str, to: &str) -> f64 {
    let at = |t: &str| DateTime::parse_from_rfc3339(t).ok();
    match (at(from), at(to)) {
        (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0,
        _ => f64::NAN,
    }
}

/// [`Runs::run_phases`]' rows (run, event, run made, run's end committed,
/// step made, step claimed, attempt began, attempt ended; by run, step,
/// attempt) summed per run.
fn phases_of(rows: Vec<Row>) -> Vec<RunPhases> {
    let mut out: Vec<RunPhases> = Vec::new();
    let mut last_end: Option<(String, String)> = None;
    for mut r in rows {
        let text = |r: &mut Row, i| r.take(i).unwrap_or_default();
        let run = text(&mut r, 0);
        let scheduled = text(&mut r, 4);
        let claimed = r.take(5).unwrap_or_else(|| scheduled.clone());
        let began = text(&mut r, 6);
        let ended = text(&mut r, 7);
        if out.last().is_none_or(|p| p.run_id != run) {
            out.push(RunPhases {
                run_id: run.clone(),
                dispatch: between_ms(&text(&mut r, 1), &text(&mut r, 2)),
                ..RunPhases::default()
            });
            last_end = None;
        }
        let Some(phases) = out.last_mut() else {
            continue;
        };
        // Until the run's end is committed; the last step's row counts.
        phases.committing_end = between_ms(&ended, &text(&mut r, 3));
        if let Some((prev_run, prev_end)) = &last_end
            && *prev_run == run
        {
            phases.committing += between_ms(prev_end, &scheduled);
        }
        // A round takes its time before writing, so a step claimed in
        // the round that wrote it has a claim time before its row's.
        let queued = between_ms(&scheduled, &claimed);
        let (queued, ready) = if queued > 0.0 {
            (queued, &claimed)
        } else {
            (0.0, &scheduled)
        };
        phases.queued += queued;
        phases.starting += between_ms(ready, &began);
        phases.running += between_ms(&began, &ended);
        last_end = Some((run, ended));
    }
    out
}

/// The finished steps of run `run_id`: id → {status, output}.
pub(super) fn step_results(
    conn: &dyn Db,
    run_id: &str,
) -> Result<serde_json::Map<String, Value>, CrmError> {
    // Among steps made at once, the order they were made in: SQLite's
    // rowid (which its index on (run_id, created_at) already ends with, so
    // no sort), PostgreSQL's time-ordered ids.
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT step_key, status, output FROM run_steps
             WHERE run_id = ?1 AND status IN ('done', 'skipped', 'failed')
             ORDER BY created_at, rowid"
        }
        Dialect::Postgres => {
            "SELECT step_key, status, output FROM run_steps
             WHERE run_id = ?1 AND status IN ('done', 'skipped', 'failed')
             ORDER BY created_at, id"
        }
    };
    let rows = conn.query(sql, &[Sql::from(run_id)])?;
    Ok(rows
        .iter()
        .map(|r| {
            let output = json_col(r.string(2)).unwrap_or(Value::Null);
            (
                r.string(0).unwrap_or_default(),
                serde_json::json!({ "status": r.string(1), "output": output }),
            )
        })
        .collect())
}

/// Does what follows a step: schedule the next, end the run, or open an approval.
pub(super) fn apply_then(
    conn: &dyn Db,
    run_id: &str,
    step_id: &str,
    then: &Then,
    at: &str,
) -> Result<(), CrmError> {
    match then {
        Then::Next(step) => insert_step(conn, run_id, step),
        Then::Retry(_) => Ok(()),
        Then::Complete => finish_run(conn, run_id, "completed", None, at),
        Then::Fail(e) => finish_run(conn, run_id, "failed", Some(e), at),
        Then::Wait(approval) => super::approvals::insert(conn, run_id, step_id, approval),
    }
}

/// Where one run's time went, in milliseconds, summed over its steps.
#[derive(Debug, Default, Clone)]
pub struct RunPhases {
    /// The run.
    pub run_id: String,
    /// From the trigger's event to the run's row.
    pub dispatch: f64,
    /// From a step's row to its claim, when a later round claimed it
    /// (waiting for room); zero when the round that wrote it claimed it.
    pub queued: f64,
    /// From the step's row or its later claim to the action starting (the
    /// rest of that round, its commit, the task's start).
    pub starting: f64,
    /// The actions running.
    pub running: f64,
    /// From an action's end to the next step's row (waiting for and running the round that commits it).
    pub committing: f64,
    /// From the last action's end to the run's end committed.
    pub committing_end: f64,
}

/// Inserts a run and its first step unless its trigger or `once_per` key ran already.
pub(super) fn insert_run(conn: &dyn Db, run: &NewRun) -> Result<bool, CrmError> {
    let now = timestamp_text(crate::clock::now());
    // Any unique key taken (the id, the trigger, the `once_per` key) means
    // the run exists already: nothing is inserted.
    let inserted = conn.execute(
        "INSERT INTO runs (id, process_id, process_version, status, trigger,
                           entity_kind, entity_id, trigger_key, once_key,
                           created_at, updated_at, action_set)
         VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)
         ON CONFLICT DO NOTHING",
        &[
            Sql::from(&run.id),
            Sql::from(&run.process_id),
            Sql::Int(run.process_version),
            Sql::Text(run.trigger.to_string()),
            Sql::from(run.subject.as_ref().map(|s| s.kind.as_str())),
            Sql::from(run.subject.as_ref().map(|s| s.id.as_str())),
            Sql::from(&run.trigger_key),
            Sql::from(&run.once_key),
            Sql::Text(now),
            run.action_set.map_or(Sql::Null, Sql::Int),
        ],
    )?;
    if inserted != 1 {
        return Ok(false);
    }
    insert_step(conn, &run.id, &run.first_step)?;
    Ok(true)
}

/// Schedules a pending step of a run.
pub(super) fn insert_step(conn: &dyn Db, run_id: &str, step: &NewStep) -> Result<(), CrmError> {
    conn.execute(
        "INSERT INTO run_steps (id, run_id, step_index, step_key, item, status, due_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
        &[
            Sql::Text(new_id()),
            Sql::from(run_id),
            Sql::Int(i64::try_from(step.index).unwrap_or(i64::MAX)),
            Sql::from(&step.key),
            step.item
                .and_then(|i| i64::try_from(i).ok())
                .map_or(Sql::Null, Sql::Int),
            Sql::Text(timestamp_text(step.due_at)),
            Sql::Text(timestamp_text(crate::clock::now())),
        ],
    )?;
    super::db::wake(conn, super::db::Wake::Steps)?;
    Ok(())
}

/// Marks a run ended at `at` (when its last step ended): completed, or
/// failed with `error`. `updated_at` is when this is written, so the
/// difference is what committing the end took.
pub(super) fn finish_run(
    conn: &dyn Db,
    run_id: &str,
    status: &str,
    error: Option<&String>,
    at: &str,
) -> Result<(), CrmError> {
    conn.execute(
        "UPDATE runs SET status = ?2, error = ?3, updated_at = ?5, finished_at = ?4 WHERE id = ?1",
        &[
            Sql::from(run_id),
            Sql::from(status),
            Sql::from(error.map(String::as_str)),
            Sql::from(at),
            Sql::Text(timestamp_text(crate::clock::now())),
        ],
    )?;
    Ok(())
}
