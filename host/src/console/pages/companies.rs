//! A company's card: requisites and bank details (edited in place, each
//! check's error shown at its field), "Fill by INN" (the registry lookup,
//! with its outcome), its contacts, deals and timeline.

use super::{Here, done, items, seg, with_status};
use crate::console::ConsoleState;
use crate::console::session::Signed;
use axum::Router;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::Value as View;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The routes of this module.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/companies/{id}", get(card).post(save))
        .route("/console/companies/{id}/lookup", post(lookup))
}

/// The requisites the card edits, in the order a Russian card lists them.
const REQUISITES: [&str; 13] = [
    "short_name",
    "full_name",
    "inn",
    "kpp",
    "ogrn",
    "legal_address",
    "director",
    "phone",
    "email",
    "bank_name",
    "bik",
    "settlement_account",
    "correspondent_account",
];

#[derive(serde::Deserialize)]
struct CardQuery {
    done: Option<String>,
    /// The lookup run "Fill by INN" started, shown until it ends.
    run: Option<String>,
}

async fn card(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Path(id): Path<String>,
    Query(q): Query<CardQuery>,
) -> Response {
    let here = Here::new(&console, &me);
    render(&here, &id, q.done, q.run, None, StatusCode::OK).await
}

/// The card; `refused` is a save the API refused: (what was typed, the
/// problem's detail, the field it names).
async fn render(
    here: &Here<'_>,
    id: &str,
    flash: Option<String>,
    run: Option<String>,
    refused: Option<(HashMap<String, String>, String, Option<String>)>,
    status: StatusCode,
) -> Response {
    // The run "Fill by INN" started, read before the company: a run seen
    // completed has committed its writes, so the card shows them (read
    // the other way round, a run ending in between would show as done
    // over the old values, and the card would stop following it).
    let started = match &run {
        Some(r) => here.api.get(&format!("/api/v1/runs/{}", seg(r))).await.ok(),
        None => None,
    };
    let company = match here
        .api
        .get(&format!("/api/v1/companies/{}", seg(id)))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let get = |path: String| async move {
        here.api
            .get(&path)
            .await
            .map(|v| items(&v))
            .unwrap_or_default()
    };
    let contacts = get(format!("/api/v1/contacts?company_id={}&limit=100", seg(id))).await;
    let deals = get(format!("/api/v1/deals?company_id={}&limit=100", seg(id))).await;
    let timeline = get(format!("/api/v1/companies/{}/timeline?limit=50", seg(id))).await;
    let runs = get(format!(
        "/api/v1/runs?entity_kind=company&entity_id={}&limit=5",
        seg(id)
    ))
    .await;
    // Else the last lookup about it (a changed INN starts one with the
    // company as its subject).
    let lookup = started.or_else(|| {
        runs.iter()
            .find(|r| {
                r["process_id"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("lookup-company"))
            })
            .cloned()
    });
    let (typed, error, field) = match refused {
        Some((typed, error, field)) => (Some(typed), Some(error), field),
        None => (None, None, None),
    };
    let page = here
        .page(
            "",
            "company.html",
            minijinja::context! {
                company => View::from_serialize(&company),
                requisites => REQUISITES,
                typed => View::from_serialize(&typed),
                error => error,
                error_field => field,
                contacts => View::from_serialize(&contacts),
                deals => View::from_serialize(&deals),
                timeline => View::from_serialize(&timeline),
                lookup => View::from_serialize(&lookup),
                run => run,
                can_lookup => matches!(here.me.caller.access.role, crate::access::Role::HeadOfSales | crate::access::Role::Admin),
                flash => flash,
            },
        )
        .await;
    with_status(page, status)
}

/// The requisites form: changed fields only, so a field left as it was is
/// not written (and its timeline stays quiet).
async fn save(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let company = match here
        .api
        .get(&format!("/api/v1/companies/{}", seg(&id)))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let mut patch = Map::new();
    for f in REQUISITES {
        let Some(new) = form.get(f).map(|v| v.trim()) else {
            continue;
        };
        let old = company[f].as_str().unwrap_or_default();
        if new != old {
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
    let back = format!("/console/companies/{}", seg(&id));
    if patch.is_empty() {
        return done(&headers, &back, here.t("companies.unchanged"));
    }
    match here
        .api
        .patch(
            &format!("/api/v1/companies/{}", seg(&id)),
            &Value::Object(patch),
        )
        .await
    {
        Ok(_) => done(&headers, &back, here.t("companies.saved")),
        Err(p) if p.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let field = p.body["field"]
                .as_str()
                .map(|f| f.rsplit('.').next().unwrap_or(f).to_owned());
            render(
                &here,
                &id,
                None,
                None,
                Some((form, here.words(&p), field)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(p) => done(&headers, &back, &here.words(&p)),
    }
}

/// "Fill by INN": starts the `lookup-company` process for this company;
/// the card then follows the run to its end.
async fn lookup(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let here = Here::new(&console, &me);
    let back = format!("/console/companies/{}", seg(&id));
    match here
        .api
        .post(
            "/api/v1/processes/lookup-company/start",
            // About the company: its run is seen with it (and listed on it).
            &json!({ "params": { "company_id": id }, "entity": { "kind": "company", "id": id } }),
        )
        .await
    {
        Ok(started) => {
            let run = started["run_id"].as_str().unwrap_or_default();
            done(
                &headers,
                &format!("{back}?run={}", seg(run)),
                here.t("companies.lookup_started"),
            )
        }
        Err(p) => done(&headers, &back, &here.words(&p)),
    }
}
