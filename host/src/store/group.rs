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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{task, task_titles as titles};
    use crate::store::{CrmStore as _, SqliteStore};

    #[tokio::test]
    async fn commits_go_to_the_sink_while_one_is_set_and_directly_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();

        // A sink that commits what it is handed, counting the sets, as the
        // step loop's rounds do.
        let (sender, mut handed) = tokio::sync::mpsc::unbounded_channel::<PendingCommit>();
        let rounds = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while let Some(p) = handed.recv().await {
                    n += 1;
                    let sets = [p.changes.as_slice()];
                    let round = store.commit_round(&[], &sets, &[], None).await.unwrap();
                    let _ = p.reply.send(round.committed.into_iter().next().unwrap());
                }
                n
            })
        };
        store.route_commits(Some(Arc::new(move |p| sender.send(p).is_ok())));
        let report = store.commit(&[task("routed")]).await.unwrap();
        assert_eq!(report.created.len(), 1);
        store.route_commits(None);
        assert_eq!(rounds.await.unwrap(), 1, "the sink got the set");

        // No sink: a transaction of its own.
        store.commit(&[task("direct")]).await.unwrap();
        // A sink that drops the set unanswered (a loop stopping): the set is
        // committed directly, once.
        store.route_commits(Some(Arc::new(|p| {
            drop(p);
            true
        })));
        store.commit(&[task("dropped")]).await.unwrap();
        // A sink that no longer takes sets.
        store.route_commits(Some(Arc::new(|_| false)));
        store.commit(&[task("refused by the sink")]).await.unwrap();
        assert_eq!(
            titles(&store).await,
            ["routed", "direct", "dropped", "refused by the sink"]
        );
    }
}
