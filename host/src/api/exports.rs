//! `GET /api/v1/exports/invoices?from=YYYY-MM-DD&to=YYYY-MM-DD&format=commerceml`:
//! the invoices issued in the period (drafts and cancelled ones left out
//! unless `status=` names them) as CommerceML 2 XML for 1C:Бухгалтерия, in
//! UTF-8, streamed page by page so a year of invoices never sits in memory.
//! Payments come back through `POST /api/v1/bank-statements`.
//!
//! `GET /api/v1/exports/payment-orders?date=YYYY-MM-DD`: the approved
//! payment requests due that day as payment orders for the bank client
//! (1CClientBankExchange, Windows-1251), made by the
//! `export-payment-orders` action; the bank's statement, imported, marks
//! them paid.

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult};
use crate::access::Role;
use crate::crm::{EntityKind, Filter, commerceml};
use crate::store::CrmStore;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use chrono::NaiveDate;
use serde_json::Value;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/exports/invoices", get(invoices))
        .route("/api/v1/exports/payment-orders", get(payment_orders))
}

/// Invoices read per page while streaming.
const PAGE: u32 = 200;

/// Statuses exported unless the caller names others.
const ISSUED: &[&str] = &["sent", "paid", "overdue"];

async fn invoices(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    caller.require(
        &[Role::Accountant, Role::HeadOfSales, Role::Admin],
        "export invoices for accounting",
    )?;
    let (mut from, mut to, mut format, mut statuses) = (None, None, None, Vec::new());
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let date = |v: &str| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| ApiError::bad_request(format!("{key} `{v}` is not a date YYYY-MM-DD")))
        };
        match key.as_ref() {
            "from" => from = Some(date(&value)?),
            "to" => to = Some(date(&value)?),
            "format" => format = Some(value.into_owned()),
            "status" => {
                if !crate::crm::schema::INVOICE_STATUSES.contains(&value.as_ref()) {
                    return Err(ApiError::bad_request(format!(
                        "status `{value}` is not one of {}",
                        crate::crm::schema::INVOICE_STATUSES.join(", ")
                    )));
                }
                statuses.push(value.into_owned());
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`: use from, to, format and status"
                )));
            }
        }
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(ApiError::bad_request(
            "give the period: ?from=YYYY-MM-DD&to=YYYY-MM-DD",
        ));
    };
    if from > to {
        return Err(ApiError::bad_request(format!(
            "from {from} is after to {to}"
        )));
    }
    match format.as_deref() {
        None | Some("commerceml") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format `{other}`: only commerceml is written"
            )));
        }
    }
    if statuses.is_empty() {
        statuses = ISSUED.iter().map(|s| (*s).to_owned()).collect();
    }
    let filters = Filter::between("issue_date", &from.to_string(), &to.to_string());
    // The first page is read before answering, so a failing store is an
    // error status rather than a cut-off file.
    let first = state
        .store
        .query_after(EntityKind::Invoice, &filters, "", PAGE)
        .await?;
    let formed_at = state
        .engine
        .now()
        .with_timezone(&crate::clock::COMPANY_TIMEZONE)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let store = state.store.clone();
    let pages = futures_util::stream::unfold(Pages::Header(formed_at, first), move |pages| {
        let store = store.clone();
        let filters = filters.clone();
        let statuses = statuses.clone();
        async move {
            match pages {
                Pages::Header(formed_at, first) => Some((
                    Ok::<_, std::io::Error>(commerceml::header(&formed_at)),
                    Pages::Rows(first),
                )),
                Pages::Rows(rows) if rows.is_empty() => {
                    Some((Ok(commerceml::footer().to_owned()), Pages::Done))
                }
                Pages::Rows(rows) => {
                    let full = rows.len() == PAGE as usize;
                    let last = rows
                        .last()
                        .and_then(|r| r.get("id"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    let chunk: String = rows
                        .iter()
                        .filter(|r| {
                            r.get("status")
                                .and_then(Value::as_str)
                                .is_some_and(|s| statuses.iter().any(|w| w == s))
                        })
                        .map(commerceml::document)
                        .collect();
                    let next = if full {
                        match store
                            .query_after(EntityKind::Invoice, &filters, &last, PAGE)
                            .await
                        {
                            Ok(rows) => Pages::Rows(rows),
                            // A store failure mid-stream cuts the body:
                            // the XML is then visibly incomplete.
                            Err(e) => {
                                return Some((
                                    Err(std::io::Error::other(e.to_string())),
                                    Pages::Done,
                                ));
                            }
                        }
                    } else {
                        Pages::Rows(Vec::new())
                    };
                    Some((Ok(chunk), next))
                }
                Pages::Done => None,
            }
        }
    });
    let name = format!("invoices-{from}-{to}.xml");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

async fn payment_orders(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    caller.require(
        &[Role::Accountant, Role::Admin],
        "export payment orders for the bank",
    )?;
    let mut date = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "date" => {
                date = Some(NaiveDate::parse_from_str(&value, "%Y-%m-%d").map_err(|_| {
                    ApiError::bad_request(format!("date `{value}` is not a date YYYY-MM-DD"))
                })?);
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`: give date"
                )));
            }
        }
    }
    let date = date.unwrap_or_else(|| state.engine.today());
    let now = state
        .engine
        .now()
        .with_timezone(&crate::clock::COMPANY_TIMEZONE)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let action = crate::engine::definition::ActionRef {
        id: "export-payment-orders".into(),
        major: 1,
    };
    let input = serde_json::json!({ "date": date.to_string(), "created_at": now });
    let (out, _) = state
        .engine
        .call_now(&action, &input)
        .await
        .map_err(|e| super::problem::direct_error(e, "export-payment-orders"))?;
    let text = |k: &str| out.get(k).and_then(Value::as_str).unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text("content_base64"))
        .map_err(|_| ApiError::internal("export-payment-orders answered without the file"))?;
    let count = out.get("count").and_then(Value::as_u64).unwrap_or(0);
    // The requests left out (not in roubles), by id: the file holds the rest.
    let skipped: Vec<&str> = out
        .get("skipped")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(|x| x["id"].as_str()).collect())
        .unwrap_or_default();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=windows-1251".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", text("filename")),
            ),
            (
                header::HeaderName::from_static("x-robota-orders"),
                count.to_string(),
            ),
            (
                header::HeaderName::from_static("x-robota-total"),
                text("total").to_owned(),
            ),
            (
                header::HeaderName::from_static("x-robota-skipped"),
                skipped.join(","),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Where the stream is.
enum Pages {
    /// The header is next (its stamp, then the first page).
    Header(String, Vec<serde_json::Map<String, Value>>),
    /// These invoices are next.
    Rows(Vec<serde_json::Map<String, Value>>),
    /// Nothing more.
    Done,
}
