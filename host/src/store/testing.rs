//! Helpers the store's unit tests share.

use super::{CrmStore as _, SqliteStore};
use crate::crm::changes::Change;
use crate::crm::{EntityKind, new_id};
use serde_json::{Map, json};

/// A change that creates a task titled `title`.
pub(super) fn task(title: &str) -> Change {
    let mut fields = Map::new();
    fields.insert("title".into(), json!(title));
    Change::Create {
        kind: EntityKind::Task,
        id: new_id(),
        fields,
    }
}

/// The titles of the store's tasks, oldest first.
pub(super) async fn task_titles(store: &SqliteStore) -> Vec<String> {
    store
        .query(EntityKind::Task, &[], 100)
        .await
        .expect("tasks can be listed")
        .iter()
        .map(|t| t["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}
