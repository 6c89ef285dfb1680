//! Approval steps' human tasks: opened when the step runs, decided by a
//! person (or by the timeout), and the decision committed with the step's
//! result and the run's next step in one transaction.

use super::db::{Db, Failure, Sql};
use super::runs::{AttemptStatus, Then, apply_then};
use super::sqlite::{SqliteStore, db_err};
use crate::crm::{Clash, CrmError, EntityKind, EntityRef, new_id, timestamp_text};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

/// An approval to open.
#[derive(Debug, Clone)]
pub struct NewApproval {
    /// Its id.
    pub id: String,
    /// The task's title.
    pub title: String,
    /// Details.
    pub description: String,
    /// The user who decides.
    pub assignee_id: Option<String>,
    /// Or anyone with this role.
    pub assignee_role: Option<String>,
    /// What it is about.
    pub entity: Option<EntityRef>,
    /// When the timeout decides for it.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An approval as people see it.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRow {
    /// Its id.
    pub id: String,
    /// The run waiting for it.
    pub run_id: String,
    /// The step waiting for it.
    pub step_id: String,
    /// The step's position in the process.
    #[serde(skip)]
    pub step_index: usize,
    /// The run's process.
    pub process_id: String,
    /// The run's process version.
    #[serde(skip)]
    pub process_version: i64,
    /// The title.
    pub title: String,
    /// Details.
    pub description: String,
    /// The user who decides.
    pub assignee_id: Option<String>,
    /// Or anyone with this role.
    pub assignee_role: Option<String>,
    /// What it is about.
    pub entity: Option<EntityRef>,
    /// pending, approved, rejected, expired or cancelled.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Their comment.
    pub comment: Option<String>,
    /// When the timeout decides.
    pub expires_at: Option<String>,
    /// When it was opened.
    pub created_at: String,
    /// When it was decided.
    pub decided_at: Option<String>,
}

/// A decision to commit.
#[derive(Debug, Clone)]
pub struct Decided {
    /// approved, rejected or expired.
    pub status: &'static str,
    /// Who decided (a user id, or "timeout").
    pub by: String,
    /// Why.
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// The step's output.
    pub output: Value,
    /// What the run does next.
    pub then: Then,
}

/// Opens an approval for a step (inside the step's transaction).
pub(super) fn insert(
    conn: &dyn Db,
    run_id: &str,
    step_id: &str,
    a: &NewApproval,
) -> Result<(), CrmError> {
    conn.execute(
        "INSERT INTO approvals (id, run_id, step_id, title, description, assignee_id, assignee_role,
                                entity_kind, entity_id, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        &[
            Sql::from(&a.id),
            Sql::from(run_id),
            Sql::from(step_id),
            Sql::from(&a.title),
            Sql::from(&a.description),
            Sql::from(&a.assignee_id),
            Sql::from(&a.assignee_role),
            Sql::from(a.entity.as_ref().map(|e| e.kind.as_str())),
            Sql::from(a.entity.as_ref().map(|e| e.id.as_str())),
            Sql::from(a.expires_at.map(timestamp_text)),
            Sql::Text(timestamp_text(crate::clock::now())),
        ],
    )
    .map_err(|e| {
        if e.failure == Failure::ForeignKey {
            CrmError::Invalid(format!(
                "the approval's assignee `{}` is not a user",
                a.assignee_id.as_deref().unwrap_or_default()
            ))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

const SELECT: &str =
    "SELECT a.id, a.run_id, a.step_id, s.step_index, r.process_id, r.process_version,
        a.title, a.description, a.assignee_id, a.assignee_role, a.entity_kind, a.entity_id,
        a.status, a.decided_by, a.comment, a.expires_at, a.created_at, a.decided_at
     FROM approvals a JOIN run_steps s ON s.id = a.step_id JOIN runs r ON r.id = a.run_id";

fn row(r: sqlx::sqlite::SqliteRow) -> ApprovalRow {
    let entity = match (
        r.get::<Option<String>, _>("entity_kind"),
        r.get::<Option<String>, _>("entity_id"),
    ) {
        (Some(k), Some(id)) => EntityKind::parse(&k).map(|kind| EntityRef { kind, id }),
        _ => None,
    };
    ApprovalRow {
        id: r.get("id"),
        run_id: r.get("run_id"),
        step_id: r.get("step_id"),
        step_index: usize::try_from(r.get::<i64, _>("step_index")).unwrap_or(usize::MAX),
        process_id: r.get("process_id"),
        process_version: r.get("process_version"),
        title: r.get("title"),
        description: r.get("description"),
        assignee_id: r.get("assignee_id"),
        assignee_role: r.get("assignee_role"),
        entity,
        status: r.get("status"),
        decided_by: r.get("decided_by"),
        comment: r.get("comment"),
        expires_at: r.get("expires_at"),
        created_at: r.get("created_at"),
        decided_at: r.get("decided_at"),
    }
}

impl SqliteStore {
    /// One approval.
    pub async fn get_approval(&self, id: &str) -> Result<Option<ApprovalRow>, CrmError> {
        let sql = format!("{SELECT} WHERE a.id = ?");
        let r = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map_err(db_err)?;
        Ok(r.map(row))
    }

    /// Approvals with `status` that `user_id` or `role` may decide (every
    /// one when `all`), oldest first.
    pub async fn list_approvals(
        &self,
        status: &str,
        user_id: Option<&str>,
        role: &str,
        all: bool,
    ) -> Result<Vec<ApprovalRow>, CrmError> {
        let sql = format!(
            "{SELECT} WHERE a.status = ?1 AND (?2 OR a.assignee_id = ?3 OR a.assignee_role = ?4)
             ORDER BY a.created_at LIMIT 500"
        );
        let rows = sqlx::query(&sql)
            .bind(status)
            .bind(all)
            .bind(user_id)
            .bind(role)
            .fetch_all(self.reader())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(row).collect())
    }

    /// Pending approvals whose timeout has passed.
    pub async fn expired_approvals(&self, now: DateTime<Utc>) -> Result<Vec<String>, CrmError> {
        sqlx::query_scalar(
            "SELECT id FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL
             AND expires_at <= ? ORDER BY expires_at LIMIT 500",
        )
        .bind(timestamp_text(now))
        .fetch_all(self.reader())
        .await
        .map_err(db_err)
    }

    /// Commits a decision: the approval, the waiting step's result and the
    /// run's next step together. A decision on an approval that is no
    /// longer pending is a conflict and changes nothing.
    pub async fn decide_approval(
        &self,
        approval: &ApprovalRow,
        d: &Decided,
    ) -> Result<(), CrmError> {
        let at = timestamp_text(d.at);
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE approvals SET status = ?, decided_by = ?, comment = ?, decided_at = ?
             WHERE id = ? AND status = 'pending'",
        )
        .bind(d.status)
        .bind(&d.by)
        .bind(&d.comment)
        .bind(&at)
        .bind(&approval.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Err(CrmError::Conflict(Clash::AlreadyDecided {
                approval: approval.id.clone(),
            }));
        }
        let step = sqlx::query(
            "UPDATE run_steps SET status = 'done', output = ?, finished_at = ?
             WHERE id = ? AND status = 'waiting' RETURNING attempts, created_at",
        )
        .bind(d.output.to_string())
        .bind(&at)
        .bind(&approval.step_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(step) = step else {
            return Err(CrmError::Conflict(Clash::NoLongerWaits {
                approval: approval.id.clone(),
            }));
        };
        sqlx::query(
            "INSERT INTO step_attempts (id, step_id, attempt, status, output, logs,
                                        started_at, finished_at, duration_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
        )
        .bind(new_id())
        .bind(&approval.step_id)
        .bind(step.get::<i64, _>("attempts"))
        .bind(AttemptStatus::Done.as_str())
        .bind(d.output.to_string())
        .bind(
            json!([{ "level": "info", "message": format!("{} by {}", d.status, d.by) }])
                .to_string(),
        )
        .bind(&approval.created_at)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        self.with_native(&mut tx, |c| {
            apply_then(c, &approval.run_id, &approval.step_id, &d.then, &at)
        })
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}
