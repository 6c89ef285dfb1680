// The probe action, included by probe-v1, probe-v1-1 and probe-v2 with
// their own VERSION and WRITES: one action in three versions for the
// marketplace's upgrade tests (1.0.0 reads; 1.1.0 also writes; 2.0.0 is a
// new major). It notes its version on an entity when it may write.

use robota_sdk::{Action, Capability, Context, EntityKind, EntityRef, Error, Manifest, crm};
use serde::{Deserialize, Serialize};

/// What the probe takes: the deal to note its version on.
#[derive(Deserialize)]
struct Input {
    deal_id: String,
}

/// What it returns: its version.
#[derive(Serialize)]
struct Output {
    version: String,
}

struct Probe;

impl Action for Probe {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        let m = Manifest::new("probe", VERSION, "Probe")
            .description("Says which version ran (a marketplace test action)")
            .input_schema(serde_json::json!({
                "type": "object",
                "required": ["deal_id"],
                "properties": { "deal_id": { "type": "string" } }
            }))
            .capability(Capability::CrmRead);
        if WRITES { m.capability(Capability::CrmWrite) } else { m }
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let deal = EntityRef {
            kind: EntityKind::Deal,
            id: input.deal_id,
        };
        let _: serde_json::Value = crm::get(&deal)?;
        if WRITES {
            crm::add_note(&deal, &format!("probe {VERSION}"))?;
        }
        Ok(Output {
            version: VERSION.to_owned(),
        })
    }
}

robota_sdk::export_action!(Probe);
