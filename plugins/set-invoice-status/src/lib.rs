//! `set-invoice-status`: marks an invoice sent, paid (with the paid date),
//! overdue or cancelled, and notes it on the invoice's timeline. Setting the
//! status it already has changes nothing, so a repeated step is harmless; the
//! host refuses moves the invoice workflow does not allow (paid → overdue).

use chrono::{NaiveDate, Utc};
use robota_sdk::{Action, Capability, Context, EntityKind, EntityRef, Error, Manifest, crm};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The statuses an action may set.
const STATUSES: [&str; 5] = ["draft", "sent", "paid", "overdue", "cancelled"];

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The invoice.
    invoice_id: String,
    /// sent, paid, overdue, cancelled (or draft).
    status: String,
    /// The day the money arrived, "YYYY-MM-DD" (status paid; today by default).
    #[serde(default)]
    paid_date: Option<String>,
    /// Only change an invoice now in one of these statuses (skip otherwise).
    #[serde(default)]
    only_from: Vec<String>,
    /// Why, noted on the timeline.
    #[serde(default)]
    comment: Option<String>,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    invoice_id: String,
    number: String,
    from: String,
    to: String,
    changed: bool,
}

struct SetInvoiceStatus;

impl Action for SetInvoiceStatus {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new(
            "set-invoice-status",
            env!("CARGO_PKG_VERSION"),
            "Set an invoice's status",
        )
        .description("Marks an invoice sent, paid (with the paid date), overdue or cancelled")
        .input_schema(json!({
            "type": "object",
            "required": ["invoice_id", "status"],
            "additionalProperties": false,
            "properties": {
                "invoice_id": { "type": "string" },
                "status": { "enum": STATUSES },
                "paid_date": { "type": "string", "format": "date" },
                "only_from": { "type": "array", "items": { "enum": STATUSES } },
                "comment": { "type": "string" }
            }
        }))
        .output_schema(json!({
            "type": "object",
            "properties": {
                "invoice_id": { "type": "string" },
                "number": { "type": "string" },
                "from": { "type": "string" },
                "to": { "type": "string" },
                "changed": { "type": "boolean" }
            }
        }))
        .capability(Capability::CrmRead)
        .capability(Capability::CrmWrite)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        if !STATUSES.contains(&input.status.as_str()) {
            return Err(Error::InvalidInput(format!(
                "status `{}`: use one of {}",
                input.status,
                STATUSES.join(", ")
            )));
        }
        if let Some(bad) = input
            .only_from
            .iter()
            .find(|s| !STATUSES.contains(&s.as_str()))
        {
            return Err(Error::InvalidInput(format!(
                "only_from: unknown status `{bad}`"
            )));
        }
        let paid_date = match &input.paid_date {
            Some(d) => Some(
                NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    Error::InvalidInput(format!("paid_date `{d}` is not a date (YYYY-MM-DD)"))
                })?,
            ),
            None => None,
        };
        if paid_date.is_some() && input.status != "paid" {
            return Err(Error::InvalidInput(format!(
                "paid_date is only for status paid, not `{}`",
                input.status
            )));
        }
        let target = EntityRef {
            kind: EntityKind::Invoice,
            id: input.invoice_id.clone(),
        };
        let record: Value = crm::get(&target)?;
        let text = |k: &str| {
            record
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let from = text("status");
        let allowed = input.only_from.is_empty() || input.only_from.contains(&from);
        let changed = from != input.status && allowed;
        if changed {
            let mut fields = json!({ "status": input.status });
            if input.status == "paid" {
                let day = paid_date.unwrap_or_else(|| Utc::now().date_naive());
                fields["paid_date"] = json!(day.to_string());
            }
            crm::update(&target, &fields)?;
            let note = match &input.comment {
                Some(c) if !c.trim().is_empty() => format!("Status {from} → {}: {c}", input.status),
                _ => format!("Status {from} → {}", input.status),
            };
            crm::add_note(&target, &note)?;
        }
        Ok(Output {
            invoice_id: input.invoice_id,
            number: text("number"),
            from,
            to: input.status,
            changed,
        })
    }
}

robota_sdk::export_action!(SetInvoiceStatus);
