//! Process files and their versions: a changed file is a new version, and
//! a run keeps the version it started with. Written once on the shared SQL
//! ([`Processes`], for every [`Backend`]).

use super::backend::Backend;
use super::db::{Db, Sql};
use super::native::TxEnd;
use crate::crm::{CrmError, timestamp_text};
use serde::Serialize;

/// A stored version of a process file.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessVersion {
    /// The process id.
    pub process_id: String,
    /// Its version, from 1.
    pub version: i64,
    /// Whether new runs start.
    pub enabled: bool,
    /// The file it came from.
    pub file_name: String,
    /// The TOML.
    pub source: String,
}

/// The process files of a store.
#[async_trait::async_trait]
pub trait Processes: Backend {
    /// Stores `source` as the process's newest version unless it is the same
    /// as the newest; returns the current version and whether it is new.
    async fn save_process(
        &self,
        id: &str,
        file_name: &str,
        source: &str,
        enabled: bool,
    ) -> Result<(i64, bool), CrmError> {
        let (id, file_name, source) = (id.to_owned(), file_name.to_owned(), source.to_owned());
        self.write_with(Box::new(move |db| {
            Ok((save(db, &id, &file_name, &source, enabled)?, TxEnd::Commit))
        }))
        .await
    }

    /// The processes that start runs, each as (id, current version), in
    /// id order: what the dispatcher needs on every batch of events,
    /// without the files' text.
    async fn enabled_process_versions(&self) -> Result<Vec<(String, i64)>, CrmError> {
        self.read_with(Box::new(|db| {
            Ok(db
                .query(
                    "SELECT id, current_version FROM processes WHERE enabled ORDER BY id",
                    &[],
                )?
                .iter()
                .map(|r| {
                    (
                        r.string(0).unwrap_or_default(),
                        r.int(1).unwrap_or_default(),
                    )
                })
                .collect())
        }))
        .await
    }

    /// The current version of every process.
    async fn current_processes(&self) -> Result<Vec<ProcessVersion>, CrmError> {
        self.read_with(Box::new(|db| current(db, None))).await
    }

    /// The current version of one process.
    async fn current_process(&self, id: &str) -> Result<Option<ProcessVersion>, CrmError> {
        let id = id.to_owned();
        self.read_with(Box::new(move |db| {
            Ok(current(db, Some(&id))?.into_iter().next())
        }))
        .await
    }

    /// One stored version of a process.
    async fn process_version(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<ProcessVersion>, CrmError> {
        let id = id.to_owned();
        self.read_with(Box::new(move |db| {
            Ok(db
                .query_opt(
                    "SELECT v.file_name, v.source, p.enabled FROM process_versions v
                     JOIN processes p ON p.id = v.process_id
                     WHERE v.process_id = ?1 AND v.version = ?2",
                    &[Sql::from(&id), Sql::Int(version)],
                )?
                .map(|r| ProcessVersion {
                    process_id: id.clone(),
                    version,
                    enabled: r.int(2) == Some(1),
                    file_name: r.string(0).unwrap_or_default(),
                    source: r.string(1).unwrap_or_default(),
                }))
        }))
        .await
    }

    /// Turns a process on or off; false if there is no such process.
    async fn set_process_enabled(&self, id: &str, enabled: bool) -> Result<bool, CrmError> {
        let id = id.to_owned();
        self.write_with(Box::new(move |db| {
            let done = db.execute(
                "UPDATE processes SET enabled = ?1, updated_at = ?2 WHERE id = ?3",
                &[
                    Sql::Int(i64::from(enabled)),
                    Sql::Text(timestamp_text(crate::clock::now())),
                    Sql::from(&id),
                ],
            )?;
            Ok((done == 1, TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> Processes for T {}

fn save(
    db: &dyn Db,
    id: &str,
    file_name: &str,
    source: &str,
    enabled: bool,
) -> Result<(i64, bool), CrmError> {
    let digest = blake3::hash(source.as_bytes()).to_hex().to_string();
    let now = timestamp_text(crate::clock::now());
    let latest = db.query_opt(
        "SELECT version, digest FROM process_versions WHERE process_id = ?1
         ORDER BY version DESC LIMIT 1",
        &[Sql::from(id)],
    )?;
    let (version, new) = match latest {
        Some(row) if row.text(1) == Some(digest.as_str()) => (row.int(0).unwrap_or(1), false),
        Some(row) => (row.int(0).unwrap_or(0) + 1, true),
        None => (1, true),
    };
    db.execute(
        "INSERT INTO processes (id, current_version, enabled, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET current_version = excluded.current_version,
             enabled = excluded.enabled, updated_at = excluded.updated_at",
        &[
            Sql::from(id),
            Sql::Int(version),
            Sql::Int(i64::from(enabled)),
            Sql::Text(now.clone()),
        ],
    )?;
    if new {
        db.execute(
            "INSERT INTO process_versions (process_id, version, digest, file_name, source, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                Sql::from(id),
                Sql::Int(version),
                Sql::Text(digest),
                Sql::from(file_name),
                Sql::from(source),
                Sql::Text(now),
            ],
        )?;
    }
    Ok((version, new))
}

/// The current version of every process, or of `only`.
fn current(db: &dyn Db, only: Option<&str>) -> Result<Vec<ProcessVersion>, CrmError> {
    const SELECT: &str = "SELECT p.id, p.current_version, p.enabled, v.file_name, v.source
         FROM processes p JOIN process_versions v
           ON v.process_id = p.id AND v.version = p.current_version";
    let rows = match only {
        Some(id) => db.query(&format!("{SELECT} WHERE p.id = ?1"), &[Sql::from(id)])?,
        None => db.query(&format!("{SELECT} ORDER BY p.id"), &[])?,
    };
    Ok(rows
        .into_iter()
        .map(|mut r| ProcessVersion {
            process_id: r.take(0).unwrap_or_default(),
            version: r.int(1).unwrap_or_default(),
            enabled: r.int(2) == Some(1),
            file_name: r.take(3).unwrap_or_default(),
            source: r.take(4).unwrap_or_default(),
        })
        .collect())
}
