//! Checking and normalising what callers write, before anything is stored.
//!
//! Two passes: [`normalize_patch`] checks each given field on its own (type,
//! format, checksum) and returns it in stored form; [`check_record`] checks the
//! whole record after the patch is merged (required fields, and rules that
//! join fields, such as an account key computed with the BIK).

use super::money::money_text;
use super::schema::{EntitySpec, FieldSpec, FieldType, PAYMENT_REQUEST_REQUIRED, VAT_RATES, spec};
use super::{CrmError, EntityKind, MAX_ITEMS, MAX_TEXT_BYTES, Wrong, timestamp_text};
use robota_requisites as req;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::str::FromStr;

/// System fields every record has and callers cannot set (but `custom_fields`).
pub const SYSTEM_FIELDS: &[&str] = &["id", "version", "created_at", "updated_at"];

/// Checks every field of `patch` on its own and returns it normalised
/// (decimals in canonical form, timestamps in UTC, phones trimmed).
pub fn normalize_patch(
    kind: EntityKind,
    patch: &Map<String, Value>,
) -> Result<Map<String, Value>, CrmError> {
    let spec = spec(kind);
    let mut out = Map::new();
    for (name, value) in patch {
        check_sizes(kind, name, value)?;
        if name == "custom_fields" {
            out.insert(name.clone(), normalize_custom_fields(kind, value)?);
            continue;
        }
        if SYSTEM_FIELDS.contains(&name.as_str()) {
            return Err(CrmError::field(kind, name, Wrong::SetByHost));
        }
        let Some(field) = spec.field(name) else {
            return Err(CrmError::field(kind, name, Wrong::NoSuchField));
        };
        if !field.writable {
            return Err(CrmError::field(kind, name, Wrong::Computed));
        }
        if value.is_null() {
            if field.required {
                return Err(CrmError::field(kind, name, Wrong::Required));
            }
            out.insert(name.clone(), Value::Null);
            continue;
        }
        let normalized = normalize_value(kind, field, value)?;
        out.insert(name.clone(), normalized);
    }
    Ok(out)
}

/// Every text inside `value` fits [`MAX_TEXT_BYTES`] and a list of items
/// [`MAX_ITEMS`]; the error names the field (`deal.items[3].name`).
fn check_sizes(kind: EntityKind, name: &str, value: &Value) -> Result<(), CrmError> {
    match value {
        Value::String(s) => check_size(kind, name, s),
        Value::Array(list) => {
            if list.len() > MAX_ITEMS {
                return Err(CrmError::field(
                    kind,
                    name,
                    Wrong::TooMany {
                        got: list.len(),
                        max: MAX_ITEMS,
                    },
                ));
            }
            for (i, v) in list.iter().enumerate() {
                check_sizes(kind, &format!("{name}[{i}]"), v)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            if map.len() > MAX_ITEMS {
                return Err(CrmError::field(
                    kind,
                    name,
                    Wrong::TooMany {
                        got: map.len(),
                        max: MAX_ITEMS,
                    },
                ));
            }
            for (k, v) in map {
                check_size(kind, name, k)?;
                check_sizes(kind, &format!("{name}.{k}"), v)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn normalize_custom_fields(kind: EntityKind, value: &Value) -> Result<Value, CrmError> {
    let Value::Object(map) = value else {
        return Err(CrmError::field(kind, "custom_fields", Wrong::NotObject));
    };
    for (code, v) in map {
        if v.is_object() || v.is_array() {
            return Err(CrmError::field(
                kind,
                &format!("custom_fields.{code}"),
                Wrong::NotScalar,
            ));
        }
    }
    Ok(value.clone())
}

/// `Ok` if the text fits [`MAX_TEXT_BYTES`].
fn check_size(kind: EntityKind, name: &str, text: &str) -> Result<(), CrmError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(CrmError::field(
            kind,
            name,
            Wrong::TooLong {
                bytes: text.len(),
                max: MAX_TEXT_BYTES,
            },
        ));
    }
    Ok(())
}

/// An e-mail address, trimmed, or why it is not one.
fn check_email(text: &str) -> Result<String, Wrong> {
    let s = text.trim();
    let ok = s.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !s.contains(char::is_whitespace)
    });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(Wrong::NotEmail {
            value: s.to_owned(),
        })
    }
}

/// A phone number, trimmed, or why it is not one.
fn check_phone(text: &str) -> Result<String, Wrong> {
    let s = text.trim();
    let digits = s.chars().filter(char::is_ascii_digit).count();
    if digits < 5 || !s.chars().all(|c| c.is_ascii_digit() || " +()-".contains(c)) {
        Err(Wrong::NotPhone {
            value: s.to_owned(),
        })
    } else {
        Ok(s.to_owned())
    }
}

fn text<'a>(kind: EntityKind, field: &FieldSpec, value: &'a Value) -> Result<&'a str, CrmError> {
    value.as_str().ok_or_else(|| {
        CrmError::field(
            kind,
            field.name,
            Wrong::NotText {
                got: value.to_string(),
            },
        )
    })
}

/// A decimal from a JSON string or integer; floats are refused because they
/// cannot carry money exactly.
pub fn parse_decimal(kind: EntityKind, name: &str, value: &Value) -> Result<Decimal, CrmError> {
    match value {
        Value::String(s) => Decimal::from_str(s.trim())
            .map_err(|_| CrmError::field(kind, name, Wrong::NotDecimal { value: s.clone() })),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            Decimal::from_str(&n.to_string()).map_err(|_| {
                CrmError::field(
                    kind,
                    name,
                    Wrong::OutOfRange {
                        value: n.to_string(),
                    },
                )
            })
        }
        Value::Number(n) => Err(CrmError::field(
            kind,
            name,
            Wrong::Float {
                value: n.to_string(),
            },
        )),
        other => Err(CrmError::field(
            kind,
            name,
            Wrong::NotDecimalText {
                got: other.to_string(),
            },
        )),
    }
}

fn requisite<T>(
    kind: EntityKind,
    name: &str,
    r: Result<T, req::RequisiteError>,
) -> Result<T, CrmError> {
    r.map_err(|e| CrmError::field(kind, name, e))
}

fn normalize_value(kind: EntityKind, field: &FieldSpec, value: &Value) -> Result<Value, CrmError> {
    let name = field.name;
    Ok(match field.ty {
        FieldType::Text | FieldType::Pipeline | FieldType::Stage => {
            let s = text(kind, field, value)?.trim();
            if s.is_empty() && field.required {
                return Err(CrmError::field(kind, name, Wrong::Required));
            }
            Value::String(s.to_owned())
        }
        FieldType::Ref(_) => {
            let s = text(kind, field, value)?.trim();
            if s.is_empty() {
                return Err(CrmError::field(kind, name, Wrong::EmptyId));
            }
            Value::String(s.to_owned())
        }
        FieldType::Email => Value::String(
            check_email(text(kind, field, value)?).map_err(|m| CrmError::field(kind, name, m))?,
        ),
        FieldType::Phone => Value::String(
            check_phone(text(kind, field, value)?).map_err(|m| CrmError::field(kind, name, m))?,
        ),
        FieldType::Decimal => Value::String(money_text(parse_decimal(kind, name, value)?)),
        FieldType::Currency => {
            let s = text(kind, field, value)?;
            if s.len() != 3 || !s.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(CrmError::field(
                    kind,
                    name,
                    Wrong::NotCurrency {
                        value: s.to_owned(),
                    },
                ));
            }
            Value::String(s.to_owned())
        }
        FieldType::Date => {
            let s = text(kind, field, value)?;
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                CrmError::field(
                    kind,
                    name,
                    Wrong::NotDate {
                        value: s.to_owned(),
                    },
                )
            })?;
            Value::String(s.to_owned())
        }
        FieldType::Timestamp => {
            let s = text(kind, field, value)?;
            let at = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
                CrmError::field(
                    kind,
                    name,
                    Wrong::NotTimestamp {
                        value: s.to_owned(),
                    },
                )
            })?;
            Value::String(timestamp_text(at.with_timezone(&chrono::Utc)))
        }
        FieldType::Bool => match value {
            Value::Bool(b) => Value::Bool(*b),
            other => {
                return Err(CrmError::field(
                    kind,
                    name,
                    Wrong::NotBool {
                        got: other.to_string(),
                    },
                ));
            }
        },
        FieldType::Integer => match value.as_i64() {
            Some(n) => Value::from(n),
            None => {
                return Err(CrmError::field(
                    kind,
                    name,
                    Wrong::NotWholeNumber {
                        got: value.to_string(),
                    },
                ));
            }
        },
        FieldType::Enum(allowed) => {
            let s = text(kind, field, value)?;
            if !allowed.contains(&s) {
                return Err(CrmError::field(
                    kind,
                    name,
                    Wrong::NotOneOf {
                        value: s.to_owned(),
                        allowed: allowed.iter().map(|a| (*a).to_owned()).collect(),
                    },
                ));
            }
            Value::String(s.to_owned())
        }
        FieldType::EntityKindName => {
            let s = text(kind, field, value)?;
            if EntityKind::parse(s).is_none() {
                return Err(CrmError::field(
                    kind,
                    name,
                    Wrong::NotEntityKind {
                        value: s.to_owned(),
                    },
                ));
            }
            Value::String(s.to_owned())
        }
        FieldType::TextList | FieldType::EmailList | FieldType::PhoneList => {
            let Value::Array(items) = value else {
                return Err(CrmError::field(
                    kind,
                    name,
                    Wrong::NotTextList {
                        found: value.to_string(),
                    },
                ));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let s = item.as_str().ok_or_else(|| {
                    CrmError::field(
                        kind,
                        name,
                        Wrong::NotTextList {
                            found: item.to_string(),
                        },
                    )
                })?;
                let entry = match field.ty {
                    FieldType::EmailList => check_email(s),
                    FieldType::PhoneList => check_phone(s),
                    _ => Ok(s.trim().to_owned()),
                }
                .map_err(|m| CrmError::field(kind, &format!("{name}[{i}]"), m))?;
                out.push(Value::String(entry));
            }
            Value::Array(out)
        }
        FieldType::Json => {
            if !value.is_object() {
                return Err(CrmError::field(kind, name, Wrong::NotObject));
            }
            value.clone()
        }
        FieldType::Inn => {
            let s = text(kind, field, value)?.trim();
            requisite(kind, name, req::check_inn(s))?;
            Value::String(s.to_owned())
        }
        FieldType::Kpp => {
            let s = text(kind, field, value)?.trim();
            requisite(kind, name, req::check_kpp(s))?;
            Value::String(s.to_owned())
        }
        FieldType::Ogrn => {
            let s = text(kind, field, value)?.trim();
            requisite(kind, name, req::check_ogrn(s))?;
            Value::String(s.to_owned())
        }
        FieldType::Bik => {
            let s = text(kind, field, value)?.trim();
            requisite(kind, name, req::check_bik(s))?;
            Value::String(s.to_owned())
        }
        FieldType::SettlementAccount | FieldType::CorrespondentAccount => {
            // The key needs the BIK, which may come in another patch: the
            // shape is checked here, the key in check_record.
            let s = text(kind, field, value)?.trim();
            if s.len() != 20 || !s.chars().all(|c| c.is_ascii_digit()) {
                return Err(CrmError::field(
                    kind,
                    name,
                    Wrong::NotAccount {
                        value: s.to_owned(),
                    },
                ));
            }
            Value::String(s.to_owned())
        }
        FieldType::Items => normalize_items(kind, value)?,
    })
}

fn normalize_items(kind: EntityKind, value: &Value) -> Result<Value, CrmError> {
    let Value::Array(items) = value else {
        return Err(CrmError::field(kind, "items", Wrong::NotItems));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |f: &str| format!("items[{i}].{f}");
        let Value::Object(obj) = item else {
            return Err(CrmError::field(
                kind,
                &format!("items[{i}]"),
                Wrong::NotObject,
            ));
        };
        for key in obj.keys() {
            if ![
                "product_id",
                "name",
                "quantity",
                "unit",
                "price",
                "vat_rate",
            ]
            .contains(&key.as_str())
            {
                return Err(CrmError::field(kind, &at(key), Wrong::NoSuchField));
            }
        }
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if name.is_empty() {
            return Err(CrmError::field(kind, &at("name"), Wrong::Required));
        }
        let quantity = parse_decimal(
            kind,
            &at("quantity"),
            obj.get("quantity").unwrap_or(&Value::Null),
        )?;
        if quantity <= Decimal::ZERO {
            return Err(CrmError::field(kind, &at("quantity"), Wrong::NotPositive));
        }
        let price = parse_decimal(kind, &at("price"), obj.get("price").unwrap_or(&Value::Null))?;
        if price < Decimal::ZERO {
            return Err(CrmError::field(kind, &at("price"), Wrong::Negative));
        }
        let vat = obj.get("vat_rate").and_then(Value::as_str).unwrap_or("");
        if !VAT_RATES.contains(&vat) {
            return Err(CrmError::field(
                kind,
                &at("vat_rate"),
                Wrong::NotOneOf {
                    value: vat.to_owned(),
                    allowed: VAT_RATES.iter().map(|a| (*a).to_owned()).collect(),
                },
            ));
        }
        let mut clean = Map::new();
        clean.insert(
            "product_id".into(),
            obj.get("product_id").cloned().unwrap_or(Value::Null),
        );
        clean.insert("name".into(), Value::String(name.to_owned()));
        clean.insert(
            "quantity".into(),
            Value::String(quantity.normalize().to_string()),
        );
        clean.insert(
            "unit".into(),
            Value::String(
                obj.get("unit")
                    .and_then(Value::as_str)
                    .unwrap_or("шт")
                    .to_owned(),
            ),
        );
        clean.insert("price".into(), Value::String(money_text(price)));
        clean.insert("vat_rate".into(), Value::String(vat.to_owned()));
        out.push(Value::Object(clean));
    }
    Ok(Value::Array(out))
}

/// The status moves a payment request may make: draft → on approval →
/// approved → paid, rejected from approval or before payment; a rejected
/// request goes back to draft for rework or is sent again as it is, and an
/// approved one accounting returns goes back to draft.
const PAYMENT_REQUEST_MOVES: &[(&str, &[&str])] = &[
    ("draft", &["on_approval"]),
    ("on_approval", &["approved", "rejected", "draft"]),
    ("approved", &["paid", "rejected", "draft"]),
    ("rejected", &["draft", "on_approval"]),
    ("paid", &[]),
];

/// Checks a status change against the kind's workflow (only payment
/// requests have a fixed one).
pub fn check_transition(
    kind: EntityKind,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(), CrmError> {
    if from == to {
        return Ok(());
    }
    // A lead is converted once, by the conversion (which sets the ids of
    // what it made); after that its status is history.
    if kind == EntityKind::Lead {
        return match (from, to) {
            (Some("converted"), Some(to)) => Err(CrmError::field(
                kind,
                "status",
                Wrong::LeadConverted { to: to.to_owned() },
            )),
            _ => Ok(()),
        };
    }
    if kind != EntityKind::PaymentRequest {
        return Ok(());
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(());
    };
    let allowed = PAYMENT_REQUEST_MOVES
        .iter()
        .find(|(f, _)| *f == from)
        .map_or(&[][..], |(_, to)| *to);
    if allowed.contains(&to) {
        Ok(())
    } else if allowed.is_empty() {
        Err(CrmError::field(
            kind,
            "status",
            Wrong::FinalStatus {
                from: from.to_owned(),
                to: to.to_owned(),
            },
        ))
    } else {
        Err(CrmError::field(
            kind,
            "status",
            Wrong::NoSuchMove {
                from: from.to_owned(),
                to: to.to_owned(),
                allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
            },
        ))
    }
}

fn str_field<'a>(record: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    record
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Checks a whole record after a patch is merged into it: required fields
/// are present, and the rules that join fields hold.
pub fn check_record(kind: EntityKind, record: &Map<String, Value>) -> Result<(), CrmError> {
    let spec: &EntitySpec = spec(kind);
    for field in spec.fields.iter().filter(|f| f.required && f.writable) {
        let missing = match record.get(field.name) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(a)) => a.is_empty() && field.ty != FieldType::Items,
            _ => false,
        };
        if missing {
            return Err(CrmError::field(kind, field.name, Wrong::Required));
        }
    }
    // Bank accounts are checked with the record's own BIK.
    let bik = str_field(record, "bik");
    for (name, check) in [
        (
            "settlement_account",
            req::check_settlement_account as fn(&str, &str) -> Result<(), req::RequisiteError>,
        ),
        ("correspondent_account", req::check_correspondent_account),
    ] {
        if let Some(account) = str_field(record, name) {
            let Some(bik) = bik else {
                return Err(CrmError::field(kind, name, Wrong::AccountNeedsBik));
            };
            requisite(kind, name, check(account, bik))?;
        }
    }
    if kind == EntityKind::Company {
        let organisation = str_field(record, "kind") == Some("organisation");
        if let Some(inn) = str_field(record, "inn") {
            let inn_kind = requisite(kind, "inn", req::check_inn(inn))?;
            if organisation != (inn_kind == req::InnKind::Organisation) {
                let want = if organisation {
                    Wrong::InnOfOrganisation
                } else {
                    Wrong::InnOfSoleTrader
                };
                return Err(CrmError::field(kind, "inn", want));
            }
        }
        if !organisation && str_field(record, "kpp").is_some() {
            return Err(CrmError::field(kind, "kpp", Wrong::KppOfSoleTrader));
        }
        if let Some(ogrn) = str_field(record, "ogrn") {
            let ogrn_kind = requisite(kind, "ogrn", req::check_ogrn(ogrn))?;
            if organisation != (ogrn_kind == req::OgrnKind::Ogrn) {
                let want = if organisation {
                    Wrong::OgrnOfOrganisation
                } else {
                    Wrong::OgrnOfSoleTrader
                };
                return Err(CrmError::field(kind, "ogrn", want));
            }
        }
    }
    if kind == EntityKind::Lead
        && str_field(record, "status") == Some("converted")
        && (str_field(record, "converted_deal_id").is_none()
            || str_field(record, "converted_contact_id").is_none())
    {
        return Err(CrmError::field(kind, "status", Wrong::ConvertByEndpoint));
    }
    if kind == EntityKind::Task && str_field(record, "kind") == Some("meeting") {
        // Seed 002: a meeting is reserved time, a place and the employee
        // who holds it, about a lead or a deal.
        for field in ["starts_at", "place", "assignee_id"] {
            if str_field(record, field).is_none() {
                return Err(CrmError::field(kind, field, Wrong::MeetingNeeds));
            }
        }
        if !matches!(str_field(record, "entity_kind"), Some("lead" | "deal"))
            || str_field(record, "entity_id").is_none()
        {
            return Err(CrmError::field(kind, "entity_kind", Wrong::MeetingAbout));
        }
    }
    if kind == EntityKind::PaymentRequest
        && let Some(status) = str_field(record, "status")
        && status != "draft"
        && status != "rejected"
    {
        let missing: Vec<String> = PAYMENT_REQUEST_REQUIRED
            .iter()
            .filter(|f| str_field(record, f).is_none())
            .map(|f| (*f).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(CrmError::MissingStageFields {
                kind,
                of: "status",
                stage: status.to_owned(),
                missing,
            });
        }
    }
    // A draft may have no amount yet (null once stored): only a given one
    // must be positive.
    if kind == EntityKind::PaymentRequest
        && let Some(amount) = record.get("amount").filter(|a| !a.is_null())
    {
        let amount = parse_decimal(kind, "amount", amount)?;
        if amount <= Decimal::ZERO {
            return Err(CrmError::field(kind, "amount", Wrong::NotPositive));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test input is an object"),
        }
    }

    fn company() -> Map<String, Value> {
        obj(json!({
            "kind": "organisation",
            "short_name": "ПАО Сбербанк",
            "inn": "7707083893",
            "kpp": "773601001",
            "ogrn": "1027700132195",
            "bik": "044525225",
            "correspondent_account": "30101810400000000225",
            "settlement_account": "40702810438000060473"
        }))
    }

    #[test]
    fn a_valid_company_passes_both_passes() {
        let patch = normalize_patch(EntityKind::Company, &company()).expect("valid");
        check_record(EntityKind::Company, &patch).expect("valid");
    }

    #[test]
    fn bad_requisites_name_the_field() {
        let mut c = company();
        c.insert("inn".into(), json!("7707083894"));
        let e = normalize_patch(EntityKind::Company, &c).unwrap_err();
        assert_eq!(e.to_string(), "company.inn: control digit does not match");

        let mut c = company();
        c.insert("settlement_account".into(), json!("40702810438000060474"));
        let p = normalize_patch(EntityKind::Company, &c).expect("shape is fine");
        let e = check_record(EntityKind::Company, &p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "company.settlement_account: control digit does not match"
        );

        let mut c = company();
        c.insert("kpp".into(), json!("77360100"));
        let e = normalize_patch(EntityKind::Company, &c).unwrap_err();
        assert!(e.to_string().starts_with("company.kpp:"), "{e}");
    }

    #[test]
    fn inn_length_must_fit_the_company_kind() {
        let mut c = company();
        c.insert("kind".into(), json!("sole_trader"));
        c.remove("kpp");
        c.remove("ogrn");
        let p = normalize_patch(EntityKind::Company, &c).expect("fields fine alone");
        let e = check_record(EntityKind::Company, &p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "company.inn: must have 12 digits for a sole trader"
        );
    }

    #[test]
    fn unknown_and_computed_fields_are_refused() {
        let e = normalize_patch(EntityKind::Deal, &obj(json!({"titel": "x"}))).unwrap_err();
        assert_eq!(e.to_string(), "deal.titel: no such field");
        let e = normalize_patch(EntityKind::Invoice, &obj(json!({"number": "1"}))).unwrap_err();
        assert!(e.to_string().contains("computed by the host"));
        let e = normalize_patch(EntityKind::Deal, &obj(json!({"id": "x"}))).unwrap_err();
        assert!(e.to_string().contains("set by the host"));
    }

    #[test]
    fn payment_requests_follow_their_workflow() {
        let pr = EntityKind::PaymentRequest;
        assert!(check_transition(pr, Some("draft"), Some("on_approval")).is_ok());
        assert!(check_transition(pr, Some("on_approval"), Some("approved")).is_ok());
        assert!(check_transition(pr, Some("approved"), Some("paid")).is_ok());
        let e = check_transition(pr, Some("draft"), Some("paid"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("payment-request.status") && e.contains("allowed: on_approval"),
            "{e}"
        );
        assert!(
            check_transition(pr, Some("paid"), Some("draft"))
                .unwrap_err()
                .to_string()
                .contains("final")
        );
        assert!(check_transition(EntityKind::Invoice, Some("paid"), Some("draft")).is_ok());
    }

    #[test]
    fn money_must_be_exact() {
        let e = normalize_patch(EntityKind::Deal, &obj(json!({"amount": 10.5}))).unwrap_err();
        assert!(e.to_string().contains("is a float"), "{e}");
        let p = normalize_patch(EntityKind::Deal, &obj(json!({"amount": "10.50"})))
            .expect("decimal string");
        assert_eq!(p["amount"], json!("10.50"));
        let p = normalize_patch(EntityKind::Deal, &obj(json!({"amount": 10}))).expect("integer");
        assert_eq!(p["amount"], json!("10.00"));
    }

    #[test]
    fn items_are_checked_line_by_line() {
        let e = normalize_patch(
            EntityKind::Deal,
            &obj(json!({"items": [{"name": "Work", "quantity": "1", "price": "100", "vat_rate": "18"}]}))
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "deal.items[0].vat_rate: `18` is not one of 20, 10, 0, none"
        );
    }

    #[test]
    fn required_fields_are_required() {
        let e = check_record(EntityKind::Contact, &obj(json!({"first_name": "Ada"}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "contact.last_name: is required and cannot be empty"
        );
        let e = normalize_patch(EntityKind::Contact, &obj(json!({"last_name": null}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "contact.last_name: is required and cannot be empty"
        );
    }

    #[test]
    fn timestamps_are_stored_in_utc() {
        let p = normalize_patch(
            EntityKind::Task,
            &obj(json!({"due_at": "2026-11-22T12:00:00+03:00"})),
        )
        .expect("valid");
        assert_eq!(p["due_at"], json!("2026-11-22T09:00:00.000000Z"));
    }
}
