//! The database a node runs on, whichever it is: embedded SQLite or a
//! PostgreSQL server shared by several nodes. The engine, the API, the
//! mailer and the CLI hold a [`Database`]; the operations written once
//! (`store::prelude`) work on it through [`Backend`], and the few each
//! backend runs its own way (the engine's rounds, claims and finishes, the
//! CRM store's hot reads) are dispatched here.

use super::backend::{Backend, Work};
use super::db::TxEnd;
use super::events::EventStarts;
use super::group::CommitSink;
use super::postgres::PgStore;
use super::rounds::{ClaimRequest, Round};
use super::runs::{ClaimedStep, StepFinish};
use super::sqlite::{Durability, SqliteStore};
use super::{CrmStore, is_postgres};
use crate::crm::changes::{Change, CommitReport, StoredFile};
use crate::crm::{CrmError, EntityKind, EntityRef, Filter};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A node's database.
#[derive(Debug, Clone)]
pub enum Database {
    /// Embedded SQLite: one node.
    Sqlite(SqliteStore),
    /// A PostgreSQL server: any number of nodes.
    Postgres(PgStore),
}

impl From<SqliteStore> for Database {
    fn from(s: SqliteStore) -> Database {
        Database::Sqlite(s)
    }
}

impl From<PgStore> for Database {
    fn from(s: PgStore) -> Database {
        Database::Postgres(s)
    }
}

impl Database {
    /// Opens the database at `url` (`sqlite:…` or `postgres://…`) and
    /// applies its pending migrations; `durability` is SQLite's (a
    /// PostgreSQL server keeps its own `synchronous_commit`).
    pub async fn open(url: &str, durability: Durability) -> anyhow::Result<Database> {
        if is_postgres(url) {
            Ok(Database::Postgres(PgStore::open(url).await?))
        } else {
            Ok(Database::Sqlite(
                SqliteStore::open_with(url, durability).await?,
            ))
        }
    }

    /// The SQLite store, when that is what this is.
    pub fn sqlite(&self) -> Option<&SqliteStore> {
        match self {
            Database::Sqlite(s) => Some(s),
            Database::Postgres(_) => None,
        }
    }

    /// The PostgreSQL store, when that is what this is.
    pub fn postgres(&self) -> Option<&PgStore> {
        match self {
            Database::Sqlite(_) => None,
            Database::Postgres(p) => Some(p),
        }
    }

    /// Whether other nodes may share this database (steps another node
    /// holds are then left to their leases, never released at start).
    pub fn is_shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// One round of the engine in one transaction: the runs `starts`
    /// begin, the change sets `commits`, the step attempts `finishes`, and
    /// the due steps `claim` asks for (see `SqliteStore::commit_round`).
    pub async fn commit_round(
        &self,
        starts: &[EventStarts],
        commits: &[&[Change]],
        finishes: &[StepFinish],
        claim: Option<ClaimRequest>,
    ) -> Result<Round, CrmError> {
        match self {
            Database::Sqlite(s) => s.commit_round(starts, commits, finishes, claim).await,
            Database::Postgres(p) => p.commit_round(starts, commits, finishes, claim).await,
        }
    }

    /// Claims one due step (or one whose lease ran out), holding it until
    /// `lease_until`.
    pub async fn claim_step(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedStep>, CrmError> {
        match self {
            Database::Sqlite(s) => s.claim_step(now, lease_until).await,
            Database::Postgres(p) => Ok(p.claim_steps(now, lease_until, 1).await?.pop()),
        }
    }

    /// Commits a step attempt (a conflict, writing nothing, when the
    /// attempt no longer holds its step).
    pub async fn finish_step(&self, f: &StepFinish) -> Result<CommitReport, CrmError> {
        match self {
            Database::Sqlite(s) => s.finish_step(f).await,
            Database::Postgres(p) => p.finish_step(f).await,
        }
    }

    /// Routes [`CrmStore::commit`] into the step loop's rounds (None: a
    /// transaction per call again). SQLite only: its one writer is what
    /// group commit saves; PostgreSQL commits concurrently, so its change
    /// sets keep their own transactions.
    pub fn route_commits(&self, sink: Option<CommitSink>) {
        if let Database::Sqlite(s) = self {
            s.route_commits(sink);
        }
    }
}

#[async_trait::async_trait]
impl Backend for Database {
    async fn read_with<R: Send + 'static>(&self, work: Work<R>) -> Result<R, CrmError> {
        match self {
            Database::Sqlite(s) => s.read_with(work).await,
            Database::Postgres(p) => p.read_with(work).await,
        }
    }

    async fn write_with<R: Send + 'static>(&self, work: Work<(R, TxEnd)>) -> Result<R, CrmError> {
        match self {
            Database::Sqlite(s) => s.write_with(work).await,
            Database::Postgres(p) => p.write_with(work).await,
        }
    }
}

#[async_trait::async_trait]
impl CrmStore for Database {
    async fn get(&self, target: &EntityRef) -> Result<Option<Map<String, Value>>, CrmError> {
        match self {
            Database::Sqlite(s) => s.get(target).await,
            Database::Postgres(p) => p.get(target).await,
        }
    }

    async fn query_after(
        &self,
        kind: EntityKind,
        filters: &[Filter],
        after: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, CrmError> {
        match self {
            Database::Sqlite(s) => s.query_after(kind, filters, after, limit).await,
            Database::Postgres(p) => p.query_after(kind, filters, after, limit).await,
        }
    }

    async fn file(&self, target: &EntityRef, name: &str) -> Result<Option<StoredFile>, CrmError> {
        match self {
            Database::Sqlite(s) => s.file(target, name).await,
            Database::Postgres(p) => p.file(target, name).await,
        }
    }

    async fn next_invoice_seq(&self, year: i64) -> Result<i64, CrmError> {
        match self {
            Database::Sqlite(s) => s.next_invoice_seq(year).await,
            Database::Postgres(p) => p.next_invoice_seq(year).await,
        }
    }

    async fn commit(&self, changes: &[Change]) -> Result<CommitReport, CrmError> {
        match self {
            Database::Sqlite(s) => s.commit(changes).await,
            Database::Postgres(p) => p.commit(changes).await,
        }
    }
}
