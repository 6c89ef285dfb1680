//! `move-stage`: moves a deal to another stage of its pipeline. The host
//! checks the stage exists and that the deal has the fields the stage
//! requires; a refusal fails the step with the host's message.

use robota_sdk::{Action, Capability, Context, Error, Manifest, crm};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The deal.
    deal_id: String,
    /// The code of the stage to move to, such as "invoice_sent".
    stage: String,
    /// Only move if the deal is in this stage now (skip otherwise).
    #[serde(default)]
    only_from: Option<String>,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    deal_id: String,
    from: String,
    to: String,
    moved: bool,
}

struct MoveStage;

impl Action for MoveStage {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new(
            "move-stage",
            env!("CARGO_PKG_VERSION"),
            "Move a deal to a stage",
        )
        .description(
            "Moves a deal to another stage of its pipeline, optionally only from a given stage",
        )
        .input_schema(json!({
            "type": "object",
            "required": ["deal_id", "stage"],
            "additionalProperties": false,
            "properties": {
                "deal_id": { "type": "string" },
                "stage": { "type": "string" },
                "only_from": { "type": "string" }
            }
        }))
        .output_schema(json!({
            "type": "object",
            "properties": {
                "deal_id": { "type": "string" },
                "from": { "type": "string" },
                "to": { "type": "string" },
                "moved": { "type": "boolean" }
            }
        }))
        .capability(Capability::CrmRead)
        .capability(Capability::CrmWrite)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let deal = crm::get_deal(&input.deal_id)?;
        let wrong_start = input.only_from.as_ref().is_some_and(|f| *f != deal.stage);
        let moved = deal.stage != input.stage && !wrong_start;
        if moved {
            crm::update(&deal.entity_ref(), &json!({ "stage": input.stage }))?;
        }
        Ok(Output {
            deal_id: deal.id,
            from: deal.stage,
            to: if moved { input.stage } else { String::new() },
            moved,
        })
    }
}

robota_sdk::export_action!(MoveStage);
