//! Typed views of the CRM entities an action most often reads.
//!
//! Each matches the JSON object the host returns from `crm.get`; fields this
//! SDK version does not know land in `extra`, so an older action keeps working
//! when the host adds fields.

use crate::{EntityKind, EntityRef};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A deal moving through a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deal {
    /// The deal's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The pipeline it is in.
    pub pipeline_id: String,
    /// The code of its stage in that pipeline, such as "invoice".
    pub stage: String,
    /// The amount, exact.
    pub amount: Decimal,
    /// The amount's currency, such as "RUB".
    pub currency: String,
    /// The buyer company, if any.
    #[serde(default)]
    pub company_id: Option<String>,
    /// The contact person, if any.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The responsible user.
    #[serde(default)]
    pub responsible_id: Option<String>,
    /// What is sold.
    #[serde(default)]
    pub items: Vec<DealItem>,
    /// Custom fields defined by the admin.
    #[serde(default)]
    pub custom_fields: Map<String, Value>,
    /// Fields this SDK version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Deal {
    /// The reference to pass to other CRM calls.
    pub fn entity_ref(&self) -> EntityRef {
        EntityRef {
            kind: EntityKind::Deal,
            id: self.id.clone(),
        }
    }
}

/// One line of a deal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DealItem {
    /// The product, if the line comes from the catalogue.
    #[serde(default)]
    pub product_id: Option<String>,
    /// The line's name as it appears on an invoice.
    pub name: String,
    /// How many.
    pub quantity: Decimal,
    /// The unit, such as "шт" or "усл".
    #[serde(default)]
    pub unit: Option<String>,
    /// The price of one, VAT included.
    pub price: Decimal,
    /// "20", "10", "0" or "none" (без НДС).
    pub vat_rate: String,
}

/// A legal entity or sole trader with its requisites.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Company {
    /// The company's id.
    pub id: String,
    /// "organisation" or "sole_trader".
    pub kind: String,
    /// The short name with legal form, such as `ООО "Ромашка"`.
    pub short_name: String,
    /// The full name.
    #[serde(default)]
    pub full_name: Option<String>,
    /// ИНН.
    #[serde(default)]
    pub inn: Option<String>,
    /// КПП (organisations only).
    #[serde(default)]
    pub kpp: Option<String>,
    /// ОГРН or ОГРНИП.
    #[serde(default)]
    pub ogrn: Option<String>,
    /// The legal address.
    #[serde(default)]
    pub legal_address: Option<String>,
    /// The e-mail for documents.
    #[serde(default)]
    pub email: Option<String>,
    /// The bank's name.
    #[serde(default)]
    pub bank_name: Option<String>,
    /// БИК.
    #[serde(default)]
    pub bik: Option<String>,
    /// Расчётный счёт.
    #[serde(default)]
    pub settlement_account: Option<String>,
    /// Корреспондентский счёт.
    #[serde(default)]
    pub correspondent_account: Option<String>,
    /// Fields this SDK version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contact {
    /// The contact's id.
    pub id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Phone numbers.
    #[serde(default)]
    pub phones: Vec<String>,
    /// E-mail addresses.
    #[serde(default)]
    pub emails: Vec<String>,
    /// The company the person works for.
    #[serde(default)]
    pub company_id: Option<String>,
    /// Fields this SDK version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
