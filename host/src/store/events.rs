//! The event log as the engine reads it: a cursor, and the runs a batch of
//! events starts, committed with the cursor's move.

use super::runs::{NewRun, insert_run};
use super::sqlite::{SqliteStore, db_err};
use crate::crm::{CrmError, EntityKind, EntityRef};
use serde_json::Value;
use sqlx::Row;

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

impl SqliteStore {
    /// The position the engine has read the event log up to.
    pub async fn event_cursor(&self) -> Result<i64, CrmError> {
        sqlx::query_scalar("SELECT seq FROM engine_cursors WHERE name = 'events'")
            .fetch_one(self.reader())
            .await
            .map_err(db_err)
    }

    /// Moves the event cursor past every event so far (history that should
    /// not start runs, such as seed data).
    pub async fn skip_events_to_now(&self) -> Result<(), CrmError> {
        sqlx::query(
            "UPDATE engine_cursors SET seq = (SELECT COALESCE(MAX(seq), 0) FROM events)
             WHERE name = 'events'",
        )
        .execute(self.writer())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Events after `seq`, oldest first.
    pub async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<EventRow>, CrmError> {
        let rows = sqlx::query(
            "SELECT seq, id, entity_kind, entity_id, kind, changes, at FROM events
             WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(EventRow {
                    seq: r.get("seq"),
                    id: r.get("id"),
                    kind: r.get("kind"),
                    entity: EntityRef {
                        kind: EntityKind::parse(&r.get::<String, _>("entity_kind"))?,
                        id: r.get("entity_id"),
                    },
                    changes: serde_json::from_str(&r.get::<String, _>("changes"))
                        .unwrap_or(Value::Null),
                    at: r.get("at"),
                })
            })
            .collect())
    }

    /// Starts `runs` and moves the event cursor from `from` to `to`, in one
    /// transaction. A run whose trigger or `once_per` key already ran is
    /// skipped. Returns how many runs started; a cursor that moved meanwhile
    /// is a conflict (another dispatcher got there first).
    pub async fn start_runs_for_events(
        &self,
        from: i64,
        to: i64,
        runs: &[NewRun],
    ) -> Result<usize, CrmError> {
        let mut tx = self.write_tx().await?;
        let moved =
            sqlx::query("UPDATE engine_cursors SET seq = ? WHERE name = 'events' AND seq = ?")
                .bind(to)
                .bind(from)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if moved.rows_affected() != 1 {
            return Err(CrmError::Conflict("the event cursor moved".into()));
        }
        let started = self
            .with_native(&mut tx, |c| {
                let mut started = 0;
                for run in runs {
                    if insert_run(c, run)? {
                        started += 1;
                    }
                }
                Ok(started)
            })
            .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(started)
    }
}
