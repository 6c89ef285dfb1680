//! The sets of installed actions runs start with: each names, per
//! `id@major`, the digest of the component installed when the run started.

use super::sqlite::{SqliteStore, db_err};
use crate::crm::{CrmError, timestamp_text};
use std::collections::BTreeMap;

/// Pins: `id@major` → component digest.
pub type Pins = BTreeMap<String, String>;

impl SqliteStore {
    /// The id of the set `pins`, stored if new (the same pins give the same id).
    pub async fn action_set_id(&self, pins: &Pins) -> Result<i64, CrmError> {
        let text = serde_json::to_string(pins).map_err(|e| CrmError::Storage(e.to_string()))?;
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT OR IGNORE INTO action_sets (pins, created_at) VALUES (?, ?)")
            .bind(&text)
            .bind(timestamp_text(crate::clock::now()))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM action_sets WHERE pins = ?")
            .bind(&text)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(id)
    }

    /// The pins of set `id`, if stored.
    pub async fn action_set(&self, id: i64) -> Result<Option<Pins>, CrmError> {
        let text: Option<String> = sqlx::query_scalar("SELECT pins FROM action_sets WHERE id = ?")
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map_err(db_err)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| CrmError::Storage(e.to_string())))
            .transpose()
    }

    /// Every digest a running run is pinned to: components that must stay.
    pub async fn digests_in_use(&self) -> Result<std::collections::BTreeSet<String>, CrmError> {
        let sets: Vec<String> = sqlx::query_scalar(
            "SELECT pins FROM action_sets
             WHERE id IN (SELECT DISTINCT action_set FROM runs WHERE status = 'running')",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db_err)?;
        let mut digests = std::collections::BTreeSet::new();
        for text in sets {
            let pins: Pins =
                serde_json::from_str(&text).map_err(|e| CrmError::Storage(e.to_string()))?;
            digests.extend(pins.into_values());
        }
        Ok(digests)
    }
}
