//! Runs over HTTP: list and filter, read with the execution log of every
//! step, retry a failed run, cancel a running one.

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult};
use crate::access::Role;
use crate::crm::{EntityKind, EntityRef};
use crate::store::prelude::*;
use crate::store::runs::{RunFilter, RunSummary};
use axum::extract::{Extension, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runs", get(list))
        .route("/api/v1/runs/{id}", get(read))
        .route("/api/v1/runs/{id}/retry", post(retry))
        .route("/api/v1/runs/{id}/cancel", post(cancel))
        .route("/api/v1/outbox", get(outbox))
        .route("/api/v1/outbox/{id}", get(outbox_message))
        .route(
            "/api/v1/outbox/{id}/attachments/{name}",
            get(outbox_attachment),
        )
}

/// One message of the outbox: recipients, subject, both bodies, the
/// attachments (name, type, size) and its delivery state.
async fn outbox_message(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "read the mail outbox")?;
    let (message, _) = state
        .store
        .outbox_message(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no message `{id}` in the outbox")))?;
    Ok(Json(json!(message)))
}

/// The bytes of one attachment of an outbox message.
async fn outbox_attachment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<axum::response::Response> {
    caller.require(&[Role::Admin], "read the mail outbox")?;
    let (_, files) = state
        .store
        .outbox_message(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no message `{id}` in the outbox")))?;
    let file = files
        .into_iter()
        .find(|f| f.filename == name)
        .ok_or_else(|| ApiError::not_found(format!("message `{id}` has no attachment `{name}`")))?;
    Ok(super::files::file_response(
        crate::crm::changes::StoredFile {
            name: file.filename,
            content_type: file.content_type,
            content: file.content,
        },
        None,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    status: Option<String>,
    limit: Option<u32>,
}

/// The mail outbox: what the actions queued and whether it went out.
async fn outbox(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<OutboxQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "read the mail outbox")?;
    if let Some(s) = &q.status
        && !["pending", "sent", "failed"].contains(&s.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "status `{s}`: use pending, sent or failed"
        )));
    }
    let items = state
        .store
        .outbox(q.status.as_deref(), q.limit.unwrap_or(50))
        .await?;
    Ok(Json(json!({ "items": items })))
}

/// The filters of `GET /api/v1/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    process: Option<String>,
    status: Option<String>,
    entity_kind: Option<String>,
    entity_id: Option<String>,
    /// Started on or after: a date (the company's) or an RFC 3339 time.
    from: Option<String>,
    /// Started before the end of this date, or before this time.
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// A `from`/`to` bound: an RFC 3339 time as is; a date is the company's
/// day, its start for `from` and the next day's start for `to`.
fn time_bound(
    name: &str,
    text: &str,
    end: bool,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    use chrono::TimeZone as _;
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(format!(
            "{name} `{text}`: use a date such as 2026-12-05 or an RFC 3339 time"
        ))
    })?;
    let day = if end {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    crate::clock::COMPANY_TIMEZONE
        .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|at| at.with_timezone(&chrono::Utc))
        .ok_or_else(|| ApiError::bad_request(format!("{name} `{text}`: no such day")))
}

const STATUSES: [&str; 4] = ["running", "completed", "failed", "cancelled"];

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "status `{s}`: use one of {}",
            STATUSES.join(", ")
        )));
    }
    let entity = match (q.entity_kind, q.entity_id) {
        (Some(kind), Some(id)) => Some(EntityRef {
            kind: EntityKind::parse(&kind)
                .ok_or_else(|| ApiError::bad_request(format!("unknown entity kind `{kind}`")))?,
            id,
        }),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "entity_kind and entity_id go together",
            ));
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit `{limit}`: use 1 to 1000"
        )));
    }
    let mut runs = state
        .store
        .list_runs(&RunFilter {
            process_id: q.process,
            status: q.status,
            entity,
            after: q.cursor,
            from: q
                .from
                .as_deref()
                .map(|f| time_bound("from", f, false))
                .transpose()?,
            to: q
                .to
                .as_deref()
                .map(|t| time_bound("to", t, true))
                .transpose()?,
            limit: limit + 1,
            seen_by: Some(caller.access.clone()),
        })
        .await?;
    let more = runs.len() > limit as usize;
    runs.truncate(limit as usize);
    let next = more.then(|| runs.last().map(|r| r.id.clone())).flatten();
    Ok(Json(json!({ "items": runs, "next_cursor": next })))
}

/// The run `id` if the caller may see it: an admin sees every run, others
/// the runs about an entity they may see.
async fn seen_run(state: &AppState, caller: &Caller, id: &str) -> ApiResult<RunSummary> {
    let missing = || ApiError::not_found(format!("no run `{id}`"));
    let run = state.store.get_run(id).await?.ok_or_else(missing)?;
    if caller.access.role == Role::Admin {
        return Ok(run);
    }
    match run.entity.clone() {
        Some(target) if state.store.get_as(&caller.access, &target).await?.is_some() => Ok(run),
        _ => Err(missing()),
    }
}

async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let run = seen_run(&state, &caller, &id).await?;
    let steps = state.store.run_steps(&id).await?;
    let mut out = serde_json::to_value(run).map_err(ApiError::internal)?;
    out["steps"] = serde_json::to_value(steps).map_err(ApiError::internal)?;
    Ok(Json(out))
}

async fn retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "retry a run")?;
    if state.store.retry_run(&id, state.engine.now()).await? {
        state.engine.poke();
        Ok(Json(json!({ "id": id, "status": "running" })))
    } else {
        Err(not_in_state(&state, &id, "failed").await)
    }
}

async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "cancel a run")?;
    if state.store.cancel_run(&id, state.engine.now()).await? {
        Ok(Json(json!({ "id": id, "status": "cancelled" })))
    } else {
        Err(not_in_state(&state, &id, "running").await)
    }
}

async fn not_in_state(state: &AppState, id: &str, wanted: &str) -> ApiError {
    match state.store.get_run(id).await {
        Ok(Some(run)) => ApiError::clash(crate::crm::Clash::RunStatus {
            run: id.to_owned(),
            status: run.status,
            wanted: wanted.to_owned(),
        }),
        Ok(None) => ApiError::not_found(format!("no run `{id}`")),
        Err(e) => e.into(),
    }
}
