//! The CRM as one step sees it: reads go to the store, writes are buffered
//! and become visible to the step's own later reads, and the whole buffer is
//! committed with the step's result (or dropped if the step fails).
//!
//! Why buffer: a database write transaction must never stay open while an
//! action runs (on SQLite it would stall every other writer), yet a step's
//! effects must be all-or-nothing.

use crate::crm::changes::{Change, StoredFile};
use crate::crm::money::put_invoice_totals;
use crate::crm::schema::spec;
use crate::crm::validate::{check_record, normalize_patch};
use crate::crm::{CrmError, EntityKind, EntityRef, Filter, check_text_size, new_id};
use crate::store::{MAX_QUERY_LIMIT, Store, invoice_number};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// One step's view of the CRM with its buffered writes.
pub struct CrmSession {
    store: Store,
    changes: Vec<Change>,
    /// The step's own version of every entity it created or changed.
    overlay: HashMap<EntityRef, Map<String, Value>>,
    /// Ids this step created, in order, so queries can return them.
    created: Vec<EntityRef>,
    /// Files this step stored, so its later reads see them.
    files: HashMap<(EntityRef, String), StoredFile>,
    /// Records read from the store during this step: the step sees one
    /// version of each (the commit's checks guard what it writes from them),
    /// and reading one twice costs one query.
    read: Mutex<HashMap<EntityRef, Map<String, Value>>>,
}

impl CrmSession {
    /// A session over `store` with nothing buffered.
    pub fn new(store: Store) -> CrmSession {
        CrmSession::with_read(store, Vec::new())
    }

    /// A session that already holds `read`: records the step read from
    /// `store` before its action ran (its subject), so the action's reads
    /// of them need no query.
    pub fn with_read(store: Store, read: Vec<(EntityRef, Map<String, Value>)>) -> CrmSession {
        CrmSession {
            store,
            changes: Vec::new(),
            overlay: HashMap::new(),
            created: Vec::new(),
            files: HashMap::new(),
            read: Mutex::new(read.into_iter().collect()),
        }
    }

    /// The buffered changes, to commit with the step.
    pub fn into_changes(self) -> Vec<Change> {
        self.changes
    }

    /// Buffers a change that is not an entity write (mail, notification).
    pub fn push(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// One entity, with this step's changes applied.
    pub async fn get(&self, target: &EntityRef) -> Result<Map<String, Value>, CrmError> {
        if let Some(record) = self.overlay.get(target) {
            return Ok(record.clone());
        }
        if let Some(record) = self.read.lock().ok().and_then(|r| r.get(target).cloned()) {
            return Ok(record);
        }
        let record = self
            .store
            .get(target)
            .await?
            .ok_or_else(|| CrmError::NotFound(target.clone()))?;
        if let Ok(mut read) = self.read.lock() {
            read.insert(target.clone(), record.clone());
        }
        Ok(record)
    }

    /// Entities passing every filter, with this step's changes applied.
    pub async fn query(
        &self,
        kind: EntityKind,
        filters: &[Filter],
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, CrmError> {
        let spec = spec(kind);
        // The cap holds for the whole answer, the step's own rows included.
        let limit = limit.clamp(1, MAX_QUERY_LIMIT);
        let mut rows = self.store.query(kind, filters, limit).await?;
        if self.overlay.keys().all(|r| r.kind != kind) {
            return Ok(rows);
        }
        let passes = |row: &Map<String, Value>| {
            let v = Value::Object(row.clone());
            filters.iter().all(|f| f.matches(kind, spec, &v))
        };
        // Rows the step changed: use its version, drop it if it no longer matches.
        rows.retain_mut(|row| {
            let id = row
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match self.overlay.get(&EntityRef { kind, id }) {
                Some(mine) => {
                    *row = mine.clone();
                    passes(row)
                }
                None => true,
            }
        });
        for r in self.created.iter().filter(|r| r.kind == kind) {
            if rows.len() >= limit as usize {
                break;
            }
            if let Some(row) = self.overlay.get(r)
                && passes(row)
            {
                rows.push(row.clone());
            }
        }
        rows.truncate(limit as usize);
        Ok(rows)
    }

    /// Buffers a create after checking the fields; returns the new id.
    pub async fn create(
        &mut self,
        kind: EntityKind,
        fields: Map<String, Value>,
    ) -> Result<EntityRef, CrmError> {
        let mut record = normalize_patch(kind, &fields)?;
        check_record(kind, &record)?;
        let target = EntityRef { kind, id: new_id() };
        record.insert("id".into(), Value::String(target.id.clone()));
        let expected_number = if kind == EntityKind::Invoice {
            Some(self.number_invoice(&mut record).await?)
        } else {
            None
        };
        self.overlay.insert(target.clone(), record);
        self.created.push(target.clone());
        self.changes.push(Change::Create {
            kind,
            id: target.id.clone(),
            fields,
        });
        if let Some(number) = expected_number {
            // The number was read before the commit; if another step takes
            // it first, the commit is refused and the step runs again.
            self.changes.push(Change::Expect {
                target: target.clone(),
                field: "number".into(),
                value: Value::String(number),
            });
        }
        Ok(target)
    }

    /// Gives a buffered invoice the totals and the number it will get, so the
    /// action can report them; returns the number.
    async fn number_invoice(&self, record: &mut Map<String, Value>) -> Result<String, CrmError> {
        let year: i64 = record
            .get("issue_date")
            .and_then(Value::as_str)
            .and_then(|d| d.get(..4))
            .and_then(|y| y.parse().ok())
            .ok_or_else(|| {
                CrmError::field(
                    EntityKind::Invoice,
                    "issue_date",
                    crate::crm::Wrong::Required,
                )
            })?;
        let mine = self
            .created
            .iter()
            .filter(|r| r.kind == EntityKind::Invoice)
            .filter_map(|r| self.overlay.get(r))
            .filter(|r| r.get("year").and_then(Value::as_i64) == Some(year))
            .count();
        let seq = self.store.next_invoice_seq(year).await? + i64::try_from(mine).unwrap_or(0);
        let number = invoice_number(year, seq);
        put_invoice_totals(record);
        record.insert("year".into(), Value::from(year));
        record.insert("seq".into(), Value::from(seq));
        record.insert("number".into(), Value::String(number.clone()));
        record
            .entry("status")
            .or_insert_with(|| Value::String("draft".into()));
        Ok(number)
    }

    /// Buffers an update after checking it against the current record.
    pub async fn update(
        &mut self,
        target: &EntityRef,
        fields: Map<String, Value>,
    ) -> Result<(), CrmError> {
        let patch = normalize_patch(target.kind, &fields)?;
        let mut record = self.get(target).await?;
        for (k, v) in patch {
            record.insert(k, v);
        }
        check_record(target.kind, &record)?;
        self.overlay.insert(target.clone(), record);
        self.changes.push(Change::Update {
            target: target.clone(),
            fields,
        });
        Ok(())
    }

    /// Buffers a link between two existing entities.
    pub async fn link(&mut self, from: &EntityRef, to: &EntityRef) -> Result<(), CrmError> {
        self.get(from).await?;
        self.get(to).await?;
        self.changes.push(Change::Link {
            from: from.clone(),
            to: to.clone(),
        });
        Ok(())
    }

    /// Buffers a timeline note.
    pub async fn note(&mut self, target: &EntityRef, text: &str) -> Result<(), CrmError> {
        if text.trim().is_empty() {
            return Err(CrmError::Invalid("a note needs text".into()));
        }
        check_text_size("a note", text).map_err(CrmError::Invalid)?;
        self.get(target).await?;
        self.changes.push(Change::Note {
            target: target.clone(),
            text: text.to_owned(),
        });
        Ok(())
    }

    /// Buffers storing `file` with `target` (replacing one of the same name).
    pub async fn attach_file(
        &mut self,
        target: &EntityRef,
        file: StoredFile,
    ) -> Result<(), CrmError> {
        file.check().map_err(CrmError::Invalid)?;
        self.get(target).await?;
        self.files
            .insert((target.clone(), file.name.clone()), file.clone());
        self.changes.push(Change::AttachFile {
            target: target.clone(),
            file,
        });
        Ok(())
    }

    /// The file `name` stored with `target`, this step's own included.
    pub async fn file(&self, target: &EntityRef, name: &str) -> Result<StoredFile, CrmError> {
        if let Some(f) = self.files.get(&(target.clone(), name.to_owned())) {
            return Ok(f.clone());
        }
        self.get(target).await?;
        self.store
            .file(target, name)
            .await?
            .ok_or_else(|| CrmError::FileNotFound {
                target: target.clone(),
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    async fn store_with_deal(title: &str) -> (tempfile::TempDir, Store, EntityRef) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store: Store = Arc::new(crate::store::SqliteStore::open(&url).await.unwrap());
        let deal = EntityRef {
            kind: EntityKind::Deal,
            id: new_id(),
        };
        let mut fields = Map::new();
        fields.insert("title".into(), json!(title));
        store
            .commit(&[Change::Create {
                kind: EntityKind::Deal,
                id: deal.id.clone(),
                fields,
            }])
            .await
            .unwrap();
        (dir, store, deal)
    }

    async fn retitle(store: &Store, deal: &EntityRef, title: &str) {
        let mut fields = Map::new();
        fields.insert("title".into(), json!(title));
        store
            .commit(&[Change::Update {
                target: deal.clone(),
                fields,
            }])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_step_reads_one_version_of_a_record() {
        let (_dir, store, deal) = store_with_deal("first").await;
        let session = CrmSession::new(store.clone());
        assert_eq!(session.get(&deal).await.unwrap()["title"], "first");
        retitle(&store, &deal, "second").await;
        assert_eq!(
            session.get(&deal).await.unwrap()["title"],
            "first",
            "the second read is the first one's record, not a new query"
        );
        assert_eq!(
            CrmSession::new(store).get(&deal).await.unwrap()["title"],
            "second"
        );
    }

    #[tokio::test]
    async fn a_record_read_before_the_action_answers_its_reads() {
        let (_dir, store, deal) = store_with_deal("stored").await;
        let mut seen = store.get(&deal).await.unwrap().unwrap();
        seen.insert("title".into(), json!("as the step read it"));
        let mut session = CrmSession::with_read(store, vec![(deal.clone(), seen)]);
        assert_eq!(
            session.get(&deal).await.unwrap()["title"],
            "as the step read it"
        );
        // The step's own writes still win over what it read.
        let mut fields = Map::new();
        fields.insert("title".into(), json!("changed by the step"));
        session.update(&deal, fields).await.unwrap();
        assert_eq!(
            session.get(&deal).await.unwrap()["title"],
            "changed by the step"
        );
    }
}
