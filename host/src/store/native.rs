//! Statements run straight on SQLite handles.
//!
//! sqlx hands every statement to its connection's worker thread and waits
//! for the answer. Under load on two cores that hand-off (a wake-up of the
//! worker, a wake-up back) costs several times what a small statement does.
//! So the store's SQL runs here instead, three ways:
//! - [`NativeHandles::with`] takes a sqlx connection's handle once with
//!   sqlx's `lock_handle` and runs a whole piece of work synchronously on the
//!   caller's thread, inside the transaction the caller opened with sqlx
//!   (sqlx's guard still rolls a dropped transaction back);
//! - [`transaction`] opens and ends the transaction on the handle itself,
//!   so a whole write transaction (the engine's rounds) is one hand-off;
//! - [`NativeReaders`] are read connections of our own, used synchronously
//!   by whoever reads: no hand-off at all.
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

/// Read connections of the store's own, used synchronously on the
/// caller's thread: a point read takes tens of microseconds, far less than
/// waking a sqlx worker thread and being woken back. They are plain
/// rusqlite connections (not borrowed from sqlx), read-only, and keep their
/// prepared statements.
pub(super) struct NativeReaders {
    path: std::path::PathBuf,
    idle: Mutex<Vec<Native>>,
}

/// How many idle read connections are kept; more are opened while more
/// threads read at once, and closed after.
const IDLE_READERS: usize = 8;

impl std::fmt::Debug for NativeReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeReaders")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl NativeReaders {
    /// Readers of the database file at `path` (opened when first needed).
    pub(super) fn new(path: std::path::PathBuf) -> NativeReaders {
        NativeReaders {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `work` on an idle read connection (opening one if none is
    /// idle). Each statement sees the committed state as of its start.
    pub(super) fn read<R>(
        &self,
        work: impl FnOnce(&Native) -> Result<R, CrmError>,
    ) -> Result<R, CrmError> {
        let idle = self.idle().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = work(&conn);
        // A panic in `work` drops the connection instead; nothing of it is
        // left half done (rusqlite resets statements as they drop).
        let mut idle = self.idle();
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Native>> {
        // The list is whole at every point a panic could leave it.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn open(&self) -> Result<Native, CrmError> {
        use rusqlite::OpenFlags;
        // NO_MUTEX: a connection is used by one thread at a time (it is
        // taken out of the idle list while in use).
        let conn = Native::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(native_err)?;
        // A reader can meet a lock briefly (WAL recovery, a checkpoint's
        // restart): wait like the store's other connections do.
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(native_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_PER_HANDLE);
        Ok(conn)
    }
}

/// Process-wide SQLite settings, made once before the first connection
/// opens: memory statistics off. With them on, every allocation SQLite
/// makes takes a global mutex to count it; the engine never reads the
/// counts. (Made after SQLite has started, the call is refused and changes
/// nothing, which is harmless.)
pub(super) fn configure_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int; sqlite3_config is
        // only refused (SQLITE_MISUSE), never unsafe, once SQLite started.
        let code =
            unsafe { rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0_i32) };
        if code != rusqlite::ffi::SQLITE_OK {
            tracing::debug!("SQLite memory statistics stay on (code {code})");
        }
    });
}

pub(super) use super::db::TxEnd;

/// Runs `work` in a write transaction opened, committed and rolled back on
/// the handle itself (`BEGIN IMMEDIATE` … `COMMIT`), so the whole
/// transaction costs one hand-off to sqlx's worker instead of three, and
/// the commit's sync runs on the caller's thread. Failed work, a failed
/// commit and a panic roll back, so the connection goes back to its pool
/// with no transaction open (sqlx's own count of open transactions is
/// never touched, so it stays right).
pub(super) fn transaction<R>(
    conn: &Native,
    work: impl FnOnce(&Native) -> Result<(R, TxEnd), CrmError>,
) -> Result<R, CrmError> {
    /// Rolls back unless disarmed: on an error return and on a panic.
    struct Open<'c>(Option<&'c Native>);
    impl Drop for Open<'_> {
        fn drop(&mut self) {
            if let Some(conn) = self.0.take()
                && let Err(e) = conn.execute_batch("ROLLBACK")
            {
                tracing::error!("rolling back a write transaction failed: {e}");
            }
        }
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(native_err)?;
    let mut open = Open(Some(conn));
    let (result, end) = work(conn)?;
    if end == TxEnd::Commit {
        // A failed COMMIT leaves the transaction open: the guard ends it.
        conn.execute_batch("COMMIT").map_err(native_err)?;
        open.0 = None;
    }
    Ok(result)
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
    /// A CHECK constraint.
    Check,
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
        Constraint::Check => failure.extended_code == ffi::SQLITE_CONSTRAINT_CHECK,
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

    async fn event_count(store: &SqliteStore) -> i64 {
        sqlx::query("SELECT count(*) AS n FROM events")
            .fetch_one(store.reader())
            .await
            .unwrap()
            .get::<i64, _>("n")
    }

    fn insert_event(c: &Native, id: &str) -> Result<(), CrmError> {
        c.execute(
            "INSERT INTO events (id, entity_kind, entity_id, kind, changes, at)
             VALUES (?1, 'deal', 'd1', 'updated', '{}', '2026-01-01T00:00:00.000000Z')",
            [id],
        )
        .map(drop)
        .map_err(native_err)
    }

    #[tokio::test]
    async fn a_native_transaction_commits_rolls_back_and_survives_failure_and_panic() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();

        let kept = store
            .write_native(|c| insert_event(c, "e1").map(|()| ("kept", TxEnd::Commit)))
            .await
            .unwrap();
        assert_eq!(kept, "kept");
        assert_eq!(event_count(&store).await, 1);

        // The work asks for a rollback: its answer comes back, its writes go.
        let undone = store
            .write_native(|c| insert_event(c, "e2").map(|()| (7, TxEnd::Rollback)))
            .await
            .unwrap();
        assert_eq!(undone, 7);
        assert_eq!(event_count(&store).await, 1);

        // Failed work rolls back what it wrote before failing.
        let err = store
            .write_native(|c| {
                insert_event(c, "e3")?;
                insert_event(c, "e1").map(|()| ((), TxEnd::Commit))
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        assert_eq!(event_count(&store).await, 1);

        // A panic rolls back too, and the writer is usable afterwards (a
        // transaction left open would make the next BEGIN fail).
        let panicked = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write_native(|c| -> Result<((), TxEnd), CrmError> {
                        insert_event(c, "e4").unwrap();
                        panic!("the work broke");
                    })
                    .await
            })
            .await
        };
        assert!(panicked.is_err());
        assert_eq!(event_count(&store).await, 1);
        store
            .write_native(|c| insert_event(c, "e5").map(|()| ((), TxEnd::Commit)))
            .await
            .unwrap();
        // sqlx's own transactions on the same writer still work.
        let mut tx = store.write_tx().await.unwrap();
        sqlx::query("DELETE FROM events WHERE id = 'e5'")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(event_count(&store).await, 1);
    }

    #[tokio::test]
    async fn native_readers_see_each_commit_and_keep_a_bounded_number_of_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let readers = NativeReaders::new(path);
        let count = |readers: &NativeReaders| {
            readers
                .read(|c| {
                    c.prepare_cached("SELECT count(*) FROM events")
                        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
                        .map_err(native_err)
                })
                .unwrap()
        };
        assert_eq!(count(&readers), 0);
        store
            .write_native(|c| insert_event(c, "e1").map(|()| ((), TxEnd::Commit)))
            .await
            .unwrap();
        // The kept connection and its kept statement see the new commit.
        assert_eq!(count(&readers), 1);
        assert_eq!(readers.idle().len(), 1, "one reader, reused");
        // Readers are read-only: a write is refused, naming why.
        let err = readers
            .read(|c| insert_event(c, "e2"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("readonly"), "{err}");
        // Nested reads (another thread reading meanwhile) open more, and
        // no more than IDLE_READERS stay open afterwards.
        fn nest(readers: &NativeReaders, depth: usize) -> Result<usize, CrmError> {
            readers.read(|_| {
                if depth == 0 {
                    Ok(0)
                } else {
                    nest(readers, depth - 1).map(|d| d + 1)
                }
            })
        }
        assert_eq!(nest(&readers, IDLE_READERS + 3).unwrap(), IDLE_READERS + 3);
        assert_eq!(readers.idle().len(), IDLE_READERS);
        // A database that cannot be opened is an error, not a panic.
        let missing = NativeReaders::new(dir.path().join("no/such/dir/t.db"));
        assert!(missing.read(|_| Ok(())).is_err());
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
