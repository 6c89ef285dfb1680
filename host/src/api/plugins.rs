//! The installed actions over HTTP: what each is, what it asked for, and
//! what the admin granted it (`plugins.toml`).

use super::AppState;
use super::auth::Caller;
use super::problem::ApiResult;
use crate::access::Role;
use axum::extract::{Extension, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/plugins", get(list))
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "see the installed actions and their grants")?;
    let items: Vec<Value> = state
        .engine
        .catalog()
        .iter()
        .map(|(uses, action)| {
            let m = &action.plugin.manifest;
            json!({
                "uses": uses.to_string(),
                "id": m.id,
                "version": m.version,
                "title": m.title,
                "description": m.description,
                "digest": action.plugin.digest,
                "input_schema": m.input_schema,
                "output_schema": m.output_schema,
                "wants": m.capabilities.iter().map(|c| c.name()).collect::<Vec<_>>(),
                "granted": action.grants.capabilities().map(|c| c.name()).collect::<Vec<_>>(),
                "http_hosts": action.grants.http_hosts(),
                "deadline_ms": u64::try_from(action.limits.deadline.as_millis()).unwrap_or(u64::MAX),
                "memory_bytes": action.limits.memory_bytes,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}
