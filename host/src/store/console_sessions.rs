//! The web console's sessions: a hashed id, the token it signed in with,
//! and its CSRF token. Written once on the shared SQL ([`ConsoleSessions`],
//! for every [`Backend`]).

use super::backend::Backend;
use super::db::{Sql, TxEnd};
use super::tokens::TokenOwner;
use crate::crm::{CrmError, timestamp_text};
use chrono::{DateTime, Utc};

/// A live session.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// Whose token it signed in with.
    pub owner: TokenOwner,
    /// The CSRF token its forms carry.
    pub csrf: String,
}

/// The console sessions of a store.
#[async_trait::async_trait]
pub trait ConsoleSessions: Backend {
    /// Stores a session for token `token_id` until `expires_at`.
    async fn create_console_session(
        &self,
        id_hash: &str,
        token_id: &str,
        csrf: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), CrmError> {
        let params = vec![
            Sql::from(id_hash),
            Sql::from(token_id),
            Sql::from(csrf),
            Sql::Text(timestamp_text(now)),
            Sql::Text(timestamp_text(expires_at)),
        ];
        self.write_with(Box::new(move |db| {
            // Sign-ins are rare: sweep the expired ones on the way.
            db.execute(
                "DELETE FROM console_sessions WHERE expires_at <= ?1",
                &[params[3].clone()],
            )?;
            db.execute(
                "INSERT INTO console_sessions (id_hash, token_id, csrf, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &params,
            )?;
            Ok(((), TxEnd::Commit))
        }))
        .await
    }

    /// The session with this id hash, if it has not expired at `now`.
    async fn find_console_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, CrmError> {
        let params = [Sql::from(id_hash), Sql::Text(timestamp_text(now))];
        self.read_with(Box::new(move |db| {
            Ok(db
                .query_opt(
                    "SELECT t.id, t.role, t.user_id, s.csrf
                     FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
                     WHERE s.id_hash = ?1 AND s.expires_at > ?2",
                    &params,
                )?
                .map(|mut r| ConsoleSession {
                    owner: TokenOwner::from_row(&mut r),
                    csrf: r.take(3).unwrap_or_default(),
                }))
        }))
        .await
    }

    /// Ends a session (sign-out); true if there was one.
    async fn delete_console_session(&self, id_hash: &str) -> Result<bool, CrmError> {
        let id = Sql::from(id_hash);
        self.write_with(Box::new(move |db| {
            let done = db.execute("DELETE FROM console_sessions WHERE id_hash = ?1", &[id])?;
            Ok((done > 0, TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> ConsoleSessions for T {}
