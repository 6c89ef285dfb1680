//! Invoice reports, with exact decimal sums per currency:
//! - `GET /api/v1/reports/invoices?from=&to=` — issued in a period (count and
//!   sum), how many are paid (share), average days from issue to payment;
//! - `GET /api/v1/reports/debt?as_of=&top=&weeks=` — overdue debt now, the top
//!   debtors, and the overdue debt at the end of each of the last weeks.

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult};
use crate::store::prelude::*;
use crate::store::reports::InvoiceFacts;
use axum::extract::{Extension, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports/invoices", get(invoices))
        .route("/api/v1/reports/debt", get(debt))
}

fn date(text: &str, what: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request(format!("{what} `{text}` is not a date (YYYY-MM-DD)")))
}

fn amount(f: &InvoiceFacts) -> Decimal {
    Decimal::from_str(&f.total).unwrap_or_default()
}

fn money(d: Decimal) -> String {
    crate::crm::money::money_text(d)
}

/// Count and sum per currency.
fn by_currency<'a>(invoices: impl Iterator<Item = &'a InvoiceFacts>) -> Value {
    let mut sums: BTreeMap<&str, (u64, Decimal)> = BTreeMap::new();
    for f in invoices {
        let e = sums.entry(f.currency.as_str()).or_default();
        e.0 += 1;
        e.1 += amount(f);
    }
    Value::Array(
        sums.into_iter()
            .map(|(c, (n, s))| json!({ "currency": c, "count": n, "total": money(s) }))
            .collect(),
    )
}

#[derive(Deserialize)]
struct Period {
    from: Option<String>,
    to: Option<String>,
}

/// The issued-invoices report over `invoices` (already limited to the period).
fn issued_report(invoices: &[InvoiceFacts]) -> Value {
    let live: Vec<&InvoiceFacts> = invoices
        .iter()
        .filter(|f| f.status != "cancelled")
        .collect();
    let paid: Vec<&InvoiceFacts> = live
        .iter()
        .copied()
        .filter(|f| f.status == "paid")
        .collect();
    let days: Vec<i64> = paid
        .iter()
        .filter_map(|f| {
            let issued = NaiveDate::parse_from_str(&f.issue_date, "%Y-%m-%d").ok()?;
            let paid = NaiveDate::parse_from_str(f.paid_date.as_deref()?, "%Y-%m-%d").ok()?;
            Some((paid - issued).num_days().max(0))
        })
        .collect();
    let average_days = (!days.is_empty()).then(|| {
        (Decimal::from(days.iter().sum::<i64>()) / Decimal::from(days.len() as i64))
            .round_dp(1)
            .to_string()
    });
    let share_paid = (!live.is_empty()).then(|| {
        (Decimal::from(paid.len() as i64) / Decimal::from(live.len() as i64))
            .round_dp(4)
            .to_string()
    });
    json!({
        "issued": { "count": live.len(), "by_currency": by_currency(live.iter().copied()) },
        "paid": { "count": paid.len(), "by_currency": by_currency(paid.iter().copied()) },
        "cancelled": invoices.len() - live.len(),
        "share_paid": share_paid,
        "average_days_to_payment": average_days,
    })
}

async fn invoices(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<Period>,
) -> ApiResult<Json<Value>> {
    let today = state.engine.today();
    let to = match &p.to {
        Some(t) => date(t, "to")?,
        None => today,
    };
    let from = match &p.from {
        Some(f) => date(f, "from")?,
        None => to.with_day(1).unwrap_or(to),
    };
    if from > to {
        return Err(ApiError::bad_request(format!(
            "from {from} is after to {to}"
        )));
    }
    let rows = state
        .store
        .invoices_issued(&caller.access, &from.to_string(), &to.to_string())
        .await?;
    let mut report = issued_report(&rows);
    report["from"] = json!(from.to_string());
    report["to"] = json!(to.to_string());
    Ok(Json(report))
}

#[derive(Deserialize)]
struct DebtQuery {
    as_of: Option<String>,
    top: Option<usize>,
    weeks: Option<u32>,
}

/// Whether `f` was an unpaid, overdue debt at the end of `day`.
fn overdue_on(f: &InvoiceFacts, day: NaiveDate) -> bool {
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let issued = d(&f.issue_date).is_some_and(|i| i <= day);
    let due_passed = d(&f.due_date).is_some_and(|due| due < day);
    let unpaid = match f.paid_date.as_deref().and_then(d) {
        Some(paid) => paid > day,
        None => f.status != "paid",
    };
    issued && due_passed && unpaid
}

/// The debt report as of `as_of`.
fn debt_report(invoices: &[InvoiceFacts], as_of: NaiveDate, top: usize, weeks: u32) -> Value {
    let overdue: Vec<&InvoiceFacts> = invoices.iter().filter(|f| overdue_on(f, as_of)).collect();
    // Debtors: by buyer company (or buyer name for private persons) and currency.
    let mut debtors: BTreeMap<(String, String), (Value, u64, Decimal)> = BTreeMap::new();
    for f in &overdue {
        let buyer: Value = serde_json::from_str(&f.buyer).unwrap_or(Value::Null);
        let name = buyer
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let key = f.buyer_company_id.clone().unwrap_or_else(|| name.clone());
        let e = debtors.entry((key, f.currency.clone())).or_insert_with(|| {
            (
                json!({
                    "company_id": f.buyer_company_id,
                    "name": name,
                    "inn": buyer.get("inn"),
                }),
                0,
                Decimal::ZERO,
            )
        });
        e.1 += 1;
        e.2 += amount(f);
    }
    let mut top_debtors: Vec<_> = debtors.into_iter().collect();
    top_debtors.sort_by(|a, b| b.1.2.cmp(&a.1.2).then_with(|| a.0.cmp(&b.0)));
    let top_debtors: Vec<Value> = top_debtors
        .into_iter()
        .take(top)
        .map(|((_, currency), (mut who, n, total))| {
            who["currency"] = json!(currency);
            who["invoices"] = json!(n);
            who["total"] = json!(money(total));
            who
        })
        .collect();
    // Week ends (Sundays) going back from as_of; the current week ends today.
    let this_week_start = as_of - Duration::days(i64::from(as_of.weekday().num_days_from_monday()));
    let by_week: Vec<Value> = (0..weeks)
        .rev()
        .map(|i| {
            let start = this_week_start - Duration::weeks(i64::from(i));
            let end = if i == 0 {
                as_of
            } else {
                start + Duration::days(6)
            };
            let debt: Vec<&InvoiceFacts> = invoices.iter().filter(|f| overdue_on(f, end)).collect();
            json!({
                "week_start": start.to_string(),
                "as_of": end.to_string(),
                "by_currency": by_currency(debt.into_iter()),
            })
        })
        .collect();
    json!({
        "as_of": as_of.to_string(),
        "overdue": { "count": overdue.len(), "by_currency": by_currency(overdue.iter().copied()) },
        "top_debtors": top_debtors,
        "by_week": by_week,
    })
}

async fn debt(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<DebtQuery>,
) -> ApiResult<Json<Value>> {
    let as_of = match &q.as_of {
        Some(d) => date(d, "as_of")?,
        None => state.engine.today(),
    };
    let top = q.top.unwrap_or(10);
    let weeks = q.weeks.unwrap_or(8);
    if !(1..=100).contains(&top) || !(1..=104).contains(&weeks) {
        return Err(ApiError::bad_request(
            "top must be 1 to 100 and weeks 1 to 104",
        ));
    }
    let day_after = (as_of + Duration::days(1)).to_string();
    let rows = state
        .store
        .invoices_due_before(&caller.access, &day_after)
        .await?;
    Ok(Json(debt_report(&rows, as_of, top, weeks)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(
        n: &str,
        company: &str,
        total: &str,
        issue: &str,
        due: &str,
        status: &str,
        paid: Option<&str>,
    ) -> InvoiceFacts {
        InvoiceFacts {
            id: n.into(),
            number: n.into(),
            buyer_company_id: Some(company.into()),
            buyer: json!({ "name": company, "inn": "7736207543" }).to_string(),
            total: total.into(),
            currency: "RUB".into(),
            issue_date: issue.into(),
            due_date: due.into(),
            status: status.into(),
            paid_date: paid.map(str::to_owned),
        }
    }

    #[test]
    fn issued_counts_sums_exactly_and_averages_days_to_payment() {
        let rows = vec![
            inv(
                "1",
                "a",
                "0.10",
                "2026-11-01",
                "2026-11-06",
                "paid",
                Some("2026-11-04"),
            ),
            inv(
                "2",
                "a",
                "0.20",
                "2026-11-02",
                "2026-11-07",
                "paid",
                Some("2026-11-04"),
            ),
            inv(
                "3",
                "b",
                "1000.00",
                "2026-11-03",
                "2026-11-08",
                "sent",
                None,
            ),
            inv(
                "4",
                "b",
                "5.00",
                "2026-11-03",
                "2026-11-08",
                "cancelled",
                None,
            ),
        ];
        let r = issued_report(&rows);
        assert_eq!(r["issued"]["count"], 3);
        assert_eq!(r["issued"]["by_currency"][0]["total"], "1000.30");
        assert_eq!(r["paid"]["by_currency"][0]["total"], "0.30");
        assert_eq!(r["share_paid"], "0.6667");
        assert_eq!(r["average_days_to_payment"], "2.5");
        assert_eq!(r["cancelled"], 1);
        assert_eq!(issued_report(&[])["share_paid"], Value::Null);
    }

    #[test]
    fn debt_counts_unpaid_past_due_and_tracks_it_by_week() {
        let rows = vec![
            inv(
                "1",
                "a",
                "100.00",
                "2026-11-01",
                "2026-11-05",
                "overdue",
                None,
            ),
            inv("2", "b", "300.00", "2026-11-01", "2026-11-10", "sent", None),
            // Paid on the 12th: a debt from the 6th to the 12th only.
            inv(
                "3",
                "a",
                "50.00",
                "2026-11-01",
                "2026-11-05",
                "paid",
                Some("2026-11-12"),
            ),
        ];
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let r = debt_report(&rows, as_of, 10, 3);
        assert_eq!(r["overdue"]["count"], 2);
        assert_eq!(r["overdue"]["by_currency"][0]["total"], "400.00");
        assert_eq!(r["top_debtors"][0]["name"], "b");
        assert_eq!(r["top_debtors"][0]["total"], "300.00");
        assert_eq!(r["top_debtors"][1]["total"], "100.00");
        // Weeks ending Sun 8 Nov, Sun 15 Nov, and Sun 22 Nov (as_of).
        let weeks = r["by_week"].as_array().unwrap();
        assert_eq!(weeks[0]["week_start"], "2026-11-02");
        assert_eq!(weeks[0]["by_currency"][0]["total"], "150.00");
        assert_eq!(weeks[1]["by_currency"][0]["total"], "400.00");
        assert_eq!(weeks[2]["as_of"], "2026-11-22");
        assert_eq!(weeks[2]["by_currency"][0]["total"], "400.00");
    }
}
