//! Files stored with entities: `GET /api/v1/{collection}/{id}/files` lists
//! them, `GET …/files/{name}` downloads one, `PUT …/files/{name}` stores one
//! (the body, with its Content-Type; a file of that name is replaced), and
//! `GET /api/v1/invoices/{id}/pdf` downloads an invoice's newest PDF (what
//! `render-invoice-pdf` stored).

use super::AppState;
use super::auth::Caller;
use super::entities::{visible, visible_at};
use super::problem::{ApiError, ApiResult};
use crate::crm::changes::{Change, MAX_FILE_BYTES, StoredFile};
use crate::crm::{EntityKind, EntityRef};
use crate::store::CrmStore;
use crate::store::prelude::*;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/invoices/{id}/pdf", get(invoice_pdf))
        .route("/api/v1/{collection}/{id}/files", get(list))
        .route(
            "/api/v1/{collection}/{id}/files/{name}",
            get(download)
                .put(upload)
                .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 1024)),
        )
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (target, _) = visible_at(&state, &caller, &collection, id).await?;
    let files = state.store.files(&target).await?;
    Ok(Json(json!({ "items": files })))
}

async fn download(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id, name)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let (target, _) = visible_at(&state, &caller, &collection, id).await?;
    match state.store.file(&target, &name).await? {
        Some(f) => Ok(file_response(f, None)),
        None => Err(ApiError::not_found(format!(
            "{target} has no file named `{name}`"
        ))),
    }
}

async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (target, record) = visible_at(&state, &caller, &collection, id).await?;
    caller.access.check_attach(target.kind, &record, &name)?;
    if body.is_empty() {
        return Err(ApiError::bad_request("the body must be the file"));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let file = StoredFile {
        name: name.clone(),
        content_type,
        content: body.to_vec(),
    };
    let size = file.content.len();
    let mut changes = caller.changes();
    changes.push(Change::AttachFile { target, file });
    state.store.commit(&changes).await?;
    state.engine.poke();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": name, "size": size })),
    ))
}

async fn invoice_pdf(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let target = EntityRef {
        kind: EntityKind::Invoice,
        id,
    };
    let invoice = visible(&state, &caller, &target).await?;
    let Some(name) = newest_pdf(&state, &target).await? else {
        return Err(ApiError::not_found(format!(
            "{target} has no PDF yet: the render-invoice-pdf action makes it"
        )));
    };
    let file = state
        .store
        .file(&target, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{target} has no PDF")))?;
    let number = invoice.get("number").and_then(Value::as_str).unwrap_or("");
    Ok(file_response(file, Some(format!("invoice-{number}.pdf"))))
}

/// The name of the newest PDF stored with `target` (an invoice's is what
/// `render-invoice-pdf` made), if it has one.
pub(super) async fn newest_pdf(
    state: &AppState,
    target: &EntityRef,
) -> Result<Option<String>, ApiError> {
    Ok(state
        .store
        .files(target)
        .await?
        .into_iter()
        .find(|f| f.content_type == "application/pdf")
        .map(|f| f.name))
}

/// The file as an HTTP body, offered for download under `download_name`
/// (or its own name). The name goes in RFC 8187 form so Cyrillic survives.
pub(super) fn file_response(file: StoredFile, download_name: Option<String>) -> Response {
    let name = download_name.unwrap_or(file.name);
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encoded.replace('+', "%20")
    );
    let mut response = file.content.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
