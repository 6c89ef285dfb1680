//! What a process's templates and conditions see: the trigger's entity with
//! its related entities (`deal.company.inn`), the trigger, constants,
//! parameters and the outputs of earlier steps.
//!
//! Money travels as exact decimal strings. In conditions, decimal fields
//! become numbers so `deal.amount > 10000` compares; the conversion is exact
//! for ordering of any amount with up to 15 significant digits (an f64
//! keeps 15 decimal digits, and rounding to the nearest double is monotone),
//! which covers every sum a CRM holds. Templates see the exact strings.

use crate::crm::schema::{FieldType, spec};
use crate::crm::{CrmError, EntityKind, EntityRef, timestamp_text};
use crate::store::CrmStore;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::str::FromStr;

/// Fields every entity has besides those of its spec.
pub const SYSTEM_FIELDS: &[&str] = &[
    "id",
    "version",
    "created_at",
    "updated_at",
    "items",
    "custom_fields",
];

/// Convenience fields templates see besides the stored ones: a contact's
/// first e-mail and phone as `email` and `phone`, and its `full_name`, so a
/// process can write `deal.contact.email`.
pub fn derived_fields(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Contact => &["email", "phone", "full_name"],
        _ => &[],
    }
}

/// Adds the [`derived_fields`] to a record of `kind`.
fn derive(kind: EntityKind, record: &mut Map<String, Value>) {
    if kind != EntityKind::Contact {
        return;
    }
    let first = |r: &Map<String, Value>, list: &str| {
        r.get(list)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or(Value::String(String::new()))
    };
    let email = first(record, "emails");
    let phone = first(record, "phones");
    let name: Vec<&str> = ["last_name", "first_name", "middle_name"]
        .iter()
        .filter_map(|k| record.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .collect();
    let full_name = Value::String(name.join(" "));
    record.insert("email".into(), email);
    record.insert("phone".into(), phone);
    record.insert("full_name".into(), full_name);
}

/// The variable an entity of `kind` is known by in templates.
pub fn var_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::PaymentRequest => "payment_request",
        other => other.as_str(),
    }
}

/// The kind of the entity `kind.name` refers to (`deal.company`), if any.
pub fn relation(kind: EntityKind, name: &str) -> Option<EntityKind> {
    spec(kind).fields.iter().find_map(|f| match f.ty {
        FieldType::Ref(other) if f.name.strip_suffix("_id") == Some(name) => Some(other),
        _ => None,
    })
}

/// An entity with the entities its `*_id` fields name, one level deep.
/// A missing related entity is left out rather than failing the step.
pub async fn load_subject(store: &dyn CrmStore, target: &EntityRef) -> Result<Value, CrmError> {
    Ok(load_subject_read(store, target).await?.1)
}

/// [`load_subject`], also giving the entity's record as the store holds it.
pub async fn load_subject_read(
    store: &dyn CrmStore,
    target: &EntityRef,
) -> Result<(Map<String, Value>, Value), CrmError> {
    let stored = store
        .get(target)
        .await?
        .ok_or_else(|| CrmError::NotFound(target.clone()))?;
    let mut record = stored.clone();
    for field in spec(target.kind).fields {
        let FieldType::Ref(kind) = field.ty else {
            continue;
        };
        let (Some(name), Some(Value::String(id))) =
            (field.name.strip_suffix("_id"), record.get(field.name))
        else {
            continue;
        };
        let related = EntityRef {
            kind,
            id: id.clone(),
        };
        if let Some(mut r) = store.get(&related).await? {
            derive(kind, &mut r);
            record.insert(name.to_owned(), Value::Object(r));
        }
    }
    derive(target.kind, &mut record);
    Ok((stored, Value::Object(record)))
}

/// A copy of `record` (of `kind`, with related entities) whose decimal
/// fields are numbers, for conditions.
pub fn numeric_view(kind: EntityKind, record: &Value) -> Value {
    let Value::Object(map) = record else {
        return record.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let converted = match (spec(kind).field(k).map(|f| f.ty), v) {
            (Some(FieldType::Decimal), Value::String(s)) => rust_decimal::Decimal::from_str(s)
                .ok()
                .and_then(|d| serde_json::Number::from_f64(f64::try_from(d).ok()?))
                .map_or_else(|| v.clone(), Value::Number),
            (None, Value::Object(_)) => match relation(kind, k) {
                Some(related) => numeric_view(related, v),
                None => v.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), converted);
    }
    Value::Object(out)
}

/// The entity a for-each step is working on.
#[derive(Debug, Clone)]
pub struct Item {
    /// The variable it is known by.
    pub var: String,
    /// Its kind.
    pub kind: EntityKind,
    /// It, with its related entities.
    pub value: Value,
    /// Its position, from 0.
    pub index: usize,
    /// How many items there are.
    pub count: usize,
}

/// Everything one evaluation can read.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The trigger's entity with its related entities.
    pub subject: Option<(EntityKind, Value)>,
    /// The trigger as recorded on the run.
    pub trigger: Value,
    /// The process's constants.
    pub constants: Value,
    /// Manual or webhook parameters.
    pub params: Value,
    /// Earlier steps: id → {status, output}.
    pub steps: Map<String, Value>,
    /// The current item of a for-each step.
    pub item: Option<Item>,
    /// The run: id, process, version.
    pub run: Value,
    /// The engine's clock at evaluation.
    pub now: Option<DateTime<Utc>>,
    /// The records read from the store for this scope, as stored; an
    /// action's reads of them reuse them.
    pub read: Vec<(EntityRef, Map<String, Value>)>,
}

impl Scope {
    /// The context as JSON; `numeric` turns decimal fields into numbers (for conditions).
    pub fn to_value(&self, numeric: bool) -> Value {
        let now = self.now.unwrap_or_else(Utc::now);
        let mut ctx = json!({
            "trigger": self.trigger,
            "constants": self.constants,
            "params": self.params,
            "steps": self.steps,
            "run": self.run,
            "now": timestamp_text(now),
            // The company's day, not UTC's: at 01:00 in Moscow it is
            // already tomorrow's invoices that are issued.
            "today": now
                .with_timezone(&super::definition::DEFAULT_TIMEZONE)
                .format("%Y-%m-%d")
                .to_string(),
        });
        if let (Some((kind, record)), Value::Object(map)) = (&self.subject, &mut ctx) {
            let view = if numeric {
                numeric_view(*kind, record)
            } else {
                record.clone()
            };
            map.insert(var_name(*kind).to_owned(), view.clone());
            map.insert("entity".to_owned(), view);
        }
        if let (Some(item), Value::Object(map)) = (&self.item, &mut ctx) {
            let view = if numeric {
                numeric_view(item.kind, &item.value)
            } else {
                item.value.clone()
            };
            map.insert(item.var.clone(), view);
            map.insert(
                "loop".to_owned(),
                json!({ "index": item.index, "count": item.count }),
            );
        }
        ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::expr::Templates;

    fn deal(amount: &str) -> Value {
        json!({ "id": "d1", "amount": amount, "title": "Pumps",
                "company": { "id": "c1", "inn": "7707083893" } })
    }

    fn scope(amount: &str) -> Scope {
        Scope {
            subject: Some((EntityKind::Deal, deal(amount))),
            ..Scope::default()
        }
    }

    #[test]
    fn amounts_compare_exactly_at_the_boundary() {
        let t = Templates::new();
        let holds =
            |amount: &str, expr: &str| t.condition(expr, &scope(amount).to_value(true)).unwrap();
        assert!(!holds("10000.00", "deal.amount > 10000"));
        assert!(holds("10000.01", "deal.amount > 10000"));
        assert!(holds("10000.00", "deal.amount == 10000"));
        assert!(holds("9999999999999.99", "deal.amount > 9999999999999.98"));
    }

    #[test]
    fn templates_see_exact_strings_and_related_entities() {
        let t = Templates::new();
        let ctx = scope("10000.10").to_value(false);
        assert_eq!(
            t.render(
                "{{ deal.amount }} {{ deal.company.inn }} {{ entity.id }}",
                &ctx
            )
            .unwrap(),
            "10000.10 7707083893 d1"
        );
    }

    #[test]
    fn contacts_get_their_first_email_and_phone() {
        let mut c = json!({ "first_name": "Сергей", "last_name": "Кузнецов", "middle_name": "",
                            "emails": ["s@x.example", "t@x.example"], "phones": [] });
        let Value::Object(m) = &mut c else { panic!() };
        derive(EntityKind::Contact, m);
        assert_eq!(m["email"], "s@x.example");
        assert_eq!(m["phone"], "");
        assert_eq!(m["full_name"], "Кузнецов Сергей");
        assert!(derived_fields(EntityKind::Contact).contains(&"email"));
    }

    #[test]
    fn relations_come_from_ref_fields() {
        assert_eq!(
            relation(EntityKind::Deal, "company"),
            Some(EntityKind::Company)
        );
        assert_eq!(
            relation(EntityKind::Deal, "responsible"),
            Some(EntityKind::User)
        );
        assert_eq!(relation(EntityKind::Deal, "amount"), None);
        assert_eq!(var_name(EntityKind::PaymentRequest), "payment_request");
    }
}
