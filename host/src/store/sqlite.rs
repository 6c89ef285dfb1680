//! The embedded SQLite store: WAL, foreign keys, one writer connection (so
//! writers queue in-process instead of failing with SQLITE_BUSY) and a pool
//! of readers.

use super::CrmStore;
use super::apply::{LogRows, apply_change};
use super::group::{CommitRoute, CommitSink};
use super::native::{self, Native, NativeHandles, NativeReaders, TxEnd};
use super::rows;
use crate::crm::changes::{Change, CommitReport, StoredFile};
use crate::crm::{CrmError, EntityKind, EntityRef, Filter};
use anyhow::Context as _;
use serde_json::{Map, Value};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How durable each commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives power loss.
    Full,
    /// `synchronous=NORMAL`: faster; a power loss may drop the last commits (never corrupts).
    Normal,
}

/// The SQLite implementation of [`CrmStore`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    // Declared before the pools so the statements it keeps are finalized
    // before the pools close their connections (see `native`).
    native: Arc<NativeHandles>,
    /// Read connections of our own for the hot reads; None for an
    /// in-memory database (it exists once per connection: reads go through
    /// the shared writer then).
    readers: Option<Arc<NativeReaders>>,
    /// Where change sets are group-committed while a step loop runs.
    route: Arc<CommitRoute>,
    reader: SqlitePool,
    writer: SqlitePool,
}

/// Maps a database error to the CRM's error, keeping its message.
pub(crate) fn db_err(e: sqlx::Error) -> CrmError {
    CrmError::Storage(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url` with full durability.
    pub async fn open(url: &str) -> anyhow::Result<SqliteStore> {
        SqliteStore::open_with(url, Durability::Full).await
    }

    /// Opens with a chosen durability.
    pub async fn open_with(url: &str, durability: Durability) -> anyhow::Result<SqliteStore> {
        native::configure_sqlite();
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("bad database URL `{url}`"))?
            .create_if_missing(true)
            // SQLite's own mutex on each call: the statements `native` keeps
            // may be finalized from another thread than sqlx's worker.
            .serialized(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            });
        let options = if memory {
            options
        } else {
            options.journal_mode(SqliteJournalMode::Wal)
        };
        // Connections are never retired: `native` keeps statements on them.
        // Nor are they pinged before each use (sqlx's default): a local
        // SQLite handle cannot hang up, and the ping is a round trip to the
        // connection's thread on every acquire.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open database `{url}`"))?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&writer)
            .await
            .context("applying migrations")?;
        let readers =
            (!memory).then(|| Arc::new(NativeReaders::new(options.get_filename().to_owned())));
        // An in-memory database exists once per connection: share the writer.
        let reader = if memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options.read_only(true))
                .await
                .with_context(|| format!("cannot open database `{url}` for reading"))?
        };
        let store = SqliteStore {
            native: Arc::default(),
            readers,
            route: Arc::default(),
            reader,
            writer,
        };
        store
            .backfill_duplicate_keys()
            .await
            .context("filling the duplicate keys of existing records")?;
        Ok(store)
    }

    /// The pool for reads (tests and reports use it directly).
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// A write transaction that holds the write lock from its first
    /// statement (`BEGIN IMMEDIATE`): a deferred one that reads first can
    /// fail to upgrade with SQLITE_BUSY when the snapshot it read is stale.
    pub async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, CrmError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }

    /// Runs `work` on `conn`'s SQLite handle (one of this store's
    /// connections), inside whatever transaction `conn` has open.
    pub(super) async fn with_native<R>(
        &self,
        conn: &mut sqlx::SqliteConnection,
        work: impl FnOnce(&Native) -> Result<R, CrmError>,
    ) -> Result<R, CrmError> {
        self.native.with(conn, work).await
    }

    /// Runs read-only `work` on a read connection, synchronously on this
    /// thread when the store has readers of its own.
    pub(super) async fn read_native<R>(
        &self,
        work: impl FnOnce(&Native) -> Result<R, CrmError>,
    ) -> Result<R, CrmError> {
        match &self.readers {
            Some(readers) => readers.read(work),
            None => {
                let mut conn = self.reader.acquire().await.map_err(db_err)?;
                self.with_native(&mut conn, work).await
            }
        }
    }

    /// Runs `work` in a write transaction on the writer's own handle (see
    /// [`native::transaction`]): it commits or rolls back as `work` says,
    /// and rolls back when `work` fails.
    pub(super) async fn write_native<R>(
        &self,
        work: impl FnOnce(&Native) -> Result<(R, TxEnd), CrmError>,
    ) -> Result<R, CrmError> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        self.with_native(&mut conn, |c| native::transaction(c, work))
            .await
    }

    /// Routes [`CrmStore::commit`] to `sink` (the engine's step loop, which
    /// group-commits change sets with its rounds), or back to a transaction
    /// per call with None. See [`super::group`].
    pub fn route_commits(&self, sink: Option<CommitSink>) {
        self.route.set(sink);
    }

    /// Commits a change set in a transaction of its own (what a round does
    /// for each set it is handed, under a savepoint).
    async fn commit_directly(&self, changes: &[Change]) -> Result<CommitReport, CrmError> {
        // A refused change fails the work, which rolls the whole set back.
        self.write_native(|c| {
            let (report, log) = apply_changes(c, changes)?;
            log.write(c)?;
            Ok((report, TxEnd::Commit))
        })
        .await
    }
}

#[async_trait::async_trait]
impl CrmStore for SqliteStore {
    async fn get(&self, target: &EntityRef) -> Result<Option<Map<String, Value>>, CrmError> {
        self.read_native(|c| rows::load(c, target)).await
    }

    async fn query_after(
        &self,
        kind: EntityKind,
        filters: &[Filter],
        after: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, CrmError> {
        self.read_native(|c| rows::query(c, kind, filters, None, after, limit))
            .await
    }

    async fn file(&self, target: &EntityRef, name: &str) -> Result<Option<StoredFile>, CrmError> {
        super::files::Files::load_file(self, target, name).await
    }

    async fn next_invoice_seq(&self, year: i64) -> Result<i64, CrmError> {
        self.read_native(|c| super::apply::next_invoice_seq(c, year))
            .await
    }

    async fn commit(&self, changes: &[Change]) -> Result<CommitReport, CrmError> {
        match self.route.commit(changes).await {
            Some(result) => result,
            None => self.commit_directly(changes).await,
        }
    }
}

/// Applies `changes` in the caller's transaction: what they report and the
/// timeline entries and events they make (for the caller to write). The
/// first refused change is the error; the caller undoes the others.
pub(super) fn apply_changes(
    conn: &dyn super::db::Db,
    changes: &[Change],
) -> Result<(CommitReport, LogRows), CrmError> {
    let mut report = CommitReport::default();
    let mut log = LogRows::default();
    for change in changes {
        apply_change(conn, &mut log, change, &mut report)?;
    }
    Ok((report, log))
}
