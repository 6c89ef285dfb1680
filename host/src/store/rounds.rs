//! The engine's writes in rounds (group commit): everything handed to the
//! step loop since its last round (the runs new events start, API change
//! sets, finished steps) and the claim of the next due steps go into one
//! transaction, so they reach the disk with one sync. The whole round runs
//! on the writer's own handle ([`super::native`]), `BEGIN` to `COMMIT`,
//! with kept prepared statements and no hand-off per statement. A refused
//! change set or finish leaves the others in (see
//! [`SqliteStore::commit_round`]).

use super::apply::LogRows;
use super::db::{Db, Dialect, Sql};
use super::events::{EventStarts, start_runs};
use super::native::TxEnd;
use super::runs::{ClaimedStep, StepFinish, Then, finish_run, insert_run, insert_step, subject_of};
use super::sqlite::{SqliteStore, apply_changes};
use crate::crm::changes::{Change, CommitReport};
use crate::crm::{Clash, CrmError, new_id, timestamp_text};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashSet;

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
    /// Each batch of event starts' outcome (how many runs it started), in
    /// the order given.
    pub started: Vec<Result<usize, CrmError>>,
    /// Each change set's outcome, in the order given.
    pub committed: Vec<Result<CommitReport, CrmError>>,
    /// Each finish's outcome, in the order given.
    pub results: Vec<Result<CommitReport, CrmError>>,
    /// The steps claimed.
    pub claimed: Vec<ClaimedStep>,
}

impl SqliteStore {
    /// Commits a step attempt: the action's CRM changes, the attempt log,
    /// the step's new state and the run's, all in one transaction. If the
    /// lease was lost (another worker took the step over), nothing is
    /// written and the answer is a conflict.
    pub async fn finish_step(&self, f: &StepFinish) -> Result<CommitReport, CrmError> {
        let round = self
            .commit_round(&[], &[], std::slice::from_ref(f), None)
            .await?;
        round
            .results
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(CrmError::Storage("the round lost its step".into())))
    }

    /// Claims the earliest due step (or one whose lease ran out: its worker
    /// died), holding it until `lease_until`.
    pub async fn claim_step(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedStep>, CrmError> {
        let round = self
            .commit_round(
                &[],
                &[],
                &[],
                Some(ClaimRequest {
                    now,
                    lease_until,
                    limit: 1,
                }),
            )
            .await?;
        Ok(round.claimed.into_iter().next())
    }

    /// One round in one transaction: the runs that batches of events start
    /// (with the event cursor's move; a batch whose cursor moved meanwhile
    /// starts nothing), then the change sets handed to the round (see
    /// [`super::group`]), each whole or refused whole, then every finish
    /// whose attempt still holds its step, then up to `claim.limit` due
    /// steps are claimed (the runs just started among them).
    ///
    /// Refusals are rare, so the round first runs without savepoints; if
    /// any finish's own writes are refused, it is rolled back and run again
    /// with a savepoint around each finish, which then leaves the refused
    /// one out and the others in.
    pub async fn commit_round(
        &self,
        starts: &[EventStarts],
        commits: &[&[Change]],
        finishes: &[StepFinish],
        claim: Option<ClaimRequest>,
    ) -> Result<Round, CrmError> {
        let work = RoundWork {
            starts,
            commits,
            finishes,
            claim,
        };
        if let Some(round) = self.try_round(&work, false).await? {
            return Ok(round);
        }
        match self.try_round(&work, true).await? {
            Some(round) => Ok(round),
            // With savepoints a refusal stays inside its finish's result.
            None => Err(CrmError::Storage(
                "internal error: a round with savepoints reported a refusal".into(),
            )),
        }
    }

    /// A round; None when `savepoints` is off and a finish was refused
    /// (nothing was committed then).
    async fn try_round(
        &self,
        work: &RoundWork<'_>,
        savepoints: bool,
    ) -> Result<Option<Round>, CrmError> {
        // The whole round, BEGIN and COMMIT included, runs on the writer's
        // handle: one hand-off to sqlx's worker, none per statement.
        self.write_native(|c| {
            Ok(match run_round(c, work, savepoints)? {
                Some(round) => (Some(round), TxEnd::Commit),
                None => (None, TxEnd::Rollback),
            })
        })
        .await
    }
}

/// What one round writes.
#[derive(Clone, Copy)]
pub(super) struct RoundWork<'a> {
    /// Batches of event starts.
    pub starts: &'a [EventStarts],
    /// Change sets handed to the round.
    pub commits: &'a [&'a [Change]],
    /// Step finishes.
    pub finishes: &'a [StepFinish],
    /// Which due steps to claim.
    pub claim: Option<ClaimRequest>,
}

/// The statements of a round, inside its transaction; None when
/// `savepoints` is off and a finish was refused (the caller rolls back).
pub(super) fn run_round(
    conn: &dyn Db,
    work: &RoundWork<'_>,
    savepoints: bool,
) -> Result<Option<Round>, CrmError> {
    let RoundWork {
        starts,
        commits,
        finishes,
        claim,
    } = *work;
    // A batch whose cursor moved writes nothing: no savepoint needed.
    let started = starts
        .iter()
        .map(|batch| start_runs(conn, batch))
        .collect::<Result<Vec<_>, _>>()?;
    // The timeline entries and events of what was applied.
    let mut log = LogRows::default();
    let mut committed = Vec::with_capacity(commits.len());
    for changes in commits {
        match own_piece(conn, savepoints, |c| apply_changes(c, changes))? {
            Ok((report, rows)) => {
                log.append(rows);
                committed.push(Ok(report));
            }
            Err(_) if !savepoints => return Ok(None),
            Err(e) => committed.push(Err(e)),
        }
    }
    let held = held_steps(conn, finishes)?;
    let mut results = Vec::with_capacity(finishes.len());
    let mut applied = Vec::with_capacity(finishes.len());
    for f in finishes {
        if !held.contains(&(f.step_id.as_str(), i64::from(f.attempt))) {
            results.push(Err(CrmError::Conflict(Clash::Raced(format!(
                "step {} is no longer held by this attempt",
                f.step_id
            )))));
            continue;
        }
        let own = !f.changes.is_empty() || matches!(f.then, Then::Wait(_)) || f.start.is_some();
        let result = if own {
            own_piece(conn, savepoints, |c| own_writes(c, f))?
        } else {
            Ok((CommitReport::default(), LogRows::default()))
        };
        match result {
            Ok((report, rows)) => {
                log.append(rows);
                applied.push(f);
                results.push(Ok(report));
            }
            Err(_) if !savepoints => return Ok(None),
            Err(e) => results.push(Err(e)),
        }
    }
    log.write(conn)?;
    record_finishes(conn, &applied)?;
    let claimed = match claim {
        Some(c) if c.limit > 0 => claim_steps(conn, c.now, c.lease_until, c.limit)?,
        _ => Vec::new(),
    };
    Ok(Some(Round {
        started,
        committed,
        results,
        claimed,
    }))
}

/// The (step id, attempt) pairs among `finishes` whose step is still held
/// by that attempt in a running run.
fn held_steps<'f>(
    conn: &dyn Db,
    finishes: &'f [StepFinish],
) -> Result<HashSet<(&'f str, i64)>, CrmError> {
    let mut held = HashSet::with_capacity(finishes.len());
    if finishes.is_empty() {
        return Ok(held);
    }
    // On PostgreSQL the step's row stays locked until the commit: a node
    // taking over an expired lease meanwhile skips it, and the finish that
    // found its attempt holding the step is the one that writes.
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT s.attempts FROM run_steps s JOIN runs r ON r.id = s.run_id
             WHERE s.id = ?1 AND s.status = 'running' AND r.status = 'running'"
        }
        Dialect::Postgres => {
            "SELECT s.attempts FROM run_steps s JOIN runs r ON r.id = s.run_id
             WHERE s.id = ?1 AND s.status = 'running' AND r.status = 'running'
             FOR UPDATE OF s"
        }
    };
    for f in finishes {
        let attempts: Option<i64> = conn
            .query_opt(sql, &[Sql::from(&f.step_id)])?
            .and_then(|r| r.int(0));
        if attempts == Some(i64::from(f.attempt)) {
            held.insert((f.step_id.as_str(), i64::from(f.attempt)));
        }
    }
    Ok(held)
}

/// One piece of a round's own writes (a change set, a finish's own
/// writes). With `savepoints`, under a savepoint, so a refusal (the inner
/// error) undoes exactly this piece; without, a refusal comes back as is
/// and the caller runs the round again with savepoints. The outer error is
/// the database failing.
fn own_piece<R>(
    conn: &dyn Db,
    savepoints: bool,
    work: impl FnOnce(&dyn Db) -> Result<R, CrmError>,
) -> Result<Result<R, CrmError>, CrmError> {
    if !savepoints {
        return Ok(work(conn));
    }
    conn.execute("SAVEPOINT piece", &[])?;
    let result = work(conn);
    if result.is_err() {
        conn.execute("ROLLBACK TO SAVEPOINT piece", &[])?;
    }
    conn.execute("RELEASE SAVEPOINT piece", &[])?;
    Ok(result)
}

/// What only this finish writes: the action's CRM changes, the approval it
/// opens, the error process it starts.
fn own_writes(conn: &dyn Db, f: &StepFinish) -> Result<(CommitReport, LogRows), CrmError> {
    let (report, log) = apply_changes(conn, &f.changes)?;
    if let Then::Wait(approval) = &f.then {
        super::approvals::insert(conn, &f.run_id, &f.step_id, approval)?;
    }
    if let Some(run) = &f.start {
        insert_run(conn, run)?;
    }
    Ok((report, log))
}

/// A JSON column as stored: its text, or NULL.
fn json_text(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

/// Writes the bookkeeping of every applied finish with four prepared
/// statements: the attempts, the steps' new states, the next steps, the
/// runs that ended.
fn record_finishes(conn: &dyn Db, finishes: &[&StepFinish]) -> Result<(), CrmError> {
    let mut attempts = Vec::with_capacity(finishes.len());
    let mut steps = Vec::with_capacity(finishes.len());
    for f in finishes {
        let finished = timestamp_text(f.finished_at);
        let (input, output) = (json_text(&f.input), json_text(&f.output));
        attempts.push(vec![
            Sql::Text(new_id()),
            Sql::from(&f.step_id),
            Sql::Int(i64::from(f.attempt)),
            Sql::from(f.status.as_str()),
            Sql::from(&input),
            Sql::from(&output),
            Sql::from(&f.error),
            Sql::Text(f.logs.to_string()),
            Sql::Text(timestamp_text(f.started_at)),
            Sql::Text(finished.clone()),
            Sql::Int((f.finished_at - f.started_at).num_milliseconds().max(0)),
            Sql::from(&f.digest),
        ]);
        let (status, due) = match &f.then {
            Then::Retry(at) => ("pending", Some(timestamp_text(*at))),
            Then::Wait(_) => ("waiting", None),
            _ => (f.status.as_str(), None),
        };
        let finished_at = (!matches!(status, "pending" | "waiting")).then_some(finished);
        steps.push(vec![
            Sql::from(&f.step_id),
            Sql::from(status),
            Sql::from(due),
            Sql::from(input),
            Sql::from(output),
            Sql::from(&f.error),
            Sql::from(finished_at),
        ]);
    }
    // Each statement looked up once for the whole round.
    conn.execute_each(
        "INSERT INTO step_attempts (id, step_id, attempt, status, input, output, error, logs,
                                    started_at, finished_at, duration_ms, digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &attempts,
    )?;
    conn.execute_each(
        "UPDATE run_steps SET status = ?2, due_at = COALESCE(?3, due_at), lease_until = NULL,
             input = ?4, output = ?5, error = ?6, finished_at = ?7
         WHERE id = ?1",
        &steps,
    )?;
    for f in finishes {
        let finished = timestamp_text(f.finished_at);
        match &f.then {
            Then::Next(next) => insert_step(conn, &f.run_id, next)?,
            Then::Complete => finish_run(conn, &f.run_id, "completed", None, &finished)?,
            Then::Fail(e) => finish_run(conn, &f.run_id, "failed", Some(e), &finished)?,
            Then::Retry(_) | Then::Wait(_) => {}
        }
    }
    Ok(())
}

/// One claimed step row, before its run is joined in.
struct StepRow {
    id: String,
    run_id: String,
    index: i64,
    key: String,
    item: Option<i64>,
    attempts: i64,
}

/// Claims, oldest due first, up to `limit` (?3) steps matching `which`,
/// holding them until the lease (?1) and also making the assignments in
/// `also` (empty, or starting with a comma); ?2 is now.
/// Both fragments are constants of [`claim_steps`], never input.
fn claim_where(
    conn: &dyn Db,
    which: &str,
    also: &str,
    (lease, now, limit): (&str, &str, i64),
) -> Result<Vec<StepRow>, CrmError> {
    // On PostgreSQL several nodes claim at once: each skips the rows
    // another holds locked, so no step is claimed twice and none waits.
    let lock = match conn.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE run_steps SET status = 'running', attempts = attempts + 1, lease_until = ?1{also}
         WHERE id IN (SELECT id FROM run_steps WHERE {which} ORDER BY due_at LIMIT ?3{lock})
         RETURNING id, run_id, step_index, step_key, item, attempts"
    );
    Ok(conn
        .query(&sql, &[Sql::from(lease), Sql::from(now), Sql::Int(limit)])?
        .iter()
        .map(|r| StepRow {
            id: r.string(0).unwrap_or_default(),
            run_id: r.string(1).unwrap_or_default(),
            index: r.int(2).unwrap_or_default(),
            key: r.string(3).unwrap_or_default(),
            item: r.int(4),
            attempts: r.int(5).unwrap_or_default(),
        })
        .collect())
}

/// Claims up to `limit` steps: the earliest due pending ones, then any whose
/// lease ran out (their worker died), holding them until `lease_until`.
fn claim_steps(
    conn: &dyn Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<ClaimedStep>, CrmError> {
    let now = timestamp_text(now);
    let lease = timestamp_text(lease_until);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Two statements rather than one with OR: each walks its index in
    // order, where the OR would sort every pending step on each claim.
    let mut steps = claim_where(
        conn,
        "status = 'pending' AND due_at <= ?2",
        ", started_at = COALESCE(started_at, ?2)",
        (&lease, &now, limit),
    )?;
    let left = limit - i64::try_from(steps.len()).unwrap_or(limit);
    if left > 0 {
        // Steps whose worker died: their lease ran out.
        steps.extend(claim_where(
            conn,
            "status = 'running' AND lease_until < ?2",
            "",
            (&lease, &now, left),
        )?);
    }
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let mut claimed = Vec::with_capacity(steps.len());
    for step in steps {
        let run = conn
            .query_opt(
                "SELECT process_id, process_version, trigger, entity_kind, entity_id, action_set
                 FROM runs WHERE id = ?1",
                &[Sql::from(&step.run_id)],
            )?
            .map(|r| {
                (
                    r.string(0).unwrap_or_default(),
                    r.int(1).unwrap_or_default(),
                    r.string(2).unwrap_or_default(),
                    r.string(3),
                    r.string(4),
                    r.int(5),
                )
            });
        let Some((process_id, process_version, trigger, kind, id, action_set)) = run else {
            return Err(CrmError::Storage(format!(
                "step of a missing run {}",
                step.run_id
            )));
        };
        claimed.push(ClaimedStep {
            id: step.id,
            run_id: step.run_id,
            index: usize::try_from(step.index).unwrap_or(usize::MAX),
            key: step.key,
            item: step.item.and_then(|i| usize::try_from(i).ok()),
            attempt: u32::try_from(step.attempts).unwrap_or(u32::MAX),
            process_id,
            process_version,
            trigger: serde_json::from_str(&trigger).unwrap_or(Value::Null),
            subject: subject_of(kind, id),
            action_set,
        });
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::changes::Change;
    use crate::crm::{EntityKind, EntityRef};
    use crate::store::events::EventStarts;
    use crate::store::prelude::*;
    use crate::store::runs::{AttemptStatus, NewRun, NewStep};
    use crate::store::testing::{task, task_titles};
    use serde_json::json;

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
                action_set: None,
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
            digest: None,
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

    #[tokio::test]
    async fn a_round_claims_due_steps_in_due_order_up_to_its_limit() {
        let (_dir, store, runs) = store_with_runs(3).await;
        let round = store.commit_round(&[], &[], &[], claim(2)).await.unwrap();
        let claimed: Vec<_> = round.claimed.iter().map(|c| c.run_id.clone()).collect();
        assert_eq!(claimed, runs[..2], "the two earliest due, oldest first");
        assert!(round.claimed.iter().all(|c| c.attempt == 1));
        assert_eq!(round.claimed[1].trigger, json!({ "n": 1 }));
        let round = store.commit_round(&[], &[], &[], claim(5)).await.unwrap();
        assert_eq!(round.claimed.len(), 1, "held steps are not claimed twice");
    }

    fn new_run(key: &str) -> NewRun {
        NewRun {
            id: new_id(),
            process_id: "p".into(),
            process_version: 1,
            trigger: json!({ "key": key }),
            subject: None,
            trigger_key: key.into(),
            once_key: None,
            action_set: None,
            first_step: NewStep {
                index: 0,
                key: "a".into(),
                item: None,
                due_at: Utc::now() - chrono::Duration::seconds(1),
            },
        }
    }

    #[tokio::test]
    async fn a_round_starts_the_runs_of_events_and_claims_their_first_steps() {
        let (_dir, store, _runs) = store_with_runs(0).await;
        let from = store.event_cursor().await.unwrap();
        let batch = EventStarts {
            from,
            to: from + 5,
            runs: vec![new_run("e1"), new_run("e2"), new_run("e1")],
        };
        let round = store
            .commit_round(std::slice::from_ref(&batch), &[], &[], claim(10))
            .await
            .unwrap();
        // The repeated trigger key starts once.
        assert_eq!(round.started.len(), 1);
        assert_eq!(*round.started[0].as_ref().unwrap(), 2);
        assert_eq!(store.event_cursor().await.unwrap(), from + 5);
        let mut claimed: Vec<_> = round
            .claimed
            .iter()
            .map(|c| c.trigger["key"].clone())
            .collect();
        claimed.sort_by_key(|k| k.to_string());
        assert_eq!(
            claimed,
            [json!("e1"), json!("e2")],
            "claimed in the same round"
        );
        // The same batch again: the cursor moved, so it starts nothing and
        // says why, and the rest of the round still commits.
        let again = EventStarts {
            runs: vec![new_run("e3")],
            ..batch
        };
        let finished = finish(&round.claimed[0], vec![task("done")]);
        let round = store
            .commit_round(&[again], &[], &[finished], claim(10))
            .await
            .unwrap();
        assert!(
            matches!(&round.started[0], Err(CrmError::Conflict(m)) if m.to_string().contains("cursor")),
            "{:?}",
            round.started
        );
        assert!(round.results[0].is_ok());
        assert!(round.claimed.is_empty(), "e3 was not started");
        assert_eq!(store.event_cursor().await.unwrap(), from + 5);
        assert_eq!(store.count_runs("completed").await.unwrap(), 1);
        assert_eq!(store.count_runs("running").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_round_commits_each_change_set_whole_or_refuses_it_whole() {
        let (_dir, store, _runs) = store_with_runs(0).await;
        let missing = EntityRef {
            kind: EntityKind::Deal,
            id: "no-such-deal".into(),
        };
        let refused = vec![
            task("refused"),
            Change::Expect {
                target: missing,
                field: "title".into(),
                value: json!("x"),
            },
        ];
        let (first, third) = (vec![task("first")], vec![task("third")]);
        let sets: Vec<&[Change]> = vec![&first, &refused, &third];
        let round = store.commit_round(&[], &sets, &[], None).await.unwrap();
        assert_eq!(round.committed.len(), 3);
        assert!(round.committed[0].is_ok() && round.committed[2].is_ok());
        assert!(
            matches!(&round.committed[1], Err(e) if e.to_string().contains("no-such-deal")),
            "{:?}",
            round.committed[1]
        );
        let titles = task_titles(&store).await;
        assert_eq!(titles, ["first", "third"]);
        // The applied sets' events are written, the refused one's are not.
        let events = store.events_after(0, 100).await.unwrap();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events.iter().all(|e| e.kind == "created"));
    }

    #[tokio::test]
    async fn a_refused_finish_in_a_round_leaves_the_others_committed() {
        let (_dir, store, _runs) = store_with_runs(3).await;
        let claimed = store
            .commit_round(&[], &[], &[], claim(3))
            .await
            .unwrap()
            .claimed;
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
        let round = store.commit_round(&[], &[], &finishes, None).await.unwrap();
        assert!(round.results[0].is_ok());
        assert!(round.results[1].is_err(), "{:?}", round.results[1]);
        assert!(round.results[2].is_ok());
        let titles = task_titles(&store).await;
        assert_eq!(titles.len(), 2, "{titles:?}");
        assert!(titles.contains(&"first".to_owned()) && titles.contains(&"third".to_owned()));
        assert_eq!(store.count_runs("completed").await.unwrap(), 2);
        // The refused step is still held by its attempt and can finish later.
        let round = store
            .commit_round(&[], &[], &[finish(&claimed[1], vec![])], None)
            .await
            .unwrap();
        assert!(round.results[0].is_ok());
        assert_eq!(store.count_runs("completed").await.unwrap(), 3);
        // A stale attempt is refused.
        let round = store
            .commit_round(&[], &[], &[finish(&claimed[1], vec![])], None)
            .await
            .unwrap();
        assert!(matches!(round.results[0], Err(CrmError::Conflict(_))));
    }

    #[tokio::test]
    async fn a_round_records_attempts_next_steps_retries_and_ends_exactly() {
        let (_dir, store, runs) = store_with_runs(3).await;
        let claimed = store
            .commit_round(&[], &[], &[], claim(3))
            .await
            .unwrap()
            .claimed;
        let now = Utc::now();
        let mut next = finish(&claimed[0], vec![]);
        // A string output must come back as the string, not its text.
        next.output = Some(json!("ok"));
        next.input = Some(json!({ "a": [1, "два"] }));
        next.then = Then::Next(NewStep {
            index: 1,
            key: "b".into(),
            item: Some(4),
            due_at: now,
        });
        let mut retry = finish(&claimed[1], vec![]);
        retry.status = AttemptStatus::Retrying;
        retry.output = None;
        retry.error = Some("busy".into());
        retry.then = Then::Retry(now + chrono::Duration::hours(1));
        let mut fail = finish(&claimed[2], vec![]);
        fail.status = AttemptStatus::Failed;
        fail.then = Then::Fail("step `a` failed: boom".into());
        let round = store
            .commit_round(&[], &[], &[next, retry, fail], claim(10))
            .await
            .unwrap();
        assert!(round.results.iter().all(Result::is_ok));
        assert_eq!(
            round.claimed.len(),
            1,
            "the next step is claimed in the same round"
        );
        assert_eq!(round.claimed[0].key, "b");
        assert_eq!(round.claimed[0].item, Some(4));
        let steps = store.run_steps(&runs[0]).await.unwrap();
        assert_eq!(steps[0].status, "done");
        assert_eq!(steps[0].output, Some(json!("ok")));
        assert_eq!(steps[0].input, Some(json!({ "a": [1, "два"] })));
        assert_eq!(steps[0].log[0]["output"], json!("ok"));
        assert_eq!(steps[1].step, "b");
        let steps = store.run_steps(&runs[1]).await.unwrap();
        assert_eq!(steps[0].status, "pending");
        assert_eq!(steps[0].error.as_deref(), Some("busy"));
        assert!(steps[0].due_at > timestamp_text(now));
        let failed = store.get_run(&runs[2]).await.unwrap().unwrap();
        assert_eq!(failed.status, "failed");
        assert_eq!(failed.error.as_deref(), Some("step `a` failed: boom"));
        assert!(failed.finished_at.is_some());
    }
}
