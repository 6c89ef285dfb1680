//! Share links: an unguessable token that opens one entity's file (an
//! invoice's PDF) without an API token, until it expires or is revoked.
//! Only the token's hash is stored.

use super::sqlite::{SqliteStore, db_err};
use crate::crm::{CrmError, EntityRef, new_id, now_text, timestamp_text};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row as _;

/// A share link as its owner sees it (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShareLink {
    /// Its id.
    pub id: String,
    /// Who made it (the token's id).
    pub created_by: Option<String>,
    /// When.
    pub created_at: String,
    /// When it stops working.
    pub expires_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// What a presented token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedEntity {
    /// The entity.
    pub target: EntityRef,
    /// When the link stops working.
    pub expires_at: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

impl SqliteStore {
    /// Stores a link to `target` whose token hashes to `token_hash`.
    pub async fn insert_share(
        &self,
        target: &EntityRef,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        created_by: Option<&str>,
    ) -> Result<ShareLink, CrmError> {
        let link = ShareLink {
            id: new_id(),
            created_by: created_by.map(str::to_owned),
            created_at: now_text(),
            expires_at: timestamp_text(expires_at),
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO share_links (id, token_hash, entity_kind, entity_id, created_by, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&link.id)
        .bind(token_hash)
        .bind(target.kind.as_str())
        .bind(&target.id)
        .bind(&link.created_by)
        .bind(&link.created_at)
        .bind(&link.expires_at)
        .execute(self.writer())
        .await
        .map_err(db_err)?;
        Ok(link)
    }

    /// The links of `target`, oldest first.
    pub async fn shares_of(&self, target: &EntityRef) -> Result<Vec<ShareLink>, CrmError> {
        let rows = sqlx::query(
            "SELECT id, created_by, created_at, expires_at, revoked_at FROM share_links
             WHERE entity_kind = ? AND entity_id = ? ORDER BY id",
        )
        .bind(target.kind.as_str())
        .bind(&target.id)
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| ShareLink {
                id: r.get("id"),
                created_by: r.get("created_by"),
                created_at: r.get("created_at"),
                expires_at: r.get("expires_at"),
                revoked_at: r.get("revoked_at"),
            })
            .collect())
    }

    /// Revokes link `id` of `target`; false if it has no such link or it
    /// was revoked already.
    pub async fn revoke_share(&self, target: &EntityRef, id: &str) -> Result<bool, CrmError> {
        let done = sqlx::query(
            "UPDATE share_links SET revoked_at = ?
             WHERE id = ? AND entity_kind = ? AND entity_id = ? AND revoked_at IS NULL",
        )
        .bind(now_text())
        .bind(id)
        .bind(target.kind.as_str())
        .bind(&target.id)
        .execute(self.writer())
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    /// What the token with this hash opens.
    pub async fn find_share(&self, token_hash: &str) -> Result<Option<SharedEntity>, CrmError> {
        let row = sqlx::query(
            "SELECT entity_kind, entity_id, expires_at, revoked_at FROM share_links WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        Ok(row.and_then(|r| {
            let kind = crate::crm::EntityKind::parse(&r.get::<String, _>("entity_kind"))?;
            Some(SharedEntity {
                target: EntityRef {
                    kind,
                    id: r.get("entity_id"),
                },
                expires_at: r.get("expires_at"),
                revoked: r.get::<Option<String>, _>("revoked_at").is_some(),
            })
        }))
    }
}
