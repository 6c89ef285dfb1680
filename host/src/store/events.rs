//! The event log as the engine reads it: a cursor, and the runs a batch of
//! events starts, committed with the cursor's move.

use super::backend::Backend;
use super::db::{Db, Sql, TxEnd};
use super::runs::{NewRun, insert_run};
use crate::crm::{Clash, CrmError, EntityKind, EntityRef};
use serde_json::Value;

/// One entity change from the event log.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// Its position in the log.
    pub seq: i64,
    /// Its id.
    pub id: String,
    /// created, updated or stage_changed.
    pub kind: String,
    /// The entity it is about.
    pub entity: EntityRef,
    /// For updates: field → [old, new]; for creates: the record.
    pub changes: Value,
    /// When it happened.
    pub at: String,
}

/// The event log of a store, as the engine reads it.
#[async_trait::async_trait]
pub trait Events: Backend {
    /// The position the engine has read the event log up to.
    async fn event_cursor(&self) -> Result<i64, CrmError> {
        self.read_with(Box::new(event_cursor)).await
    }

    /// Moves the event cursor past every event so far (history that should
    /// not start runs, such as seed data).
    async fn skip_events_to_now(&self) -> Result<(), CrmError> {
        self.write_with(Box::new(|db| {
            db.execute(
                "UPDATE engine_cursors SET seq = (SELECT COALESCE(MAX(seq), 0) FROM events)
                 WHERE name = 'events'",
                &[],
            )?;
            Ok(((), TxEnd::Commit))
        }))
        .await
    }

    /// Events after `seq`, oldest first. On PostgreSQL their numbers commit
    /// in order (see `apply::LogRows::write`), so nothing below the last one
    /// read can still appear.
    async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<EventRow>, CrmError> {
        self.read_with(Box::new(move |db| events_after(db, seq, limit)))
            .await
    }

    /// Starts the runs of `batch` and moves the event cursor, in one
    /// transaction. Returns how many runs started; a cursor that moved
    /// meanwhile is a conflict (another dispatcher, on any node, got there
    /// first) and changes nothing.
    async fn start_runs_for_events(&self, batch: &EventStarts) -> Result<usize, CrmError> {
        let batch = batch.clone();
        self.write_with(Box::new(move |db| {
            Ok(match start_runs(db, &batch)? {
                Ok(started) => (Ok(started), TxEnd::Commit),
                Err(conflict) => (Err(conflict), TxEnd::Rollback),
            })
        }))
        .await?
    }

    /// Starts one run (manual, webhook); None if its trigger or `once_per`
    /// key already ran.
    async fn start_run(&self, run: &NewRun) -> Result<Option<String>, CrmError> {
        let run = run.clone();
        self.write_with(Box::new(move |db| {
            let started = insert_run(db, &run)?;
            Ok((started.then_some(run.id), TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> Events for T {}

/// The position the engine has read the event log up to.
pub(super) fn event_cursor(conn: &dyn Db) -> Result<i64, CrmError> {
    conn.query_opt("SELECT seq FROM engine_cursors WHERE name = 'events'", &[])?
        .and_then(|r| r.int(0))
        .ok_or_else(|| CrmError::Storage("the event cursor is missing".into()))
}

/// Events after `seq`, oldest first (an event of a kind this build does
/// not know is skipped).
pub(super) fn events_after(conn: &dyn Db, seq: i64, limit: u32) -> Result<Vec<EventRow>, CrmError> {
    let rows = conn.query(
        "SELECT seq, id, entity_kind, entity_id, kind, changes, at FROM events
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        &[Sql::Int(seq), Sql::Int(i64::from(limit))],
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|mut r| {
            let kind = EntityKind::parse(r.text(2)?)?;
            Some(EventRow {
                seq: r.int(0)?,
                id: r.take(1)?,
                kind: r.take(4)?,
                entity: EntityRef {
                    kind,
                    id: r.take(3)?,
                },
                changes: r
                    .text(5)
                    .and_then(|c| serde_json::from_str(c).ok())
                    .unwrap_or(Value::Null),
                at: r.take(6)?,
            })
        })
        .collect())
}

/// The runs a batch of events starts, with the cursor's move past them.
#[derive(Debug, Clone)]
pub struct EventStarts {
    /// Where the cursor was when the batch was read.
    pub from: i64,
    /// The last event of the batch.
    pub to: i64,
    /// The runs to start.
    pub runs: Vec<NewRun>,
}

/// Writes `batch` inside the caller's transaction: the inner result is
/// how many runs started, or a conflict when the cursor is no longer at
/// `batch.from` (then nothing was written); the outer error is the database
/// failing. A run whose trigger or `once_per` key already ran is skipped.
pub(super) fn start_runs(
    conn: &dyn Db,
    batch: &EventStarts,
) -> Result<Result<usize, CrmError>, CrmError> {
    let moved = conn.execute(
        "UPDATE engine_cursors SET seq = ?1 WHERE name = 'events' AND seq = ?2",
        &[Sql::Int(batch.to), Sql::Int(batch.from)],
    )?;
    if moved != 1 {
        return Ok(Err(CrmError::Conflict(Clash::Raced(
            "the event cursor moved".into(),
        ))));
    }
    let mut started = 0;
    for run in &batch.runs {
        if insert_run(conn, run)? {
            started += 1;
        }
    }
    Ok(Ok(started))
}
