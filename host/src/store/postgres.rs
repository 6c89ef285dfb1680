//! The PostgreSQL backend, for a company that outgrows one machine or wants
//! a second node: the schema (`migrations/postgres`, the same tables and
//! columns as SQLite's, with PostgreSQL's own types), migrations that
//! several nodes may run at once (sqlx takes an advisory lock), the pool,
//! and the connection ([`PgDb`]) that runs the store's shared SQL
//! ([`crate::store::db::Db`]) — so the CRM store, the engine's rounds and
//! claims, events, schedules, the outbox and the API's own tables are the
//! same code as SQLite's, with the few places where several nodes need
//! more (`SKIP LOCKED`, row and advisory locks, `NOTIFY`) said by the
//! dialect.

mod conn;

pub use conn::PgDb;

use super::CrmStore;
use super::apply::LogRows;
use super::db::Db;
use super::events::EventStarts;
use super::native::TxEnd;
use super::rounds::{ClaimRequest, Round, RoundWork, run_round};
use super::rows;
use super::runs::{ClaimedStep, StepFinish};
use crate::crm::changes::{Change, CommitReport, StoredFile};
use crate::crm::{CrmError, EntityKind, EntityRef, Filter};
use anyhow::Context as _;
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr as _;
use std::time::Duration;

/// How many connections one node keeps at most.
const MAX_CONNECTIONS: u32 = 16;

/// A PostgreSQL database robota runs on.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and applies the
    /// pending migrations.
    pub async fn open(url: &str) -> anyhow::Result<PgStore> {
        let options = PgConnectOptions::from_str(url)
            .with_context(|| format!("bad database URL `{}`", redacted(url)))?
            .application_name("robota");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot connect to `{}`", redacted(url)))?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .context("applying migrations")?;
        Ok(PgStore { pool })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `work` in a transaction on a blocking thread (the shared SQL is
    /// synchronous): it commits or rolls back as `work` says, and rolls
    /// back when `work` fails.
    pub(super) async fn transaction<R: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Db) -> Result<(R, TxEnd), CrmError> + Send + 'static,
    ) -> Result<R, CrmError> {
        let mut tx = self.pool.begin().await.map_err(storage)?;
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let done = work(&PgDb::new(&mut tx, runtime.clone()));
            match done {
                Ok((r, TxEnd::Commit)) => {
                    runtime.block_on(tx.commit()).map_err(storage).map(|()| r)
                }
                Ok((r, TxEnd::Rollback)) => {
                    runtime.block_on(tx.rollback()).map_err(storage).map(|()| r)
                }
                Err(e) => {
                    // Dropping the transaction would roll it back too, but
                    // only later on the runtime; say it now.
                    let _ = runtime.block_on(tx.rollback());
                    Err(e)
                }
            }
        })
        .await
        .map_err(storage)?
    }

    /// Runs read-only `work` on a pooled connection on a blocking thread.
    pub(super) async fn read<R: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Db) -> Result<R, CrmError> + Send + 'static,
    ) -> Result<R, CrmError> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || work(&PgDb::new(&mut conn, runtime)))
            .await
            .map_err(storage)?
    }
}

/// The engine's durable state: runs, their steps and the rounds that
/// claim and finish them, with the same code as SQLite's (see
/// [`super::rounds`]); on PostgreSQL several nodes claim at once (`FOR
/// UPDATE SKIP LOCKED`) and a finish checks, with the step's row locked,
/// that its attempt still holds the step (a node that took an expired
/// lease over wins; the old attempt's writes are refused whole).
impl PgStore {
    /// One round in one transaction (see `SqliteStore::commit_round`).
    pub async fn commit_round(
        &self,
        starts: &[EventStarts],
        commits: &[&[Change]],
        finishes: &[StepFinish],
        claim: Option<ClaimRequest>,
    ) -> Result<Round, CrmError> {
        let starts = starts.to_vec();
        let commits: Vec<Vec<Change>> = commits.iter().map(|c| c.to_vec()).collect();
        let finishes = finishes.to_vec();
        for savepoints in [false, true] {
            let (starts, commits, finishes) = (starts.clone(), commits.clone(), finishes.clone());
            let round = self
                .transaction(move |db| {
                    let commits: Vec<&[Change]> = commits.iter().map(Vec::as_slice).collect();
                    let work = RoundWork {
                        starts: &starts,
                        commits: &commits,
                        finishes: &finishes,
                        claim,
                    };
                    Ok(match run_round(db, &work, savepoints)? {
                        Some(round) => (Some(round), TxEnd::Commit),
                        None => (None, TxEnd::Rollback),
                    })
                })
                .await?;
            if let Some(round) = round {
                return Ok(round);
            }
        }
        Err(CrmError::Storage(
            "internal error: a round with savepoints reported a refusal".into(),
        ))
    }

    /// Claims up to `limit` due steps (or ones whose lease ran out), holding
    /// them until `lease_until`.
    pub async fn claim_steps(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<ClaimedStep>, CrmError> {
        let claim = ClaimRequest {
            now,
            lease_until,
            limit,
        };
        Ok(self.commit_round(&[], &[], &[], Some(claim)).await?.claimed)
    }

    /// Commits a step attempt: its CRM changes, its log and the step's and
    /// the run's new state; a conflict when the attempt no longer holds the
    /// step (nothing is written then).
    pub async fn finish_step(&self, f: &StepFinish) -> Result<CommitReport, CrmError> {
        self.commit_round(&[], &[], std::slice::from_ref(f), None)
            .await?
            .results
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(CrmError::Storage("the round lost its step".into())))
    }

    /// A listener woken when a commit on any node leaves events, steps or
    /// mail (see [`super::db::wake`]): an idle node waits on it instead of
    /// polling.
    pub async fn wake_ups(&self) -> Result<sqlx::postgres::PgListener, CrmError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool)
            .await
            .map_err(storage)?;
        listener
            .listen(super::db::WAKE_CHANNEL)
            .await
            .map_err(storage)?;
        Ok(listener)
    }
}

fn storage(e: impl std::fmt::Display) -> CrmError {
    CrmError::Storage(e.to_string())
}

#[async_trait::async_trait]
impl CrmStore for PgStore {
    async fn get(&self, target: &EntityRef) -> Result<Option<Map<String, Value>>, CrmError> {
        let target = target.clone();
        self.read(move |db| rows::load(db, &target)).await
    }

    async fn query_after(
        &self,
        kind: EntityKind,
        filters: &[Filter],
        after: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, CrmError> {
        let (filters, after) = (filters.to_vec(), after.to_owned());
        self.read(move |db| rows::query(db, kind, &filters, None, &after, limit))
            .await
    }

    async fn file(&self, target: &EntityRef, name: &str) -> Result<Option<StoredFile>, CrmError> {
        super::files::Files::load_file(self, target, name).await
    }

    async fn next_invoice_seq(&self, year: i64) -> Result<i64, CrmError> {
        self.read(move |db| super::apply::next_invoice_seq(db, year))
            .await
    }

    async fn commit(&self, changes: &[Change]) -> Result<CommitReport, CrmError> {
        let changes = changes.to_vec();
        self.transaction(move |db| {
            let mut report = CommitReport::default();
            let mut log = LogRows::default();
            for change in &changes {
                super::apply::apply_change(db, &mut log, change, &mut report)?;
            }
            log.write(db)?;
            Ok((report, TxEnd::Commit))
        })
        .await
    }
}

/// `url` without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use robota_test_postgres::TestPostgres;
    use sqlx::Row as _;
    use std::collections::{BTreeMap, BTreeSet};

    type Columns = BTreeMap<String, BTreeSet<String>>;

    async fn sqlite_columns() -> Columns {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = crate::store::SqliteStore::open(&url).await.unwrap();
        let rows = sqlx::query(
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT IN ('_sqlx_migrations', 'sqlite_sequence')",
        )
        .fetch_all(store.reader())
        .await
        .unwrap();
        let mut out = Columns::new();
        for r in rows {
            out.entry(r.get("t")).or_default().insert(r.get("c"));
        }
        out
    }

    async fn postgres_columns(pool: &PgPool) -> Columns {
        let rows = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let mut out = Columns::new();
        for r in rows {
            out.entry(r.get("t")).or_default().insert(r.get("c"));
        }
        out
    }

    #[tokio::test]
    async fn the_schema_has_every_table_and_column_sqlite_has_and_migrates_once() {
        let pg = TestPostgres::start().unwrap();
        let url = pg.create_database("parity").unwrap();
        // Two nodes starting at once: the migrations run once.
        let (a, b) = tokio::join!(PgStore::open(&url), PgStore::open(&url));
        let store = a.unwrap();
        b.unwrap();
        assert_eq!(postgres_columns(store.pool()).await, sqlite_columns().await);
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(applied, 1);
        // The seed rows are there, and money is exact numeric.
        let stages: i64 = sqlx::query_scalar("SELECT count(*) FROM stages")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(stages, 6);
        let money: String = sqlx::query_scalar(
            "SELECT data_type::text FROM information_schema.columns
             WHERE table_name = 'invoices' AND column_name = 'total'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(money, "numeric");
        // Opening again applies nothing new.
        PgStore::open(&url).await.unwrap();
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_an_error_naming_the_url_without_its_password() {
        let e = PgStore::open("postgres://robota:secret@127.0.0.1:1/none")
            .await
            .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("cannot connect to `postgres://robota:***@127.0.0.1:1/none`"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }
}
