//! Running one installed action outside any process, for API calls that
//! are an action's job (a bank statement upload runs `import-bank-statement`).
//! The action's CRM changes commit in one transaction with their events, so
//! processes trigger from them as from any other change.

use super::definition::ActionRef;
use super::runtime::Engine;
use crate::crm::CrmError;
use crate::crm::changes::CommitReport;
use crate::plugins::{CallError, CallRequest};
use crate::store::CrmStore;
use serde_json::Value;

/// How often a call whose commit meets a concurrent change runs again.
const CONFLICT_RERUNS: u32 = 3;

/// Why a direct call failed; nothing was committed.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// The action is not installed.
    #[error("action `{0}` is not installed")]
    NotInstalled(ActionRef),
    /// The action failed.
    #[error("{0}")]
    Action(CallError),
    /// The store refused the action's changes.
    #[error("the action's CRM changes were refused: {0}")]
    Refused(CrmError),
}

impl Engine {
    /// Runs `action` with `input` and commits its changes; returns its output.
    pub async fn call_now(
        &self,
        action: &ActionRef,
        input: &Value,
    ) -> Result<(Value, CommitReport), DirectError> {
        self.call_now_by(action, input, None).await
    }

    /// [`Engine::call_now`] for a person (`by`, a user id): the action's
    /// timeline entries and history name them.
    pub async fn call_now_by(
        &self,
        action: &ActionRef,
        input: &Value,
        by: Option<&str>,
    ) -> Result<(Value, CommitReport), DirectError> {
        let catalog = self.catalog();
        let installed = catalog
            .get(action)
            .ok_or_else(|| DirectError::NotInstalled(action.clone()))?;
        let call_id = format!("api-{}", crate::crm::new_id());
        let mut attempt = 1;
        loop {
            let request = CallRequest {
                run_id: call_id.clone(),
                step_id: call_id.clone(),
                idempotency_key: call_id.clone(),
                attempt,
                input: input.to_string(),
                grants: installed.grants.clone(),
                config: installed.config.clone(),
                limits: installed.limits,
                store: self.store.clone(),
                read: Vec::new(),
            };
            let outcome = self
                .host
                .call(&installed.plugin, request)
                .await
                .map_err(DirectError::Action)?;
            let mut changes = outcome.changes;
            if let Some(user_id) = by {
                changes.insert(
                    0,
                    crate::crm::changes::Change::By {
                        user_id: user_id.to_owned(),
                    },
                );
            }
            match self.store.commit(&changes).await {
                Ok(report) => {
                    self.wake.notify_waiters();
                    return Ok((outcome.output, report));
                }
                Err(CrmError::Conflict(_)) if attempt <= CONFLICT_RERUNS => attempt += 1,
                Err(e) => return Err(DirectError::Refused(e)),
            }
        }
    }
}
