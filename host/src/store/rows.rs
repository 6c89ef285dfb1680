//! Rows in and out: statements built once per entity kind from the static
//! field specs (never from caller input), and conversion between rows and
//! JSON objects.

use super::native::{Native, native_err};
use crate::crm::filter::FilterOp;
use crate::crm::schema::{EntitySpec, FieldType, items_table, spec};
use crate::crm::{CrmError, EntityKind, EntityRef, Filter};
use rusqlite::OptionalExtension as _;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// A value to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum Sql {
    /// NULL.
    Null,
    /// TEXT.
    Text(String),
    /// INTEGER.
    Int(i64),
}

impl Sql {
    /// The stored form of a normalised JSON field value.
    pub fn of(v: &Value) -> Sql {
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
}

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

impl rusqlite::ToSql for Sql {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Sql::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Sql::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Sql::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
        })
    }
}

/// A row of [`Statements::select`] as a JSON object.
pub fn row_to_json(
    spec: &EntitySpec,
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Map<String, Value>> {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(row.get("id")?));
    out.insert("version".into(), Value::from(row.get::<_, i64>("version")?));
    for name in ["created_at", "updated_at"] {
        out.insert(name.into(), Value::String(row.get(name)?));
    }
    let custom: String = row.get("custom_fields")?;
    out.insert(
        "custom_fields".into(),
        serde_json::from_str(&custom).unwrap_or_else(|_| Value::Object(Map::new())),
    );
    for field in spec.columns() {
        let v = match field.ty {
            FieldType::Bool => row
                .get::<_, Option<bool>>(field.name)?
                .map_or(Value::Null, Value::Bool),
            FieldType::Integer => row
                .get::<_, Option<i64>>(field.name)?
                .map_or(Value::Null, Value::from),
            FieldType::TextList | FieldType::EmailList | FieldType::PhoneList | FieldType::Json => {
                row.get::<_, Option<String>>(field.name)?
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or(Value::Null)
            }
            _ => row
                .get::<_, Option<String>>(field.name)?
                .map_or(Value::Null, Value::String),
        };
        out.insert(field.name.into(), v);
    }
    Ok(out)
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
pub fn load(conn: &Native, target: &EntityRef) -> Result<Option<Map<String, Value>>, CrmError> {
    load_seen(conn, target, None)
}

/// Loads one entity with its items if it passes `seen` (None: any).
pub fn load_seen(
    conn: &Native,
    target: &EntityRef,
    seen: Option<Seen<'_>>,
) -> Result<Option<Map<String, Value>>, CrmError> {
    let spec = spec(target.kind);
    let mut sql = format!("{} WHERE id = ?", statements(target.kind).select);
    let record = match seen {
        // The engine's reads (no caller): the id alone, nothing copied.
        None => conn.prepare_cached(&sql).and_then(|mut select| {
            select
                .query_row([&target.id], |row| row_to_json(spec, row))
                .optional()
        }),
        Some(seen) => {
            let mut values = vec![Sql::Text(target.id.clone())];
            seen.push(&mut sql, &mut values);
            conn.prepare_cached(&sql).and_then(|mut select| {
                select
                    .query_row(rusqlite::params_from_iter(&values), |row| {
                        row_to_json(spec, row)
                    })
                    .optional()
            })
        }
    }
    .map_err(native_err)?;
    let Some(mut record) = record else {
        return Ok(None);
    };
    if let Some(items) = load_items(conn, target)? {
        record.insert("items".into(), items);
    }
    Ok(Some(record))
}

/// The line items of an entity that has them.
fn load_items(conn: &Native, target: &EntityRef) -> Result<Option<Value>, CrmError> {
    let Some((table, parent)) = items_table(target.kind) else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT product_id, name, quantity, unit, price, vat_rate FROM {table} WHERE {parent} = ?1 ORDER BY position"
    );
    let items = conn
        .prepare_cached(&sql)
        .and_then(|mut select| {
            select
                .query_map([&target.id], |row| {
                    let mut item = Map::new();
                    let product: Option<String> = row.get("product_id")?;
                    item.insert(
                        "product_id".into(),
                        product.map_or(Value::Null, Value::String),
                    );
                    for name in ["name", "quantity", "unit", "price", "vat_rate"] {
                        item.insert(name.into(), Value::String(row.get(name)?));
                    }
                    Ok(Value::Object(item))
                })?
                .collect::<rusqlite::Result<Vec<Value>>>()
        })
        .map_err(native_err)?;
    Ok(Some(Value::Array(items)))
}

/// Replaces the line items of an entity.
pub fn write_items(conn: &Native, target: &EntityRef, items: &[Value]) -> Result<(), CrmError> {
    let Some((table, parent)) = items_table(target.kind) else {
        return Ok(());
    };
    conn.prepare_cached(&format!("DELETE FROM {table} WHERE {parent} = ?1"))
        .and_then(|mut delete| delete.execute([&target.id]))
        .map_err(native_err)?;
    let mut insert = conn
        .prepare_cached(&format!(
            "INSERT INTO {table} (id, {parent}, position, product_id, name, quantity, unit, price, vat_rate)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .map_err(native_err)?;
    for (position, item) in items.iter().enumerate() {
        let text = |k: &str| item.get(k).and_then(Value::as_str);
        insert
            .execute(rusqlite::params![
                crate::crm::new_id(),
                target.id,
                i64::try_from(position).unwrap_or(i64::MAX),
                text("product_id"),
                text("name"),
                text("quantity"),
                text("unit"),
                text("price"),
                text("vat_rate"),
            ])
            .map_err(native_err)?;
    }
    Ok(())
}

/// One page of a query: rows with id greater than `after` passing the SQL
/// filters and `seen` (None: any row).
pub fn select_page(
    conn: &Native,
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
            sql.push_str(&format!("({0} IS NULL OR {0} = '')", field.name));
            continue;
        }
        let op = match f.op {
            FilterOp::Eq => " = ",
            FilterOp::Ne => " IS NOT ",
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
    let mut out = conn
        .prepare_cached(&sql)
        .and_then(|mut select| {
            select
                .query_map(rusqlite::params_from_iter(&values), |row| {
                    row_to_json(spec, row)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(native_err)?;
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
