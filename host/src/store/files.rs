//! Files stored with entities (`entity_files`): written by
//! [`Change::AttachFile`](crate::crm::changes::Change::AttachFile) in a
//! change set, read here.

use super::sqlite::{SqliteStore, db_err};
use crate::crm::changes::StoredFile;
use crate::crm::{CrmError, EntityRef};
use serde::Serialize;
use sqlx::Row;

/// A stored file without its bytes, as listings show it.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    /// Its name, unique per entity.
    pub name: String,
    /// Its MIME type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// When it was stored (or last replaced).
    pub created_at: String,
}

impl SqliteStore {
    /// The file `name` stored with `target`, if there is one.
    pub async fn load_file(
        &self,
        target: &EntityRef,
        name: &str,
    ) -> Result<Option<StoredFile>, CrmError> {
        let row = sqlx::query(
            "SELECT name, content_type, content FROM entity_files
             WHERE entity_kind = ? AND entity_id = ? AND name = ?",
        )
        .bind(target.kind.as_str())
        .bind(&target.id)
        .bind(name)
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        Ok(row.map(|r| StoredFile {
            name: r.get("name"),
            content_type: r.get("content_type"),
            content: r.get("content"),
        }))
    }

    /// Every file stored with `target`, newest first.
    pub async fn files(&self, target: &EntityRef) -> Result<Vec<FileInfo>, CrmError> {
        let rows = sqlx::query(
            "SELECT name, content_type, size, created_at FROM entity_files
             WHERE entity_kind = ? AND entity_id = ? ORDER BY created_at DESC, name",
        )
        .bind(target.kind.as_str())
        .bind(&target.id)
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| FileInfo {
                name: r.get("name"),
                content_type: r.get("content_type"),
                size: r.get("size"),
                created_at: r.get("created_at"),
            })
            .collect())
    }
}
