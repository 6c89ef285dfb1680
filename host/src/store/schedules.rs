//! Cron schedules: each process's next fire time, moved past now in the
//! transaction that starts the tick's run, so a tick fires exactly once.

use super::backend::Backend;
use super::db::{Db, Sql, TxEnd};
use super::runs::{NewRun, insert_run};
use crate::crm::{CrmError, timestamp_text};
use chrono::{DateTime, Utc};

/// The cron schedules of a store.
#[async_trait::async_trait]
pub trait Schedules: Backend {
    /// The cron schedules: process id, expression, zone, next fire time.
    async fn schedules(&self) -> Result<Vec<(String, String, String, String)>, CrmError> {
        self.read_with(Box::new(|db| {
            Ok(db
                .query(
                    "SELECT process_id, expr, timezone, next_at FROM schedules",
                    &[],
                )?
                .into_iter()
                .map(|mut r| {
                    (
                        r.take(0).unwrap_or_default(),
                        r.take(1).unwrap_or_default(),
                        r.take(2).unwrap_or_default(),
                        r.take(3).unwrap_or_default(),
                    )
                })
                .collect())
        }))
        .await
    }

    /// Sets a process's schedule; an unchanged expression keeps its next fire
    /// time, so a restart does not skip or repeat a tick.
    async fn upsert_schedule(
        &self,
        process_id: &str,
        expr: &str,
        timezone: &str,
        next_at: DateTime<Utc>,
    ) -> Result<(), CrmError> {
        let params = vec![
            Sql::from(process_id),
            Sql::from(expr),
            Sql::from(timezone),
            Sql::Text(timestamp_text(next_at)),
        ];
        self.write_with(Box::new(move |db| {
            db.execute(
                "INSERT INTO schedules (process_id, expr, timezone, next_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (process_id) DO UPDATE SET expr = excluded.expr,
                     timezone = excluded.timezone, next_at = excluded.next_at
                 WHERE schedules.expr != excluded.expr OR schedules.timezone != excluded.timezone",
                &params,
            )?;
            Ok(((), TxEnd::Commit))
        }))
        .await
    }

    /// Removes a process's schedule (it is no longer a cron process).
    async fn drop_schedule(&self, process_id: &str) -> Result<(), CrmError> {
        let id = Sql::from(process_id);
        self.write_with(Box::new(move |db| {
            db.execute("DELETE FROM schedules WHERE process_id = ?1", &[id])?;
            Ok(((), TxEnd::Commit))
        }))
        .await
    }

    /// Fires a schedule: starts `run` and moves the schedule from `due` to
    /// `next_at` in one transaction, so a tick fires exactly once (on every
    /// node: see [`fire`]). False if the schedule had already moved.
    async fn fire_schedule(
        &self,
        process_id: &str,
        due: &str,
        next_at: DateTime<Utc>,
        run: &NewRun,
    ) -> Result<bool, CrmError> {
        let (process_id, due, run) = (process_id.to_owned(), due.to_owned(), run.clone());
        self.write_with(Box::new(move |db| {
            Ok((fire(db, &process_id, &due, next_at, &run)?, TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> Schedules for T {}

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
