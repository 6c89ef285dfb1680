//! The mail outbox: rows written in a step's transaction, delivered later by
//! the dispatcher ([`crate::mail`]), each attempt recorded on the row.

use super::backend::Backend;
use super::db::{Db, Dialect, Row, Sql, TxEnd};
use crate::crm::changes::{MailAttachment, OutgoingMail};
use crate::crm::{CrmError, timestamp_text};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

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
/// The columns an [`OutboxEntry`] is read from, in [`entry`]'s order
/// (`attachments` last, for the caller to read first).
const ENTRY_COLUMNS: &str = "id, message_id, recipients, subject, status, attempts, last_error, created_at, sent_at, attachments";

fn entry(r: &mut Row, files: &[MailAttachment]) -> OutboxEntry {
    OutboxEntry {
        id: r.take(0).unwrap_or_default(),
        message_id: r.take(1).unwrap_or_default(),
        to: strings(r.text(2).unwrap_or_default()),
        subject: r.take(3).unwrap_or_default(),
        status: r.take(4).unwrap_or_default(),
        attempts: r.int(5).unwrap_or_default(),
        last_error: r.take(6),
        attachments: files.iter().map(|a| a.filename.clone()).collect(),
        created_at: r.take(7).unwrap_or_default(),
        sent_at: r.take(8),
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

/// The outbox as people look at it.
#[async_trait::async_trait]
pub trait OutboxListing: Backend {
    /// One message of the outbox with its bodies and attachments, and the
    /// attachments' bytes (for the download route).
    async fn outbox_message(
        &self,
        id: &str,
    ) -> Result<Option<(OutboxMessage, Vec<MailAttachment>)>, CrmError> {
        let id = Sql::from(id);
        self.read_with(Box::new(move |db| {
            let row = db.query_opt(
                &format!("SELECT {ENTRY_COLUMNS}, cc, text_body, html_body FROM mail_outbox WHERE id = ?1"),
                &[id],
            )?;
            Ok(row.map(|mut r| {
                let files = attachments(r.text(9).unwrap_or_default());
                let message = OutboxMessage {
                    entry: entry(&mut r, &files),
                    cc: strings(r.text(10).unwrap_or_default()),
                    text_body: r.take(11).unwrap_or_default(),
                    html_body: r.take(12),
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
        }))
        .await
    }

    /// The outbox, newest first, optionally only one status.
    async fn outbox(&self, status: Option<&str>, limit: u32) -> Result<Vec<OutboxEntry>, CrmError> {
        let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM mail_outbox");
        let mut params = Vec::new();
        if let Some(s) = status {
            sql.push_str(" WHERE status = ?");
            params.push(Sql::from(s));
        }
        sql.push_str(" ORDER BY created_at DESC LIMIT ?");
        params.push(Sql::Int(i64::from(limit.clamp(1, 1000))));
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(&sql, &params)?
                .into_iter()
                .map(|mut r| {
                    let files = attachments(r.text(9).unwrap_or_default());
                    entry(&mut r, &files)
                })
                .collect())
        }))
        .await
    }
}

impl<T: Backend> OutboxListing for T {}
