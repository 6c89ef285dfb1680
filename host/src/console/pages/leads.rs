//! Leads: the list by status, a lead's card with its status moves (the
//! fields a status needs asked for in place), and conversion with the
//! duplicate dialog — use the stored records, merge the lead into them,
//! or create new ones anyway.

use super::{Flash, Here, done, filters, items, next_page, page_of, seg, with_status};
use crate::console::ConsoleState;
use crate::console::session::Signed;
use axum::Router;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::Value as View;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The routes of this module.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/leads", get(list))
        .route("/console/leads/{id}", get(card))
        .route("/console/leads/{id}/status", post(move_to))
        .route("/console/leads/{id}/convert", post(convert))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

async fn list(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<ListQuery>,
) -> Response {
    let here = Here::new(&console, &me);
    let statuses = match here.api.get("/api/v1/lead-statuses").await {
        Ok(v) => items(&v),
        Err(p) => return here.problem(p).await,
    };
    let filters = filters(&[("status", q.status.as_deref())]);
    let path = page_of("/api/v1/leads", &filters, q.cursor.as_deref());
    let list = match here.api.get(&path).await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let leads = items(&list);
    here.page(
        "leads",
        "leads.html",
        minijinja::context! {
            leads => View::from_serialize(&leads),
            statuses => View::from_serialize(&statuses),
            next_href => next_page("/console/leads", &filters, &list),
            status => q.status,
            flash => q.done,
        },
    )
    .await
}

/// What the card shows besides the lead: a refused move's fields, or a
/// conversion's duplicates.
#[derive(Default)]
struct CardExtras {
    detail: Option<String>,
    missing: Vec<String>,
    wanted_status: Option<String>,
    duplicates: Option<Value>,
    into: Option<String>,
}

async fn card(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Path(id): Path<String>,
    Query(q): Query<Flash>,
) -> Response {
    let here = Here::new(&console, &me);
    render_card(&here, &id, q.done, CardExtras::default(), StatusCode::OK).await
}

async fn render_card(
    here: &Here<'_>,
    id: &str,
    flash: Option<String>,
    extras: CardExtras,
    status: StatusCode,
) -> Response {
    let lead = match here.api.get(&format!("/api/v1/leads/{}", seg(id))).await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let statuses = here
        .api
        .get("/api/v1/lead-statuses")
        .await
        .map(|v| items(&v))
        .unwrap_or_default();
    let timeline = here
        .api
        .get(&format!("/api/v1/leads/{}/timeline?limit=50", seg(id)))
        .await
        .map(|v| items(&v))
        .unwrap_or_default();
    let page = here
        .page(
            "leads",
            "lead.html",
            minijinja::context! {
                lead => View::from_serialize(&lead),
                statuses => View::from_serialize(&statuses),
                timeline => View::from_serialize(&timeline),
                detail => extras.detail,
                missing => extras.missing,
                wanted_status => extras.wanted_status,
                duplicates => View::from_serialize(&extras.duplicates),
                into => extras.into,
                flash => flash,
            },
        )
        .await;
    with_status(page, status)
}

/// A status, with any `f.<field>` the card asked for.
async fn move_to(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let status = form.get("status").cloned().unwrap_or_default();
    let mut patch = Map::new();
    patch.insert("status".into(), json!(status));
    for (k, v) in &form {
        if let Some(field) = k.strip_prefix("f.")
            && !v.trim().is_empty()
        {
            patch.insert(field.to_owned(), json!(v.trim()));
        }
    }
    match here
        .api
        .patch(
            &format!("/api/v1/leads/{}", seg(&id)),
            &Value::Object(patch),
        )
        .await
    {
        Ok(_) => done(
            &headers,
            &format!("/console/leads/{}", seg(&id)),
            here.t("leads.moved"),
        ),
        Err(p) if p.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let missing = p.fields("lead");
            let extras = CardExtras {
                detail: Some(here.say(&p, &|f: &str| here.label("leads", f))),
                missing,
                wanted_status: Some(status),
                ..CardExtras::default()
            };
            render_card(&here, &id, None, extras, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(p) => here.problem(p).await,
    }
}

/// `into` (company or person) and, after a duplicate was found, `way`:
/// `use_existing` or `merge` with the chosen `contact_id`/`company_id`, or
/// `create_anyway`.
async fn convert(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let into = form
        .get("into")
        .cloned()
        .unwrap_or_else(|| "company".to_owned());
    let mut body = json!({ "into": into });
    match form.get("way").map(String::as_str) {
        Some(way @ ("use_existing" | "merge")) => {
            let mut chosen = Map::new();
            for key in ["contact_id", "company_id"] {
                if let Some(v) = form.get(key).filter(|v| !v.is_empty()) {
                    chosen.insert(key.to_owned(), json!(v));
                }
            }
            if way == "merge" {
                // Field by field: where the person picked the lead's value.
                let take: Vec<&str> = form
                    .iter()
                    .filter(|(_, v)| v.as_str() == "lead")
                    .filter_map(|(k, _)| k.strip_prefix("take."))
                    .collect();
                chosen.insert("take".to_owned(), json!(take));
            }
            body[way] = Value::Object(chosen);
        }
        Some("create_anyway") => body["create_anyway"] = json!(true),
        _ => {}
    }
    match here
        .api
        .post(&format!("/api/v1/leads/{}/convert", seg(&id)), &body)
        .await
    {
        Ok(made) => {
            let to = made["deal"]["id"]
                .as_str()
                .or(made["deal_id"].as_str())
                .map(|d| format!("/console/deals/{}", seg(d)))
                .unwrap_or_else(|| format!("/console/leads/{}", seg(&id)));
            done(&headers, &to, here.t("leads.converted"))
        }
        Err(p) if p.status == StatusCode::CONFLICT && p.body.get("candidates").is_some() => {
            let extras = CardExtras {
                detail: Some(here.words(&p)),
                duplicates: Some(p.body["candidates"].clone()),
                into: Some(into),
                ..CardExtras::default()
            };
            render_card(&here, &id, None, extras, StatusCode::CONFLICT).await
        }
        Err(p) => done(
            &headers,
            &format!("/console/leads/{}", seg(&id)),
            &here.words(&p),
        ),
    }
}
