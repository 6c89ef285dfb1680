//! Payment requests: the form (prefilled from the contractor), the
//! person's requests, a request's card with the moves their role may
//! make, and accounting's registry grouped by day with totals. What each
//! role sees is the API's: accounting's registry never shows a request
//! before it is approved.

use super::{Call, Flash, Here, done, filters, items, next_page, page_of, seg, with_status};
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
        .route("/console/payment-requests", get(list).post(create))
        .route("/console/payment-requests/prefill", get(prefill))
        .route("/console/payment-requests/{id}", get(card).post(update))
        .route("/console/payment-requests/{id}/status", post(move_to))
        .route("/console/registry", get(registry))
}

/// The form's fields, in order.
const FORM_FIELDS: [&str; 11] = [
    "purpose",
    "contractor",
    "inn",
    "kpp",
    "amount",
    "currency",
    "pay_by",
    "bik",
    "settlement_account",
    "correspondent_account",
    "payment_purpose_text",
];

#[derive(Deserialize)]
struct ListQuery {
    done: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

async fn list(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<ListQuery>,
) -> Response {
    let here = Here::new(&console, &me);
    let filters = filters(&[("status", q.status.as_deref())]);
    let path = page_of("/api/v1/payment-requests", &filters, q.cursor.as_deref());
    let list = match here.api.get(&path).await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    here.page(
        "payment_requests",
        "payment_requests.html",
        minijinja::context! {
            requests => View::from_serialize(items(&list)),
            next_href => next_page("/console/payment-requests", &filters, &list),
            form => View::from_serialize(json!({ "currency": "RUB" })),
            fields => FORM_FIELDS,
            status => q.status,
            flash => q.done,
        },
    )
    .await
}

/// A new request from the form; `send` also sends it for approval. A
/// refused form comes back with the API's words and what was typed.
async fn create(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let mut body = Map::new();
    for f in FORM_FIELDS {
        if let Some(v) = form.get(f).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            body.insert(f.to_owned(), json!(v));
        }
    }
    // Sent at once: created on approval, so a form missing what approval
    // needs is refused whole (nothing is created) and comes back to fix.
    let send = form.get("send").is_some_and(|s| !s.is_empty());
    if send {
        body.insert("status".into(), json!("on_approval"));
    }
    let created = match here
        .api
        .post("/api/v1/payment-requests", &Value::Object(body))
        .await
    {
        Ok(c) => c,
        Err(p) => return refused_form(&here, &form, p).await,
    };
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let to = format!("/console/payment-requests/{}", seg(&id));
    if send {
        return done(&headers, &to, here.t("payments.sent"));
    }
    done(&headers, &to, here.t("payments.saved"))
}

/// The form filled from what the contractor was paid with before (or
/// their company card): the typed INN or name is looked up, what is
/// found fills the fields still empty, and where it came from is said.
async fn prefill(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(typed): Query<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let key = [("inn", "inn"), ("contractor", "contractor")]
        .iter()
        .find_map(|(field, param)| {
            typed
                .get(*field)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(|v| format!("{param}={}", seg(v)))
        });
    let mut form = typed.clone();
    let mut source = None;
    if let Some(key) = key
        && let Ok(found) = here
            .api
            .get(&format!("/api/v1/payment-requests/prefill?{key}"))
            .await
    {
        if let Some(fields) = found["fields"].as_object() {
            for (k, v) in fields {
                let empty = form.get(k).is_none_or(|t| t.trim().is_empty());
                if let (true, Some(v)) = (empty, v.as_str()) {
                    form.insert(k.clone(), v.to_owned());
                }
            }
        }
        source = found["source"].as_str().map(str::to_owned);
    }
    let list = here
        .api
        .get("/api/v1/payment-requests?limit=50")
        .await
        .unwrap_or(Value::Null);
    here.page(
        "payment_requests",
        "payment_requests.html",
        minijinja::context! {
            requests => View::from_serialize(items(&list)),
            form => View::from_serialize(&form),
            fields => FORM_FIELDS,
            prefilled_from => source,
        },
    )
    .await
}

/// The list and the form again, with what was typed and why it was refused.
async fn refused_form(
    here: &Here<'_>,
    form: &HashMap<String, String>,
    p: crate::console::client::Problem,
) -> Response {
    let list = here
        .api
        .get("/api/v1/payment-requests?limit=50")
        .await
        .unwrap_or(Value::Null);
    let page = here
        .page(
            "payment_requests",
            "payment_requests.html",
            minijinja::context! {
                requests => View::from_serialize(items(&list)),
                form => View::from_serialize(form),
                fields => FORM_FIELDS,
                error => here.say(&p, &|f: &str| here.label("fields", f)),
                missing => View::from_serialize(&p.body["missing"]),
                field => View::from_serialize(&p.body["field"]),
            },
        )
        .await;
    with_status(page, StatusCode::UNPROCESSABLE_ENTITY)
}

async fn card(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Path(id): Path<String>,
    Query(q): Query<Flash>,
) -> Response {
    let here = Here::new(&console, &me);
    let request = match here
        .api
        .get(&format!("/api/v1/payment-requests/{}", seg(&id)))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let moves = moves_for(&me, &request);
    // The author edits their draft (the API refuses anyone else).
    let editable = request["status"] == "draft" && moves.contains(&"on_approval");
    here.page(
        "payment_requests",
        "payment_request.html",
        minijinja::context! {
            request => View::from_serialize(&request),
            moves => View::from_serialize(&moves),
            editable => editable,
            fields => FORM_FIELDS,
            flash => q.done,
        },
    )
    .await
}

/// A draft's form: the fields that changed, and with `send` the move to
/// approval in the same write.
async fn update(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let path = format!("/api/v1/payment-requests/{}", seg(&id));
    let back = format!("/console/payment-requests/{}", seg(&id));
    let request = match here.api.get(&path).await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let mut patch = Map::new();
    for f in FORM_FIELDS {
        let Some(new) = form.get(f).map(|v| v.trim()) else {
            continue;
        };
        if new != request[f].as_str().unwrap_or_default() {
            patch.insert(
                f.to_owned(),
                if new.is_empty() {
                    Value::Null
                } else {
                    json!(new)
                },
            );
        }
    }
    let send = form.get("send").is_some_and(|s| !s.is_empty());
    if send {
        patch.insert("status".into(), json!("on_approval"));
    }
    match here.api.patch(&path, &Value::Object(patch)).await {
        Ok(_) if send => done(&headers, &back, here.t("payments.sent")),
        Ok(_) => done(&headers, &back, here.t("payments.saved")),
        Err(p) => done(&headers, &back, &here.words(&p)),
    }
}

/// The moves to offer `me` on `request` (the API has the last word).
fn moves_for(me: &Signed, request: &Value) -> Vec<&'static str> {
    use crate::access::Role;
    let mine = me
        .caller
        .user_id()
        .is_some_and(|u| request["author_id"] == u);
    let role = me.caller.access.role;
    match request["status"].as_str().unwrap_or_default() {
        "draft" if mine || role == Role::Admin => vec!["on_approval"],
        "on_approval" if mine => vec!["draft"],
        "approved" if matches!(role, Role::Accountant | Role::Admin) => vec!["paid", "draft"],
        _ => Vec::new(),
    }
}

/// `status` (and a `reason` for a return) for one request.
async fn move_to(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let back = format!("/console/payment-requests/{}", seg(&id));
    let status = form.get("status").cloned().unwrap_or_default();
    let (returning, moving) = (
        format!("/api/v1/payment-requests/{}/return", seg(&id)),
        format!("/api/v1/payment-requests/{}", seg(&id)),
    );
    let call = if status == "draft" && form.contains_key("reason") {
        Call::Post(&returning, json!({ "reason": form.get("reason") }))
    } else {
        Call::Patch(&moving, json!({ "status": status }))
    };
    here.act(&headers, call, &back, here.t("payments.moved"))
        .await
}

#[derive(Deserialize)]
struct RegistryQuery {
    period: Option<String>,
    status: Option<String>,
}

async fn registry(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<RegistryQuery>,
) -> Response {
    let here = Here::new(&console, &me);
    let mut query = Vec::new();
    if let Some(p) = q.period.as_deref().filter(|p| !p.is_empty()) {
        query.push(format!("period={}", seg(p)));
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        query.push(format!("status={}", seg(s)));
    }
    let registry = match here
        .api
        .get(&format!("/api/v1/payment-registry?{}", query.join("&")))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    here.page(
        "registry",
        "registry.html",
        minijinja::context! {
            registry => View::from_serialize(&registry),
            period => q.period,
            status => q.status,
        },
    )
    .await
}
