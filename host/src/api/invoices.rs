//! An invoice by hand and out to the client: `POST /api/v1/deals/{id}/invoice`
//! issues one through the same actions the processes use (create-invoice,
//! then render-invoice-pdf), `GET /api/v1/invoices/{id}/html` shows the
//! printable form, `POST /api/v1/invoices/{id}/send` e-mails it (the PDF
//! attached, or a link), and share links (`POST /api/v1/invoices/{id}/share`,
//! `GET …/shares`, `DELETE …/shares/{share_id}`) open its PDF at
//! `GET /share/{token}` without an API token until they expire or are revoked.

use super::AppState;
use super::auth::{Caller, hash_token, random_token};
use super::entities::visible;
use super::files::{file_response, newest_pdf};
use super::problem::{ApiError, ApiResult, direct_error, optional_body};
use crate::crm::changes::Change;
use crate::crm::{EntityKind, EntityRef};
use crate::engine::definition::ActionRef;
use crate::store::CrmStore;
use crate::store::prelude::*;
use crate::store::shares::ShareLink;
use axum::extract::{Extension, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes that need a token.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/deals/{id}/invoice", post(issue))
        .route("/api/v1/invoices/{id}/html", get(html))
        .route("/api/v1/invoices/{id}/share", post(share))
        .route("/api/v1/invoices/{id}/send", post(send))
        .route("/api/v1/invoices/{id}/shares", get(shares))
        .route("/api/v1/invoices/{id}/shares/{share_id}", delete(revoke))
}

/// The public route: a share link.
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/share/{token}", get(shared))
}

/// How long a share link works unless the caller says otherwise.
pub const DEFAULT_SHARE_DAYS: i64 = 30;
/// The longest a share link may work.
pub const MAX_SHARE_DAYS: i64 = 365;

fn action(id: &str) -> ActionRef {
    ActionRef {
        id: id.into(),
        major: 1,
    }
}

/// Invoice `id` if the caller may see it (404 otherwise).
async fn seen_invoice(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(EntityRef, serde_json::Map<String, Value>), ApiError> {
    let target = EntityRef {
        kind: EntityKind::Invoice,
        id: id.to_owned(),
    };
    let record = visible(state, caller, &target).await?;
    Ok((target, record))
}

/// Invoice `id` whoever asks (a share link's token is its own key).
async fn invoice(
    state: &AppState,
    id: &str,
) -> Result<(EntityRef, serde_json::Map<String, Value>), ApiError> {
    let target = EntityRef {
        kind: EntityKind::Invoice,
        id: id.to_owned(),
    };
    let record = state
        .store
        .get(&target)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{target} not found")))?;
    Ok((target, record))
}

/// The body of `POST /api/v1/deals/{id}/invoice`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    /// "YYYY-MM-DD"; today (company time) by default.
    issue_date: Option<String>,
    /// Days to pay.
    due_in_days: Option<u32>,
    /// Count working days only.
    #[serde(default)]
    business_days: bool,
    /// Issue even though the deal has an open invoice.
    #[serde(default)]
    force: bool,
}

async fn issue(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: IssueBody = optional_body(
        body,
        r#"{"issue_date"?, "due_in_days"?, "business_days"?, "force"?}"#,
    )?;
    let deal = EntityRef {
        kind: EntityKind::Deal,
        id: id.clone(),
    };
    let record = visible(&state, &caller, &deal).await?;
    caller
        .access
        .check_update(EntityKind::Deal, &record, &serde_json::Map::new())?;
    let mut input = json!({
        "deal_id": id,
        "issue_date": body.issue_date.unwrap_or_else(|| state.engine.today().to_string()),
        "business_days": body.business_days,
        "allow_second": body.force,
    });
    if let Some(days) = body.due_in_days {
        input["due_in_days"] = json!(days);
    }
    let (created, _) = state
        .engine
        .call_now_by(&action("create-invoice"), &input, caller.user_id())
        .await
        .map_err(|e| {
            let e = direct_error(e, "create-invoice");
            if e.status == StatusCode::CONFLICT {
                e.with("hint", json!("send {\"force\": true} to issue another"))
            } else {
                e
            }
        })?;
    let invoice_id = created
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::internal("create-invoice answered without an id"))?
        .to_owned();
    let rendered = state
        .engine
        .call_now_by(
            &action("render-invoice-pdf"),
            &json!({ "invoice_id": invoice_id }),
            caller.user_id(),
        )
        .await;
    state.engine.poke();
    let (_, record) = seen_invoice(&state, &caller, &invoice_id).await?;
    let mut answer =
        json!({ "invoice": record, "pdf": format!("/api/v1/invoices/{invoice_id}/pdf") });
    if let Err(e) = rendered {
        // The invoice stands (its number is taken); the PDF can be made again.
        answer["pdf"] = Value::Null;
        answer["pdf_error"] = json!(direct_error(e, "render-invoice-pdf").detail);
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn html(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    seen_invoice(&state, &caller, &id).await?;
    let (out, _) = state
        .engine
        .call_now(
            &action("render-invoice-pdf"),
            &json!({ "invoice_id": id, "format": "html" }),
        )
        .await
        .map_err(|e| direct_error(e, "render-invoice-pdf"))?;
    let page = out
        .get("html")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::internal("render-invoice-pdf answered without the page"))?
        .to_owned();
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page is ours alone: no scripts, no framing by others.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        page,
    )
        .into_response())
}

/// The body of `POST /api/v1/invoices/{id}/send`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    /// `attachment` (the PDF attached) or `link` (a share link in the text).
    #[serde(rename = "as", default)]
    how: SendAs,
    /// Recipients; the buyer's e-mail by default.
    #[serde(default)]
    to: Vec<String>,
    /// How many days a link works.
    days: Option<i64>,
}

/// How an invoice is e-mailed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum SendAs {
    /// The PDF attached.
    #[default]
    Attachment,
    /// A share link.
    Link,
}

/// `POST /api/v1/invoices/{id}/send`: e-mails the invoice to the buyer (or
/// `to`) with the PDF attached or as a share link, through `send-email`;
/// a draft becomes `sent`.
async fn send(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Value>> {
    let body: SendBody = optional_body(
        body,
        r#"{"as"?: "attachment" | "link", "to"?: [e-mail], "days"?}"#,
    )?;
    let (target, record) = seen_invoice(&state, &caller, &id).await?;
    let pdf = match newest_pdf(&state, &target).await? {
        Some(name) => name,
        None => {
            state
                .engine
                .call_now_by(
                    &action("render-invoice-pdf"),
                    &json!({ "invoice_id": id }),
                    caller.user_id(),
                )
                .await
                .map_err(|e| direct_error(e, "render-invoice-pdf"))?;
            PDF_FILE.to_owned()
        }
    };
    let number = record.get("number").and_then(Value::as_str).unwrap_or("");
    let entity = json!({ "kind": "invoice", "id": id });
    let mut input = json!({ "entity": entity, "to": body.to });
    let mut link = None;
    match body.how {
        SendAs::Attachment => {
            input["template"] = json!("invoice");
            input["attachments"] = json!([{ "entity": entity, "file": pdf, "filename": format!("Счёт {number}.pdf") }]);
        }
        SendAs::Link => {
            let days = body.days.unwrap_or(DEFAULT_SHARE_DAYS);
            let (url, made) = make_link(&state, &caller, &target, days).await?;
            let full = format!("{}{url}", public_base(&headers));
            input["template"] = json!("invoice_link");
            input["context"] = json!({ "link": full, "link_expires_at": made.expires_at });
            link = Some(full);
        }
    }
    let (sent, _) = state
        .engine
        .call_now_by(&action("send-email"), &input, caller.user_id())
        .await
        .map_err(|e| direct_error(e, "send-email"))?;
    if record.get("status").and_then(Value::as_str) == Some("draft") {
        let mut fields = serde_json::Map::new();
        fields.insert("status".into(), json!("sent"));
        state
            .store
            .commit(&[Change::Update { target, fields }])
            .await?;
    }
    state.engine.poke();
    Ok(Json(json!({
        "as": body.how,
        "to": sent.get("to"),
        "message_id": sent.get("message_id"),
        "link": link,
    })))
}

/// The server's address as the caller reached it, for links in e-mails.
pub(crate) fn public_base(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// The name `render-invoice-pdf` stores the PDF under by default.
pub const PDF_FILE: &str = "invoice.pdf";

/// Makes a share link of `target` for `days`, noted on the timeline: its
/// path (the only time the token is seen) and the stored link.
async fn make_link(
    state: &AppState,
    caller: &Caller,
    target: &EntityRef,
    days: i64,
) -> Result<(String, ShareLink), ApiError> {
    if !(1..=MAX_SHARE_DAYS).contains(&days) {
        return Err(ApiError::unprocessable(format!(
            "days: {days}; a link works 1 to {MAX_SHARE_DAYS} days"
        )));
    }
    let token = random_token("shr_");
    let expires = state.engine.now() + chrono::Duration::days(days);
    let link = state
        .store
        .insert_share(target, &hash_token(&token), expires, Some(&caller.owner.id))
        .await?;
    state
        .store
        .commit(&[Change::Note {
            target: target.clone(),
            text: format!(
                "Share link {} made; it works until {}",
                link.id, link.expires_at
            ),
        }])
        .await?;
    Ok((format!("/share/{token}"), link))
}

/// The body of `POST /api/v1/invoices/{id}/share`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareBody {
    /// How many days the link works.
    days: Option<i64>,
}

async fn share(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: ShareBody = optional_body(body, &format!("{{\"days\"?: 1 to {MAX_SHARE_DAYS}}}"))?;
    let (target, _) = seen_invoice(&state, &caller, &id).await?;
    let (url, link) = make_link(
        &state,
        &caller,
        &target,
        body.days.unwrap_or(DEFAULT_SHARE_DAYS),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": link.id, "url": url, "expires_at": link.expires_at })),
    ))
}

async fn shares(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (target, _) = seen_invoice(&state, &caller, &id).await?;
    Ok(Json(
        json!({ "items": state.store.shares_of(&target).await? }),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, share_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (target, _) = seen_invoice(&state, &caller, &id).await?;
    if !state.store.revoke_share(&target, &share_id).await? {
        return Err(ApiError::not_found(format!(
            "{target} has no working share link `{share_id}`"
        )));
    }
    state
        .store
        .commit(&[Change::Note {
            target,
            text: format!("Share link {share_id} revoked"),
        }])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /share/{token}`: the invoice's PDF, for whoever holds the link.
/// An unknown, expired or revoked link says only that it does not open.
async fn shared(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<Response> {
    let gone = || {
        ApiError::new(
            StatusCode::GONE,
            "this link has expired or was revoked; ask for a new one",
        )
    };
    let Some(link) = state.store.find_share(&hash_token(&token)).await? else {
        return Err(ApiError::not_found("no such link"));
    };
    let expired = chrono::DateTime::parse_from_rfc3339(&link.expires_at).map_or(true, |at| {
        at.with_timezone(&chrono::Utc) <= state.engine.now()
    });
    if link.revoked || expired {
        return Err(gone());
    }
    let (target, record) = invoice(&state, &link.target.id).await.map_err(|_| gone())?;
    let name = newest_pdf(&state, &target)
        .await?
        .ok_or_else(|| ApiError::not_found("the invoice has no PDF yet"))?;
    let file = state
        .store
        .file(&target, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("the invoice has no PDF yet"))?;
    let number = record.get("number").and_then(Value::as_str).unwrap_or("");
    let mut response = file_response(file, Some(format!("invoice-{number}.pdf")));
    // Shown in the browser, never cached by a shared proxy.
    let headers = response.headers_mut();
    let inline = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(|d| d.replacen("attachment", "inline", 1).parse().ok());
    if let Some(v) = inline {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}
