//! One way to run SQL for the code both backends share — the CRM's records,
//! their checks and the commit path (`rows`, `apply`, `required`,
//! `duplicates`): statements with numbered `?N` placeholders, values as
//! [`Sql`], rows as lists of [`Sql`].
//!
//! SQLite runs them on its native handle as they are (prepared statements
//! kept per handle). PostgreSQL gets `?N` as `$N` and each value bound as
//! the type the server infers for its place (numeric, timestamptz, date,
//! jsonb, boolean, bigint, bytea), and its rows come back in SQLite's
//! stored forms (money and instants as text, flags as 0/1), so the shared
//! code reads one shape from both.

use crate::crm::CrmError;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Sql {
    /// NULL.
    Null,
    /// Text (also money, dates, instants and JSON, in their stored forms).
    Text(String),
    /// An integer (also a flag, 0 or 1).
    Int(i64),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Sql {
    /// The stored form of a normalised JSON field value.
    pub fn of(v: &serde_json::Value) -> Sql {
        use serde_json::Value;
        match v {
            Value::Null => Sql::Null,
            Value::Bool(b) => Sql::Int(i64::from(*b)),
            Value::Number(n) => n
                .as_i64()
                .map_or_else(|| Sql::Text(n.to_string()), Sql::Int),
            Value::String(s) => Sql::Text(s.clone()),
            other => Sql::Text(other.to_string()),
        }
    }

    /// `Some(text)`, else NULL.
    pub fn text_or_null(text: Option<&str>) -> Sql {
        text.map_or(Sql::Null, |t| Sql::Text(t.to_owned()))
    }
}

impl From<&str> for Sql {
    fn from(s: &str) -> Sql {
        Sql::Text(s.to_owned())
    }
}

impl From<String> for Sql {
    fn from(s: String) -> Sql {
        Sql::Text(s)
    }
}

impl From<&String> for Sql {
    fn from(s: &String) -> Sql {
        Sql::Text(s.clone())
    }
}

impl From<i64> for Sql {
    fn from(i: i64) -> Sql {
        Sql::Int(i)
    }
}

impl From<Option<&str>> for Sql {
    fn from(s: Option<&str>) -> Sql {
        Sql::text_or_null(s)
    }
}

impl From<Option<String>> for Sql {
    fn from(s: Option<String>) -> Sql {
        s.map_or(Sql::Null, Sql::Text)
    }
}

impl From<&Option<String>> for Sql {
    fn from(s: &Option<String>) -> Sql {
        Sql::text_or_null(s.as_deref())
    }
}

/// One row, its columns in the statement's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Sql>);

impl Row {
    /// Column `i` as text (None for NULL or another type).
    pub fn text(&self, i: usize) -> Option<&str> {
        match self.0.get(i) {
            Some(Sql::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// Column `i` as owned text.
    pub fn string(&self, i: usize) -> Option<String> {
        self.text(i).map(str::to_owned)
    }

    /// Column `i` as text, moved out of the row (None for NULL or another
    /// type): for readers that build their own values from the row.
    pub fn take(&mut self, i: usize) -> Option<String> {
        match self.0.get_mut(i) {
            Some(Sql::Text(s)) => Some(std::mem::take(s)),
            _ => None,
        }
    }

    /// Column `i` as an integer (text holding one counts).
    pub fn int(&self, i: usize) -> Option<i64> {
        match self.0.get(i) {
            Some(Sql::Int(n)) => Some(*n),
            Some(Sql::Text(s)) => s.parse().ok(),
            _ => None,
        }
    }

    /// Column `i` as bytes (text counts as its UTF-8).
    pub fn blob(&self, i: usize) -> Option<Vec<u8>> {
        match self.0.get(i) {
            Some(Sql::Blob(b)) => Some(b.clone()),
            Some(Sql::Text(s)) => Some(s.as_bytes().to_vec()),
            _ => None,
        }
    }
}

/// How a write transaction ends when its work succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxEnd {
    /// Keep what the work wrote.
    Commit,
    /// Undo it (the work decided so, e.g. to run again differently).
    Rollback,
}

/// Which database runs the statements, for the few places where the SQL
/// itself differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// What kind of failure a statement had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A UNIQUE index or primary key refused the row.
    Unique,
    /// A foreign key refused the change.
    ForeignKey,
    /// A CHECK constraint refused the value.
    Check,
    /// Anything else.
    Other,
}

/// A failed statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    /// What kind of failure.
    pub failure: Failure,
    /// The database's words.
    pub message: String,
}

impl DbError {
    /// A failure of kind `Other`.
    pub fn other(message: impl std::fmt::Display) -> DbError {
        DbError {
            failure: Failure::Other,
            message: message.to_string(),
        }
    }
}

impl From<DbError> for CrmError {
    fn from(e: DbError) -> CrmError {
        CrmError::Storage(e.message)
    }
}

/// What new work a commit leaves for the engine, said to idle nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Events to turn into runs.
    Events,
    /// Steps to claim.
    Steps,
    /// Mail to send.
    Mail,
}

impl Wake {
    /// Its word on the channel.
    pub fn as_str(self) -> &'static str {
        match self {
            Wake::Events => "events",
            Wake::Steps => "steps",
            Wake::Mail => "mail",
        }
    }

    /// The word read back from the channel (None for any other).
    pub fn parse(word: &str) -> Option<Wake> {
        [Wake::Events, Wake::Steps, Wake::Mail]
            .into_iter()
            .find(|w| w.as_str() == word)
    }
}

/// The PostgreSQL channel idle nodes listen on ([`wake`]).
pub const WAKE_CHANNEL: &str = "robota_work";

/// Tells idle nodes, when this transaction commits, that it left `what`
/// (PostgreSQL's NOTIFY, sent at commit and once per word per transaction);
/// nothing on SQLite, whose one node knows already.
pub fn wake(conn: &dyn Db, what: Wake) -> Result<(), DbError> {
    if conn.dialect() == Dialect::Postgres {
        conn.execute(
            "SELECT pg_notify(?1, ?2)",
            &[Sql::from(WAKE_CHANNEL), Sql::from(what.as_str())],
        )?;
    }
    Ok(())
}

/// The one number a query such as `SELECT COUNT(*) …` answers (0 for no row).
pub fn count(db: &dyn Db, sql: &str, params: &[Sql]) -> Result<i64, DbError> {
    Ok(db
        .query_opt(sql, params)?
        .and_then(|r| r.int(0))
        .unwrap_or_default())
}

/// A connection (inside the caller's transaction, if it opened one) that
/// runs the shared SQL.
pub trait Db {
    /// Which database this is.
    fn dialect(&self) -> Dialect;

    /// Runs a statement that changes rows; how many it changed.
    fn execute(&self, sql: &str, params: &[Sql]) -> Result<u64, DbError>;

    /// Every row a statement returns.
    fn query(&self, sql: &str, params: &[Sql]) -> Result<Vec<Row>, DbError>;

    /// Runs one statement once per set of values (the engine writes a
    /// round's log rows so: SQLite looks its statement up once).
    fn execute_each(&self, sql: &str, rows: &[Vec<Sql>]) -> Result<u64, DbError> {
        let mut changed = 0;
        for params in rows {
            changed += self.execute(sql, params)?;
        }
        Ok(changed)
    }

    /// The first row, if any.
    fn query_opt(&self, sql: &str, params: &[Sql]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Whether the statement returns a row.
    fn exists(&self, sql: &str, params: &[Sql]) -> Result<bool, DbError> {
        Ok(self.query_opt(sql, params)?.is_some())
    }
}

/// SQLite's native handle runs the shared SQL as it is.
impl Db for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[Sql]) -> Result<u64, DbError> {
        self.prepare_cached(sql)
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(params)))
            .map(|n| n as u64)
            .map_err(sqlite_error)
    }

    fn execute_each(&self, sql: &str, rows: &[Vec<Sql>]) -> Result<u64, DbError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut statement = self.prepare_cached(sql).map_err(sqlite_error)?;
        let mut changed = 0;
        for params in rows {
            changed += statement
                .execute(rusqlite::params_from_iter(params))
                .map_err(sqlite_error)? as u64;
        }
        Ok(changed)
    }

    fn query(&self, sql: &str, params: &[Sql]) -> Result<Vec<Row>, DbError> {
        let mut select = self.prepare_cached(sql).map_err(sqlite_error)?;
        let columns = select.column_count();
        select
            .query_map(rusqlite::params_from_iter(params), |r| {
                (0..columns)
                    .map(|i| r.get_ref(i).map(from_sqlite))
                    .collect::<rusqlite::Result<Vec<Sql>>>()
                    .map(Row)
            })
            .and_then(Iterator::collect)
            .map_err(sqlite_error)
    }
}

impl rusqlite::ToSql for Sql {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Sql::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Sql::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Sql::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Sql::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> Sql {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Sql::Null,
        ValueRef::Integer(i) => Sql::Int(i),
        ValueRef::Real(f) => Sql::Text(f.to_string()),
        ValueRef::Text(t) => Sql::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Sql::Blob(b.to_vec()),
    }
}

/// A rusqlite error with its kind of failure.
pub fn sqlite_error(e: rusqlite::Error) -> DbError {
    use super::native::{Constraint, violates};
    let failure = if violates(&e, Constraint::Unique) {
        Failure::Unique
    } else if violates(&e, Constraint::ForeignKey) {
        Failure::ForeignKey
    } else if violates(&e, Constraint::Check) {
        Failure::Check
    } else {
        Failure::Other
    };
    let message = match &e {
        rusqlite::Error::SqliteFailure(_, Some(m)) if failure != Failure::Other => m.clone(),
        _ => e.to_string(),
    };
    DbError { failure, message }
}

/// `sql` with SQLite's `?N` (and bare `?`, numbered in order) as
/// PostgreSQL's `$N`; quoted text is left alone.
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1;
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
        } else if c == '?' && !quoted {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            out.push('$');
            if digits.is_empty() {
                out.push_str(&next.to_string());
                next += 1;
            } else {
                out.push_str(&digits);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(
            numbered("SELECT a FROM t WHERE b = ?1 AND c = ?2 OR d = ?1"),
            "SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1"
        );
        assert_eq!(
            numbered("UPDATE t SET a = ?, b = ? WHERE c = '?' AND id = ?"),
            "UPDATE t SET a = $1, b = $2 WHERE c = '?' AND id = $3"
        );
    }

    #[test]
    fn sqlite_runs_the_shared_sql_and_names_constraint_failures() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE p (id TEXT PRIMARY KEY, n INTEGER, b BLOB);
             CREATE TABLE q (p TEXT REFERENCES p (id)); PRAGMA foreign_keys = ON;",
        )
        .unwrap();
        let db: &dyn Db = &c;
        assert_eq!(
            db.execute(
                "INSERT INTO p VALUES (?1, ?2, ?3)",
                &["a".into(), Sql::Int(7), Sql::Blob(vec![0, 1])]
            )
            .unwrap(),
            1
        );
        let row = db
            .query_opt("SELECT id, n, b FROM p WHERE id = ?1", &["a".into()])
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.text(0), row.int(1), row.blob(2)),
            (Some("a"), Some(7), Some(vec![0, 1]))
        );
        let dup = db
            .execute("INSERT INTO p VALUES (?1, 1, NULL)", &["a".into()])
            .unwrap_err();
        assert_eq!(dup.failure, Failure::Unique);
        let fk = db
            .execute("INSERT INTO q VALUES (?1)", &["nope".into()])
            .unwrap_err();
        assert_eq!(fk.failure, Failure::ForeignKey);
        assert!(
            !db.exists("SELECT 1 FROM p WHERE id = ?1", &["b".into()])
                .unwrap()
        );
    }
}
