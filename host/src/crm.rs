//! The CRM domain: entity kinds and their fields, validation of what callers
//! write, stage rules and money. No SQL here; [`crate::store`] persists what
//! this module has checked.

pub mod changes;
pub mod commerceml;
pub mod custom_fields;
pub mod duplicates;
pub mod filter;
pub mod import;
pub mod money;
pub mod schema;
pub mod validate;
pub mod wrong;

use serde::{Deserialize, Serialize};
use std::fmt;

pub use filter::{Filter, FilterOp};
pub use schema::{EntitySpec, FieldSpec, FieldType};
pub use wrong::{Clash, Wrong};

/// The kinds of CRM entities reachable through the API and the plugin contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityKind {
    /// An inbound request.
    Lead,
    /// A person.
    Contact,
    /// A legal entity or sole trader.
    Company,
    /// A sale in a pipeline.
    Deal,
    /// A catalogue item.
    Product,
    /// An invoice to a buyer.
    Invoice,
    /// An outgoing payment awaiting approval.
    PaymentRequest,
    /// A to-do for a user.
    Task,
    /// A CRM user.
    User,
}

impl EntityKind {
    /// Every kind, in a stable order.
    pub const ALL: [EntityKind; 9] = [
        EntityKind::Lead,
        EntityKind::Contact,
        EntityKind::Company,
        EntityKind::Deal,
        EntityKind::Product,
        EntityKind::Invoice,
        EntityKind::PaymentRequest,
        EntityKind::Task,
        EntityKind::User,
    ];

    /// The kind's name as it appears in JSON, the timeline and events.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Lead => "lead",
            EntityKind::Contact => "contact",
            EntityKind::Company => "company",
            EntityKind::Deal => "deal",
            EntityKind::Product => "product",
            EntityKind::Invoice => "invoice",
            EntityKind::PaymentRequest => "payment-request",
            EntityKind::Task => "task",
            EntityKind::User => "user",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to one entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    /// Its kind.
    pub kind: EntityKind,
    /// Its id.
    pub id: String,
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

/// Why a CRM operation was refused. Each message names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmError {
    /// A field's value is wrong; `field` names it (`company.inn`).
    #[error("{field}: {reason}")]
    InvalidField {
        /// `kind.field`.
        field: String,
        /// What is wrong with it.
        reason: Wrong,
    },
    /// The input is wrong as a whole.
    #[error("{0}")]
    Invalid(String),
    /// Moving into a deal stage or a lead status needs fields the record
    /// lacks.
    #[error("{of} `{stage}` requires fields that are empty: {}", .missing.join(", "))]
    MissingStageFields {
        /// The kind of record.
        kind: EntityKind,
        /// "stage" (a deal's) or "status" (a lead's, a payment request's).
        of: &'static str,
        /// The stage's or status's code.
        stage: String,
        /// The fields that are empty.
        missing: Vec<String>,
    },
    /// Records like the one being written exist; the caller picks one of
    /// them, merges, or creates anyway.
    #[error("{} looks like a duplicate of {}", .kind, .candidates.iter().map(|c| format!("{} {} `{}` (same {})", c.kind, c.id, c.name, c.matched.join(", "))).collect::<Vec<_>>().join("; "))]
    Duplicates {
        /// What was being written.
        kind: EntityKind,
        /// The stored records it matches.
        candidates: Vec<duplicates::Candidate>,
    },
    /// The entity does not exist.
    #[error("{0} not found")]
    NotFound(EntityRef),
    /// The entity has no file of that name.
    #[error("{target} has no file named `{name}`")]
    FileNotFound {
        /// The entity.
        target: EntityRef,
        /// The file's name.
        name: String,
    },
    /// The change clashes with the current state.
    #[error("conflict: {0}")]
    Conflict(Clash),
    /// The database failed; the message says how.
    #[error("storage failed: {0}")]
    Storage(String),
}

impl CrmError {
    /// An [`CrmError::InvalidField`] for `kind.field`.
    pub fn field(kind: EntityKind, field: &str, reason: impl Into<Wrong>) -> CrmError {
        CrmError::InvalidField {
            field: format!("{}.{field}", kind.as_str()),
            reason: reason.into(),
        }
    }
}

/// The longest text one field, custom field or timeline note may hold, in
/// bytes (a long comment fits; a document belongs in a file).
pub const MAX_TEXT_BYTES: usize = 64 << 10;

/// The most line items one deal or invoice may have.
pub const MAX_ITEMS: usize = 1000;

/// `Ok` if `text` fits [`MAX_TEXT_BYTES`]; the error names `what`.
pub fn check_text_size(what: &str, text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "{what} is {} bytes; at most {MAX_TEXT_BYTES} are allowed",
            text.len()
        ));
    }
    Ok(())
}

/// A new time-ordered id (UUIDv7): made by the host so a buffered create can
/// return its id before anything is written.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now by the server clock, as stored: RFC 3339 UTC with microseconds, so
/// text order is time order.
pub fn now_text() -> String {
    timestamp_text(crate::clock::now())
}

/// A timestamp as stored.
pub fn timestamp_text(at: chrono::DateTime<chrono::Utc>) -> String {
    // The same text as the format `%Y-%m-%dT%H:%M:%S%.6fZ`, without parsing
    // a format string on every call (the engine writes several per step).
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::timestamp_text;
    use chrono::{TimeZone as _, Utc};

    #[test]
    fn timestamps_are_utc_with_six_fraction_digits_and_sort_as_text() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(timestamp_text(at), "2026-01-02T03:04:05.000000Z");
        let later = at + chrono::Duration::microseconds(678_901);
        assert_eq!(timestamp_text(later), "2026-01-02T03:04:05.678901Z");
        // Nanoseconds are cut to microseconds, never rounded up past them.
        let nanos = at + chrono::Duration::nanoseconds(999);
        assert_eq!(timestamp_text(nanos), "2026-01-02T03:04:05.000000Z");
        assert!(timestamp_text(at) < timestamp_text(later));
    }
}
