//! Approvals: the person's inbox, and approving or rejecting with a comment.

use super::{Here, done, items, seg};
use crate::console::ConsoleState;
use crate::console::session::Signed;
use axum::Router;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::Value as View;
use serde::Deserialize;
use serde_json::json;

/// The routes of this module.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/approvals", get(inbox))
        .route("/console/approvals/{id}/decide", post(decide))
}

#[derive(Deserialize)]
struct InboxQuery {
    done: Option<String>,
    status: Option<String>,
}

async fn inbox(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<InboxQuery>,
) -> Response {
    let here = Here::new(&console, &me);
    let status = q.status.unwrap_or_else(|| "pending".to_owned());
    let list = match here
        .api
        .get(&format!("/api/v1/approvals?status={}", seg(&status)))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    here.page(
        "approvals",
        "approvals.html",
        minijinja::context! {
            approvals => View::from_serialize(items(&list)),
            status => status,
            statuses => ["pending", "approved", "rejected", "expired", "cancelled"],
            flash => q.done,
        },
    )
    .await
}

#[derive(Deserialize)]
struct Decision {
    decision: String,
    comment: Option<String>,
}

async fn decide(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Decision>,
) -> Response {
    let here = Here::new(&console, &me);
    let verb = if form.decision == "approve" {
        "approve"
    } else {
        "reject"
    };
    let comment = form.comment.filter(|c| !c.trim().is_empty());
    match here
        .api
        .post(
            &format!("/api/v1/approvals/{}/{verb}", seg(&id)),
            &json!({ "comment": comment }),
        )
        .await
    {
        Ok(a) => done(
            &headers,
            "/console/approvals",
            &format!(
                "{}: {}",
                here.t(&format!("approvals.{verb}d")),
                a["title"].as_str().unwrap_or_default()
            ),
        ),
        Err(p) => done(&headers, "/console/approvals", &here.words(&p)),
    }
}
