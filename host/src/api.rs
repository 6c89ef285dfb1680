//! The HTTP API (`robota serve`): CRM entities, processes, runs, the
//! webhook, share links, `/healthz` and the OpenAPI document. Every route
//! but `/healthz`, the webhook (which checks its process's secret) and
//! `/share/{token}` (whose token is the key) needs a bearer token;
//! errors are RFC 9457 problem documents; bodies are capped.

mod approvals;
pub mod auth;
mod deal_items;
mod duplicates;
mod entities;
mod exports;
mod files;
pub(crate) mod invoices;
mod me;
mod openapi;
mod payment_requests;
pub mod plugins;
pub mod problem;
mod processes;
mod registry;
mod reports;
mod runs;
mod settings;
mod statements;

use crate::engine::{Engine, ShiftedClock};
use crate::store::Database;
use crate::store::prelude::*;
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
    pub store: Arc<Database>,
    /// The process engine.
    pub engine: Arc<Engine>,
    /// A clock that `POST /api/v1/dev/clock` may move (only with `--dev-clock`).
    pub dev_clock: Option<&'static ShiftedClock>,
    /// The plugins folder the API installs into (`--plugins`).
    pub plugins: Option<Arc<plugins::PluginFolder>>,
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
        .merge(settings::routes())
        .merge(deal_items::routes())
        .merge(duplicates::routes())
        .merge(invoices::routes())
        .merge(exports::routes())
        .merge(payment_requests::routes())
        .merge(registry::routes())
        .merge(me::routes())
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/dev/clock", post(move_clock))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    // The web console calls the protected API in process, as the person
    // signed in (auth::InternalCaller): the same routes, rules and errors.
    let in_process: Router = protected
        .clone()
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .merge(processes::webhook_routes())
        .merge(invoices::public_routes())
        .merge(protected)
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state.clone())
        .merge(crate::console::routes(state, in_process))
}

/// An RFC 3339 time, or a date-time (`2026-12-04T09:00[:00]`) or date
/// without an offset, taken in the company's time zone.
fn parse_clock_target(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone as _};
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let local = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| {
            format!(
                "`to`: `{text}` is not a time such as 2026-12-04T09:00 or 2026-12-04T09:00:00+03:00"
            )
        })?;
    crate::clock::COMPANY_TIMEZONE
        .from_local_datetime(&local)
        .earliest()
        .map(|at| at.with_timezone(&chrono::Utc))
        .ok_or_else(|| format!("`to`: {text} does not exist in the company's time zone"))
}

async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.store.event_cursor().await?;
    Ok(Json(json!({ "status": "ok" })))
}

/// `{"advance": "3d"}` or `{"to": "2026-12-04T09:00"}` (RFC 3339, or a
/// date-time without offset in the company's time zone): moves the server's
/// clock forward (tests and demos).
async fn move_clock(
    State(state): State<AppState>,
    Extension(caller): Extension<auth::Caller>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    caller.require(&[crate::access::Role::Admin], "move the server clock")?;
    let clock = state.dev_clock.as_ref().ok_or_else(|| {
        ApiError::not_found("the clock can be moved only when serving with --dev-clock")
    })?;
    match (body.get("advance"), body.get("to")) {
        (Some(Value::String(text)), None) => {
            let by = crate::plugins::limits::parse_duration(text).map_err(ApiError::bad_request)?;
            clock.advance(by);
        }
        (None, Some(Value::String(text))) => {
            let at = parse_clock_target(text).map_err(ApiError::bad_request)?;
            clock.advance_to(at).map_err(ApiError::unprocessable)?;
        }
        _ => {
            return Err(ApiError::bad_request(
                "send {\"advance\": \"3d\"} or {\"to\": \"2026-12-04T09:00\"}",
            ));
        }
    }
    state.engine.poke();
    Ok(Json(
        json!({ "now": crate::crm::timestamp_text(state.engine.now()) }),
    ))
}
