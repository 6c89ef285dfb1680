//! Where a finished step goes to be committed: straight to the store (one
//! transaction per step, for callers that drive the engine step by step),
//! or to the step loop's next round, which commits every step finished
//! meanwhile in one transaction (see [`crate::store::SqliteStore::commit_round`]).

use super::runtime::Engine;
use crate::crm::CrmError;
use crate::crm::changes::CommitReport;
use crate::store::runs::{StepFinish, Then};
use tokio::sync::{mpsc, oneshot};

/// A finished step waiting for the step loop's next round.
pub(super) struct PendingFinish {
    /// What to commit.
    pub finish: StepFinish,
    /// Where its outcome goes.
    pub reply: oneshot::Sender<Result<CommitReport, CrmError>>,
}

/// How a step's finish is committed.
#[derive(Clone)]
pub(super) enum Committer {
    /// In a transaction of its own.
    Direct,
    /// In the step loop's next round.
    Round(mpsc::UnboundedSender<PendingFinish>),
}

impl Engine {
    /// Commits `finish` through `via` and wakes the loops when it scheduled
    /// more work.
    pub(super) async fn store_finish(
        &self,
        via: &Committer,
        finish: StepFinish,
    ) -> Result<CommitReport, CrmError> {
        let more_work = matches!(finish.then, Then::Next(_) | Then::Retry(_));
        let result = match via {
            Committer::Direct => self.store.finish_step(&finish).await,
            Committer::Round(rounds) => {
                let (reply, outcome) = oneshot::channel();
                rounds
                    .send(PendingFinish { finish, reply })
                    .map_err(|_| stopped())?;
                outcome.await.map_err(|_| stopped())?
            }
        };
        if result.is_ok() && more_work {
            self.poke();
        }
        result
    }
}

fn stopped() -> CrmError {
    CrmError::Storage("the step loop stopped before committing the step".into())
}
