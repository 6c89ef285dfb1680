//! Reading an entity's timeline: everything that happened to it, oldest
//! first (what the card shows under the fields).

use super::sqlite::{SqliteStore, db_err};
use crate::crm::{CrmError, EntityRef};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row as _;

/// One entry of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Its id (time-ordered).
    pub id: String,
    /// When.
    pub at: String,
    /// created, updated, stage_changed, note, link, file, merged, …
    pub kind: String,
    /// What happened, in words.
    pub text: String,
    /// The details (for `updated`: each field's [old, new]).
    pub data: Value,
    /// Who did it, when a user did.
    pub user_id: Option<String>,
}

impl SqliteStore {
    /// The timeline of `target`, oldest first: at most `limit` entries
    /// after the entry with id `after` ("" for the start).
    pub async fn timeline(
        &self,
        target: &EntityRef,
        after: &str,
        limit: u32,
    ) -> Result<Vec<TimelineEntry>, CrmError> {
        let rows = sqlx::query(
            "SELECT id, at, kind, text, data, user_id FROM timeline
             WHERE entity_kind = ? AND entity_id = ? AND id > ?
             ORDER BY id LIMIT ?",
        )
        .bind(target.kind.as_str())
        .bind(&target.id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| TimelineEntry {
                id: r.get("id"),
                at: r.get("at"),
                kind: r.get("kind"),
                text: r.get("text"),
                data: serde_json::from_str(&r.get::<String, _>("data")).unwrap_or(Value::Null),
                user_id: r.get("user_id"),
            })
            .collect())
    }
}
