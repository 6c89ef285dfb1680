//! Files stored with entities (`entity_files`): written by
//! [`Change::AttachFile`](crate::crm::changes::Change::AttachFile) in a
//! change set, read here.

use super::backend::Backend;
use super::db::Sql;
use crate::crm::changes::StoredFile;
use crate::crm::{CrmError, EntityRef};
use serde::Serialize;

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

/// Files stored with entities.
#[async_trait::async_trait]
pub trait Files: Backend {
    /// The file `name` of `target`, with its bytes.
    async fn load_file(
        &self,
        target: &EntityRef,
        name: &str,
    ) -> Result<Option<StoredFile>, CrmError> {
        let params = vec![
            Sql::from(target.kind.as_str()),
            Sql::from(&target.id),
            Sql::from(name),
        ];
        self.read_with(Box::new(move |db| {
            Ok(db
                .query_opt(
                    "SELECT name, content_type, content FROM entity_files
                     WHERE entity_kind = ?1 AND entity_id = ?2 AND name = ?3",
                    &params,
                )?
                .map(|mut r| StoredFile {
                    name: r.take(0).unwrap_or_default(),
                    content_type: r.take(1).unwrap_or_default(),
                    content: r.blob(2).unwrap_or_default(),
                }))
        }))
        .await
    }

    /// The files of `target` (without their bytes), newest first.
    async fn files(&self, target: &EntityRef) -> Result<Vec<FileInfo>, CrmError> {
        let params = vec![Sql::from(target.kind.as_str()), Sql::from(&target.id)];
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(
                    "SELECT name, content_type, size, created_at FROM entity_files
                     WHERE entity_kind = ?1 AND entity_id = ?2 ORDER BY created_at DESC, name",
                    &params,
                )?
                .into_iter()
                .map(|mut r| FileInfo {
                    name: r.take(0).unwrap_or_default(),
                    content_type: r.take(1).unwrap_or_default(),
                    size: r.int(2).unwrap_or_default(),
                    created_at: r.take(3).unwrap_or_default(),
                })
                .collect())
        }))
        .await
    }
}

impl<T: Backend> Files for T {}
