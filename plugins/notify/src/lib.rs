//! `notify`: an in-app notification to a user — by default the responsible
//! user of the entity it is about — and, if asked, the same by e-mail.

use robota_sdk::{
    Action, Capability, Context, EntityInput, EntityKind, EntityRef, Error, Manifest, crm, mail,
    notify,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Who to notify; by default the `entity`'s responsible user.
    #[serde(default)]
    user_id: Option<String>,
    /// What the notification is about, `{"kind": "invoice", "id": "…"}`.
    #[serde(default)]
    entity: Option<EntityInput>,
    /// A short title.
    title: String,
    /// The text.
    #[serde(default)]
    body: String,
    /// Also e-mail the user (needs `mail.send`).
    #[serde(default)]
    email: bool,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    notification_id: String,
    user_id: String,
    message_id: Option<String>,
}

/// The user responsible for an entity: a deal's or contact's responsible, a
/// task's assignee, an invoice's deal's responsible.
fn responsible_of(entity: &EntityRef) -> Result<Option<String>, Error> {
    let record: Value = crm::get(entity)?;
    let field = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(match entity.kind {
        EntityKind::Task => field("assignee_id"),
        EntityKind::Invoice => match field("deal_id") {
            Some(deal) => crm::get_deal(&deal)?.responsible_id,
            None => None,
        },
        EntityKind::PaymentRequest => field("author_id"),
        EntityKind::User => Some(entity.id.clone()),
        _ => field("responsible_id"),
    })
}

struct Notify;

impl Action for Notify {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new("notify", env!("CARGO_PKG_VERSION"), "Notify a user")
            .description(
                "Notifies a user in the app (by default the entity's responsible user), \
                 optionally by e-mail as well",
            )
            .input_schema(json!({
                "type": "object",
                "required": ["title"],
                "additionalProperties": false,
                "properties": {
                    "user_id": { "type": "string" },
                    "entity": {
                        "type": "object",
                        "required": ["kind", "id"],
                        "properties": { "kind": { "type": "string" }, "id": { "type": "string" } }
                    },
                    "title": { "type": "string", "minLength": 1 },
                    "body": { "type": "string" },
                    "email": { "type": "boolean" }
                }
            }))
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "notification_id": { "type": "string" },
                    "user_id": { "type": "string" },
                    "message_id": { "type": ["string", "null"] }
                }
            }))
            .capability(Capability::CrmRead)
            .capability(Capability::NotifySend)
            .capability(Capability::MailSend)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        if input.title.trim().is_empty() {
            return Err(Error::InvalidInput("title must not be empty".into()));
        }
        let entity = input
            .entity
            .as_ref()
            .map(|e| e.entity_ref("entity"))
            .transpose()?;
        let user_id = match (&input.user_id, &entity) {
            (Some(u), _) if !u.trim().is_empty() => u.clone(),
            (_, Some(e)) => responsible_of(e)?.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{} {} has no responsible user; give user_id",
                    e.kind.as_str(),
                    e.id
                ))
            })?,
            _ => return Err(Error::InvalidInput("give user_id or entity".into())),
        };
        let user: Value = crm::get(&EntityRef {
            kind: EntityKind::User,
            id: user_id.clone(),
        })?;
        let notification_id = notify::send(&user_id, &input.title, &input.body, entity)?;
        let message_id = if input.email {
            let address = user
                .get("email")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| Error::InvalidInput(format!("user {user_id} has no e-mail")))?;
            Some(
                mail::Message::to(address)
                    .subject(&input.title)
                    .text(&input.body)
                    .send()?,
            )
        } else {
            None
        };
        Ok(Output {
            notification_id,
            user_id,
            message_id,
        })
    }
}

robota_sdk::export_action!(Notify);
