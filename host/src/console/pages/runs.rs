//! Runs (admin): the list with status, process, subject and time filters;
//! a run as a timeline of its steps (input, output, error, attempts,
//! timings, the action's digest); retry and cancel.

use super::{Here, filters, items, next_page, page_of, seg};
use crate::console::ConsoleState;
use crate::console::session::Signed;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::Value as View;
use serde_json::Value;

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
    let pairs: Vec<(&str, Option<&str>)> = FILTERS
        .iter()
        .map(|f| (*f, q.get(*f).map(String::as_str)))
        .collect();
    let filters = filters(&pairs);
    let list = match here
        .api
        .get(&page_of(
            "/api/v1/runs",
            &filters,
            q.get("cursor").map(String::as_str),
        ))
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
    let ok = format!("runs.{verb}_done");
    here.verb(headers, ("/api/v1/runs", "/console/runs"), id, verb, &ok)
        .await
}
