//! A user's own corner: their notifications (read and marked read) and the
//! filters a screen opens with.

use super::backend::Backend;
use super::db::{Sql, TxEnd, count};
use crate::crm::{CrmError, now_text};
use serde::Serialize;
use serde_json::Value;

/// An in-app notification as its user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationRow {
    /// Its id (time-ordered).
    pub id: String,
    /// Short title.
    pub title: String,
    /// Text.
    pub body: String,
    /// What it is about: kind and id.
    pub entity_kind: Option<String>,
    /// The entity's id.
    pub entity_id: Option<String>,
    /// When it was made.
    pub created_at: String,
    /// When its user read it.
    pub read_at: Option<String>,
}

/// A user's notifications and saved filters.
#[async_trait::async_trait]
pub trait Me: Backend {
    /// `user_id`'s notifications, newest first: at most `limit` with ids
    /// before `before` ("" for the newest), only unread ones if asked.
    async fn notifications_of(
        &self,
        user_id: &str,
        unread_only: bool,
        before: &str,
        limit: u32,
    ) -> Result<Vec<NotificationRow>, CrmError> {
        let mut sql = String::from(
            "SELECT id, title, body, entity_kind, entity_id, created_at, read_at
             FROM notifications WHERE user_id = ?",
        );
        let mut params = vec![Sql::from(user_id)];
        if unread_only {
            sql.push_str(" AND read_at IS NULL");
        }
        if !before.is_empty() {
            sql.push_str(" AND id < ?");
            params.push(Sql::from(before));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        params.push(Sql::Int(i64::from(limit)));
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(&sql, &params)?
                .into_iter()
                .map(|mut r| NotificationRow {
                    id: r.take(0).unwrap_or_default(),
                    title: r.take(1).unwrap_or_default(),
                    body: r.take(2).unwrap_or_default(),
                    entity_kind: r.take(3),
                    entity_id: r.take(4),
                    created_at: r.take(5).unwrap_or_default(),
                    read_at: r.take(6),
                })
                .collect())
        }))
        .await
    }

    /// How many of `user_id`'s notifications are unread (the header's counter).
    async fn unread_notifications(&self, user_id: &str) -> Result<i64, CrmError> {
        let user = Sql::from(user_id);
        self.read_with(Box::new(move |db| {
            Ok(count(
                db,
                "SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL",
                &[user],
            )?)
        }))
        .await
    }

    /// Marks notification `id` of `user_id` read (once); false if they have
    /// no such notification.
    async fn mark_notification_read(&self, user_id: &str, id: &str) -> Result<bool, CrmError> {
        let params = vec![Sql::Text(now_text()), Sql::from(id), Sql::from(user_id)];
        self.write_with(Box::new(move |db| {
            let marked = db.execute(
                "UPDATE notifications SET read_at = COALESCE(read_at, ?1) WHERE id = ?2 AND user_id = ?3",
                &params,
            )?;
            Ok((marked > 0, TxEnd::Commit))
        }))
        .await
    }

    /// The filter `user_id` saved for screen `view`, if any.
    async fn saved_filter(&self, user_id: &str, view: &str) -> Result<Option<Value>, CrmError> {
        let params = vec![Sql::from(user_id), Sql::from(view)];
        self.read_with(Box::new(move |db| {
            Ok(db
                .query_opt(
                    "SELECT filter FROM saved_filters WHERE user_id = ?1 AND view = ?2",
                    &params,
                )?
                .and_then(|mut r| r.take(0))
                .and_then(|t| serde_json::from_str(&t).ok()))
        }))
        .await
    }

    /// Saves (replaces) `user_id`'s filter for `view`; None removes it.
    async fn save_filter(
        &self,
        user_id: &str,
        view: &str,
        filter: Option<&Value>,
    ) -> Result<(), CrmError> {
        let mut params = vec![Sql::from(user_id), Sql::from(view)];
        if let Some(f) = filter {
            params.push(Sql::Text(f.to_string()));
            params.push(Sql::Text(now_text()));
        }
        self.write_with(Box::new(move |db| {
            if params.len() == 4 {
                db.execute(
                    "INSERT INTO saved_filters (user_id, view, filter, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (user_id, view) DO UPDATE SET filter = excluded.filter,
                     updated_at = excluded.updated_at",
                    &params,
                )?;
            } else {
                db.execute(
                    "DELETE FROM saved_filters WHERE user_id = ?1 AND view = ?2",
                    &params,
                )?;
            }
            Ok(((), TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> Me for T {}
