//! `chaos`: a test action that misbehaves on request, so the host's sandbox
//! and capability checks can be tested against a real component.

use robota_sdk::{
    Action, Capability, Context, EntityKind, EntityRef, Error, Manifest, config, crm, http, mail,
    notify,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// One thing to do; the `do` tag picks it.
#[derive(Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
enum Input {
    /// Return the context and this value.
    Echo { value: Value },
    /// Spin forever.
    Loop,
    /// Sleep through a host call (a blocking WASI poll).
    Sleep { ms: u64 },
    /// Allocate and touch memory until something gives.
    Grow,
    /// Panic with this message.
    Panic { message: String },
    /// Return an error of this kind.
    Fail { kind: String, message: String },
    /// Return a string of this many bytes.
    BigOutput { bytes: usize },
    /// Print this many lines to stdout.
    Print { lines: usize },
    /// Create an entity.
    Create { kind: String, fields: Value },
    /// Create an entity, but only from attempt `succeed_at` on; earlier
    /// attempts fail with a transient error (after buffering the create,
    /// which must then be dropped).
    Flaky {
        succeed_at: u32,
        kind: String,
        fields: Value,
    },
    /// Create an entity, then read it back inside the same step.
    CreateAndRead { kind: String, fields: Value },
    /// Update an entity.
    Update {
        kind: String,
        id: String,
        fields: Value,
    },
    /// Read an entity.
    Get { kind: String, id: String },
    /// Query entities with one equality filter.
    Query {
        kind: String,
        field: String,
        value: Value,
    },
    /// Fetch a URL.
    Fetch { url: String },
    /// Fetch a URL sending these headers.
    FetchWith {
        url: String,
        headers: Vec<(String, String)>,
    },
    /// Create `count` leads whose `topic` is `bytes` long; with
    /// `ignore_errors` a refused create is skipped and the action returns
    /// normally (the host must still fail the call past its caps).
    CreateMany {
        count: usize,
        bytes: usize,
        #[serde(default)]
        ignore_errors: bool,
        /// Then query leads with this limit and say how many came.
        query_limit: Option<u32>,
    },
    /// Query every entity of a kind with this limit; returns how many came.
    QueryAll { kind: String, limit: u32 },
    /// Add a note of `bytes` bytes to an entity.
    Note {
        kind: String,
        id: String,
        bytes: usize,
    },
    /// Recurse until the stack runs out.
    Recurse,
    /// Count this call in the instance's own memory and print it: a
    /// never-used instance always answers 1.
    Count,
    /// Queue an e-mail.
    Mail { to: String, subject: String },
    /// Notify a user.
    Notify { user_id: String },
    /// Read a config key.
    Config { key: String },
}

fn kind(name: &str) -> Result<EntityKind, Error> {
    Ok(match name {
        "lead" => EntityKind::Lead,
        "contact" => EntityKind::Contact,
        "company" => EntityKind::Company,
        "deal" => EntityKind::Deal,
        "product" => EntityKind::Product,
        "invoice" => EntityKind::Invoice,
        "payment-request" => EntityKind::PaymentRequest,
        "task" => EntityKind::Task,
        "user" => EntityKind::User,
        other => return Err(Error::InvalidInput(format!("unknown kind {other}"))),
    })
}

struct Chaos;

/// Calls this instance has run (see `Input::Count`).
static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Calls itself with a frame that lives on the stack in linear memory
/// (the array is borrowed), until that stack runs out.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 512]);
    let below = recurse(std::hint::black_box(depth + 1));
    std::hint::black_box(&frame);
    below + u64::from(frame[0])
}

impl Action for Chaos {
    type Input = Input;
    type Output = Value;

    fn manifest() -> Manifest {
        Manifest::new("chaos", "0.1.0", "Chaos")
            .description("Misbehaves on request, for tests")
            .capability(Capability::CrmRead)
            .capability(Capability::CrmWrite)
            .capability(Capability::MailSend)
            .capability(Capability::NotifySend)
            .capability(Capability::HttpFetch(vec![
                "127.0.0.1".into(),
                "localhost".into(),
            ]))
    }

    fn run(ctx: &Context, input: Input) -> Result<Value, Error> {
        match input {
            Input::Echo { value } => Ok(json!({
                "value": value,
                "run_id": ctx.run_id,
                "step_id": ctx.step_id,
                "idempotency_key": ctx.idempotency_key,
                "attempt": ctx.attempt,
            })),
            Input::Loop => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Input::Sleep { ms } => {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(json!({ "slept": ms }))
            }
            Input::Grow => {
                let mut chunks: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = vec![0u8; 1 << 20];
                    chunk[0] = 1;
                    chunks.push(std::hint::black_box(chunk));
                }
            }
            Input::Panic { message } => panic!("{message}"),
            Input::Fail { kind, message } => Err(match kind.as_str() {
                "transient" => Error::Transient(message),
                "conflict" => Error::Conflict(message),
                "not-found" => Error::NotFound(message),
                "invalid-input" => Error::InvalidInput(message),
                _ => Error::Failed(message),
            }),
            Input::BigOutput { bytes } => Ok(json!({ "data": "x".repeat(bytes) })),
            Input::Print { lines } => {
                for i in 0..lines {
                    println!("line {i} of chaos output");
                }
                Ok(json!({ "printed": lines }))
            }
            Input::Create { kind: k, fields } => {
                let r = crm::create(kind(&k)?, &fields)?;
                Ok(json!({ "id": r.id }))
            }
            Input::Flaky {
                succeed_at,
                kind: k,
                fields,
            } => {
                let r = crm::create(kind(&k)?, &fields)?;
                if ctx.attempt < succeed_at {
                    return Err(Error::Transient(format!(
                        "attempt {} of {succeed_at}: not yet",
                        ctx.attempt
                    )));
                }
                Ok(json!({ "id": r.id, "attempt": ctx.attempt }))
            }
            Input::CreateAndRead { kind: k, fields } => {
                let r = crm::create(kind(&k)?, &fields)?;
                let back: Value = crm::get(&r)?;
                Ok(back)
            }
            Input::Update {
                kind: k,
                id,
                fields,
            } => {
                crm::update(
                    &EntityRef {
                        kind: kind(&k)?,
                        id,
                    },
                    &fields,
                )?;
                Ok(json!({ "updated": true }))
            }
            Input::Get { kind: k, id } => crm::get(&EntityRef {
                kind: kind(&k)?,
                id,
            }),
            Input::Query {
                kind: k,
                field,
                value,
            } => {
                let rows: Vec<Value> = crm::Query::new(kind(&k)?).eq(&field, value).fetch()?;
                Ok(json!({ "rows": rows }))
            }
            Input::FetchWith { url, headers } => {
                let mut req = http::Request::get(&url);
                for (name, value) in &headers {
                    req = req.header(name, value);
                }
                let r = req.send()?;
                Ok(json!({ "status": r.status, "body": r.text() }))
            }
            Input::CreateMany {
                count,
                bytes,
                ignore_errors,
                query_limit,
            } => {
                let topic = "x".repeat(bytes);
                let mut made = 0;
                for i in 0..count {
                    let fields = json!({ "title": format!("lead {i}"), "topic": topic });
                    match crm::create(EntityKind::Lead, &fields) {
                        Ok(_) => made += 1,
                        Err(_) if ignore_errors => {}
                        Err(e) => return Err(e),
                    }
                }
                let queried = match query_limit {
                    Some(limit) => {
                        let rows: Vec<Value> =
                            crm::Query::new(EntityKind::Lead).limit(limit).fetch()?;
                        Some(rows.len())
                    }
                    None => None,
                };
                Ok(json!({ "created": made, "queried": queried }))
            }
            Input::QueryAll { kind: k, limit } => {
                let rows: Vec<Value> = crm::Query::new(kind(&k)?).limit(limit).fetch()?;
                Ok(json!({ "rows": rows.len() }))
            }
            Input::Note { kind: k, id, bytes } => {
                crm::add_note(
                    &EntityRef {
                        kind: kind(&k)?,
                        id,
                    },
                    &"n".repeat(bytes),
                )?;
                Ok(json!({ "noted": bytes }))
            }
            Input::Recurse => Ok(json!({ "depth": recurse(0) })),
            Input::Count => {
                let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                println!("call {n} of this instance");
                Ok(json!({ "calls": n }))
            }
            Input::Fetch { url } => {
                let r = http::Request::get(&url).send()?;
                Ok(json!({ "status": r.status, "body": r.text() }))
            }
            Input::Mail { to, subject } => {
                let id = mail::Message::to(&to)
                    .subject(&subject)
                    .text("Hello from chaos")
                    .send()?;
                Ok(json!({ "message_id": id }))
            }
            Input::Notify { user_id } => {
                let id = notify::send(&user_id, "Chaos", "A notification", None)?;
                Ok(json!({ "notification_id": id }))
            }
            Input::Config { key } => Ok(json!({ "value": config::get(&key)? })),
        }
    }
}

robota_sdk::export_action!(Chaos);
