//! Rows in and out: statements built once per entity kind from the static
//! field specs (never from caller input), and conversion between rows and
//! JSON objects.

use super::db::{Db, Dialect, Row};
use crate::crm::filter::FilterOp;
use crate::crm::schema::{EntitySpec, FieldType, items_table, spec};
use crate::crm::{CrmError, EntityKind, EntityRef, Filter};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

pub use super::db::Sql;

/// The statements of one kind.
pub struct Statements {
    /// `SELECT <all columns> FROM t` (add a WHERE).
    pub select: String,
    /// `INSERT INTO t (...) VALUES (?, ...)`: id, version, created_at, updated_at, custom_fields, then columns.
    pub insert: String,
    /// `UPDATE t SET ... WHERE id = ? AND version = ?`: updated_at, custom_fields, columns, id, version.
    pub update: String,
}

const SYSTEM_COLUMNS: &str = "id, version, created_at, updated_at, custom_fields";

/// How many system columns a select starts with.
const SYSTEM_COLUMN_COUNT: usize = 5;

/// The statements of `kind`, built on first use.
pub fn statements(kind: EntityKind) -> &'static Statements {
    static ALL: OnceLock<HashMap<EntityKind, Statements>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        EntityKind::ALL
            .into_iter()
            .map(|k| {
                let spec = spec(k);
                let cols: Vec<&str> = spec.columns().map(|f| f.name).collect();
                let select = format!("SELECT {SYSTEM_COLUMNS}, {} FROM {}", cols.join(", "), spec.table);
                let marks = vec!["?"; cols.len() + 5].join(", ");
                let insert = format!("INSERT INTO {} ({SYSTEM_COLUMNS}, {}) VALUES ({marks})", spec.table, cols.join(", "));
                let sets: Vec<String> = cols.iter().map(|c| format!("{c} = ?")).collect();
                let update = format!(
                    "UPDATE {} SET version = version + 1, updated_at = ?, custom_fields = ?, {} WHERE id = ? AND version = ?",
                    spec.table,
                    sets.join(", ")
                );
                (k, Statements { select, insert, update })
            })
            .collect()
    });
    &all[&kind]
}

/// A row of [`Statements::select`] as a JSON object: the system columns,
/// then the spec's columns in order.
pub fn row_to_json(spec: &EntitySpec, mut row: Row) -> Map<String, Value> {
    let mut out = Map::new();
    let text = |row: &mut Row, i: usize| row.take(i).map_or(Value::Null, Value::String);
    out.insert("id".into(), text(&mut row, 0));
    out.insert("version".into(), Value::from(row.int(1).unwrap_or(0)));
    out.insert("created_at".into(), text(&mut row, 2));
    out.insert("updated_at".into(), text(&mut row, 3));
    out.insert(
        "custom_fields".into(),
        row.text(4)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    for (i, field) in spec.columns().enumerate() {
        let at = SYSTEM_COLUMN_COUNT + i;
        let v = match field.ty {
            FieldType::Bool => row.int(at).map_or(Value::Null, |b| Value::Bool(b != 0)),
            FieldType::Integer => row.int(at).map_or(Value::Null, Value::from),
            FieldType::TextList | FieldType::EmailList | FieldType::PhoneList | FieldType::Json => {
                row.text(at)
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or(Value::Null)
            }
            _ => text(&mut row, at),
        };
        out.insert(field.name.into(), v);
    }
    out
}

/// A condition on which rows a caller may see (see [`crate::access`]):
/// static SQL whose every `?` is bound to the caller's user id.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The condition.
    pub sql: &'static str,
    /// How many `?` it has.
    pub binds: usize,
    /// The caller's user (NULL when the token has none: nothing matches).
    pub user: Option<&'a str>,
}

impl Seen<'_> {
    /// Appends ` AND (condition)` and its values.
    fn push(&self, sql: &mut String, values: &mut Vec<Sql>) {
        sql.push_str(" AND (");
        sql.push_str(self.sql);
        sql.push(')');
        let user = self.user.map_or(Sql::Null, |u| Sql::Text(u.to_owned()));
        values.extend(std::iter::repeat_n(user, self.binds));
    }
}

/// Loads one entity with its items.
pub fn load(conn: &dyn Db, target: &EntityRef) -> Result<Option<Map<String, Value>>, CrmError> {
    load_seen(conn, target, None)
}

/// Loads one entity with its items if it passes `seen` (None: any).
pub fn load_seen(
    conn: &dyn Db,
    target: &EntityRef,
    seen: Option<Seen<'_>>,
) -> Result<Option<Map<String, Value>>, CrmError> {
    let spec = spec(target.kind);
    let mut sql = format!("{} WHERE id = ?", statements(target.kind).select);
    let mut values = vec![Sql::Text(target.id.clone())];
    if let Some(seen) = seen {
        seen.push(&mut sql, &mut values);
    }
    let Some(row) = conn.query_opt(&sql, &values)? else {
        return Ok(None);
    };
    let mut record = row_to_json(spec, row);
    if let Some(items) = load_items(conn, target)? {
        record.insert("items".into(), items);
    }
    Ok(Some(record))
}

/// The line items of an entity that has them.
fn load_items(conn: &dyn Db, target: &EntityRef) -> Result<Option<Value>, CrmError> {
    let Some((table, parent)) = items_table(target.kind) else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT product_id, name, quantity, unit, price, vat_rate FROM {table} WHERE {parent} = ?1 ORDER BY position"
    );
    let items = conn
        .query(&sql, &[Sql::Text(target.id.clone())])?
        .into_iter()
        .map(|row| {
            let mut item = Map::new();
            item.insert(
                "product_id".into(),
                row.string(0).map_or(Value::Null, Value::String),
            );
            for (i, name) in ["name", "quantity", "unit", "price", "vat_rate"]
                .into_iter()
                .enumerate()
            {
                item.insert(
                    name.into(),
                    Value::String(row.string(i + 1).unwrap_or_default()),
                );
            }
            Value::Object(item)
        })
        .collect();
    Ok(Some(Value::Array(items)))
}

/// Replaces the line items of an entity.
pub fn write_items(conn: &dyn Db, target: &EntityRef, items: &[Value]) -> Result<(), CrmError> {
    let Some((table, parent)) = items_table(target.kind) else {
        return Ok(());
    };
    conn.execute(
        &format!("DELETE FROM {table} WHERE {parent} = ?1"),
        &[Sql::Text(target.id.clone())],
    )?;
    let insert = format!(
        "INSERT INTO {table} (id, {parent}, position, product_id, name, quantity, unit, price, vat_rate)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    );
    for (position, item) in items.iter().enumerate() {
        let text = |k: &str| Sql::text_or_null(item.get(k).and_then(Value::as_str));
        conn.execute(
            &insert,
            &[
                Sql::Text(crate::crm::new_id()),
                Sql::Text(target.id.clone()),
                Sql::Int(i64::try_from(position).unwrap_or(i64::MAX)),
                text("product_id"),
                text("name"),
                text("quantity"),
                text("unit"),
                text("price"),
                text("vat_rate"),
            ],
        )?;
    }
    Ok(())
}

/// Entities of `kind` passing every filter and `seen`, after `after`, at
/// most `limit` (clamped to [`super::MAX_QUERY_LIMIT`]).
pub fn query(
    conn: &dyn Db,
    kind: EntityKind,
    filters: &[Filter],
    seen: Option<Seen<'_>>,
    after: &str,
    limit: u32,
) -> Result<Vec<Map<String, Value>>, CrmError> {
    let spec = spec(kind);
    for f in filters {
        f.check(spec)?;
    }
    let limit = limit.clamp(1, super::MAX_QUERY_LIMIT) as usize;
    // Filters SQL can answer exactly go into the WHERE clause; decimal
    // comparisons and case-insensitive Cyrillic `contains` are checked
    // here, page by page, so the limit still holds.
    let (in_sql, in_rust): (Vec<&Filter>, Vec<&Filter>) = filters.iter().partition(|f| {
        let ty = spec.field(&f.field).map(|s| s.ty);
        f.op != FilterOp::Contains
            && !matches!(
                ty,
                Some(
                    FieldType::Decimal
                        | FieldType::Items
                        | FieldType::Json
                        | FieldType::TextList
                        | FieldType::EmailList
                        | FieldType::PhoneList
                )
            )
    });
    let mut out = Vec::new();
    let mut after = after.to_owned();
    loop {
        let page_size = if in_rust.is_empty() { limit } else { 500 };
        let page = select_page(conn, spec, &in_sql, seen, &after, page_size)?;
        let Some(last) = page.last() else { break };
        after = last
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let full = page.len();
        for row in page {
            let value = Value::Object(row);
            if in_rust.iter().all(|f| f.matches(kind, spec, &value)) {
                if let Value::Object(row) = value {
                    out.push(row);
                }
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
        if in_rust.is_empty() || full < 500 {
            break;
        }
    }
    Ok(out)
}

/// One page of a query: rows with id greater than `after` passing the SQL
/// filters and `seen` (None: any row).
pub fn select_page(
    conn: &dyn Db,
    spec: &'static EntitySpec,
    filters: &[&Filter],
    seen: Option<Seen<'_>>,
    after: &str,
    limit: usize,
) -> Result<Vec<Map<String, Value>>, CrmError> {
    let mut sql = statements(spec.kind).select.clone();
    let mut values = vec![Sql::Text(after.to_owned())];
    sql.push_str(" WHERE id > ?");
    if let Some(seen) = seen {
        seen.push(&mut sql, &mut values);
    }
    for f in filters {
        // The name was checked against the spec, so it is one of our own
        // static column names; the value is always bound.
        let Some(field) = spec.field(&f.field) else {
            continue;
        };
        sql.push_str(" AND ");
        if f.op == FilterOp::IsNull {
            // Compared as text: on PostgreSQL the column may be a number
            // or a date, which is never ''.
            sql.push_str(&format!(
                "({0} IS NULL OR CAST({0} AS TEXT) = '')",
                field.name
            ));
            continue;
        }
        let op = match f.op {
            FilterOp::Eq => " = ",
            // NULL-safe on both databases (SQLite's `IS NOT` is its own).
            FilterOp::Ne => match conn.dialect() {
                Dialect::Sqlite => " IS NOT ",
                Dialect::Postgres => " IS DISTINCT FROM ",
            },
            FilterOp::Lt => " < ",
            FilterOp::Le => " <= ",
            FilterOp::Gt => " > ",
            FilterOp::Ge => " >= ",
            FilterOp::Contains | FilterOp::IsNull => " = ",
        };
        sql.push_str(field.name);
        sql.push_str(op);
        sql.push('?');
        values.push(Sql::of(&f.value));
    }
    sql.push_str(" ORDER BY id LIMIT ?");
    values.push(Sql::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let mut out: Vec<Map<String, Value>> = conn
        .query(&sql, &values)?
        .into_iter()
        .map(|row| row_to_json(spec, row))
        .collect();
    for record in &mut out {
        let target = EntityRef {
            kind: spec.kind,
            id: record
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        if let Some(items) = load_items(conn, &target)? {
            record.insert("items".into(), items);
        }
    }
    Ok(out)
}

/// The columns of `record` in spec order, as bound after the system columns.
pub fn column_values(spec: &EntitySpec, record: &Map<String, Value>) -> Vec<Sql> {
    spec.columns()
        .map(|field| Sql::of(record.get(field.name).unwrap_or(&Value::Null)))
        .collect()
}
