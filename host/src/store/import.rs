//! Importing contacts or companies in one transaction: each row checked as
//! a create would be, the duplicate policy applied against the base and
//! the rows before it, and a report per row. With any bad row nothing is
//! kept unless the caller asked for a partial import (each row then stands
//! or falls alone, under a savepoint of its own).

use super::apply::LogRows;
use super::backend::Backend;
use super::conversion::fill_blanks;
use super::db::{Db, TxEnd};
use super::duplicates::{candidates, lock_checks};
use super::rows;
use super::sqlite::apply_changes;
use crate::crm::changes::Change;
use crate::crm::import::ImportRow;
use crate::crm::validate::normalize_patch;
use crate::crm::{CrmError, EntityKind, EntityRef, new_id};
use serde::{Deserialize, Serialize};

/// What to do with a row that looks like a stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDuplicate {
    /// The row is an error.
    Refuse,
    /// The row is left out.
    Skip,
    /// The row fills the stored record's empty fields and unites its lists.
    Merge,
    /// The row is created regardless.
    Create,
}

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowReport {
    /// The row's line in the file.
    pub line: usize,
    /// created, skipped, merged or error.
    pub status: &'static str,
    /// The record created or merged into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The stored records the row duplicates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicate_of: Vec<String>,
    /// The field that is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why the row is an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// Whether anything was kept.
    pub committed: bool,
    /// Rows created.
    pub created: usize,
    /// Rows skipped as duplicates.
    pub skipped: usize,
    /// Rows merged into stored records.
    pub merged: usize,
    /// Rows in error.
    pub errors: usize,
    /// Each row, in file order.
    pub rows: Vec<RowReport>,
}

/// Imports of contacts and companies.
#[async_trait::async_trait]
pub trait Import: Backend {
    /// Imports `rows` of `kind`.
    async fn import(
        &self,
        kind: EntityKind,
        rows: &[ImportRow],
        policy: OnDuplicate,
        partial: bool,
    ) -> Result<ImportReport, CrmError> {
        let rows = rows.to_vec();
        self.write_with(Box::new(move |db| {
            lock_checks(db, kind)?;
            let mut log = LogRows::default();
            let mut reports = Vec::with_capacity(rows.len());
            for row in &rows {
                db.execute("SAVEPOINT import_row", &[])?;
                match import_row(db, kind, row, policy) {
                    Ok((report, row_log)) => {
                        db.execute("RELEASE import_row", &[])?;
                        log.append(row_log);
                        reports.push(report);
                    }
                    Err(report) => {
                        db.execute("ROLLBACK TO import_row", &[])?;
                        db.execute("RELEASE import_row", &[])?;
                        reports.push(report);
                    }
                }
            }
            let count = |s: &str| reports.iter().filter(|r| r.status == s).count();
            let errors = count("error");
            let keep = errors == 0 || partial;
            if keep {
                log.write(db)?;
            }
            let report = ImportReport {
                committed: keep,
                created: count("created"),
                skipped: count("skipped"),
                merged: count("merged"),
                errors,
                rows: reports,
            };
            Ok((report, if keep { TxEnd::Commit } else { TxEnd::Rollback }))
        }))
        .await
    }
}

impl<T: Backend> Import for T {}

/// One row: created, skipped or merged (with what it logged), or its error.
fn import_row(
    c: &dyn Db,
    kind: EntityKind,
    row: &ImportRow,
    policy: OnDuplicate,
) -> Result<(RowReport, LogRows), RowReport> {
    let report = |status, id, duplicate_of| RowReport {
        line: row.line,
        status,
        id,
        duplicate_of,
        field: None,
        reason: None,
    };
    let error = |field: Option<String>, reason: String| RowReport {
        line: row.line,
        status: "error",
        id: None,
        duplicate_of: Vec::new(),
        field,
        reason: Some(reason),
    };
    let crm_error = |e: CrmError| match e {
        CrmError::InvalidField { field, reason } => error(Some(field), reason.to_string()),
        other => error(None, other.to_string()),
    };
    let fields = row
        .fields
        .clone()
        .map_err(|(field, reason)| error(field, reason))?;
    let normal = normalize_patch(kind, &fields).map_err(crm_error)?;
    let found = candidates(c, kind, &normal, None).map_err(crm_error)?;
    let ids: Vec<String> = found.iter().map(|f| f.id.clone()).collect();
    let (change, done) = match (found.first(), policy) {
        (None, _) | (Some(_), OnDuplicate::Create) => {
            let id = new_id();
            let create = Change::Create {
                kind,
                id: id.clone(),
                fields,
            };
            (Some(create), report("created", Some(id), ids))
        }
        (Some(_), OnDuplicate::Refuse) => {
            let names: Vec<String> = found
                .iter()
                .map(|f| format!("{} `{}` (same {})", f.id, f.name, f.matched.join(", ")))
                .collect();
            let mut e = error(None, format!("duplicate of {}", names.join("; ")));
            e.duplicate_of = ids;
            return Err(e);
        }
        (Some(_), OnDuplicate::Skip) => (None, report("skipped", None, ids)),
        (Some(first), OnDuplicate::Merge) => {
            let target = EntityRef {
                kind,
                id: first.id.clone(),
            };
            let stored = rows::load(c, &target)
                .map_err(crm_error)?
                .ok_or_else(|| error(None, format!("{target} vanished")))?;
            let patch = fill_blanks(kind, &stored, &normal);
            let change = (!patch.is_empty()).then_some(Change::Update {
                target,
                fields: patch,
            });
            (change, report("merged", Some(first.id.clone()), ids))
        }
    };
    let Some(change) = change else {
        return Ok((done, LogRows::default()));
    };
    let (_, log) = apply_changes(c, std::slice::from_ref(&change)).map_err(crm_error)?;
    Ok((done, log))
}
