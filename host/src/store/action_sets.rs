//! The sets of installed actions runs start with: each names, per
//! `id@major`, the digest of the component installed when the run started.
//! Written once on the shared SQL ([`ActionSets`], for every [`Backend`]).

use super::backend::Backend;
use super::db::{Sql, TxEnd};
use crate::crm::{CrmError, timestamp_text};
use std::collections::{BTreeMap, BTreeSet};

/// Pins: `id@major` → component digest.
pub type Pins = BTreeMap<String, String>;

fn storage(e: impl std::fmt::Display) -> CrmError {
    CrmError::Storage(e.to_string())
}

/// The action sets of a store.
#[async_trait::async_trait]
pub trait ActionSets: Backend {
    /// The id of the set `pins`, stored if new (the same pins give the same id).
    async fn action_set_id(&self, pins: &Pins) -> Result<i64, CrmError> {
        let text = serde_json::to_string(pins).map_err(storage)?;
        self.write_with(Box::new(move |db| {
            db.execute(
                "INSERT INTO action_sets (pins, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                &[
                    Sql::from(&text),
                    Sql::Text(timestamp_text(crate::clock::now())),
                ],
            )?;
            let id = db
                .query_opt(
                    "SELECT id FROM action_sets WHERE pins = ?1",
                    &[Sql::from(&text)],
                )?
                .and_then(|r| r.int(0))
                .ok_or_else(|| storage("the action set just stored is missing"))?;
            Ok((id, TxEnd::Commit))
        }))
        .await
    }

    /// The pins of set `id`, if stored.
    async fn action_set(&self, id: i64) -> Result<Option<Pins>, CrmError> {
        self.read_with(Box::new(move |db| {
            db.query_opt(
                "SELECT pins FROM action_sets WHERE id = ?1",
                &[Sql::Int(id)],
            )?
            .and_then(|r| r.string(0))
            .map(|t| serde_json::from_str(&t).map_err(storage))
            .transpose()
        }))
        .await
    }

    /// Every digest a running run is pinned to: components that must stay.
    async fn digests_in_use(&self) -> Result<BTreeSet<String>, CrmError> {
        self.read_with(Box::new(|db| {
            let mut digests = BTreeSet::new();
            for row in db.query(
                "SELECT pins FROM action_sets
                 WHERE id IN (SELECT DISTINCT action_set FROM runs WHERE status = 'running')",
                &[],
            )? {
                let pins: Pins =
                    serde_json::from_str(row.text(0).unwrap_or("{}")).map_err(storage)?;
                digests.extend(pins.into_values());
            }
            Ok(digests)
        }))
        .await
    }
}

impl<T: Backend> ActionSets for T {}
