//! The person's tasks and notifications (the header counts the unread).

use super::{Call, Flash, Here, items, seg};
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
        .route("/console/tasks", get(mine))
        .route("/console/tasks/{id}/done", post(task_done))
        .route("/console/notifications/{id}/read", post(read))
}

async fn mine(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<Flash>,
) -> Response {
    let here = Here::new(&console, &me);
    // A person's own; an admin token (no person) sees every open task.
    let path = match me.caller.user_id() {
        Some(u) => format!("/api/v1/tasks?assignee_id={}&status=open&limit=200", seg(u)),
        None => "/api/v1/tasks?status=open&limit=200".to_owned(),
    };
    let tasks = here.api.get(&path).await.unwrap_or(Value::Null);
    let notifications = here
        .api
        .get("/api/v1/me/notifications?limit=50")
        .await
        .unwrap_or(Value::Null);
    here.page(
        "tasks",
        "tasks.html",
        minijinja::context! {
            tasks => View::from_serialize(items(&tasks)),
            notifications => View::from_serialize(items(&notifications)),
            flash => q.done,
        },
    )
    .await
}

async fn task_done(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let here = Here::new(&console, &me);
    let path = format!("/api/v1/tasks/{}", seg(&id));
    here.act(
        &headers,
        Call::Patch(&path, json!({ "status": "done" })),
        "/console/tasks",
        here.t("tasks.closed"),
    )
    .await
}

async fn read(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let here = Here::new(&console, &me);
    let path = format!("/api/v1/me/notifications/{}/read", seg(&id));
    here.act(
        &headers,
        Call::Post(&path, json!({})),
        "/console/tasks",
        here.t("tasks.read"),
    )
    .await
}
