//! Process files and their versions: a changed file is a new version, and
//! a run keeps the version it started with.

use super::native::native_err;
use super::sqlite::{SqliteStore, db_err};
use crate::crm::{CrmError, timestamp_text};
use serde::Serialize;
use sqlx::Row;

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

impl SqliteStore {
    /// Stores `source` as the process's newest version unless it is the same
    /// as the newest; returns the current version and whether it is new.
    pub async fn save_process(
        &self,
        id: &str,
        file_name: &str,
        source: &str,
        enabled: bool,
    ) -> Result<(i64, bool), CrmError> {
        let digest = blake3::hash(source.as_bytes()).to_hex().to_string();
        let now = timestamp_text(crate::clock::now());
        let mut tx = self.write_tx().await?;
        let latest = sqlx::query(
            "SELECT version, digest FROM process_versions WHERE process_id = ? ORDER BY version DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let (version, new) = match latest {
            Some(row) if row.get::<String, _>("digest") == digest => {
                (row.get::<i64, _>("version"), false)
            }
            Some(row) => (row.get::<i64, _>("version") + 1, true),
            None => (1, true),
        };
        sqlx::query(
            "INSERT INTO processes (id, current_version, enabled, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET current_version = excluded.current_version,
                 enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(version)
        .bind(enabled)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if new {
            sqlx::query(
                "INSERT INTO process_versions (process_id, version, digest, file_name, source, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(version)
            .bind(&digest)
            .bind(file_name)
            .bind(source)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok((version, new))
    }

    /// The processes that start runs, each as (id, current version), in
    /// id order: what the dispatcher needs on every batch of events,
    /// without the files' text.
    pub async fn enabled_process_versions(&self) -> Result<Vec<(String, i64)>, CrmError> {
        self.read_native(|c| {
            c.prepare_cached("SELECT id, current_version FROM processes WHERE enabled ORDER BY id")
                .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                .map_err(native_err)
        })
        .await
    }

    /// The current version of every process.
    pub async fn current_processes(&self) -> Result<Vec<ProcessVersion>, CrmError> {
        let rows = sqlx::query(
            "SELECT p.id, p.current_version, p.enabled, v.file_name, v.source
             FROM processes p JOIN process_versions v
               ON v.process_id = p.id AND v.version = p.current_version
             ORDER BY p.id",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| ProcessVersion {
                process_id: r.get("id"),
                version: r.get("current_version"),
                enabled: r.get("enabled"),
                file_name: r.get("file_name"),
                source: r.get("source"),
            })
            .collect())
    }

    /// The current version of one process.
    pub async fn current_process(&self, id: &str) -> Result<Option<ProcessVersion>, CrmError> {
        let row = sqlx::query(
            "SELECT p.current_version, p.enabled, v.file_name, v.source
             FROM processes p JOIN process_versions v
               ON v.process_id = p.id AND v.version = p.current_version
             WHERE p.id = ?",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        Ok(row.map(|r| ProcessVersion {
            process_id: id.to_owned(),
            version: r.get("current_version"),
            enabled: r.get("enabled"),
            file_name: r.get("file_name"),
            source: r.get("source"),
        }))
    }

    /// One stored version of a process.
    pub async fn process_version(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<ProcessVersion>, CrmError> {
        let row = sqlx::query(
            "SELECT v.file_name, v.source, p.enabled FROM process_versions v
             JOIN processes p ON p.id = v.process_id
             WHERE v.process_id = ? AND v.version = ?",
        )
        .bind(id)
        .bind(version)
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        Ok(row.map(|r| ProcessVersion {
            process_id: id.to_owned(),
            version,
            enabled: r.get("enabled"),
            file_name: r.get("file_name"),
            source: r.get("source"),
        }))
    }

    /// Turns a process on or off; false if there is no such process.
    pub async fn set_process_enabled(&self, id: &str, enabled: bool) -> Result<bool, CrmError> {
        let done = sqlx::query("UPDATE processes SET enabled = ?, updated_at = ? WHERE id = ?")
            .bind(enabled)
            .bind(timestamp_text(crate::clock::now()))
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }
}
