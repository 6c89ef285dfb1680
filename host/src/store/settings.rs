//! What the admin shapes the CRM with: custom field definitions per kind,
//! the fields each lead status requires, and the stages of pipelines.
//! Every change is checked against what records already hold, so no
//! definition can strand a stored value.

use super::backend::Backend;
use super::db::{Db, Sql, TxEnd};
use super::required::load_defs;
use crate::crm::custom_fields::{CustomFieldDef, MAX_CUSTOM_FIELDS, has_stages};
use crate::crm::schema::spec;
use crate::crm::{Clash, CrmError, EntityKind, new_id};
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

/// What the admin shapes the CRM with.
#[async_trait::async_trait]
pub trait Settings: Backend {
    /// The custom fields defined for `kind`, in their order.
    async fn custom_field_defs(&self, kind: EntityKind) -> Result<Vec<CustomFieldDef>, CrmError> {
        self.read_with(Box::new(move |db| load_defs(db, kind)))
            .await
    }

    /// Replaces the custom fields of `kind` with `defs`: refused whole when
    /// a definition is wrong, names a stage that does not exist, or would
    /// strand a value a record holds.
    async fn put_custom_field_defs(
        &self,
        kind: EntityKind,
        defs: &[CustomFieldDef],
    ) -> Result<(), CrmError> {
        check_defs(kind, defs)?;
        let defs = defs.to_vec();
        self.write_with(Box::new(move |db| {
            for (i, def) in defs.iter().enumerate() {
                for code in &def.required_at {
                    if !stage_exists(db, kind, code)? {
                        let what = if kind == EntityKind::Deal {
                            "a deal stage"
                        } else {
                            "a lead status"
                        };
                        return Err(CrmError::Invalid(format!(
                            "fields[{i}].required_at: `{code}` is not {what}"
                        )));
                    }
                }
            }
            check_stored_values(db, kind, &defs)?;
            db.execute(
                "DELETE FROM custom_field_defs WHERE entity_kind = ?1",
                &[Sql::from(kind.as_str())],
            )?;
            let rows: Vec<Vec<Sql>> = defs
                .iter()
                .map(|def| {
                    vec![
                        Sql::Text(new_id()),
                        Sql::from(kind.as_str()),
                        Sql::from(&def.name),
                        Sql::from(def.label.trim()),
                        Sql::from(&def.ty),
                        Sql::Text(serde_json::to_string(&def.options).unwrap_or_else(|_| "[]".into())),
                        Sql::Text(
                            serde_json::to_string(&def.required_at).unwrap_or_else(|_| "[]".into()),
                        ),
                    ]
                })
                .collect();
            db.execute_each(
                "INSERT INTO custom_field_defs (id, entity_kind, code, name, type, options, required_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &rows,
            )?;
            Ok(((), TxEnd::Commit))
        }))
        .await
    }

    /// The lead statuses in their order, with the fields each requires.
    async fn lead_statuses(&self) -> Result<Vec<Stage>, CrmError> {
        self.read_with(Box::new(|db| {
            stages_of(
                db,
                "SELECT code, name, sort, semantic, required_fields FROM lead_statuses ORDER BY sort",
                &[],
            )
        }))
        .await
    }

    /// Sets the fields lead status `code` requires.
    async fn set_lead_status_fields(
        &self,
        code: &str,
        required: &[String],
    ) -> Result<Stage, CrmError> {
        let (code, required) = (code.to_owned(), required.to_vec());
        self.write_with(Box::new(move |db| {
            check_field_names(db, EntityKind::Lead, &required)?;
            let done = db.execute(
                "UPDATE lead_statuses SET required_fields = ?1 WHERE code = ?2",
                &[
                    Sql::Text(serde_json::to_string(&required).unwrap_or_default()),
                    Sql::from(&code),
                ],
            )?;
            if done == 0 {
                return Err(CrmError::Invalid(format!(
                    "`{code}` is not a lead status: use one of {}",
                    crate::crm::schema::LEAD_STATUSES.join(", ")
                )));
            }
            let stage = stages_of(
                db,
                "SELECT code, name, sort, semantic, required_fields FROM lead_statuses
                 WHERE code = ?1",
                &[Sql::from(&code)],
            )?
            .pop()
            .ok_or_else(|| CrmError::Storage("a status vanished".into()))?;
            Ok((stage, TxEnd::Commit))
        }))
        .await
    }

    /// The pipelines with their stages, in order.
    async fn pipelines(&self) -> Result<Vec<Pipeline>, CrmError> {
        self.read_with(Box::new(|db| {
            let heads = db.query(
                "SELECT id, code, name, is_default FROM pipelines ORDER BY created_at, id",
                &[],
            )?;
            heads
                .into_iter()
                .map(|mut h| {
                    let id = h.take(0).unwrap_or_default();
                    let stages = stages_of(
                        db,
                        "SELECT code, name, sort, semantic, required_fields FROM stages
                         WHERE pipeline_id = ?1 ORDER BY sort",
                        &[Sql::from(&id)],
                    )?;
                    Ok(Pipeline {
                        id,
                        code: h.take(1).unwrap_or_default(),
                        name: h.take(2).unwrap_or_default(),
                        is_default: h.int(3).is_some_and(|d| d != 0),
                        stages,
                    })
                })
                .collect()
        }))
        .await
    }

    /// Adds or changes a stage of `pipeline`.
    async fn put_stage(&self, pipeline: &str, stage: &Stage) -> Result<(), CrmError> {
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
        let (pipeline, stage) = (pipeline.to_owned(), stage.clone());
        self.write_with(Box::new(move |db| {
            if !db.exists(
                "SELECT 1 FROM pipelines WHERE id = ?1",
                &[Sql::from(&pipeline)],
            )? {
                return Err(CrmError::Invalid(format!(
                    "no pipeline with id `{pipeline}`"
                )));
            }
            check_field_names(db, EntityKind::Deal, &stage.required_fields)?;
            db.execute(
                "INSERT INTO stages (id, pipeline_id, code, name, sort, semantic, required_fields)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (pipeline_id, code) DO UPDATE SET
                     name = excluded.name, sort = excluded.sort,
                     semantic = excluded.semantic, required_fields = excluded.required_fields",
                &[
                    Sql::Text(format!("stage-{pipeline}-{}", stage.code)),
                    Sql::from(&pipeline),
                    Sql::from(&stage.code),
                    Sql::from(stage.name.trim()),
                    Sql::Int(stage.sort),
                    Sql::from(&stage.semantic),
                    Sql::Text(serde_json::to_string(&stage.required_fields).unwrap_or_default()),
                ],
            )?;
            Ok(((), TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> Settings for T {}

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
    db: &dyn Db,
    kind: EntityKind,
    defs: &[CustomFieldDef],
) -> Result<(), CrmError> {
    // The table name comes from the static spec, never from input.
    let sql = format!(
        "SELECT id, custom_fields FROM {} WHERE custom_fields <> '{{}}'",
        spec(kind).table
    );
    for mut row in db.query(&sql, &[])? {
        let id = row.take(0).unwrap_or_default();
        let values: Map<String, Value> = row
            .take(1)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
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

fn stage_exists(db: &dyn Db, kind: EntityKind, code: &str) -> Result<bool, CrmError> {
    let sql = if kind == EntityKind::Deal {
        "SELECT 1 FROM stages WHERE code = ?1"
    } else {
        "SELECT 1 FROM lead_statuses WHERE code = ?1"
    };
    Ok(db.exists(sql, &[Sql::from(code)])?)
}

fn check_field_names(db: &dyn Db, kind: EntityKind, names: &[String]) -> Result<(), CrmError> {
    let defs = load_defs(db, kind)?;
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

fn stages_of(db: &dyn Db, sql: &str, key: &[Sql]) -> Result<Vec<Stage>, CrmError> {
    Ok(db
        .query(sql, key)?
        .into_iter()
        .map(|mut r| Stage {
            code: r.take(0).unwrap_or_default(),
            name: r.take(1).unwrap_or_default(),
            sort: r.int(2).unwrap_or_default(),
            semantic: r.take(3).unwrap_or_default(),
            required_fields: r
                .take(4)
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
        })
        .collect())
}
