//! Where a finished step, or the runs a batch of events starts, goes to be
//! committed: straight to the store (a transaction of its own, for callers
//! that drive the engine step by step), or to the step loop's next round,
//! which commits everything handed to it meanwhile in one transaction and
//! claims the steps that became due in it (see
//! [`crate::store::Database::commit_round`]).

use super::runtime::Engine;
use crate::crm::CrmError;
use crate::crm::changes::CommitReport;
use crate::store::events::EventStarts;
use crate::store::group::PendingCommit;
use crate::store::prelude::*;
use crate::store::runs::{StepFinish, Then};
use tokio::sync::{mpsc, oneshot};

/// A finished step waiting for the step loop's next round.
pub(super) struct PendingFinish {
    /// What to commit.
    pub finish: StepFinish,
    /// Where its outcome goes.
    pub reply: oneshot::Sender<Result<CommitReport, CrmError>>,
}

/// The runs a batch of events starts, waiting for the step loop's next
/// round.
pub(super) struct PendingStart {
    /// What to commit.
    pub batch: EventStarts,
    /// How many runs started, or why none did.
    pub reply: oneshot::Sender<Result<usize, CrmError>>,
}

/// What the step loop's next round is handed.
pub(super) enum ForRound {
    /// A finished step (boxed: a finish carries the step's whole outcome).
    Finish(Box<PendingFinish>),
    /// The runs of a batch of events.
    Start(PendingStart),
    /// A change set to group-commit (see [`crate::store::group`]).
    Commit(PendingCommit),
}

/// How a step's finish, or the runs events start, are committed.
#[derive(Clone)]
pub(super) enum Committer {
    /// In a transaction of its own.
    Direct,
    /// In the step loop's next round.
    Round(mpsc::UnboundedSender<ForRound>),
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
        let wrote_events = !finish.changes.is_empty();
        match via {
            Committer::Direct => {
                let result = self.store.finish_step(&finish).await;
                if result.is_ok() && (more_work || wrote_events) {
                    self.poke();
                }
                result
            }
            Committer::Round(rounds) => {
                let result = ask(rounds, |reply| {
                    ForRound::Finish(Box::new(PendingFinish { finish, reply }))
                })
                .await;
                // The round already claimed what became due in it.
                if result.is_ok() && wrote_events {
                    self.events_written();
                }
                result
            }
        }
    }

    /// Commits the runs of `batch` (and the event cursor's move) through
    /// `via`; returns how many started. Through a round, their first steps
    /// are claimed in the same transaction when there is room.
    pub(super) async fn store_starts(
        &self,
        via: &Committer,
        batch: EventStarts,
    ) -> Result<usize, CrmError> {
        match via {
            Committer::Direct => {
                let started = self.store.start_runs_for_events(&batch).await?;
                if started > 0 {
                    self.poke();
                }
                Ok(started)
            }
            Committer::Round(rounds) => {
                ask(rounds, |reply| {
                    ForRound::Start(PendingStart { batch, reply })
                })
                .await
            }
        }
    }
}

/// Hands the work `make` builds to the step loop and waits for its round's
/// answer.
async fn ask<T>(
    rounds: &mpsc::UnboundedSender<ForRound>,
    make: impl FnOnce(oneshot::Sender<Result<T, CrmError>>) -> ForRound,
) -> Result<T, CrmError> {
    let (reply, answer) = oneshot::channel();
    rounds.send(make(reply)).map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

fn stopped() -> CrmError {
    CrmError::Storage("the step loop stopped before committing the step".into())
}
