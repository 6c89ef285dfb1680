//! What the step loop gathers for its next round: finished steps, the runs
//! batches of events start and API change sets, split at round time into
//! what the round writes and where each answer goes.

use super::committer::{ForRound, PendingFinish, PendingStart};
use crate::crm::CrmError;
use crate::crm::changes::{Change, CommitReport};
use crate::store::events::EventStarts;
use crate::store::group::PendingCommit;
use crate::store::runs::StepFinish;
use tokio::sync::oneshot;

/// What the next round commits, with where the answers go.
#[derive(Default)]
pub(super) struct Batch {
    /// Finished steps.
    pub finishes: Vec<PendingFinish>,
    starts: Vec<PendingStart>,
    commits: Vec<PendingCommit>,
}

/// What a round writes.
pub(super) struct RoundInput {
    /// The runs batches of events start.
    pub starts: Vec<EventStarts>,
    /// API change sets.
    pub commits: Vec<Vec<Change>>,
    /// Finished steps.
    pub finishes: Vec<StepFinish>,
}

impl RoundInput {
    /// Whether the round writes nothing (it may still claim).
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty() && self.commits.is_empty() && self.finishes.is_empty()
    }
}

/// Where a round's answers go, in the order of its [`RoundInput`].
pub(super) struct Replies {
    starts: Vec<Reply<usize>>,
    commits: Vec<Reply<CommitReport>>,
    finishes: Vec<Reply<CommitReport>>,
}

type Reply<T> = oneshot::Sender<Result<T, CrmError>>;

impl Replies {
    /// Sends each its outcome. A task, dispatcher or API call that gave up
    /// waiting needs no answer.
    pub fn answer(
        self,
        started: Vec<Result<usize, CrmError>>,
        committed: Vec<Result<CommitReport, CrmError>>,
        finished: Vec<Result<CommitReport, CrmError>>,
    ) {
        fn send<T>(replies: Vec<Reply<T>>, results: Vec<Result<T, CrmError>>) {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        send(self.starts, started);
        send(self.commits, committed);
        send(self.finishes, finished);
    }

    /// Sends everyone the round's failure.
    pub fn fail(self, e: &CrmError) {
        fn send<T>(replies: Vec<Reply<T>>, e: &CrmError) {
            for reply in replies {
                let _ = reply.send(Err(CrmError::Storage(e.to_string())));
            }
        }
        send(self.starts, e);
        send(self.commits, e);
        send(self.finishes, e);
    }
}

impl Batch {
    /// Takes one more piece of work.
    pub fn add(&mut self, work: ForRound) {
        match work {
            ForRound::Finish(f) => self.finishes.push(*f),
            ForRound::Start(s) => self.starts.push(s),
            ForRound::Commit(c) => self.commits.push(c),
        }
    }

    /// Whether nothing was handed in.
    pub fn is_empty(&self) -> bool {
        self.finishes.is_empty() && self.starts.is_empty() && self.commits.is_empty()
    }

    /// What the round writes, and where its answers go.
    pub fn split(self) -> (RoundInput, Replies) {
        let (finishes, finish_replies) = self
            .finishes
            .into_iter()
            .map(|p| (p.finish, p.reply))
            .unzip();
        let (starts, start_replies) = self.starts.into_iter().map(|p| (p.batch, p.reply)).unzip();
        let (commits, commit_replies) = self
            .commits
            .into_iter()
            .map(|p| (p.changes, p.reply))
            .unzip();
        (
            RoundInput {
                starts,
                commits,
                finishes,
            },
            Replies {
                starts: start_replies,
                commits: commit_replies,
                finishes: finish_replies,
            },
        )
    }
}

impl Extend<ForRound> for Batch {
    fn extend<I: IntoIterator<Item = ForRound>>(&mut self, work: I) {
        for w in work {
            self.add(w);
        }
    }
}
