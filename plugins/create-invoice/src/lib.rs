//! `create-invoice`: issues an invoice from a deal — the buyer from the deal's
//! company (with its requisites) or contact, the seller's requisites from the
//! action's config, the lines from the deal's line items, issue date today
//! and due date in N days or N business days.
//!
//! The number comes from the host: unique and gap-free per year, and checked
//! again at commit, so two concurrent runs never share one (the loser runs
//! again and takes the next). A second open invoice for the same deal is
//! refused unless the input says `allow_second = true`.

mod calendar;
mod parties;

use chrono::{NaiveDate, Utc};
use robota_sdk::{Action, Capability, Context, Decimal, EntityKind, Error, Manifest, config, crm};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The deal to invoice.
    deal_id: String,
    /// The issue date, "YYYY-MM-DD"; today by default.
    #[serde(default)]
    issue_date: Option<String>,
    /// Days until the due date (config `due_in_days`, else 5).
    #[serde(default)]
    due_in_days: Option<u32>,
    /// Count only working days (no weekends or Russian public holidays).
    #[serde(default)]
    business_days: bool,
    /// Issue even if the deal has an open invoice already.
    #[serde(default)]
    allow_second: bool,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    id: String,
    number: String,
    total: String,
    currency: String,
    issue_date: String,
    due_date: String,
}

/// Statuses of an invoice still waiting for its money.
const OPEN_STATUSES: [&str; 3] = ["draft", "sent", "overdue"];

struct CreateInvoice;

fn parse_date(text: &str, what: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| Error::InvalidInput(format!("{what} `{text}` is not a date (YYYY-MM-DD)")))
}

/// The invoice lines: the deal's items, or one line for the whole amount.
fn lines(deal: &robota_sdk::Deal, default_vat: &str) -> Result<Vec<Value>, Error> {
    if deal.items.is_empty() {
        if deal.amount <= Decimal::ZERO {
            return Err(Error::InvalidInput(format!(
                "deal {} has no line items and no amount to invoice",
                deal.id
            )));
        }
        return Ok(vec![json!({
            "name": deal.title,
            "quantity": "1",
            "price": deal.amount.to_string(),
            "vat_rate": default_vat,
        })]);
    }
    Ok(deal
        .items
        .iter()
        .map(|i| {
            let mut line = json!({
                "name": i.name,
                "quantity": i.quantity.to_string(),
                "price": i.price.to_string(),
                "vat_rate": i.vat_rate,
            });
            if let Some(p) = &i.product_id {
                line["product_id"] = json!(p);
            }
            if let Some(u) = &i.unit {
                line["unit"] = json!(u);
            }
            line
        })
        .collect())
}

impl Action for CreateInvoice {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new("create-invoice", env!("CARGO_PKG_VERSION"), "Issue an invoice from a deal")
            .description(
                "Issues an invoice from a deal: buyer and lines from the deal, seller requisites \
                 from config (seller.name, seller.inn, seller.kpp, seller.address, seller.bank_name, \
                 seller.bik, seller.settlement_account, seller.correspondent_account), due in N \
                 (business) days; refuses a second open invoice for the deal unless allowed",
            )
            .input_schema(json!({
                "type": "object",
                "required": ["deal_id"],
                "additionalProperties": false,
                "properties": {
                    "deal_id": { "type": "string" },
                    "issue_date": { "type": "string", "format": "date" },
                    "due_in_days": { "type": "integer", "minimum": 0, "maximum": 365 },
                    "business_days": { "type": "boolean" },
                    "allow_second": { "type": "boolean" }
                }
            }))
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string" },
                    "number": { "type": "string" },
                    "total": { "type": "string" },
                    "currency": { "type": "string" },
                    "issue_date": { "type": "string" },
                    "due_date": { "type": "string" }
                }
            }))
            .capability(Capability::CrmRead)
            .capability(Capability::CrmWrite)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let issue = match &input.issue_date {
            Some(d) => parse_date(d, "issue_date")?,
            None => Utc::now().date_naive(),
        };
        let days = match input.due_in_days {
            Some(d) => d,
            None => match config::get("due_in_days")? {
                Some(v) => v.trim().parse().map_err(|_| {
                    Error::InvalidInput(format!("config due_in_days `{v}` is not a number of days"))
                })?,
                None => 5,
            },
        };
        let due = calendar::due_date(issue, days, input.business_days);
        let seller = parties::seller_from_config()?;
        let deal = crm::get_deal(&input.deal_id)?;

        if !input.allow_second {
            let open: Vec<Value> = crm::Query::new(EntityKind::Invoice)
                .eq("deal_id", &deal.id)
                .limit(50)
                .fetch()?;
            if let Some(existing) = open.iter().find(|i| {
                i.get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| OPEN_STATUSES.contains(&s))
            }) {
                return Err(Error::Conflict(format!(
                    "deal {} already has open invoice {} ({}); pass allow_second = true to issue another",
                    deal.id,
                    existing
                        .get("number")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                    existing
                        .get("status")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                )));
            }
        }

        let buyer = parties::buyer_of(&deal)?;
        let default_vat = config::get("default_vat_rate")?.unwrap_or_else(|| "20".to_owned());
        let mut fields = json!({
            "deal_id": deal.id,
            "buyer": buyer.snapshot,
            "seller": seller,
            "currency": if deal.currency.is_empty() { "RUB" } else { deal.currency.as_str() },
            "issue_date": issue.to_string(),
            "due_date": due.to_string(),
            "status": "draft",
            "items": lines(&deal, &default_vat)?,
        });
        if let Some(c) = &buyer.company_id {
            fields["buyer_company_id"] = json!(c);
        }
        if let Some(c) = &buyer.contact_id {
            fields["buyer_contact_id"] = json!(c);
        }
        let invoice = crm::create(EntityKind::Invoice, &fields)?;
        let created: Value = crm::get(&invoice)?;
        let text = |k: &str| {
            created
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        crm::link(&deal.entity_ref(), &invoice)?;
        crm::add_note(
            &deal.entity_ref(),
            &format!(
                "Invoice {} issued for {} {}",
                text("number"),
                text("total"),
                text("currency")
            ),
        )?;
        Ok(Output {
            number: text("number"),
            total: text("total"),
            currency: text("currency"),
            issue_date: issue.to_string(),
            due_date: due.to_string(),
            id: invoice.id,
        })
    }
}

robota_sdk::export_action!(CreateInvoice);
