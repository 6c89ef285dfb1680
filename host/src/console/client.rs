//! The console's way to the data: the API itself, called in process as the
//! signed-in person ([`InternalCaller`]). Pages get exactly the API's
//! answers — its access rules, its validation, its error texts — and never
//! read the store on their own.

use crate::api::auth::{Caller, InternalCaller};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt as _;

/// The largest answer a page reads (a PDF, a long list).
const MAX_ANSWER_BYTES: usize = 32 << 20;

/// An API answer that was not a success: its status and problem document.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// The RFC 9457 body (`detail`, `missing`, `errors`, …).
    pub body: Value,
}

impl Problem {
    /// The problem's `detail`.
    pub fn detail(&self) -> String {
        self.body
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| self.status.to_string())
    }

    /// What was refused in `lang`: the catalogue's words for the problem's
    /// `code` with its `params`, else the API's own `detail` (an action's
    /// own message, a code this console does not know yet).
    pub fn words(&self, lang: super::i18n::Lang) -> String {
        self.body["code"]
            .as_str()
            .and_then(|code| lang.problem(code, &self.body["params"]))
            .unwrap_or_else(|| self.detail())
    }

    /// The fields a refused write of a `kind` record names: those a stage
    /// or status still needs (`missing`), then the one whose value was
    /// wrong (`field`, which the API prefixes with the kind).
    pub fn fields(&self, kind: &str) -> Vec<String> {
        let mut out: Vec<String> = self.body["missing"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(f) = self.body["field"].as_str() {
            let f = f.strip_prefix(&format!("{kind}.")).unwrap_or(f);
            if !out.iter().any(|m| m == f) {
                out.push(f.to_owned());
            }
        }
        out
    }

    fn internal(e: impl std::fmt::Display) -> Problem {
        Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: serde_json::json!({ "detail": e.to_string() }),
        }
    }
}

/// Raw bytes from the API (a PDF).
pub struct Bytes {
    /// Its content type.
    pub content_type: String,
    /// Its headers worth passing on (`Content-Disposition`).
    pub disposition: Option<String>,
    /// The body.
    pub body: axum::body::Bytes,
}

/// The API as one person.
pub struct ApiClient<'a> {
    router: &'a Router,
    caller: &'a Caller,
    /// The browser's `Host` and `X-Forwarded-Proto`, passed on where the
    /// API builds links from them.
    forwarded: Vec<(header::HeaderName, header::HeaderValue)>,
}

impl<'a> ApiClient<'a> {
    /// The API of `router` as `caller`.
    pub fn new(router: &'a Router, caller: &'a Caller) -> ApiClient<'a> {
        ApiClient {
            router,
            caller,
            forwarded: Vec::new(),
        }
    }

    /// The same, passing on the host the browser used (for links the API
    /// builds, such as an invoice's share link in an e-mail).
    pub fn with_host_of(mut self, headers: &axum::http::HeaderMap) -> ApiClient<'a> {
        for name in [
            header::HOST,
            header::HeaderName::from_static("x-forwarded-proto"),
        ] {
            if let Some(v) = headers.get(&name) {
                self.forwarded.push((name, v.clone()));
            }
        }
        self
    }

    /// `GET path` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, Problem> {
        self.json(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Problem> {
        self.json(Method::POST, path, Some(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, Problem> {
        self.json(Method::PATCH, path, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, Problem> {
        self.json(Method::PUT, path, Some(body)).await
    }

    /// `method path` with raw bytes of `content_type`, answered in JSON.
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value, Problem> {
        let (status, _, bytes) = self
            .call(method, path, Some(content_type), Body::from(body))
            .await?;
        parse(status, &bytes)
    }

    /// `GET path` as bytes (a file).
    pub async fn get_bytes(&self, path: &str) -> Result<Bytes, Problem> {
        let (status, headers, body) = self.call(Method::GET, path, None, Body::empty()).await?;
        if !status.is_success() {
            return Err(parse(status, &body).err().unwrap_or(Problem {
                status,
                body: Value::Null,
            }));
        }
        let get = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Bytes {
            content_type: get(header::CONTENT_TYPE)
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            disposition: get(header::CONTENT_DISPOSITION),
            body,
        })
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Problem> {
        let (content_type, body) = match body {
            Some(v) => (Some("application/json"), Body::from(v.to_string())),
            None => (None, Body::empty()),
        };
        let (status, _, bytes) = self.call(method, path, content_type, body).await?;
        parse(status, &bytes)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<(StatusCode, axum::http::HeaderMap, axum::body::Bytes), Problem> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        for (name, value) in &self.forwarded {
            request = request.header(name, value);
        }
        let mut request = request.body(body).map_err(Problem::internal)?;
        request
            .extensions_mut()
            .insert(InternalCaller(self.caller.clone()));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(Problem::internal)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(Problem::internal)?;
        Ok((status, headers, bytes))
    }
}

/// A JSON answer: the value on success, the problem otherwise.
fn parse(status: StatusCode, bytes: &[u8]) -> Result<Value, Problem> {
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes).unwrap_or_else(
            |_| serde_json::json!({ "detail": String::from_utf8_lossy(bytes).into_owned() }),
        )
    };
    if status.is_success() {
        Ok(body)
    } else {
        Err(Problem { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_refusal_names_the_missing_fields_then_the_wrong_one() {
        let p = Problem {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({ "missing": ["city", "topic"], "field": "lead.email" }),
        };
        assert_eq!(p.fields("lead"), ["city", "topic", "email"]);
        let once = Problem {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({ "missing": ["city"], "field": "lead.city" }),
        };
        assert_eq!(once.fields("lead"), ["city"]);
        assert_eq!(once.detail(), "422 Unprocessable Entity");
    }
}
