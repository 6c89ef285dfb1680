//! Approval steps' human tasks: opened when the step runs, decided by a
//! person (or by the timeout), and the decision committed with the step's
//! result and the run's next step in one transaction.

use super::backend::Backend;
use super::db::{Db, Failure, Row, Sql, TxEnd};
use super::runs::{AttemptStatus, Then, apply_then};
use crate::crm::{Clash, CrmError, EntityKind, EntityRef, new_id, timestamp_text};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

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

fn row(mut r: Row) -> ApprovalRow {
    let entity = match (r.take(10), r.take(11)) {
        (Some(k), Some(id)) => EntityKind::parse(&k).map(|kind| EntityRef { kind, id }),
        _ => None,
    };
    ApprovalRow {
        id: r.take(0).unwrap_or_default(),
        run_id: r.take(1).unwrap_or_default(),
        step_id: r.take(2).unwrap_or_default(),
        step_index: r
            .int(3)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(usize::MAX),
        process_id: r.take(4).unwrap_or_default(),
        process_version: r.int(5).unwrap_or_default(),
        title: r.take(6).unwrap_or_default(),
        description: r.take(7).unwrap_or_default(),
        assignee_id: r.take(8),
        assignee_role: r.take(9),
        entity,
        status: r.take(12).unwrap_or_default(),
        decided_by: r.take(13),
        comment: r.take(14),
        expires_at: r.take(15),
        created_at: r.take(16).unwrap_or_default(),
        decided_at: r.take(17),
    }
}

/// The approvals of a store: what steps wait for, and the decisions.
#[async_trait::async_trait]
pub trait Approvals: Backend {
    /// One approval.
    async fn get_approval(&self, id: &str) -> Result<Option<ApprovalRow>, CrmError> {
        let id = Sql::from(id);
        self.read_with(Box::new(move |db| {
            Ok(db
                .query_opt(&format!("{SELECT} WHERE a.id = ?1"), &[id])?
                .map(row))
        }))
        .await
    }

    /// Approvals with `status` that `user_id` or `role` may decide (every
    /// one when `all`), oldest first.
    async fn list_approvals(
        &self,
        status: &str,
        user_id: Option<&str>,
        role: &str,
        all: bool,
    ) -> Result<Vec<ApprovalRow>, CrmError> {
        let params = vec![
            Sql::from(status),
            Sql::Int(i64::from(all)),
            Sql::from(user_id),
            Sql::from(role),
        ];
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(
                    &format!(
                        "{SELECT} WHERE a.status = ?1 AND (?2 OR a.assignee_id = ?3 OR a.assignee_role = ?4)
                         ORDER BY a.created_at LIMIT 500"
                    ),
                    &params,
                )?
                .into_iter()
                .map(row)
                .collect())
        }))
        .await
    }

    /// Pending approvals whose timeout has passed.
    async fn expired_approvals(&self, now: DateTime<Utc>) -> Result<Vec<String>, CrmError> {
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(
                    "SELECT id FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL
                     AND expires_at <= ?1 ORDER BY expires_at LIMIT 500",
                    &[Sql::Text(timestamp_text(now))],
                )?
                .into_iter()
                .filter_map(|mut r| r.take(0))
                .collect())
        }))
        .await
    }

    /// Commits a decision: the approval, the waiting step's result and the
    /// run's next step together. A decision on an approval that is no
    /// longer pending is a conflict and changes nothing (on several nodes
    /// too: the first decision's row update makes the others find it
    /// decided).
    async fn decide_approval(&self, approval: &ApprovalRow, d: &Decided) -> Result<(), CrmError> {
        let (approval, d) = (approval.clone(), d.clone());
        self.write_with(Box::new(move |db| {
            Ok((decide(db, &approval, &d)?, TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> Approvals for T {}

fn decide(db: &dyn Db, approval: &ApprovalRow, d: &Decided) -> Result<(), CrmError> {
    let at = timestamp_text(d.at);
    let done = db.execute(
        "UPDATE approvals SET status = ?1, decided_by = ?2, comment = ?3, decided_at = ?4
         WHERE id = ?5 AND status = 'pending'",
        &[
            Sql::from(d.status),
            Sql::from(&d.by),
            Sql::from(&d.comment),
            Sql::from(&at),
            Sql::from(&approval.id),
        ],
    )?;
    if done != 1 {
        return Err(CrmError::Conflict(Clash::AlreadyDecided {
            approval: approval.id.clone(),
        }));
    }
    let output = d.output.to_string();
    let Some(step) = db.query_opt(
        "UPDATE run_steps SET status = 'done', output = ?1, finished_at = ?2
         WHERE id = ?3 AND status = 'waiting' RETURNING attempts",
        &[
            Sql::from(&output),
            Sql::from(&at),
            Sql::from(&approval.step_id),
        ],
    )?
    else {
        return Err(CrmError::Conflict(Clash::NoLongerWaits {
            approval: approval.id.clone(),
        }));
    };
    db.execute(
        "INSERT INTO step_attempts (id, step_id, attempt, status, output, logs,
                                    started_at, finished_at, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
        &[
            Sql::Text(new_id()),
            Sql::from(&approval.step_id),
            Sql::Int(step.int(0).unwrap_or_default()),
            Sql::from(AttemptStatus::Done.as_str()),
            Sql::Text(output),
            Sql::Text(
                json!([{ "level": "info", "message": format!("{} by {}", d.status, d.by) }])
                    .to_string(),
            ),
            Sql::from(&approval.created_at),
            Sql::from(&at),
        ],
    )?;
    apply_then(db, &approval.run_id, &approval.step_id, &d.then, &at)
}
