//! Payment requests beyond the generic entity routes (seed 003):
//! `GET /api/v1/payment-requests/prefill?inn=…|contractor=…` — what a new
//! request for that contractor is filled with (their last request, or
//! their company record) — and `POST /api/v1/payment-requests/{id}/comments`.

use super::AppState;
use super::auth::Caller;
use super::entities::visible;
use super::problem::{ApiError, ApiResult, body_as};
use crate::access::Role;
use crate::crm::{EntityKind, EntityRef};
use crate::store::prelude::*;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/payment-requests/prefill", get(prefill))
        .route("/api/v1/payment-requests/{id}/comments", post(comment))
        .route("/api/v1/payment-requests/{id}/return", post(give_back))
}

async fn prefill(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    // Whoever writes requests; a contractor's requisites are the company's
    // common knowledge (Bitrix24 fills them for any author).
    caller.require(
        &[Role::Manager, Role::HeadOfSales, Role::Admin],
        "fill in a payment request",
    )?;
    let (mut inn, mut contractor) = (None, None);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "inn" => {
                robota_requisites::check_inn(value.trim())
                    .map_err(|e| ApiError::bad_request(format!("inn `{value}`: {e}")))?;
                inn = Some(value.trim().to_owned());
            }
            "contractor" if !value.trim().is_empty() => contractor = Some(value.into_owned()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`: give inn or contractor"
                )));
            }
        }
    }
    if inn.is_none() && contractor.is_none() {
        return Err(ApiError::bad_request("give ?inn=… or ?contractor=…"));
    }
    if let Some(known) = state
        .store
        .payment_prefill(inn.as_deref(), contractor.as_deref())
        .await?
    {
        return Ok(Json(
            json!({ "source": known.source, "fields": known.fields }),
        ));
    }
    // Never paid and not in the CRM: what the company registry says.
    let why = match &inn {
        Some(inn) => match from_registry(&state, inn, false, None).await {
            Ok((fields, _)) => {
                return Ok(Json(json!({ "source": "registry", "fields": fields })));
            }
            Err(e) => format!("; the registry: {e}"),
        },
        None => String::new(),
    };
    Err(ApiError::not_found(format!(
        "no request or company for {}: nothing to fill in{why}",
        inn.map_or_else(
            || format!("contractor `{}`", contractor.unwrap_or_default()),
            |i| format!("INN {i}")
        )
    )))
}

/// Before a request is created with a contractor's INN that nobody was
/// paid by and no company has: the contractor is looked up in the company
/// registry and added as a company, which the new request then fills
/// from. A registry that cannot say leaves the request as given (it is a
/// draft to complete by hand).
pub(super) async fn contractor_known(
    state: &AppState,
    caller: &Caller,
    fields: &serde_json::Map<String, Value>,
) -> ApiResult<()> {
    let Some(inn) = fields
        .get("inn")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|i| robota_requisites::check_inn(i).is_ok())
    else {
        return Ok(());
    };
    if state
        .store
        .payment_prefill(Some(inn), None)
        .await?
        .is_some()
    {
        return Ok(());
    }
    if let Err(e) = from_registry(state, inn, true, caller.user_id()).await {
        tracing::info!(inn, "contractor not found in the company registry: {e}");
    }
    Ok(())
}

/// Looks contractor `inn` up in the company registry (`lookup-company`):
/// the request fields it fills, and the company it made when `create`.
pub(super) async fn from_registry(
    state: &AppState,
    inn: &str,
    create: bool,
    by: Option<&str>,
) -> Result<(serde_json::Map<String, Value>, Option<String>), String> {
    let action = crate::engine::definition::ActionRef {
        id: "lookup-company".into(),
        major: 1,
    };
    let (out, _) = state
        .engine
        .call_now_by(&action, &json!({ "inn": inn, "create": create }), by)
        .await
        .map_err(|e| e.to_string())?;
    let said = |k: &str| out["fields"].get(k).cloned().filter(|v| !v.is_null());
    let mut fields = serde_json::Map::new();
    for (from, to) in [("short_name", "contractor"), ("inn", "inn"), ("kpp", "kpp")] {
        if let Some(v) = said(from) {
            fields.insert(to.into(), v);
        }
    }
    let company = out["company_id"].as_str().map(str::to_owned);
    if let Some(id) = &company {
        fields.insert("contractor_company_id".into(), json!(id));
    }
    Ok((fields, company))
}

/// Everything about a request beside its fields: its files (with links),
/// its history of moves and comments with who and when, and its approver.
pub(super) async fn materials(state: &AppState, target: &EntityRef) -> ApiResult<Value> {
    let files: Vec<Value> = state
        .store
        .files(target)
        .await?
        .into_iter()
        .map(|f| {
            json!({ "name": f.name, "content_type": f.content_type, "size": f.size,
                    "url": format!("/api/v1/payment-requests/{}/files/{}", target.id, f.name) })
        })
        .collect();
    Ok(json!({
        "files": files,
        "history": state.store.payment_history(&target.id).await?,
        "approver_id": state.store.approver_of(&target.id).await?,
    }))
}

/// Payment request `id` if the caller may see it (404 otherwise).
async fn request(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<serde_json::Map<String, Value>> {
    let target = EntityRef {
        kind: EntityKind::PaymentRequest,
        id: id.to_owned(),
    };
    visible(state, caller, &target).await
}

/// The body of a return for rework.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnBody {
    reason: String,
}

/// `POST /api/v1/payment-requests/{id}/return` `{"reason"}`: accounting
/// sends an approved request back to its author.
async fn give_back(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let body: ReturnBody = body_as(body, r#"{"reason": "…"}"#)?;
    let record = request(&state, &caller, &id).await?;
    let mut back = serde_json::Map::new();
    back.insert("status".into(), json!("draft"));
    caller
        .access
        .check_update(EntityKind::PaymentRequest, &record, &back)?;
    let comment = state
        .store
        .return_payment_request(&id, caller.user_id(), &body.reason)
        .await?;
    state.engine.poke();
    Ok(Json(comment))
}

/// The body of a comment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    text: String,
}

async fn comment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: CommentBody = body_as(body, r#"{"text": "…"}"#)?;
    // Everyone who sees a request may comment on it (seed 003: the
    // accountant comments too).
    request(&state, &caller, &id).await?;
    let comment = state
        .store
        .comment_payment_request(&id, caller.user_id(), &body.text)
        .await?;
    Ok((StatusCode::CREATED, Json(comment)))
}
