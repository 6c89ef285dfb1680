//! The mail outbox: rows written in a step's transaction, delivered later by
//! the dispatcher ([`crate::mail`]), each attempt recorded on the row.

use super::backend::Backend;
use super::db::{Db, Dialect, Sql, TxEnd};
use super::sqlite::{SqliteStore, db_err};
use crate::crm::changes::{MailAttachment, OutgoingMail};
use crate::crm::{CrmError, timestamp_text};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

/// A queued e-mail with its delivery state.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    /// The message.
    pub mail: OutgoingMail,
    /// Delivery attempts so far.
    pub attempts: i64,
}

/// An outbox row as the API lists it (without bodies and attachments).
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    /// The row id.
    pub id: String,
    /// The Message-ID header.
    pub message_id: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// pending, sent or failed.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Attached file names.
    pub attachments: Vec<String>,
    /// When it was queued.
    pub created_at: String,
    /// When it was delivered.
    pub sent_at: Option<String>,
}

/// One outbox message with what it says and carries.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxMessage {
    /// The row as listed.
    #[serde(flatten)]
    pub entry: OutboxEntry,
    /// Carbon copies.
    pub cc: Vec<String>,
    /// The plain-text body.
    pub text_body: String,
    /// The HTML body.
    pub html_body: Option<String>,
    /// The attached files (name, type, size); their bytes come from
    /// `GET /api/v1/outbox/{id}/attachments/{name}`.
    pub files: Vec<OutboxFile>,
}

/// An attachment as a message lists it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxFile {
    /// The file name.
    pub filename: String,
    /// Its MIME type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: usize,
}

/// An outbox row as listed, from a row with its columns and its decoded
/// attachments.
fn entry(r: &sqlx::sqlite::SqliteRow, files: &[MailAttachment]) -> OutboxEntry {
    OutboxEntry {
        id: r.get("id"),
        message_id: r.get("message_id"),
        to: strings(&r.get::<String, _>("recipients")),
        subject: r.get("subject"),
        status: r.get("status"),
        attempts: r.get("attempts"),
        last_error: r.get("last_error"),
        attachments: files.iter().map(|a| a.filename.clone()).collect(),
        created_at: r.get("created_at"),
        sent_at: r.get("sent_at"),
    }
}

fn strings(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn attachments(text: &str) -> Vec<MailAttachment> {
    let items: Vec<Value> = serde_json::from_str(text).unwrap_or_default();
    items
        .into_iter()
        .filter_map(|a| {
            Some(MailAttachment {
                filename: a.get("filename")?.as_str()?.to_owned(),
                content_type: a.get("content_type")?.as_str()?.to_owned(),
                content: base64::engine::general_purpose::STANDARD
                    .decode(a.get("content_base64")?.as_str()?)
                    .ok()?,
            })
        })
        .collect()
}

/// Claims up to `limit` pending e-mails due by `now`, oldest first: each is
/// pushed to `lease_until`, so no other sender takes it meanwhile and, if
/// its sender dies before recording the outcome, it is due again then. On
/// PostgreSQL senders on several nodes skip each other's rows.
pub(super) fn claim_mail(
    conn: &dyn Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<QueuedMail>, CrmError> {
    let lock = match conn.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE mail_outbox SET next_at = ?1
         WHERE id IN (SELECT id FROM mail_outbox WHERE status = 'pending' AND next_at <= ?2
                      ORDER BY next_at LIMIT ?3{lock})
         RETURNING id, message_id, recipients, cc, subject, text_body, html_body, attachments, attempts"
    );
    let rows = conn.query(
        &sql,
        &[
            Sql::Text(timestamp_text(lease_until)),
            Sql::Text(timestamp_text(now)),
            Sql::Int(i64::from(limit)),
        ],
    )?;
    Ok(rows
        .iter()
        .map(|r| QueuedMail {
            mail: OutgoingMail {
                id: r.string(0).unwrap_or_default(),
                message_id: r.string(1).unwrap_or_default(),
                to: strings(r.text(2).unwrap_or("[]")),
                cc: strings(r.text(3).unwrap_or("[]")),
                subject: r.string(4).unwrap_or_default(),
                text_body: r.string(5).unwrap_or_default(),
                html_body: r.string(6),
                attachments: attachments(r.text(7).unwrap_or("[]")),
            },
            attempts: r.int(8).unwrap_or_default(),
        })
        .collect())
}

/// Records a delivery of a still pending message.
pub(super) fn record_sent(conn: &dyn Db, id: &str, at: DateTime<Utc>) -> Result<(), CrmError> {
    conn.execute(
        "UPDATE mail_outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?1, last_error = NULL
         WHERE id = ?2 AND status = 'pending'",
        &[Sql::Text(timestamp_text(at)), Sql::from(id)],
    )?;
    Ok(())
}

/// Records a failed attempt: tried again at `retry_at`, or failed for good.
pub(super) fn record_failed(
    conn: &dyn Db,
    id: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), CrmError> {
    let (status, next) = match retry_at {
        Some(at) => ("pending", Sql::Text(timestamp_text(at))),
        None => ("failed", Sql::Null),
    };
    conn.execute(
        "UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?1, status = ?2,
             next_at = COALESCE(?3, next_at)
         WHERE id = ?4 AND status = 'pending'",
        &[Sql::from(error), Sql::from(status), next, Sql::from(id)],
    )?;
    Ok(())
}

/// The mail outbox of a store, as its sender works it.
#[async_trait::async_trait]
pub trait Outbox: Backend {
    /// Claims up to `limit` pending e-mails due by `now` for this sender
    /// until `lease_until` (see [`claim_mail`]).
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, CrmError> {
        self.write_with(Box::new(move |db| {
            Ok((claim_mail(db, now, lease_until, limit)?, TxEnd::Commit))
        }))
        .await
    }

    /// Records a delivery.
    async fn mail_sent(&self, id: &str, at: DateTime<Utc>) -> Result<(), CrmError> {
        let id = id.to_owned();
        self.write_with(Box::new(move |db| {
            Ok((record_sent(db, &id, at)?, TxEnd::Commit))
        }))
        .await
    }

    /// Records a failed attempt: tried again at `retry_at`, or failed for good.
    async fn mail_attempt_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), CrmError> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.write_with(Box::new(move |db| {
            Ok((record_failed(db, &id, &error, retry_at)?, TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> Outbox for T {}

impl SqliteStore {
    /// One message of the outbox with its bodies and attachments, and the
    /// attachments' bytes (for the download route).
    pub async fn outbox_message(
        &self,
        id: &str,
    ) -> Result<Option<(OutboxMessage, Vec<MailAttachment>)>, CrmError> {
        let row = sqlx::query(
            "SELECT id, message_id, recipients, cc, subject, text_body, html_body, status, attempts,
                    last_error, attachments, created_at, sent_at
             FROM mail_outbox WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await
        .map_err(db_err)?;
        Ok(row.map(|r| {
            let files = attachments(&r.get::<String, _>("attachments"));
            let message = OutboxMessage {
                entry: entry(&r, &files),
                cc: strings(&r.get::<String, _>("cc")),
                text_body: r.get("text_body"),
                html_body: r.get("html_body"),
                files: files
                    .iter()
                    .map(|a| OutboxFile {
                        filename: a.filename.clone(),
                        content_type: a.content_type.clone(),
                        size: a.content.len(),
                    })
                    .collect(),
            };
            (message, files)
        }))
    }

    /// The outbox, newest first, optionally only one status.
    pub async fn outbox(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, CrmError> {
        let rows = sqlx::query(
            "SELECT id, message_id, recipients, subject, status, attempts, last_error, attachments,
                    created_at, sent_at
             FROM mail_outbox WHERE (?1 IS NULL OR status = ?1) ORDER BY created_at DESC LIMIT ?2",
        )
        .bind(status)
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| entry(&r, &attachments(&r.get::<String, _>("attachments"))))
            .collect())
    }
}
