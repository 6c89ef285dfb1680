//! Applying one change inside a commit's transaction: validate against the
//! current state, derive computed fields, write the row, and record the
//! timeline entry and the event in the same transaction.

use super::native::{Native, native_err};
use super::rows::{self, bind_columns, statements};
use super::sqlite::db_err;
use crate::crm::changes::{Change, CommitReport, Notification, OutgoingMail, StoredFile};
use crate::crm::money::{money_text, put_invoice_totals, totals};
use crate::crm::schema::{FieldType, spec};
use crate::crm::validate::{check_record, check_transition, normalize_patch};
use crate::crm::{CrmError, EntityKind, EntityRef, new_id, now_text};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sqlx::{Row, SqliteConnection};

/// Applies `change` on `conn` (inside the caller's transaction), adding what
/// it did to `report` and the timeline entries and events it makes to `log`
/// (the caller flushes them before committing).
pub async fn apply_change(
    conn: &mut SqliteConnection,
    log: &mut LogRows,
    change: &Change,
    report: &mut CommitReport,
) -> Result<(), CrmError> {
    match change {
        Change::Create { kind, id, fields } => {
            create(conn, log, *kind, id, fields).await?;
            report.created.push(EntityRef {
                kind: *kind,
                id: id.clone(),
            });
        }
        Change::Update { target, fields } => {
            update(conn, log, target, fields).await?;
            report.updated.push(target.clone());
        }
        Change::Delete { target } => {
            delete(conn, log, target).await?;
            report.deleted.push(target.clone());
        }
        Change::Link { from, to } => {
            must_exist(conn, from).await?;
            must_exist(conn, to).await?;
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
            must_exist(conn, target).await?;
            if text.trim().is_empty() {
                return Err(CrmError::Invalid("a note needs text".into()));
            }
            log.timeline(target, "note", text, json!({}))?;
        }
        Change::Mail(mail) => {
            queue_mail(conn, mail).await?;
            report.mails += 1;
        }
        Change::Notify(n) => {
            notify(conn, n).await?;
            report.notifications += 1;
        }
        Change::Expect {
            target,
            field,
            value,
        } => {
            let record = rows::load(conn, target)
                .await?
                .ok_or_else(|| CrmError::NotFound(target.clone()))?;
            let actual = record.get(field).unwrap_or(&Value::Null);
            if actual != value {
                return Err(CrmError::Conflict(format!(
                    "{target}.{field} is {actual} where the step expected {value}: \
                     a concurrent change got there first"
                )));
            }
        }
        Change::AttachFile { target, file } => {
            must_exist(conn, target).await?;
            file.check().map_err(CrmError::Invalid)?;
            attach_file(conn, target, file).await?;
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
        EntityKind::User => set("active", json!(true)),
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
        EntityKind::PaymentRequest => set("status", json!("draft")),
        EntityKind::Task => set("status", json!("open")),
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

async fn create(
    conn: &mut SqliteConnection,
    log: &mut LogRows,
    kind: EntityKind,
    id: &str,
    fields: &Map<String, Value>,
) -> Result<(), CrmError> {
    let patch = normalize_patch(kind, fields)?;
    let mut record = defaults(kind);
    record.insert("custom_fields".into(), json!({}));
    merge(&mut record, patch);
    derive(conn, kind, &mut record, true).await?;
    check_record(kind, &record)?;
    check_references(conn, kind, &record).await?;
    check_custom_fields(conn, kind, &record).await?;
    if kind == EntityKind::Deal {
        check_stage(conn, &record).await?;
    }
    let now = now_text();
    let q = sqlx::query(&statements(kind).insert)
        .bind(id)
        .bind(1i64)
        .bind(&now)
        .bind(&now)
        .bind(
            record
                .get("custom_fields")
                .map_or_else(|| "{}".to_owned(), Value::to_string),
        );
    bind_columns(q, spec(kind), &record)
        .execute(&mut *conn)
        .await
        .map_err(|e| unique_conflict(kind, e))?;
    let target = EntityRef {
        kind,
        id: id.to_owned(),
    };
    if let Some(Value::Array(items)) = record.get("items") {
        rows::write_items(conn, &target, items).await?;
    }
    log.timeline(&target, "created", &format!("{kind} created"), json!({}))?;
    if kind == EntityKind::PaymentRequest {
        payment_history(conn, id, None, record.get("status").and_then(Value::as_str)).await?;
    }
    log.event(&target, "created", &Value::Object(record))
}

/// Records a payment request's move from one status to another.
async fn payment_history(
    conn: &mut SqliteConnection,
    request_id: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(), CrmError> {
    sqlx::query("INSERT INTO payment_request_history (id, request_id, at, from_status, to_status) VALUES (?, ?, ?, ?, ?)")
        .bind(new_id())
        .bind(request_id)
        .bind(now_text())
        .bind(from)
        .bind(to)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn update(
    conn: &mut SqliteConnection,
    log: &mut LogRows,
    target: &EntityRef,
    fields: &Map<String, Value>,
) -> Result<(), CrmError> {
    let kind = target.kind;
    let current = rows::load(conn, target)
        .await?
        .ok_or_else(|| CrmError::NotFound(target.clone()))?;
    let patch = normalize_patch(kind, fields)?;
    let mut record = current.clone();
    merge(&mut record, patch);
    derive(conn, kind, &mut record, false).await?;
    check_record(kind, &record)?;
    let status =
        |r: &Map<String, Value>| r.get("status").and_then(Value::as_str).map(str::to_owned);
    check_transition(
        kind,
        status(&current).as_deref(),
        status(&record).as_deref(),
    )?;
    check_references(conn, kind, &record).await?;
    check_custom_fields(conn, kind, &record).await?;
    let stage_moved = kind == EntityKind::Deal
        && (current.get("stage") != record.get("stage")
            || current.get("pipeline_id") != record.get("pipeline_id"));
    if stage_moved {
        check_stage(conn, &record).await?;
    }
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
    let q = sqlx::query(&statements(kind).update).bind(now_text()).bind(
        record
            .get("custom_fields")
            .map_or_else(|| "{}".to_owned(), Value::to_string),
    );
    let done = bind_columns(q, spec(kind), &record)
        .bind(&target.id)
        .bind(version)
        .execute(&mut *conn)
        .await
        .map_err(|e| unique_conflict(kind, e))?;
    if done.rows_affected() != 1 {
        return Err(CrmError::Conflict(format!(
            "{target} changed while being updated"
        )));
    }
    if changes.contains_key("items")
        && let Some(Value::Array(items)) = record.get("items")
    {
        rows::write_items(conn, target, items).await?;
    }
    if kind == EntityKind::PaymentRequest && changes.contains_key("status") {
        payment_history(
            conn,
            &target.id,
            status(&current).as_deref(),
            status(&record).as_deref(),
        )
        .await?;
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
async fn derive(
    conn: &mut SqliteConnection,
    kind: EntityKind,
    record: &mut Map<String, Value>,
    creating: bool,
) -> Result<(), CrmError> {
    match kind {
        EntityKind::Deal => {
            if record.get("pipeline_id").is_none_or(Value::is_null) {
                let row = sqlx::query(
                    "SELECT id FROM pipelines ORDER BY is_default DESC, created_at LIMIT 1",
                )
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?
                .ok_or_else(|| {
                    CrmError::field(
                        kind,
                        "pipeline_id",
                        "no pipeline exists yet; create one first",
                    )
                })?;
                record.insert(
                    "pipeline_id".into(),
                    Value::String(row.try_get("id").map_err(db_err)?),
                );
            }
            if record.get("stage").is_none_or(Value::is_null) {
                let pipeline = record
                    .get("pipeline_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let row = sqlx::query(
                    "SELECT code FROM stages WHERE pipeline_id = ? ORDER BY sort LIMIT 1",
                )
                .bind(&pipeline)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?
                .ok_or_else(|| {
                    CrmError::field(kind, "pipeline_id", format!("`{pipeline}` has no stages"))
                })?;
                record.insert(
                    "stage".into(),
                    Value::String(row.try_get("code").map_err(db_err)?),
                );
            }
            if let Some(Value::Array(items)) = record.get("items")
                && !items.is_empty()
            {
                let t = totals(items);
                record.insert("amount".into(), Value::String(money_text(t.total)));
            }
        }
        EntityKind::Invoice => {
            if !matches!(record.get("items"), Some(Value::Array(items)) if !items.is_empty()) {
                return Err(CrmError::field(
                    kind,
                    "items",
                    "an invoice needs at least one line",
                ));
            }
            put_invoice_totals(record);
            if creating {
                assign_invoice_number(conn, record).await?;
            }
            if record.get("status").and_then(Value::as_str) == Some("paid")
                && record.get("paid_date").is_none_or(Value::is_null)
            {
                record.insert(
                    "paid_date".into(),
                    Value::String(chrono::Utc::now().date_naive().to_string()),
                );
            }
        }
        _ => {}
    }
    Ok(())
}

/// The number the next invoice issued in `year` gets, unless another
/// commit takes it first.
pub async fn next_invoice_seq(conn: &mut SqliteConnection, year: i64) -> Result<i64, CrmError> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT last_seq FROM invoice_counters WHERE year = ?")
            .bind(year)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    Ok(last.unwrap_or(0) + 1)
}

/// An invoice's number: the year and a five-digit sequence, "2026-00042".
pub fn invoice_number(year: i64, seq: i64) -> String {
    format!("{year}-{seq:05}")
}

/// The next number of the issue date's year. The counter row is bumped in
/// this transaction, so numbers are unique and gap-free: a rolled-back
/// invoice rolls its number back too.
async fn assign_invoice_number(
    conn: &mut SqliteConnection,
    record: &mut Map<String, Value>,
) -> Result<(), CrmError> {
    let issue = record
        .get("issue_date")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let year: i64 = issue
        .get(..4)
        .and_then(|y| y.parse().ok())
        .ok_or_else(|| CrmError::field(EntityKind::Invoice, "issue_date", "is required"))?;
    let row = sqlx::query(
        "INSERT INTO invoice_counters (year, last_seq) VALUES (?, 1)
         ON CONFLICT (year) DO UPDATE SET last_seq = last_seq + 1
         RETURNING last_seq",
    )
    .bind(year)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    let seq: i64 = row.try_get("last_seq").map_err(db_err)?;
    record.insert("year".into(), Value::from(year));
    record.insert("number".into(), Value::String(invoice_number(year, seq)));
    record.insert("seq".into(), Value::from(seq));
    Ok(())
}

/// Every reference field must point at an existing entity.
async fn check_references(
    conn: &mut SqliteConnection,
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
        if !exists(conn, &target).await? {
            return Err(CrmError::field(
                kind,
                field,
                format!("no {} with id `{}`", target.kind, target.id),
            ));
        }
    }
    Ok(())
}

/// Custom field values must be defined for the kind and have the defined type.
async fn check_custom_fields(
    conn: &mut SqliteConnection,
    kind: EntityKind,
    record: &Map<String, Value>,
) -> Result<(), CrmError> {
    let Some(Value::Object(values)) = record.get("custom_fields") else {
        return Ok(());
    };
    if values.is_empty() {
        return Ok(());
    }
    let defs =
        sqlx::query("SELECT code, type, options FROM custom_field_defs WHERE entity_kind = ?")
            .bind(kind.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
    for (code, value) in values {
        let name = format!("custom_fields.{code}");
        let Some(def) = defs
            .iter()
            .find(|d| d.try_get::<String, _>("code").ok().as_deref() == Some(code))
        else {
            return Err(CrmError::field(
                kind,
                &name,
                "no such custom field is defined",
            ));
        };
        if value.is_null() {
            continue;
        }
        let ty: String = def.try_get("type").map_err(db_err)?;
        let ok = match ty.as_str() {
            "text" => value.is_string(),
            "number" => value.is_i64(),
            "decimal" => crate::crm::filter::decimal_of(value).is_some() && !value.is_f64(),
            "date" => value
                .as_str()
                .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
            "bool" => value.is_boolean(),
            "enum" => {
                let options: String = def.try_get("options").map_err(db_err)?;
                let options: Vec<String> = serde_json::from_str(&options).unwrap_or_default();
                value
                    .as_str()
                    .is_some_and(|s| options.iter().any(|o| o == s))
            }
            _ => false,
        };
        if !ok {
            return Err(CrmError::field(
                kind,
                &name,
                format!("{value} is not a valid {ty}"),
            ));
        }
    }
    Ok(())
}

/// The deal's stage must exist in its pipeline, and the deal must have every
/// field the stage requires.
async fn check_stage(
    conn: &mut SqliteConnection,
    record: &Map<String, Value>,
) -> Result<(), CrmError> {
    let pipeline = record
        .get("pipeline_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stage = record
        .get("stage")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let row = sqlx::query("SELECT required_fields FROM stages WHERE pipeline_id = ? AND code = ?")
        .bind(pipeline)
        .bind(stage)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| {
            CrmError::field(
                EntityKind::Deal,
                "stage",
                format!("`{stage}` is not a stage of pipeline `{pipeline}`"),
            )
        })?;
    let required: String = row.try_get("required_fields").map_err(db_err)?;
    let required: Vec<String> = serde_json::from_str(&required).unwrap_or_default();
    let missing: Vec<String> = required
        .into_iter()
        .filter(|name| {
            let value = match name.strip_prefix("custom_fields.") {
                Some(code) => record.get("custom_fields").and_then(|c| c.get(code)),
                None => record.get(name.as_str()),
            };
            // A money field left at zero is as unfilled as an empty one.
            let is_money = spec(EntityKind::Deal)
                .field(name)
                .is_some_and(|f| f.ty == FieldType::Decimal);
            match value {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) if is_money => s
                    .parse::<rust_decimal::Decimal>()
                    .map_or(true, |d| d.is_zero()),
                Some(Value::String(s)) => s.trim().is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            }
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CrmError::MissingStageFields {
            stage: stage.to_owned(),
            missing,
        })
    }
}

async fn delete(
    conn: &mut SqliteConnection,
    log: &mut LogRows,
    target: &EntityRef,
) -> Result<(), CrmError> {
    let record = rows::load(conn, target)
        .await?
        .ok_or_else(|| CrmError::NotFound(target.clone()))?;
    // The table name comes from our static spec, never from input.
    let sql = format!("DELETE FROM {} WHERE id = ?", spec(target.kind).table);
    sqlx::query(&sql)
        .bind(&target.id)
        .execute(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => CrmError::Conflict(
                format!("{target} is still referred to by other records; unlink them first"),
            ),
            _ => db_err(e),
        })?;
    log.event(target, "deleted", &Value::Object(record))
}

async fn exists(conn: &mut SqliteConnection, target: &EntityRef) -> Result<bool, CrmError> {
    let sql = format!("SELECT 1 FROM {} WHERE id = ?", spec(target.kind).table);
    Ok(sqlx::query(&sql)
        .bind(&target.id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .is_some())
}

async fn must_exist(conn: &mut SqliteConnection, target: &EntityRef) -> Result<(), CrmError> {
    if exists(conn, target).await? {
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
    fn timeline(
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
        });
        Ok(())
    }

    /// Keeps an event of `target` (what processes trigger from).
    fn event(&mut self, target: &EntityRef, kind: &str, changes: &Value) -> Result<(), CrmError> {
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
    pub(super) fn write(self, conn: &Native) -> Result<(), CrmError> {
        if !self.timeline.is_empty() {
            let mut insert = conn
                .prepare(
                    "INSERT INTO timeline (id, entity_kind, entity_id, at, kind, text, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(native_err)?;
            for r in &self.timeline {
                insert
                    .execute(rusqlite::params![
                        r.id,
                        r.entity_kind,
                        r.entity_id,
                        r.at,
                        r.kind,
                        r.text,
                        r.data
                    ])
                    .map_err(native_err)?;
            }
        }
        if !self.events.is_empty() {
            let mut insert = conn
                .prepare(
                    "INSERT INTO events (id, entity_kind, entity_id, kind, changes, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(native_err)?;
            for r in &self.events {
                insert
                    .execute(rusqlite::params![
                        r.id,
                        r.entity_kind,
                        r.entity_id,
                        r.kind,
                        r.changes,
                        r.at
                    ])
                    .map_err(native_err)?;
            }
        }
        Ok(())
    }
}

async fn attach_file(
    conn: &mut SqliteConnection,
    target: &EntityRef,
    file: &StoredFile,
) -> Result<(), CrmError> {
    sqlx::query(
        "INSERT INTO entity_files (id, entity_kind, entity_id, name, content_type, size, content, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (entity_kind, entity_id, name) DO UPDATE SET
             content_type = excluded.content_type, size = excluded.size,
             content = excluded.content, created_at = excluded.created_at",
    )
    .bind(new_id())
    .bind(target.kind.as_str())
    .bind(&target.id)
    .bind(&file.name)
    .bind(&file.content_type)
    .bind(i64::try_from(file.content.len()).unwrap_or(i64::MAX))
    .bind(&file.content)
    .bind(now_text())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn queue_mail(conn: &mut SqliteConnection, mail: &OutgoingMail) -> Result<(), CrmError> {
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
    sqlx::query(
        "INSERT INTO mail_outbox (id, message_id, recipients, cc, subject, text_body, html_body, attachments, next_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&mail.id)
    .bind(&mail.message_id)
    .bind(json!(mail.to).to_string())
    .bind(json!(mail.cc).to_string())
    .bind(&mail.subject)
    .bind(&mail.text_body)
    .bind(&mail.html_body)
    .bind(Value::Array(attachments).to_string())
    .bind(&now)
    .bind(&now)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn notify(conn: &mut SqliteConnection, n: &Notification) -> Result<(), CrmError> {
    let user = EntityRef {
        kind: EntityKind::User,
        id: n.user_id.clone(),
    };
    if !exists(conn, &user).await? {
        return Err(CrmError::Invalid(format!(
            "notification: no user with id `{}`",
            n.user_id
        )));
    }
    if let Some(about) = &n.about {
        must_exist(conn, about).await?;
    }
    sqlx::query("INSERT INTO notifications (id, user_id, title, body, entity_kind, entity_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(&n.id)
        .bind(&n.user_id)
        .bind(&n.title)
        .bind(&n.body)
        .bind(n.about.as_ref().map(|a| a.kind.as_str()))
        .bind(n.about.as_ref().map(|a| a.id.clone()))
        .bind(now_text())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// A unique-constraint failure is a conflict the caller can act on.
fn unique_conflict(kind: EntityKind, e: sqlx::Error) -> CrmError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            CrmError::Conflict(format!("{kind}: {}", d.message()))
        }
        _ => db_err(e),
    }
}

#[cfg(test)]
mod tests {
    use crate::crm::changes::Change;
    use crate::crm::{EntityKind, EntityRef, new_id};
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
