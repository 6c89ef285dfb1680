//! Accounting's one screen (seed 003): `GET /api/v1/payment-registry?
//! period=day|week|month&date=YYYY-MM-DD&status=&contractor=&currency=` —
//! the payment requests approved for payment (and those paid) due in the
//! period, grouped by pay-by day with exact totals per currency per day and
//! for the period, the overdue ones flagged, each row with links to the
//! request and its files. Drafts, requests on approval and rejected ones
//! never appear here.

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult};
use crate::crm::duplicates::company_name_key;
use crate::crm::money::money_text;
use crate::crm::{EntityKind, EntityRef, Filter};
use crate::store::prelude::*;
use axum::extract::{Extension, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Datelike as _, Duration, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/payment-registry", get(registry))
}

/// The statuses the registry shows.
const REGISTRY_STATUSES: &[&str] = &["approved", "paid"];

/// The first and last day of the `period` around `date`.
fn bounds(period: &str, date: NaiveDate) -> Result<(NaiveDate, NaiveDate), ApiError> {
    Ok(match period {
        "day" => (date, date),
        "week" => {
            let monday = date - Duration::days(i64::from(date.weekday().num_days_from_monday()));
            (monday, monday + Duration::days(6))
        }
        "month" => {
            let first = date.with_day(1).unwrap_or(date);
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            }
            .unwrap_or(first);
            (first, next - Duration::days(1))
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "period `{other}`: use day, week or month"
            )));
        }
    })
}

/// Adds `amount` in `currency` to `totals`.
fn add(totals: &mut BTreeMap<String, Decimal>, currency: &str, amount: Decimal) {
    *totals.entry(currency.to_owned()).or_default() += amount;
}

fn printed(totals: &BTreeMap<String, Decimal>) -> Value {
    Value::Object(
        totals
            .iter()
            .map(|(c, a)| (c.clone(), Value::String(money_text(*a))))
            .collect(),
    )
}

/// What the registry shows: the query's parameters over the caller's saved
/// view (`PUT /api/v1/me/filters/payment-registry`) over the defaults.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryView {
    /// day, week or month (default week).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Only this status (approved or paid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only this contractor (name or INN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contractor: Option<String>,
    /// Only this currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl RegistryView {
    /// Checks each value, naming the one that is wrong.
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(p) = &self.period
            && !matches!(p.as_str(), "day" | "week" | "month")
        {
            return Err(ApiError::bad_request(format!(
                "period `{p}`: use day, week or month"
            )));
        }
        if let Some(s) = &self.status
            && !REGISTRY_STATUSES.contains(&s.as_str())
        {
            return Err(ApiError::bad_request(format!(
                "status `{s}`: the registry holds {} requests",
                REGISTRY_STATUSES.join(" and ")
            )));
        }
        if let Some(c) = &self.currency
            && !(c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()))
        {
            return Err(ApiError::bad_request(format!(
                "currency `{c}`: give an ISO 4217 code such as RUB"
            )));
        }
        Ok(())
    }

    /// This view with `saved`'s values where this one has none.
    fn over(self, saved: RegistryView) -> RegistryView {
        RegistryView {
            period: self.period.or(saved.period),
            status: self.status.or(saved.status),
            contractor: self.contractor.or(saved.contractor),
            currency: self.currency.or(saved.currency),
        }
    }
}

/// The name a saved registry view is kept under.
pub const VIEW: &str = "payment-registry";

async fn registry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let mut date = state.engine.today();
    let mut asked = RegistryView::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "period" => asked.period = Some(value.into_owned()),
            "date" => {
                date = NaiveDate::parse_from_str(&value, "%Y-%m-%d").map_err(|_| {
                    ApiError::bad_request(format!("date `{value}` is not a date YYYY-MM-DD"))
                })?;
            }
            "status" => asked.status = Some(value.into_owned()),
            "contractor" => asked.contractor = Some(value.into_owned()),
            "currency" => asked.currency = Some(value.to_uppercase()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`: use period, date, status, contractor and currency"
                )));
            }
        }
    }
    asked.check()?;
    let saved = match caller.user_id() {
        Some(user) => state.store.saved_filter(user, VIEW).await?,
        None => None,
    };
    let saved: RegistryView = saved
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let view = asked.over(saved);
    let period = view.period.clone().unwrap_or_else(|| "week".to_owned());
    let (status, contractor, currency) = (
        view.status.clone(),
        view.contractor.clone(),
        view.currency.clone(),
    );
    let today = state.engine.today();
    let (from, to) = bounds(&period, date)?;
    let filters = Filter::between("pay_by", &from.to_string(), &to.to_string());
    let wanted_contractor = contractor
        .as_deref()
        .map(|c| (company_name_key(c).unwrap_or_default(), c.trim().to_owned()));
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    let mut after = String::new();
    loop {
        let page = state
            .store
            .query_as(
                &caller.access,
                EntityKind::PaymentRequest,
                &filters,
                &after,
                1000,
            )
            .await?;
        let Some(last) = page
            .last()
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
        else {
            break;
        };
        after = last.to_owned();
        let full = page.len() == 1000;
        rows.extend(page.into_iter().filter(|r| {
            let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
            REGISTRY_STATUSES.contains(&text("status"))
                && status.as_deref().is_none_or(|s| s == text("status"))
                && currency.as_deref().is_none_or(|c| c == text("currency"))
                && wanted_contractor.as_ref().is_none_or(|(key, raw)| {
                    text("inn") == raw
                        || company_name_key(text("contractor")).as_deref() == Some(key.as_str())
                })
        }));
        if !full {
            break;
        }
    }
    rows.sort_by(|a, b| {
        let key = |r: &Map<String, Value>| {
            (
                r.get("pay_by")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                r.get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });

    let mut days: BTreeMap<String, (Vec<Value>, BTreeMap<String, Decimal>)> = BTreeMap::new();
    let mut totals = BTreeMap::new();
    let mut overdue = 0;
    for r in rows {
        let text = |k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let id = text("id");
        let amount = Decimal::from_str(&text("amount")).unwrap_or_default();
        let pay_by = text("pay_by");
        let late = text("status") != "paid" && pay_by < today.to_string();
        overdue += usize::from(late);
        let target = EntityRef {
            kind: EntityKind::PaymentRequest,
            id: id.clone(),
        };
        let files: Vec<Value> = state
            .store

            .files(&target)
            .await?
            .into_iter()
            .map(|f| json!({ "name": f.name, "url": format!("/api/v1/payment-requests/{id}/files/{}", f.name) }))
            .collect();
        let row = json!({
            "id": id,
            "url": format!("/api/v1/payment-requests/{id}"),
            "pay_by": pay_by,
            "contractor": text("contractor"),
            "inn": text("inn"),
            "amount": text("amount"),
            "currency": text("currency"),
            "purpose": text("purpose"),
            "payment_purpose_text": text("payment_purpose_text"),
            "status": text("status"),
            "author_id": r.get("author_id").cloned().unwrap_or(Value::Null),
            "approver_id": state.store.approver_of(&id).await?,
            "overdue": late,
            "files": files,
        });
        let day = days.entry(pay_by).or_default();
        add(&mut day.1, &text("currency"), amount);
        add(&mut totals, &text("currency"), amount);
        day.0.push(row);
    }
    let days: Vec<Value> = days
        .into_iter()
        .map(|(date, (rows, day_totals))| json!({ "date": date, "rows": rows, "totals": printed(&day_totals) }))
        .collect();
    Ok(Json(json!({
        "period": period,
        "view": view,
        "from": from.to_string(),
        "to": to.to_string(),
        "days": days,
        "totals": printed(&totals),
        "overdue": overdue,
    })))
}

#[cfg(test)]
mod tests {
    use super::bounds;
    use chrono::NaiveDate;

    #[test]
    fn periods_are_the_day_the_iso_week_and_the_month() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            bounds("day", d("2026-12-03")).unwrap(),
            (d("2026-12-03"), d("2026-12-03"))
        );
        assert_eq!(
            bounds("week", d("2026-12-03")).unwrap(),
            (d("2026-11-30"), d("2026-12-06"))
        );
        assert_eq!(
            bounds("month", d("2026-12-03")).unwrap(),
            (d("2026-12-01"), d("2026-12-31"))
        );
        assert_eq!(
            bounds("month", d("2027-02-10")).unwrap(),
            (d("2027-02-01"), d("2027-02-28"))
        );
        assert!(bounds("year", d("2026-12-03")).is_err());
    }
}
