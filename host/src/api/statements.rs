//! `POST /api/v1/bank-statements`: upload a 1C client-bank statement (the
//! file as the body, UTF-8 or Windows-1251). The installed
//! `import-bank-statement` action reads it, marks the invoices it pays as
//! paid (processes trigger from that) and the answer is its report: what
//! matched, and every payment that did not, with the reason. A malformed
//! statement gets 422 naming the line, and changes nothing.

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult, direct_error};
use crate::access::Role;
use crate::engine::definition::ActionRef;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};

/// The largest statement accepted (a month of a busy account).
pub const MAX_STATEMENT_BYTES: usize = 4 << 20;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/bank-statements",
        post(import).layer(DefaultBodyLimit::max(MAX_STATEMENT_BYTES)),
    )
}

async fn import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::Accountant, Role::Admin], "import a bank statement")?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the body must be the statement file (1CClientBankExchange)",
        ));
    }
    let action = ActionRef {
        id: "import-bank-statement".into(),
        major: 1,
    };
    let input =
        json!({ "content_base64": base64::engine::general_purpose::STANDARD.encode(&body) });
    match state
        .engine
        .call_now_by(&action, &input, caller.user_id())
        .await
    {
        Ok((report, _)) => Ok(Json(report)),
        Err(e) => Err(direct_error(e, "the import action")),
    }
}
