//! Rows in and out: statements built once per entity kind from the static
//! field specs (never from caller input), and conversion between rows and
//! JSON objects.

use super::sqlite::{bind, db_err};
use crate::crm::filter::FilterOp;
use crate::crm::schema::{EntitySpec, FieldType, items_table, spec};
use crate::crm::{CrmError, EntityKind, EntityRef, Filter};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
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

/// A row as a JSON object.
pub fn row_to_json(spec: &EntitySpec, row: &SqliteRow) -> Result<Map<String, Value>, CrmError> {
    let mut out = Map::new();
    let id: String = row.try_get("id").map_err(db_err)?;
    out.insert("id".into(), Value::String(id));
    let version: i64 = row.try_get("version").map_err(db_err)?;
    out.insert("version".into(), Value::from(version));
    for name in ["created_at", "updated_at"] {
        let s: String = row.try_get(name).map_err(db_err)?;
        out.insert(name.into(), Value::String(s));
    }
    let custom: String = row.try_get("custom_fields").map_err(db_err)?;
    out.insert(
        "custom_fields".into(),
        serde_json::from_str(&custom).unwrap_or_else(|_| Value::Object(Map::new())),
    );
    for field in spec.columns() {
        let v = match field.ty {
            FieldType::Bool => row
                .try_get::<Option<bool>, _>(field.name)
                .map_err(db_err)?
                .map_or(Value::Null, Value::Bool),
            FieldType::Integer => row
                .try_get::<Option<i64>, _>(field.name)
                .map_err(db_err)?
                .map_or(Value::Null, Value::from),
            FieldType::TextList | FieldType::Json => row
                .try_get::<Option<String>, _>(field.name)
                .map_err(db_err)?
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(Value::Null),
            _ => row
                .try_get::<Option<String>, _>(field.name)
                .map_err(db_err)?
                .map_or(Value::Null, Value::String),
        };
        out.insert(field.name.into(), v);
    }
    Ok(out)
}

/// Loads one entity with its items.
pub async fn load(
    conn: &mut SqliteConnection,
    target: &EntityRef,
) -> Result<Option<Map<String, Value>>, CrmError> {
    let spec = spec(target.kind);
    let sql = format!("{} WHERE id = ?", statements(target.kind).select);
    let row = sqlx::query(&sql)
        .bind(&target.id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    let Some(row) = row else { return Ok(None) };
    let mut record = row_to_json(spec, &row)?;
    if let Some(items) = load_items(conn, target).await? {
        record.insert("items".into(), items);
    }
    Ok(Some(record))
}

/// The line items of an entity that has them.
async fn load_items(
    conn: &mut SqliteConnection,
    target: &EntityRef,
) -> Result<Option<Value>, CrmError> {
    let Some((table, parent)) = items_table(target.kind) else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT product_id, name, quantity, unit, price, vat_rate FROM {table} WHERE {parent} = ? ORDER BY position"
    );
    let rows = sqlx::query(&sql)
        .bind(&target.id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let mut item = Map::new();
        let product: Option<String> = row.try_get("product_id").map_err(db_err)?;
        item.insert(
            "product_id".into(),
            product.map_or(Value::Null, Value::String),
        );
        for name in ["name", "quantity", "unit", "price", "vat_rate"] {
            let s: String = row.try_get(name).map_err(db_err)?;
            item.insert(name.into(), Value::String(s));
        }
        items.push(Value::Object(item));
    }
    Ok(Some(Value::Array(items)))
}

/// Replaces the line items of an entity.
pub async fn write_items(
    conn: &mut SqliteConnection,
    target: &EntityRef,
    items: &[Value],
) -> Result<(), CrmError> {
    let Some((table, parent)) = items_table(target.kind) else {
        return Ok(());
    };
    sqlx::query(&format!("DELETE FROM {table} WHERE {parent} = ?"))
        .bind(&target.id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let insert = format!(
        "INSERT INTO {table} (id, {parent}, position, product_id, name, quantity, unit, price, vat_rate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    for (position, item) in items.iter().enumerate() {
        let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        sqlx::query(&insert)
            .bind(crate::crm::new_id())
            .bind(&target.id)
            .bind(position)
            .bind(text("product_id"))
            .bind(text("name"))
            .bind(text("quantity"))
            .bind(text("unit"))
            .bind(text("price"))
            .bind(text("vat_rate"))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// One page of a query: rows with id greater than `after` passing the SQL filters.
pub async fn select_page(
    conn: &mut SqliteConnection,
    spec: &'static EntitySpec,
    filters: &[&Filter],
    after: &str,
    limit: usize,
) -> Result<Vec<Map<String, Value>>, CrmError> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(statements(spec.kind).select.as_str());
    qb.push(" WHERE id > ").push_bind(after.to_owned());
    for f in filters {
        // The name was checked against the spec, so it is one of our own
        // static column names; the value is always bound.
        let Some(field) = spec.field(&f.field) else {
            continue;
        };
        qb.push(" AND ");
        if f.op == FilterOp::IsNull {
            qb.push("(")
                .push(field.name)
                .push(" IS NULL OR ")
                .push(field.name)
                .push(" = '')");
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
        qb.push(field.name).push(op);
        match Sql::of(&f.value) {
            Sql::Null => qb.push_bind(Option::<String>::None),
            Sql::Text(s) => qb.push_bind(s),
            Sql::Int(i) => qb.push_bind(i),
        };
    }
    qb.push(" ORDER BY id LIMIT ")
        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    let rows = qb.build().fetch_all(&mut *conn).await.map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut record = row_to_json(spec, row)?;
        let target = EntityRef {
            kind: spec.kind,
            id: record
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        if let Some(items) = load_items(conn, &target).await? {
            record.insert("items".into(), items);
        }
        out.push(record);
    }
    Ok(out)
}

/// Binds the columns of `record` in spec order to a statement.
pub fn bind_columns<'q>(
    mut q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    spec: &EntitySpec,
    record: &Map<String, Value>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for field in spec.columns() {
        q = bind(q, Sql::of(record.get(field.name).unwrap_or(&Value::Null)));
    }
    q
}
