//! Where the shared SQL runs. A [`Backend`] runs a piece of work on one of
//! its connections — to read, or inside a write transaction that it
//! commits or rolls back as the work says — so the store's operations are
//! written once, on [`Db`], for SQLite and PostgreSQL alike (see
//! [`super::processes::Processes`]).

use super::db::{Db, TxEnd};
use crate::crm::CrmError;

/// Work a backend runs on one connection.
pub type Work<R> = Box<dyn FnOnce(&dyn Db) -> Result<R, CrmError> + Send>;

/// A database the store's shared operations run on.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Runs read-only `work` on a connection.
    async fn read_with<R: Send + 'static>(&self, work: Work<R>) -> Result<R, CrmError>;

    /// Runs `work` in a write transaction, committed or rolled back as it
    /// says (and rolled back when it fails).
    async fn write_with<R: Send + 'static>(&self, work: Work<(R, TxEnd)>) -> Result<R, CrmError>;
}

#[async_trait::async_trait]
impl Backend for super::SqliteStore {
    async fn read_with<R: Send + 'static>(&self, work: Work<R>) -> Result<R, CrmError> {
        self.read_native(|c| work(c)).await
    }

    async fn write_with<R: Send + 'static>(&self, work: Work<(R, TxEnd)>) -> Result<R, CrmError> {
        self.write_native(|c| work(c)).await
    }
}

#[async_trait::async_trait]
impl Backend for super::postgres::PgStore {
    async fn read_with<R: Send + 'static>(&self, work: Work<R>) -> Result<R, CrmError> {
        self.read(work).await
    }

    async fn write_with<R: Send + 'static>(&self, work: Work<(R, TxEnd)>) -> Result<R, CrmError> {
        self.transaction(work).await
    }
}
