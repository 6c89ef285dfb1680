//! Converting a lead (seed 002): into Contact + Company + Deal for a legal
//! entity, or Contact + Deal for a private person, in one transaction, after
//! a duplicate check among contacts and companies. The lead's fields are
//! copied; those the targets lack go into custom fields (defined on the way
//! and listed in the answer); everything is linked to everything, and the
//! lead becomes `converted` with the new ids.

use super::apply::LogRows;
use super::backend::Backend;
use super::db::{Db, Dialect, Sql, TxEnd};
use super::duplicates::{candidates, lock_checks};
use super::required::load_defs;
use super::rows;
use super::sqlite::apply_changes;
use crate::crm::changes::Change;
use crate::crm::duplicates::{email_key, phone_key};
use crate::crm::schema::spec;
use crate::crm::validate::normalize_patch;
use crate::crm::{Clash, CrmError, EntityKind, EntityRef, new_id};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What the lead becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Contact + Company + Deal.
    Company,
    /// Contact + Deal.
    Person,
}

/// Existing records to use instead of new ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Existing {
    /// A stored contact.
    pub contact_id: Option<String>,
    /// A stored company.
    pub company_id: Option<String>,
    /// On a merge: the fields where the lead's value replaces the stored
    /// one (`contact.first_name`, `company.region`); the others only fill
    /// what is empty.
    #[serde(default)]
    pub take: Vec<String>,
}

/// `POST /api/v1/leads/{id}/convert`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// company or person.
    pub into: Target,
    /// Fields of the new contact over those copied from the lead.
    #[serde(default)]
    pub contact: Map<String, Value>,
    /// Fields of the new company over those copied from the lead.
    #[serde(default)]
    pub company: Map<String, Value>,
    /// Fields of the new deal over those copied from the lead.
    #[serde(default)]
    pub deal: Map<String, Value>,
    /// Link these stored records as they are.
    #[serde(default)]
    pub use_existing: Existing,
    /// Use these stored records, filling their empty fields from the lead
    /// and uniting phones and e-mails.
    #[serde(default)]
    pub merge: Existing,
    /// Create new records even though they look like stored ones.
    #[serde(default)]
    pub create_anyway: bool,
}

/// A lead field copied into a custom field of a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopiedField {
    /// The target kind.
    pub kind: EntityKind,
    /// The custom field.
    pub name: String,
    /// The value copied.
    pub value: Value,
    /// Whether the conversion defined the field (it did not exist).
    pub defined_now: bool,
}

/// What a conversion made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Converted {
    /// The lead.
    pub lead_id: String,
    /// The deal (always new).
    pub deal_id: String,
    /// The contact.
    pub contact_id: String,
    /// created, existing or merged.
    pub contact: &'static str,
    /// The company, for a legal entity.
    pub company_id: Option<String>,
    /// created, existing or merged.
    pub company: Option<&'static str>,
    /// Lead fields the targets lacked, copied into custom fields.
    pub custom_fields: Vec<CopiedField>,
}

/// Lead conversion.
#[async_trait::async_trait]
pub trait Conversions: Backend {
    /// Converts lead `lead_id` as `conversion` says; all of it or nothing.
    async fn convert_lead(
        &self,
        lead_id: &str,
        conversion: &Conversion,
    ) -> Result<Converted, CrmError> {
        let (lead_id, conversion) = (lead_id.to_owned(), conversion.clone());
        self.write_with(Box::new(move |db| {
            // On PostgreSQL: the lead is converted once however many nodes
            // are asked at once, and the contact and company it makes are
            // checked for duplicates with the other checks held off (in
            // one order everywhere: contacts, then companies).
            if db.dialect() == Dialect::Postgres {
                db.query(
                    "SELECT 1 FROM leads WHERE id = ?1 FOR UPDATE",
                    &[Sql::from(&lead_id)],
                )?;
            }
            lock_checks(db, EntityKind::Contact)?;
            lock_checks(db, EntityKind::Company)?;
            convert(db, &lead_id, &conversion).map(|done| (done, TxEnd::Commit))
        }))
        .await
    }
}

impl<T: Backend> Conversions for T {}

fn convert(c: &dyn Db, lead_id: &str, conv: &Conversion) -> Result<Converted, CrmError> {
    let lead_ref = EntityRef {
        kind: EntityKind::Lead,
        id: lead_id.to_owned(),
    };
    let lead = rows::load(c, &lead_ref)?.ok_or_else(|| CrmError::NotFound(lead_ref.clone()))?;
    let text = |k: &str| {
        lead.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match text("status").as_deref() {
        Some("converted") => {
            return Err(CrmError::Conflict(Clash::AlreadyConverted {
                lead: lead_id.to_string(),
                deal: text("converted_deal_id").unwrap_or_default(),
            }));
        }
        Some("junk") => {
            return Err(CrmError::Conflict(Clash::JunkLead {
                lead: lead_id.to_string(),
            }));
        }
        _ => {}
    }
    let company_wanted = conv.into == Target::Company;
    if !company_wanted
        && (conv.use_existing.company_id.is_some()
            || conv.merge.company_id.is_some()
            || !conv.company.is_empty())
    {
        return Err(CrmError::Invalid(
            "a private person has no company: convert `into: company`, or drop the company fields"
                .into(),
        ));
    }

    let mut contact = contact_from_lead(&text);
    contact.extend(conv.contact.clone());
    let mut company = Map::new();
    if company_wanted {
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                company.insert(k.to_owned(), Value::String(v));
            }
        };
        put("kind", Some("organisation".into()));
        // Seed 002: the company is named after the lead until the INN
        // lookup gives it its official name.
        put("short_name", text("title"));
        put("phone", text("phone"));
        put("email", text("email"));
        put("region", text("city"));
        put("responsible_id", text("responsible_id"));
        company.extend(conv.company.clone());
    }
    // Wrong fields are told before duplicates are looked for.
    let contact_norm = normalize_patch(EntityKind::Contact, &contact)?;
    let company_norm = normalize_patch(EntityKind::Company, &company)?;

    let chosen_contact = conv.use_existing.contact_id.is_some() || conv.merge.contact_id.is_some();
    let chosen_company = conv.use_existing.company_id.is_some() || conv.merge.company_id.is_some();
    if !conv.create_anyway {
        let mut found = Vec::new();
        if !chosen_contact {
            found.extend(candidates(c, EntityKind::Contact, &contact_norm, None)?);
        }
        if company_wanted && !chosen_company {
            found.extend(candidates(c, EntityKind::Company, &company_norm, None)?);
        }
        if !found.is_empty() {
            for candidate in &mut found {
                let proposed = match candidate.kind {
                    EntityKind::Company => &company_norm,
                    _ => &contact_norm,
                };
                candidate.differs = differences(c, candidate, proposed)?;
            }
            return Err(CrmError::Duplicates {
                kind: EntityKind::Lead,
                candidates: found,
            });
        }
    }

    // Lead fields without a home in the targets go into custom fields.
    let mut copied = Vec::new();
    let mut deal_custom = Map::new();
    let lead_defs = load_defs(c, EntityKind::Lead)?;
    let mut extras: Vec<(
        EntityKind,
        String,
        Value,
        Option<&crate::crm::custom_fields::CustomFieldDef>,
    )> = Vec::new();
    for field in ["source", "topic"] {
        if let Some(v) = text(field) {
            extras.push((EntityKind::Deal, field.to_owned(), Value::String(v), None));
        }
    }
    if !company_wanted && let Some(city) = text("city") {
        extras.push((
            EntityKind::Contact,
            "city".into(),
            Value::String(city),
            None,
        ));
    }
    if let Some(Value::Object(custom)) = lead.get("custom_fields") {
        for (name, value) in custom.iter().filter(|(_, v)| !v.is_null()) {
            let def = lead_defs.iter().find(|d| d.name == *name);
            extras.push((EntityKind::Deal, name.clone(), value.clone(), def));
        }
    }
    let mut contact_custom = Map::new();
    for (kind, name, value, lead_def) in extras {
        let defined_now = ensure_custom_field(c, kind, &name, lead_def)?;
        match kind {
            EntityKind::Contact => contact_custom.insert(name.clone(), value.clone()),
            _ => deal_custom.insert(name.clone(), value.clone()),
        };
        copied.push(CopiedField {
            kind,
            name,
            value,
            defined_now,
        });
    }
    if !contact_custom.is_empty() {
        contact.insert("custom_fields".into(), Value::Object(contact_custom));
    }
    let mut changes = Vec::new();
    let (company_id, company_state) = if company_wanted {
        let (id, state) = resolve(
            c,
            EntityKind::Company,
            &conv.use_existing.company_id,
            &conv.merge.company_id,
            &taken(&conv.merge.take, "company"),
            &company,
            &mut changes,
        )?;
        (Some(id), Some(state))
    } else {
        (None, None)
    };
    if let Some(id) = &company_id {
        contact.insert("company_id".into(), Value::String(id.clone()));
    }
    let (contact_id, contact_state) = resolve(
        c,
        EntityKind::Contact,
        &conv.use_existing.contact_id,
        &conv.merge.contact_id,
        &taken(&conv.merge.take, "contact"),
        &contact,
        &mut changes,
    )?;

    let deal_id = new_id();
    let mut deal = Map::new();
    deal.insert("title".into(), json!(text("title")));
    deal.insert("contact_id".into(), json!(contact_id));
    if let Some(id) = &company_id {
        deal.insert("company_id".into(), json!(id));
    }
    if let Some(r) = text("responsible_id") {
        deal.insert("responsible_id".into(), json!(r));
    }
    let mut overrides = conv.deal.clone();
    if let Some(Value::Object(given)) = overrides.remove("custom_fields") {
        deal_custom.extend(given);
    }
    if !deal_custom.is_empty() {
        deal.insert("custom_fields".into(), Value::Object(deal_custom));
    }
    deal.extend(overrides);
    changes.push(Change::Create {
        kind: EntityKind::Deal,
        id: deal_id.clone(),
        fields: deal,
    });

    let contact_ref = EntityRef {
        kind: EntityKind::Contact,
        id: contact_id.clone(),
    };
    let deal_ref = EntityRef {
        kind: EntityKind::Deal,
        id: deal_id.clone(),
    };
    let company_ref = company_id.as_ref().map(|id| EntityRef {
        kind: EntityKind::Company,
        id: id.clone(),
    });
    let mut pairs = vec![
        (lead_ref.clone(), contact_ref.clone()),
        (lead_ref.clone(), deal_ref.clone()),
        (deal_ref.clone(), contact_ref.clone()),
    ];
    if let Some(company) = &company_ref {
        pairs.push((lead_ref.clone(), company.clone()));
        pairs.push((deal_ref.clone(), company.clone()));
        pairs.push((contact_ref.clone(), company.clone()));
    }
    changes.extend(
        pairs
            .into_iter()
            .map(|(from, to)| Change::Link { from, to }),
    );
    let mut done = Map::new();
    done.insert("status".into(), json!("converted"));
    done.insert("converted_deal_id".into(), json!(deal_id));
    done.insert("converted_contact_id".into(), json!(contact_id));
    done.insert("converted_company_id".into(), json!(company_id));
    changes.push(Change::Update {
        target: lead_ref.clone(),
        fields: done,
    });

    let (_, mut log): (_, LogRows) = apply_changes(c, &changes)?;
    log.event(
        &lead_ref,
        "converted",
        &json!({ "deal_id": deal_id, "contact_id": contact_id, "company_id": company_id }),
    )?;
    log.write(c)?;
    Ok(Converted {
        lead_id: lead_id.to_owned(),
        deal_id,
        contact_id,
        contact: contact_state,
        company_id,
        company: company_state,
        custom_fields: copied,
    })
}

/// The contact fields a lead gives: its person's name split (two words are
/// "Имя Фамилия", three are "Фамилия Имя Отчество"), phone, e-mail and the
/// responsible manager.
fn contact_from_lead(text: &dyn Fn(&str) -> Option<String>) -> Map<String, Value> {
    let mut contact = Map::new();
    let name = text("name").unwrap_or_default();
    let words: Vec<&str> = name.split_whitespace().collect();
    let (first, last, middle) = match words.as_slice() {
        [] => (None, None, None),
        [one] => (Some(*one), None, None),
        [first, last] => (Some(*first), Some(*last), None),
        [last, first, rest @ ..] => (Some(*first), Some(*last), Some(rest.join(" "))),
    };
    if let Some(f) = first {
        contact.insert("first_name".into(), json!(f));
    }
    if let Some(l) = last {
        contact.insert("last_name".into(), json!(l));
    }
    if let Some(m) = middle {
        contact.insert("middle_name".into(), json!(m));
    }
    if let Some(p) = text("phone") {
        contact.insert("phones".into(), json!([p]));
    }
    if let Some(e) = text("email") {
        contact.insert("emails".into(), json!([e]));
    }
    if let Some(r) = text("responsible_id") {
        contact.insert("responsible_id".into(), json!(r));
    }
    contact
}

/// The record a conversion uses for `kind`: a stored one as it is, a stored
/// one with the lead's values merged in, or a new one; adds the change.
fn resolve(
    c: &dyn Db,
    kind: EntityKind,
    existing: &Option<String>,
    merge: &Option<String>,
    take: &[&str],
    fields: &Map<String, Value>,
    changes: &mut Vec<Change>,
) -> Result<(String, &'static str), CrmError> {
    let which = if existing.is_some() {
        "use_existing"
    } else {
        "merge"
    };
    if let Some(id) = existing.as_ref().or(merge.as_ref()) {
        let target = EntityRef {
            kind,
            id: id.clone(),
        };
        let Some(stored) = rows::load(c, &target)? else {
            return Err(CrmError::Invalid(format!(
                "{which}.{kind}_id: no {kind} with id `{id}`"
            )));
        };
        if existing.is_some() {
            return Ok((id.clone(), "existing"));
        }
        let mut patch = fill_blanks(kind, &stored, fields);
        for field in take {
            match fields.get(*field) {
                Some(v) => {
                    patch.insert((*field).to_owned(), v.clone());
                }
                None => {
                    return Err(CrmError::Invalid(format!(
                        "merge.take: the lead gives no `{kind}.{field}` to take"
                    )));
                }
            }
        }
        if !patch.is_empty() {
            changes.push(Change::Update {
                target,
                fields: patch,
            });
        }
        return Ok((id.clone(), "merged"));
    }
    let id = new_id();
    changes.push(Change::Create {
        kind,
        id: id.clone(),
        fields: fields.clone(),
    });
    Ok((id, "created"))
}

/// The fields of `take` (`contact.first_name`) that are about `kind`.
fn taken<'a>(take: &'a [String], kind: &str) -> Vec<&'a str> {
    take.iter()
        .filter_map(|t| t.strip_prefix(kind)?.strip_prefix('.'))
        .collect()
}

/// Where `candidate`'s stored record and `proposed` (what the lead would
/// write) disagree: scalar fields both have, with different values. Lists
/// (phones, e-mails) are united by a merge, so they are not choices.
fn differences(
    c: &dyn Db,
    candidate: &crate::crm::duplicates::Candidate,
    proposed: &Map<String, Value>,
) -> Result<Vec<crate::crm::duplicates::Difference>, CrmError> {
    let target = EntityRef {
        kind: candidate.kind,
        id: candidate.id.clone(),
    };
    let Some(stored) = rows::load(c, &target)? else {
        return Ok(Vec::new());
    };
    let spec = spec(candidate.kind);
    Ok(proposed
        .iter()
        .filter(|(name, value)| {
            !matches!(
                name.as_str(),
                "kind" | "responsible_id" | "company_id" | "custom_fields"
            ) && !value.is_null()
                && spec.field(name).is_some_and(|f| !f.ty.is_list())
                && stored.get(*name) != Some(value)
        })
        .map(|(name, value)| crate::crm::duplicates::Difference {
            field: name.clone(),
            stored: stored.get(name).cloned().unwrap_or(Value::Null),
            lead: value.clone(),
        })
        .collect())
}

/// What `new` adds to `stored`: fields `stored` has empty, and list fields
/// (phones, e-mails) united without repeating a number or an address.
pub(super) fn fill_blanks(
    kind: EntityKind,
    stored: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Map<String, Value> {
    let spec = spec(kind);
    let mut patch = Map::new();
    for (name, value) in new {
        let old = stored.get(name).unwrap_or(&Value::Null);
        match spec.field(name).map(|f| f.ty) {
            Some(ty) if ty.is_list() => {
                let mut list = old.as_array().cloned().unwrap_or_default();
                let key = |v: &Value| {
                    let s = v.as_str().unwrap_or_default();
                    phone_key(s)
                        .or_else(|| email_key(s))
                        .unwrap_or_else(|| s.to_owned())
                };
                let before = list.len();
                for v in value.as_array().into_iter().flatten() {
                    if !list.iter().any(|o| key(o) == key(v)) {
                        list.push(v.clone());
                    }
                }
                if list.len() > before {
                    patch.insert(name.clone(), Value::Array(list));
                }
            }
            _ if name == "custom_fields" => {
                let mut add = Map::new();
                for (k, v) in value.as_object().into_iter().flatten() {
                    if stored
                        .get("custom_fields")
                        .and_then(|c| c.get(k))
                        .is_none_or(Value::is_null)
                    {
                        add.insert(k.clone(), v.clone());
                    }
                }
                if !add.is_empty() {
                    patch.insert(name.clone(), Value::Object(add));
                }
            }
            _ => {
                let empty = match old {
                    Value::Null => true,
                    Value::String(s) => s.trim().is_empty(),
                    _ => false,
                };
                if empty && !value.is_null() {
                    patch.insert(name.clone(), value.clone());
                }
            }
        }
    }
    patch
}

/// Defines custom field `name` on `kind` if it is not: like the lead's own
/// definition when the value came from one, else as text. True if defined now.
fn ensure_custom_field(
    c: &dyn Db,
    kind: EntityKind,
    name: &str,
    like: Option<&crate::crm::custom_fields::CustomFieldDef>,
) -> Result<bool, CrmError> {
    if load_defs(c, kind)?.iter().any(|d| d.name == name) {
        return Ok(false);
    }
    let (label, ty, options) = match like {
        Some(d) => (d.label.clone(), d.ty.clone(), d.options.clone()),
        None => (
            format!("{name} (from the lead)"),
            "text".to_owned(),
            Vec::new(),
        ),
    };
    c.execute(
        "INSERT INTO custom_field_defs (id, entity_kind, code, name, type, options) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            Sql::Text(new_id()),
            Sql::from(kind.as_str()),
            Sql::from(name),
            Sql::from(label),
            Sql::from(ty),
            Sql::Text(serde_json::to_string(&options).unwrap_or_else(|_| "[]".into())),
        ],
    )?;
    Ok(true)
}
