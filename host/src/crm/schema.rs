//! What fields each entity kind has: one static table per kind that the
//! validator, the store and the API all read, so a field is declared once.
//!
//! The store builds its SQL from these names only (never from caller input),
//! and binds every value.

use super::EntityKind;

/// The type of a field, which says how it is validated and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text.
    Text,
    /// An e-mail address.
    Email,
    /// A phone number (digits, spaces, `+()-`).
    Phone,
    /// An exact decimal, stored as text.
    Decimal,
    /// An ISO 4217 code, such as "RUB".
    Currency,
    /// A date, "YYYY-MM-DD".
    Date,
    /// An instant, RFC 3339; stored in UTC.
    Timestamp,
    /// true or false.
    Bool,
    /// A whole number.
    Integer,
    /// The id of another entity of this kind.
    Ref(EntityKind),
    /// One of the listed values.
    Enum(&'static [&'static str]),
    /// A list of texts, stored as a JSON array.
    TextList,
    /// A list of e-mail addresses, stored as a JSON array.
    EmailList,
    /// A list of phone numbers, stored as a JSON array.
    PhoneList,
    /// A JSON object, stored as text.
    Json,
    /// ИНН.
    Inn,
    /// КПП.
    Kpp,
    /// ОГРН or ОГРНИП.
    Ogrn,
    /// БИК.
    Bik,
    /// A settlement account, checked against the record's `bik`.
    SettlementAccount,
    /// A correspondent account, checked against the record's `bik`.
    CorrespondentAccount,
    /// The line items of a deal or an invoice, stored in a child table.
    Items,
    /// The id of a pipeline.
    Pipeline,
    /// The code of a stage in the record's pipeline.
    Stage,
    /// The kind of an entity a task links to.
    EntityKindName,
}

impl FieldType {
    /// Whether values are lists stored as JSON arrays.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            FieldType::TextList | FieldType::EmailList | FieldType::PhoneList
        )
    }
}

/// One field of an entity kind.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The field's name in JSON; also its column name.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Whether a create must give it.
    pub required: bool,
    /// Whether callers may set it (others are computed by the host).
    pub writable: bool,
}

/// Every field of one entity kind.
#[derive(Debug)]
pub struct EntitySpec {
    /// The kind.
    pub kind: EntityKind,
    /// The table holding it.
    pub table: &'static str,
    /// Its fields (the system fields id, version, created_at, updated_at and
    /// custom_fields are common to all and not listed).
    pub fields: &'static [FieldSpec],
}

impl EntitySpec {
    /// The field named `name`, if the kind has it.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields stored in the entity's own table (all but the line items).
    pub fn columns(&self) -> impl Iterator<Item = &'static FieldSpec> {
        self.fields.iter().filter(|f| f.ty != FieldType::Items)
    }

    /// Whether the kind has line items.
    pub fn has_items(&self) -> bool {
        self.fields.iter().any(|f| f.ty == FieldType::Items)
    }
}

const fn req(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: true,
        writable: true,
    }
}
const fn opt(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: false,
        writable: true,
    }
}
const fn computed(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: false,
        writable: false,
    }
}

/// VAT rates a line may carry: 20 %, 10 %, 0 %, or "none" (без НДС).
pub const VAT_RATES: &[&str] = &["20", "10", "0", "none"];
/// User roles.
pub const ROLES: &[&str] = &["manager", "head_of_sales", "accountant", "admin"];
/// Lead statuses, in the order a lead moves through them (seed 002); a
/// lead leaves the pipeline as `converted` (through the conversion) or
/// `junk`.
pub const LEAD_STATUSES: &[&str] = &[
    "new",
    "qualification",
    "proposal_sent",
    "meeting",
    "agreement_received",
    "converted",
    "junk",
];
/// Invoice statuses.
pub const INVOICE_STATUSES: &[&str] = &["draft", "sent", "paid", "overdue", "cancelled"];
/// Payment-request statuses: draft → on_approval → approved → paid, or rejected.
pub const PAYMENT_REQUEST_STATUSES: &[&str] =
    &["draft", "on_approval", "approved", "paid", "rejected"];
/// Kinds of task: a to-do, a call, or a meeting (which has a time and a place).
pub const TASK_KINDS: &[&str] = &["task", "call", "meeting"];
/// The payment request form's required fields (SCENARIOS.md): a draft may
/// lack them, a request sent for approval (or past it) may not.
pub const PAYMENT_REQUEST_REQUIRED: &[&str] = &[
    "purpose",
    "contractor",
    "amount",
    "currency",
    "pay_by",
    "inn",
    "settlement_account",
    "payment_purpose_text",
];
/// Task statuses.
pub const TASK_STATUSES: &[&str] = &["open", "done", "cancelled"];

static USER: EntitySpec = EntitySpec {
    kind: EntityKind::User,
    table: "users",
    fields: &[
        req("email", FieldType::Email),
        req("name", FieldType::Text),
        req("role", FieldType::Enum(ROLES)),
        opt("active", FieldType::Bool),
        // Notifications also by e-mail (the user's own choice: /api/v1/me/preferences).
        opt("notify_by_email", FieldType::Bool),
    ],
};

static COMPANY: EntitySpec = EntitySpec {
    kind: EntityKind::Company,
    table: "companies",
    fields: &[
        req("kind", FieldType::Enum(&["organisation", "sole_trader"])),
        req("short_name", FieldType::Text),
        opt("full_name", FieldType::Text),
        opt("legal_form", FieldType::Text),
        opt("inn", FieldType::Inn),
        opt("kpp", FieldType::Kpp),
        opt("ogrn", FieldType::Ogrn),
        opt("legal_address", FieldType::Text),
        opt("postal_address", FieldType::Text),
        opt("director", FieldType::Text),
        opt("director_post", FieldType::Text),
        opt("okved", FieldType::Text),
        opt("registered_on", FieldType::Date),
        opt("email", FieldType::Email),
        opt("phone", FieldType::Phone),
        opt("region", FieldType::Text),
        opt("bank_name", FieldType::Text),
        opt("bik", FieldType::Bik),
        opt("settlement_account", FieldType::SettlementAccount),
        opt("correspondent_account", FieldType::CorrespondentAccount),
        opt("responsible_id", FieldType::Ref(EntityKind::User)),
    ],
};

static CONTACT: EntitySpec = EntitySpec {
    kind: EntityKind::Contact,
    table: "contacts",
    fields: &[
        req("first_name", FieldType::Text),
        req("last_name", FieldType::Text),
        opt("middle_name", FieldType::Text),
        opt("phones", FieldType::PhoneList),
        opt("emails", FieldType::EmailList),
        opt("position", FieldType::Text),
        opt("company_id", FieldType::Ref(EntityKind::Company)),
        opt("responsible_id", FieldType::Ref(EntityKind::User)),
    ],
};

static LEAD: EntitySpec = EntitySpec {
    kind: EntityKind::Lead,
    table: "leads",
    fields: &[
        req("title", FieldType::Text),
        opt("name", FieldType::Text),
        opt("phone", FieldType::Phone),
        opt("email", FieldType::Email),
        opt("city", FieldType::Text),
        opt("source", FieldType::Text),
        opt("topic", FieldType::Text),
        opt("status", FieldType::Enum(LEAD_STATUSES)),
        opt("responsible_id", FieldType::Ref(EntityKind::User)),
        opt("converted_deal_id", FieldType::Ref(EntityKind::Deal)),
        opt("converted_contact_id", FieldType::Ref(EntityKind::Contact)),
        opt("converted_company_id", FieldType::Ref(EntityKind::Company)),
    ],
};

static PRODUCT: EntitySpec = EntitySpec {
    kind: EntityKind::Product,
    table: "products",
    fields: &[
        req("name", FieldType::Text),
        opt("sku", FieldType::Text),
        opt("unit", FieldType::Text),
        req("price", FieldType::Decimal),
        req("currency", FieldType::Currency),
        req("vat_rate", FieldType::Enum(VAT_RATES)),
        opt("active", FieldType::Bool),
    ],
};

static DEAL: EntitySpec = EntitySpec {
    kind: EntityKind::Deal,
    table: "deals",
    fields: &[
        req("title", FieldType::Text),
        opt("pipeline_id", FieldType::Pipeline),
        opt("stage", FieldType::Stage),
        opt("amount", FieldType::Decimal),
        opt("currency", FieldType::Currency),
        opt("company_id", FieldType::Ref(EntityKind::Company)),
        opt("contact_id", FieldType::Ref(EntityKind::Contact)),
        opt("responsible_id", FieldType::Ref(EntityKind::User)),
        opt("payment_method", FieldType::Text),
        opt("closed_at", FieldType::Timestamp),
        opt("items", FieldType::Items),
    ],
};

static INVOICE: EntitySpec = EntitySpec {
    kind: EntityKind::Invoice,
    table: "invoices",
    fields: &[
        computed("number", FieldType::Text),
        computed("year", FieldType::Integer),
        computed("seq", FieldType::Integer),
        opt("deal_id", FieldType::Ref(EntityKind::Deal)),
        opt("buyer_company_id", FieldType::Ref(EntityKind::Company)),
        opt("buyer_contact_id", FieldType::Ref(EntityKind::Contact)),
        opt("buyer", FieldType::Json),
        opt("seller", FieldType::Json),
        computed("subtotal", FieldType::Decimal),
        computed("vat_total", FieldType::Decimal),
        computed("total", FieldType::Decimal),
        req("currency", FieldType::Currency),
        req("issue_date", FieldType::Date),
        req("due_date", FieldType::Date),
        opt("status", FieldType::Enum(INVOICE_STATUSES)),
        opt("paid_date", FieldType::Date),
        req("items", FieldType::Items),
    ],
};

static PAYMENT_REQUEST: EntitySpec = EntitySpec {
    kind: EntityKind::PaymentRequest,
    table: "payment_requests",
    fields: &[
        // A draft may be incomplete: these are required from `on_approval`
        // on (PAYMENT_REQUEST_REQUIRED), checked with the whole record.
        opt("purpose", FieldType::Text),
        opt("contractor", FieldType::Text),
        opt("contractor_company_id", FieldType::Ref(EntityKind::Company)),
        opt("amount", FieldType::Decimal),
        opt("currency", FieldType::Currency),
        opt("pay_by", FieldType::Date),
        opt("inn", FieldType::Inn),
        opt("kpp", FieldType::Kpp),
        opt("bik", FieldType::Bik),
        opt("settlement_account", FieldType::SettlementAccount),
        opt("correspondent_account", FieldType::CorrespondentAccount),
        opt("payment_purpose_text", FieldType::Text),
        opt("status", FieldType::Enum(PAYMENT_REQUEST_STATUSES)),
        opt("author_id", FieldType::Ref(EntityKind::User)),
        opt("paid_date", FieldType::Date),
        computed("returned_reason", FieldType::Text),
        computed("returned_by", FieldType::Ref(EntityKind::User)),
    ],
};

static TASK: EntitySpec = EntitySpec {
    kind: EntityKind::Task,
    table: "tasks",
    fields: &[
        req("title", FieldType::Text),
        opt("kind", FieldType::Enum(TASK_KINDS)),
        opt("description", FieldType::Text),
        opt("assignee_id", FieldType::Ref(EntityKind::User)),
        opt("starts_at", FieldType::Timestamp),
        opt("place", FieldType::Text),
        opt("due_at", FieldType::Timestamp),
        opt("entity_kind", FieldType::EntityKindName),
        opt("entity_id", FieldType::Text),
        opt("status", FieldType::Enum(TASK_STATUSES)),
        opt("done_at", FieldType::Timestamp),
    ],
};

/// The spec of `kind`.
pub fn spec(kind: EntityKind) -> &'static EntitySpec {
    match kind {
        EntityKind::User => &USER,
        EntityKind::Company => &COMPANY,
        EntityKind::Contact => &CONTACT,
        EntityKind::Lead => &LEAD,
        EntityKind::Product => &PRODUCT,
        EntityKind::Deal => &DEAL,
        EntityKind::Invoice => &INVOICE,
        EntityKind::PaymentRequest => &PAYMENT_REQUEST,
        EntityKind::Task => &TASK,
    }
}

/// The line-item table of a kind that has items, and its parent column.
pub fn items_table(kind: EntityKind) -> Option<(&'static str, &'static str)> {
    match kind {
        EntityKind::Deal => Some(("deal_items", "deal_id")),
        EntityKind::Invoice => Some(("invoice_items", "invoice_id")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_spec_of_its_own() {
        for kind in EntityKind::ALL {
            assert_eq!(spec(kind).kind, kind);
        }
    }

    #[test]
    fn items_only_where_a_child_table_exists() {
        for kind in EntityKind::ALL {
            assert_eq!(
                spec(kind).has_items(),
                items_table(kind).is_some(),
                "{kind}"
            );
        }
    }
}
