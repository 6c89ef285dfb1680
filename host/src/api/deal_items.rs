//! A deal's line items one at a time: `POST /api/v1/deals/{id}/items` adds
//! a line (from a product of the catalogue when `product_id` is given),
//! `PATCH`/`DELETE /api/v1/deals/{id}/items/{line}` change or drop line
//! `line` (1-based). The deal's amount is recomputed exactly from its lines,
//! and each change is guarded by the deal's version, so two managers editing
//! at once cannot lose a line.

use super::AppState;
use super::auth::Caller;
use super::entities::visible;
use super::problem::{ApiError, ApiResult};
use crate::crm::changes::Change;
use crate::crm::{EntityKind, EntityRef};
use crate::store::CrmStore;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde_json::{Map, Value};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/deals/{id}/items", post(add))
        .route(
            "/api/v1/deals/{id}/items/{line}",
            patch(change).delete(remove),
        )
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

/// The deal and its lines, if the caller may see and change it.
async fn load(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(EntityRef, Map<String, Value>, Vec<Value>), ApiError> {
    let target = EntityRef {
        kind: EntityKind::Deal,
        id: id.to_owned(),
    };
    let deal = visible(state, caller, &target).await?;
    caller
        .access
        .check_update(EntityKind::Deal, &deal, &Map::new())?;
    let items = match deal.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    Ok((target, deal, items))
}

/// The index of 1-based `line` among `items`.
fn index_of(line: &str, items: &[Value]) -> Result<usize, ApiError> {
    line.parse::<usize>()
        .ok()
        .filter(|n| (1..=items.len()).contains(n))
        .map(|n| n - 1)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "the deal has no line {line}: its lines are 1 to {}",
                items.len()
            ))
        })
}

/// Writes `items` as the deal's lines if the deal is still at the version
/// read, and answers the deal as it now is.
async fn save(
    state: &AppState,
    caller: &Caller,
    target: &EntityRef,
    deal: &Map<String, Value>,
    items: Vec<Value>,
) -> Result<Value, ApiError> {
    let mut fields = Map::new();
    if items.is_empty() {
        // The amount follows the lines; with none left there is nothing to sell.
        fields.insert("amount".into(), Value::String("0".into()));
    }
    fields.insert("items".into(), Value::Array(items));
    let mut changes = caller.changes();
    changes.push(Change::Expect {
        target: target.clone(),
        field: "version".into(),
        value: deal.get("version").cloned().unwrap_or(Value::Null),
    });
    changes.push(Change::Update {
        target: target.clone(),
        fields,
    });
    state.store.commit(&changes).await?;
    state.engine.poke();
    let deal = state
        .store
        .get(target)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{target} not found")))?;
    Ok(Value::Object(deal))
}

/// A line from a catalogue product: its name, unit, price and VAT unless
/// the caller gave their own.
async fn with_product(
    state: &AppState,
    mut line: Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let Some(id) = line.get("product_id").and_then(Value::as_str) else {
        return Ok(line);
    };
    let product = EntityRef {
        kind: EntityKind::Product,
        id: id.to_owned(),
    };
    let Some(found) = state.store.get(&product).await? else {
        return Err(
            ApiError::unprocessable(format!("product_id: no product with id `{id}`"))
                .with("field", "deal.items.product_id".into()),
        );
    };
    for key in ["name", "unit", "price", "vat_rate"] {
        if !line.contains_key(key)
            && let Some(v) = found.get(key)
        {
            line.insert(key.to_owned(), v.clone());
        }
    }
    line.entry("quantity")
        .or_insert_with(|| Value::String("1".into()));
    Ok(line)
}

async fn add(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut line = object(body)?;
    let position = line.remove("position");
    let line = with_product(&state, line).await?;
    let (target, deal, mut items) = load(&state, &caller, &id).await?;
    let at = match position {
        None | Some(Value::Null) => items.len(),
        Some(p) => p
            .as_u64()
            .and_then(|p| usize::try_from(p).ok())
            .filter(|p| (1..=items.len() + 1).contains(p))
            .map(|p| p - 1)
            .ok_or_else(|| {
                ApiError::unprocessable(format!(
                    "position: {p} is not a line number from 1 to {}",
                    items.len() + 1
                ))
            })?,
    };
    items.insert(at, Value::Object(line));
    Ok((
        StatusCode::CREATED,
        Json(save(&state, &caller, &target, &deal, items).await?),
    ))
}

async fn change(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, line)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let patch = object(body)?;
    let (target, deal, mut items) = load(&state, &caller, &id).await?;
    let at = index_of(&line, &items)?;
    let mut merged = match items[at].take() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let new_product = patch
        .get("product_id")
        .is_some_and(|p| p != merged.get("product_id").unwrap_or(&Value::Null));
    if new_product {
        // A different product brings its own name, unit, price and VAT.
        for key in ["name", "unit", "price", "vat_rate"] {
            merged.remove(key);
        }
    }
    merged.extend(patch);
    items[at] = Value::Object(with_product(&state, merged).await?);
    Ok(Json(save(&state, &caller, &target, &deal, items).await?))
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, line)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (target, deal, mut items) = load(&state, &caller, &id).await?;
    let at = index_of(&line, &items)?;
    items.remove(at);
    Ok(Json(save(&state, &caller, &target, &deal, items).await?))
}
