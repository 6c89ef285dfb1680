//! Reading an entity's timeline: everything that happened to it, oldest
//! first (what the card shows under the fields).

use super::backend::Backend;
use super::db::Sql;
use crate::crm::{CrmError, EntityRef};
use serde::Serialize;
use serde_json::Value;

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

/// Entities' timelines.
#[async_trait::async_trait]
pub trait Timelines: Backend {
    /// `target`'s timeline, oldest first: at most `limit` entries with
    /// ids after `after` ("" from the start).
    async fn timeline(
        &self,
        target: &EntityRef,
        after: &str,
        limit: u32,
    ) -> Result<Vec<TimelineEntry>, CrmError> {
        let params = vec![
            Sql::from(target.kind.as_str()),
            Sql::from(&target.id),
            Sql::from(after),
            Sql::Int(i64::from(limit)),
        ];
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(
                    "SELECT id, at, kind, text, data, user_id FROM timeline
                     WHERE entity_kind = ?1 AND entity_id = ?2 AND id > ?3
                     ORDER BY id LIMIT ?4",
                    &params,
                )?
                .into_iter()
                .map(|mut r| TimelineEntry {
                    id: r.take(0).unwrap_or_default(),
                    at: r.take(1).unwrap_or_default(),
                    kind: r.take(2).unwrap_or_default(),
                    text: r.take(3).unwrap_or_default(),
                    data: r
                        .take(4)
                        .and_then(|d| serde_json::from_str(&d).ok())
                        .unwrap_or(Value::Null),
                    user_id: r.take(5),
                })
                .collect())
        }))
        .await
    }
}

impl<T: Backend> Timelines for T {}
