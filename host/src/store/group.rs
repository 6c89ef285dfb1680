//! Group commit for CRM change sets.
//!
//! While the engine's step loop runs, [`CrmStore::commit`] (API writes,
//! direct action calls) does not open a transaction of its own: it hands
//! its change set to the loop's next round, which commits it with
//! everything else in that round under one sync. Without this, every API
//! write took the single writer for a sync of its own, and under load the
//! rounds spent most of their time waiting behind those syncs.
//!
//! The answer is the same as a direct commit's: the change set is applied
//! whole or refused whole (a savepoint per change set in the round), and
//! the call returns once it is durable. When no loop runs, or the loop
//! stops before the change set's round, the store commits it directly.
//!
//! [`CrmStore::commit`]: super::CrmStore::commit

use crate::crm::CrmError;
use crate::crm::changes::{Change, CommitReport};
use std::sync::{Arc, RwLock};
use tokio::sync::oneshot;

/// A change set waiting for a round.
#[derive(Debug)]
pub struct PendingCommit {
    /// The changes, applied whole or not at all.
    pub changes: Vec<Change>,
    /// The outcome, once the round committed (or refused the set).
    pub reply: oneshot::Sender<Result<CommitReport, CrmError>>,
}

/// Where change sets go to be group-committed: returns false when it no
/// longer takes them (the loop stopped).
pub type CommitSink = Arc<dyn Fn(PendingCommit) -> bool + Send + Sync>;

/// The store's current sink, if a step loop runs.
#[derive(Default)]
pub(super) struct CommitRoute {
    sink: RwLock<Option<CommitSink>>,
}

impl std::fmt::Debug for CommitRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitRoute")
            .field("routed", &self.get().is_some())
            .finish()
    }
}

impl CommitRoute {
    /// Sets (or, with None, removes) the sink.
    pub(super) fn set(&self, sink: Option<CommitSink>) {
        // A panic while holding the lock cannot leave the Option half set.
        *self
            .sink
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = sink;
    }

    /// The sink, if any.
    pub(super) fn get(&self) -> Option<CommitSink> {
        self.sink
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Hands `changes` to the sink and waits for its round. None when there
    /// is no sink or it dropped the set before committing it (the caller
    /// then commits directly: nothing of the set was written).
    pub(super) async fn commit(
        &self,
        changes: &[Change],
    ) -> Option<Result<CommitReport, CrmError>> {
        let sink = self.get()?;
        let (reply, answer) = oneshot::channel();
        let pending = PendingCommit {
            changes: changes.to_vec(),
            reply,
        };
        if !sink(pending) {
            return None;
        }
        answer.await.ok()
    }
}
