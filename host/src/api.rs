//! The HTTP API (`robota serve`): CRM entities, processes, runs, the
//! webhook, `/healthz` and the OpenAPI document. Every route but `/healthz`
//! and the webhook (which checks its process's secret) needs a bearer token;
//! errors are RFC 9457 problem documents; bodies are capped.

mod approvals;
pub mod auth;
mod entities;
mod files;
mod openapi;
mod plugins;
pub mod problem;
mod processes;
mod reports;
mod runs;
mod statements;

use crate::engine::{Engine, ShiftedClock};
use crate::store::SqliteStore;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};
use problem::{ApiError, ApiResult};
use serde_json::{Value, json};
use std::sync::Arc;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The CRM and the engine's tables.
    pub store: Arc<SqliteStore>,
    /// The process engine.
    pub engine: Arc<Engine>,
    /// A clock that `POST /api/v1/dev/clock` may move (only with `--dev-clock`).
    pub dev_clock: Option<Arc<ShiftedClock>>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .merge(entities::routes())
        .merge(files::routes())
        .merge(statements::routes())
        .merge(reports::routes())
        .merge(processes::routes())
        .merge(runs::routes())
        .merge(approvals::routes())
        .merge(plugins::routes())
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/dev/clock", post(move_clock))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(processes::webhook_routes())
        .merge(protected)
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.store.event_cursor().await?;
    Ok(Json(json!({ "status": "ok" })))
}

/// `{"advance": "3d"}`: moves the engine's clock forward (tests and demos).
async fn move_clock(
    State(state): State<AppState>,
    Extension(caller): Extension<auth::Caller>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let clock = state.dev_clock.as_ref().ok_or_else(|| {
        ApiError::not_found("the clock can be moved only when serving with --dev-clock")
    })?;
    let text = body
        .get("advance")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("send {\"advance\": \"3d\"}"))?;
    let by = crate::plugins::limits::parse_duration(text).map_err(ApiError::bad_request)?;
    clock.advance(by);
    state.engine.poke();
    Ok(Json(
        json!({ "now": crate::crm::timestamp_text(state.engine.now()) }),
    ))
}
