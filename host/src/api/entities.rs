//! CRM entities over HTTP: `/api/v1/{collection}` and
//! `/api/v1/{collection}/{id}` for every kind. Each write is one change set,
//! committed with its event and timeline entry, so processes trigger from it.
//!
//! Listing takes filters as query parameters: `stage=invoice` (equals) or
//! `amount.gt=10000` (ops: eq, ne, lt, le, gt, ge, contains, null), plus
//! `limit` (default 50, at most 1000) and `cursor` (the `next_cursor` of the
//! previous page).

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult};
use crate::crm::changes::Change;
use crate::crm::duplicates::is_checked;
use crate::crm::schema::{FieldType, spec};
use crate::crm::{CrmError, EntityKind, EntityRef, Filter, FilterOp, new_id};
use crate::store::CrmStore;
use crate::store::prelude::*;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/{collection}", get(list).post(create))
        .route(
            "/api/v1/{collection}/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/v1/{collection}/{id}/timeline", get(timeline))
        .route("/api/v1/{collection}/{id}/access", get(shared_with))
        .route(
            "/api/v1/{collection}/{id}/access/{user_id}",
            put(share).delete(unshare),
        )
}

/// The kind a collection name stands for.
pub fn kind_of(collection: &str) -> Result<EntityKind, ApiError> {
    Ok(match collection {
        "leads" => EntityKind::Lead,
        "contacts" => EntityKind::Contact,
        "companies" => EntityKind::Company,
        "deals" => EntityKind::Deal,
        "products" => EntityKind::Product,
        "invoices" => EntityKind::Invoice,
        "payment-requests" => EntityKind::PaymentRequest,
        "tasks" => EntityKind::Task,
        "users" => EntityKind::User,
        other => return Err(ApiError::not_found(format!("no collection `{other}`"))),
    })
}

/// A duplicate refusal as the caller may see it: a candidate out of their
/// reach keeps its kind, id and what matched (so a manager knows the client
/// is someone's already and can ask for it to be shared), not its name.
pub(super) async fn redacted(state: &AppState, caller: &Caller, e: CrmError) -> CrmError {
    let CrmError::Duplicates {
        kind,
        mut candidates,
    } = e
    else {
        return e;
    };
    for c in &mut candidates {
        let target = EntityRef {
            kind: c.kind,
            id: c.id.clone(),
        };
        if !matches!(
            state.store.get_as(&caller.access, &target).await,
            Ok(Some(_))
        ) {
            c.name = "(someone else's)".into();
            c.differs.clear();
        }
    }
    CrmError::Duplicates { kind, candidates }
}

/// The record at `/api/v1/{collection}/{id}` as the caller may see it
/// (404 for an unknown collection, or a record missing or out of reach).
pub(super) async fn visible_at(
    state: &AppState,
    caller: &Caller,
    collection: &str,
    id: String,
) -> ApiResult<(EntityRef, Map<String, Value>)> {
    let target = EntityRef {
        kind: kind_of(collection)?,
        id,
    };
    let record = visible(state, caller, &target).await?;
    Ok((target, record))
}

/// `target` as the caller may see it: 404 both when it does not exist and
/// when it is out of their reach (what they may not see, they cannot
/// learn exists).
pub(super) async fn visible(
    state: &AppState,
    caller: &Caller,
    target: &EntityRef,
) -> ApiResult<Map<String, Value>> {
    state
        .store
        .get_as(&caller.access, target)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{target} not found")))
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let kind = kind_of(&collection)?;
    let mut filters = Vec::new();
    let mut limit = 50u32;
    let mut cursor = String::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "limit" => limit = parse_limit(&value)?,
            "cursor" => cursor = value.into_owned(),
            _ => filters.push(filter_of(kind, &key, &value)?),
        }
    }
    for f in &filters {
        f.check(spec(kind))?;
    }
    let mut rows = state
        .store
        .query_as(&caller.access, kind, &filters, &cursor, limit + 1)
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last().and_then(|r| r.get("id")).cloned())
        .flatten();
    Ok(Json(json!({ "items": rows, "next_cursor": next })))
}

/// A page size: 1 to 1000.
fn parse_limit(value: &str) -> Result<u32, ApiError> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| ApiError::bad_request(format!("limit `{value}`: use 1 to 1000")))
}

/// `amount.gt=10000` → a filter on `amount`.
fn filter_of(kind: EntityKind, key: &str, value: &str) -> Result<Filter, ApiError> {
    let (field, op) = FilterOp::split(key).map_err(ApiError::bad_request)?;
    let Some(spec_field) = spec(kind).field(field) else {
        return Err(
            ApiError::bad_request(format!("a {kind} has no field `{field}`"))
                .with("field", json!(field)),
        );
    };
    // Query strings are text; compare booleans and whole numbers as such.
    let value = match spec_field.ty {
        FieldType::Bool => match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "filter `{key}`: `{value}` is not true or false"
                )));
            }
        },
        FieldType::Integer => value.parse::<i64>().map(Value::from).map_err(|_| {
            ApiError::bad_request(format!("filter `{key}`: `{value}` is not a whole number"))
        })?,
        _ => Value::String(value.to_owned()),
    };
    Ok(Filter {
        field: field.to_owned(),
        op,
        value,
    })
}

/// What a create does when the record looks like a stored one.
fn on_duplicate(query: Option<&str>) -> Result<bool, ApiError> {
    let mut check = true;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (key.as_ref(), value.as_ref()) {
            ("on_duplicate", "refuse") => check = true,
            ("on_duplicate", "create") => check = false,
            ("on_duplicate", other) => {
                return Err(ApiError::bad_request(format!(
                    "on_duplicate `{other}`: use refuse (the default) or create"
                )));
            }
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`: a create takes on_duplicate only"
                )));
            }
        }
    }
    Ok(check)
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let kind = kind_of(&collection)?;
    let check_duplicates = on_duplicate(query.as_deref())?;
    let mut fields = object(body)?;
    caller.access.prepare_create(kind, &mut fields)?;
    if kind == EntityKind::PaymentRequest {
        super::payment_requests::contractor_known(&state, &caller, &fields).await?;
    }
    let id = new_id();
    if check_duplicates && is_checked(kind) {
        // Bitrix24 checks duplicates only on manual input; here every
        // create through the API is checked unless the caller says so.
        if let Err(e) = state
            .store
            .create_unless_duplicate(kind, &id, &fields)
            .await
        {
            return Err(redacted(&state, &caller, e).await.into());
        }
    } else {
        let mut changes = caller.changes();
        changes.push(Change::Create {
            kind,
            id: id.clone(),
            fields,
        });
        state.store.commit(&changes).await?;
    }
    state.engine.poke();
    let record = state
        .store
        .get(&EntityRef { kind, id })
        .await?
        .ok_or_else(|| ApiError::internal("a created record vanished"))?;
    // The record is the caller's to see: they just wrote every field of it.
    Ok((StatusCode::CREATED, Json(Value::Object(record))))
}

async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (target, mut record) = visible_at(&state, &caller, &collection, id).await?;
    if target.kind == EntityKind::PaymentRequest {
        // A request opens with all its materials (seed 003: the link in
        // the registry leads to everything about the payment).
        record.insert(
            "materials".into(),
            super::payment_requests::materials(&state, &target).await?,
        );
    }
    Ok(Json(Value::Object(record)))
}

/// `GET /api/v1/{collection}/{id}/timeline?limit&cursor`: what happened to
/// the entity, oldest first.
async fn timeline(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let (target, _) = visible_at(&state, &caller, &collection, id).await?;
    let mut limit = 100u32;
    let mut cursor = String::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "limit" => limit = parse_limit(&value)?,
            "cursor" => cursor = value.into_owned(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`: use limit and cursor"
                )));
            }
        }
    }
    let mut entries = state.store.timeline(&target, &cursor, limit + 1).await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next = more.then(|| entries.last().map(|e| e.id.clone())).flatten();
    Ok(Json(json!({ "items": entries, "next_cursor": next })))
}

async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let target = EntityRef {
        kind: kind_of(&collection)?,
        id,
    };
    let mut fields = object(body)?;
    let current = visible(&state, &caller, &target).await?;
    // `version` in the body is an optimistic check, not a field to set.
    let expected = fields.remove("version");
    caller.access.check_update(target.kind, &current, &fields)?;
    if let Some(expected) = expected
        && current.get("version") != Some(&expected)
    {
        return Err(ApiError::clash(crate::crm::Clash::StaleVersion {
            target: target.to_string(),
            current: current
                .get("version")
                .cloned()
                .unwrap_or(Value::Null)
                .to_string(),
            expected: expected.to_string(),
        }));
    }
    // The decision above read these fields: the write holds only if they
    // are still what it read (a concurrent hand-over or status move → 409).
    let mut changes = caller.changes();
    changes.extend(
        crate::access::decided_on(target.kind)
            .into_iter()
            .map(|field| Change::Expect {
                target: target.clone(),
                field: field.to_owned(),
                value: current.get(field).cloned().unwrap_or(Value::Null),
            }),
    );
    changes.push(Change::Update {
        target: target.clone(),
        fields,
    });
    state.store.commit(&changes).await?;
    state.engine.poke();
    // Read back as the caller sees it: handing a record on to another
    // responsible takes it out of a manager's reach.
    match state.store.get_as(&caller.access, &target).await? {
        Some(record) => Ok(Json(Value::Object(record))),
        None => Ok(Json(json!({ "id": target.id, "visible": false }))),
    }
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let target = EntityRef {
        kind: kind_of(&collection)?,
        id,
    };
    visible(&state, &caller, &target).await?;
    caller.access.check_delete(target.kind)?;
    let mut changes = caller.changes();
    changes.push(Change::Delete { target });
    state.store.commit(&changes).await?;
    state.engine.poke();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/{collection}/{id}/access`: the users the record is shared
/// with beyond its responsible.
async fn shared_with(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (target, _) = visible_at(&state, &caller, &collection, id).await?;
    let items = state.store.shared_with(&target).await?;
    Ok(Json(json!({ "items": items })))
}

/// `PUT /api/v1/{collection}/{id}/access/{user_id}`: shares the record with
/// a user (its responsible, the head of sales or an admin may).
async fn share(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id, user_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (target, record) = visible_at(&state, &caller, &collection, id).await?;
    caller.access.check_share(target.kind, &record)?;
    let added = state
        .store
        .share_record(&target, &user_id, caller.user_id())
        .await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let items = state.store.shared_with(&target).await?;
    Ok((status, Json(json!({ "items": items }))))
}

/// `DELETE /api/v1/{collection}/{id}/access/{user_id}`: stops sharing it.
async fn unshare(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((collection, id, user_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (target, record) = visible_at(&state, &caller, &collection, id).await?;
    caller.access.check_share(target.kind, &record)?;
    if state
        .store
        .unshare_record(&target, &user_id, caller.user_id())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "{target} is not shared with user `{user_id}`"
        )))
    }
}
