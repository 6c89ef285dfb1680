//! A user's own corner: their notifications (read and marked read) and the
//! filters a screen opens with.

use super::sqlite::{SqliteStore, db_err};
use crate::crm::{CrmError, now_text};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row as _;

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

impl SqliteStore {
    /// `user_id`'s notifications, newest first: at most `limit` with ids
    /// before `before` ("" for the newest), only unread ones if asked.
    pub async fn notifications_of(
        &self,
        user_id: &str,
        unread_only: bool,
        before: &str,
        limit: u32,
    ) -> Result<Vec<NotificationRow>, CrmError> {
        let rows = sqlx::query(
            "SELECT id, title, body, entity_kind, entity_id, created_at, read_at
             FROM notifications
             WHERE user_id = ? AND (? = 0 OR read_at IS NULL) AND (? = '' OR id < ?)
             ORDER BY id DESC LIMIT ?",
        )
        .bind(user_id)
        .bind(unread_only)
        .bind(before)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| NotificationRow {
                id: r.get("id"),
                title: r.get("title"),
                body: r.get("body"),
                entity_kind: r.get("entity_kind"),
                entity_id: r.get("entity_id"),
                created_at: r.get("created_at"),
                read_at: r.get("read_at"),
            })
            .collect())
    }

    /// How many of `user_id`'s notifications are unread (the header's counter).
    pub async fn unread_notifications(&self, user_id: &str) -> Result<i64, CrmError> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.reader())
        .await
        .map_err(db_err)
    }

    /// Marks notification `id` of `user_id` read (once); false if they have
    /// no such notification.
    pub async fn mark_notification_read(&self, user_id: &str, id: &str) -> Result<bool, CrmError> {
        let done = sqlx::query(
            "UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE id = ? AND user_id = ?",
        )
        .bind(now_text())
        .bind(id)
        .bind(user_id)
        .execute(self.writer())
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    /// The filter `user_id` saved for screen `view`, if any.
    pub async fn saved_filter(&self, user_id: &str, view: &str) -> Result<Option<Value>, CrmError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT filter FROM saved_filters WHERE user_id = ? AND view = ?")
                .bind(user_id)
                .bind(view)
                .fetch_optional(self.reader())
                .await
                .map_err(db_err)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Saves (replaces) `user_id`'s filter for `view`; None removes it.
    pub async fn save_filter(
        &self,
        user_id: &str,
        view: &str,
        filter: Option<&Value>,
    ) -> Result<(), CrmError> {
        match filter {
            Some(f) => sqlx::query(
                "INSERT INTO saved_filters (user_id, view, filter, updated_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (user_id, view) DO UPDATE SET filter = excluded.filter,
                 updated_at = excluded.updated_at",
            )
            .bind(user_id)
            .bind(view)
            .bind(f.to_string())
            .bind(now_text())
            .execute(self.writer())
            .await
            .map_err(db_err)?,
            None => sqlx::query("DELETE FROM saved_filters WHERE user_id = ? AND view = ?")
                .bind(user_id)
                .bind(view)
                .execute(self.writer())
                .await
                .map_err(db_err)?,
        };
        Ok(())
    }
}
