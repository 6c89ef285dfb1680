//! RFC 9457 problem details: every API error is `application/problem+json`
//! with a title, the status and a detail that names what is wrong.

use crate::crm::wrong::code_and_params;
use crate::crm::{Clash, CrmError};
use crate::engine::direct::DirectError;
use crate::plugins::CallError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, in a few words.
    pub detail: String,
    /// Extra members (`field`, `missing`, `errors`).
    pub extra: Map<String, Value>,
}

impl ApiError {
    /// An error with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404: no such thing.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 403: the caller may not do this.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    /// 422: well-formed but wrong.
    pub fn unprocessable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// 409: clashes with the current state.
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, detail)
    }

    /// 409 for a clash, with its code and parameters.
    pub fn clash(clash: Clash) -> ApiError {
        ApiError::conflict(clash.to_string()).coded(&clash)
    }

    /// Adds the reason's `code` and `params`, so a client can say it in its
    /// own language (the `detail` is English).
    pub fn coded<T: serde::Serialize>(self, reason: &T) -> ApiError {
        let (code, params) = code_and_params(reason);
        self.with("code", json!(code))
            .with("params", Value::Object(params))
    }

    /// Adds a member to the problem document.
    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// 500, logging the cause and telling the caller only that it happened.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error: {cause}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed; the cause is in its log",
        )
    }
}

impl From<CrmError> for ApiError {
    fn from(e: CrmError) -> ApiError {
        match &e {
            CrmError::InvalidField { field, reason } => ApiError::unprocessable(e.to_string())
                .with("field", json!(field))
                .coded(reason),
            CrmError::Invalid(_) => ApiError::unprocessable(e.to_string()),
            CrmError::MissingStageFields {
                kind,
                of,
                stage,
                missing,
            } => {
                // `status` is the problem document's own member (the HTTP
                // status): a record's status goes under `lead_status`,
                // `payment_request_status`.
                let key = if *of == "status" {
                    format!("{}_status", kind.as_str().replace('-', "_"))
                } else {
                    (*of).to_owned()
                };
                ApiError::unprocessable(e.to_string())
                    .with(&key, json!(stage))
                    .with("missing", json!(missing))
            }
            CrmError::NotFound(_) | CrmError::FileNotFound { .. } => {
                ApiError::not_found(e.to_string())
            }
            CrmError::Conflict(clash) => ApiError::conflict(e.to_string()).coded(clash),
            CrmError::Duplicates { candidates, .. } => {
                ApiError::conflict(e.to_string()).with("candidates", json!(candidates))
            }
            CrmError::Storage(_) => ApiError::internal(e),
        }
    }
}

impl From<crate::access::Refused> for ApiError {
    fn from(e: crate::access::Refused) -> ApiError {
        let may: Vec<&str> = e.may.iter().map(|r| r.as_str()).collect();
        let refused = ApiError::forbidden(e.rule);
        if may.is_empty() {
            refused
        } else {
            // Who may, by role code: a client says it in its language.
            refused.with("may", json!(may))
        }
    }
}

/// A JSON body read as `T`, or 422 with the shape to send (`shape`, such
/// as `{"days"?: 1 to 365}`) and what was wrong with this one.
pub fn body_as<T: serde::de::DeserializeOwned>(body: Value, shape: &str) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::unprocessable(format!("send {shape}: {e}")))
}

/// Like [`body_as`] for a body that may be left out: then `T`'s default.
pub fn optional_body<T: serde::de::DeserializeOwned + Default>(
    body: Option<axum::Json<Value>>,
    shape: &str,
) -> Result<T, ApiError> {
    body.map_or_else(|| Ok(T::default()), |b| body_as(b.0, shape))
}

/// The answer to an action the API ran directly (`what` names it) that
/// failed: its own refusals are the caller's to fix (422, or 409 for a
/// clash with the current state), anything else is the server's.
pub fn direct_error(e: DirectError, what: &str) -> ApiError {
    match e {
        DirectError::NotInstalled(a) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("action `{a}` is not installed on this server"),
        ),
        DirectError::Action(CallError::Action { kind, message }) => match kind {
            "invalid-input" | "not-found" => ApiError::unprocessable(message),
            "conflict" => ApiError::conflict(message),
            "denied" => ApiError::forbidden(format!("{what} was denied: {message}")),
            _ => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{what} failed: {message}"),
            ),
        },
        DirectError::Action(CallError::InvalidInput(m)) => ApiError::unprocessable(m),
        DirectError::Action(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} failed: {e}"),
        ),
        DirectError::Refused(e) => e.into(),
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(format!("{e:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("type".into(), json!("about:blank"));
        body.insert(
            "title".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        body.extend(self.extra);
        let mut response = (self.status, axum::Json(Value::Object(body))).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
