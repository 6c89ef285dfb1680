//! The console's templates (embedded, HTML auto-escaped), their filters
//! (money, dates, JSON) and `t()` for texts, and the headers every page
//! gets (a strict CSP: scripts and styles only from the console itself).

use super::ConsoleState;
use super::i18n::Lang;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, State, Value};
use rust_decimal::Decimal;
use std::str::FromStr as _;

/// Every template, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../console/templates/base.html"),
    ),
    (
        "sign_in.html",
        include_str!("../../console/templates/sign_in.html"),
    ),
    (
        "error.html",
        include_str!("../../console/templates/error.html"),
    ),
    (
        "problem.html",
        include_str!("../../console/templates/problem.html"),
    ),
    (
        "board.html",
        include_str!("../../console/templates/board.html"),
    ),
    (
        "deal.html",
        include_str!("../../console/templates/deal.html"),
    ),
    (
        "move.html",
        include_str!("../../console/templates/move.html"),
    ),
    (
        "invoices.html",
        include_str!("../../console/templates/invoices.html"),
    ),
    (
        "invoice.html",
        include_str!("../../console/templates/invoice.html"),
    ),
    (
        "statement.html",
        include_str!("../../console/templates/statement.html"),
    ),
    (
        "payment_requests.html",
        include_str!("../../console/templates/payment_requests.html"),
    ),
    (
        "payment_request.html",
        include_str!("../../console/templates/payment_request.html"),
    ),
    (
        "registry.html",
        include_str!("../../console/templates/registry.html"),
    ),
    (
        "approvals.html",
        include_str!("../../console/templates/approvals.html"),
    ),
    (
        "runs.html",
        include_str!("../../console/templates/runs.html"),
    ),
    ("run.html", include_str!("../../console/templates/run.html")),
    (
        "processes.html",
        include_str!("../../console/templates/processes.html"),
    ),
    (
        "process.html",
        include_str!("../../console/templates/process.html"),
    ),
    (
        "plugins.html",
        include_str!("../../console/templates/plugins.html"),
    ),
    (
        "leads.html",
        include_str!("../../console/templates/leads.html"),
    ),
    (
        "lead.html",
        include_str!("../../console/templates/lead.html"),
    ),
    (
        "company.html",
        include_str!("../../console/templates/company.html"),
    ),
    (
        "reports.html",
        include_str!("../../console/templates/reports.html"),
    ),
    (
        "tasks.html",
        include_str!("../../console/templates/tasks.html"),
    ),
];

/// The loaded templates.
pub struct Views {
    env: Environment<'static>,
}

impl Default for Views {
    fn default() -> Views {
        Views::new()
    }
}

impl Views {
    /// Every template with the console's filters and functions.
    pub fn new() -> Views {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                // A template that does not parse fails its page (and the
                // tests, which render every one), not the server.
                tracing::error!("console template {name}: {e}");
            }
        }
        env.add_function("t", text);
        env.add_filter("money", money);
        env.add_filter("dt", date_time);
        env.add_filter("d", date);
        env.add_filter("pretty", pretty);
        Views { env }
    }

    /// Renders template `name` with `ctx` (and `lang`); a failure renders
    /// as a plain error naming the template.
    pub fn page(&self, name: &str, lang: Lang, ctx: Value) -> Html<String> {
        let ctx = minijinja::context! { lang => lang.code(), ..ctx };
        match self.env.get_template(name).and_then(|t| t.render(&ctx)) {
            Ok(html) => Html(html),
            Err(e) => {
                tracing::error!("rendering {name}: {e:#}");
                Html(format!(
                    "<!doctype html><title>robota</title><p>{}: {}</p>",
                    lang.text("errors.render"),
                    escape(name)
                ))
            }
        }
    }
}

/// Error pages.
pub struct Page;

impl Page {
    /// 500 with `detail` logged, and a page saying the server failed.
    pub fn error(console: &ConsoleState, lang: Lang, detail: String) -> Response {
        tracing::error!("console: {detail}");
        Page::status(
            console,
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.text("errors.server"),
        )
    }

    /// A page with `status` and `detail`.
    pub fn status(
        console: &ConsoleState,
        lang: Lang,
        status: StatusCode,
        detail: &str,
    ) -> Response {
        let page = console.views.page(
            "error.html",
            lang,
            minijinja::context! { status => status.as_u16(), detail => detail },
        );
        (status, page).into_response()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `t("key")`, or `t("stage." ~ code, fallback)`: the text in the page's language.
fn text(state: &State, key: &str, fallback: Option<&str>) -> String {
    let lang = state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or_default();
    match (lang.lookup(key), fallback) {
        (Some(t), _) => t.to_owned(),
        (None, Some(f)) => f.to_owned(),
        (None, None) => key.to_owned(),
    }
}

/// `480000.5|money` → `480 000,50 ₽` (Russian) or `480,000.50 RUB`.
fn money(state: &State, value: Value, currency: Option<&str>) -> String {
    let text = value.to_string();
    let Ok(amount) = Decimal::from_str(text.trim()) else {
        return text;
    };
    let ru = state
        .lookup("lang")
        .is_none_or(|l| l.as_str() != Some("en"));
    let fixed = format!("{:.2}", amount.round_dp(2).abs());
    let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, "00"));
    let sep = if ru { '\u{202f}' } else { ',' };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(sep);
        }
        grouped.push(ch);
    }
    let sign = if amount.is_sign_negative() && !amount.is_zero() {
        "−"
    } else {
        ""
    };
    let currency = currency.unwrap_or("RUB");
    if ru {
        let symbol = if currency == "RUB" { "₽" } else { currency };
        format!("{sign}{grouped},{frac}\u{a0}{symbol}")
    } else {
        format!("{sign}{grouped}.{frac} {currency}")
    }
}

/// An RFC 3339 time as `05.12.2026 15:30` in the company's time zone.
fn date_time(value: Value) -> String {
    let text = value.to_string();
    match chrono::DateTime::parse_from_rfc3339(&text) {
        Ok(at) => at
            .with_timezone(&crate::clock::COMPANY_TIMEZONE)
            .format("%d.%m.%Y %H:%M")
            .to_string(),
        Err(_) => text,
    }
}

/// `2026-12-05` as `05.12.2026`.
fn date(value: Value) -> String {
    let text = value.to_string();
    match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        Ok(d) => d.format("%d.%m.%Y").to_string(),
        Err(_) => text,
    }
}

/// A value as indented JSON (a run's inputs and outputs).
fn pretty(value: Value) -> String {
    serde_json::to_value(&value)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default()
}

/// The headers of every console answer: a CSP allowing only the
/// console's own scripts and styles, no framing by other sites, no
/// sniffing, no caching of pages (static files set their own).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; \
             form-action 'self'",
        ),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn every_template_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console/templates");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut names: Vec<String> = TEMPLATES.iter().map(|(n, _)| (*n).to_owned()).collect();
        names.sort();
        assert_eq!(files, names);
    }

    #[test]
    fn money_is_grouped_the_way_each_language_writes_it() {
        let mut env = Environment::new();
        env.add_filter("money", money);
        let render = |lang: &str, v: &str| {
            env.render_str(
                "{{ v|money }}",
                minijinja::context! { lang => lang, v => v },
            )
            .unwrap()
        };
        assert_eq!(render("ru", "480000.5"), "480\u{202f}000,50\u{a0}₽");
        assert_eq!(render("en", "1234567"), "1,234,567.00 RUB");
        assert_eq!(render("ru", "-950"), "−950,00\u{a0}₽");
        assert_eq!(render("ru", "n/a"), "n/a");
    }

    #[test]
    fn times_show_in_the_company_time_zone() {
        assert_eq!(
            date_time(Value::from("2026-12-05T12:30:00Z")),
            "05.12.2026 15:30"
        );
        assert_eq!(date(Value::from("2026-12-05")), "05.12.2026");
    }
}
