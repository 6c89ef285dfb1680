//! The console's pages, one module per family. Each handler asks the API
//! (as the signed-in person) for what it shows and renders a template;
//! an API refusal becomes the same status here (404 for what is out of
//! reach, 403 for what the role may not do).

pub mod approvals;
pub mod companies;
pub mod deals;
pub mod invoices;
pub mod leads;
pub mod payments;
pub mod processes;
pub mod reports;
pub mod runs;
pub mod tasks;

use super::ConsoleState;
use super::client::{ApiClient, Problem};
use super::render::Page;
use super::session::{Signed, redirect_for};
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::Value as View;
use serde_json::{Value, json};

/// Every page of a signed-in person.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .merge(super::session::signed_routes())
        .merge(deals::routes())
        .merge(leads::routes())
        .merge(companies::routes())
        .merge(reports::routes())
        .merge(invoices::routes())
        .merge(payments::routes())
        .merge(approvals::routes())
        .merge(runs::routes())
        .merge(processes::routes())
        .merge(tasks::routes())
}

/// One request's view of the console: who asks, and the API as them.
pub struct Here<'a> {
    /// The console.
    pub console: &'a ConsoleState,
    /// Who is signed in.
    pub me: &'a Signed,
    /// The API as them.
    pub api: ApiClient<'a>,
}

impl<'a> Here<'a> {
    /// The console as `me`.
    pub fn new(console: &'a ConsoleState, me: &'a Signed) -> Here<'a> {
        Here {
            console,
            me,
            api: ApiClient::new(&console.api, &me.caller),
        }
    }

    /// A full page: `name` in the layout, with the header's data (who,
    /// role, unread count, the sections their role has).
    pub async fn page(&self, section: &str, name: &str, ctx: View) -> Response {
        let me = match self.api.get("/api/v1/me").await {
            Ok(v) => v,
            Err(p) => return Page::status(self.console, self.me.lang, p.status, &self.words(&p)),
        };
        let role = me["role"].as_str().unwrap_or_default().to_owned();
        let html = self.console.views.page(
            name,
            self.me.lang,
            minijinja::context! {
                me => View::from_serialize(&me),
                role => role,
                csrf => &self.me.csrf,
                section => section,
                nav => View::from_serialize(nav(&role)),
                ..ctx
            },
        );
        html.into_response()
    }

    /// An API refusal as a page (in the layout) with the same status and
    /// its detail.
    pub async fn problem(&self, p: Problem) -> Response {
        let status = p.status;
        if status.is_server_error() {
            return Page::error(self.console, self.me.lang, p.detail());
        }
        // A refusal by role is said in the person's language; the API's
        // own words (which also name what was refused) stay beneath it.
        let may: Vec<String> = p.body["may"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|r| r.as_str())
                    .map(|r| self.label("roles", r))
                    .collect()
            })
            .unwrap_or_default();
        let (detail, rule) = if may.is_empty() {
            (self.words(&p), None)
        } else {
            let mine = self.label("roles", self.me.caller.access.role.as_str());
            (
                format!(
                    "{}: {}. {}: {mine}.",
                    self.t("errors.only_roles"),
                    may.join(", "),
                    self.t("errors.your_role")
                ),
                Some(p.detail()),
            )
        };
        let page = self
            .page(
                "",
                "problem.html",
                minijinja::context! { status => status.as_u16(), detail => detail, rule => rule },
            )
            .await;
        with_status(page, status)
    }

    /// Calls the API for a form's action (`POST path` with `body`, or
    /// `PATCH` when `patch`), then back to `back` with `ok` or the API's
    /// refusal shown once.
    pub async fn act(&self, headers: &HeaderMap, call: Call<'_>, back: &str, ok: &str) -> Response {
        let answer = match call {
            Call::Post(path, body) => self.api.post(path, &body).await,
            Call::Patch(path, body) => self.api.patch(path, &body).await,
        };
        match answer {
            Ok(_) => done(headers, back, ok),
            Err(p) => done(headers, back, &self.words(&p)),
        }
    }

    /// `POST {api}/{id}/{verb}` (a run's retry, a process's enable), then
    /// back to `{page}/{id}` with the text `{ok_prefix}{verb}{ok_suffix}`.
    pub async fn verb(
        &self,
        headers: &HeaderMap,
        (api, page): (&str, &str),
        id: &str,
        verb: &str,
        ok_key: &str,
    ) -> Response {
        let path = format!("{api}/{}/{verb}", seg(id));
        self.act(
            headers,
            Call::Post(&path, json!({})),
            &format!("{page}/{}", seg(id)),
            self.t(ok_key),
        )
        .await
    }

    /// A refused write in the person's words: the fields still missing by
    /// their labels (`label` names a field), or the wrong field's label
    /// before the API's detail; otherwise the API's detail.
    pub fn say(&self, p: &Problem, label: &dyn Fn(&str) -> String) -> String {
        let missing: Vec<String> = p.body["missing"]
            .as_array()
            .map(|m| m.iter().filter_map(|f| f.as_str()).map(label).collect())
            .unwrap_or_default();
        if !missing.is_empty() {
            return format!("{}: {}", self.t("errors.missing"), missing.join(", "));
        }
        match p.body["field"].as_str() {
            Some(f) => format!("{}: {}", label(f), self.words(p)),
            None => self.words(p),
        }
    }

    /// The label of a record's field: the catalogue's `{section}.{name}`,
    /// else the name.
    pub fn label(&self, section: &str, name: &str) -> String {
        let short = name.rsplit('.').next().unwrap_or(name);
        self.me
            .lang
            .lookup(&format!("{section}.{short}"))
            .unwrap_or(short)
            .to_owned()
    }

    /// What the API refused, in the person's language.
    pub fn words(&self, p: &Problem) -> String {
        p.words(self.me.lang)
    }

    /// The text of `key` in the person's language.
    pub fn t<'k>(&self, key: &'k str) -> &'k str {
        self.me.lang.text(key)
    }
}

/// An API call a form makes.
pub enum Call<'a> {
    /// `POST path` with a JSON body.
    Post(&'a str, Value),
    /// `PATCH path` with a JSON body.
    Patch(&'a str, Value),
}

/// The one-time message a page shows after a form sent it back (`?done=`).
#[derive(serde::Deserialize)]
pub struct Flash {
    /// The message.
    pub done: Option<String>,
}

/// The sections of the header for `role` (the API decides what is in
/// them; this only leaves out what the role cannot open at all).
fn nav(role: &str) -> Vec<Value> {
    const SALES: &[&str] = &["manager", "head_of_sales", "admin"];
    const EVERYONE: &[&str] = &["manager", "head_of_sales", "accountant", "admin"];
    const MONEY: &[&str] = &["head_of_sales", "accountant", "admin"];
    const ADMIN: &[&str] = &["admin"];
    const SECTIONS: &[(&str, &str, &[&str])] = &[
        ("deals", "/console/deals", SALES),
        ("leads", "/console/leads", SALES),
        ("invoices", "/console/invoices", EVERYONE),
        ("payment_requests", "/console/payment-requests", EVERYONE),
        ("registry", "/console/registry", MONEY),
        ("approvals", "/console/approvals", EVERYONE),
        ("tasks", "/console/tasks", EVERYONE),
        ("reports", "/console/reports", EVERYONE),
        ("runs", "/console/runs", ADMIN),
        ("processes", "/console/processes", ADMIN),
        ("plugins", "/console/plugins", ADMIN),
    ];
    SECTIONS
        .iter()
        .filter(|(_, _, roles)| roles.contains(&role))
        .map(|(key, href, _)| json!({ "key": key, "href": href }))
        .collect()
}

/// After a form: back to `to` (303, or `HX-Redirect` for htmx) with a
/// message shown once (`?done=`).
pub fn done(headers: &HeaderMap, to: &str, message: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    redirect_for(
        headers,
        &format!("{to}{sep}done={}", super::session::urlencoding(message)),
    )
}

/// A fragment for htmx to put into `target` instead of where the form
/// pointed (`HX-Retarget`), picking `select` out of the page.
pub fn retarget(mut response: Response, target: &str, select: &str) -> Response {
    let h = response.headers_mut();
    if let (Ok(t), Ok(s)) = (HeaderValue::from_str(target), HeaderValue::from_str(select)) {
        h.insert("hx-retarget", t);
        h.insert("hx-reselect", s);
        h.insert("hx-reswap", HeaderValue::from_static("innerHTML"));
    }
    response
}

/// A page answered with `status` (a form that needs fixing: 422).
pub fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// A refusal shown in place of what was asked: `status` for a plain form
/// post, 200 for htmx (which swaps only 2xx answers in by default).
pub fn refused_in_place(response: Response, status: StatusCode, headers: &HeaderMap) -> Response {
    if headers.contains_key("hx-request") {
        response
    } else {
        with_status(response, status)
    }
}

/// The query parameters a list page passes on to the API: each of
/// `pairs` that has a value, percent-encoded.
pub fn filters(pairs: &[(&str, Option<&str>)]) -> Vec<String> {
    pairs
        .iter()
        .filter_map(|(name, value)| {
            value
                .filter(|v| !v.is_empty())
                .map(|v| format!("{name}={}", seg(v)))
        })
        .collect()
}

/// One page of API list `base` (`/api/v1/leads`): `filters`, 50 rows,
/// from `cursor`.
pub fn page_of(base: &str, filters: &[String], cursor: Option<&str>) -> String {
    let mut query = filters.to_vec();
    query.push("limit=50".to_owned());
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        query.push(format!("cursor={}", seg(c)));
    }
    format!("{base}?{}", query.join("&"))
}

/// The link to a list's next page: `base` with `filters` and the API's
/// `next_cursor`, if there is one.
pub fn next_page(base: &str, filters: &[String], list: &Value) -> Option<String> {
    let cursor = list["next_cursor"].as_str()?;
    let mut query = filters.to_vec();
    query.push(format!("cursor={}", seg(cursor)));
    Some(format!("{base}?{}", query.join("&")))
}

/// `items` of a list answer.
pub fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// A path segment from a user-controlled id, percent-encoded.
pub fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pages_pass_their_filters_and_the_cursor_on() {
        let f = filters(&[
            ("status", Some("on approval")),
            ("from", None),
            ("to", Some("")),
        ]);
        assert_eq!(f, ["status=on%20approval"]);
        assert_eq!(
            page_of("/api/v1/leads", &f, Some("c/1")),
            "/api/v1/leads?status=on%20approval&limit=50&cursor=c%2F1"
        );
        assert_eq!(
            next_page("/console/leads", &f, &json!({ "next_cursor": "x" })).as_deref(),
            Some("/console/leads?status=on%20approval&cursor=x")
        );
        assert_eq!(
            next_page("/console/leads", &f, &json!({ "next_cursor": null })),
            None
        );
    }

    #[test]
    fn each_role_gets_the_sections_it_can_open() {
        let keys = |role| -> Vec<String> {
            nav(role)
                .iter()
                .map(|n| n["key"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        let manager = keys("manager");
        assert!(manager.contains(&"leads".to_owned()) && manager.contains(&"reports".to_owned()));
        assert!(!manager.contains(&"runs".to_owned()) && !manager.contains(&"registry".to_owned()));
        let accountant = keys("accountant");
        assert!(
            accountant.contains(&"registry".to_owned())
                && !accountant.contains(&"deals".to_owned())
        );
        assert_eq!(keys("admin").len(), 11);
    }
}
