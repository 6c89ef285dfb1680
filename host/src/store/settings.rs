//! What the admin shapes the CRM with: custom field definitions per kind,
//! the fields each lead status requires, and the stages of pipelines.
//! Every change is checked against what records already hold, so no
//! definition can strand a stored value.

use super::native::{Native, TxEnd, native_err};
use super::required::load_defs;
use super::sqlite::SqliteStore;
use crate::crm::custom_fields::{CustomFieldDef, MAX_CUSTOM_FIELDS, has_stages};
use crate::crm::schema::spec;
use crate::crm::{Clash, CrmError, EntityKind, new_id};
use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;
use serde_json::{Map, Value};

/// A lead status or a deal stage as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// Its code (`qualification`).
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its place in the order.
    pub sort: i64,
    /// open, won or lost.
    pub semantic: String,
    /// Fields a record must have to enter it.
    pub required_fields: Vec<String>,
}

/// A pipeline with its stages, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pipeline {
    /// Its id.
    pub id: String,
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Whether new deals land in it.
    pub is_default: bool,
    /// Its stages.
    pub stages: Vec<Stage>,
}

impl SqliteStore {
    /// The custom fields defined for `kind`.
    pub async fn custom_field_defs(
        &self,
        kind: EntityKind,
    ) -> Result<Vec<CustomFieldDef>, CrmError> {
        self.read_native(|c| load_defs(c, kind)).await
    }

    /// Replaces the custom fields of `kind` with `defs`. Refused (and
    /// nothing changed) when a definition is wrong, names a stage or status
    /// that does not exist, or would strand values records hold: a field
    /// dropped while records have it, or retyped so their values no longer
    /// fit.
    pub async fn put_custom_field_defs(
        &self,
        kind: EntityKind,
        defs: &[CustomFieldDef],
    ) -> Result<(), CrmError> {
        check_defs(kind, defs)?;
        self.write_native(|c| {
            for (i, def) in defs.iter().enumerate() {
                for code in &def.required_at {
                    if !stage_exists(c, kind, code)? {
                        let what = if kind == EntityKind::Deal { "a deal stage" } else { "a lead status" };
                        return Err(CrmError::Invalid(format!(
                            "fields[{i}].required_at: `{code}` is not {what}"
                        )));
                    }
                }
            }
            check_stored_values(c, kind, defs)?;
            c.prepare_cached("DELETE FROM custom_field_defs WHERE entity_kind = ?1")
                .and_then(|mut delete| delete.execute([kind.as_str()]))
                .map_err(native_err)?;
            let mut insert = c
                .prepare_cached(
                    "INSERT INTO custom_field_defs (id, entity_kind, code, name, type, options, required_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(native_err)?;
            for def in defs {
                insert
                    .execute(params![
                        new_id(),
                        kind.as_str(),
                        def.name,
                        def.label.trim(),
                        def.ty,
                        serde_json::to_string(&def.options).unwrap_or_else(|_| "[]".into()),
                        serde_json::to_string(&def.required_at).unwrap_or_else(|_| "[]".into()),
                    ])
                    .map_err(native_err)?;
            }
            Ok(((), TxEnd::Commit))
        })
        .await
    }

    /// The lead statuses, in order.
    pub async fn lead_statuses(&self) -> Result<Vec<Stage>, CrmError> {
        self.read_native(|c| {
            stages_of(
                c,
                "SELECT code, name, sort, semantic, required_fields FROM lead_statuses ORDER BY sort",
                [],
            )
        })
        .await
    }

    /// Sets the fields a lead must have to enter status `code`.
    pub async fn set_lead_status_fields(
        &self,
        code: &str,
        required: &[String],
    ) -> Result<Stage, CrmError> {
        self.write_native(|c| {
            check_field_names(c, EntityKind::Lead, required)?;
            let done = c
                .prepare_cached("UPDATE lead_statuses SET required_fields = ?1 WHERE code = ?2")
                .and_then(|mut update| {
                    update.execute(params![
                        serde_json::to_string(required).unwrap_or_default(),
                        code
                    ])
                })
                .map_err(native_err)?;
            if done == 0 {
                return Err(CrmError::Invalid(format!(
                    "`{code}` is not a lead status: use one of {}",
                    crate::crm::schema::LEAD_STATUSES.join(", ")
                )));
            }
            let stage = stages_of(
                c,
                "SELECT code, name, sort, semantic, required_fields FROM lead_statuses
                 WHERE code = ?1",
                [code],
            )?
            .pop()
            .ok_or_else(|| CrmError::Storage("a status vanished".into()))?;
            Ok((stage, TxEnd::Commit))
        })
        .await
    }

    /// Every pipeline with its stages.
    pub async fn pipelines(&self) -> Result<Vec<Pipeline>, CrmError> {
        self.read_native(|c| {
            let heads: Vec<(String, String, String, bool)> = c
                .prepare_cached(
                    "SELECT id, code, name, is_default FROM pipelines ORDER BY created_at, id",
                )
                .and_then(|mut select| {
                    select
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                        .collect()
                })
                .map_err(native_err)?;
            heads
                .into_iter()
                .map(|(id, code, name, is_default)| {
                    let stages = stages_of(
                        c,
                        "SELECT code, name, sort, semantic, required_fields FROM stages
                         WHERE pipeline_id = ?1 ORDER BY sort",
                        [&id],
                    )?;
                    Ok(Pipeline {
                        id,
                        code,
                        name,
                        is_default,
                        stages,
                    })
                })
                .collect()
        })
        .await
    }

    /// Adds stage `stage.code` to `pipeline` or changes it.
    pub async fn put_stage(&self, pipeline: &str, stage: &Stage) -> Result<(), CrmError> {
        if !["open", "won", "lost"].contains(&stage.semantic.as_str()) {
            return Err(CrmError::Invalid(format!(
                "semantic: `{}` is not one of open, won, lost",
                stage.semantic
            )));
        }
        let code_ok = !stage.code.is_empty()
            && stage.code.len() <= 64
            && stage
                .code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !code_ok {
            return Err(CrmError::Invalid(format!(
                "`{}`: a stage code is lower-case Latin letters, digits and _",
                stage.code
            )));
        }
        if stage.name.trim().is_empty() {
            return Err(CrmError::Invalid("name: a stage needs a name".into()));
        }
        self.write_native(|c| {
            let known: Option<i64> = c
                .prepare_cached("SELECT 1 FROM pipelines WHERE id = ?1")
                .and_then(|mut select| select.query_row([pipeline], |r| r.get(0)).optional())
                .map_err(native_err)?;
            if known.is_none() {
                return Err(CrmError::Invalid(format!(
                    "no pipeline with id `{pipeline}`"
                )));
            }
            check_field_names(c, EntityKind::Deal, &stage.required_fields)?;
            c.prepare_cached(
                "INSERT INTO stages (id, pipeline_id, code, name, sort, semantic, required_fields)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (pipeline_id, code) DO UPDATE SET
                     name = excluded.name, sort = excluded.sort,
                     semantic = excluded.semantic, required_fields = excluded.required_fields",
            )
            .and_then(|mut upsert| {
                upsert.execute(params![
                    format!("stage-{pipeline}-{}", stage.code),
                    pipeline,
                    stage.code,
                    stage.name.trim(),
                    stage.sort,
                    stage.semantic,
                    serde_json::to_string(&stage.required_fields).unwrap_or_default(),
                ])
            })
            .map_err(native_err)?;
            Ok(((), TxEnd::Commit))
        })
        .await
    }
}

/// Each definition is valid, names are unique, and only kinds with stages
/// have `required_at`.
fn check_defs(kind: EntityKind, defs: &[CustomFieldDef]) -> Result<(), CrmError> {
    if defs.len() > MAX_CUSTOM_FIELDS {
        return Err(CrmError::Invalid(format!(
            "{} custom fields; at most {MAX_CUSTOM_FIELDS} per kind",
            defs.len()
        )));
    }
    for (i, def) in defs.iter().enumerate() {
        let at = format!("fields[{i}]");
        def.check(&at).map_err(CrmError::Invalid)?;
        if defs[..i].iter().any(|d| d.name == def.name) {
            return Err(CrmError::Invalid(format!(
                "{at}.name: `{}` is defined twice",
                def.name
            )));
        }
        if spec(kind).field(&def.name).is_some() {
            return Err(CrmError::Invalid(format!(
                "{at}.name: a {kind} already has a field `{}`",
                def.name
            )));
        }
        if !def.required_at.is_empty() && !has_stages(kind) {
            return Err(CrmError::Invalid(format!(
                "{at}.required_at: a {kind} has no stages or statuses"
            )));
        }
    }
    Ok(())
}

/// Every value records hold in their custom fields still has a definition
/// that accepts it.
fn check_stored_values(
    c: &Native,
    kind: EntityKind,
    defs: &[CustomFieldDef],
) -> Result<(), CrmError> {
    // The table name comes from the static spec, never from input.
    let sql = format!(
        "SELECT id, custom_fields FROM {} WHERE custom_fields <> '{{}}'",
        spec(kind).table
    );
    let mut select = c.prepare(&sql).map_err(native_err)?;
    let mut rows = select.query([]).map_err(native_err)?;
    while let Some(row) = rows.next().map_err(native_err)? {
        let id: String = row.get(0).map_err(native_err)?;
        let text: String = row.get(1).map_err(native_err)?;
        let values: Map<String, Value> = serde_json::from_str(&text).unwrap_or_default();
        for (name, value) in values.iter().filter(|(_, v)| !v.is_null()) {
            match defs.iter().find(|d| d.name == *name) {
                None => {
                    return Err(CrmError::Conflict(Clash::CustomFieldInUse {
                        target: format!("{kind} {id}"),
                        name: name.clone(),
                    }));
                }
                Some(def) if !def.accepts(value) => {
                    return Err(CrmError::Conflict(Clash::CustomFieldHolds {
                        target: format!("{kind} {id}"),
                        value: crate::crm::wrong::shown(value),
                        name: name.clone(),
                        ty: def.ty.clone(),
                    }));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

fn stage_exists(c: &Native, kind: EntityKind, code: &str) -> Result<bool, CrmError> {
    let sql = if kind == EntityKind::Deal {
        "SELECT 1 FROM stages WHERE code = ?1"
    } else {
        "SELECT 1 FROM lead_statuses WHERE code = ?1"
    };
    c.prepare_cached(sql)
        .and_then(|mut select| select.exists([code]))
        .map_err(native_err)
}

/// Each name is a writable field of `kind` or `custom_fields.<defined>`.
fn check_field_names(c: &Native, kind: EntityKind, names: &[String]) -> Result<(), CrmError> {
    let defs = load_defs(c, kind)?;
    for name in names {
        let ok = match name.strip_prefix("custom_fields.") {
            Some(code) => defs.iter().any(|d| d.name == code),
            None => spec(kind).field(name).is_some_and(|f| f.writable),
        };
        if !ok {
            return Err(CrmError::Invalid(format!(
                "required_fields: a {kind} has no field `{name}`"
            )));
        }
    }
    Ok(())
}

fn stages_of(c: &Native, sql: &str, key: impl rusqlite::Params) -> Result<Vec<Stage>, CrmError> {
    c.prepare_cached(sql)
        .and_then(|mut select| {
            select
                .query_map(key, |r| {
                    let required: String = r.get(4)?;
                    Ok(Stage {
                        code: r.get(0)?,
                        name: r.get(1)?,
                        sort: r.get(2)?,
                        semantic: r.get(3)?,
                        required_fields: serde_json::from_str(&required).unwrap_or_default(),
                    })
                })?
                .collect()
        })
        .map_err(native_err)
}
