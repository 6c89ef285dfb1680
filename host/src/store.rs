//! Persistence: the only module with SQL.
//!
//! A node holds a [`Database`]: the embedded [`SqliteStore`] or a
//! PostgreSQL server ([`postgres::PgStore`]) several nodes share. The SQL
//! is written once, on [`db::Db`], and runs on either ([`backend::Backend`]);
//! [`CrmStore`] is the seam actions and the engine read and write the CRM
//! through, and the traits in [`prelude`] are everything else the host
//! stores.

pub mod action_sets;
mod apply;
pub mod backend;
pub mod console_sessions;
pub mod db;
pub use apply::invoice_number;
pub mod approvals;
#[cfg(test)]
mod contract_tests;
pub mod conversion;
pub mod database;
pub mod duplicates;
pub mod events;
pub mod files;
pub mod group;
pub mod import;
pub mod me;
pub mod merge;
mod native;
pub mod outbox;
pub mod payment_requests;
pub mod postgres;
pub mod processes;
pub mod record_access;
pub mod reports;
mod required;
pub mod rounds;
mod rows;
pub mod runs;
pub mod schedules;
pub mod settings;
pub mod shares;
pub mod sqlite;
#[cfg(test)]
mod testing;
pub mod timeline;
pub mod tokens;
pub mod visible;

use crate::crm::changes::{Change, CommitReport, StoredFile};
use crate::crm::{CrmError, EntityKind, EntityRef, Filter};
use serde_json::{Map, Value};
use std::sync::Arc;

pub use database::Database;
pub use sqlite::SqliteStore;

/// The store's operations written once for every [`backend::Backend`]:
/// `use crate::store::prelude::*;` brings their methods into scope.
pub mod prelude {
    pub use super::action_sets::ActionSets as _;
    pub use super::approvals::Approvals as _;
    pub use super::console_sessions::ConsoleSessions as _;
    pub use super::conversion::Conversions as _;
    pub use super::duplicates::Duplicates as _;
    pub use super::events::Events as _;
    pub use super::files::Files as _;
    pub use super::import::Import as _;
    pub use super::me::Me as _;
    pub use super::merge::Merge as _;
    pub use super::outbox::Outbox as _;
    pub use super::outbox::OutboxListing as _;
    pub use super::payment_requests::PaymentRequests as _;
    pub use super::processes::Processes as _;
    pub use super::record_access::RecordAccess as _;
    pub use super::reports::Reports as _;
    pub use super::runs::Runs as _;
    pub use super::schedules::Schedules as _;
    pub use super::settings::Settings as _;
    pub use super::shares::Shares as _;
    pub use super::timeline::Timelines as _;
    pub use super::tokens::Tokens as _;
    pub use super::visible::Visible as _;
}

/// The CRM store as the rest of the host sees it.
#[async_trait::async_trait]
pub trait CrmStore: Send + Sync {
    /// One entity as a JSON object (with its line items, if it has any).
    async fn get(&self, target: &EntityRef) -> Result<Option<Map<String, Value>>, CrmError>;

    /// Entities of `kind` passing every filter, oldest first, at most `limit`.
    async fn query(
        &self,
        kind: EntityKind,
        filters: &[Filter],
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, CrmError> {
        self.query_after(kind, filters, "", limit).await
    }

    /// Like [`CrmStore::query`], but only entities whose id sorts after
    /// `after` (ids are time-ordered, so this is cursor pagination).
    async fn query_after(
        &self,
        kind: EntityKind,
        filters: &[Filter],
        after: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, CrmError>;

    /// The file `name` stored with `target`, if there is one.
    async fn file(&self, target: &EntityRef, name: &str) -> Result<Option<StoredFile>, CrmError>;

    /// The sequence number the next invoice of `year` would get now.
    async fn next_invoice_seq(&self, year: i64) -> Result<i64, CrmError>;

    /// Applies a change set in one transaction: all of it, or none of it.
    async fn commit(&self, changes: &[Change]) -> Result<CommitReport, CrmError>;
}

/// A shared handle to a store.
pub type Store = Arc<dyn CrmStore>;

/// Opens the database at `url` (`sqlite://path.db`, `sqlite::memory:`,
/// `postgres://user@host/db`), creating a SQLite file if missing, and
/// applies the migrations.
pub async fn open(url: &str) -> anyhow::Result<Arc<Database>> {
    if url.starts_with("sqlite:") || is_postgres(url) {
        Ok(Arc::new(
            Database::open(url, sqlite::Durability::Full).await?,
        ))
    } else {
        anyhow::bail!(
            "unsupported database URL `{}`: give sqlite://FILE or postgres://USER@HOST/DB",
            postgres::redacted(url)
        )
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Creates (SQLite) or connects to (PostgreSQL) the database at `url` and
/// applies its pending migrations.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    open(url).await.map(drop)
}

/// Opens a database that must already exist, for commands that read or
/// steer one (`run list`, `token create`, …): a mistyped or missing `--db`
/// is an error naming the file, not a new empty database.
pub async fn open_existing(url: &str) -> anyhow::Result<Arc<Database>> {
    if let Some(path) = sqlite_file(url)
        && !path.exists()
    {
        anyhow::bail!(
            "no database at `{}` (from --db {url}): give the --db of a database `robota serve`, `robota demo` or `robota migrate` made",
            path.display()
        );
    }
    open(url).await
}

/// The file a `sqlite:` URL names, or `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// The largest page a query returns.
pub const MAX_QUERY_LIMIT: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::sqlite_file;
    use std::path::PathBuf;

    #[test]
    fn a_sqlite_url_names_its_file_unless_it_is_in_memory() {
        assert_eq!(
            sqlite_file("sqlite://robota.db"),
            Some(PathBuf::from("robota.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///tmp/a.db?mode=rwc"),
            Some(PathBuf::from("/tmp/a.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:data/x.db"),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(
            sqlite_file("sqlite://shared?mode=memory&cache=shared"),
            None
        );
        assert_eq!(sqlite_file("postgres://db"), None);
    }
}
