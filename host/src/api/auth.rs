//! Bearer tokens: made once, shown once, stored as a hash. Every route but
//! `/healthz` (and the webhook, which checks its process's secret) needs one.

use super::AppState;
use super::problem::ApiError;
use crate::access::{Access, Role};
use crate::crm::changes::Change;
use crate::store::prelude::*;
use crate::store::tokens::TokenOwner;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// The caller of a request, from its token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token and whose it is.
    pub owner: TokenOwner,
    /// What they may see and change.
    pub access: Access,
}

impl Caller {
    /// Only these roles may do `what`; 403 naming the rule otherwise.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), ApiError> {
        Ok(self.access.require(roles, what)?)
    }

    /// A change set begun with who makes it ([`Change::By`]), so its
    /// timeline and history entries name the caller.
    pub fn changes(&self) -> Vec<Change> {
        self.user_id()
            .map(|u| Change::By {
                user_id: u.to_owned(),
            })
            .into_iter()
            .collect()
    }

    /// The caller's user, if the token is a person's.
    pub fn user_id(&self) -> Option<&str> {
        self.owner.user_id.as_deref()
    }
}

/// A token's stored form.
pub fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// A new unguessable token: `prefix` and 244 random bits from the OS's
/// generator (two v4 UUIDs), URL-safe.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Makes a token for `role` (and `user_id`), stores its hash, and returns
/// the token itself: the only time it is ever seen.
pub async fn create_token(
    store: &(impl crate::store::tokens::Tokens + crate::store::CrmStore),
    role: &str,
    user_id: Option<&str>,
    label: &str,
) -> Result<String, crate::crm::CrmError> {
    // A person's token acts with their role: a manager's token that said
    // admin would hand them everything.
    if let Some(user) = user_id {
        let target = crate::crm::EntityRef {
            kind: crate::crm::EntityKind::User,
            id: user.to_owned(),
        };
        let record = crate::store::CrmStore::get(store, &target)
            .await?
            .ok_or_else(|| crate::crm::CrmError::Invalid(format!("no user `{user}`")))?;
        let theirs = record
            .get("role")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        if theirs != role {
            return Err(crate::crm::CrmError::Invalid(format!(
                "user `{user}` is {theirs}: their token's role must be {theirs}, not {role}"
            )));
        }
    }
    let token = random_token("rbt_");
    store
        .insert_token(&hash_token(&token), role, user_id, label)
        .await?;
    Ok(token)
}

/// A caller the server itself vouches for: the web console, calling the
/// API in process for a signed-in person. Only code can put it into a
/// request (it is an extension, not a header), so no client can forge it.
#[derive(Clone)]
pub struct InternalCaller(pub Caller);

/// The caller a token's owner is, or `None` for a role the server does not
/// know (a row edited by hand).
pub fn caller_of(owner: TokenOwner) -> Option<Caller> {
    let role = Role::parse(&owner.role)?;
    let access = Access {
        role,
        user_id: owner.user_id.clone(),
    };
    Some(Caller { owner, access })
}

/// Checks the bearer token and puts the [`Caller`] into the request.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(InternalCaller(caller)) = request.extensions_mut().remove::<InternalCaller>() {
        request.extensions_mut().insert(caller);
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return unauthorized("missing bearer token: send `Authorization: Bearer <token>`");
    };
    match state.store.find_token(&hash_token(token)).await {
        Ok(Some(owner)) => {
            // The table's CHECK keeps roles to the four; a row that breaks
            // it (edited by hand) is refused rather than guessed at.
            let Some(caller) = caller_of(owner) else {
                return unauthorized("the token's role is unknown: make a new token");
            };
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(None) => unauthorized("unknown or revoked token"),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn unauthorized(detail: &str) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, detail).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    r
}
