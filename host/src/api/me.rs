//! The caller's own corner: `GET /api/v1/me` (who the token is),
//! `PUT /api/v1/me/preferences` (`{"notify_by_email": true}`: notifications
//! also by e-mail), `GET /api/v1/me/notifications?unread=true&limit&cursor`
//! with the unread count, `POST /api/v1/me/notifications/{id}/read`, and
//! the filters a screen opens with: `GET|PUT|DELETE /api/v1/me/filters/{view}`
//! (the accountant's default registry view).

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult, body_as};
use super::registry::{self, RegistryView};
use crate::crm::changes::Change;
use crate::crm::{EntityKind, EntityRef};
use crate::store::CrmStore as _;
use crate::store::prelude::*;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/preferences", put(preferences))
        .route("/api/v1/me/notifications", get(notifications))
        .route("/api/v1/me/notifications/{id}/read", post(read))
        .route(
            "/api/v1/me/filters/{view}",
            get(filter).put(save_filter).delete(drop_filter),
        )
}

/// The caller's user id, or 422 for a token that is nobody's.
fn user(caller: &Caller) -> ApiResult<&str> {
    caller.user_id().ok_or_else(|| {
        ApiError::unprocessable(
            "this token is not a user's: make one with `robota token create --user <id>`",
        )
    })
}

async fn me(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let user = match caller.user_id() {
        Some(id) => state
            .store
            .get(&EntityRef {
                kind: EntityKind::User,
                id: id.to_owned(),
            })
            .await?
            .map(Value::Object),
        None => None,
    };
    let unread = match caller.user_id() {
        Some(id) => state.store.unread_notifications(id).await?,
        None => 0,
    };
    Ok(Json(json!({
        "role": caller.access.role.as_str(),
        "token_id": caller.owner.id,
        "user": user,
        "unread_notifications": unread,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Preferences {
    notify_by_email: bool,
}

async fn preferences(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let prefs: Preferences = body_as(body, r#"{"notify_by_email": true | false}"#)?;
    let id = user(&caller)?.to_owned();
    let target = EntityRef {
        kind: EntityKind::User,
        id,
    };
    let mut fields = Map::new();
    fields.insert("notify_by_email".into(), json!(prefs.notify_by_email));
    let mut changes = caller.changes();
    changes.push(Change::Update {
        target: target.clone(),
        fields,
    });
    state.store.commit(&changes).await?;
    Ok(Json(json!({ "notify_by_email": prefs.notify_by_email })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationQuery {
    unread: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn notifications(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<NotificationQuery>,
) -> ApiResult<Json<Value>> {
    let user = user(&caller)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit `{limit}`: use 1 to 1000"
        )));
    }
    let mut rows = state
        .store
        .notifications_of(
            user,
            q.unread.unwrap_or(false),
            q.cursor.as_deref().unwrap_or(""),
            limit + 1,
        )
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = more.then(|| rows.last().map(|r| r.id.clone())).flatten();
    let unread = state.store.unread_notifications(user).await?;
    Ok(Json(
        json!({ "items": rows, "next_cursor": next, "unread": unread }),
    ))
}

async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .store
        .mark_notification_read(user(&caller)?, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "you have no notification `{id}`"
        )))
    }
}

/// The screens whose filters can be saved.
fn known(view: &str) -> ApiResult<()> {
    if view == registry::VIEW {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no screen `{view}` keeps filters: use {}",
            registry::VIEW
        )))
    }
}

async fn filter(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(view): Path<String>,
) -> ApiResult<Json<Value>> {
    known(&view)?;
    let saved = state.store.saved_filter(user(&caller)?, &view).await?;
    Ok(Json(json!({ "view": view, "filter": saved })))
}

async fn save_filter(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(view): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    known(&view)?;
    let user = user(&caller)?;
    let mut filter: RegistryView = body_as(
        body,
        r#"{"period"?: "day" | "week" | "month", "status"?: "approved" | "paid", "contractor"?, "currency"?}"#,
    )?;
    filter.currency = filter.currency.map(|c| c.to_uppercase());
    filter.check()?;
    let value = serde_json::to_value(&filter).map_err(ApiError::internal)?;
    state.store.save_filter(user, &view, Some(&value)).await?;
    Ok(Json(json!({ "view": view, "filter": value })))
}

async fn drop_filter(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(view): Path<String>,
) -> ApiResult<StatusCode> {
    known(&view)?;
    state.store.save_filter(user(&caller)?, &view, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
