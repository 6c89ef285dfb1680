//! The shared SQL ([`Db`]) on a PostgreSQL connection: each statement is
//! prepared (sqlx keeps it per connection), its parameters are bound as the
//! types the server inferred for them, and its rows are read back in the
//! stored forms SQLite has (see [`super::super::db`]).
//!
//! The shared code is synchronous (SQLite runs it on its own handle without
//! a hand-off), so here it runs on a blocking thread that drives each
//! statement with the runtime's handle.

use crate::crm::timestamp_text;
use crate::store::db::{Db, DbError, Dialect, Failure, Row, Sql, numbered};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::{PgArguments, PgConnection, PgRow, PgTypeInfo};
use sqlx::{Arguments as _, Column as _, Executor as _, Row as _, Statement as _, TypeInfo as _};
use std::cell::RefCell;
use std::str::FromStr as _;

/// A PostgreSQL connection (inside the caller's transaction) running the
/// shared SQL. Lives on a blocking thread (see the module doc).
pub struct PgDb<'c> {
    conn: RefCell<&'c mut PgConnection>,
    runtime: tokio::runtime::Handle,
}

impl<'c> PgDb<'c> {
    /// The shared SQL on `conn`, driven by `runtime`.
    pub fn new(conn: &'c mut PgConnection, runtime: tokio::runtime::Handle) -> PgDb<'c> {
        PgDb {
            conn: RefCell::new(conn),
            runtime,
        }
    }

    fn run<R>(
        &self,
        sql: &str,
        params: &[Sql],
        fetch: impl AsyncFnOnce(&mut PgConnection, &str, PgArguments) -> Result<R, sqlx::Error>,
    ) -> Result<R, DbError> {
        let sql = numbered(sql);
        let mut conn = self.conn.borrow_mut();
        let conn: &mut PgConnection = &mut conn;
        self.runtime.block_on(async {
            let types: Vec<PgTypeInfo> = {
                let statement = (&mut *conn).prepare(&sql).await.map_err(pg_error)?;
                match statement.parameters() {
                    Some(sqlx::Either::Left(types)) => types.to_vec(),
                    _ => Vec::new(),
                }
            };
            let args = bind(&types, params)?;
            fetch(conn, &sql, args).await.map_err(pg_error)
        })
    }
}

impl Db for PgDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, params: &[Sql]) -> Result<u64, DbError> {
        self.run(sql, params, async |conn, sql, args| {
            sqlx::query_with(sql, args)
                .execute(conn)
                .await
                .map(|done| done.rows_affected())
        })
    }

    fn query(&self, sql: &str, params: &[Sql]) -> Result<Vec<Row>, DbError> {
        let rows = self.run(sql, params, async |conn, sql, args| {
            sqlx::query_with(sql, args).fetch_all(conn).await
        })?;
        rows.iter().map(decode).collect()
    }
}

/// `params` bound as `types` (what the server inferred for each place).
fn bind(types: &[PgTypeInfo], params: &[Sql]) -> Result<PgArguments, DbError> {
    let mut args = PgArguments::default();
    for (i, value) in params.iter().enumerate() {
        let ty = types.get(i).map_or("TEXT", |t| t.name());
        let wrong = |what: &str| {
            DbError::other(format!(
                "parameter ${} must be {what} for PostgreSQL's {ty}, got {value:?}",
                i + 1
            ))
        };
        let text = match value {
            Sql::Null => None,
            Sql::Text(s) => Some(s.clone()),
            Sql::Int(n) => Some(n.to_string()),
            // Bytes go only where the server expects bytes (below).
            Sql::Blob(_) if ty != "BYTEA" => {
                return Err(DbError::other(format!(
                    "parameter ${} is bytes, but PostgreSQL's {ty} takes text: bytes go only into bytea columns",
                    i + 1
                )));
            }
            Sql::Blob(_) => None,
        };
        let added = match ty {
            "NUMERIC" => args.add(
                text.map(|t| {
                    Decimal::from_str(&t)
                        .map(Scaled)
                        .map_err(|_| wrong("a decimal"))
                })
                .transpose()?,
            ),
            "TIMESTAMPTZ" => args.add(
                text.map(|t| {
                    DateTime::parse_from_rfc3339(&t)
                        .map(|d| d.with_timezone(&Utc))
                        .map_err(|_| wrong("an RFC 3339 instant"))
                })
                .transpose()?,
            ),
            "DATE" => args.add(
                text.map(|t| NaiveDate::from_str(&t).map_err(|_| wrong("a date")))
                    .transpose()?,
            ),
            "JSONB" | "JSON" => args.add(
                text.map(|t| {
                    serde_json::from_str::<serde_json::Value>(&t)
                        .map(sqlx::types::Json)
                        .map_err(|_| wrong("JSON"))
                })
                .transpose()?,
            ),
            "BOOL" => args.add(
                text.map(|t| match t.as_str() {
                    "1" | "true" => Ok(true),
                    "0" | "false" => Ok(false),
                    _ => Err(wrong("a flag")),
                })
                .transpose()?,
            ),
            "INT8" | "INT4" | "INT2" => {
                let n = text
                    .map(|t| t.parse::<i64>().map_err(|_| wrong("an integer")))
                    .transpose()?;
                match ty {
                    "INT8" => args.add(n),
                    "INT4" => args.add(
                        n.map(|n| i32::try_from(n).map_err(|_| wrong("a 32-bit integer")))
                            .transpose()?,
                    ),
                    _ => args.add(
                        n.map(|n| i16::try_from(n).map_err(|_| wrong("a 16-bit integer")))
                            .transpose()?,
                    ),
                }
            }
            "BYTEA" => args.add(match value {
                Sql::Blob(b) => Some(b.clone()),
                Sql::Text(t) => Some(t.as_bytes().to_vec()),
                _ => None,
            }),
            _ => args.add(text),
        };
        added.map_err(|e| DbError::other(format!("parameter ${}: {e}", i + 1)))?;
    }
    Ok(args)
}

/// A row in SQLite's stored forms.
fn decode(row: &PgRow) -> Result<Row, DbError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let bad = |e: sqlx::Error| DbError::other(format!("column `{}`: {e}", column.name()));
        let value = match column.type_info().name() {
            "INT8" => row.try_get::<Option<i64>, _>(i).map_err(bad)?.map(Sql::Int),
            "INT4" => row
                .try_get::<Option<i32>, _>(i)
                .map_err(bad)?
                .map(|n| Sql::Int(n.into())),
            "INT2" => row
                .try_get::<Option<i16>, _>(i)
                .map_err(bad)?
                .map(|n| Sql::Int(n.into())),
            "BOOL" => row
                .try_get::<Option<bool>, _>(i)
                .map_err(bad)?
                .map(|b| Sql::Int(b.into())),
            "NUMERIC" => row
                .try_get::<Option<Decimal>, _>(i)
                .map_err(bad)?
                .map(|mut d| {
                    // The decoded decimal drops a zero's scale ("0.00" → "0"):
                    // the value's own display scale puts it back.
                    if let Some(scale) = numeric_scale(row, i)
                        && d.scale() < scale
                    {
                        d.rescale(scale);
                    }
                    Sql::Text(d.to_string())
                }),
            "TIMESTAMPTZ" => row
                .try_get::<Option<DateTime<Utc>>, _>(i)
                .map_err(bad)?
                .map(|t| Sql::Text(timestamp_text(t))),
            "DATE" => row
                .try_get::<Option<NaiveDate>, _>(i)
                .map_err(bad)?
                .map(|d| Sql::Text(d.to_string())),
            "JSONB" | "JSON" => row
                .try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>(i)
                .map_err(bad)?
                .map(|j| Sql::Text(j.0.to_string())),
            "BYTEA" => row
                .try_get::<Option<Vec<u8>>, _>(i)
                .map_err(bad)?
                .map(Sql::Blob),
            // What a function called for its effect returns (a lock's).
            "VOID" => None,
            _ => row
                .try_get::<Option<String>, _>(i)
                .map_err(bad)?
                .map(Sql::Text),
        };
        out.push(value.unwrap_or(Sql::Null));
    }
    Ok(Row(out))
}

/// A decimal bound as a numeric with its scale, zero included: sqlx sends
/// every zero as a bare 0, so "0.00" would read back as "0".
struct Scaled(Decimal);

impl sqlx::Type<sqlx::Postgres> for Scaled {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <Decimal as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Scaled {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        if !self.0.is_zero() {
            return <Decimal as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.0, buf);
        }
        // PostgreSQL's binary numeric: ndigits, weight, sign (positive),
        // display scale — no digits for a zero.
        let scale = u16::try_from(self.0.scale()).unwrap_or(0);
        for part in [0u16, 0, 0, scale] {
            buf.extend_from_slice(&part.to_be_bytes());
        }
        Ok(sqlx::encode::IsNull::No)
    }
}

/// The display scale of numeric column `i` (how many decimals it was
/// stored with), read from its binary form: ndigits, weight, sign, dscale.
fn numeric_scale(row: &PgRow, i: usize) -> Option<u32> {
    let raw = row.try_get_raw(i).ok()?;
    if raw.format() != sqlx::postgres::PgValueFormat::Binary {
        return None;
    }
    let bytes = raw.as_bytes().ok()?;
    let dscale = u16::from_be_bytes([*bytes.get(6)?, *bytes.get(7)?]);
    Some(u32::from(dscale))
}

/// A sqlx error with its kind of failure (SQLSTATE 23505, 23503, 23514).
pub fn pg_error(e: sqlx::Error) -> DbError {
    let failure = match e.as_database_error().and_then(|d| d.code()) {
        Some(code) if code == "23505" => Failure::Unique,
        Some(code) if code == "23503" => Failure::ForeignKey,
        Some(code) if code == "23514" => Failure::Check,
        _ => Failure::Other,
    };
    let message = match e.as_database_error() {
        Some(d) => d.message().to_owned(),
        None => e.to_string(),
    };
    DbError { failure, message }
}
