//! API bearer tokens. Only a token's BLAKE3 hash is stored, so a stolen
//! database does not hand out working tokens.

use super::sqlite::{SqliteStore, db_err};
use crate::crm::{CrmError, new_id, now_text};
use sqlx::Row;

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// The token's id (not the token).
    pub id: String,
    /// manager, head_of_sales, accountant or admin.
    pub role: String,
    /// The CRM user, if the token is a user's.
    pub user_id: Option<String>,
}

impl SqliteStore {
    /// Stores a token's hash; returns the token's id.
    pub async fn insert_token(
        &self,
        token_hash: &str,
        role: &str,
        user_id: Option<&str>,
        label: &str,
    ) -> Result<String, CrmError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, user_id, role, label, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(token_hash)
        .bind(user_id)
        .bind(role)
        .bind(label)
        .bind(now_text())
        .execute(self.writer())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_check_violation() => CrmError::Invalid(format!(
                "unknown role `{role}`: use manager, head_of_sales, accountant or admin"
            )),
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                CrmError::Invalid(format!("no user `{}`", user_id.unwrap_or_default()))
            }
            _ => db_err(e),
        })?;
        Ok(id)
    }

    /// The owner of the token with this hash.
    pub async fn find_token(&self, token_hash: &str) -> Result<Option<TokenOwner>, CrmError> {
        let row = sqlx::query("SELECT id, role, user_id FROM api_tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(self.reader())
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| TokenOwner {
            id: r.get("id"),
            role: r.get("role"),
            user_id: r.get("user_id"),
        }))
    }

    /// How many tokens exist (none: the first start makes the admin's).
    pub async fn count_tokens(&self) -> Result<i64, CrmError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
            .fetch_one(self.reader())
            .await
            .map_err(db_err)
    }
}
