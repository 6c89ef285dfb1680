//! Runs, their steps and the attempts of each step. Every state change of a run happens
//! in one transaction with whatever caused it, so a crash at any point
//! leaves either all of it or none.

use super::apply::apply_change;
use super::sqlite::{SqliteStore, db_err};
use crate::crm::changes::{Change, CommitReport};
use crate::crm::{CrmError, EntityKind, EntityRef, new_id, timestamp_text};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Row, SqliteConnection};

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

/// Which due steps a round claims.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest {
    /// The engine's time.
    pub now: DateTime<Utc>,
    /// Until when the claimed steps are held.
    pub lease_until: DateTime<Utc>,
    /// At most this many.
    pub limit: usize,
}

/// What a round of [`SqliteStore::commit_round`] did.
#[derive(Debug)]
pub struct Round {
    /// Each finish's outcome, in the order given.
    pub results: Vec<Result<CommitReport, CrmError>>,
    /// The steps claimed.
    pub claimed: Vec<ClaimedStep>,
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
    /// At most this many.
    pub limit: u32,
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

fn subject_of(kind: Option<String>, id: Option<String>) -> Option<EntityRef> {
    Some(EntityRef {
        kind: EntityKind::parse(&kind?)?,
        id: id?,
    })
}

impl SqliteStore {
    /// Starts one run (manual, webhook); None if its trigger or `once_per`
    /// key already ran.
    pub async fn start_run(&self, run: &NewRun) -> Result<Option<String>, CrmError> {
        let mut tx = self.write_tx().await?;
        let started = insert_run(&mut tx, run).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(started.then(|| run.id.clone()))
    }

    /// Claims the earliest due step (or one whose lease ran out: its worker
    /// died), holding it until `lease_until`.
    pub async fn claim_step(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedStep>, CrmError> {
        let mut tx = self.write_tx().await?;
        let claimed = claim_steps(&mut tx, now, lease_until, 1).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(claimed.into_iter().next())
    }

    /// The finished steps of a run as templates see them: id → {status, output}.
    pub async fn step_results(
        &self,
        run_id: &str,
    ) -> Result<serde_json::Map<String, Value>, CrmError> {
        let rows = sqlx::query(
            "SELECT step_key, status, output FROM run_steps
             WHERE run_id = ? AND status IN ('done', 'skipped', 'failed')
             ORDER BY created_at, rowid",
        )
        .bind(run_id)
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let output = json_col(r.get("output")).unwrap_or(Value::Null);
                (
                    r.get::<String, _>("step_key"),
                    serde_json::json!({ "status": r.get::<String, _>("status"), "output": output }),
                )
            })
            .collect())
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

    /// Commits a step attempt: the action's CRM changes, the attempt log,
    /// the step's new state and the run's, all in one transaction. If the
    /// lease was lost (another worker took the step over), nothing is written.
    pub async fn finish_step(&self, f: &StepFinish) -> Result<CommitReport, CrmError> {
        let mut tx = self.write_tx().await?;
        let report = apply_finish(&mut tx, f).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(report)
    }

    /// One round of the engine's step loop in one transaction (group
    /// commit): every finished step is applied under its own savepoint, so
    /// one refused change set leaves the others in, and then up to
    /// `claim.limit` due steps are claimed. All of it reaches the disk with
    /// one sync instead of one per step and one per claim.
    pub async fn commit_round(
        &self,
        finishes: &[StepFinish],
        claim: Option<ClaimRequest>,
    ) -> Result<Round, CrmError> {
        let mut tx = self.write_tx().await?;
        let mut results = Vec::with_capacity(finishes.len());
        for f in finishes {
            sqlx::query("SAVEPOINT finish")
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let result = apply_finish(&mut tx, f).await;
            if result.is_err() {
                sqlx::query("ROLLBACK TO finish")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            sqlx::query("RELEASE finish")
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            results.push(result);
        }
        let claimed = match claim {
            Some(c) if c.limit > 0 => claim_steps(&mut tx, c.now, c.lease_until, c.limit).await?,
            _ => Vec::new(),
        };
        tx.commit().await.map_err(db_err)?;
        Ok(Round { results, claimed })
    }

    /// Runs, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, CrmError> {
        let (kind, id) = filter.entity.as_ref().map_or((None, None), |e| {
            (Some(e.kind.as_str()), Some(e.id.as_str()))
        });
        let rows = sqlx::query(
            "SELECT id, process_id, process_version, status, entity_kind, entity_id, error,
                    created_at, finished_at
             FROM runs
             WHERE (?1 IS NULL OR process_id = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR entity_kind = ?3) AND (?4 IS NULL OR entity_id = ?4)
               AND (?5 IS NULL OR id < ?5)
             ORDER BY id DESC LIMIT ?6",
        )
        .bind(&filter.process_id)
        .bind(&filter.status)
        .bind(kind)
        .bind(id)
        .bind(&filter.after)
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
                "SELECT attempt, status, input, output, error, logs, started_at, finished_at, duration_ms
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
    /// whose deal's title starts with `prefix` (for `robota bench`).
    pub async fn run_latencies_ms(&self, prefix: &str) -> Result<Vec<f64>, CrmError> {
        let rows = sqlx::query(
            "SELECT e.at AS started, r.finished_at AS finished
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

/// Claims up to `limit` steps: the earliest due pending ones, then any whose
/// lease ran out (their worker died), holding them until `lease_until`.
pub(super) async fn claim_steps(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<ClaimedStep>, CrmError> {
    let now = timestamp_text(now);
    let lease = timestamp_text(lease_until);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Two statements rather than one with OR: each walks its index in
    // order, where the OR would sort every pending step on each claim.
    let mut steps = sqlx::query(
        "UPDATE run_steps SET status = 'running', attempts = attempts + 1, lease_until = ?1,
             started_at = COALESCE(started_at, ?2)
         WHERE id IN (SELECT id FROM run_steps WHERE status = 'pending' AND due_at <= ?2
                      ORDER BY due_at LIMIT ?3)
         RETURNING id, run_id, step_index, step_key, item, attempts",
    )
    .bind(&lease)
    .bind(&now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let left = limit - i64::try_from(steps.len()).unwrap_or(limit);
    if left > 0 {
        let expired = sqlx::query(
            "UPDATE run_steps SET status = 'running', attempts = attempts + 1, lease_until = ?1
             WHERE id IN (SELECT id FROM run_steps WHERE status = 'running' AND lease_until < ?2
                          ORDER BY due_at LIMIT ?3)
             RETURNING id, run_id, step_index, step_key, item, attempts",
        )
        .bind(&lease)
        .bind(&now)
        .bind(left)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        steps.extend(expired);
    }
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let run_ids: Vec<String> = steps.iter().map(|s| s.get("run_id")).collect();
    let runs = sqlx::query(
        "SELECT id, process_id, process_version, trigger, entity_kind, entity_id FROM runs
         WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(Value::from(run_ids).to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let runs: std::collections::HashMap<String, sqlx::sqlite::SqliteRow> = runs
        .into_iter()
        .map(|r| (r.get::<String, _>("id"), r))
        .collect();
    let mut claimed = Vec::with_capacity(steps.len());
    for step in steps {
        let run_id: String = step.get("run_id");
        let Some(run) = runs.get(&run_id) else {
            return Err(CrmError::Storage(format!("step of a missing run {run_id}")));
        };
        claimed.push(ClaimedStep {
            id: step.get("id"),
            run_id,
            index: usize::try_from(step.get::<i64, _>("step_index")).unwrap_or(usize::MAX),
            key: step.get("step_key"),
            item: step
                .get::<Option<i64>, _>("item")
                .and_then(|i| usize::try_from(i).ok()),
            attempt: u32::try_from(step.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
            process_id: run.get("process_id"),
            process_version: run.get("process_version"),
            trigger: serde_json::from_str(&run.get::<String, _>("trigger")).unwrap_or(Value::Null),
            subject: subject_of(run.get("entity_kind"), run.get("entity_id")),
        });
    }
    Ok(claimed)
}

/// Applies a step attempt inside the caller's transaction; see
/// [`SqliteStore::finish_step`].
pub(super) async fn apply_finish(
    tx: &mut SqliteConnection,
    f: &StepFinish,
) -> Result<CommitReport, CrmError> {
    let held: Option<String> = sqlx::query_scalar(
        "SELECT s.id FROM run_steps s JOIN runs r ON r.id = s.run_id
         WHERE s.id = ? AND s.status = 'running' AND s.attempts = ? AND r.status = 'running'",
    )
    .bind(&f.step_id)
    .bind(i64::from(f.attempt))
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    if held.is_none() {
        return Err(CrmError::Conflict(format!(
            "step {} is no longer held by this attempt",
            f.step_id
        )));
    }
    let mut report = CommitReport::default();
    for change in &f.changes {
        apply_change(&mut *tx, change, &mut report).await?;
    }
    let to_text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    let finished = timestamp_text(f.finished_at);
    let duration = (f.finished_at - f.started_at).num_milliseconds().max(0);
    sqlx::query(
        "INSERT INTO step_attempts (id, step_id, attempt, status, input, output, error, logs,
                                    started_at, finished_at, duration_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(new_id())
    .bind(&f.step_id)
    .bind(i64::from(f.attempt))
    .bind(f.status.as_str())
    .bind(to_text(&f.input))
    .bind(to_text(&f.output))
    .bind(&f.error)
    .bind(f.logs.to_string())
    .bind(timestamp_text(f.started_at))
    .bind(&finished)
    .bind(duration)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let (step_status, due) = match &f.then {
        Then::Retry(at) => ("pending", Some(timestamp_text(*at))),
        Then::Wait(_) => ("waiting", None),
        _ => (f.status.as_str(), None),
    };
    sqlx::query(
        "UPDATE run_steps SET status = ?, due_at = COALESCE(?, due_at), lease_until = NULL,
             input = ?, output = ?, error = ?,
             finished_at = CASE WHEN ? IN ('pending', 'waiting') THEN NULL ELSE ? END
         WHERE id = ?",
    )
    .bind(step_status)
    .bind(due)
    .bind(to_text(&f.input))
    .bind(to_text(&f.output))
    .bind(&f.error)
    .bind(step_status)
    .bind(&finished)
    .bind(&f.step_id)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    apply_then(&mut *tx, &f.run_id, &f.step_id, &f.then, &finished).await?;
    if let Some(run) = &f.start {
        insert_run(&mut *tx, run).await?;
    }
    Ok(report)
}

/// Does what follows a step: schedule the next, end the run, or open an approval.
pub(super) async fn apply_then(
    conn: &mut SqliteConnection,
    run_id: &str,
    step_id: &str,
    then: &Then,
    at: &str,
) -> Result<(), CrmError> {
    match then {
        Then::Next(step) => insert_step(conn, run_id, step).await,
        Then::Retry(_) => Ok(()),
        Then::Complete => finish_run(conn, run_id, "completed", None, at).await,
        Then::Fail(e) => finish_run(conn, run_id, "failed", Some(e), at).await,
        Then::Wait(approval) => super::approvals::insert(conn, run_id, step_id, approval).await,
    }
}

/// Inserts a run and its first step unless its trigger or `once_per` key ran already.
pub(super) async fn insert_run(
    conn: &mut SqliteConnection,
    run: &NewRun,
) -> Result<bool, CrmError> {
    let now = timestamp_text(Utc::now());
    let inserted = sqlx::query(
        "INSERT OR IGNORE INTO runs (id, process_id, process_version, status, trigger, entity_kind,
                                     entity_id, trigger_key, once_key, created_at, updated_at)
         VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&run.id)
    .bind(&run.process_id)
    .bind(run.process_version)
    .bind(run.trigger.to_string())
    .bind(run.subject.as_ref().map(|s| s.kind.as_str()))
    .bind(run.subject.as_ref().map(|s| s.id.as_str()))
    .bind(&run.trigger_key)
    .bind(&run.once_key)
    .bind(&now)
    .bind(&now)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if inserted.rows_affected() != 1 {
        return Ok(false);
    }
    insert_step(conn, &run.id, &run.first_step).await?;
    Ok(true)
}

pub(super) async fn insert_step(
    conn: &mut SqliteConnection,
    run_id: &str,
    step: &NewStep,
) -> Result<(), CrmError> {
    let now = timestamp_text(Utc::now());
    sqlx::query(
        "INSERT INTO run_steps (id, run_id, step_index, step_key, item, status, due_at, created_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
    )
    .bind(new_id())
    .bind(run_id)
    .bind(i64::try_from(step.index).unwrap_or(i64::MAX))
    .bind(&step.key)
    .bind(step.item.and_then(|i| i64::try_from(i).ok()))
    .bind(timestamp_text(step.due_at))
    .bind(&now)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(super) async fn finish_run(
    conn: &mut SqliteConnection,
    run_id: &str,
    status: &str,
    error: Option<&String>,
    at: &str,
) -> Result<(), CrmError> {
    sqlx::query(
        "UPDATE runs SET status = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?",
    )
    .bind(status)
    .bind(error)
    .bind(at)
    .bind(at)
    .bind(run_id)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::changes::Change;
    use crate::store::CrmStore as _;
    use serde_json::{Map, json};

    async fn store_with_runs(n: usize) -> (tempfile::TempDir, SqliteStore, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        store
            .save_process("p", "p.toml", "id = \"p\"", true)
            .await
            .unwrap();
        let mut runs = Vec::new();
        for i in 0..n {
            let id = new_id();
            let run = NewRun {
                id: id.clone(),
                process_id: "p".into(),
                process_version: 1,
                trigger: json!({ "n": i }),
                subject: None,
                trigger_key: format!("t{i}"),
                once_key: None,
                first_step: NewStep {
                    index: 0,
                    key: "a".into(),
                    item: None,
                    due_at: Utc::now() - chrono::Duration::seconds(10 - i as i64),
                },
            };
            assert!(store.start_run(&run).await.unwrap().is_some());
            runs.push(id);
        }
        (dir, store, runs)
    }

    fn finish(claimed: &ClaimedStep, changes: Vec<Change>) -> StepFinish {
        StepFinish {
            step_id: claimed.id.clone(),
            run_id: claimed.run_id.clone(),
            attempt: claimed.attempt,
            status: AttemptStatus::Done,
            input: None,
            output: Some(json!({ "ok": true })),
            error: None,
            logs: json!([]),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            changes,
            then: Then::Complete,
            start: None,
        }
    }

    fn claim(limit: usize) -> Option<ClaimRequest> {
        let now = Utc::now();
        Some(ClaimRequest {
            now,
            lease_until: now + chrono::Duration::minutes(5),
            limit,
        })
    }

    fn task(title: &str) -> Change {
        let mut fields = Map::new();
        fields.insert("title".into(), json!(title));
        Change::Create {
            kind: EntityKind::Task,
            id: new_id(),
            fields,
        }
    }

    #[tokio::test]
    async fn a_round_claims_due_steps_in_due_order_up_to_its_limit() {
        let (_dir, store, runs) = store_with_runs(3).await;
        let round = store.commit_round(&[], claim(2)).await.unwrap();
        let claimed: Vec<_> = round.claimed.iter().map(|c| c.run_id.clone()).collect();
        assert_eq!(claimed, runs[..2], "the two earliest due, oldest first");
        assert!(round.claimed.iter().all(|c| c.attempt == 1));
        assert_eq!(round.claimed[1].trigger, json!({ "n": 1 }));
        let round = store.commit_round(&[], claim(5)).await.unwrap();
        assert_eq!(round.claimed.len(), 1, "held steps are not claimed twice");
    }

    #[tokio::test]
    async fn a_refused_finish_in_a_round_leaves_the_others_committed() {
        let (_dir, store, _runs) = store_with_runs(3).await;
        let claimed = store.commit_round(&[], claim(3)).await.unwrap().claimed;
        let deal = EntityRef {
            kind: EntityKind::Deal,
            id: "no-such-deal".into(),
        };
        let finishes = vec![
            finish(&claimed[0], vec![task("first")]),
            // Its task is written, then its check fails: all of it must go.
            finish(
                &claimed[1],
                vec![
                    task("refused"),
                    Change::Expect {
                        target: deal,
                        field: "title".into(),
                        value: json!("x"),
                    },
                ],
            ),
            finish(&claimed[2], vec![task("third")]),
        ];
        let round = store.commit_round(&finishes, None).await.unwrap();
        assert!(round.results[0].is_ok());
        assert!(round.results[1].is_err(), "{:?}", round.results[1]);
        assert!(round.results[2].is_ok());
        let titles: Vec<String> = store
            .query(EntityKind::Task, &[], 10)
            .await
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(titles.len(), 2, "{titles:?}");
        assert!(titles.contains(&"first".to_owned()) && titles.contains(&"third".to_owned()));
        assert_eq!(store.count_runs("completed").await.unwrap(), 2);
        // The refused step is still held by its attempt and can finish later.
        let round = store
            .commit_round(&[finish(&claimed[1], vec![])], None)
            .await
            .unwrap();
        assert!(round.results[0].is_ok());
        assert_eq!(store.count_runs("completed").await.unwrap(), 3);
        // A stale attempt is refused.
        let round = store
            .commit_round(&[finish(&claimed[1], vec![])], None)
            .await
            .unwrap();
        assert!(matches!(round.results[0], Err(CrmError::Conflict(_))));
    }
}
