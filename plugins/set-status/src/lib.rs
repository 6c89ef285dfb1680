//! `set-status`: sets the status of an invoice, a payment request, a lead or
//! a task, and notes why on its timeline. The host enforces each kind's
//! workflow (a payment request cannot jump from draft to paid), so a refused
//! move fails the step with the host's message.

use robota_sdk::{Action, Capability, Context, EntityKind, EntityRef, Error, Manifest, crm};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// `invoice`, `payment-request`, `lead` or `task`.
    kind: String,
    /// The entity.
    id: String,
    /// The new status.
    status: String,
    /// Why, noted on the timeline.
    #[serde(default)]
    comment: Option<String>,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    from: String,
    to: String,
    changed: bool,
}

struct SetStatus;

impl Action for SetStatus {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new("set-status", env!("CARGO_PKG_VERSION"), "Set a status")
            .description(
                "Sets the status of an invoice, payment request, lead or task, with a note",
            )
            .input_schema(json!({
                "type": "object",
                "required": ["kind", "id", "status"],
                "additionalProperties": false,
                "properties": {
                    "kind": { "enum": ["invoice", "payment-request", "lead", "task"] },
                    "id": { "type": "string" },
                    "status": { "type": "string" },
                    "comment": { "type": "string" }
                }
            }))
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "from": { "type": "string" },
                    "to": { "type": "string" },
                    "changed": { "type": "boolean" }
                }
            }))
            .capability(Capability::CrmRead)
            .capability(Capability::CrmWrite)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let kind = match EntityKind::parse(&input.kind) {
            Some(
                k @ (EntityKind::Invoice
                | EntityKind::PaymentRequest
                | EntityKind::Lead
                | EntityKind::Task),
            ) => k,
            _ => {
                return Err(Error::InvalidInput(format!(
                    "kind `{}`: use invoice, payment-request, lead or task",
                    input.kind
                )));
            }
        };
        let target = EntityRef {
            kind,
            id: input.id.clone(),
        };
        let record: Value = crm::get(&target)?;
        let from = record
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let changed = from != input.status;
        if changed {
            crm::update(&target, &json!({ "status": input.status }))?;
        }
        let note = match &input.comment {
            Some(c) if !c.trim().is_empty() => format!("Status {from} → {}: {c}", input.status),
            _ => format!("Status {from} → {}", input.status),
        };
        if changed {
            crm::add_note(&target, &note)?;
        }
        Ok(Output {
            from,
            to: input.status,
            changed,
        })
    }
}

robota_sdk::export_action!(SetStatus);
