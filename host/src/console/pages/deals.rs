//! The deals board (columns by stage with their sums; a move by button or
//! drag), the deal card, and moving a deal: a move the stage's required
//! fields refuse opens exactly those fields to fill in place (seed 002).

use super::{Here, done, items, retarget, seg, with_status};
use crate::console::ConsoleState;
use crate::console::session::{Signed, redirect_for};
use axum::Router;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::Value as View;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr as _;

/// The routes of this module.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/", get(home))
        .route("/console/deals", get(board))
        .route("/console/deals/{id}", get(card))
        .route("/console/deals/{id}/move", post(move_deal))
}

/// The first page: the board for sales, invoices for accounting.
async fn home(Extension(me): Extension<Signed>, headers: HeaderMap) -> Response {
    let to = match me.caller.access.role {
        crate::access::Role::Accountant => "/console/invoices",
        _ => "/console/deals",
    };
    redirect_for(&headers, to)
}

#[derive(Deserialize)]
struct BoardQuery {
    done: Option<String>,
}

/// The default pipeline (or the first), from `GET /api/v1/pipelines`.
fn default_pipeline(pipelines: &Value) -> Value {
    let all = items(pipelines);
    all.iter()
        .find(|p| p["is_default"] == true)
        .or(all.first())
        .cloned()
        .unwrap_or(Value::Null)
}

/// Sums amounts by currency: `[{currency, amount}]`.
fn totals<'a>(deals: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut by: BTreeMap<String, Decimal> = BTreeMap::new();
    for d in deals {
        if let Some(a) = d["amount"].as_str().and_then(|a| Decimal::from_str(a).ok()) {
            let currency = d["currency"].as_str().unwrap_or("RUB").to_owned();
            *by.entry(currency).or_default() += a;
        }
    }
    by.into_iter()
        .map(|(c, a)| json!({ "currency": c, "amount": a.to_string() }))
        .collect()
}

async fn board(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<BoardQuery>,
) -> Response {
    let here = Here::new(&console, &me);
    let pipelines = match here.api.get("/api/v1/pipelines").await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let pipeline = default_pipeline(&pipelines);
    let pipeline_id = pipeline["id"].as_str().unwrap_or_default();
    let list = match here
        .api
        .get(&format!(
            "/api/v1/deals?pipeline_id={}&limit=1000",
            seg(pipeline_id)
        ))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let deals = items(&list);
    let stages = pipeline["stages"].as_array().cloned().unwrap_or_default();
    let columns: Vec<Value> = stages
        .iter()
        .map(|s| {
            let in_stage: Vec<&Value> = deals.iter().filter(|d| d["stage"] == s["code"]).collect();
            json!({
                "code": s["code"],
                "name": s["name"],
                "semantic": s["semantic"],
                "count": in_stage.len(),
                "totals": totals(in_stage.iter().copied()),
                "deals": in_stage,
            })
        })
        .collect();
    here.page(
        "deals",
        "board.html",
        minijinja::context! {
            pipeline => View::from_serialize(&pipeline),
            stages => View::from_serialize(&stages),
            columns => View::from_serialize(&columns),
            more => !list["next_cursor"].is_null(),
            flash => q.done,
        },
    )
    .await
}

async fn card(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Path(id): Path<String>,
    Query(q): Query<BoardQuery>,
) -> Response {
    let here = Here::new(&console, &me);
    let deal = match here.api.get(&format!("/api/v1/deals/{}", seg(&id))).await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let related = |path: String| {
        let api = &here.api;
        async move { api.get(&path).await.unwrap_or(Value::Null) }
    };
    let company = match deal["company_id"].as_str() {
        Some(c) => related(format!("/api/v1/companies/{}", seg(c))).await,
        None => Value::Null,
    };
    let contact = match deal["contact_id"].as_str() {
        Some(c) => related(format!("/api/v1/contacts/{}", seg(c))).await,
        None => Value::Null,
    };
    let invoices = related(format!("/api/v1/invoices?deal_id={}&limit=100", seg(&id))).await;
    let tasks = related(format!(
        "/api/v1/tasks?entity_kind=deal&entity_id={}&limit=100",
        seg(&id)
    ))
    .await;
    let timeline = related(format!("/api/v1/deals/{}/timeline?limit=100", seg(&id))).await;
    let pipelines = related("/api/v1/pipelines".to_owned()).await;
    let fields = related("/api/v1/custom-fields/deal".to_owned()).await;
    let stages = default_pipeline(&pipelines)["stages"].clone();
    here.page(
        "deals",
        "deal.html",
        minijinja::context! {
            deal => View::from_serialize(&deal),
            company => View::from_serialize(&company),
            contact => View::from_serialize(&contact),
            invoices => View::from_serialize(items(&invoices)),
            tasks => View::from_serialize(items(&tasks)),
            timeline => View::from_serialize(items(&timeline)),
            stages => View::from_serialize(&stages),
            custom_fields => View::from_serialize(&fields["fields"]),
            flash => q.done,
        },
    )
    .await
}

/// `stage`, where to go back to, and any `f.<field>` the dialog filled.
async fn move_deal(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let stage = form.get("stage").cloned().unwrap_or_default();
    let back = match form.get("back").map(String::as_str) {
        Some("card") => format!("/console/deals/{}", seg(&id)),
        _ => "/console/deals".to_owned(),
    };
    let deal = match here.api.get(&format!("/api/v1/deals/{}", seg(&id))).await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let mut patch = Map::new();
    patch.insert("stage".into(), json!(stage));
    let mut custom = deal["custom_fields"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let defs = here
        .api
        .get("/api/v1/custom-fields/deal")
        .await
        .unwrap_or(Value::Null);
    let mut filled = Map::new();
    for (key, value) in &form {
        let Some(field) = key.strip_prefix("f.") else {
            continue;
        };
        filled.insert(field.to_owned(), json!(value));
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match field.strip_prefix("custom_fields.") {
            Some(name) => {
                let kind = defs["fields"]
                    .as_array()
                    .and_then(|f| f.iter().find(|d| d["name"] == name))
                    .and_then(|d| d["type"].as_str())
                    .unwrap_or("text");
                custom.insert(name.to_owned(), typed(kind, value));
            }
            None => {
                patch.insert(field.to_owned(), json!(value));
            }
        }
    }
    if !custom.is_empty() {
        patch.insert("custom_fields".into(), Value::Object(custom));
    }
    match here
        .api
        .patch(
            &format!("/api/v1/deals/{}", seg(&id)),
            &Value::Object(patch),
        )
        .await
    {
        Ok(moved) => {
            let message = format!(
                "{} «{}» → {}",
                here.t("deals.moved"),
                moved["title"].as_str().unwrap_or_default(),
                stage
            );
            done(&headers, &back, &message)
        }
        Err(p) if p.status == StatusCode::UNPROCESSABLE_ENTITY => {
            // A field the stage needs, or a value the API refused: the
            // dialog shows the fields with the API's words.
            // The fields the dialog showed stay (with what was typed), and
            // those the API names join them.
            let mut wanted: Vec<String> = filled.keys().cloned().collect();
            for f in p.fields("deal") {
                if !wanted.contains(&f) {
                    wanted.push(f);
                }
            }
            if wanted.is_empty() {
                return with_status(
                    here.page(
                        "deals",
                        "problem.html",
                        minijinja::context! { status => 422, detail => here.words(&p) },
                    )
                    .await,
                    StatusCode::UNPROCESSABLE_ENTITY,
                );
            }
            let fields = dialog_fields(&here, &wanted, &defs).await;
            let page = here
                .page(
                    "deals",
                    "move.html",
                    minijinja::context! {
                        deal => View::from_serialize(&deal),
                        stage => &stage,
                        stage_name => stage_name(&here, &stage).await,
                        fields => View::from_serialize(&fields),
                        filled => View::from_serialize(&filled),
                        detail => here.say(&p, &|f: &str| {
                            let f = f.strip_prefix("deal.").unwrap_or(f);
                            let code = f.strip_prefix("custom_fields.").unwrap_or(f);
                            fields
                                .iter()
                                .find(|d| d["name"] == f)
                                .and_then(|d| d["label"].as_str())
                                .map(str::to_owned)
                                .unwrap_or_else(|| here.label("fields", code))
                        }),
                        back => form.get("back").cloned().unwrap_or_default(),
                    },
                )
                .await;
            let page = with_status(page, StatusCode::UNPROCESSABLE_ENTITY);
            if headers.contains_key("hx-request") {
                // htmx swaps only 2xx answers by default: this one is the
                // dialog, put where the page keeps dialogs.
                let mut r = retarget(page, "#dialog", "#move-dialog");
                *r.status_mut() = StatusCode::OK;
                r
            } else {
                page
            }
        }
        Err(p) => here.problem(p).await,
    }
}

/// A form's text as the JSON a custom field of type `kind` holds: whole
/// numbers as numbers, yes/no as booleans, the rest as typed (the API
/// names a value that does not fit).
fn typed(kind: &str, text: &str) -> Value {
    match kind {
        "number" => text
            .parse::<i64>()
            .map_or_else(|_| json!(text), |n| json!(n)),
        "bool" => json!(matches!(text, "true" | "on" | "1")),
        _ => json!(text),
    }
}

/// The stage's name in the default pipeline (its code if unknown).
async fn stage_name(here: &Here<'_>, code: &str) -> String {
    let pipelines = here
        .api
        .get("/api/v1/pipelines")
        .await
        .unwrap_or(Value::Null);
    default_pipeline(&pipelines)["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["code"] == code))
        .and_then(|s| s["name"].as_str())
        .unwrap_or(code)
        .to_owned()
}

/// How to ask for each wanted field: its label, input type and choices.
async fn dialog_fields(here: &Here<'_>, wanted: &[String], defs: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for name in wanted {
        let field = if let Some(code) = name.strip_prefix("custom_fields.") {
            let def = defs["fields"]
                .as_array()
                .and_then(|f| f.iter().find(|d| d["name"] == code))
                .cloned()
                .unwrap_or(Value::Null);
            let input = match def["type"].as_str() {
                Some("number" | "decimal") => "number",
                Some("date") => "date",
                Some("enum") => "select",
                Some("bool") => "checkbox",
                _ => "text",
            };
            json!({
                "name": name,
                "label": def["label"].as_str().unwrap_or(code),
                "input": input,
                "choices": def["options"].as_array().map(|o| o.iter().map(|v| json!({"value": v, "label": v})).collect::<Vec<_>>()),
            })
        } else if name == "company_id" {
            let companies = here
                .api
                .get("/api/v1/companies?limit=1000")
                .await
                .unwrap_or(Value::Null);
            let choices: Vec<Value> = items(&companies)
                .iter()
                .map(|c| json!({ "value": c["id"], "label": c["short_name"].as_str().or(c["full_name"].as_str()).unwrap_or_default() }))
                .collect();
            json!({ "name": name, "label": here.t("fields.company_id"), "input": "select", "choices": choices })
        } else {
            let label = here
                .me
                .lang
                .lookup(&format!("fields.{name}"))
                .unwrap_or(name);
            let input = if name == "amount" { "number" } else { "text" };
            json!({ "name": name, "label": label, "input": input })
        };
        out.push(field);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_text_becomes_the_type_the_field_holds() {
        assert_eq!(typed("number", "5"), json!(5));
        assert_eq!(typed("number", "пять"), json!("пять"));
        assert_eq!(typed("bool", "true"), json!(true));
        assert_eq!(typed("decimal", "1.50"), json!("1.50"));
        assert_eq!(typed("text", "Д-77"), json!("Д-77"));
    }
}
