//! What payment requests need beyond the generic entity path: the values
//! a contractor was paid with before (seed 003: "values entered before for
//! the same contractor are filled in automatically"), and comments on the
//! request's history.

use super::backend::Backend;
use super::db::{Db, Dialect, Sql, TxEnd};
use crate::crm::duplicates::company_name_key;
use crate::crm::{Clash, CrmError, EntityKind, EntityRef, new_id, now_text};
use serde_json::{Map, Value, json};

/// The fields a contractor's earlier request gives a new one.
const FROM_REQUEST: &[&str] = &[
    "contractor",
    "contractor_company_id",
    "inn",
    "kpp",
    "bik",
    "settlement_account",
    "correspondent_account",
    "payment_purpose_text",
];

/// A company's fields and the request fields they fill: (company, request).
const FROM_COMPANY: &[(&str, &str)] = &[
    ("short_name", "contractor"),
    ("id", "contractor_company_id"),
    ("inn", "inn"),
    ("kpp", "kpp"),
    ("bik", "bik"),
    ("settlement_account", "settlement_account"),
    ("correspondent_account", "correspondent_account"),
];

/// What a new request for a contractor is filled with.
#[derive(Debug, Clone, PartialEq)]
pub struct Prefill {
    /// The request fields.
    pub fields: Map<String, Value>,
    /// Where they come from: `payment-request <id>` or `company <id>`.
    pub source: String,
}

/// What the contractor with INN `inn` (or named `contractor`) was paid with
/// last, or their company record's requisites if they were never paid.
pub(super) fn prefill(
    conn: &dyn Db,
    inn: Option<&str>,
    contractor: Option<&str>,
) -> Result<Option<Prefill>, CrmError> {
    let last: Option<String> = match (inn, contractor) {
        (Some(inn), _) => conn
            .query_opt(
                // The newest with bank details: a draft begun with only
                // the name teaches nothing about how they are paid.
                "SELECT id FROM payment_requests WHERE inn = ?1
                 ORDER BY (settlement_account IS NULL), id DESC LIMIT 1",
                &[Sql::from(inn)],
            )?
            .and_then(|r| r.string(0)),
        (None, Some(name)) => last_paid_by_name(conn, name)?,
        (None, None) => return Ok(None),
    };
    if let Some(id) = last {
        let target = EntityRef {
            kind: EntityKind::PaymentRequest,
            id,
        };
        if let Some(record) = super::rows::load(conn, &target)? {
            return Ok(Some(Prefill {
                fields: pick(&record, FROM_REQUEST.iter().map(|f| (*f, *f))),
                source: target.to_string(),
            }));
        }
    }
    let company: Option<String> = match (inn, contractor) {
        // The record with bank details first: it is the one that pays.
        (Some(inn), _) => conn
            .query_opt(
                "SELECT id FROM companies WHERE inn = ?1
                 ORDER BY (settlement_account IS NULL), id LIMIT 1",
                &[Sql::from(inn)],
            )?
            .and_then(|r| r.string(0)),
        // A name is matched as duplicates are: without legal form, quotes or
        // case (SQLite's lower() folds ASCII only).
        (None, Some(name)) => match company_name_key(name) {
            Some(key) => conn
                .query_opt(
                    "SELECT entity_id FROM duplicate_keys
                     WHERE entity_kind = 'company' AND key = 'name' AND value = ?1
                     ORDER BY entity_id LIMIT 1",
                    &[Sql::from(key)],
                )?
                .and_then(|r| r.string(0)),
            None => None,
        },
        (None, None) => None,
    };
    let Some(id) = company else {
        return Ok(None);
    };
    let target = EntityRef {
        kind: EntityKind::Company,
        id,
    };
    Ok(super::rows::load(conn, &target)?.map(|record| Prefill {
        fields: pick(&record, FROM_COMPANY.iter().copied()),
        source: target.to_string(),
    }))
}

/// How many of the newest requests a contractor's name is looked for in.
const NAME_LOOKBACK: i64 = 10_000;

/// The newest request whose contractor's name matches `name` without legal
/// form, quotes or case.
fn last_paid_by_name(conn: &dyn Db, name: &str) -> Result<Option<String>, CrmError> {
    let Some(key) = company_name_key(name) else {
        return Ok(None);
    };
    let rows = conn.query(
        "SELECT id, contractor FROM payment_requests WHERE contractor IS NOT NULL
         ORDER BY (settlement_account IS NULL), id DESC LIMIT ?1",
        &[Sql::Int(NAME_LOOKBACK)],
    )?;
    Ok(rows
        .iter()
        .find(|r| {
            r.text(1)
                .is_some_and(|c| company_name_key(c).as_deref() == Some(key.as_str()))
        })
        .and_then(|r| r.string(0)))
}

/// The non-empty fields of `record` under their new names.
fn pick<'a>(
    record: &Map<String, Value>,
    names: impl Iterator<Item = (&'a str, &'a str)>,
) -> Map<String, Value> {
    names
        .filter_map(|(from, to)| {
            record
                .get(from)
                .filter(|v| v.as_str().is_some_and(|s| !s.trim().is_empty()))
                .map(|v| (to.to_owned(), v.clone()))
        })
        .collect()
}

/// Fills the fields a new request left out from what its contractor was
/// paid with before (only fields not given; nothing when nothing is known).
pub(super) fn fill_from_before(
    conn: &dyn Db,
    record: &mut Map<String, Value>,
) -> Result<(), CrmError> {
    let text = |k: &str| {
        record
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (inn, contractor) = (text("inn"), text("contractor"));
    let Some(known) = prefill(conn, inn.as_deref(), contractor.as_deref())? else {
        return Ok(());
    };
    for (k, v) in known.fields {
        if record
            .get(&k)
            .is_none_or(|old| old.is_null() || old.as_str() == Some(""))
        {
            record.insert(k, v);
        }
    }
    Ok(())
}

/// One entry of a request's history: a status move or a comment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    /// When.
    pub at: String,
    /// Who (a user id), when a person did it.
    pub user_id: Option<String>,
    /// The status before.
    pub from_status: Option<String>,
    /// The status after (the same as before for a comment).
    pub to_status: Option<String>,
    /// The comment, if it is one.
    pub comment: Option<String>,
}

/// Payment requests' own operations (their records go through the CRM
/// store like every entity's).
#[async_trait::async_trait]
pub trait PaymentRequests: Backend {
    /// Request `id`'s history, oldest first: every status move and comment
    /// with who and when.
    async fn payment_history(&self, id: &str) -> Result<Vec<HistoryEntry>, CrmError> {
        let id = Sql::from(id);
        self.read_with(Box::new(move |db| {
            Ok(db
                .query(
                    "SELECT at, user_id, from_status, to_status, comment FROM payment_request_history
                     WHERE request_id = ?1 ORDER BY at, id",
                    &[id],
                )?
                .into_iter()
                .map(|mut r| HistoryEntry {
                    at: r.take(0).unwrap_or_default(),
                    user_id: r.take(1),
                    from_status: r.take(2),
                    to_status: r.take(3),
                    comment: r.take(4),
                })
                .collect())
        }))
        .await
    }

    /// Who approved request `id`: the approval step's decider, else whoever
    /// moved it to `approved`.
    async fn approver_of(&self, id: &str) -> Result<Option<String>, CrmError> {
        let id = Sql::from(id);
        self.read_with(Box::new(move |db| {
            let decided = db
                .query_opt(
                    "SELECT decided_by FROM approvals
                     WHERE entity_kind = 'payment-request' AND entity_id = ?1 AND status = 'approved'
                     ORDER BY decided_at DESC LIMIT 1",
                    std::slice::from_ref(&id),
                )?
                .and_then(|mut r| r.take(0));
            if decided.is_some() {
                return Ok(decided);
            }
            Ok(db
                .query_opt(
                    "SELECT user_id FROM payment_request_history
                     WHERE request_id = ?1 AND to_status = 'approved' AND user_id IS NOT NULL
                     ORDER BY at DESC LIMIT 1",
                    &[id],
                )?
                .and_then(|mut r| r.take(0)))
        }))
        .await
    }

    /// What a new request for this contractor would be filled with, and
    /// where it comes from.
    async fn payment_prefill(
        &self,
        inn: Option<&str>,
        contractor: Option<&str>,
    ) -> Result<Option<Prefill>, CrmError> {
        let (inn, contractor) = (inn.map(str::to_owned), contractor.map(str::to_owned));
        self.read_with(Box::new(move |db| {
            prefill(db, inn.as_deref(), contractor.as_deref())
        }))
        .await
    }

    /// Adds `text` by `user_id` to the request's history and timeline.
    async fn comment_payment_request(
        &self,
        id: &str,
        user_id: Option<&str>,
        text: &str,
    ) -> Result<Value, CrmError> {
        let text = comment_text(text)?;
        let (id, user_id) = (id.to_owned(), user_id.map(str::to_owned));
        self.write_with(Box::new(move |db| {
            let status = status_of(db, &id)?;
            let comment = add_comment(db, &id, &status, user_id.as_deref(), &text)?;
            Ok((comment, TxEnd::Commit))
        }))
        .await
    }

    /// Accounting returns approved request `id` for rework: it goes back to
    /// draft (out of the registry) with `reason` kept and commented, and
    /// its `status_changed` event lets a process give the author a task.
    async fn return_payment_request(
        &self,
        id: &str,
        user_id: Option<&str>,
        reason: &str,
    ) -> Result<Value, CrmError> {
        let reason = comment_text(reason)?;
        let (id, user_id) = (id.to_owned(), user_id.map(str::to_owned));
        self.write_with(Box::new(move |db| {
            let target = EntityRef {
                kind: EntityKind::PaymentRequest,
                id: id.clone(),
            };
            let status = status_of(db, &id)?;
            if status != "approved" {
                return Err(CrmError::Conflict(Clash::ReturnNotApproved {
                    request: target.to_string(),
                    status,
                }));
            }
            db.execute(
                "UPDATE payment_requests SET returned_reason = ?1, returned_by = ?2 WHERE id = ?3",
                &[Sql::from(&reason), Sql::from(&user_id), Sql::from(&id)],
            )?;
            let mut fields = Map::new();
            fields.insert("status".into(), json!("draft"));
            use crate::crm::changes::Change;
            let by = user_id.as_ref().map(|u| Change::By { user_id: u.clone() });
            let update = Change::Update {
                target: target.clone(),
                fields,
            };
            let changes: Vec<Change> = by.into_iter().chain([update]).collect();
            let (_, log) = super::sqlite::apply_changes(db, &changes)?;
            log.write(db)?;
            let comment = add_comment(
                db,
                &id,
                "draft",
                user_id.as_deref(),
                &format!("Returned for rework: {reason}"),
            )?;
            Ok((comment, TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> PaymentRequests for T {}

/// A comment's text, trimmed, or why it cannot be one.
fn comment_text(text: &str) -> Result<String, CrmError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CrmError::InvalidField {
            field: "text".into(),
            reason: crate::crm::Wrong::CommentNeeded,
        });
    }
    crate::crm::check_text_size("text", text).map_err(CrmError::Invalid)?;
    Ok(text.to_owned())
}

/// The status of request `id`, or not found; on PostgreSQL its row is
/// locked until the caller's transaction ends, so two people moving it at
/// once on two nodes go one after the other.
fn status_of(db: &dyn Db, id: &str) -> Result<String, CrmError> {
    let lock = match db.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    db.query_opt(
        &format!("SELECT status FROM payment_requests WHERE id = ?1{lock}"),
        &[Sql::from(id)],
    )?
    .and_then(|mut r| r.take(0))
    .ok_or_else(|| {
        CrmError::NotFound(EntityRef {
            kind: EntityKind::PaymentRequest,
            id: id.to_owned(),
        })
    })
}

/// Writes a comment on the request's history (at its `status`) and timeline.
fn add_comment(
    db: &dyn Db,
    id: &str,
    status: &str,
    user_id: Option<&str>,
    text: &str,
) -> Result<Value, CrmError> {
    let at = now_text();
    let comment_id = new_id();
    db.execute(
        "INSERT INTO payment_request_history (id, request_id, at, user_id, from_status, to_status, comment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        &[
            Sql::from(&comment_id),
            Sql::from(id),
            Sql::from(&at),
            Sql::from(user_id),
            Sql::from(status),
            Sql::from(text),
        ],
    )?;
    db.execute(
        "INSERT INTO timeline (id, entity_kind, entity_id, at, kind, text, data, user_id)
         VALUES (?1, 'payment-request', ?2, ?3, 'comment', ?4, '{}', ?5)",
        &[
            Sql::Text(new_id()),
            Sql::from(id),
            Sql::from(&at),
            Sql::from(text),
            Sql::from(user_id),
        ],
    )?;
    Ok(json!({ "id": comment_id, "at": at, "user_id": user_id, "status": status, "text": text }))
}
