//! The web console: server-rendered pages (minijinja) with htmx for partial
//! updates, in Russian by default, for the CRM's people. It signs a person
//! in with their API token into a session cookie and then calls the API in
//! process *as them* ([`client::ApiClient`]), so every page shows exactly
//! what the API lets their role see — nothing is hidden only by the page.
//!
//! - [`session`]: sign-in, sign-out, the session cookie and CSRF checks;
//! - [`i18n`]: the texts, one catalogue per language;
//! - [`render`]: the templates and their filters;
//! - [`client`]: the in-process API client;
//! - [`assets`]: the embedded CSS, JavaScript and htmx;
//! - [`pages`]: one module per page family.

pub mod assets;
pub mod client;
pub mod i18n;
pub mod pages;
pub mod render;
pub mod session;

use crate::api::AppState;
use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use std::sync::Arc;

/// What every console handler can reach.
pub struct Console {
    /// The API router (with its state), which pages call in process.
    pub api: Router,
    /// The server's state (the store for sessions).
    pub state: AppState,
    /// The templates.
    pub views: render::Views,
}

/// The console's shared state.
pub type ConsoleState = Arc<Console>;

/// The console's routes under `/console`, given the API router it calls.
pub fn routes(state: AppState, api: Router) -> Router {
    let console = Arc::new(Console {
        api,
        state,
        views: render::Views::new(),
    });
    let signed_in = pages::routes().route_layer(axum::middleware::from_fn_with_state(
        console.clone(),
        session::require_session,
    ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .merge(session::routes())
        .merge(assets::routes())
        .merge(signed_in)
        .layer(axum::middleware::from_fn(render::security_headers))
        .with_state(console)
}
