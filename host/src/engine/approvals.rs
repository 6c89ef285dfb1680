//! Approval steps: opening the human task when the step runs, a person's
//! decision (or the timeout's) that continues the run down the chosen branch.

use super::definition::{Approval, Decision, Process};
use super::flow::Outcome;
use super::runtime::{Engine, chrono_duration, then_after};
use super::scope::Scope;
use crate::crm::{CrmError, new_id};
use crate::store::CrmStore as _;
use crate::store::approvals::{ApprovalRow, Decided, NewApproval};
use crate::store::prelude::*;
use crate::store::runs::{AttemptStatus, ClaimedStep, StepFinish, Then};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Who decides, as the API knows them.
#[derive(Debug, Clone)]
pub struct Decider {
    /// Their user id, if their token has one.
    pub user_id: Option<String>,
    /// Their role.
    pub role: String,
}

/// Why a decision was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// No such approval.
    #[error("no approval `{0}`")]
    NotFound(String),
    /// The caller is not its assignee.
    #[error("approval `{0}` is for {1}, not for you")]
    NotYours(String, String),
    /// The decider wrote what the approval is about.
    #[error("approval `{0}` is about your own {1}: nobody decides their own request")]
    OwnRequest(String, String),
    /// A rejection needs a reason.
    #[error("a rejection needs a comment saying why")]
    CommentRequired,
    /// Already decided, or the run moved on.
    #[error("{0}")]
    Conflict(crate::crm::Clash),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<CrmError> for DecideError {
    fn from(e: CrmError) -> DecideError {
        match e {
            CrmError::Conflict(m) => DecideError::Conflict(m),
            other => DecideError::Other(other.into()),
        }
    }
}

impl Engine {
    /// The finish record that opens an approval for a claimed step.
    pub(super) fn open_approval(
        &self,
        claimed: &ClaimedStep,
        started: DateTime<Utc>,
        approval: &Approval,
        scope: &Scope,
        process: &Process,
    ) -> StepFinish {
        let ctx = scope.to_value(false);
        let rendered = (|| -> Result<NewApproval, String> {
            let assignee_id = match &approval.assignee {
                Some(t) => {
                    let id = self.templates.render(t, &ctx)?;
                    if id.trim().is_empty() {
                        return Err(format!("the assignee `{t}` is empty for this run"));
                    }
                    Some(id)
                }
                None => None,
            };
            Ok(NewApproval {
                id: new_id(),
                title: self.templates.render(&approval.title, &ctx)?,
                description: self.templates.render(&approval.description, &ctx)?,
                assignee_id,
                assignee_role: approval.role.clone(),
                entity: claimed.subject.clone(),
                expires_at: approval
                    .timeout
                    .map(|t| self.clock.now() + chrono_duration(Some(t))),
            })
        })();
        match rendered {
            Ok(new) => {
                let mut f = self.finish(
                    claimed,
                    started,
                    AttemptStatus::Waiting,
                    Some(json!({ "approval_id": new.id, "title": new.title })),
                    Ok(serde_json::Value::Null),
                    process,
                );
                f.output = None;
                f.then = Then::Wait(new);
                f
            }
            Err(e) => self.finish(
                claimed,
                started,
                AttemptStatus::Failed,
                None,
                Err(format!("approval: {e}")),
                process,
            ),
        }
    }

    /// A person decides an approval; the run goes on down the branch.
    pub async fn decide(
        &self,
        approval_id: &str,
        who: &Decider,
        decision: Decision,
        comment: Option<String>,
    ) -> Result<ApprovalRow, DecideError> {
        let approval = self
            .store
            .get_approval(approval_id)
            .await?
            .ok_or_else(|| DecideError::NotFound(approval_id.to_owned()))?;
        let mine = who.role == "admin"
            || (approval.assignee_id.is_some() && approval.assignee_id == who.user_id)
            || approval.assignee_role.as_deref() == Some(who.role.as_str());
        if !mine {
            let owner = match (&approval.assignee_id, &approval.assignee_role) {
                (Some(u), _) => format!("user {u}"),
                (None, Some(r)) => format!("the role {r}"),
                (None, None) => "nobody".to_owned(),
            };
            return Err(DecideError::NotYours(approval_id.to_owned(), owner));
        }
        if let Some(subject) = &approval.entity
            && subject.kind == crate::crm::EntityKind::PaymentRequest
            && who.user_id.is_some()
        {
            let author = self.store.get(subject).await?.and_then(|r| {
                r.get("author_id")
                    .and_then(|a| a.as_str().map(str::to_owned))
            });
            if author.is_some() && author == who.user_id {
                return Err(DecideError::OwnRequest(
                    approval_id.to_owned(),
                    subject.kind.to_string(),
                ));
            }
        }
        let comment = comment.filter(|c| !c.trim().is_empty());
        if decision == Decision::Reject && comment.is_none() {
            return Err(DecideError::CommentRequired);
        }
        let by = who
            .user_id
            .clone()
            .unwrap_or_else(|| format!("role:{}", who.role));
        self.commit_decision(&approval, decision, decision.as_str(), by, comment)
            .await?;
        self.poke();
        Ok(self
            .store
            .get_approval(approval_id)
            .await?
            .unwrap_or(approval))
    }

    /// Decides every approval whose timeout has passed, as its step says.
    pub async fn expire_approvals(&self) -> anyhow::Result<usize> {
        let mut n = 0;
        for id in self.store.expired_approvals(self.clock.now()).await? {
            let Some(approval) = self.store.get_approval(&id).await? else {
                continue;
            };
            let process = self
                .process(&approval.process_id, approval.process_version)
                .await?;
            let decision = match process.steps.get(approval.step_index).map(|s| &s.work) {
                Some(super::definition::Work::Approval(a)) => a.on_timeout,
                _ => Decision::Reject,
            };
            match self
                .commit_decision(&approval, decision, "expired", "timeout".to_owned(), None)
                .await
            {
                Ok(()) => n += 1,
                Err(DecideError::Conflict(_)) => {}
                Err(e) => return Err(anyhow::anyhow!("{e}")),
            }
        }
        if n > 0 {
            self.poke();
        }
        Ok(n)
    }

    async fn commit_decision(
        &self,
        approval: &ApprovalRow,
        decision: Decision,
        status: &'static str,
        by: String,
        comment: Option<String>,
    ) -> Result<(), DecideError> {
        let process = self
            .process(&approval.process_id, approval.process_version)
            .await?;
        let now = self.clock.now();
        let outcome = match decision {
            Decision::Approve => Outcome::Approved,
            Decision::Reject => Outcome::Rejected,
        };
        let decided = Decided {
            status,
            by: by.clone(),
            comment: comment.clone(),
            at: now,
            output: json!({
                "decision": decision.as_str(),
                "approved": decision == Decision::Approve,
                "expired": status == "expired",
                "by": by,
                "comment": comment,
            }),
            then: then_after(&process, approval.step_index, outcome, now),
        };
        self.store.decide_approval(approval, &decided).await?;
        Ok(())
    }
}
