//! Duplicate keys of contacts and companies, kept in step with every write
//! (see [`crate::crm::duplicates`]), and the lookups on them: candidates
//! for a record about to be written, and the groups of duplicates already
//! stored.

use super::backend::Backend;
use super::db::{Db, Dialect, Sql};
use super::native::{Native, TxEnd, native_err};
use super::sqlite::{SqliteStore, apply_changes};
use crate::crm::changes::{Change, CommitReport};
use crate::crm::duplicates::{Candidate, is_checked, keys_of};
use crate::crm::schema::spec;
use crate::crm::validate::normalize_patch;
use crate::crm::{CrmError, EntityKind, EntityRef};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Records that share keys with each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateGroup {
    /// The records (at least two).
    pub records: Vec<Candidate>,
    /// The shared keys: [key, normalised value].
    pub shared: Vec<(String, String)>,
}

/// Writes the keys of `target` as `record` now stands (replacing its old ones).
pub(super) fn write_keys(
    conn: &dyn Db,
    target: &EntityRef,
    record: &Map<String, Value>,
) -> Result<(), CrmError> {
    if !is_checked(target.kind) {
        return Ok(());
    }
    delete_keys(conn, target)?;
    for (key, value) in keys_of(target.kind, record) {
        conn.execute(
            "INSERT INTO duplicate_keys (entity_kind, entity_id, key, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            &[
                Sql::from(target.kind.as_str()),
                Sql::from(&target.id),
                Sql::from(key),
                Sql::from(value),
            ],
        )?;
    }
    Ok(())
}

/// Forgets the keys of `target`.
pub(super) fn delete_keys(conn: &dyn Db, target: &EntityRef) -> Result<(), CrmError> {
    if !is_checked(target.kind) {
        return Ok(());
    }
    conn.execute(
        "DELETE FROM duplicate_keys WHERE entity_kind = ?1 AND entity_id = ?2",
        &[Sql::from(target.kind.as_str()), Sql::from(&target.id)],
    )?;
    Ok(())
}

/// The stored records of `kind` sharing a key with `record`, but `except`.
pub(super) fn candidates(
    conn: &dyn Db,
    kind: EntityKind,
    record: &Map<String, Value>,
    except: Option<&str>,
) -> Result<Vec<Candidate>, CrmError> {
    let mut matched: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in keys_of(kind, record) {
        let ids: Vec<String> = conn
            .query(
                "SELECT entity_id FROM duplicate_keys WHERE entity_kind = ?1 AND key = ?2 AND value = ?3",
                &[Sql::from(kind.as_str()), Sql::from(key), Sql::from(value)],
            )?
            .iter()
            .filter_map(|r| r.string(0))
            .collect();
        for id in ids.into_iter().filter(|id| Some(id.as_str()) != except) {
            let keys = matched.entry(id).or_default();
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_owned());
            }
        }
    }
    matched
        .into_iter()
        .map(|(id, matched)| {
            Ok(Candidate {
                kind,
                name: display_name(conn, kind, &id)?,
                id,
                matched,
                differs: Vec::new(),
            })
        })
        .collect()
}

/// How people read a record's name.
fn display_name(conn: &dyn Db, kind: EntityKind, id: &str) -> Result<String, CrmError> {
    let sql = match kind {
        EntityKind::Contact => {
            "SELECT trim(last_name || ' ' || first_name || ' ' || coalesce(middle_name, '')) FROM contacts WHERE id = ?1"
        }
        _ => "SELECT short_name FROM companies WHERE id = ?1",
    };
    Ok(conn
        .query_opt(sql, &[Sql::from(id)])?
        .and_then(|r| r.string(0))
        .unwrap_or_default())
}

/// Fills the keys of every contact and company when the table is empty but
/// records exist (a database made before keys were kept).
pub(super) fn backfill(conn: &Native) -> Result<(), CrmError> {
    let has_keys = conn
        .prepare_cached("SELECT 1 FROM duplicate_keys LIMIT 1")
        .and_then(|mut select| select.exists([]))
        .map_err(native_err)?;
    if has_keys {
        return Ok(());
    }
    for kind in [EntityKind::Contact, EntityKind::Company] {
        // The table name comes from the static spec, never from input.
        let sql = format!("SELECT id FROM {}", spec(kind).table);
        let ids: Vec<String> = conn
            .prepare(&sql)
            .and_then(|mut select| select.query_map([], |r| r.get(0))?.collect())
            .map_err(native_err)?;
        for id in ids {
            let target = EntityRef { kind, id };
            if let Some(record) = super::rows::load(conn, &target)? {
                write_keys(conn, &target, &record)?;
            }
        }
    }
    Ok(())
}

/// The duplicate checks of contacts and companies.
#[async_trait::async_trait]
pub trait Duplicates: Backend {
    /// Creates a contact or a company unless stored records share a key
    /// with it: then nothing is written and the error lists them. The
    /// check and the insert are one transaction — on PostgreSQL holding a
    /// lock per kind — so two callers, on one node or two, cannot both
    /// slip the same record in.
    async fn create_unless_duplicate(
        &self,
        kind: EntityKind,
        id: &str,
        fields: &Map<String, Value>,
    ) -> Result<CommitReport, CrmError> {
        let record = normalize_patch(kind, fields)?;
        let create = Change::Create {
            kind,
            id: id.to_owned(),
            fields: fields.clone(),
        };
        self.write_with(Box::new(move |db| {
            lock_checks(db, kind)?;
            let found = candidates(db, kind, &record, None)?;
            if !found.is_empty() {
                return Err(CrmError::Duplicates {
                    kind,
                    candidates: found,
                });
            }
            let (report, log) = apply_changes(db, std::slice::from_ref(&create))?;
            log.write(db)?;
            Ok((report, TxEnd::Commit))
        }))
        .await
    }

    /// The groups of stored records of `kind` that share a key: each record
    /// once, in the group of everything it shares a key with.
    async fn duplicate_groups(&self, kind: EntityKind) -> Result<Vec<DuplicateGroup>, CrmError> {
        self.read_with(Box::new(move |db| {
            let rows: Vec<(String, String, String)> = db
                .query(
                    "SELECT d.key, d.value, d.entity_id FROM duplicate_keys d
                     JOIN (SELECT key, value FROM duplicate_keys WHERE entity_kind = ?1
                           GROUP BY key, value HAVING COUNT(*) > 1) shared
                       ON shared.key = d.key AND shared.value = d.value
                     WHERE d.entity_kind = ?1
                     ORDER BY d.entity_id, d.key, d.value",
                    &[Sql::from(kind.as_str())],
                )?
                .into_iter()
                .map(|mut r| {
                    (
                        r.take(0).unwrap_or_default(),
                        r.take(1).unwrap_or_default(),
                        r.take(2).unwrap_or_default(),
                    )
                })
                .collect();
            let mut groups = group_by_shared_keys(&rows);
            let mut out = Vec::with_capacity(groups.len());
            for (ids, shared) in groups.drain(..) {
                let records = ids
                    .into_iter()
                    .map(|id| {
                        let matched: Vec<String> = rows
                            .iter()
                            .filter(|(_, _, rid)| *rid == id)
                            .map(|(k, _, _)| k.clone())
                            .fold(Vec::new(), |mut acc, k| {
                                if !acc.contains(&k) {
                                    acc.push(k);
                                }
                                acc
                            });
                        Ok(Candidate {
                            kind,
                            name: display_name(db, kind, &id)?,
                            id,
                            matched,
                            differs: Vec::new(),
                        })
                    })
                    .collect::<Result<Vec<_>, CrmError>>()?;
                out.push(DuplicateGroup { records, shared });
            }
            Ok(out)
        }))
        .await
    }
}

impl<T: Backend> Duplicates for T {}

/// The PostgreSQL advisory lock (plus the kind's number) a duplicate
/// check holds until its transaction ends.
const DUPLICATE_CHECK_LOCK: i64 = 0x726f_626f_7461_0100;

/// On PostgreSQL, waits for other transactions checking `kind` for
/// duplicates (on any node) to end, and holds the others off until this
/// one ends: a check and the write it allows are then one step. Nothing
/// on SQLite, whose one writer already is.
pub(super) fn lock_checks(db: &dyn Db, kind: EntityKind) -> Result<(), CrmError> {
    if db.dialect() == Dialect::Postgres {
        db.query(
            "SELECT pg_advisory_xact_lock(?1)",
            &[Sql::Int(DUPLICATE_CHECK_LOCK + kind as i64)],
        )?;
    }
    Ok(())
}

impl SqliteStore {
    /// Fills missing duplicate keys (see [`backfill`]); run at open.
    pub(super) async fn backfill_duplicate_keys(&self) -> Result<(), CrmError> {
        self.write_native(|c| backfill(c).map(|()| ((), TxEnd::Commit)))
            .await
    }
}

/// A group of record ids and the (key, value) pairs they share.
type Group = (Vec<String>, Vec<(String, String)>);

/// Joins records that share any (key, value) into groups: (ids, shared keys).
fn group_by_shared_keys(rows: &[(String, String, String)]) -> Vec<Group> {
    // Union-find over record ids, joined through each shared key.
    let ids: Vec<&str> = {
        let mut v: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let index = |id: &str| ids.binary_search(&id).unwrap_or(0);
    let mut parent: Vec<usize> = (0..ids.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first_of_key: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (key, value, id) in rows {
        let i = index(id);
        match first_of_key.get(&(key.as_str(), value.as_str())) {
            Some(&j) => {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a] = b;
            }
            None => {
                first_of_key.insert((key.as_str(), value.as_str()), i);
            }
        }
    }
    let mut groups: BTreeMap<usize, Group> = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().0.push((*id).to_owned());
    }
    for ((key, value), i) in first_of_key {
        let r = root(&mut parent, i);
        if let Some(g) = groups.get_mut(&r) {
            g.1.push((key.to_owned(), value.to_owned()));
        }
    }
    groups.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::group_by_shared_keys;

    #[test]
    fn records_sharing_any_key_form_one_group() {
        let row = |k: &str, v: &str, id: &str| (k.to_owned(), v.to_owned(), id.to_owned());
        let rows = vec![
            row("phone", "+7495", "a"),
            row("phone", "+7495", "b"),
            row("email", "x@y", "b"),
            row("email", "x@y", "c"),
            row("inn", "77", "d"),
            row("inn", "77", "e"),
        ];
        let groups = group_by_shared_keys(&rows);
        let ids: Vec<Vec<String>> = groups.iter().map(|g| g.0.clone()).collect();
        assert_eq!(ids, vec![vec!["a", "b", "c"], vec!["d", "e"]]);
        assert_eq!(groups[1].1, vec![("inn".to_owned(), "77".to_owned())]);
    }
}
