//! The console's static files, embedded in the binary: its stylesheet, its
//! one small script (drag and drop on the deals board) and htmx (vendored,
//! pinned: `console/static/htmx-2.0.11.min.js`, 0BSD).

use super::ConsoleState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The htmx file's name (its version is in it, so it is cached for good).
pub const HTMX: &str = "htmx-2.0.11.min.js";

const FILES: &[(&str, &str, &[u8])] = &[
    (
        HTMX,
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/static/htmx-2.0.11.min.js"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/static/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../console/static/console.css"),
    ),
];

/// `/console/static/{file}`.
pub fn routes() -> Router<ConsoleState> {
    Router::new().route("/console/static/{file}", get(file))
}

async fn file(Path(name): Path<String>) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let cache = if name == HTMX {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut r = (*bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}
