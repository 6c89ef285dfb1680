//! Records shared with users beyond their responsible (Bitrix24's "access
//! to the card"): a manager sees what they are responsible for plus what
//! has been shared with them. Each share and unshare is on the record's
//! timeline.

use super::sqlite::{SqliteStore, db_err};
use crate::crm::{CrmError, EntityRef, new_id, now_text};
use serde::Serialize;
use sqlx::Row as _;

/// A user a record is shared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedWith {
    /// The user.
    pub user_id: String,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: String,
    /// Who shared it (a user id), if a user did.
    pub granted_by: Option<String>,
    /// When.
    pub granted_at: String,
}

impl SqliteStore {
    /// The users `target` is shared with, in the order they got it.
    pub async fn shared_with(&self, target: &EntityRef) -> Result<Vec<SharedWith>, CrmError> {
        let rows = sqlx::query(
            "SELECT a.user_id, u.name, u.role, a.granted_by, a.granted_at
             FROM record_access a JOIN users u ON u.id = a.user_id
             WHERE a.entity_kind = ? AND a.entity_id = ? ORDER BY a.granted_at, a.user_id",
        )
        .bind(target.kind.as_str())
        .bind(&target.id)
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| SharedWith {
                user_id: r.get("user_id"),
                name: r.get("name"),
                role: r.get("role"),
                granted_by: r.get("granted_by"),
                granted_at: r.get("granted_at"),
            })
            .collect())
    }

    /// Shares `target` with `user_id` (again: nothing changes). Refuses an
    /// unknown or inactive user.
    pub async fn share_record(
        &self,
        target: &EntityRef,
        user_id: &str,
        by: Option<&str>,
    ) -> Result<bool, CrmError> {
        let mut tx = self.write_tx().await?;
        let Some(name) = user_name(&mut tx, user_id, true).await? else {
            return Err(CrmError::Invalid(format!(
                "user_id: no active user `{user_id}`"
            )));
        };
        let at = now_text();
        let added = sqlx::query(
            "INSERT OR IGNORE INTO record_access (entity_kind, entity_id, user_id, granted_by, granted_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(target.kind.as_str())
        .bind(&target.id)
        .bind(user_id)
        .bind(by)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            > 0;
        if added {
            note(&mut tx, target, &at, &format!("Shared with {name}"), by).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(added)
    }

    /// Stops sharing `target` with `user_id`; false if it was not shared.
    pub async fn unshare_record(
        &self,
        target: &EntityRef,
        user_id: &str,
        by: Option<&str>,
    ) -> Result<bool, CrmError> {
        let mut tx = self.write_tx().await?;
        let removed = sqlx::query(
            "DELETE FROM record_access WHERE entity_kind = ? AND entity_id = ? AND user_id = ?",
        )
        .bind(target.kind.as_str())
        .bind(&target.id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            > 0;
        if removed {
            let name = user_name(&mut tx, user_id, false).await?;
            let text = format!(
                "No longer shared with {}",
                name.as_deref().unwrap_or(user_id)
            );
            note(&mut tx, target, &now_text(), &text, by).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(removed)
    }
}

/// The name of user `id` (only if active, when `active` is asked).
async fn user_name(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    id: &str,
    active: bool,
) -> Result<Option<String>, CrmError> {
    sqlx::query_scalar("SELECT name FROM users WHERE id = ? AND (? = 0 OR active = 1)")
        .bind(id)
        .bind(active)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)
}

/// A timeline entry of kind `access` on `target`.
async fn note(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    target: &EntityRef,
    at: &str,
    text: &str,
    by: Option<&str>,
) -> Result<(), CrmError> {
    sqlx::query(
        "INSERT INTO timeline (id, entity_kind, entity_id, at, kind, text, data, user_id)
         VALUES (?, ?, ?, ?, 'access', ?, '{}', ?)",
    )
    .bind(new_id())
    .bind(target.kind.as_str())
    .bind(&target.id)
    .bind(at)
    .bind(text)
    .bind(by)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}
