//! API bearer tokens. Only a token's BLAKE3 hash is stored, so a stolen
//! database does not hand out working tokens. Written once on the shared
//! SQL ([`Tokens`], for every [`Backend`]).

use super::backend::Backend;
use super::db::{Failure, Row, Sql, TxEnd};
use crate::crm::{CrmError, new_id, now_text};

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

impl TokenOwner {
    /// From a row starting with the token's id, role and user id.
    pub(super) fn from_row(r: &mut Row) -> TokenOwner {
        TokenOwner {
            id: r.take(0).unwrap_or_default(),
            role: r.take(1).unwrap_or_default(),
            user_id: r.take(2),
        }
    }
}

/// The API tokens of a store.
#[async_trait::async_trait]
pub trait Tokens: Backend {
    /// Stores a token's hash; returns the token's id.
    async fn insert_token(
        &self,
        token_hash: &str,
        role: &str,
        user_id: Option<&str>,
        label: &str,
    ) -> Result<String, CrmError> {
        let id = new_id();
        let params = vec![
            Sql::from(&id),
            Sql::from(token_hash),
            Sql::from(user_id),
            Sql::from(role),
            Sql::from(label),
            Sql::Text(now_text()),
        ];
        let (role, user) = (role.to_owned(), user_id.unwrap_or_default().to_owned());
        self.write_with(Box::new(move |db| {
            db.execute(
                "INSERT INTO api_tokens (id, token_hash, user_id, role, label, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &params,
            )
            .map_err(|e| match e.failure {
                Failure::Check => CrmError::Invalid(format!(
                    "unknown role `{role}`: use manager, head_of_sales, accountant or admin"
                )),
                Failure::ForeignKey => CrmError::Invalid(format!("no user `{user}`")),
                _ => e.into(),
            })?;
            Ok((id, TxEnd::Commit))
        }))
        .await
    }

    /// The owner of the token with this hash.
    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenOwner>, CrmError> {
        let hash = Sql::from(token_hash);
        self.read_with(Box::new(move |db| {
            Ok(db
                .query_opt(
                    "SELECT id, role, user_id FROM api_tokens WHERE token_hash = ?1",
                    &[hash],
                )?
                .map(|mut r| TokenOwner::from_row(&mut r)))
        }))
        .await
    }

    /// How many tokens exist (none: the first start makes the admin's).
    async fn count_tokens(&self) -> Result<i64, CrmError> {
        self.read_with(Box::new(|db| {
            Ok(db
                .query_opt("SELECT COUNT(*) FROM api_tokens", &[])?
                .and_then(|r| r.int(0))
                .unwrap_or_default())
        }))
        .await
    }
}

impl<T: Backend> Tokens for T {}
