//! Share links: an unguessable token that opens one entity's file (an
//! invoice's PDF) without an API token, until it expires or is revoked.
//! Only the token's hash is stored.

use super::backend::Backend;
use super::db::{Sql, TxEnd};
use crate::crm::{CrmError, EntityRef, new_id, now_text, timestamp_text};
use chrono::{DateTime, Utc};
use serde::Serialize;

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

/// Share links of a store.
#[async_trait::async_trait]
pub trait Shares: Backend {
    /// Stores a link to `target` whose token hashes to `token_hash`.
    async fn insert_share(
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
        let params = vec![
            Sql::from(&link.id),
            Sql::from(token_hash),
            Sql::from(target.kind.as_str()),
            Sql::from(&target.id),
            Sql::from(&link.created_by),
            Sql::from(&link.created_at),
            Sql::from(&link.expires_at),
        ];
        self.write_with(Box::new(move |db| {
            db.execute(
                "INSERT INTO share_links (id, token_hash, entity_kind, entity_id, created_by, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &params,
            )?;
            Ok(((), TxEnd::Commit))
        }))
        .await?;
        Ok(link)
    }

    /// The links of `target`, oldest first.
    async fn shares_of(&self, target: &EntityRef) -> Result<Vec<ShareLink>, CrmError> {
        let params = vec![Sql::from(target.kind.as_str()), Sql::from(&target.id)];
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(
                    "SELECT id, created_by, created_at, expires_at, revoked_at FROM share_links
                     WHERE entity_kind = ?1 AND entity_id = ?2 ORDER BY id",
                    &params,
                )?
                .into_iter()
                .map(|mut r| ShareLink {
                    id: r.take(0).unwrap_or_default(),
                    created_by: r.take(1),
                    created_at: r.take(2).unwrap_or_default(),
                    expires_at: r.take(3).unwrap_or_default(),
                    revoked_at: r.take(4),
                })
                .collect())
        }))
        .await
    }

    /// Revokes link `id` of `target`; false if it has no such link or it
    /// was revoked already.
    async fn revoke_share(&self, target: &EntityRef, id: &str) -> Result<bool, CrmError> {
        let params = vec![
            Sql::Text(now_text()),
            Sql::from(id),
            Sql::from(target.kind.as_str()),
            Sql::from(&target.id),
        ];
        self.write_with(Box::new(move |db| {
            let revoked = db.execute(
                "UPDATE share_links SET revoked_at = ?1
                 WHERE id = ?2 AND entity_kind = ?3 AND entity_id = ?4 AND revoked_at IS NULL",
                &params,
            )?;
            Ok((revoked == 1, TxEnd::Commit))
        }))
        .await
    }

    /// What the token with this hash opens.
    async fn find_share(&self, token_hash: &str) -> Result<Option<SharedEntity>, CrmError> {
        let hash = Sql::from(token_hash);
        self.read_with(Box::new(move |db| {
            let row = db.query_opt(
                "SELECT entity_kind, entity_id, expires_at, revoked_at FROM share_links WHERE token_hash = ?1",
                &[hash],
            )?;
            Ok(row.and_then(|mut r| {
                let kind = crate::crm::EntityKind::parse(r.text(0)?)?;
                Some(SharedEntity {
                    target: EntityRef {
                        kind,
                        id: r.take(1).unwrap_or_default(),
                    },
                    expires_at: r.take(2).unwrap_or_default(),
                    revoked: r.text(3).is_some(),
                })
            }))
        }))
        .await
    }
}

impl<T: Backend> Shares for T {}
