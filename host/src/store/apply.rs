//! Applying one change inside a commit's transaction: validate against the
//! current state, derive computed fields, write the row, and record the
//! timeline entry and the event in the same transaction.

use super::db::{Db, DbError, Dialect, Failure, Sql, Wake, wake};

/// The PostgreSQL advisory lock that orders the writers of events.
const EVENT_ORDER_LOCK: i64 = 0x726f_626f_7461_0001;
use super::duplicates::{delete_keys, write_keys};
use super::required::{check_custom_fields, check_entry, moved};
use super::rows::{self, column_values, statements};
use crate::crm::changes::{Change, CommitReport, Notification, OutgoingMail, StoredFile};
use crate::crm::money::{money_text, put_invoice_totals, totals};
use crate::crm::schema::{FieldType, spec};
use crate::crm::validate::{check_record, check_transition, normalize_patch};
use crate::crm::{Clash, CrmError, EntityKind, EntityRef, Wrong, new_id, now_text};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Applies `change` on `conn` (inside the caller's transaction), adding what
/// it did to `report` and the timeline entries and events it makes to `log`
/// (the caller flushes them before committing).
pub fn apply_change(
    conn: &dyn Db,
    log: &mut LogRows,
    change: &Change,
    report: &mut CommitReport,
) -> Result<(), CrmError> {
    match change {
        Change::Create { kind, id, fields } => {
            create(conn, log, *kind, id, fields)?;
            report.created.push(EntityRef {
                kind: *kind,
                id: id.clone(),
            });
        }
        Change::Update { target, fields } => {
            update(conn, log, target, fields)?;
            report.updated.push(target.clone());
        }
        Change::Delete { target } => {
            delete(conn, log, target)?;
            report.deleted.push(target.clone());
        }
        Change::Link { from, to } => {
            must_exist(conn, from)?;
            must_exist(conn, to)?;
            log.timeline(
                from,
                "link",
                &format!("linked to {to}"),
                json!({ "to": to }),
            )?;
            log.timeline(
                to,
                "link",
                &format!("linked from {from}"),
                json!({ "from": from }),
            )?;
        }
        Change::Note { target, text } => {
            must_exist(conn, target)?;
            if text.trim().is_empty() {
                return Err(CrmError::Invalid("a note needs text".into()));
            }
            log.timeline(target, "note", text, json!({}))?;
        }
        Change::Mail(mail) => {
            queue_mail(conn, mail)?;
            report.mails += 1;
        }
        Change::Notify(n) => {
            notify(conn, n)?;
            report.notifications += 1;
        }
        Change::Expect {
            target,
            field,
            value,
        } => {
            let record =
                rows::load(conn, target)?.ok_or_else(|| CrmError::NotFound(target.clone()))?;
            let actual = record.get(field).unwrap_or(&Value::Null);
            if actual != value {
                return Err(CrmError::Conflict(Clash::FieldChanged {
                    target: target.to_string(),
                    field: field.clone(),
                    actual: actual.to_string(),
                    expected: value.to_string(),
                }));
            }
        }
        Change::By { user_id } => log.by = Some(user_id.clone()),
        Change::AttachFile { target, file } => {
            must_exist(conn, target)?;
            file.check().map_err(CrmError::Invalid)?;
            attach_file(conn, target, file)?;
            log.timeline(
                target,
                "file",
                &format!("file {} stored", file.name),
                json!({ "name": file.name, "size": file.content.len() }),
            )?;
        }
    }
    Ok(())
}

/// Values a new record starts with where the caller gave none.
fn defaults(kind: EntityKind) -> Map<String, Value> {
    let mut m = Map::new();
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    match kind {
        EntityKind::User => {
            set("active", json!(true));
            set("notify_by_email", json!(false));
        }
        EntityKind::Product => {
            set("active", json!(true));
            set("unit", json!("шт"));
        }
        EntityKind::Contact => {
            set("phones", json!([]));
            set("emails", json!([]));
        }
        EntityKind::Lead => set("status", json!("new")),
        EntityKind::Deal => {
            set("amount", json!("0"));
            set("currency", json!("RUB"));
            set("items", json!([]));
        }
        EntityKind::Invoice => {
            set("status", json!("draft"));
            set("buyer", json!({}));
            set("seller", json!({}));
        }
        EntityKind::PaymentRequest => {
            set("status", json!("draft"));
            set("currency", json!("RUB"));
        }
        EntityKind::Task => {
            set("status", json!("open"));
            set("kind", json!("task"));
        }
        EntityKind::Company => {}
    }
    m
}

/// Merges a normalised patch into a record (custom fields key by key).
fn merge(record: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        if k == "custom_fields"
            && let (Some(Value::Object(old)), Value::Object(new)) =
                (record.get_mut("custom_fields"), &v)
        {
            for (ck, cv) in new {
                old.insert(ck.clone(), cv.clone());
            }
            continue;
        }
        record.insert(k, v);
    }
}

fn create(
    conn: &dyn Db,
    log: &mut LogRows,
    kind: EntityKind,
    id: &str,
    fields: &Map<String, Value>,
) -> Result<(), CrmError> {
    let patch = normalize_patch(kind, fields)?;
    let mut record = defaults(kind);
    record.insert("custom_fields".into(), json!({}));
    merge(&mut record, patch);
    derive(conn, kind, &mut record, true)?;
    check_record(kind, &record)?;
    check_references(conn, kind, &record)?;
    check_custom_fields(conn, kind, &record)?;
    // A request is approved and paid only through its workflow, never
    // created so: the approval and the payment order are the point.
    if kind == EntityKind::PaymentRequest
        && !matches!(
            record.get("status").and_then(Value::as_str),
            Some("draft" | "on_approval")
        )
    {
        return Err(CrmError::field(kind, "status", Wrong::StartStatus));
    }
    if moved(kind, None, &record) {
        check_entry(conn, kind, &record)?;
    }
    let now = now_text();
    let mut values = vec![
        Sql::Text(id.to_owned()),
        Sql::Int(1),
        Sql::Text(now.clone()),
        Sql::Text(now),
        Sql::Text(
            record
                .get("custom_fields")
                .map_or_else(|| "{}".to_owned(), Value::to_string),
        ),
    ];
    values.extend(column_values(spec(kind), &record));
    conn.execute(&statements(kind).insert, &values)
        .map_err(|e| unique_conflict(kind, e))?;
    let target = EntityRef {
        kind,
        id: id.to_owned(),
    };
    if let Some(Value::Array(items)) = record.get("items") {
        rows::write_items(conn, &target, items)?;
    }
    write_keys(conn, &target, &record)?;
    log.timeline(&target, "created", &format!("{kind} created"), json!({}))?;
    if kind == EntityKind::PaymentRequest {
        payment_history(
            conn,
            log,
            id,
            None,
            record.get("status").and_then(Value::as_str),
        )?;
    }
    log.event(&target, "created", &Value::Object(record))
}

/// The name a payment order file of a request starts with.
pub const PAYMENT_ORDER_FILE: &str = "payment-order";

/// Whether the request has its payment order stored.
fn has_payment_order(conn: &dyn Db, target: &EntityRef) -> Result<bool, CrmError> {
    Ok(conn.exists(
        "SELECT 1 FROM entity_files WHERE entity_kind = ?1 AND entity_id = ?2 AND name LIKE ?3",
        &[
            Sql::from(target.kind.as_str()),
            Sql::from(&target.id),
            Sql::Text(format!("{PAYMENT_ORDER_FILE}%")),
        ],
    )?)
}

/// Records a payment request's move from one status to another.
fn payment_history(
    conn: &dyn Db,
    log: &LogRows,
    request_id: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(), CrmError> {
    conn.execute(
        "INSERT INTO payment_request_history (id, request_id, at, user_id, from_status, to_status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            Sql::Text(new_id()),
            Sql::from(request_id),
            Sql::Text(now_text()),
            Sql::from(&log.by),
            Sql::from(from),
            Sql::from(to),
        ],
    )?;
    Ok(())
}

fn update(
    conn: &dyn Db,
    log: &mut LogRows,
    target: &EntityRef,
    fields: &Map<String, Value>,
) -> Result<(), CrmError> {
    let kind = target.kind;
    let current = rows::load(conn, target)?.ok_or_else(|| CrmError::NotFound(target.clone()))?;
    let patch = normalize_patch(kind, fields)?;
    let mut record = current.clone();
    merge(&mut record, patch);
    derive(conn, kind, &mut record, false)?;
    check_record(kind, &record)?;
    let status =
        |r: &Map<String, Value>| r.get("status").and_then(Value::as_str).map(str::to_owned);
    check_transition(
        kind,
        status(&current).as_deref(),
        status(&record).as_deref(),
    )?;
    if kind == EntityKind::PaymentRequest
        && status(&current) != status(&record)
        && status(&record).as_deref() == Some("paid")
        && !has_payment_order(conn, target)?
    {
        return Err(CrmError::field(
            kind,
            "status",
            Wrong::PaidWithoutOrder {
                request: target.id.clone(),
                file: format!("{PAYMENT_ORDER_FILE}.pdf"),
            },
        ));
    }
    check_references(conn, kind, &record)?;
    check_custom_fields(conn, kind, &record)?;
    if moved(kind, Some(&current), &record) {
        check_entry(conn, kind, &record)?;
    }
    let stage_moved = kind == EntityKind::Deal && moved(kind, Some(&current), &record);
    let mut changes = Map::new();
    for (k, v) in &record {
        let old = current.get(k).unwrap_or(&Value::Null);
        if old != v && !["version", "updated_at"].contains(&k.as_str()) {
            changes.insert(k.clone(), json!([old, v]));
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    let version = current.get("version").and_then(Value::as_i64).unwrap_or(0);
    let mut values = vec![
        Sql::Text(now_text()),
        Sql::Text(
            record
                .get("custom_fields")
                .map_or_else(|| "{}".to_owned(), Value::to_string),
        ),
    ];
    values.extend(column_values(spec(kind), &record));
    values.push(Sql::Text(target.id.clone()));
    values.push(Sql::Int(version));
    let done = conn
        .execute(&statements(kind).update, &values)
        .map_err(|e| unique_conflict(kind, e))?;
    if done != 1 {
        return Err(CrmError::Conflict(Clash::ChangedMeanwhile {
            target: target.to_string(),
        }));
    }
    if changes.contains_key("items")
        && let Some(Value::Array(items)) = record.get("items")
    {
        rows::write_items(conn, target, items)?;
    }
    write_keys(conn, target, &record)?;
    if kind == EntityKind::PaymentRequest && changes.contains_key("status") {
        payment_history(
            conn,
            log,
            &target.id,
            status(&current).as_deref(),
            status(&record).as_deref(),
        )?;
    }
    let names: Vec<&str> = changes.keys().map(String::as_str).collect();
    let text = if stage_moved {
        format!(
            "stage {} → {}",
            current.get("stage").and_then(Value::as_str).unwrap_or("?"),
            record.get("stage").and_then(Value::as_str).unwrap_or("?")
        )
    } else {
        format!("changed {}", names.join(", "))
    };
    log.timeline(
        target,
        if stage_moved {
            "stage_changed"
        } else {
            "updated"
        },
        &text,
        Value::Object(changes.clone()),
    )?;
    log.event(
        target,
        if stage_moved {
            "stage_changed"
        } else {
            "updated"
        },
        &Value::Object(changes),
    )
}

/// Fills the fields the host computes.
fn derive(
    conn: &dyn Db,
    kind: EntityKind,
    record: &mut Map<String, Value>,
    creating: bool,
) -> Result<(), CrmError> {
    match kind {
        EntityKind::Deal => {
            if record.get("pipeline_id").is_none_or(Value::is_null) {
                let id: String = conn
                    .query_opt(
                        "SELECT id FROM pipelines ORDER BY is_default DESC, created_at LIMIT 1",
                        &[],
                    )?
                    .and_then(|r| r.string(0))
                    .ok_or_else(|| CrmError::field(kind, "pipeline_id", Wrong::NoPipeline))?;
                record.insert("pipeline_id".into(), Value::String(id));
            }
            if record.get("stage").is_none_or(Value::is_null) {
                let pipeline = record
                    .get("pipeline_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let code: String = conn
                    .query_opt(
                        "SELECT code FROM stages WHERE pipeline_id = ?1 ORDER BY sort LIMIT 1",
                        &[Sql::from(&pipeline)],
                    )?
                    .and_then(|r| r.string(0))
                    .ok_or_else(|| {
                        CrmError::field(
                            kind,
                            "pipeline_id",
                            Wrong::NoStages {
                                pipeline: pipeline.to_string(),
                            },
                        )
                    })?;
                record.insert("stage".into(), Value::String(code));
            }
            if let Some(Value::Array(items)) = record.get("items")
                && !items.is_empty()
            {
                let t = totals(items);
                record.insert("amount".into(), Value::String(money_text(t.total)));
            }
        }
        EntityKind::PaymentRequest if creating => {
            super::payment_requests::fill_from_before(conn, record)?;
            stamp_paid_date(record);
        }
        EntityKind::Invoice => {
            if !matches!(record.get("items"), Some(Value::Array(items)) if !items.is_empty()) {
                return Err(CrmError::field(kind, "items", Wrong::NoLines));
            }
            put_invoice_totals(record);
            if creating {
                assign_invoice_number(conn, record)?;
            }
            stamp_paid_date(record);
        }
        EntityKind::PaymentRequest => stamp_paid_date(record),
        _ => {}
    }
    Ok(())
}

/// A record that is paid without a paid date was paid today (company time).
fn stamp_paid_date(record: &mut Map<String, Value>) {
    if record.get("status").and_then(Value::as_str) == Some("paid")
        && record.get("paid_date").is_none_or(Value::is_null)
    {
        record.insert(
            "paid_date".into(),
            Value::String(
                crate::clock::now()
                    .with_timezone(&crate::clock::COMPANY_TIMEZONE)
                    .date_naive()
                    .to_string(),
            ),
        );
    }
}

/// The number the next invoice issued in `year` gets, unless another
/// commit takes it first.
pub fn next_invoice_seq(conn: &dyn Db, year: i64) -> Result<i64, CrmError> {
    let last: Option<i64> = conn
        .query_opt(
            "SELECT last_seq FROM invoice_counters WHERE year = ?1",
            &[Sql::Int(year)],
        )?
        .and_then(|r| r.int(0));
    Ok(last.unwrap_or(0) + 1)
}

/// An invoice's number: the year and a five-digit sequence, "2026-00042".
pub fn invoice_number(year: i64, seq: i64) -> String {
    format!("{year}-{seq:05}")
}

/// The next number of the issue date's year. The counter row is bumped in
/// this transaction, so numbers are unique and gap-free: a rolled-back
/// invoice rolls its number back too.
fn assign_invoice_number(conn: &dyn Db, record: &mut Map<String, Value>) -> Result<(), CrmError> {
    let issue = record
        .get("issue_date")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let year: i64 = issue
        .get(..4)
        .and_then(|y| y.parse().ok())
        .ok_or_else(|| CrmError::field(EntityKind::Invoice, "issue_date", Wrong::Required))?;
    // The counter row stays locked until the commit: a concurrent issuer
    // (on any node) waits for it, so numbers never repeat or skip.
    let seq: i64 = conn
        .query_opt(
            "INSERT INTO invoice_counters (year, last_seq) VALUES (?1, 1)
             ON CONFLICT (year) DO UPDATE SET last_seq = invoice_counters.last_seq + 1
             RETURNING last_seq",
            &[Sql::Int(year)],
        )?
        .and_then(|r| r.int(0))
        .ok_or_else(|| CrmError::Storage("the invoice counter returned nothing".into()))?;
    record.insert("year".into(), Value::from(year));
    record.insert("number".into(), Value::String(invoice_number(year, seq)));
    record.insert("seq".into(), Value::from(seq));
    Ok(())
}

/// Every reference field must point at an existing entity.
fn check_references(
    conn: &dyn Db,
    kind: EntityKind,
    record: &Map<String, Value>,
) -> Result<(), CrmError> {
    let mut references: Vec<(&str, EntityRef)> = spec(kind)
        .columns()
        .filter_map(
            |field| match (field.ty, record.get(field.name).and_then(Value::as_str)) {
                (FieldType::Ref(target), Some(id)) => Some((
                    field.name,
                    EntityRef {
                        kind: target,
                        id: id.to_owned(),
                    },
                )),
                _ => None,
            },
        )
        .collect();
    // A task points at any kind of entity through a (kind, id) pair.
    if kind == EntityKind::Task
        && let (Some(k), Some(id)) = (
            record
                .get("entity_kind")
                .and_then(Value::as_str)
                .and_then(EntityKind::parse),
            record.get("entity_id").and_then(Value::as_str),
        )
    {
        references.push((
            "entity_id",
            EntityRef {
                kind: k,
                id: id.to_owned(),
            },
        ));
    }
    for (field, target) in references {
        if !exists(conn, &target)? {
            return Err(CrmError::field(
                kind,
                field,
                Wrong::NoSuchRecord {
                    kind: target.kind.to_string(),
                    id: target.id.clone(),
                },
            ));
        }
    }
    Ok(())
}

fn delete(conn: &dyn Db, log: &mut LogRows, target: &EntityRef) -> Result<(), CrmError> {
    let record = rows::load(conn, target)?.ok_or_else(|| CrmError::NotFound(target.clone()))?;
    // The table name comes from our static spec, never from input.
    let sql = format!("DELETE FROM {} WHERE id = ?1", spec(target.kind).table);
    conn.execute(&sql, &[Sql::from(&target.id)]).map_err(|e| {
        if e.failure == Failure::ForeignKey {
            CrmError::Conflict(Clash::StillReferred {
                target: target.to_string(),
            })
        } else {
            e.into()
        }
    })?;
    delete_keys(conn, target)?;
    log.event(target, "deleted", &Value::Object(record))
}

fn exists(conn: &dyn Db, target: &EntityRef) -> Result<bool, CrmError> {
    let sql = format!("SELECT 1 FROM {} WHERE id = ?1", spec(target.kind).table);
    Ok(conn.exists(&sql, &[Sql::from(&target.id)])?)
}

fn must_exist(conn: &dyn Db, target: &EntityRef) -> Result<(), CrmError> {
    if exists(conn, target)? {
        Ok(())
    } else {
        Err(CrmError::NotFound(target.clone()))
    }
}

/// The timeline entries and events a change set writes, kept until
/// [`LogRows::write`] writes them all at once on the native handle: most
/// changes write one of each, and on the engine's hot path every hand-off
/// to sqlx's worker counts. Their order is kept, so events keep the order
/// of the changes.
#[derive(Debug, Default)]
pub struct LogRows {
    timeline: Vec<TimelineRow>,
    events: Vec<EventRow>,
    /// Who makes the changes being logged ([`Change::By`]), if a person.
    by: Option<String>,
}

/// One timeline entry to write.
#[derive(Debug)]
struct TimelineRow {
    id: String,
    entity_kind: &'static str,
    entity_id: String,
    at: String,
    kind: String,
    text: String,
    data: String,
    user_id: Option<String>,
}

/// One event to write.
#[derive(Debug)]
struct EventRow {
    id: String,
    entity_kind: &'static str,
    entity_id: String,
    kind: String,
    changes: String,
    at: String,
}

impl LogRows {
    /// Adds `other`'s rows after these.
    pub fn append(&mut self, other: LogRows) {
        self.timeline.extend(other.timeline);
        self.events.extend(other.events);
    }

    /// Keeps a timeline entry of `target`.
    pub(super) fn timeline(
        &mut self,
        target: &EntityRef,
        kind: &str,
        text: &str,
        data: Value,
    ) -> Result<(), CrmError> {
        self.timeline.push(TimelineRow {
            id: new_id(),
            entity_kind: target.kind.as_str(),
            entity_id: target.id.clone(),
            at: now_text(),
            kind: kind.to_owned(),
            text: text.to_owned(),
            data: data.to_string(),
            user_id: self.by.clone(),
        });
        Ok(())
    }

    /// Keeps an event of `target` (what processes trigger from).
    pub(super) fn event(
        &mut self,
        target: &EntityRef,
        kind: &str,
        changes: &Value,
    ) -> Result<(), CrmError> {
        self.events.push(EventRow {
            id: new_id(),
            entity_kind: target.kind.as_str(),
            entity_id: target.id.clone(),
            kind: kind.to_owned(),
            changes: changes.to_string(),
            at: now_text(),
        });
        Ok(())
    }

    /// Writes the kept rows on `conn` (inside the caller's transaction),
    /// each table with one prepared statement.
    pub(super) fn write(self, conn: &dyn Db) -> Result<(), CrmError> {
        if !self.events.is_empty() && conn.dialect() == Dialect::Postgres {
            // The engine reads events past a cursor, so they must commit in
            // the order of their numbers. A sequence hands numbers out
            // before commit; holding this lock from taking them to the
            // commit makes the writers of events (on every node) take
            // their numbers one after the other.
            conn.execute(
                "SELECT pg_advisory_xact_lock(?1)",
                &[Sql::Int(EVENT_ORDER_LOCK)],
            )?;
            wake(conn, Wake::Events)?;
        }
        let timeline: Vec<Vec<Sql>> = self
            .timeline
            .into_iter()
            .map(|r| {
                vec![
                    Sql::Text(r.id),
                    Sql::from(r.entity_kind),
                    Sql::Text(r.entity_id),
                    Sql::Text(r.at),
                    Sql::Text(r.kind),
                    Sql::Text(r.text),
                    Sql::Text(r.data),
                    Sql::from(r.user_id),
                ]
            })
            .collect();
        conn.execute_each(
            "INSERT INTO timeline (id, entity_kind, entity_id, at, kind, text, data, user_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &timeline,
        )?;
        let events: Vec<Vec<Sql>> = self
            .events
            .into_iter()
            .map(|r| {
                vec![
                    Sql::Text(r.id),
                    Sql::from(r.entity_kind),
                    Sql::Text(r.entity_id),
                    Sql::Text(r.kind),
                    Sql::Text(r.changes),
                    Sql::Text(r.at),
                ]
            })
            .collect();
        conn.execute_each(
            "INSERT INTO events (id, entity_kind, entity_id, kind, changes, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &events,
        )?;
        Ok(())
    }
}

fn attach_file(conn: &dyn Db, target: &EntityRef, file: &StoredFile) -> Result<(), CrmError> {
    conn.execute(
        "INSERT INTO entity_files (id, entity_kind, entity_id, name, content_type, size, content, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (entity_kind, entity_id, name) DO UPDATE SET
             content_type = excluded.content_type, size = excluded.size,
             content = excluded.content, created_at = excluded.created_at",
        &[
            Sql::Text(new_id()),
            Sql::from(target.kind.as_str()),
            Sql::from(&target.id),
            Sql::from(&file.name),
            Sql::from(&file.content_type),
            Sql::Int(i64::try_from(file.content.len()).unwrap_or(i64::MAX)),
            Sql::Blob(file.content.clone()),
            Sql::Text(now_text()),
        ],
    )?;
    Ok(())
}

fn queue_mail(conn: &dyn Db, mail: &OutgoingMail) -> Result<(), CrmError> {
    let attachments: Vec<Value> = mail
        .attachments
        .iter()
        .map(|a| {
            json!({
                "filename": a.filename,
                "content_type": a.content_type,
                "content_base64": base64::engine::general_purpose::STANDARD.encode(&a.content),
            })
        })
        .collect();
    let now = now_text();
    conn.execute(
        "INSERT INTO mail_outbox (id, message_id, recipients, cc, subject, text_body, html_body, attachments, next_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &[
            Sql::from(&mail.id),
            Sql::from(&mail.message_id),
            Sql::Text(json!(mail.to).to_string()),
            Sql::Text(json!(mail.cc).to_string()),
            Sql::from(&mail.subject),
            Sql::from(&mail.text_body),
            Sql::from(&mail.html_body),
            Sql::Text(Value::Array(attachments).to_string()),
            Sql::Text(now.clone()),
            Sql::Text(now),
        ],
    )?;
    wake(conn, Wake::Mail)?;
    Ok(())
}

fn notify(conn: &dyn Db, n: &Notification) -> Result<(), CrmError> {
    let user = EntityRef {
        kind: EntityKind::User,
        id: n.user_id.clone(),
    };
    if !exists(conn, &user)? {
        return Err(CrmError::Invalid(format!(
            "notification: no user with id `{}`",
            n.user_id
        )));
    }
    if let Some(about) = &n.about {
        must_exist(conn, about)?;
    }
    mail_notification(conn, n)?;
    conn.execute(
        "INSERT INTO notifications (id, user_id, title, body, entity_kind, entity_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            Sql::from(&n.id),
            Sql::from(&n.user_id),
            Sql::from(&n.title),
            Sql::from(&n.body),
            Sql::from(n.about.as_ref().map(|a| a.kind.as_str())),
            Sql::from(n.about.as_ref().map(|a| a.id.as_str())),
            Sql::Text(now_text()),
        ],
    )?;
    Ok(())
}

/// Queues `n` as an e-mail too when its user wants notifications by e-mail
/// (and is active): in the same transaction, so it goes once or not at all.
fn mail_notification(conn: &dyn Db, n: &Notification) -> Result<(), CrmError> {
    // Flags are tested as such: integers on SQLite, booleans on PostgreSQL.
    let email: Option<String> = conn
        .query_opt(
            "SELECT email FROM users WHERE id = ?1 AND active AND notify_by_email",
            &[Sql::from(&n.user_id)],
        )?
        .and_then(|r| r.string(0));
    let Some(email) = email else {
        return Ok(());
    };
    let link = n
        .about
        .as_ref()
        .map(|a| format!("\n\n{}: {}", a.kind, a.id))
        .unwrap_or_default();
    queue_mail(
        conn,
        &OutgoingMail {
            id: new_id(),
            message_id: format!("<notification.{}@robota>", n.id),
            to: vec![email],
            cc: Vec::new(),
            subject: n.title.clone(),
            text_body: format!("{}{link}", n.body),
            html_body: None,
            attachments: Vec::new(),
        },
    )
}

/// A unique-constraint failure is a conflict the caller can act on.
fn unique_conflict(kind: EntityKind, e: DbError) -> CrmError {
    if e.failure == Failure::Unique {
        CrmError::Conflict(Clash::Taken {
            kind: kind.to_string(),
            message: e.message,
        })
    } else {
        e.into()
    }
}

#[cfg(test)]
mod tests {
    use crate::crm::changes::Change;
    use crate::crm::{EntityKind, EntityRef, new_id};
    use crate::store::prelude::*;
    use crate::store::{CrmStore as _, SqliteStore};
    use serde_json::{Map, Value, json};
    use sqlx::Row as _;

    #[tokio::test]
    async fn a_change_sets_timeline_and_events_are_written_in_order_and_intact() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let deal = EntityRef {
            kind: EntityKind::Deal,
            id: new_id(),
        };
        let fields = |k: &str, v: Value| {
            let mut m = Map::new();
            m.insert(k.to_owned(), v);
            m
        };
        store
            .commit(&[
                Change::Create {
                    kind: EntityKind::Deal,
                    id: deal.id.clone(),
                    fields: fields("title", json!("Насосы \"Гном\"")),
                },
                Change::Update {
                    target: deal.clone(),
                    fields: fields("title", json!("Насосы")),
                },
                Change::Note {
                    target: deal.clone(),
                    text: "позвонить".into(),
                },
            ])
            .await
            .unwrap();
        let events = store.events_after(0, 10).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["created", "updated"]);
        assert_eq!(events[0].changes["title"], "Насосы \"Гном\"");
        assert_eq!(events[1].entity, deal);
        let timeline =
            sqlx::query("SELECT kind, text, data FROM timeline WHERE entity_id = ? ORDER BY rowid")
                .bind(&deal.id)
                .fetch_all(store.reader())
                .await
                .unwrap();
        let kinds: Vec<String> = timeline.iter().map(|r| r.get("kind")).collect();
        assert_eq!(kinds, ["created", "updated", "note"]);
        assert_eq!(timeline[2].get::<String, _>("text"), "позвонить");
        let data: Value = serde_json::from_str(&timeline[1].get::<String, _>("data")).unwrap();
        assert_eq!(data["title"], json!(["Насосы \"Гном\"", "Насосы"]));
    }
}
