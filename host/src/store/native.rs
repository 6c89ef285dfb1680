//! Statements run straight on the writer connection's SQLite handle.
//!
//! sqlx hands every statement to its connection's worker thread and waits
//! for the answer. Under load on two cores that hand-off (a wake-up of the
//! worker, a wake-up back) costs several times what a small statement does.
//! Work that runs many small statements inside one transaction — the
//! engine's round bookkeeping, the timeline and events of a change set —
//! takes the handle once with sqlx's `lock_handle` and runs them here,
//! synchronously on the caller's thread, inside the transaction the caller
//! opened with sqlx. The caller's `BEGIN` and `COMMIT` stay with sqlx, so a
//! dropped or failed transaction is still rolled back by sqlx's guard.

use super::sqlite::db_err;
use crate::crm::CrmError;
use sqlx::SqliteConnection;

/// The synchronous connection `work` gets: rusqlite over the borrowed handle.
pub(super) type Native = rusqlite::Connection;

/// Runs `work` on `conn`'s own SQLite handle, inside whatever transaction
/// `conn` has open. sqlx's worker makes no call on the connection until
/// `work` returns.
pub(super) async fn with_native<R>(
    conn: &mut SqliteConnection,
    work: impl FnOnce(&Native) -> Result<R, CrmError>,
) -> Result<R, CrmError> {
    let mut locked = conn.lock_handle().await.map_err(db_err)?;
    let raw = locked.as_raw_handle().as_ptr();
    // SAFETY: `raw` is the open handle of a live connection, and while
    // `locked` lives sqlx's worker makes no calls on it or its statements.
    // A connection made by `from_handle` does not own the handle: dropping
    // it finalizes only the statements it prepared, never closes the
    // handle. It is dropped before `locked` is.
    let native = unsafe { rusqlite::Connection::from_handle(raw) }.map_err(native_err)?;
    let result = work(&native);
    drop(native);
    drop(locked);
    result
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
        with_native(&mut tx, |c| {
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
        with_native(&mut tx, |c| {
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
        let err = with_native(&mut tx, |c| {
            c.execute("INSERT INTO no_such_table VALUES (1)", [])
                .map_err(native_err)
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("no_such_table"), "{err}");
        tx.rollback().await.unwrap();
        assert_eq!(count().await, 1);
    }
}
