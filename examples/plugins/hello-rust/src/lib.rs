//! `hello-rust`: the smallest useful robota action.
//!
//! Given a name it returns a greeting; given a deal id too, it reads the deal
//! and writes the greeting on the deal's timeline. Build it with
//! `cargo build --target wasm32-wasip2 --release -p hello-rust` and run it with
//! `robota plugin call target/wasm32-wasip2/release/hello_rust.wasm --input '{"name":"Ada"}'`.

use robota_sdk::{Action, Capability, Context, Error, Manifest, crm, log};
use serde::{Deserialize, Serialize};

/// What the action takes.
#[derive(Deserialize)]
struct Input {
    /// Whom to greet.
    name: String,
    /// A deal to note the greeting on.
    #[serde(default)]
    deal_id: Option<String>,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    greeting: String,
    deal_title: Option<String>,
}

struct Hello;

impl Action for Hello {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new("hello-rust", "1.0.0", "Say hello")
            .description("Greets someone; with a deal id, notes the greeting on the deal")
            .input_schema(serde_json::json!({
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": { "type": "string", "minLength": 1 },
                    "deal_id": { "type": "string" }
                }
            }))
            .output_schema(serde_json::json!({
                "type": "object",
                "properties": {
                    "greeting": { "type": "string" },
                    "deal_title": { "type": ["string", "null"] }
                }
            }))
            .capability(Capability::CrmRead)
            .capability(Capability::CrmWrite)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        if input.name.trim().is_empty() {
            return Err(Error::InvalidInput("name must not be empty".into()));
        }
        let greeting = format!("Hello, {}!", input.name);
        let deal_title = match input.deal_id {
            Some(id) => {
                let deal = crm::get_deal(&id)?;
                crm::add_note(&deal.entity_ref(), &greeting)?;
                log::info(&format!("greeted on deal {}", deal.id));
                Some(deal.title)
            }
            None => None,
        };
        Ok(Output {
            greeting,
            deal_title,
        })
    }
}

robota_sdk::export_action!(Hello);
