//! Reports: invoices issued, average days to pay, the share paid, overdue
//! debt, top debtors, and debt by week as a chart drawn on the server
//! (SVG, no chart library in the page).

use super::{Here, seg};
use crate::console::ConsoleState;
use crate::console::session::Signed;
use axum::Router;
use axum::extract::{Extension, Query, State};
use axum::response::Response;
use axum::routing::get;
use minijinja::Value as View;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde::Deserialize;
use serde_json::Value;
use std::str::FromStr as _;

/// The routes of this module.
pub fn routes() -> Router<ConsoleState> {
    Router::new().route("/console/reports", get(reports))
}

#[derive(Deserialize)]
struct Period {
    from: Option<String>,
    to: Option<String>,
}

async fn reports(
    State(console): State<ConsoleState>,
    Extension(me): Extension<Signed>,
    Query(q): Query<Period>,
) -> Response {
    let here = Here::new(&console, &me);
    let mut query = Vec::new();
    if let Some(f) = q.from.as_deref().filter(|f| !f.is_empty()) {
        query.push(format!("from={}", seg(f)));
    }
    if let Some(t) = q.to.as_deref().filter(|t| !t.is_empty()) {
        query.push(format!("to={}", seg(t)));
    }
    let invoices = match here
        .api
        .get(&format!("/api/v1/reports/invoices?{}", query.join("&")))
        .await
    {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let debt = match here.api.get("/api/v1/reports/debt").await {
        Ok(v) => v,
        Err(p) => return here.problem(p).await,
    };
    let chart = debt_chart(&debt["by_week"], "RUB");
    here.page(
        "reports",
        "reports.html",
        minijinja::context! {
            invoices => View::from_serialize(&invoices),
            debt => View::from_serialize(&debt),
            chart => View::from_safe_string(chart),
            from => q.from,
            to => q.to,
        },
    )
    .await
}

/// The debt of `currency` at each week's end as an SVG bar chart: one bar
/// per week, labelled with the week's start, scaled to the largest.
fn debt_chart(by_week: &Value, currency: &str) -> String {
    let weeks: Vec<(String, f64)> = by_week
        .as_array()
        .map(|w| {
            w.iter()
                .map(|week| {
                    let amount = week["by_currency"]
                        .as_array()
                        .and_then(|c| c.iter().find(|c| c["currency"] == currency))
                        .and_then(|c| c["total"].as_str())
                        .and_then(|a| Decimal::from_str(a).ok())
                        .and_then(|a| a.to_f64())
                        .unwrap_or(0.0);
                    let label = week["week_start"]
                        .as_str()
                        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                        .map(|d| d.format("%d.%m").to_string())
                        .unwrap_or_default();
                    (label, amount)
                })
                .collect()
        })
        .unwrap_or_default();
    let (width, height, bottom, top) = (640.0_f64, 220.0_f64, 24.0_f64, 16.0_f64);
    let max = weeks.iter().map(|(_, a)| *a).fold(0.0_f64, f64::max);
    let n = weeks.len().max(1) as f64;
    let slot = width / n;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" id="debt-chart" role="img" aria-label="{currency}">"#
    );
    svg.push_str(&format!(
        r##"<line x1="0" y1="{y}" x2="{width}" y2="{y}" stroke="#d9dee7"/>"##,
        y = height - bottom
    ));
    for (i, (label, amount)) in weeks.iter().enumerate() {
        let h = if max > 0.0 {
            (height - bottom - top) * amount / max
        } else {
            0.0
        };
        let x = i as f64 * slot + slot * 0.15;
        let w = slot * 0.7;
        let y = height - bottom - h;
        svg.push_str(&format!(
            r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#2459d6" data-week="{label}" data-amount="{amount:.2}"><title>{label}: {amount:.2} {currency}</title></rect>"##
        ));
        svg.push_str(&format!(
            r##"<text x="{cx:.1}" y="{ty:.1}" font-size="11" text-anchor="middle" fill="#667085">{label}</text>"##,
            cx = x + w / 2.0,
            ty = height - 8.0
        ));
        if *amount > 0.0 {
            svg.push_str(&format!(
                r##"<text x="{cx:.1}" y="{ty:.1}" font-size="10" text-anchor="middle" fill="#1d2330">{short}</text>"##,
                cx = x + w / 2.0,
                ty = (y - 3.0).max(10.0),
                short = short_amount(*amount)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// `480000` → `480k`, `1250000` → `1.3M`: a bar's label.
fn short_amount(a: f64) -> String {
    if a >= 1_000_000.0 {
        format!("{:.1}M", a / 1_000_000.0)
    } else if a >= 1_000.0 {
        format!("{:.0}k", a / 1_000.0)
    } else {
        format!("{a:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_chart_has_a_bar_per_week_scaled_to_the_largest() {
        let weeks = json!([
            { "week_start": "2026-11-23", "by_currency": [{ "currency": "RUB", "count": 1, "total": "100000.00" }] },
            { "week_start": "2026-11-30", "by_currency": [{ "currency": "RUB", "count": 2, "total": "480000.00" }] },
            { "week_start": "2026-12-07", "by_currency": [] },
        ]);
        let svg = debt_chart(&weeks, "RUB");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains(r#"data-week="30.11" data-amount="480000.00""#));
        // The largest bar fills the plot (220 - 24 - 16 = 180).
        assert!(svg.contains(r#"height="180.0" fill"#), "{svg}");
        assert!(svg.contains("480k") && svg.contains("100k"));
        assert!(debt_chart(&json!([]), "RUB").starts_with("<svg"));
    }
}
