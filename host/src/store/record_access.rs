//! Records shared with users beyond their responsible (Bitrix24's "access
//! to the card"): a manager sees what they are responsible for plus what
//! has been shared with them. Each share and unshare is on the record's
//! timeline.

use super::backend::Backend;
use super::db::{Db, Sql, TxEnd};
use crate::crm::{CrmError, EntityRef, new_id, now_text};
use serde::Serialize;

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

/// Records shared with users of a store.
#[async_trait::async_trait]
pub trait RecordAccess: Backend {
    /// Who `target` is shared with, in the order it was shared.
    async fn shared_with(&self, target: &EntityRef) -> Result<Vec<SharedWith>, CrmError> {
        let params = vec![Sql::from(target.kind.as_str()), Sql::from(&target.id)];
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(
                    "SELECT a.user_id, u.name, u.role, a.granted_by, a.granted_at
                     FROM record_access a JOIN users u ON u.id = a.user_id
                     WHERE a.entity_kind = ?1 AND a.entity_id = ?2 ORDER BY a.granted_at, a.user_id",
                    &params,
                )?
                .into_iter()
                .map(|mut r| SharedWith {
                    user_id: r.take(0).unwrap_or_default(),
                    name: r.take(1).unwrap_or_default(),
                    role: r.take(2).unwrap_or_default(),
                    granted_by: r.take(3),
                    granted_at: r.take(4).unwrap_or_default(),
                })
                .collect())
        }))
        .await
    }

    /// Shares `target` with active user `user_id` (`by`: who shared it),
    /// noted on its timeline; false if it already was. An unknown or
    /// inactive user is an error naming them.
    async fn share_record(
        &self,
        target: &EntityRef,
        user_id: &str,
        by: Option<&str>,
    ) -> Result<bool, CrmError> {
        let (target, user_id, by) = (target.clone(), user_id.to_owned(), by.map(str::to_owned));
        self.write_with(Box::new(move |db| {
            let Some(name) = user_name(db, &user_id, true)? else {
                return Err(CrmError::Invalid(format!(
                    "user_id: no active user `{user_id}`"
                )));
            };
            let at = now_text();
            let added = db.execute(
                "INSERT INTO record_access (entity_kind, entity_id, user_id, granted_by, granted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                &[
                    Sql::from(target.kind.as_str()),
                    Sql::from(&target.id),
                    Sql::from(&user_id),
                    Sql::from(&by),
                    Sql::from(&at),
                ],
            )? > 0;
            if added {
                note(
                    db,
                    &target,
                    &at,
                    &format!("Shared with {name}"),
                    by.as_deref(),
                )?;
            }
            Ok((added, TxEnd::Commit))
        }))
        .await
    }

    /// Stops sharing `target` with `user_id`, noted on its timeline; false
    /// if it was not shared with them.
    async fn unshare_record(
        &self,
        target: &EntityRef,
        user_id: &str,
        by: Option<&str>,
    ) -> Result<bool, CrmError> {
        let (target, user_id, by) = (target.clone(), user_id.to_owned(), by.map(str::to_owned));
        self.write_with(Box::new(move |db| {
            let removed = db.execute(
                "DELETE FROM record_access WHERE entity_kind = ?1 AND entity_id = ?2 AND user_id = ?3",
                &[
                    Sql::from(target.kind.as_str()),
                    Sql::from(&target.id),
                    Sql::from(&user_id),
                ],
            )? > 0;
            if removed {
                let name = user_name(db, &user_id, false)?;
                let text = format!(
                    "No longer shared with {}",
                    name.as_deref().unwrap_or(&user_id)
                );
                note(db, &target, &now_text(), &text, by.as_deref())?;
            }
            Ok((removed, TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> RecordAccess for T {}

/// The name of user `id` (only an active one if `active`).
fn user_name(db: &dyn Db, id: &str, active: bool) -> Result<Option<String>, CrmError> {
    let sql = if active {
        "SELECT name FROM users WHERE id = ?1 AND active"
    } else {
        "SELECT name FROM users WHERE id = ?1"
    };
    Ok(db
        .query_opt(sql, &[Sql::from(id)])?
        .and_then(|mut r| r.take(0)))
}

/// Notes a share or unshare on `target`'s timeline.
fn note(
    db: &dyn Db,
    target: &EntityRef,
    at: &str,
    text: &str,
    by: Option<&str>,
) -> Result<(), CrmError> {
    db.execute(
        "INSERT INTO timeline (id, entity_kind, entity_id, at, kind, text, data, user_id)
         VALUES (?1, ?2, ?3, ?4, 'access', ?5, '{}', ?6)",
        &[
            Sql::Text(new_id()),
            Sql::from(target.kind.as_str()),
            Sql::from(&target.id),
            Sql::from(at),
            Sql::from(text),
            Sql::from(by),
        ],
    )?;
    Ok(())
}
