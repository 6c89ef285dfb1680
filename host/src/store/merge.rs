//! Merging two contacts or two companies (seed 001's clean-up): one record
//! survives with the fields chosen from either, phones and e-mails united;
//! every deal, invoice, contact, task, notification, run, approval, file and
//! timeline entry of the other is re-pointed to it; the other is deleted.
//! All in one transaction.

use super::apply::LogRows;
use super::backend::Backend;
use super::conversion::fill_blanks;
use super::db::{Db, Sql, TxEnd};
use super::rows;
use super::sqlite::apply_changes;
use crate::crm::changes::Change;
use crate::crm::schema::{FieldType, spec};
use crate::crm::{CrmError, EntityKind, EntityRef, now_text};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Which record a field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The record merged away.
    From,
    /// The record that survives.
    Into,
}

/// `POST /api/v1/{contacts|companies}/{id}/merge`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The record merged into this one (and deleted).
    pub from: String,
    /// Per field (`phone`, `custom_fields.x`), whose value to keep; a field
    /// not named keeps the survivor's value, or takes the other's when the
    /// survivor's is empty. Lists (phones, e-mails) are always united.
    #[serde(default)]
    pub fields: BTreeMap<String, Side>,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Merged {
    /// The survivor as it now is.
    pub record: Map<String, Value>,
    /// How many rows of each table now point at the survivor instead.
    pub repointed: BTreeMap<&'static str, usize>,
}

/// Columns that refer to a contact or a company: (table, column).
fn references(kind: EntityKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        EntityKind::Contact => &[
            ("deals", "contact_id"),
            ("invoices", "buyer_contact_id"),
            ("leads", "converted_contact_id"),
        ],
        _ => &[
            ("contacts", "company_id"),
            ("deals", "company_id"),
            ("invoices", "buyer_company_id"),
            ("payment_requests", "contractor_company_id"),
            ("leads", "converted_company_id"),
        ],
    }
}

/// Tables that point at any entity by (entity_kind, entity_id).
const LINKED: &[&str] = &["tasks", "notifications", "timeline", "runs", "approvals"];

/// Merging duplicate contacts and companies.
#[async_trait::async_trait]
pub trait Merge: Backend {
    /// Merges record `req.from` of `kind` into record `into`.
    async fn merge_records(
        &self,
        kind: EntityKind,
        into: &str,
        req: &MergeRequest,
    ) -> Result<Merged, CrmError> {
        if !matches!(kind, EntityKind::Contact | EntityKind::Company) {
            return Err(CrmError::Invalid(format!(
                "only contacts and companies merge, not a {kind}"
            )));
        }
        if req.from == into {
            return Err(CrmError::Invalid(
                "`from` is the record itself; name another".into(),
            ));
        }
        let (into, req) = (into.to_owned(), req.clone());
        self.write_with(Box::new(move |db| {
            merge(db, kind, &into, &req).map(|m| (m, TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> Merge for T {}

fn merge(
    c: &dyn Db,
    kind: EntityKind,
    into_id: &str,
    req: &MergeRequest,
) -> Result<Merged, CrmError> {
    let into = EntityRef {
        kind,
        id: into_id.to_owned(),
    };
    let from = EntityRef {
        kind,
        id: req.from.clone(),
    };
    let survivor = rows::load(c, &into)?.ok_or_else(|| CrmError::NotFound(into.clone()))?;
    let merged = rows::load(c, &from)?
        .ok_or_else(|| CrmError::Invalid(format!("from: no {kind} with id `{}`", req.from)))?;
    let spec = spec(kind);
    for name in req.fields.keys() {
        let known = match name.strip_prefix("custom_fields.") {
            Some(code) => [&survivor, &merged]
                .iter()
                .any(|r| r.get("custom_fields").and_then(|c| c.get(code)).is_some()),
            None => spec
                .field(name)
                .is_some_and(|f| f.writable && f.ty != FieldType::Items),
        };
        if !known {
            return Err(CrmError::Invalid(format!(
                "fields.{name}: a {kind} has no field `{name}` to choose"
            )));
        }
    }

    // The survivor's fields: chosen ones from `from`, empty ones filled, lists united.
    let mut patch = Map::new();
    let mut from_fields = Map::new();
    for field in spec.columns().filter(|f| f.writable) {
        if let Some(v) = merged.get(field.name).filter(|v| !v.is_null()) {
            from_fields.insert(field.name.to_owned(), v.clone());
        }
    }
    if let Some(custom) = merged.get("custom_fields") {
        from_fields.insert("custom_fields".into(), custom.clone());
    }
    patch.extend(fill_blanks(kind, &survivor, &from_fields));
    let mut chosen_custom = Map::new();
    for (name, side) in &req.fields {
        if *side != Side::From {
            continue;
        }
        match name.strip_prefix("custom_fields.") {
            Some(code) => {
                let v = merged
                    .get("custom_fields")
                    .and_then(|c| c.get(code))
                    .cloned()
                    .unwrap_or(Value::Null);
                chosen_custom.insert(code.to_owned(), v);
            }
            None if spec.field(name).is_some_and(|f| f.ty.is_list()) => {}
            None => {
                patch.insert(
                    name.clone(),
                    merged.get(name).cloned().unwrap_or(Value::Null),
                );
            }
        }
    }
    if !chosen_custom.is_empty() {
        let custom = patch
            .entry("custom_fields")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = custom {
            m.extend(chosen_custom);
        }
    }
    // A field chosen "into" keeps the survivor's value even if empty.
    for (name, side) in &req.fields {
        if *side == Side::Into && !name.starts_with("custom_fields.") {
            if spec.field(name).is_some_and(|f| f.ty.is_list()) {
                continue;
            }
            patch.remove(name);
        }
    }

    let repointed = repoint(c, kind, &from.id, &into.id)?;
    let mut changes = Vec::new();
    if !patch.is_empty() {
        changes.push(Change::Update {
            target: into.clone(),
            fields: patch,
        });
    }
    changes.push(Change::Delete {
        target: from.clone(),
    });
    let (_, mut log): (_, LogRows) = apply_changes(c, &changes)?;
    let choices = json!(req.fields);
    log.timeline(
        &into,
        "merged",
        &format!("{kind} {} merged into this record", from.id),
        json!({ "from": from.id, "fields": choices, "repointed": repointed }),
    )?;
    log.timeline(
        &from,
        "merged",
        &format!("merged into {kind} {}", into.id),
        json!({ "into": into.id }),
    )?;
    log.write(c)?;
    let record = rows::load(c, &into)?.ok_or_else(|| CrmError::NotFound(into.clone()))?;
    Ok(Merged { record, repointed })
}

/// Points everything that refers to `from` at `into`; counts per table.
fn repoint(
    c: &dyn Db,
    kind: EntityKind,
    from: &str,
    into: &str,
) -> Result<BTreeMap<&'static str, usize>, CrmError> {
    let mut counts = BTreeMap::new();
    let now = now_text();
    // Table and column names come from the static lists above, never from input.
    for (table, column) in references(kind) {
        let sql = format!(
            "UPDATE {table} SET {column} = ?1, version = version + 1, updated_at = ?3 WHERE {column} = ?2"
        );
        let n = c.execute(&sql, &[Sql::from(into), Sql::from(from), Sql::from(&now)])?;
        *counts.entry(*table).or_insert(0) += n as usize;
    }
    let (kind_, from_, into_) = (Sql::from(kind.as_str()), Sql::from(from), Sql::from(into));
    // A file name the survivor already has is kept apart by the old id.
    c.execute(
        "UPDATE entity_files SET name = ?2 || '-' || name
         WHERE entity_kind = ?1 AND entity_id = ?2
           AND name IN (SELECT name FROM entity_files WHERE entity_kind = ?1 AND entity_id = ?3)",
        &[kind_.clone(), from_.clone(), into_.clone()],
    )?;
    for table in LINKED.iter().chain(std::iter::once(&"entity_files")) {
        let sql =
            format!("UPDATE {table} SET entity_id = ?3 WHERE entity_kind = ?1 AND entity_id = ?2");
        let n = c.execute(&sql, &[kind_.clone(), from_.clone(), into_.clone()])?;
        if n > 0 {
            *counts.entry(*table).or_insert(0) += n as usize;
        }
    }
    counts.retain(|_, n| *n > 0);
    Ok(counts)
}
