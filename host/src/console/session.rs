//! Signing in and out of the console, and the check every page runs.
//!
//! A person signs in with their API token; the console stores a session
//! (only the hash of its id) and sets a cookie that is `HttpOnly`,
//! `SameSite=Strict` and, behind TLS, `Secure`. Every state-changing
//! request carries the session's CSRF token — in the `X-CSRF-Token` header
//! (htmx sends it from the page's `hx-headers`) or in a form's `_csrf`
//! field — and a request from another origin is refused. Sign-out deletes
//! the session on the server; deleting the token ends its sessions too.

use super::ConsoleState;
use super::i18n::Lang;
use super::render::Page;
use crate::api::auth::{Caller, caller_of, hash_token, random_token};
use crate::store::prelude::*;
use axum::body::Body;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use std::collections::HashMap;

/// The session cookie.
pub const SESSION_COOKIE: &str = "robota_session";
/// The sign-in form's own CSRF cookie (there is no session yet).
const SIGN_IN_COOKIE: &str = "robota_sign_in";
/// The language cookie.
pub const LANG_COOKIE: &str = "robota_lang";
/// How long a session lasts.
const SESSION_HOURS: i64 = 12;
/// The largest form a CSRF check reads.
const MAX_FORM_BYTES: usize = 1 << 20;

/// A signed-in person, put into each request by [`require_session`].
#[derive(Clone)]
pub struct Signed {
    /// Who they are to the API.
    pub caller: Caller,
    /// Their session's CSRF token (pages put it into forms).
    pub csrf: String,
    /// Their language.
    pub lang: Lang,
}

/// The routes open without a session: sign-in and the language switch.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/lang/{lang}", get(switch_language))
}

/// The routes of a signed-in person handled here: sign-out.
pub fn signed_routes() -> Router<ConsoleState> {
    Router::new().route("/console/sign-out", axum::routing::post(sign_out))
}

/// The cookies of a request, by name.
pub fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse_encoded(v.to_owned()))
        .filter_map(Result::ok)
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect()
}

/// The language of a request: its cookie, else Russian.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookies(headers)
        .get(LANG_COOKIE)
        .and_then(|l| Lang::parse(l))
        .unwrap_or_default()
}

/// Whether the request came over TLS (directly or through a proxy that
/// says so), so cookies are marked `Secure`.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn cookie_header(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
    secure: bool,
) -> HeaderValue {
    let mut c = Cookie::build((name.to_owned(), value.to_owned()))
        .path(path.to_owned())
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build();
    if let Some(s) = max_age {
        c.set_max_age(cookie::time::Duration::seconds(s));
    }
    HeaderValue::from_str(&c.encoded().to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// Where to go after sign-in: a console path, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console/") && !n.starts_with("//") && !n.contains("\\") => {
            n.to_owned()
        }
        _ => "/console/".to_owned(),
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn sign_in_page(
    State(console): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    sign_in_form(&console, &headers, q.next.as_deref(), None, StatusCode::OK)
}

/// The sign-in form with a fresh CSRF pair, and `error` if the last try failed.
fn sign_in_form(
    console: &ConsoleState,
    headers: &HeaderMap,
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let lang = lang_of(headers);
    let csrf = random_token("");
    let page = console.views.page(
        "sign_in.html",
        lang,
        minijinja::context! {
            csrf => &csrf,
            next => safe_next(next),
            error => error,
        },
    );
    let mut response = (status, page).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            SIGN_IN_COOKIE,
            &csrf,
            "/console/sign-in",
            None,
            over_tls(headers),
        ),
    );
    response
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

async fn sign_in(
    State(console): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let lang = lang_of(&headers);
    let expected = cookies(&headers).get(SIGN_IN_COOKIE).cloned();
    if !same_secret(expected.as_deref(), &form.csrf) || !same_origin(&headers) {
        return sign_in_form(
            &console,
            &headers,
            form.next.as_deref(),
            Some(lang.text("sign_in.stale")),
            StatusCode::FORBIDDEN,
        );
    }
    let store = &console.state.store;
    let owner = match store.find_token(&hash_token(form.token.trim())).await {
        Ok(Some(owner)) => owner,
        Ok(None) => {
            return sign_in_form(
                &console,
                &headers,
                form.next.as_deref(),
                Some(lang.text("sign_in.unknown_token")),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(e) => return Page::error(&console, lang, e.to_string()),
    };
    let token_id = owner.id.clone();
    if caller_of(owner).is_none() {
        return sign_in_form(
            &console,
            &headers,
            form.next.as_deref(),
            Some(lang.text("sign_in.unknown_token")),
            StatusCode::UNAUTHORIZED,
        );
    }
    let session = random_token("");
    let csrf = random_token("");
    let now = crate::clock::now();
    if let Err(e) = store
        .create_console_session(
            &hash_token(&session),
            &token_id,
            &csrf,
            now,
            now + chrono::Duration::hours(SESSION_HOURS),
        )
        .await
    {
        return Page::error(&console, lang, e.to_string());
    }
    let mut response = see_other(&safe_next(form.next.as_deref()));
    let secure = over_tls(&headers);
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, &session, "/", None, secure),
    );
    h.append(
        header::SET_COOKIE,
        cookie_header(SIGN_IN_COOKIE, "", "/console/sign-in", Some(0), secure),
    );
    response
}

async fn sign_out(State(console): State<ConsoleState>, headers: HeaderMap) -> Response {
    if let Some(session) = cookies(&headers).get(SESSION_COOKIE) {
        // The cookie is worthless from here on, wherever a copy of it is.
        if let Err(e) = console
            .state
            .store
            .delete_console_session(&hash_token(session))
            .await
        {
            return Page::error(&console, lang_of(&headers), e.to_string());
        }
    }
    let mut response = redirect_for(&headers, "/console/sign-in");
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, "", "/", Some(0), over_tls(&headers)),
    );
    response
}

async fn switch_language(
    axum::extract::Path(lang): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(lang) = Lang::parse(&lang) else {
        return (StatusCode::NOT_FOUND, "no such language").into_response();
    };
    // Back to the page it was chosen on, when that is a console page.
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.find("/console/").map(|i| r[i..].to_owned()));
    let mut response = see_other(&safe_next(back.as_deref()));
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            LANG_COOKIE,
            lang.code(),
            "/",
            Some(365 * 24 * 3600),
            over_tls(&headers),
        ),
    );
    response
}

/// 303 to `to`.
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Sends the browser to `to`: a 303, or for an htmx request an
/// `HX-Redirect` (htmx would swap a redirect's page into the target).
pub fn redirect_for(headers: &HeaderMap, to: &str) -> Response {
    if headers.contains_key("hx-request") {
        let mut r = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("hx-redirect", v);
        }
        return r;
    }
    see_other(to)
}

/// Equal secrets, compared in constant time (BLAKE3 hashes compare so).
fn same_secret(expected: Option<&str>, given: &str) -> bool {
    match expected {
        Some(e) if !e.is_empty() => blake3::hash(e.as_bytes()) == blake3::hash(given.as_bytes()),
        _ => false,
    }
}

/// False when the browser says the request came from another site.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host),
        _ => true,
    }
}

/// Lets a request through only with a live session; for a state-changing
/// method, only with the session's CSRF token and from this origin.
pub async fn require_session(
    State(console): State<ConsoleState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers().clone();
    let lang = lang_of(&headers);
    // Back here after signing in (a page, not a form's post).
    let back = (request.method() == Method::GET)
        .then(|| {
            request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
        })
        .flatten();
    let to_sign_in = || {
        let next = back
            .as_deref()
            .map(|b| format!("?next={}", urlencoding(b)))
            .unwrap_or_default();
        redirect_for(&headers, &format!("/console/sign-in{next}"))
    };
    let Some(id) = cookies(&headers).get(SESSION_COOKIE).cloned() else {
        return to_sign_in();
    };
    let session = match console
        .state
        .store
        .find_console_session(&hash_token(&id), crate::clock::now())
        .await
    {
        Ok(Some(s)) => s,
        Ok(None) => return to_sign_in(),
        Err(e) => return Page::error(&console, lang, e.to_string()),
    };
    let Some(caller) = caller_of(session.owner) else {
        return to_sign_in();
    };
    let mut request = request;
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let (given, rebuilt) = match csrf_of(request).await {
            Ok(pair) => pair,
            Err(r) => return r,
        };
        if !same_secret(Some(&session.csrf), &given) || !same_origin(&headers) {
            return Page::status(
                &console,
                lang,
                StatusCode::FORBIDDEN,
                lang.text("errors.csrf"),
            );
        }
        request = rebuilt;
    }
    request.extensions_mut().insert(Signed {
        caller,
        csrf: session.csrf,
        lang,
    });
    next.run(request).await
}

/// The CSRF token a request carries (header, or a urlencoded form's
/// `_csrf`), and the request rebuilt with its body.
async fn csrf_of(request: Request) -> Result<(String, Request), Response> {
    if let Some(v) = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return Ok((v.to_owned(), request));
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((String::new(), request));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
    let given = form_urlencoded_value(&bytes, "_csrf").unwrap_or_default();
    Ok((given, Request::from_parts(parts, Body::from(bytes))))
}

/// The first value of `key` in a urlencoded body.
fn form_urlencoded_value(body: &[u8], key: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// `text` percent-encoded for a query value.
pub fn urlencoding(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// The signed-in person of a request (the layer put it there).
pub type Me = Extension<Signed>;
