//! `send-email`: an e-mail from minijinja templates filled with an entity's
//! fields — the recipients from the entity (an invoice's buyer, a deal's
//! contact or company) unless given — with files stored with entities (such
//! as an invoice's PDF) attached, queued in the outbox with the step's writes.

mod templates;

use robota_sdk::{
    Action, Capability, Context, EntityInput, EntityKind, EntityRef, Error, Manifest, crm, mail,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Recipients; by default the entity's e-mail.
    #[serde(default)]
    to: Vec<String>,
    /// Carbon copies.
    #[serde(default)]
    cc: Vec<String>,
    /// The entity the message is about: its fields fill the templates.
    #[serde(default)]
    entity: Option<EntityInput>,
    /// A named template: from config (`templates.<name>.*`) or built in
    /// (`invoice`, `invoice_reminder`).
    #[serde(default)]
    template: Option<String>,
    /// A subject template (overrides the named one).
    #[serde(default)]
    subject: Option<String>,
    /// A text body template (overrides the named one).
    #[serde(default)]
    text: Option<String>,
    /// An HTML body template (overrides the named one).
    #[serde(default)]
    html: Option<String>,
    /// More variables for the templates.
    #[serde(default)]
    context: Map<String, Value>,
    /// Files stored with entities to attach.
    #[serde(default)]
    attachments: Vec<AttachmentRef>,
}

/// A stored file to attach.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentRef {
    /// The entity the file is stored with.
    entity: EntityInput,
    /// The stored file's name, such as "invoice.pdf".
    file: String,
    /// The name the recipient sees (a template); the stored name by default.
    #[serde(default)]
    filename: Option<String>,
    /// Leave the file out when the entity has none of that name (a
    /// payment order may be a PDF the accountant attached or the bank's
    /// text from a statement), instead of failing.
    #[serde(default)]
    optional: bool,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    message_id: String,
    to: Vec<String>,
    subject: String,
    attachments: Vec<String>,
}

fn text_field(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

fn first_email(v: &Value) -> Option<String> {
    text_field(v, "email").or_else(|| {
        v.get("emails")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}

fn fetch(kind: EntityKind, id: &str) -> Result<Value, Error> {
    crm::get(&EntityRef {
        kind,
        id: id.to_owned(),
    })
}

/// The template variables for an entity — the record under its kind's name
/// and the records it refers to — and the e-mail its messages go to.
fn context_of(entity: &EntityRef) -> Result<(Map<String, Value>, Option<String>), Error> {
    let record: Value = crm::get(entity)?;
    let mut ctx = Map::new();
    let related = |ctx: &mut Map<String, Value>, name: &str, kind, field: &str| match text_field(
        &record, field,
    ) {
        Some(id) => {
            let v = fetch(kind, &id)?;
            ctx.insert(name.to_owned(), v.clone());
            Ok::<_, Error>(Some(v))
        }
        None => Ok(None),
    };
    let email = match entity.kind {
        EntityKind::Invoice => {
            if let Some(deal) = related(&mut ctx, "deal", EntityKind::Deal, "deal_id")?
                && let Some(id) = text_field(&deal, "responsible_id")
            {
                ctx.insert("manager".into(), fetch(EntityKind::User, &id)?);
            }
            let company = related(&mut ctx, "company", EntityKind::Company, "buyer_company_id")?;
            let contact = related(&mut ctx, "contact", EntityKind::Contact, "buyer_contact_id")?;
            record
                .get("buyer")
                .and_then(|b| text_field(b, "email"))
                .or_else(|| contact.as_ref().and_then(first_email))
                .or_else(|| company.as_ref().and_then(first_email))
        }
        EntityKind::PaymentRequest => {
            // The contractor's company hears of its payment.
            let company = related(
                &mut ctx,
                "company",
                EntityKind::Company,
                "contractor_company_id",
            )?;
            company.as_ref().and_then(first_email)
        }
        EntityKind::Deal => {
            let company = related(&mut ctx, "company", EntityKind::Company, "company_id")?;
            let contact = related(&mut ctx, "contact", EntityKind::Contact, "contact_id")?;
            if let Some(id) = text_field(&record, "responsible_id") {
                ctx.insert("manager".into(), fetch(EntityKind::User, &id)?);
            }
            contact
                .as_ref()
                .and_then(first_email)
                .or_else(|| company.as_ref().and_then(first_email))
        }
        EntityKind::Task => {
            // A task (such as a meeting) writes to the client of what it
            // is about, with that record's variables too; its assignee is
            // the manager who holds it.
            let about = match (
                text_field(&record, "entity_kind").and_then(|k| EntityKind::parse(&k)),
                text_field(&record, "entity_id"),
            ) {
                (Some(kind), Some(id)) if kind != EntityKind::Task => Some(EntityRef { kind, id }),
                _ => None,
            };
            let email = match about {
                Some(about) => {
                    let (about_ctx, email) = context_of(&about)?;
                    ctx.extend(about_ctx);
                    email
                }
                None => None,
            };
            if let Some(id) = text_field(&record, "assignee_id") {
                ctx.insert("manager".into(), fetch(EntityKind::User, &id)?);
            }
            email
        }
        _ => first_email(&record),
    };
    ctx.insert(entity.kind.as_str().replace('-', "_"), record);
    Ok((ctx, email))
}

fn check_address(a: &str) -> Result<(), Error> {
    let ok = a.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !a.contains(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "`{a}` is not an e-mail address"
        )))
    }
}

struct SendEmail;

impl Action for SendEmail {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new("send-email", env!("CARGO_PKG_VERSION"), "Send an e-mail")
            .description(
                "Sends an e-mail through the outbox: subject and bodies from minijinja templates \
                 with the entity's fields, recipients from the entity or given, stored files attached",
            )
            .input_schema(json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "to": { "type": "array", "items": { "type": "string" } },
                    "cc": { "type": "array", "items": { "type": "string" } },
                    "entity": {
                        "type": "object",
                        "required": ["kind", "id"],
                        "properties": { "kind": { "type": "string" }, "id": { "type": "string" } }
                    },
                    "template": { "type": "string" },
                    "subject": { "type": "string" },
                    "text": { "type": "string" },
                    "html": { "type": "string" },
                    "context": { "type": "object" },
                    "attachments": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["entity", "file"],
                            "properties": {
                                "entity": { "type": "object" },
                                "file": { "type": "string" },
                                "filename": { "type": "string" },
                                "optional": { "type": "boolean" }
                            }
                        }
                    }
                }
            }))
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "message_id": { "type": "string" },
                    "to": { "type": "array", "items": { "type": "string" } },
                    "subject": { "type": "string" },
                    "attachments": { "type": "array", "items": { "type": "string" } }
                }
            }))
            .capability(Capability::CrmRead)
            .capability(Capability::MailSend)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let entity = input
            .entity
            .as_ref()
            .map(|t| t.entity_ref("entity"))
            .transpose()?;
        let (mut ctx, entity_email) = match &entity {
            Some(e) => context_of(e)?,
            None => (Map::new(), None),
        };
        for (k, v) in input.context {
            ctx.insert(k, v);
        }
        let ctx = Value::Object(ctx);

        let mut t = match &input.template {
            Some(name) => templates::named(name)?,
            None => templates::Templates::default(),
        };
        if let Some(s) = input.subject {
            t.subject = s;
        }
        if let Some(s) = input.text {
            t.text = s;
        }
        if input.html.is_some() {
            t.html = input.html;
        }
        if t.subject.trim().is_empty() || t.text.trim().is_empty() {
            return Err(Error::InvalidInput(
                "give a template, or a subject and a text".into(),
            ));
        }
        let subject = templates::render("subject", &t.subject, &ctx)?;
        let text = templates::render("text", &t.text, &ctx)?;
        let html = t
            .html
            .as_deref()
            .map(|h| templates::render("html", h, &ctx))
            .transpose()?;

        let to = if input.to.is_empty() {
            match entity_email {
                Some(a) => vec![a],
                None => {
                    return Err(Error::InvalidInput(match &entity {
                        Some(e) => format!(
                            "no recipient: {} {} has no e-mail; give `to`",
                            e.kind.as_str(),
                            e.id
                        ),
                        None => "no recipient: give `to` or an entity with an e-mail".into(),
                    }));
                }
            }
        } else {
            input.to
        };
        for a in to.iter().chain(&input.cc) {
            check_address(a)?;
        }

        let mut message = mail::Message::to(&to[0]);
        for a in &to[1..] {
            message = message.also_to(a);
        }
        for a in &input.cc {
            message = message.cc(a);
        }
        message = message.subject(subject.trim()).text(&text);
        if let Some(h) = &html {
            message = message.html(h);
        }
        let mut names = Vec::new();
        for (i, a) in input.attachments.iter().enumerate() {
            let owner = a.entity.entity_ref(&format!("attachments[{i}].entity"))?;
            let file = match crm::get_file(&owner, &a.file) {
                Ok(file) => file,
                Err(Error::NotFound(_)) if a.optional => continue,
                Err(e) => return Err(e),
            };
            let name = match &a.filename {
                Some(n) => templates::render(&format!("attachments[{i}].filename"), n, &ctx)?,
                None => file.name.clone(),
            };
            message = message.attach(&name, &file.content_type, file.content);
            names.push(name);
        }
        let message_id = message.send()?;
        Ok(Output {
            message_id,
            to,
            subject: subject.trim().to_owned(),
            attachments: names,
        })
    }
}

robota_sdk::export_action!(SendEmail);
