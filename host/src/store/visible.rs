//! Records as one caller sees them: the access rules of
//! [`crate::access`] become a condition of the query itself, so what a
//! caller may not see is never read, and a limit counts only what they
//! may (written once for every [`Backend`]).

use super::backend::Backend;
use super::rows::{self, Seen};
use crate::access::{Access, Visibility};
use crate::crm::schema::spec;
use crate::crm::{CrmError, EntityKind, EntityRef, Filter};
use serde_json::{Map, Value};

/// Reads as a caller sees them.
#[async_trait::async_trait]
pub trait Visible: Backend {
    /// One entity if `access` may see it: None both when it does not exist
    /// and when it is out of the caller's reach (the API answers 404 to both).
    async fn get_as(
        &self,
        access: &Access,
        target: &EntityRef,
    ) -> Result<Option<Map<String, Value>>, CrmError> {
        let (access, target) = (access.clone(), target.clone());
        self.read_with(Box::new(move |db| match access.visibility(target.kind) {
            Visibility::All => rows::load(db, &target),
            Visibility::Nothing => Ok(None),
            Visibility::Where { sql, binds } => {
                let seen = Seen {
                    sql,
                    binds,
                    user: access.user_id.as_deref(),
                };
                rows::load_seen(db, &target, Some(seen))
            }
        }))
        .await
    }

    /// Entities of `kind` passing every filter, after `after` (the cursor),
    /// as `access` sees them: only the rows the caller may see, the limit
    /// counting only those.
    async fn query_as(
        &self,
        access: &Access,
        kind: EntityKind,
        filters: &[Filter],
        after: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, CrmError> {
        let (access, filters, after) = (access.clone(), filters.to_vec(), after.to_owned());
        self.read_with(Box::new(move |db| {
            let seen = match access.visibility(kind) {
                Visibility::All => None,
                Visibility::Nothing => {
                    // Still a wrong filter is an error, not an empty page.
                    for f in &filters {
                        f.check(spec(kind))?;
                    }
                    return Ok(Vec::new());
                }
                Visibility::Where { sql, binds } => Some(Seen {
                    sql,
                    binds,
                    user: access.user_id.as_deref(),
                }),
            };
            rows::query(db, kind, &filters, seen, &after, limit)
        }))
        .await
    }
}

impl<T: Backend> Visible for T {}
