//! Leads into clients and clean client bases: `POST /api/v1/leads/{id}/convert`
//! (with the duplicate check), `POST /api/v1/{contacts|companies}/{id}/merge`
//! and `GET /api/v1/duplicates?kind=contact|company`.

use super::AppState;
use super::auth::Caller;
use super::entities::visible;
use super::problem::{ApiError, ApiResult, body_as};
use crate::access::Role;
use crate::crm::{CrmError, EntityKind, EntityRef};
use crate::store::conversion::Conversion;
use crate::store::import::OnDuplicate;
use crate::store::merge::MergeRequest;
use crate::store::prelude::*;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/leads/{id}/convert", post(convert))
        .route("/api/v1/contacts/{id}/merge", post(merge_contact))
        .route("/api/v1/companies/{id}/merge", post(merge_company))
        .route("/api/v1/duplicates", get(groups))
        .route(
            "/api/v1/contacts/import",
            post(import_contacts).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route(
            "/api/v1/companies/import",
            post(import_companies).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
}

/// The largest CSV file an import takes.
pub const MAX_IMPORT_BYTES: usize = 8 << 20;

async fn import_contacts(
    state: State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(SALES_LEADS, "import contacts")?;
    import(state, EntityKind::Contact, query, body).await
}

async fn import_companies(
    state: State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(SALES_LEADS, "import companies")?;
    import(state, EntityKind::Company, query, body).await
}

/// Who cleans the whole client base (imports, merges, duplicate lists):
/// it reaches records of every manager.
const SALES_LEADS: &[Role] = &[Role::HeadOfSales, Role::Admin];

/// `POST /api/v1/{contacts|companies}/import?on_duplicate=refuse|skip|merge|create&partial=true`
/// with the CSV file as the body: 200 with a report per row, or 422 with
/// the report and nothing changed when a row is wrong and the import is
/// not partial.
async fn import(
    State(state): State<AppState>,
    kind: EntityKind,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut policy = OnDuplicate::Refuse;
    let mut partial = false;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (key.as_ref(), value.as_ref()) {
            ("on_duplicate", v) => {
                policy = serde_json::from_value(json!(v)).map_err(|_| {
                    ApiError::bad_request(format!(
                        "on_duplicate `{v}`: use refuse, skip, merge or create"
                    ))
                })?;
            }
            ("partial", "true") => partial = true,
            ("partial", "false") => partial = false,
            ("partial", v) => {
                return Err(ApiError::bad_request(format!(
                    "partial `{v}`: use true or false"
                )));
            }
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`: use on_duplicate and partial"
                )));
            }
        }
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the body must be the CSV file, with a header row",
        ));
    }
    let rows = crate::crm::import::parse(kind, &crate::crm::import::decode(&body))
        .map_err(ApiError::unprocessable)?;
    let report = state.store.import(kind, &rows, policy, partial).await?;
    state.engine.poke();
    let status = if report.committed {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut body = json!(report);
    if !report.committed {
        body["detail"] = json!(format!(
            "{} of {} rows are wrong, so nothing was imported; fix them, or send ?partial=true to import the others",
            report.errors,
            report.rows.len()
        ));
    }
    Ok((status, Json(body)))
}

/// The three ways on from a conversion that found duplicates.
fn ways_on() -> Value {
    json!([
        { "use_existing": { "contact_id": "…", "company_id": "…" }, "means": "link the stored records as they are" },
        { "merge": { "contact_id": "…", "company_id": "…", "take": ["contact.first_name", "company.region"] }, "means": "use the stored records, filling their empty fields from the lead, and taking the lead's value for the fields in `take` (each candidate's `differs` lists where they disagree)" },
        { "create_anyway": true, "means": "create new records regardless" }
    ])
}

async fn convert(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let lead = EntityRef {
        kind: EntityKind::Lead,
        id: id.clone(),
    };
    let record = visible(&state, &caller, &lead).await?;
    caller
        .access
        .check_update(EntityKind::Lead, &record, &Map::new())?;
    let conversion: Conversion = body_as(
        body,
        r#"{"into": "company" | "person", "contact"?, "company"?, "deal"?, "use_existing"?, "merge"?, "create_anyway"?}"#,
    )?;
    match state.store.convert_lead(&id, &conversion).await {
        Ok(done) => {
            state.engine.poke();
            Ok((StatusCode::CREATED, Json(json!(done))))
        }
        Err(e @ CrmError::Duplicates { .. }) => {
            let e = super::entities::redacted(&state, &caller, e).await;
            Err(ApiError::from(e).with("ways_on", ways_on()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn merge_contact(
    state: State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Json<Value>,
) -> ApiResult<Json<Value>> {
    caller.require(SALES_LEADS, "merge contacts")?;
    merge(state, EntityKind::Contact, id, body).await
}

async fn merge_company(
    state: State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Json<Value>,
) -> ApiResult<Json<Value>> {
    caller.require(SALES_LEADS, "merge companies")?;
    merge(state, EntityKind::Company, id, body).await
}

async fn merge(
    State(state): State<AppState>,
    kind: EntityKind,
    id: String,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let req: MergeRequest = body_as(
        body,
        r#"{"from": "<id>", "fields": {"phone": "from" | "into", …}}"#,
    )?;
    let merged = state.store.merge_records(kind, &id, &req).await?;
    state.engine.poke();
    Ok(Json(json!(merged)))
}

async fn groups(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    caller.require(SALES_LEADS, "list duplicates across the client base")?;
    let mut kind = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "kind" => kind = Some(value.into_owned()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`: give kind"
                )));
            }
        }
    }
    let kind = match kind.as_deref() {
        Some("contact" | "contacts") => EntityKind::Contact,
        Some("company" | "companies") => EntityKind::Company,
        _ => return Err(ApiError::bad_request("give ?kind=contact or ?kind=company")),
    };
    let groups = state.store.duplicate_groups(kind).await?;
    Ok(Json(json!({ "kind": kind, "groups": groups })))
}
