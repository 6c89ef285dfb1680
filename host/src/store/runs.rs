//! Runs, their steps and the attempts of each step. Every state change of a run happens
//! in one transaction with whatever caused it, so a crash at any point
//! leaves either all of it or none.

use super::db::{Db, Dialect, Sql};
use super::sqlite::{SqliteStore, db_err};
use crate::crm::changes::Change;
use crate::crm::{CrmError, EntityKind, EntityRef, new_id, timestamp_text};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

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

impl SqliteStore {
    /// The finished steps of a run as templates see them: id → {status, output}.
    pub async fn step_results(
        &self,
        run_id: &str,
    ) -> Result<serde_json::Map<String, Value>, CrmError> {
        self.read_native(|c| step_results(c, run_id)).await
    }

    /// Makes every step marked running claimable again. Called when a server
    /// starts: on the embedded database no other server shares the steps,
    /// so any step still marked running belonged to a process that died
    /// (its uncommitted effects died with it), and need not wait out its lease.
    pub async fn release_running_steps(&self) -> Result<u64, CrmError> {
        let done = sqlx::query(
            "UPDATE run_steps SET status = 'pending', lease_until = NULL WHERE status = 'running'",
        )
        .execute(self.writer())
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    /// Puts a claimed step back to wait until `due_at` without counting the
    /// attempt (its `at` time has not come yet).
    pub async fn defer_step(
        &self,
        step_id: &str,
        attempt: u32,
        due_at: DateTime<Utc>,
    ) -> Result<(), CrmError> {
        sqlx::query(
            "UPDATE run_steps SET status = 'pending', attempts = attempts - 1, lease_until = NULL, due_at = ?
             WHERE id = ? AND status = 'running' AND attempts = ?",
        )
        .bind(timestamp_text(due_at))
        .bind(step_id)
        .bind(i64::from(attempt))
        .execute(self.writer())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// When the next step is due, if any is waiting.
    pub async fn next_due(&self) -> Result<Option<String>, CrmError> {
        sqlx::query_scalar("SELECT MIN(due_at) FROM run_steps WHERE status = 'pending'")
            .fetch_one(self.reader())
            .await
            .map_err(db_err)
    }

    /// Runs, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, CrmError> {
        let (kind, id) = filter.entity.as_ref().map_or((None, None), |e| {
            (Some(e.kind.as_str()), Some(e.id.as_str()))
        });
        // The access condition is static text from crate::access (kinds,
        // tables, columns); its values are bound like the filters'.
        let seen = filter
            .seen_by
            .as_ref()
            .and_then(|a| a.subject_sql("runs.entity_kind", "runs.entity_id"));
        let sql = format!(
            "SELECT id, process_id, process_version, status, entity_kind, entity_id, error,
                    created_at, finished_at
             FROM runs
             WHERE (? IS NULL OR process_id = ?) AND (? IS NULL OR status = ?)
               AND (? IS NULL OR entity_kind = ?) AND (? IS NULL OR entity_id = ?)
               AND (? IS NULL OR id < ?) AND (? IS NULL OR created_at >= ?)
               AND (? IS NULL OR created_at < ?) AND {}
             ORDER BY id DESC LIMIT ?",
            seen.as_ref().map_or("1", |(sql, _)| sql.as_str())
        );
        let mut query = sqlx::query(&sql);
        for value in [&filter.process_id, &filter.status] {
            query = query.bind(value).bind(value);
        }
        for value in [kind, id] {
            query = query.bind(value).bind(value);
        }
        query = query.bind(&filter.after).bind(&filter.after);
        for at in [filter.from, filter.to] {
            let text = at.map(timestamp_text);
            query = query.bind(text.clone()).bind(text);
        }
        if let Some((_, binds)) = &seen {
            let user = filter.seen_by.as_ref().and_then(|a| a.user_id.clone());
            for _ in 0..*binds {
                query = query.bind(user.clone());
            }
        }
        let rows = query
            .bind(i64::from(filter.limit.clamp(1, 1000)))
            .fetch_all(self.reader())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(run_summary).collect())
    }

    /// One run.
    pub async fn get_run(&self, id: &str) -> Result<Option<RunSummary>, CrmError> {
        let row = sqlx::query(
            "SELECT id, process_id, process_version, status, entity_kind, entity_id, error,
                    created_at, finished_at
             FROM runs WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        Ok(row.map(run_summary))
    }

    /// A run's steps with every attempt, in order.
    pub async fn run_steps(&self, run_id: &str) -> Result<Vec<StepLog>, CrmError> {
        let steps = sqlx::query(
            "SELECT id, step_key, status, attempts, due_at, input, output, error
             FROM run_steps WHERE run_id = ? ORDER BY created_at, rowid",
        )
        .bind(run_id)
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        let mut out = Vec::new();
        for s in steps {
            let id: String = s.get("id");
            let attempts = sqlx::query(
                "SELECT attempt, status, input, output, error, logs, started_at, finished_at, duration_ms,
                        digest
                 FROM step_attempts WHERE step_id = ? ORDER BY attempt, started_at",
            )
            .bind(&id)
            .fetch_all(self.reader())
            .await
            .map_err(db_err)?;
            let log = attempts
                .into_iter()
                .map(|a| {
                    serde_json::json!({
                        "attempt": a.get::<i64, _>("attempt"),
                        "status": a.get::<String, _>("status"),
                        "input": json_col(a.get("input")),
                        "output": json_col(a.get("output")),
                        "error": a.get::<Option<String>, _>("error"),
                        "logs": json_col(a.get("logs")),
                        "started_at": a.get::<String, _>("started_at"),
                        "finished_at": a.get::<String, _>("finished_at"),
                        "duration_ms": a.get::<i64, _>("duration_ms"),
                        "digest": a.get::<Option<String>, _>("digest"),
                    })
                })
                .collect();
            out.push(StepLog {
                id,
                step: s.get("step_key"),
                status: s.get("status"),
                attempts: s.get("attempts"),
                due_at: s.get("due_at"),
                input: json_col(s.get("input")),
                output: json_col(s.get("output")),
                error: s.get("error"),
                log,
            });
        }
        Ok(out)
    }

    /// Cancels a running run and its waiting steps; false if it is not running.
    pub async fn cancel_run(&self, id: &str, now: DateTime<Utc>) -> Result<bool, CrmError> {
        let now = timestamp_text(now);
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE runs SET status = 'cancelled', updated_at = ?, finished_at = ?
             WHERE id = ? AND status = 'running'",
        )
        .bind(&now)
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 1 {
            sqlx::query(
                "UPDATE run_steps SET status = 'cancelled', lease_until = NULL, finished_at = ?
                 WHERE run_id = ? AND status IN ('pending', 'running', 'waiting')",
            )
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query(
                "UPDATE approvals SET status = 'cancelled', decided_at = ?
                 WHERE run_id = ? AND status = 'pending'",
            )
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    /// Runs a failed run's failed step again, with fresh attempts; false if
    /// the run has not failed.
    pub async fn retry_run(&self, id: &str, now: DateTime<Utc>) -> Result<bool, CrmError> {
        let now = timestamp_text(now);
        let mut tx = self.write_tx().await?;
        let step = sqlx::query(
            "SELECT s.step_index, s.step_key, s.item FROM run_steps s JOIN runs r ON r.id = s.run_id
             WHERE r.id = ? AND r.status = 'failed' AND s.status = 'failed'
             ORDER BY s.created_at DESC, s.rowid DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(step) = step else { return Ok(false) };
        sqlx::query(
            "UPDATE runs SET status = 'running', error = NULL, finished_at = NULL, updated_at = ?
             WHERE id = ?",
        )
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO run_steps (id, run_id, step_index, step_key, item, status, due_at, created_at)
             VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
        )
        .bind(new_id())
        .bind(id)
        .bind(step.get::<i64, _>("step_index"))
        .bind(step.get::<String, _>("step_key"))
        .bind(step.get::<Option<i64>, _>("item"))
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    /// Trigger-to-completion times, in milliseconds, of the completed runs
    /// whose deal's title starts with `prefix` (for `robota bench`): from
    /// the event to the commit of the run's end.
    pub async fn run_latencies_ms(&self, prefix: &str) -> Result<Vec<f64>, CrmError> {
        let rows = sqlx::query(
            "SELECT e.at AS started, r.updated_at AS finished
             FROM runs r JOIN deals d ON d.id = r.entity_id
             JOIN events e ON e.entity_id = d.id AND e.kind = 'created'
             WHERE r.status = 'completed' AND d.title LIKE ? || '%'",
        )
        .bind(prefix)
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let at = |c: &str| {
                    DateTime::parse_from_rfc3339(&r.get::<String, _>(c))
                        .ok()
                        .map(|t| t.with_timezone(&Utc))
                };
                let ms = (at("finished")? - at("started")?).num_microseconds()? as f64 / 1000.0;
                Some(ms)
            })
            .collect())
    }

    /// Where the time of the completed runs on deals titled `prefix…` went,
    /// one [`RunPhases`] per run (for `robota bench`).
    pub async fn run_phases(&self, prefix: &str) -> Result<Vec<RunPhases>, CrmError> {
        let rows = sqlx::query(
            "SELECT r.id AS run_id, e.at AS event_at, r.created_at AS run_at,
                    r.updated_at AS committed,
                    s.step_index, s.created_at AS scheduled, s.started_at AS claimed,
                    a.started_at AS began, a.finished_at AS ended
             FROM runs r JOIN deals d ON d.id = r.entity_id
             JOIN events e ON e.entity_id = d.id AND e.kind = 'created'
             JOIN run_steps s ON s.run_id = r.id
             JOIN step_attempts a ON a.step_id = s.id
             WHERE r.status = 'completed' AND d.title LIKE ? || '%'
             ORDER BY r.id, s.step_index, a.attempt",
        )
        .bind(prefix)
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        let ms = |from: &str, to: &str| -> f64 {
            let at = |t: &str| DateTime::parse_from_rfc3339(t).ok();
            match (at(from), at(to)) {
                (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0,
                _ => f64::NAN,
            }
        };
        let mut out: Vec<RunPhases> = Vec::new();
        let mut last_end: Option<(String, String)> = None;
        for r in rows {
            let run: String = r.get("run_id");
            let scheduled: String = r.get("scheduled");
            let claimed: Option<String> = r.get("claimed");
            let claimed = claimed.unwrap_or_else(|| scheduled.clone());
            let began: String = r.get("began");
            let ended: String = r.get("ended");
            if out.last().is_none_or(|p| p.run_id != run) {
                out.push(RunPhases {
                    run_id: run.clone(),
                    dispatch: ms(
                        &r.get::<String, _>("event_at"),
                        &r.get::<String, _>("run_at"),
                    ),
                    ..RunPhases::default()
                });
                last_end = None;
            }
            let Some(phases) = out.last_mut() else {
                continue;
            };
            // Until the run's end is committed; the last step's row counts.
            phases.committing_end = ms(&ended, &r.get::<String, _>("committed"));
            if let Some((prev_run, prev_end)) = &last_end
                && *prev_run == run
            {
                phases.committing += ms(prev_end, &scheduled);
            }
            // A round takes its time before writing, so a step claimed in
            // the round that wrote it has a claim time before its row's.
            let queued = ms(&scheduled, &claimed);
            let (queued, ready) = if queued > 0.0 {
                (queued, &claimed)
            } else {
                (0.0, &scheduled)
            };
            phases.queued += queued;
            phases.starting += ms(ready, &began);
            phases.running += ms(&began, &ended);
            last_end = Some((run, ended));
        }
        Ok(out)
    }

    /// Counts the CRM's tasks (for `robota bench`'s check of the effects).
    pub async fn count_tasks(&self) -> Result<i64, CrmError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM tasks")
            .fetch_one(self.reader())
            .await
            .map_err(db_err)
    }

    /// Counts runs by status (for `robota bench` and the demo).
    pub async fn count_runs(&self, status: &str) -> Result<i64, CrmError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE status = ?")
            .bind(status)
            .fetch_one(self.reader())
            .await
            .map_err(db_err)
    }
}

fn run_summary(r: sqlx::sqlite::SqliteRow) -> RunSummary {
    RunSummary {
        id: r.get("id"),
        process_id: r.get("process_id"),
        process_version: r.get("process_version"),
        status: r.get("status"),
        entity: subject_of(r.get("entity_kind"), r.get("entity_id")),
        error: r.get("error"),
        created_at: r.get("created_at"),
        finished_at: r.get("finished_at"),
    }
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
