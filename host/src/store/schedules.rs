//! Cron schedules: each process's next fire time, moved past now in the
//! transaction that starts the tick's run, so a tick fires exactly once.

use super::db::{Db, Sql};
use super::runs::{NewRun, insert_run};
use super::sqlite::{SqliteStore, db_err};
use crate::crm::{CrmError, timestamp_text};
use chrono::{DateTime, Utc};
use sqlx::Row;

impl SqliteStore {
    /// The cron schedules: process id, expression, zone, next fire time.
    pub async fn schedules(&self) -> Result<Vec<(String, String, String, String)>, CrmError> {
        let rows = sqlx::query("SELECT process_id, expr, timezone, next_at FROM schedules")
            .fetch_all(self.reader())
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
    }

    /// Sets a process's schedule; an unchanged expression keeps its next fire
    /// time, so a restart does not skip or repeat a tick.
    pub async fn upsert_schedule(
        &self,
        process_id: &str,
        expr: &str,
        timezone: &str,
        next_at: DateTime<Utc>,
    ) -> Result<(), CrmError> {
        sqlx::query(
            "INSERT INTO schedules (process_id, expr, timezone, next_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (process_id) DO UPDATE SET expr = excluded.expr,
                 timezone = excluded.timezone, next_at = excluded.next_at
             WHERE schedules.expr != excluded.expr OR schedules.timezone != excluded.timezone",
        )
        .bind(process_id)
        .bind(expr)
        .bind(timezone)
        .bind(timestamp_text(next_at))
        .execute(self.writer())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Removes a process's schedule (it is no longer a cron process).
    pub async fn drop_schedule(&self, process_id: &str) -> Result<(), CrmError> {
        sqlx::query("DELETE FROM schedules WHERE process_id = ?")
            .bind(process_id)
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Fires a schedule: starts `run` and moves the schedule from `due` to
    /// `next_at` in one transaction, so a tick fires exactly once. False if
    /// the schedule had already moved.
    pub async fn fire_schedule(
        &self,
        process_id: &str,
        due: &str,
        next_at: DateTime<Utc>,
        run: &NewRun,
    ) -> Result<bool, CrmError> {
        self.write_native(|c| {
            let fired = fire(c, process_id, due, next_at, run)?;
            Ok((fired, super::native::TxEnd::Commit))
        })
        .await
    }
}

/// Moves the schedule of `process_id` from `due` to `next_at` and starts
/// the tick's `run`, inside the caller's transaction; false (nothing
/// written) when the schedule had already moved — another node fired the
/// tick, which the compare-and-set makes happen exactly once without
/// electing a scheduler.
pub(super) fn fire(
    conn: &dyn Db,
    process_id: &str,
    due: &str,
    next_at: DateTime<Utc>,
    run: &NewRun,
) -> Result<bool, CrmError> {
    let moved = conn.execute(
        "UPDATE schedules SET next_at = ?1 WHERE process_id = ?2 AND next_at = ?3",
        &[
            Sql::Text(timestamp_text(next_at)),
            Sql::from(process_id),
            Sql::from(due),
        ],
    )?;
    if moved != 1 {
        return Ok(false);
    }
    insert_run(conn, run)?;
    Ok(true)
}
