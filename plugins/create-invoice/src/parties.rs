//! The two parties of an invoice, as snapshots stored on it: the seller from
//! the action's config, the buyer from the deal's company or contact. A
//! snapshot keeps the invoice as issued when the company later changes.

use robota_sdk::requisites::{
    check_bik, check_correspondent_account, check_inn, check_kpp, check_settlement_account,
};
use robota_sdk::{Deal, Error, config, crm};
use serde_json::{Map, Value, json};

/// The seller's requisites from config keys `seller.*`, each checked.
pub fn seller_from_config() -> Result<Value, Error> {
    let bad = |key: &str, e: &dyn std::fmt::Display| {
        Error::InvalidInput(format!("config seller.{key}: {e}"))
    };
    let mut seller = Map::new();
    for key in [
        "name",
        "inn",
        "address",
        "bank_name",
        "bik",
        "settlement_account",
    ] {
        let value = config::require(&format!("seller.{key}"))?;
        seller.insert(key.to_owned(), json!(value));
    }
    for key in [
        "kpp",
        "ogrn",
        "correspondent_account",
        "director",
        "accountant",
        "email",
        "phone",
    ] {
        if let Some(value) = config::get(&format!("seller.{key}"))? {
            seller.insert(key.to_owned(), json!(value));
        }
    }
    let text = |k: &str| seller.get(k).and_then(Value::as_str).unwrap_or_default();
    check_inn(text("inn")).map_err(|e| bad("inn", &e))?;
    if !text("kpp").is_empty() {
        check_kpp(text("kpp")).map_err(|e| bad("kpp", &e))?;
    }
    check_bik(text("bik")).map_err(|e| bad("bik", &e))?;
    check_settlement_account(text("settlement_account"), text("bik"))
        .map_err(|e| bad("settlement_account", &e))?;
    if !text("correspondent_account").is_empty() {
        check_correspondent_account(text("correspondent_account"), text("bik"))
            .map_err(|e| bad("correspondent_account", &e))?;
    }
    Ok(Value::Object(seller))
}

/// The buyer of a deal.
pub struct Buyer {
    /// What the invoice stores.
    pub snapshot: Value,
    /// The buyer company, if the deal has one.
    pub company_id: Option<String>,
    /// The contact, if the deal has one.
    pub contact_id: Option<String>,
}

/// The deal's company (a legal entity or sole trader) or, without one, its
/// contact (a private person).
pub fn buyer_of(deal: &Deal) -> Result<Buyer, Error> {
    let contact = deal
        .contact_id
        .as_deref()
        .map(crm::get_contact)
        .transpose()?;
    let contact_email = contact.as_ref().and_then(|c| c.emails.first().cloned());
    if let Some(company_id) = &deal.company_id {
        let c = crm::get_company(company_id)?;
        let mut snapshot = json!({
            "type": c.kind,
            "name": c.full_name.clone().unwrap_or_else(|| c.short_name.clone()),
            "short_name": c.short_name,
        });
        for (key, value) in [
            ("inn", &c.inn),
            ("kpp", &c.kpp),
            ("ogrn", &c.ogrn),
            ("address", &c.legal_address),
            ("bank_name", &c.bank_name),
            ("bik", &c.bik),
            ("settlement_account", &c.settlement_account),
            ("correspondent_account", &c.correspondent_account),
        ] {
            if let Some(v) = value {
                snapshot[key] = json!(v);
            }
        }
        if let Some(email) = c.email.clone().or(contact_email) {
            snapshot["email"] = json!(email);
        }
        return Ok(Buyer {
            snapshot,
            company_id: Some(c.id),
            contact_id: deal.contact_id.clone(),
        });
    }
    let Some(p) = contact else {
        return Err(Error::InvalidInput(format!(
            "deal {} has neither a company nor a contact to invoice",
            deal.id
        )));
    };
    let mut snapshot = json!({
        "type": "person",
        "name": format!("{} {}", p.last_name, p.first_name),
    });
    if let Some(email) = contact_email {
        snapshot["email"] = json!(email);
    }
    if let Some(phone) = p.phones.first() {
        snapshot["phone"] = json!(phone);
    }
    Ok(Buyer {
        snapshot,
        company_id: None,
        contact_id: Some(p.id),
    })
}
