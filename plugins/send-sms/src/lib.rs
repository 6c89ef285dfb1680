//! `send-sms`: sends a text message through an SMS.ru-compatible gateway
//! (`POST {gateway.url}/sms/send` with `api_id`, `to`, `msg`, `json=1`) to a
//! number, or to the client of an entity: a lead's phone, a deal's contact
//! (or company), a contact's or company's phone, or — for a task such as a
//! meeting — the client of what the task is about. The gateway's key comes
//! from the action's config and never appears in logs or output; a refused
//! message fails the step with the gateway's reason, a 5xx or a timeout is
//! transient and retried.

use robota_sdk::{
    Action, Capability, Context, EntityInput, EntityKind, EntityRef, Error, Manifest, crm, http,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The number; by default the client's of `entity`.
    #[serde(default)]
    to: Option<String>,
    /// The entity whose client gets the message.
    #[serde(default)]
    entity: Option<EntityInput>,
    /// The message.
    text: String,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    /// The number in E.164.
    to: String,
    /// The gateway's id of the message.
    sms_id: String,
}

/// The config key of the gateway's base URL.
const URL_KEY: &str = "gateway.url";
/// The config key of the gateway's API key (`api_id`).
const KEY_KEY: &str = "gateway.api_id";
/// The longest message sent (SMS.ru's limit is 8 parts of 70 Cyrillic characters).
const MAX_CHARS: usize = 560;

struct SendSms;

impl Action for SendSms {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new("send-sms", env!("CARGO_PKG_VERSION"), "Send an SMS")
            .description("Sends an SMS through an SMS.ru-compatible gateway to a number or an entity's client")
            .input_schema(json!({
                "type": "object",
                "required": ["text"],
                "additionalProperties": false,
                "properties": {
                    "to": { "type": "string" },
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
                "properties": { "to": { "type": "string" }, "sms_id": { "type": "string" } }
            }))
            .capability(Capability::CrmRead)
            // The gateway's address is the admin's to set: they grant that host.
            .capability(Capability::HttpFetch(vec!["*".into()]))
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let text = input.text.trim();
        if text.is_empty() {
            return Err(Error::InvalidInput("text: a message needs text".into()));
        }
        if text.chars().count() > MAX_CHARS {
            return Err(Error::InvalidInput(format!(
                "text: {} characters; an SMS takes at most {MAX_CHARS}",
                text.chars().count()
            )));
        }
        let raw = match (&input.to, &input.entity) {
            (Some(to), _) => to.clone(),
            (None, Some(entity)) => client_phone(&entity.entity_ref("entity")?)?,
            (None, None) => {
                return Err(Error::InvalidInput("give `to` or `entity`".into()));
            }
        };
        let to = robota_requisites::phone_e164(&raw)
            .ok_or_else(|| Error::InvalidInput(format!("to: `{raw}` is not a phone number")))?;
        let base = config(URL_KEY, "the gateway's base URL")?;
        let key = config(KEY_KEY, "the gateway's api_id")?;
        let number = to.trim_start_matches('+');
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("api_id", &key)
            .append_pair("to", number)
            .append_pair("msg", text)
            .append_pair("json", "1")
            .finish();
        let response = http::Request::post(&format!("{}/sms/send", base.trim_end_matches('/')))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.into_bytes())
            .timeout_ms(15_000)
            .send()?;
        if response.status >= 500 || response.status == 429 {
            return Err(Error::Transient(format!(
                "the SMS gateway answered HTTP {}; retrying later",
                response.status
            )));
        }
        if response.status != 200 {
            return Err(Error::Failed(format!(
                "the SMS gateway answered HTTP {}",
                response.status
            )));
        }
        let answer: Value = serde_json::from_slice(&response.body)
            .map_err(|e| Error::Failed(format!("the SMS gateway's answer is not JSON: {e}")))?;
        let reason = |v: &Value| {
            let code = v
                .get("status_code")
                .map(Value::to_string)
                .unwrap_or_default();
            let text = v
                .get("status_text")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            format!("{text} (code {code})")
        };
        if answer.get("status").and_then(Value::as_str) != Some("OK") {
            let code = answer.get("status_code").and_then(Value::as_i64);
            // 200, 201 (SMS.ru): a wrong or blocked api_id.
            let fix = if matches!(code, Some(200 | 201)) {
                format!("; check `{KEY_KEY}` in the action's config")
            } else {
                String::new()
            };
            return Err(Error::Failed(format!(
                "the SMS gateway refused the request: {}{fix}",
                reason(&answer)
            )));
        }
        let sent = answer
            .get("sms")
            .and_then(|s| s.get(number))
            .ok_or_else(|| {
                Error::Failed(format!("the SMS gateway's answer says nothing of {to}"))
            })?;
        if sent.get("status").and_then(Value::as_str) != Some("OK") {
            return Err(Error::Failed(format!(
                "the SMS to {to} was refused: {}",
                reason(sent)
            )));
        }
        Ok(Output {
            to,
            sms_id: sent
                .get("sms_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

fn config(key: &str, what: &str) -> Result<String, Error> {
    robota_sdk::config::get(key)?
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "config key `{key}` is not set: give {what} in plugins.toml"
            ))
        })
}

fn fetch(kind: EntityKind, id: &str) -> Result<Value, Error> {
    crm::get(&EntityRef {
        kind,
        id: id.to_owned(),
    })
}

fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn first_phone(v: &Value) -> Option<String> {
    text(v, "phone").map(str::to_owned).or_else(|| {
        v.get("phones")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find_map(Value::as_str))
            .map(str::to_owned)
    })
}

/// The phone of the client an entity is about.
fn client_phone(entity: &EntityRef) -> Result<String, Error> {
    let record = crm::get::<Value>(entity)?;
    let phone = match entity.kind {
        EntityKind::Lead | EntityKind::Contact | EntityKind::Company => first_phone(&record),
        EntityKind::Deal => {
            let contact = text(&record, "contact_id")
                .map(|id| fetch(EntityKind::Contact, id))
                .transpose()?;
            let company = text(&record, "company_id")
                .map(|id| fetch(EntityKind::Company, id))
                .transpose()?;
            contact
                .as_ref()
                .and_then(first_phone)
                .or_else(|| company.as_ref().and_then(first_phone))
        }
        EntityKind::Task => {
            let about = match (
                text(&record, "entity_kind").and_then(EntityKind::parse),
                text(&record, "entity_id"),
            ) {
                (Some(kind), Some(id)) if kind != EntityKind::Task => EntityRef {
                    kind,
                    id: id.to_owned(),
                },
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "task {} is about no lead, deal or client",
                        entity.id
                    )));
                }
            };
            return client_phone(&about);
        }
        _ => None,
    };
    phone.ok_or_else(|| {
        Error::InvalidInput(format!(
            "{} {} has no client phone to send to",
            entity.kind.as_str(),
            entity.id
        ))
    })
}

robota_sdk::export_action!(SendSms);
