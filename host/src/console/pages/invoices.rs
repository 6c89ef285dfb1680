//! Invoices: the list with status, sums and filters; the card with its PDF
//! shown inline, send, mark paid and share links; and the bank statement
//! upload with its match report.

use super::{Call, Here, done, filters, items, next_page, page_of, seg};
use crate::console::ConsoleState;
use crate::console::session::Signed;
use axum::Router;
use axum::extract::{Extension, Form, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Value as View;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The routes of this module.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/invoices", get(list))
        .route("/console/invoices/statement", post(statement))
        .route("/console/invoices/{id}", get(card))
        .route("/console/invoices/{id}/pdf", get(pdf))
        .route("/console/invoices/{id}/send", post(send))
        .route("/console/invoices/{id}/paid", post(paid))
        .route("/console/invoices/{id}/share", post(share))
}

/// The statuses an invoice list filters on.
const STATUSES: [&str; 5] = ["draft", "sent", "paid", "overdue", "cancelled"];

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

async fn list(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<ListQuery>,
) -> Response {
    let here = Here::new(&console, &me);
    let status = q.status.as_deref().filter(|s| STATUSES.contains(s));
    let filters = filters(&[
        ("status", status),
        ("issue_date.ge", q.from.as_deref()),
        ("issue_date.le", q.to.as_deref()),
    ]);
    let list = match here
        .api
        .get(&page_of("/api/v1/invoices", &filters, q.cursor.as_deref()))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let invoices = items(&list);
    let mut sums: HashMap<String, rust_decimal::Decimal> = HashMap::new();
    for inv in &invoices {
        if let Some(t) = inv["total"]
            .as_str()
            .and_then(|t| t.parse::<rust_decimal::Decimal>().ok())
        {
            *sums
                .entry(inv["currency"].as_str().unwrap_or("RUB").to_owned())
                .or_default() += t;
        }
    }
    let sums: Vec<Value> = sums
        .into_iter()
        .map(|(c, a)| json!({ "currency": c, "amount": a.to_string() }))
        .collect();
    let can_import = matches!(
        me.caller.access.role,
        crate::access::Role::Accountant | crate::access::Role::Admin
    );
    here.page(
        "invoices",
        "invoices.html",
        minijinja::context! {
            invoices => View::from_serialize(&invoices),
            sums => View::from_serialize(&sums),
            statuses => STATUSES,
            status => q.status,
            from => q.from,
            to => q.to,
            next_href => next_page("/console/invoices", &filters, &list),
            can_import => can_import,
            flash => q.done,
        },
    )
    .await
}

#[derive(Deserialize)]
struct CardQuery {
    done: Option<String>,
    link: Option<String>,
}

async fn card(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Path(id): Path<String>,
    Query(q): Query<CardQuery>,
) -> Response {
    let here = Here::new(&console, &me);
    let invoice = match here
        .api
        .get(&format!("/api/v1/invoices/{}", seg(&id)))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let shares = here
        .api
        .get(&format!("/api/v1/invoices/{}/shares", seg(&id)))
        .await
        .map(|v| items(&v))
        .unwrap_or_default();
    let timeline = here
        .api
        .get(&format!("/api/v1/invoices/{}/timeline?limit=50", seg(&id)))
        .await
        .map(|v| items(&v))
        .unwrap_or_default();
    here.page(
        "invoices",
        "invoice.html",
        minijinja::context! {
            invoice => View::from_serialize(&invoice),
            shares => View::from_serialize(&shares),
            timeline => View::from_serialize(&timeline),
            new_link => q.link,
            flash => q.done,
        },
    )
    .await
}

/// The invoice's PDF, inline (the card shows it in a frame).
async fn pdf(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    let here = Here::new(&console, &me);
    match here
        .api
        .get_bytes(&format!("/api/v1/invoices/{}/pdf", seg(&id)))
        .await
    {
        Ok(file) => {
            let mut r = file.body.into_response();
            let h = r.headers_mut();
            if let Ok(ct) = HeaderValue::from_str(&file.content_type) {
                h.insert(header::CONTENT_TYPE, ct);
            }
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline"),
            );
            r
        }
        Err(p) => here.problem(p).await,
    }
}

#[derive(Deserialize)]
struct SendForm {
    #[serde(rename = "as", default)]
    how: Option<String>,
}

async fn send(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<SendForm>,
) -> Response {
    let mut here = Here::new(&console, &me);
    here.api = here.api.with_host_of(&headers);
    let how = form.how.unwrap_or_else(|| "attachment".to_owned());
    let back = format!("/console/invoices/{}", seg(&id));
    match here
        .api
        .post(
            &format!("/api/v1/invoices/{}/send", seg(&id)),
            &json!({ "as": how }),
        )
        .await
    {
        Ok(answer) => {
            let to = answer["to"].as_str().unwrap_or_default();
            done(
                &headers,
                &back,
                &format!("{} {to}", here.t("invoices.sent")),
            )
        }
        Err(p) => done(&headers, &back, &here.words(&p)),
    }
}

async fn paid(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let mut patch = json!({ "status": "paid" });
    if let Some(d) = form.get("paid_date").filter(|d| !d.is_empty()) {
        patch["paid_date"] = json!(d);
    }
    let path = format!("/api/v1/invoices/{}", seg(&id));
    here.act(
        &headers,
        Call::Patch(&path, patch),
        &format!("/console/invoices/{}", seg(&id)),
        here.t("invoices.marked_paid"),
    )
    .await
}

async fn share(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = Here::new(&console, &me);
    let back = format!("/console/invoices/{}", seg(&id));
    let days = form
        .get("days")
        .and_then(|d| d.parse::<u32>().ok())
        .unwrap_or(30);
    match here
        .api
        .post(
            &format!("/api/v1/invoices/{}/share", seg(&id)),
            &json!({ "days": days }),
        )
        .await
    {
        Ok(link) => {
            let url = format!(
                "{}{}",
                crate::api::invoices::public_base(&headers),
                link["url"].as_str().unwrap_or_default()
            );
            crate::console::session::redirect_for(
                &headers,
                &format!("{back}?link={}", crate::console::session::urlencoding(&url)),
            )
        }
        Err(p) => done(&headers, &back, &here.words(&p)),
    }
}

/// A bank statement file (multipart `file`), imported; the report shown.
async fn statement(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let here = Here::new(&console, &me);
    let mut bytes = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some("file") {
            match field.bytes().await {
                Ok(b) => bytes = Some(b.to_vec()),
                Err(e) => {
                    return here
                        .page(
                            "invoices",
                            "statement.html",
                            minijinja::context! { error => e.body_text() },
                        )
                        .await;
                }
            }
        }
    }
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        let page = here
            .page(
                "invoices",
                "statement.html",
                minijinja::context! { error => here.t("invoices.statement_missing") },
            )
            .await;
        return super::refused_in_place(page, StatusCode::UNPROCESSABLE_ENTITY, &headers);
    };
    match here
        .api
        .send_bytes(Method::POST, "/api/v1/bank-statements", "text/plain", bytes)
        .await
    {
        Ok(mut report) => {
            say_reasons(&mut report, me.lang);
            here.page(
                "invoices",
                "statement.html",
                minijinja::context! { report => View::from_serialize(&report) },
            )
            .await
        }
        Err(p) => {
            let status = p.status;
            // A file the import action could not read: said in the person's
            // language, with the action's words (the line, what is wrong).
            let error = if status == StatusCode::UNPROCESSABLE_ENTITY {
                format!("{}: {}", here.t("invoices.statement_malformed"), p.detail())
            } else {
                here.words(&p)
            };
            let page = here
                .page(
                    "invoices",
                    "statement.html",
                    minijinja::context! { error => error },
                )
                .await;
            super::refused_in_place(page, status, &headers)
        }
    }
}

/// Gives each unmatched payment of a statement report `said`: its reasons
/// (codes with parameters) in `lang`, else the action's own words.
fn say_reasons(report: &mut serde_json::Value, lang: crate::console::i18n::Lang) {
    let Some(unmatched) = report["unmatched"].as_array_mut() else {
        return;
    };
    for payment in unmatched {
        let said: Option<Vec<String>> = payment["reasons"].as_array().and_then(|reasons| {
            reasons
                .iter()
                .map(|r| lang.problem(r["code"].as_str()?, &r["params"]))
                .collect()
        });
        let said = said
            .filter(|s| !s.is_empty())
            .map(|s| s.join("; "))
            .or_else(|| payment["reason"].as_str().map(str::to_owned))
            .unwrap_or_default();
        payment["said"] = serde_json::Value::String(said);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::Lang;
    use serde_json::json;

    #[test]
    fn a_statements_unmatched_payments_are_said_in_the_persons_language() {
        let mut report = json!({"unmatched": [
            {"reason": "invoice 2026-00001 is already paid",
             "reasons": [{"code": "already-paid", "params": {"invoice": "2026-00001"}}]},
            {"reason": "amount 1000 differs from invoice 7 total 1200; invoice 8 is cancelled",
             "reasons": [{"code": "amount-differs", "params": {"amount": "1000", "invoice": "7", "total": "1200"}},
                         {"code": "invoice-cancelled", "params": {"invoice": "8"}}]},
            {"reason": "an older action's words", "reasons": [{"code": "not-known-here", "params": {}}]},
            {"reason": "no codes at all"}
        ]});
        say_reasons(&mut report, Lang::Ru);
        let said: Vec<&str> = report["unmatched"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["said"].as_str().unwrap())
            .collect();
        assert_eq!(
            said,
            [
                "счёт 2026-00001 уже оплачен",
                "сумма 1000 не равна сумме счёта 7 (1200); счёт 8 отменён",
                "an older action's words",
                "no codes at all"
            ]
        );
    }
}
