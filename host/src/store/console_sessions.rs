//! The web console's sessions: a hashed id, the token it signed in with,
//! and its CSRF token.

use super::sqlite::{SqliteStore, db_err};
use super::tokens::TokenOwner;
use crate::crm::{CrmError, timestamp_text};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A live session.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// Whose token it signed in with.
    pub owner: TokenOwner,
    /// The CSRF token its forms carry.
    pub csrf: String,
}

impl SqliteStore {
    /// Stores a session for token `token_id` until `expires_at`.
    pub async fn create_console_session(
        &self,
        id_hash: &str,
        token_id: &str,
        csrf: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), CrmError> {
        let mut tx = self.write_tx().await?;
        // Sign-ins are rare: sweep the expired ones on the way.
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= ?")
            .bind(timestamp_text(now))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, token_id, csrf, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(token_id)
        .bind(csrf)
        .bind(timestamp_text(now))
        .bind(timestamp_text(expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    /// The session with this id hash, if it has not expired at `now`.
    pub async fn find_console_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, CrmError> {
        let row = sqlx::query(
            "SELECT t.id, t.role, t.user_id, s.csrf
             FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
             WHERE s.id_hash = ? AND s.expires_at > ?",
        )
        .bind(id_hash)
        .bind(timestamp_text(now))
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        Ok(row.map(|r| ConsoleSession {
            owner: TokenOwner {
                id: r.get("id"),
                role: r.get("role"),
                user_id: r.get("user_id"),
            },
            csrf: r.get("csrf"),
        }))
    }

    /// Ends a session (sign-out); true if there was one.
    pub async fn delete_console_session(&self, id_hash: &str) -> Result<bool, CrmError> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
}
