//! Processes (admin): the list with version and on/off, a process's file,
//! switching it on and off, and uploading a file — the validator's
//! `file:line:col` errors shown against the lines they are about. Also the
//! installed actions with what they want and what they were granted.

use super::{Flash, Here, done, items, seg, with_status};
use crate::console::ConsoleState;
use crate::console::session::Signed;
use axum::Router;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::Value as View;
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes of this module.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/processes", get(list).post(upload))
        .route("/console/processes/{id}", get(card))
        .route("/console/processes/{id}/enable", post(enable))
        .route("/console/processes/{id}/disable", post(disable))
        .route("/console/plugins", get(plugins))
}

async fn list(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<Flash>,
) -> Response {
    let here = Here::new(&console, &me);
    let list = match here.api.get("/api/v1/processes").await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    here.page(
        "processes",
        "processes.html",
        minijinja::context! {
            processes => View::from_serialize(items(&list)),
            flash => q.done,
        },
    )
    .await
}

async fn card(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Path(id): Path<String>,
    Query(q): Query<Flash>,
) -> Response {
    let here = Here::new(&console, &me);
    let process = match here
        .api
        .get(&format!("/api/v1/processes/{}", seg(&id)))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let lines = numbered(process["source"].as_str().unwrap_or_default(), &[]);
    here.page(
        "processes",
        "process.html",
        minijinja::context! {
            process => View::from_serialize(&process),
            lines => View::from_serialize(&lines),
            flash => q.done,
        },
    )
    .await
}

/// The lines of `source`, numbered, each with the errors about it.
fn numbered(source: &str, errors: &[Value]) -> Vec<Value> {
    source
        .lines()
        .enumerate()
        .map(|(i, text)| {
            let n = i + 1;
            let here: Vec<&Value> = errors
                .iter()
                .filter(|e| e["line"].as_u64() == Some(n as u64))
                .collect();
            json!({ "n": n, "text": text, "errors": here })
        })
        .collect()
}

#[derive(Deserialize)]
struct UploadForm {
    id: String,
    source: String,
}

/// A process file pasted into the form: installed, or shown back with
/// each error on its line.
async fn upload(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Form(form): Form<UploadForm>,
) -> Response {
    let here = Here::new(&console, &me);
    let id = form.id.trim().to_owned();
    match here
        .api
        .send_bytes(
            Method::PUT,
            &format!("/api/v1/processes/{}", seg(&id)),
            "application/toml",
            form.source.clone().into_bytes(),
        )
        .await
    {
        Ok(installed) => done(
            &headers,
            &format!("/console/processes/{}", seg(&id)),
            &format!(
                "{} {} v{}",
                here.t("processes.installed"),
                id,
                installed["version"]
            ),
        ),
        Err(p) => {
            let errors = p.body["errors"].as_array().cloned().unwrap_or_default();
            let list = here
                .api
                .get("/api/v1/processes")
                .await
                .unwrap_or(Value::Null);
            let page = here
                .page(
                    "processes",
                    "processes.html",
                    minijinja::context! {
                        processes => View::from_serialize(items(&list)),
                        error => here.words(&p),
                        errors => View::from_serialize(&errors),
                        lines => View::from_serialize(numbered(&form.source, &errors)),
                        upload_id => &id,
                        upload_source => &form.source,
                    },
                )
                .await;
            with_status(page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

async fn enable(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    switch(&console, &me, &headers, &id, "enable").await
}

async fn disable(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    switch(&console, &me, &headers, &id, "disable").await
}

async fn switch(
    console: &ConsoleState,
    me: &Signed,
    headers: &HeaderMap,
    id: &str,
    verb: &str,
) -> Response {
    let here = Here::new(console, me);
    let ok = format!("processes.{verb}d");
    here.verb(
        headers,
        ("/api/v1/processes", "/console/processes"),
        id,
        verb,
        &ok,
    )
    .await
}

async fn plugins(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
) -> Response {
    let here = Here::new(&console, &me);
    let list = match here.api.get("/api/v1/plugins").await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    here.page(
        "plugins",
        "plugins.html",
        minijinja::context! {
            plugins => View::from_serialize(items(&list)),
            superseded => View::from_serialize(&list["superseded"]),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_sit_on_the_lines_they_name() {
        let errors = vec![json!({ "line": 2, "col": 7, "message": "unknown action" })];
        let lines = numbered("id = \"x\"\nuses = \"nope@1\"\n", &errors);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["errors"], json!([]));
        assert_eq!(lines[1]["errors"][0]["message"], "unknown action");
        assert_eq!(lines[1]["n"], 2);
    }
}
