//! Approvals over HTTP: the caller's open approval tasks, and their
//! decisions (a rejection needs a comment).

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult};
use crate::access::Role;
use crate::engine::approvals::{DecideError, Decider};
use crate::engine::definition::Decision;
use crate::store::prelude::*;
use axum::extract::{Extension, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/approvals", get(list))
        .route("/api/v1/approvals/{id}", get(read))
        .route("/api/v1/approvals/{id}/approve", post(approve))
        .route("/api/v1/approvals/{id}/reject", post(reject))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
}

const STATUSES: [&str; 5] = ["pending", "approved", "rejected", "expired", "cancelled"];

/// The approvals the caller may decide (an admin sees all), pending by default.
async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let status = q.status.unwrap_or_else(|| "pending".to_owned());
    if !STATUSES.contains(&status.as_str()) {
        return Err(ApiError::bad_request(format!(
            "status `{status}`: use one of {}",
            STATUSES.join(", ")
        )));
    }
    let items = state
        .store
        .list_approvals(
            &status,
            caller.user_id(),
            &caller.owner.role,
            caller.owner.role == "admin",
        )
        .await?;
    Ok(Json(json!({ "items": items })))
}

/// One approval: for whom it is addressed to, an admin, and whoever may
/// see what it is about.
async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let missing = || ApiError::not_found(format!("no approval `{id}`"));
    let a = state.store.get_approval(&id).await?.ok_or_else(missing)?;
    let addressed = caller.access.role == Role::Admin
        || (a.assignee_id.is_some() && a.assignee_id.as_deref() == caller.user_id())
        || a.assignee_role.as_deref() == Some(caller.access.role.as_str());
    let about_seen = match &a.entity {
        Some(target) => state.store.get_as(&caller.access, target).await?.is_some(),
        None => false,
    };
    if !addressed && !about_seen {
        return Err(missing());
    }
    Ok(Json(serde_json::to_value(a).map_err(ApiError::internal)?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    comment: Option<String>,
}

async fn approve(
    state: State<AppState>,
    caller: Extension<Caller>,
    id: Path<String>,
    body: Option<Json<DecisionBody>>,
) -> ApiResult<Json<Value>> {
    decide(state, caller, id, body, Decision::Approve).await
}

async fn reject(
    state: State<AppState>,
    caller: Extension<Caller>,
    id: Path<String>,
    body: Option<Json<DecisionBody>>,
) -> ApiResult<Json<Value>> {
    decide(state, caller, id, body, Decision::Reject).await
}

async fn decide(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Option<Json<DecisionBody>>,
    decision: Decision,
) -> ApiResult<Json<Value>> {
    let comment = body.and_then(|b| b.0.comment);
    let who = Decider {
        user_id: caller.owner.user_id.clone(),
        role: caller.owner.role.clone(),
    };
    let decided = state
        .engine
        .decide(&id, &who, decision, comment)
        .await
        .map_err(|e| match e {
            DecideError::NotFound(_) => ApiError::not_found(e.to_string()),
            DecideError::NotYours(..) | DecideError::OwnRequest(..) => {
                ApiError::forbidden(e.to_string())
            }
            DecideError::CommentRequired => ApiError::unprocessable(e.to_string())
                .with("field", json!("comment"))
                .coded(&crate::crm::Wrong::CommentNeeded),
            DecideError::Conflict(clash) => ApiError::clash(clash),
            DecideError::Other(e) => e.into(),
        })?;
    Ok(Json(
        serde_json::to_value(decided).map_err(ApiError::internal)?,
    ))
}
