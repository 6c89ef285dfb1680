//! The CRM store (`crm.read`, `crm.write`).
//!
//! Writes are buffered for the step and committed with its result, so a step
//! that fails changes nothing; reads see the step's own writes.

use crate::__bindings::robota::plugin::crm as host;
use crate::{Company, Contact, Deal, EntityKind, EntityRef, Error};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Fetches one entity as any type that deserialises from its JSON object.
pub fn get<T: DeserializeOwned>(target: &EntityRef) -> Result<T, Error> {
    let json = host::get(target)?;
    Ok(serde_json::from_str(&json)?)
}

/// Fetches a deal.
pub fn get_deal(id: &str) -> Result<Deal, Error> {
    get(&EntityRef {
        kind: EntityKind::Deal,
        id: id.to_owned(),
    })
}

/// Fetches a company.
pub fn get_company(id: &str) -> Result<Company, Error> {
    get(&EntityRef {
        kind: EntityKind::Company,
        id: id.to_owned(),
    })
}

/// Fetches a contact.
pub fn get_contact(id: &str) -> Result<Contact, Error> {
    get(&EntityRef {
        kind: EntityKind::Contact,
        id: id.to_owned(),
    })
}

/// A search over one kind of entity; run it with [`Query::fetch`].
#[derive(Debug, Clone)]
pub struct Query {
    kind: EntityKind,
    filters: Vec<host::Filter>,
    limit: u32,
}

impl Query {
    /// Searches entities of `kind`, at most 100 unless [`Query::limit`] says otherwise.
    pub fn new(kind: EntityKind) -> Self {
        Query {
            kind,
            filters: Vec::new(),
            limit: 100,
        }
    }

    fn with(mut self, field: &str, op: host::FilterOp, value: impl Serialize) -> Self {
        let value = serde_json::to_string(&value).unwrap_or_else(|_| "null".to_owned());
        self.filters.push(host::Filter {
            field: field.to_owned(),
            op,
            value,
        });
        self
    }

    /// `field == value`.
    pub fn eq(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, host::FilterOp::Eq, value)
    }
    /// `field != value`.
    pub fn ne(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, host::FilterOp::Ne, value)
    }
    /// `field < value`.
    pub fn lt(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, host::FilterOp::Lt, value)
    }
    /// `field <= value`.
    pub fn le(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, host::FilterOp::Le, value)
    }
    /// `field > value`.
    pub fn gt(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, host::FilterOp::Gt, value)
    }
    /// `field >= value`.
    pub fn ge(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, host::FilterOp::Ge, value)
    }
    /// The text field contains `value`, ignoring case.
    pub fn contains(self, field: &str, value: &str) -> Self {
        self.with(field, host::FilterOp::Contains, value)
    }
    /// The field is empty.
    pub fn is_null(self, field: &str) -> Self {
        self.with(field, host::FilterOp::IsNull, ())
    }
    /// At most `n` results.
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = n;
        self
    }

    /// Runs the query; each result deserialises into `T`.
    pub fn fetch<T: DeserializeOwned>(self) -> Result<Vec<T>, Error> {
        let rows = host::query(&host::EntityQuery {
            kind: self.kind,
            filters: self.filters,
            limit: self.limit,
        })?;
        rows.iter()
            .map(|row| serde_json::from_str(row).map_err(Error::from))
            .collect()
    }
}

/// Creates an entity from the fields of `fields` (any value serialising to a JSON object).
pub fn create(kind: EntityKind, fields: &impl Serialize) -> Result<EntityRef, Error> {
    let json = serde_json::to_string(fields).map_err(|e| Error::InvalidInput(e.to_string()))?;
    Ok(host::create(kind, &json)?)
}

/// Changes the given fields of an entity; the others stay.
pub fn update(target: &EntityRef, fields: &impl Serialize) -> Result<(), Error> {
    let json = serde_json::to_string(fields).map_err(|e| Error::InvalidInput(e.to_string()))?;
    Ok(host::update(target, &json)?)
}

/// Links two entities; the link shows on both timelines.
pub fn link(from: &EntityRef, to: &EntityRef) -> Result<(), Error> {
    Ok(host::link(from, to)?)
}

/// Adds a note to an entity's timeline.
pub fn add_note(target: &EntityRef, text: &str) -> Result<(), Error> {
    Ok(host::add_note(target, text)?)
}

/// A file stored with an entity, such as an invoice's PDF.
pub use host::File;

/// Stores `file` with an entity, replacing one of the same name; committed
/// with the step.
pub fn attach_file(target: &EntityRef, file: &File) -> Result<(), Error> {
    Ok(host::attach_file(target, file)?)
}

/// The file `name` stored with an entity; `Error::NotFound` if it has none.
pub fn get_file(target: &EntityRef, name: &str) -> Result<File, Error> {
    Ok(host::get_file(target, name)?)
}
