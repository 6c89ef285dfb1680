//! The person's tasks and notifications (the header counts the unread).

use super::{Here, done, items, seg};
use crate::console::ConsoleState;
use crate::console::session::Signed;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::Value as View;
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes of this module.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/tasks", get(mine))
        .route("/console/tasks/{id}/done", post(task_done))
        .route("/console/notifications/{id}/read", post(read))
}

#[derive(Deserialize)]
struct MineQuery {
    done: Option<String>,
}

async fn mine(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<MineQuery>,
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
    match here
        .api
        .patch(
            &format!("/api/v1/tasks/{}", seg(&id)),
            &json!({ "status": "done" }),
        )
        .await
    {
        Ok(_) => done(&headers, "/console/tasks", here.t("tasks.closed")),
        Err(p) => done(&headers, "/console/tasks", &p.detail()),
    }
}

async fn read(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let here = Here::new(&console, &me);
    match here
        .api
        .post(
            &format!("/api/v1/me/notifications/{}/read", seg(&id)),
            &json!({}),
        )
        .await
    {
        Ok(_) => done(&headers, "/console/tasks", here.t("tasks.read")),
        Err(p) => done(&headers, "/console/tasks", &p.detail()),
    }
}
