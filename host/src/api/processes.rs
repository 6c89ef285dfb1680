//! Processes over HTTP: list, read, upload (validated), enable and disable,
//! start by hand; and the webhook that starts a process with its secret.

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult};
use crate::access::Role;
use crate::crm::EntityRef;
use crate::engine::StartError;
use crate::engine::definition::{Process, Trigger, Work};
use crate::store::prelude::*;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes that need a token.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/processes", get(list))
        .route("/api/v1/processes/{id}", get(read).put(upload))
        .route("/api/v1/processes/{id}/enable", post(enable))
        .route("/api/v1/processes/{id}/disable", post(disable))
        .route("/api/v1/processes/{id}/start", post(start))
}

/// The webhook route: its caller proves itself with the process's secret.
pub fn webhook_routes() -> Router<AppState> {
    Router::new().route("/api/v1/hooks/{id}", post(webhook))
}

/// A process as listed.
fn summary(process: &Process, version: i64, enabled: bool) -> Value {
    let trigger = match &process.trigger {
        Trigger::Entity(t) => json!({
            "type": "event",
            "event": format!("{}.{}", crate::engine::scope::var_name(t.kind), t.event.as_str()),
            "from": t.from, "to": t.to, "fields": t.fields,
        }),
        Trigger::Cron { expr, timezone, .. } => {
            json!({ "type": "cron", "cron": expr, "timezone": timezone.name() })
        }
        Trigger::Manual { params } => json!({
            "type": "manual",
            "params": params.iter().map(|(k, v)| (k.clone(), json!(format!("{v:?}").to_lowercase()))).collect::<serde_json::Map<_, _>>(),
        }),
        Trigger::Webhook { .. } => json!({ "type": "webhook" }),
    };
    json!({
        "id": process.id,
        "title": process.title,
        "version": version,
        "enabled": enabled,
        "trigger": trigger,
        "steps": process.steps.iter().map(|s| match &s.work {
            Work::Action { uses, .. } => json!({ "id": s.id, "uses": uses.to_string() }),
            Work::Approval(a) => json!({ "id": s.id, "approval": { "title": a.title, "role": a.role, "assignee": a.assignee } }),
        }).collect::<Vec<_>>(),
    })
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "read the processes")?;
    let mut items = Vec::new();
    for p in state.store.current_processes().await? {
        let process = state.engine.process(&p.process_id, p.version).await?;
        items.push(summary(&process, p.version, p.enabled));
    }
    Ok(Json(json!({ "items": items })))
}

async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "read the processes")?;
    let current = state
        .store
        .current_process(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no process `{id}`")))?;
    let process = state.engine.process(&id, current.version).await?;
    let mut out = summary(&process, current.version, current.enabled);
    out["source"] = json!(current.source);
    Ok(Json(out))
}

/// PUT the TOML text of a process; its `id` must match the path.
async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: String,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(&[Role::Admin], "upload a process file")?;
    let file = format!("{id}.toml");
    let installed = state.engine.install(&file, &body).await.map_err(|d| {
        ApiError::unprocessable(format!("the process file has {} error(s)", d.len()))
            .with("errors", json!(d.items()))
    })?;
    if installed.id != id {
        return Err(ApiError::unprocessable(format!(
            "the file's id is `{}` but it was uploaded as `{id}`",
            installed.id
        )));
    }
    let status = if installed.new_version {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(
            json!({ "id": installed.id, "version": installed.version, "new_version": installed.new_version }),
        ),
    ))
}

async fn set_enabled(
    state: &AppState,
    caller: &Caller,
    id: &str,
    on: bool,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "enable or disable a process")?;
    if state.store.set_process_enabled(id, on).await? {
        Ok(Json(json!({ "id": id, "enabled": on })))
    } else {
        Err(ApiError::not_found(format!("no process `{id}`")))
    }
}

async fn enable(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    set_enabled(&state, &caller, &id, true).await
}

async fn disable(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    set_enabled(&state, &caller, &id, false).await
}

/// The body of a manual start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    #[serde(default)]
    params: Value,
    /// `{"kind": "deal", "id": "…"}`: the entity the run is about.
    entity: Option<EntityRef>,
}

async fn start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Option<Json<StartBody>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // A process acts as the system on whatever its parameters name, so
    // starting one by hand is for those who see all of sales.
    caller.require(&[Role::HeadOfSales, Role::Admin], "start a process by hand")?;
    let body = body.map(|b| b.0).unwrap_or(StartBody {
        params: Value::Null,
        entity: None,
    });
    let run = state
        .engine
        .start_manual(&id, body.params, body.entity)
        .await
        .map_err(start_error)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run_id": run }))))
}

async fn webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let secret = headers
        .get("x-robota-secret")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "missing X-Robota-Secret header"))?;
    let body = body.map_or(Value::Null, |b| b.0);
    let run = state
        .engine
        .start_webhook(&id, secret, body)
        .await
        .map_err(|e| match e {
            // A wrong secret looks like an unknown process: no probing.
            StartError::UnknownProcess(_) | StartError::WrongTrigger(..) => {
                ApiError::not_found(format!("no webhook `{id}` with that secret"))
            }
            other => start_error(other),
        })?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run_id": run }))))
}

fn start_error(e: StartError) -> ApiError {
    match e {
        StartError::UnknownProcess(_) => ApiError::not_found(e.to_string()),
        StartError::Disabled(_) | StartError::AlreadyRan(..) => ApiError::conflict(e.to_string()),
        StartError::WrongTrigger(..) | StartError::BadParams(_) => {
            ApiError::unprocessable(e.to_string())
        }
        StartError::Store(e) => e.into(),
        StartError::Other(e) => e.into(),
    }
}
