//! What a record must hold: custom field values of their defined types, and
//! the fields a deal stage or a lead status requires on entering it (the
//! stage's own list plus the custom fields required there).

use super::db::{Db, Dialect, Sql};
use crate::crm::custom_fields::CustomFieldDef;
use crate::crm::schema::{FieldType, spec};
use crate::crm::{CrmError, EntityKind, Wrong};
use serde_json::{Map, Value};

/// The custom fields defined for `kind`, in their order.
pub(super) fn load_defs(conn: &dyn Db, kind: EntityKind) -> Result<Vec<CustomFieldDef>, CrmError> {
    // The order they were defined in: SQLite's rowid, PostgreSQL's
    // time-ordered ids.
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT code, name, type, options, required_at FROM custom_field_defs
             WHERE entity_kind = ?1 ORDER BY rowid"
        }
        Dialect::Postgres => {
            "SELECT code, name, type, options, required_at FROM custom_field_defs
             WHERE entity_kind = ?1 ORDER BY id"
        }
    };
    let rows = conn.query(sql, &[Sql::from(kind.as_str())])?;
    Ok(rows
        .iter()
        .map(|r| CustomFieldDef {
            name: r.string(0).unwrap_or_default(),
            label: r.string(1).unwrap_or_default(),
            ty: r.string(2).unwrap_or_default(),
            options: r
                .text(3)
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
            required_at: r
                .text(4)
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
        })
        .collect())
}

/// Custom field values must be defined for the kind and have the defined type.
pub(super) fn check_custom_fields(
    conn: &dyn Db,
    kind: EntityKind,
    record: &Map<String, Value>,
) -> Result<(), CrmError> {
    let Some(Value::Object(values)) = record.get("custom_fields") else {
        return Ok(());
    };
    if values.is_empty() {
        return Ok(());
    }
    let defs = load_defs(conn, kind)?;
    for (code, value) in values {
        let name = format!("custom_fields.{code}");
        let Some(def) = defs.iter().find(|d| d.name == *code) else {
            return Err(CrmError::field(kind, &name, Wrong::NoSuchCustomField));
        };
        if !def.accepts(value) {
            return Err(CrmError::field(
                kind,
                &name,
                Wrong::NotOfCustomType {
                    value: crate::crm::wrong::shown(value),
                    ty: def.ty.to_string(),
                },
            ));
        }
    }
    Ok(())
}

/// Where a record of `kind` stands: (what it is called, the column).
fn position_of(kind: EntityKind) -> Option<(&'static str, &'static str)> {
    match kind {
        EntityKind::Deal => Some(("stage", "stage")),
        EntityKind::Lead => Some(("status", "status")),
        _ => None,
    }
}

/// Whether the record has left its stage or status (or is new), so the
/// requirements of where it now stands apply.
pub(super) fn moved(
    kind: EntityKind,
    before: Option<&Map<String, Value>>,
    after: &Map<String, Value>,
) -> bool {
    let Some((_, column)) = position_of(kind) else {
        return false;
    };
    match before {
        None => true,
        Some(before) => {
            before.get(column) != after.get(column)
                || (kind == EntityKind::Deal
                    && before.get("pipeline_id") != after.get("pipeline_id"))
        }
    }
}

/// The deal's stage must exist in its pipeline (a lead's status among the
/// statuses), and the record must have every field required there.
pub(super) fn check_entry(
    conn: &dyn Db,
    kind: EntityKind,
    record: &Map<String, Value>,
) -> Result<(), CrmError> {
    let Some((of, column)) = position_of(kind) else {
        return Ok(());
    };
    let code = record
        .get(column)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let required: Option<String> = if kind == EntityKind::Deal {
        let pipeline = record
            .get("pipeline_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        conn.query_opt(
            "SELECT required_fields FROM stages WHERE pipeline_id = ?1 AND code = ?2",
            &[Sql::from(pipeline), Sql::from(code)],
        )?
        .map(|r| r.string(0).unwrap_or_default())
        .ok_or_else(|| {
            CrmError::field(
                kind,
                "stage",
                Wrong::NotAStage {
                    stage: code.to_owned(),
                    pipeline: pipeline.to_owned(),
                },
            )
        })
        .map(Some)?
    } else {
        conn.query_opt(
            "SELECT required_fields FROM lead_statuses WHERE code = ?1",
            &[Sql::from(code)],
        )?
        .and_then(|r| r.string(0))
    };
    let mut names: Vec<String> = required
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    for def in load_defs(conn, kind)? {
        let name = format!("custom_fields.{}", def.name);
        if def.required_at.iter().any(|s| s == code) && !names.contains(&name) {
            names.push(name);
        }
    }
    let missing: Vec<String> = names
        .into_iter()
        .filter(|name| is_empty(kind, record, name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CrmError::MissingStageFields {
            kind,
            of,
            stage: code.to_owned(),
            missing,
        })
    }
}

/// Whether field `name` (`custom_fields.x` for a custom one) is unfilled.
fn is_empty(kind: EntityKind, record: &Map<String, Value>, name: &str) -> bool {
    let value = match name.strip_prefix("custom_fields.") {
        Some(code) => record.get("custom_fields").and_then(|c| c.get(code)),
        None => record.get(name),
    };
    // A money field left at zero is as unfilled as an empty one.
    let is_money = spec(kind)
        .field(name)
        .is_some_and(|f| f.ty == FieldType::Decimal);
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) if is_money => s
            .parse::<rust_decimal::Decimal>()
            .map_or(true, |d| d.is_zero()),
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}
