//! The one place that runs `bindgen!` for the `action` world; everything else
//! imports the generated types from here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "action",
    imports: { default: async },
    exports: { default: async },
});

pub use self::robota::plugin::types::{
    Capability as WitCapability, Context as WitContext, EntityKind as WitEntityKind,
    EntityRef as WitEntityRef, Error as WitError, Manifest as WitManifest,
};

use crate::crm::{EntityKind, EntityRef};

impl From<WitEntityKind> for EntityKind {
    fn from(k: WitEntityKind) -> Self {
        match k {
            WitEntityKind::Lead => EntityKind::Lead,
            WitEntityKind::Contact => EntityKind::Contact,
            WitEntityKind::Company => EntityKind::Company,
            WitEntityKind::Deal => EntityKind::Deal,
            WitEntityKind::Product => EntityKind::Product,
            WitEntityKind::Invoice => EntityKind::Invoice,
            WitEntityKind::PaymentRequest => EntityKind::PaymentRequest,
            WitEntityKind::Task => EntityKind::Task,
            WitEntityKind::User => EntityKind::User,
        }
    }
}

impl From<EntityKind> for WitEntityKind {
    fn from(k: EntityKind) -> Self {
        match k {
            EntityKind::Lead => WitEntityKind::Lead,
            EntityKind::Contact => WitEntityKind::Contact,
            EntityKind::Company => WitEntityKind::Company,
            EntityKind::Deal => WitEntityKind::Deal,
            EntityKind::Product => WitEntityKind::Product,
            EntityKind::Invoice => WitEntityKind::Invoice,
            EntityKind::PaymentRequest => WitEntityKind::PaymentRequest,
            EntityKind::Task => WitEntityKind::Task,
            EntityKind::User => WitEntityKind::User,
        }
    }
}

impl From<WitEntityRef> for EntityRef {
    fn from(r: WitEntityRef) -> Self {
        EntityRef {
            kind: r.kind.into(),
            id: r.id,
        }
    }
}

impl From<EntityRef> for WitEntityRef {
    fn from(r: EntityRef) -> Self {
        WitEntityRef {
            kind: r.kind.into(),
            id: r.id,
        }
    }
}

impl From<crate::crm::CrmError> for WitError {
    fn from(e: crate::crm::CrmError) -> Self {
        use crate::crm::CrmError as C;
        match e {
            C::NotFound(_) | C::FileNotFound { .. } => WitError::NotFound(e.to_string()),
            C::Conflict(_) | C::Duplicates { .. } => WitError::Conflict(e.to_string()),
            C::Storage(_) => WitError::Transient(e.to_string()),
            C::InvalidField { .. } | C::Invalid(_) | C::MissingStageFields { .. } => {
                WitError::InvalidInput(e.to_string())
            }
        }
    }
}
