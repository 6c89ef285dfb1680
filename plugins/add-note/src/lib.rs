//! `add-note`: adds a note to an entity's timeline — the robot's comment
//! that tells the manager what to do next (seed 002: after a conversion,
//! "enter the INN, add the products").

use robota_sdk::{Action, Capability, Context, EntityInput, Error, Manifest, crm};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The entity, `{"kind": "deal", "id": "…"}`.
    entity: EntityInput,
    /// The note.
    text: String,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    /// The note as written (trimmed).
    text: String,
}

struct AddNote;

impl Action for AddNote {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new("add-note", env!("CARGO_PKG_VERSION"), "Add a note")
            .description("Adds a note to an entity's timeline")
            .input_schema(json!({
                "type": "object",
                "required": ["entity", "text"],
                "additionalProperties": false,
                "properties": {
                    "entity": {
                        "type": "object",
                        "required": ["kind", "id"],
                        "properties": { "kind": { "type": "string" }, "id": { "type": "string" } }
                    },
                    "text": { "type": "string", "minLength": 1 }
                }
            }))
            .output_schema(json!({
                "type": "object",
                "properties": { "text": { "type": "string" } }
            }))
            .capability(Capability::CrmRead)
            .capability(Capability::CrmWrite)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let target = input.entity.entity_ref("entity")?;
        let text = input.text.trim().to_owned();
        if text.is_empty() {
            return Err(Error::InvalidInput("text: a note needs text".into()));
        }
        // Reading it first gives a clear "not found" for a wrong id.
        let _: Value = crm::get(&target)?;
        crm::add_note(&target, &text)?;
        Ok(Output { text })
    }
}

robota_sdk::export_action!(AddNote);
