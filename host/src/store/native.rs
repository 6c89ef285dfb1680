//! Statements run straight on a connection's SQLite handle.
//!
//! sqlx hands every statement to its connection's worker thread and waits
//! for the answer. Under load on two cores that hand-off (a wake-up of the
//! worker, a wake-up back) costs several times what a small statement does.
//! So the store's SQL runs here instead: [`NativeHandles::with`] takes a
//! connection's handle once with sqlx's `lock_handle` and runs a whole
//! piece of work synchronously on the caller's thread, inside the
//! transaction the caller opened with sqlx. `BEGIN` and `COMMIT` stay with
//! sqlx, so a dropped or failed transaction is still rolled back by sqlx's
//! guard.
//!
//! Each handle keeps its prepared statements between uses (preparing the
//! round's statements again each time cost about half of a round). That is
//! sound because:
//! - the statements are only ever stepped while sqlx's worker is locked out;
//! - the store opens its connections `serialized` (SQLite's own mutex on
//!   every call), so finalizing them when the store is dropped cannot race
//!   a statement sqlx's worker is still running;
//! - the pools never retire a connection (no idle timeout, no lifetime), and
//!   the store drops these statements before its pools, so sqlx never
//!   closes a handle that still has statements of ours.

use super::sqlite::db_err;
use crate::crm::CrmError;
use sqlx::SqliteConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The synchronous connection work gets: rusqlite over a borrowed handle.
pub(super) type Native = rusqlite::Connection;

/// How many prepared statements each handle keeps.
const STATEMENTS_PER_HANDLE: usize = 64;

/// The rusqlite wrappers (with their prepared statements) of the store's
/// connection handles, by handle address.
#[derive(Default)]
pub(super) struct NativeHandles {
    handles: Mutex<HashMap<usize, Arc<Mutex<Native>>>>,
}

impl std::fmt::Debug for NativeHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeHandles").finish_non_exhaustive()
    }
}

impl NativeHandles {
    /// Runs `work` on `conn`'s own SQLite handle, inside whatever
    /// transaction `conn` has open. sqlx's worker makes no call on the
    /// connection until `work` returns.
    pub(super) async fn with<R>(
        &self,
        conn: &mut SqliteConnection,
        work: impl FnOnce(&Native) -> Result<R, CrmError>,
    ) -> Result<R, CrmError> {
        let mut locked = conn.lock_handle().await.map_err(db_err)?;
        let raw = locked.as_raw_handle().as_ptr();
        let native = {
            // A panic elsewhere while holding the map leaves it intact.
            let mut handles = self
                .handles
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match handles.entry(raw as usize) {
                std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    // SAFETY: `raw` is the open handle of a live connection
                    // and sqlx's worker is locked out (see the module doc for
                    // why keeping the wrapper past this call is sound). A
                    // connection made by `from_handle` does not own the
                    // handle: dropping it finalizes its statements, never
                    // closes the handle.
                    let native =
                        unsafe { rusqlite::Connection::from_handle(raw) }.map_err(native_err)?;
                    native.set_prepared_statement_cache_capacity(STATEMENTS_PER_HANDLE);
                    v.insert(Arc::new(Mutex::new(native))).clone()
                }
            }
        };
        let result = {
            // Uncontended: sqlx's lock on the handle already makes this
            // caller the only one.
            // A panic inside earlier work left no statement mid-step (rusqlite
            // resets them as they drop), so the wrapper is still sound.
            let native = native
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&native)
        };
        drop(locked);
        result
    }
}

/// Maps a rusqlite error to the CRM's error, keeping its message.
pub(super) fn native_err(e: rusqlite::Error) -> CrmError {
    CrmError::Storage(e.to_string())
}

/// A kind of constraint a statement can violate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Constraint {
    /// A UNIQUE index or the primary key.
    Unique,
    /// A foreign key.
    ForeignKey,
}

/// Whether `e` is a violation of a `which` constraint.
pub(super) fn violates(e: &rusqlite::Error, which: Constraint) -> bool {
    use rusqlite::ffi;
    let rusqlite::Error::SqliteFailure(failure, _) = e else {
        return false;
    };
    match which {
        Constraint::Unique => matches!(
            failure.extended_code,
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        ),
        Constraint::ForeignKey => failure.extended_code == ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use sqlx::Row as _;

    #[tokio::test]
    async fn native_writes_join_the_sqlx_transaction_and_roll_back_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let count = || async {
            sqlx::query("SELECT count(*) AS n FROM events")
                .fetch_one(store.reader())
                .await
                .unwrap()
                .get::<i64, _>("n")
        };
        let insert = "INSERT INTO events (id, entity_kind, entity_id, kind, changes, at)
                      VALUES (?1, 'deal', 'd1', 'updated', '{}', '2026-01-01T00:00:00.000000Z')";

        // Rolled back: the native insert goes with the transaction.
        let mut tx = store.write_tx().await.unwrap();
        store
            .with_native(&mut tx, |c| {
                c.execute(insert, ["e1"]).map_err(native_err)?;
                Ok(())
            })
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(count().await, 0);

        // Committed: sqlx and native statements in one transaction both land,
        // and sqlx sees the native write before the commit.
        let mut tx = store.write_tx().await.unwrap();
        store
            .with_native(&mut tx, |c| {
                c.execute(insert, ["e2"]).map_err(native_err)?;
                Ok(())
            })
            .await
            .unwrap();
        let seen: i64 = sqlx::query("SELECT count(*) AS n FROM events WHERE id = 'e2'")
            .fetch_one(&mut *tx)
            .await
            .unwrap()
            .get("n");
        assert_eq!(seen, 1);
        tx.commit().await.unwrap();
        assert_eq!(count().await, 1);

        // A failing statement is an error naming the cause; the connection
        // stays usable afterwards.
        let mut tx = store.write_tx().await.unwrap();
        let err = store
            .with_native(&mut tx, |c| {
                c.execute("INSERT INTO no_such_table VALUES (1)", [])
                    .map_err(native_err)
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no_such_table"), "{err}");
        tx.rollback().await.unwrap();
        assert_eq!(count().await, 1);
    }

    /// Statements on `conn`'s handle, ours and sqlx's.
    async fn open_statements(conn: &mut SqliteConnection) -> usize {
        let mut locked = conn.lock_handle().await.unwrap();
        let db = locked.as_raw_handle().as_ptr();
        let mut n = 0;
        // SAFETY: only walks the list of the locked handle's statements.
        unsafe {
            let mut stmt = rusqlite::ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
            while !stmt.is_null() {
                n += 1;
                stmt = rusqlite::ffi::sqlite3_next_stmt(db, stmt);
            }
        }
        n
    }

    #[tokio::test]
    async fn kept_statements_are_reused_and_finalized_when_the_handles_are_dropped() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let before = open_statements(&mut conn).await;
        let handles = NativeHandles::default();
        for _ in 0..3 {
            let one: i64 = handles
                .with(&mut conn, |c| {
                    c.prepare_cached("SELECT 1")
                        .and_then(|mut s| s.query_row([], |r| r.get(0)))
                        .map_err(native_err)
                })
                .await
                .unwrap();
            assert_eq!(one, 1);
        }
        // Three uses, one statement kept.
        assert_eq!(open_statements(&mut conn).await, before + 1);
        drop(handles);
        assert_eq!(open_statements(&mut conn).await, before);
        // sqlx can close the connection: no statement of ours is left on it.
        drop(conn);
        pool.close().await;
    }
}
