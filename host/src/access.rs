//! Who sees what (seed 003's "accounting sees only approved payments", and
//! the whole CRM's roles). A caller's [`Access`] says which rows of each
//! kind they may see — as a SQL condition the store adds to every read it
//! makes for them, so a list never returns and a read never finds a record
//! out of their reach — and which writes they may make, each refusal naming
//! its rule.
//!
//! - manager: leads, contacts, companies and deals they are responsible
//!   for or that are shared with them, and the contacts and companies of
//!   those deals; their own tasks and payment requests; the invoices of
//!   their deals;
//! - head of sales: everything of sales, every payment request;
//! - accountant: invoices, companies (to read: requisites), payment
//!   requests from `approved` on (and those they returned, while they are
//!   drafts again), their own tasks; no leads, contacts or deals;
//! - admin: everything, and the settings (processes, plugins, tokens,
//!   custom fields) nobody else touches.
//!
//! The engine's processes act as the system and see everything: access is
//! a property of people's requests, not of automation.

use crate::crm::EntityKind;
use serde_json::{Map, Value};
use std::fmt;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A sales manager: their own clients and deals.
    Manager,
    /// The head of sales: all of sales, and approvals addressed to the role.
    HeadOfSales,
    /// Accounting: invoices, statements and the payment registry.
    Accountant,
    /// Everything, and the settings.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::Manager,
        Role::HeadOfSales,
        Role::Accountant,
        Role::Admin,
    ];

    /// The role's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::HeadOfSales => "head_of_sales",
            Role::Accountant => "accountant",
            Role::Admin => "admin",
        }
    }

    /// The role named `name` (as stored with users and tokens).
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The role in words, for refusals.
    fn words(self) -> &'static str {
        match self {
            Role::Manager => "a manager",
            Role::HeadOfSales => "the head of sales",
            Role::Accountant => "an accountant",
            Role::Admin => "an admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A write the caller may not make: the rule it breaks, in words, and
/// when the rule is about roles, the roles that may (so a client can say
/// it in its own language).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}")]
pub struct Refused {
    /// The rule, in words.
    pub rule: String,
    /// The roles that may do it (empty when the rule is not about roles).
    pub may: Vec<Role>,
}

impl Refused {
    /// A refusal by a rule that is not about roles.
    fn rule(rule: impl Into<String>) -> Refused {
        Refused {
            rule: rule.into(),
            may: Vec::new(),
        }
    }
}

/// Which rows of a kind a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every row.
    All,
    /// None.
    Nothing,
    /// Rows passing `sql`, a condition on the kind's table (named by its
    /// table name) whose every `?` is bound to the caller's user id.
    Where {
        /// The condition: static text, never built from input.
        sql: &'static str,
        /// How many `?` it has.
        binds: usize,
    },
}

/// Who is asking: their role and, for a person's token, their user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Their role.
    pub role: Role,
    /// Their user; a role-only token (no user) sees no one's own records.
    pub user_id: Option<String>,
}

/// A manager's deals: responsible for them, or shared with them (2 binds).
macro_rules! my_deals {
    () => {
        "SELECT d.id FROM deals d WHERE d.responsible_id = ? OR d.id IN \
         (SELECT s.entity_id FROM record_access s WHERE s.entity_kind = 'deal' AND s.user_id = ?)"
    };
}

/// Rows of `$table` (entity kind `$kind`) the user is responsible for, or
/// that are shared with them (2 binds).
macro_rules! mine_or_shared {
    ($table:literal, $column:literal, $kind:literal) => {
        concat!(
            $table,
            ".",
            $column,
            " = ? OR ",
            $table,
            ".id IN (SELECT s.entity_id FROM record_access s WHERE s.entity_kind = '",
            $kind,
            "' AND s.user_id = ?)"
        )
    };
}

const MANAGER_LEADS: &str = mine_or_shared!("leads", "responsible_id", "lead");
const MANAGER_DEALS: &str = mine_or_shared!("deals", "responsible_id", "deal");
const MANAGER_COMPANIES: &str = concat!(
    mine_or_shared!("companies", "responsible_id", "company"),
    " OR companies.id IN (SELECT x.company_id FROM deals x WHERE x.id IN (",
    my_deals!(),
    "))"
);
const MANAGER_CONTACTS: &str = concat!(
    mine_or_shared!("contacts", "responsible_id", "contact"),
    " OR contacts.id IN (SELECT x.contact_id FROM deals x WHERE x.id IN (",
    my_deals!(),
    "))"
);
const MANAGER_INVOICES: &str = concat!("invoices.deal_id IN (", my_deals!(), ")");
const OWN_PAYMENT_REQUESTS: &str =
    mine_or_shared!("payment_requests", "author_id", "payment-request");
const OWN_TASKS: &str = mine_or_shared!("tasks", "assignee_id", "task");
/// Accounting's registry: approved and paid requests, and the drafts they
/// returned for rework (so they can follow them up) — never a request
/// being written, on approval or rejected.
const ACCOUNTANT_PAYMENT_REQUESTS: &str = "payment_requests.status IN ('approved', 'paid') \
     OR (payment_requests.status = 'draft' AND payment_requests.returned_by = ?)";

/// The kinds of sales records (seed 001/002).
fn is_sales(kind: EntityKind) -> bool {
    matches!(
        kind,
        EntityKind::Lead | EntityKind::Contact | EntityKind::Company | EntityKind::Deal
    )
}

/// The user column that names who a record is for, set to the creator
/// when a person creates one without it.
fn owner_field(kind: EntityKind) -> Option<&'static str> {
    match kind {
        EntityKind::Lead | EntityKind::Contact | EntityKind::Company | EntityKind::Deal => {
            Some("responsible_id")
        }
        EntityKind::PaymentRequest => Some("author_id"),
        EntityKind::Task => Some("assignee_id"),
        _ => None,
    }
}

/// The fields of a record that an access decision about it reads: a write
/// commits only if they are still what was decided on.
pub fn decided_on(kind: EntityKind) -> Vec<&'static str> {
    let mut fields: Vec<&'static str> = owner_field(kind).into_iter().collect();
    if matches!(kind, EntityKind::PaymentRequest | EntityKind::Invoice) {
        fields.push("status");
    }
    fields
}

impl Access {
    /// An admin (the CLI's and tests' own view).
    pub fn admin() -> Access {
        Access {
            role: Role::Admin,
            user_id: None,
        }
    }

    /// Which rows of `kind` this caller sees.
    pub fn visibility(&self, kind: EntityKind) -> Visibility {
        use EntityKind as K;
        let only = |sql: &'static str| Visibility::Where {
            sql,
            binds: sql.matches('?').count(),
        };
        match (self.role, kind) {
            (Role::Admin | Role::HeadOfSales, _) | (_, K::Product | K::User) => Visibility::All,
            (Role::Manager, K::Lead) => only(MANAGER_LEADS),
            (Role::Manager, K::Deal) => only(MANAGER_DEALS),
            (Role::Manager, K::Company) => only(MANAGER_COMPANIES),
            (Role::Manager, K::Contact) => only(MANAGER_CONTACTS),
            (Role::Manager, K::Invoice) => only(MANAGER_INVOICES),
            (Role::Manager, K::PaymentRequest) => only(OWN_PAYMENT_REQUESTS),
            (Role::Manager | Role::Accountant, K::Task) => only(OWN_TASKS),
            (Role::Accountant, K::Invoice | K::Company) => Visibility::All,
            (Role::Accountant, K::PaymentRequest) => only(ACCOUNTANT_PAYMENT_REQUESTS),
            (Role::Accountant, K::Lead | K::Contact | K::Deal) => Visibility::Nothing,
        }
    }

    /// [`Access::visibility`] as one SQL condition on the kind's table
    /// (`TRUE` for all, `FALSE` for none) and how many `?` in it bind the user.
    pub fn condition(&self, kind: EntityKind) -> (&'static str, usize) {
        match self.visibility(kind) {
            Visibility::All => ("TRUE", 0),
            Visibility::Nothing => ("FALSE", 0),
            Visibility::Where { sql, binds } => (sql, binds),
        }
    }

    /// A condition on rows that are about an entity (runs, approvals:
    /// `kind_column` holds its kind's name, `id_column` its id): the rows
    /// whose entity the caller may see, and how many `?` it binds to the
    /// user. None for an admin, who sees every row, those about no entity
    /// too; others never see rows about no entity (a schedule's runs).
    pub fn subject_sql(&self, kind_column: &str, id_column: &str) -> Option<(String, usize)> {
        if self.role == Role::Admin {
            return None;
        }
        let mut parts = Vec::new();
        let mut binds = 0;
        for kind in EntityKind::ALL {
            let table = crate::crm::schema::spec(kind).table;
            let name = kind.as_str();
            match self.visibility(kind) {
                Visibility::All => parts.push(format!("{kind_column} = '{name}'")),
                Visibility::Nothing => {}
                Visibility::Where { sql, binds: n } => {
                    binds += n;
                    parts.push(format!(
                        "({kind_column} = '{name}' AND {id_column} IN (SELECT {table}.id FROM {table} WHERE {sql}))"
                    ));
                }
            }
        }
        if parts.is_empty() {
            return Some(("FALSE".into(), 0));
        }
        Some((format!("({})", parts.join(" OR ")), binds))
    }

    /// Whether the caller has one of `roles`; the refusal says who may
    /// do `what` ("change the processes").
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), Refused> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let who: Vec<&str> = roles.iter().map(|r| r.words()).collect();
        Err(Refused {
            rule: format!(
                "only {} may {what}; your role is {}",
                join_or(&who),
                self.role
            ),
            may: roles.to_vec(),
        })
    }

    /// Refuses a create the role may not make; fills the record's owner
    /// (responsible, author, assignee) with the caller when it is left out,
    /// so a manager's new lead is theirs. A manager's payment request is
    /// always their own.
    pub fn prepare_create(
        &self,
        kind: EntityKind,
        fields: &mut Map<String, Value>,
    ) -> Result<(), Refused> {
        use EntityKind as K;
        use Role as R;
        match kind {
            K::User => self.require(&[R::Admin], "add users")?,
            K::Product => self.require(&[R::Admin, R::HeadOfSales], "change the catalogue")?,
            k if is_sales(k) => self.require(
                &[R::Manager, R::HeadOfSales, R::Admin],
                &format!("create a {k} (accounting does not create sales records)"),
            )?,
            K::Invoice => self.require(
                &[R::HeadOfSales, R::Accountant, R::Admin],
                "create an invoice directly (a manager issues one from their deal: POST /api/v1/deals/{id}/invoice)",
            )?,
            K::PaymentRequest => self.require(
                &[R::Manager, R::HeadOfSales, R::Admin],
                "create a payment request (accounting pays them)",
            )?,
            _ => {}
        }
        // Only where what the role sees depends on it: a manager's new lead
        // must be theirs to be seen again; an admin's is nobody's in
        // particular.
        let scoped = matches!(self.visibility(kind), Visibility::Where { .. });
        if let (Some(field), Some(user), true) = (owner_field(kind), &self.user_id, scoped) {
            let given = fields.get(field).filter(|v| !v.is_null());
            if kind == K::PaymentRequest && self.role == R::Manager {
                if given.is_some_and(|v| v.as_str() != Some(user.as_str())) {
                    return Err(Refused::rule(
                        "a manager's payment request is their own: leave author_id out or give yours",
                    ));
                }
                fields.insert(field.into(), Value::String(user.clone()));
            } else if given.is_none() {
                fields.insert(field.into(), Value::String(user.clone()));
            }
        }
        Ok(())
    }

    /// Refuses a change of `record` (which the caller can see) to `fields`
    /// that the role may not make.
    pub fn check_update(
        &self,
        kind: EntityKind,
        record: &Map<String, Value>,
        fields: &Map<String, Value>,
    ) -> Result<(), Refused> {
        use EntityKind as K;
        use Role as R;
        match kind {
            K::User => self.require(&[R::Admin], "change users"),
            K::Product => self.require(&[R::Admin, R::HeadOfSales], "change the catalogue"),
            k if is_sales(k) => self.require(
                &[R::Manager, R::HeadOfSales, R::Admin],
                &format!("change a {k}"),
            ),
            K::Invoice => {
                let to = fields.get("status").and_then(Value::as_str);
                if to == Some("paid") || fields.contains_key("paid_date") {
                    self.require(
                        &[R::Accountant, R::HeadOfSales, R::Admin],
                        "mark an invoice paid",
                    )
                } else {
                    Ok(())
                }
            }
            K::PaymentRequest => self.check_payment_request(record, fields),
            _ => Ok(()),
        }
    }

    /// Who moves a payment request where (seed 003): its author sends it
    /// for approval, the head of sales decides (never on their own
    /// request), accounting pays or returns it.
    fn check_payment_request(
        &self,
        record: &Map<String, Value>,
        fields: &Map<String, Value>,
    ) -> Result<(), Refused> {
        use Role as R;
        let text =
            |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        let from = text(record, "status").unwrap_or_else(|| "draft".into());
        let to = text(fields, "status").unwrap_or_else(|| from.clone());
        let author = text(record, "author_id");
        let is_author = author.is_some() && author == self.user_id;
        let others: Vec<&str> = fields
            .keys()
            .map(String::as_str)
            .filter(|k| !matches!(*k, "status" | "paid_date"))
            .collect();
        if !others.is_empty() {
            if !matches!(from.as_str(), "draft" | "rejected") {
                return Err(Refused::rule(format!(
                    "a request that is {from} is not edited ({}): only a draft or a rejected one is",
                    others.join(", ")
                )));
            }
            if !is_author {
                self.require(
                    &[R::HeadOfSales, R::Admin],
                    "edit another's payment request",
                )?;
            }
        }
        if from == to {
            return Ok(());
        }
        match (from.as_str(), to.as_str()) {
            ("draft" | "rejected", "on_approval" | "draft") | ("on_approval", "draft") => {
                if is_author {
                    Ok(())
                } else {
                    self.require(&[R::Admin], "send or withdraw another's payment request")
                }
            }
            ("on_approval" | "approved", "approved" | "rejected") => {
                if is_author {
                    return Err(Refused::rule(
                        "nobody decides their own payment request: the head of sales does",
                    ));
                }
                self.require(
                    &[R::HeadOfSales, R::Admin],
                    "approve or reject a payment request",
                )
            }
            ("approved", "paid" | "draft") => self.require(
                &[R::Accountant, R::Admin],
                if to == "paid" {
                    "mark a payment request paid"
                } else {
                    "return an approved request for rework"
                },
            ),
            // Anything else is the workflow's to refuse (422, naming the moves).
            _ => Ok(()),
        }
    }

    /// Refuses storing file `name` with `record` where the role may not:
    /// a payment request's payment order is accounting's (seed 003: the
    /// accountant attaches it), its other files its author's; any other
    /// record's files go with changing it.
    pub fn check_attach(
        &self,
        kind: EntityKind,
        record: &Map<String, Value>,
        name: &str,
    ) -> Result<(), Refused> {
        if kind != EntityKind::PaymentRequest {
            return self.check_update(kind, record, &Map::new());
        }
        if name.starts_with("payment-order") {
            return self.require(&[Role::Accountant, Role::Admin], "attach a payment order");
        }
        // The contractor's invoice and other papers: its author's (who may
        // add one late), or the head of sales's and an admin's.
        let author = record.get("author_id").and_then(Value::as_str);
        if author.is_some() && author == self.user_id.as_deref() {
            return Ok(());
        }
        self.require(
            &[Role::HeadOfSales, Role::Admin],
            "attach papers to another's payment request",
        )
    }

    /// Refuses a delete the role may not make.
    pub fn check_delete(&self, kind: EntityKind) -> Result<(), Refused> {
        use Role as R;
        match kind {
            EntityKind::User => self.require(&[R::Admin], "remove users"),
            EntityKind::Task => Ok(()),
            k => self.require(&[R::HeadOfSales, R::Admin], &format!("delete a {k}")),
        }
    }

    /// Whether the caller may share `record` of `kind` with others: its
    /// owner (responsible, author), the head of sales or an admin.
    pub fn check_share(
        &self,
        kind: EntityKind,
        record: &Map<String, Value>,
    ) -> Result<(), Refused> {
        let owner = owner_field(kind)
            .and_then(|f| record.get(f))
            .and_then(Value::as_str);
        if owner.is_some() && owner == self.user_id.as_deref() {
            return Ok(());
        }
        self.require(
            &[Role::HeadOfSales, Role::Admin],
            &format!("share a {kind} they are not responsible for"),
        )
    }
}

/// "a", "a or b", "a, b or c".
fn join_or(items: &[&str]) -> String {
    match items {
        [] => "nobody".into(),
        [one] => (*one).into(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn who(role: Role, user: &str) -> Access {
        Access {
            role,
            user_id: Some(user.into()),
        }
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_condition_binds_only_the_user_and_names_its_table() {
        for role in Role::ALL {
            for kind in EntityKind::ALL {
                if let Visibility::Where { sql, binds } = who(role, "u").visibility(kind) {
                    assert!(binds > 0, "{role} {kind}");
                    let table = crate::crm::schema::spec(kind).table;
                    assert!(sql.contains(&format!("{table}.")), "{role} {kind}: {sql}");
                    assert!(!sql.contains('$') && !sql.contains(';'), "{sql}");
                }
            }
        }
    }

    #[test]
    fn accounting_sees_no_leads_and_only_approved_requests() {
        let a = who(Role::Accountant, "acc");
        assert_eq!(a.visibility(EntityKind::Lead), Visibility::Nothing);
        assert_eq!(a.visibility(EntityKind::Deal), Visibility::Nothing);
        assert_eq!(a.visibility(EntityKind::Invoice), Visibility::All);
        let Visibility::Where { sql, .. } = a.visibility(EntityKind::PaymentRequest) else {
            panic!("accounting must not see every request");
        };
        assert!(sql.contains("'approved', 'paid'"));
        assert!(!sql.contains("on_approval") && !sql.contains("rejected"));
    }

    #[test]
    fn a_managers_create_is_theirs_and_accounting_creates_no_sales_records() {
        let m = who(Role::Manager, "m1");
        let mut lead = map(json!({"title": "x"}));
        m.prepare_create(EntityKind::Lead, &mut lead).unwrap();
        assert_eq!(lead["responsible_id"], "m1");
        let mut request = map(json!({"author_id": "m2"}));
        let e = m
            .prepare_create(EntityKind::PaymentRequest, &mut request)
            .unwrap_err();
        assert!(e.rule.contains("their own"), "{e}");
        assert!(e.may.is_empty(), "a rule not about roles");
        let e = who(Role::Accountant, "a")
            .prepare_create(EntityKind::Deal, &mut map(json!({})))
            .unwrap_err();
        assert_eq!(
            e.rule,
            "only a manager, the head of sales or an admin may create a deal (accounting does not create sales records); your role is accountant"
        );
        assert_eq!(e.may, [Role::Manager, Role::HeadOfSales, Role::Admin]);
    }

    #[test]
    fn payment_request_moves_belong_to_their_roles() {
        let request = map(json!({"status": "on_approval", "author_id": "m1"}));
        let approve = map(json!({"status": "approved"}));
        let author = who(Role::Manager, "m1");
        assert!(
            author
                .check_update(EntityKind::PaymentRequest, &request, &approve)
                .unwrap_err()
                .rule
                .contains("their own")
        );
        // A head of sales who wrote the request does not approve it either.
        let head_author = who(Role::HeadOfSales, "m1");
        assert!(
            head_author
                .check_update(EntityKind::PaymentRequest, &request, &approve)
                .is_err()
        );
        assert!(
            who(Role::HeadOfSales, "h")
                .check_update(EntityKind::PaymentRequest, &request, &approve)
                .is_ok()
        );
        let approved = map(json!({"status": "approved", "author_id": "m1"}));
        let paid = map(json!({"status": "paid", "paid_date": "2026-12-05"}));
        assert!(
            who(Role::Accountant, "a")
                .check_update(EntityKind::PaymentRequest, &approved, &paid)
                .is_ok()
        );
        assert!(
            who(Role::HeadOfSales, "h")
                .check_update(EntityKind::PaymentRequest, &approved, &paid)
                .is_err()
        );
        let edit = map(json!({"amount": "10"}));
        assert!(
            author
                .check_update(EntityKind::PaymentRequest, &approved, &edit)
                .unwrap_err()
                .rule
                .contains("not edited")
        );
    }
}
