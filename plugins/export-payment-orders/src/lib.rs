//! `export-payment-orders`: the approved payment requests due on a day as
//! outgoing payment orders in the 1C client-bank exchange format
//! (`1CClientBankExchange`, Windows-1251), for upload into the bank client:
//! the payer is the company (its requisites from the action's config), the
//! payee each request's contractor, `Очередность=5`. Only rouble requests
//! make payment orders; others are listed as skipped with the reason. When
//! the bank's statement comes back, `import-bank-statement` marks the
//! requests it paid as paid.

use base64::Engine as _;
use robota_client_bank::{Export, Party, PaymentOrder, encode_1251};
use robota_sdk::{Action, Capability, Context, Decimal, EntityKind, Error, Manifest, config, crm};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::str::FromStr;

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The pay-by day, YYYY-MM-DD.
    date: String,
    /// When the file is made (YYYY-MM-DDTHH:MM:SS, company time); the
    /// day's start if not given.
    #[serde(default)]
    created_at: Option<String>,
}

/// A request left out of the file, and why.
#[derive(Serialize)]
struct Skipped {
    id: String,
    reason: String,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    filename: String,
    content_base64: String,
    count: usize,
    total: String,
    requests: Vec<String>,
    skipped: Vec<Skipped>,
}

/// The company's side of the orders, from the config.
fn payer() -> Result<Party, Error> {
    let opt = |k: &str| -> Result<String, Error> { Ok(config::get(k)?.unwrap_or_default()) };
    Ok(Party {
        name: config::require("payer.name")?,
        inn: config::require("payer.inn")?,
        kpp: opt("payer.kpp")?,
        account: config::require("payer.settlement_account")?,
        bank_name: opt("payer.bank_name")?,
        bik: config::require("payer.bik")?,
        correspondent_account: opt("payer.correspondent_account")?,
    })
}

/// A YYYY-MM-DD date, or the error naming `field`.
fn check_date(field: &str, date: &str) -> Result<(), Error> {
    let b = date.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{field}: `{date}` is not a date YYYY-MM-DD"
        )))
    }
}

struct ExportPaymentOrders;

impl Action for ExportPaymentOrders {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new(
            "export-payment-orders",
            env!("CARGO_PKG_VERSION"),
            "Export payment orders",
        )
        .description(
            "The approved payment requests due on a day as payment orders for the bank client \
             (1CClientBankExchange, Windows-1251), paid from the company's account in the config",
        )
        .input_schema(json!({
            "type": "object",
            "required": ["date"],
            "additionalProperties": false,
            "properties": {
                "date": { "type": "string", "format": "date" },
                "created_at": { "type": "string" }
            }
        }))
        .output_schema(json!({
            "type": "object",
            "properties": {
                "filename": { "type": "string" },
                "content_base64": { "type": "string" },
                "count": { "type": "integer" },
                "total": { "type": "string" },
                "requests": { "type": "array", "items": { "type": "string" } },
                "skipped": { "type": "array" }
            }
        }))
        .capability(Capability::CrmRead)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        check_date("date", &input.date)?;
        let (day, time) = match &input.created_at {
            Some(at) => {
                let (d, t) = at.split_once('T').ok_or_else(|| {
                    Error::InvalidInput(format!("created_at: `{at}` is not YYYY-MM-DDTHH:MM:SS"))
                })?;
                check_date("created_at", d)?;
                (d.to_owned(), t.chars().take(8).collect::<String>())
            }
            None => (input.date.clone(), "00:00:00".to_owned()),
        };
        let payer = payer()?;
        let due: Vec<Value> = crm::Query::new(EntityKind::PaymentRequest)
            .eq("status", "approved")
            .eq("pay_by", &input.date)
            .limit(1000)
            .fetch()?;
        let mut orders = Vec::new();
        let mut requests = Vec::new();
        let mut skipped = Vec::new();
        let mut total = Decimal::ZERO;
        for r in &due {
            let text = |k: &str| {
                r.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let id = text("id");
            if text("currency") != "RUB" {
                skipped.push(Skipped {
                    id,
                    reason: format!(
                        "in {}: a payment order is in roubles; pay it by a currency transfer",
                        text("currency")
                    ),
                });
                continue;
            }
            let Ok(amount) = Decimal::from_str(&text("amount")) else {
                skipped.push(Skipped {
                    id,
                    reason: format!("amount `{}` is not a number", text("amount")),
                });
                continue;
            };
            total += amount;
            orders.push(PaymentOrder {
                number: (orders.len() + 1).to_string(),
                date: input.date.clone(),
                amount,
                payer: payer.clone(),
                payee: Party {
                    name: text("contractor"),
                    inn: text("inn"),
                    kpp: text("kpp"),
                    account: text("settlement_account"),
                    bank_name: text("bank_name"),
                    bik: text("bik"),
                    correspondent_account: text("correspondent_account"),
                },
                purpose: text("payment_purpose_text"),
                priority: 5,
            });
            requests.push(id);
        }
        let export = Export {
            created: (day, time),
            period: (input.date.clone(), input.date.clone()),
            account: payer.account.clone(),
            orders,
        };
        let bytes = encode_1251(&export.text()).map_err(|c| {
            Error::InvalidInput(format!(
                "`{c}` cannot be written in Windows-1251, the bank client's encoding: change the request's text"
            ))
        })?;
        Ok(Output {
            filename: format!("payment-orders-{}.txt", input.date),
            content_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            count: requests.len(),
            total: format!("{total:.2}"),
            requests,
            skipped,
        })
    }
}

robota_sdk::export_action!(ExportPaymentOrders);
