//! Runs (admin): the list with status, process, subject and time filters;
//! a run as a timeline of its steps (input, output, error, attempts,
//! timings, the action's digest); retry and cancel.

use super::{Call, Here, items, next_page, seg};
use crate::console::ConsoleState;
use crate::console::session::Signed;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::Value as View;
use serde_json::{Value, json};

/// The routes of this module.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/runs", get(list))
        .route("/console/runs/{id}", get(card))
        .route("/console/runs/{id}/retry", post(retry))
        .route("/console/runs/{id}/cancel", post(cancel))
}

/// The filters `GET /api/v1/runs` takes, as the form names them.
const FILTERS: [&str; 6] = [
    "status",
    "process",
    "entity_kind",
    "entity_id",
    "from",
    "to",
];

async fn list(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let mut filters = Vec::new();
    for f in FILTERS {
        if let Some(v) = q.get(f).filter(|v| !v.is_empty()) {
            filters.push(format!("{f}={}", seg(v)));
        }
    }
    let mut query = filters.clone();
    query.push("limit=50".to_owned());
    if let Some(c) = q.get("cursor").filter(|c| !c.is_empty()) {
        query.push(format!("cursor={}", seg(c)));
    }
    let list = match here
        .api
        .get(&format!("/api/v1/runs?{}", query.join("&")))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let processes = here
        .api
        .get("/api/v1/processes")
        .await
        .unwrap_or(Value::Null);
    here.page(
        "runs",
        "runs.html",
        minijinja::context! {
            runs => View::from_serialize(items(&list)),
            next_href => next_page("/console/runs", &filters, &list),
            q => View::from_serialize(&q),
            processes => View::from_serialize(items(&processes)),
            statuses => ["running", "completed", "failed", "cancelled"],
            flash => q.get("done"),
        },
    )
    .await
}

async fn card(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let run = match here.api.get(&format!("/api/v1/runs/{}", seg(&id))).await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    here.page(
        "runs",
        "run.html",
        minijinja::context! {
            run => View::from_serialize(&run),
            flash => q.get("done"),
        },
    )
    .await
}

async fn retry(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    act(&console, &me, &headers, &id, "retry").await
}

async fn cancel(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    act(&console, &me, &headers, &id, "cancel").await
}

async fn act(
    console: &ConsoleState,
    me: &Signed,
    headers: &HeaderMap,
    id: &str,
    verb: &str,
) -> Response {
    let here = Here::new(console, me);
    let path = format!("/api/v1/runs/{}/{verb}", seg(id));
    here.act(
        headers,
        Call::Post(&path, json!({})),
        &format!("/console/runs/{}", seg(id)),
        here.t(&format!("runs.{verb}_done")),
    )
    .await
}
