//! Write robota actions in Rust.
//!
//! An action is a WebAssembly component that the robota host runs for one step
//! of a business process. This crate is all an action author needs: implement
//! [`Action`] with typed input and output, export it with [`export_action!`],
//! and talk to the host through the typed clients [`crm`], [`mail`], [`http`],
//! [`notify`], [`config`] and [`log`]. Build with
//! `cargo build --target wasm32-wasip2 --release`; the `.wasm` file is the
//! component.
//!
//! # Example
//!
//! A complete action that reads a deal and writes a note on its timeline:
//!
//! ```no_run
//! use robota_sdk::{crm, Action, Capability, Context, EntityKind, Error, Manifest};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Input {
//!     deal_id: String,
//! }
//!
//! #[derive(Serialize)]
//! struct Output {
//!     title: String,
//! }
//!
//! struct NoteOnDeal;
//!
//! impl Action for NoteOnDeal {
//!     type Input = Input;
//!     type Output = Output;
//!
//!     fn manifest() -> Manifest {
//!         Manifest::new("note-on-deal", "1.0.0", "Note on a deal")
//!             .description("Adds a note to the deal's timeline")
//!             .input_schema(serde_json::json!({
//!                 "type": "object",
//!                 "required": ["deal_id"],
//!                 "properties": { "deal_id": { "type": "string" } }
//!             }))
//!             .capability(Capability::CrmRead)
//!             .capability(Capability::CrmWrite)
//!     }
//!
//!     fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
//!         let deal = crm::get_deal(&input.deal_id)?;
//!         crm::add_note(&deal.entity_ref(), &format!("Checked {}", deal.title))?;
//!         Ok(Output { title: deal.title })
//!     }
//! }
//!
//! robota_sdk::export_action!(NoteOnDeal);
//! ```
//!
//! Every host call returns [`Error`]: `Error::Denied` when the capability was
//! not granted, `Error::Transient` when the engine should retry the step.

pub mod config;
pub mod crm;
pub mod entities;
mod error;
pub mod http;
pub mod log;
pub mod mail;
mod manifest;
pub mod notify;

pub use entities::{Company, Contact, Deal, DealItem};
pub use error::Error;
pub use manifest::{Capability, Manifest};
pub use robota_requisites as requisites;
pub use rust_decimal::Decimal;

/// The generated bindings. Private to the SDK: the export macro needs a path
/// to them, nothing else should use them.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)] // generated code mirrors the WIT signatures
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "action",
        pub_export_macro: true,
        export_macro_name: "__export_action_world",
        default_bindings_module: "robota_sdk::__bindings",
        generate_all,
    });
}

use __bindings::robota::plugin::types as wit;

/// The kinds of CRM entities.
pub use wit::EntityKind;

/// A reference to one CRM entity: its kind and id.
pub use wit::EntityRef;

impl EntityKind {
    /// Every kind, in the contract's order.
    pub const ALL: [EntityKind; 9] = [
        EntityKind::Lead,
        EntityKind::Contact,
        EntityKind::Company,
        EntityKind::Deal,
        EntityKind::Product,
        EntityKind::Invoice,
        EntityKind::PaymentRequest,
        EntityKind::Task,
        EntityKind::User,
    ];

    /// The kind's name as the host writes it in JSON ("deal", "payment-request").
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Lead => "lead",
            EntityKind::Contact => "contact",
            EntityKind::Company => "company",
            EntityKind::Deal => "deal",
            EntityKind::Product => "product",
            EntityKind::Invoice => "invoice",
            EntityKind::PaymentRequest => "payment-request",
            EntityKind::Task => "task",
            EntityKind::User => "user",
        }
    }

    /// The kind named `name` ("deal", "payment-request"), if any.
    pub fn parse(name: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// An entity named in an action's input, `{"kind": "deal", "id": "…"}`:
/// deserialise it with serde, then turn it into an [`EntityRef`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntityInput {
    /// The kind's name, such as "deal" or "payment-request".
    pub kind: String,
    /// The entity's id.
    pub id: String,
}

impl EntityInput {
    /// The reference, or `Error::InvalidInput` naming the unknown kind;
    /// `field` is the input field it came from, for the message.
    pub fn entity_ref(&self, field: &str) -> Result<EntityRef, Error> {
        let kind = EntityKind::parse(&self.kind).ok_or_else(|| {
            Error::InvalidInput(format!("{field}.kind: unknown kind `{}`", self.kind))
        })?;
        Ok(EntityRef {
            kind,
            id: self.id.clone(),
        })
    }
}

/// Where a call to [`Action::run`] comes from.
#[derive(Debug, Clone)]
pub struct Context {
    /// The process run the step belongs to.
    pub run_id: String,
    /// The step being executed.
    pub step_id: String,
    /// Stable across retries of the same step: make external effects idempotent with it.
    pub idempotency_key: String,
    /// Which attempt this is, starting at 1.
    pub attempt: u32,
}

/// An action: what it is ([`Action::manifest`]) and what it does ([`Action::run`]).
pub trait Action {
    /// The input, parsed from the step's JSON input.
    type Input: serde::de::DeserializeOwned;
    /// The output, serialised as the step's JSON output.
    type Output: serde::Serialize;

    /// Describes the action: id, version, schemas, capabilities.
    fn manifest() -> Manifest;

    /// Runs one step.
    fn run(ctx: &Context, input: Self::Input) -> Result<Self::Output, Error>;
}

/// Glue called by [`export_action!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::{Action, Context, Error, wit};

    /// Implements the world's `describe` export for `A`.
    pub fn describe<A: Action>() -> wit::Manifest {
        A::manifest().into_wit()
    }

    /// Implements the world's `run` export for `A`: parse, run, serialise.
    pub fn run<A: Action>(ctx: wit::Context, input: String) -> Result<String, wit::Error> {
        let ctx = Context {
            run_id: ctx.run_id,
            step_id: ctx.step_id,
            idempotency_key: ctx.idempotency_key,
            attempt: ctx.attempt,
        };
        let input: A::Input =
            serde_json::from_str(&input).map_err(|e| Error::InvalidInput(format!("input: {e}")))?;
        let output = A::run(&ctx, input)?;
        serde_json::to_string(&output)
            .map_err(|e| Error::Failed(format!("output could not be serialised: {e}")).into())
    }
}

/// Exports a type implementing [`Action`] as the component's `describe` and `run`.
///
/// Use it once per action crate: `robota_sdk::export_action!(MyAction);`
#[macro_export]
macro_rules! export_action {
    ($action:ty) => {
        const _: () = {
            struct __RobotaExport;
            impl $crate::__bindings::Guest for __RobotaExport {
                fn describe() -> $crate::__bindings::robota::plugin::types::Manifest {
                    $crate::__private::describe::<$action>()
                }
                fn run(
                    ctx: $crate::__bindings::robota::plugin::types::Context,
                    input: ::std::string::String,
                ) -> ::std::result::Result<
                    ::std::string::String,
                    $crate::__bindings::robota::plugin::types::Error,
                > {
                    $crate::__private::run::<$action>(ctx, input)
                }
            }
            $crate::__bindings::__export_action_world!(__RobotaExport with_types_in $crate::__bindings);
        };
    };
}
