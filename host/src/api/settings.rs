//! How the admin shapes the CRM: custom fields per kind
//! (`/api/v1/custom-fields/{kind}`), the fields each lead status requires
//! (`/api/v1/lead-statuses`) and pipeline stages (`/api/v1/pipelines`).
//! Everyone may read them (forms need them); only admins change them.

use super::AppState;
use super::auth::Caller;
use super::entities::kind_of;
use super::problem::{ApiError, ApiResult, body_as};
use crate::access::Role;
use crate::crm::EntityKind;
use crate::crm::custom_fields::CustomFieldDef;
use crate::store::prelude::*;
use crate::store::settings::Stage;
use axum::extract::{Extension, Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/custom-fields/{kind}",
            get(custom_fields).put(put_custom_fields),
        )
        .route("/api/v1/lead-statuses", get(lead_statuses))
        .route("/api/v1/lead-statuses/{code}", put(put_lead_status))
        .route("/api/v1/pipelines", get(pipelines))
        .route("/api/v1/pipelines/{id}/stages/{code}", put(put_stage))
}

/// `deal` or `deals`.
fn kind_named(name: &str) -> Result<EntityKind, ApiError> {
    EntityKind::parse(name).map_or_else(|| kind_of(name), Ok)
}

async fn custom_fields(
    State(state): State<AppState>,
    Path(kind): Path<String>,
) -> ApiResult<Json<Value>> {
    let kind = kind_named(&kind)?;
    let fields = state.store.custom_field_defs(kind).await?;
    Ok(Json(json!({ "kind": kind, "fields": fields })))
}

/// The body of `PUT /api/v1/custom-fields/{kind}`: the whole set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomFields {
    fields: Vec<CustomFieldDef>,
}

async fn put_custom_fields(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(kind): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "change the custom fields")?;
    let kind = kind_named(&kind)?;
    let body: CustomFields = body_as(
        body,
        r#"{"fields": [{"name", "label", "type", "options"?, "required_at"?}]}"#,
    )?;
    state
        .store
        .put_custom_field_defs(kind, &body.fields)
        .await?;
    let fields = state.store.custom_field_defs(kind).await?;
    Ok(Json(json!({ "kind": kind, "fields": fields })))
}

async fn lead_statuses(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "items": state.store.lead_statuses().await? })))
}

/// The body of `PUT /api/v1/lead-statuses/{code}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeadStatus {
    required_fields: Vec<String>,
}

async fn put_lead_status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "change what a lead status requires")?;
    let body: LeadStatus = body_as(body, r#"{"required_fields": ["phone", …]}"#)?;
    let stage = state
        .store
        .set_lead_status_fields(&code, &body.required_fields)
        .await?;
    Ok(Json(json!(stage)))
}

async fn pipelines(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "items": state.store.pipelines().await? })))
}

/// The body of `PUT /api/v1/pipelines/{id}/stages/{code}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageBody {
    name: String,
    sort: i64,
    #[serde(default = "open")]
    semantic: String,
    #[serde(default)]
    required_fields: Vec<String>,
}

fn open() -> String {
    "open".into()
}

async fn put_stage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((pipeline, code)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Admin], "change a pipeline's stages")?;
    let body: StageBody = body_as(body, r#"{"name", "sort", "semantic"?, "required_fields"?}"#)?;
    let stage = Stage {
        code,
        name: body.name,
        sort: body.sort,
        semantic: body.semantic,
        required_fields: body.required_fields,
    };
    state.store.put_stage(&pipeline, &stage).await?;
    let pipeline = state
        .store
        .pipelines()
        .await?
        .into_iter()
        .find(|p| p.id == pipeline)
        .ok_or_else(|| ApiError::internal("a pipeline vanished"))?;
    Ok(Json(json!(pipeline)))
}
